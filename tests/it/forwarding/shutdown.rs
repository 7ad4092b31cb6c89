//! Shutdown: a submission backing off gets one last attempt, and a hung upstream does not
//! hold the exit up.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use pocx_aggregator::events::now_ms;
use pocx_aggregator::sim::{Behaviour, SimUpstreamConfig};
use pocx_aggregator::stats::Gauges;

use super::kit::*;
use crate::support::{account, Farm};

/// The statistics of a stopped aggregator.
fn final_forwards(stats: &pocx_aggregator::stats::Stats) -> Value {
    let snapshot = stats.snapshot_json(now_ms(), &Gauges::default());
    snapshot["upstream"]["forwards"].clone()
}

#[test]
fn shutdown_gives_a_backing_off_submission_one_last_attempt() {
    let mut farm = Farm::start_with(SimUpstreamConfig::default(), |cfg| {
        cfg.upstream.retry_backoff = vec![Duration::from_secs(30)];
    });
    let round = farm.wait_for_round();
    farm.upstream.set_submit_behaviour(Some(Behaviour::Http500));
    result(&farm.submit(&round, &account(1), 1000));
    wait_for_calls(&farm, &account(1), 1);
    let stats = farm.app().stats().clone();
    let asked = Instant::now();
    let took = farm.stop_app();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    let calls = calls_for(&farm, &account(1));
    assert_eq!(calls.len(), 2, "one last attempt");
    assert!(calls[1].received_at >= asked);
    let counted = final_forwards(&stats);
    assert_eq!(dropped_for(&counted, "shutdown"), 1);
    assert_eq!(counted["retries"], 1);
    assert_eq!(outcomes(&counted), 1);
}

#[test]
fn shutdown_delivers_a_backing_off_submission_once_upstream_is_back() {
    let mut farm = Farm::start_with(SimUpstreamConfig::default(), |cfg| {
        cfg.upstream.retry_backoff = vec![Duration::from_secs(30)];
    });
    let round = farm.wait_for_round();
    farm.upstream
        .script_submit_answers(vec![Behaviour::Http500]);
    result(&farm.submit(&round, &account(1), 1000));
    wait_for_calls(&farm, &account(1), 1);
    let stats = farm.app().stats().clone();
    let took = farm.stop_app();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    let calls = calls_for(&farm, &account(1));
    assert_eq!(calls.len(), 2);
    assert!(calls[1].answer.is_accepted());
    let counted = final_forwards(&stats);
    assert_eq!(
        (counted["accepted"].clone(), counted["retries"].clone()),
        (json!(1), json!(1))
    );
}

#[test]
fn shutdown_does_not_wait_for_a_hung_upstream() {
    let upstream = SimUpstreamConfig {
        hang_limit: Duration::from_secs(8),
        ..SimUpstreamConfig::default()
    };
    let mut farm = Farm::start_with(upstream, |cfg| {
        cfg.cache.pool_timeout = Duration::from_secs(6);
    });
    let round = farm.wait_for_round();
    farm.upstream.set_submit_behaviour(Some(Behaviour::Hang));
    result(&farm.submit(&round, &account(1), 1000));
    wait_for_calls(&farm, &account(1), 1);
    let stats = farm.app().stats().clone();
    let took = farm.stop_app();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    let counted = final_forwards(&stats);
    assert_eq!(dropped_for(&counted, "shutdown"), 1);
    assert_eq!(outcomes(&counted), 1);
}
