//! Machines that stop polling or stop submitting, and an upstream that goes away.

use std::time::{Duration, Instant};

use pocx_aggregator::sim::{Behaviour, SimMiners, SimMinersConfig, SimUpstreamConfig};

use super::{firing_metric, wait_for_alert, SLACK};
use crate::support::{wait_until, Farm};

fn farm() -> Farm {
    Farm::start_with(SimUpstreamConfig::default(), |cfg| {
        cfg.alerts.machine_silent = Duration::from_secs(2);
        cfg.alerts.idle_rounds = 3;
        cfg.alerts.upstream_down = Duration::from_secs(1);
    })
}

fn miners(farm: &Farm, prefix: &str, submits_per_round: usize) -> SimMiners {
    SimMiners::start(SimMinersConfig {
        aggregator_url: farm.url.clone(),
        miners: 1,
        accounts_per_miner: 1,
        poll_interval: Duration::from_millis(30),
        submits_per_round,
        machine_names: Some(prefix.into()),
        seed: 3,
    })
}

/// Submissions `/stats` counts for `machine`.
fn submissions(farm: &Farm, machine: &str) -> u64 {
    farm.stats()["machines"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["machine"] == machine))
        .and_then(|m| m["submissions"].as_u64())
        .unwrap_or(0)
}

/// Starts a new round and waits until the aggregator serves it.
fn next_round(farm: &Farm) {
    farm.upstream.new_round();
    farm.wait_for_round();
}

#[test]
fn a_machine_that_stops_polling_is_silent_and_resolves_when_it_returns() {
    let farm = farm();
    farm.wait_for_round();
    let rig = miners(&farm, "quiet", 1);
    // Regular polling first: the tracker needs a few polls before silence means anything.
    wait_until(SLACK, || {
        let input = farm.app().stats().alert_input(0, None).0;
        input
            .polls
            .iter()
            .any(|(name, p)| &**name == "quiet-0" && p.polls >= 10)
    });
    assert_eq!(firing_metric(&farm, "machine_silent"), Some(0));
    rig.shutdown();
    let stopped = Instant::now();
    let firing = wait_for_alert(&farm, "machine_silent", "quiet-0", "firing");
    let took = stopped.elapsed();
    assert!(took >= Duration::from_secs(2), "fired after {took:?}");
    assert!(
        took < Duration::from_secs(2) + SLACK,
        "fired after {took:?}"
    );
    assert!(firing["message"]
        .as_str()
        .unwrap()
        .contains("has not polled"));
    assert!(firing["since_ms"].as_u64().unwrap() > 0);
    assert_eq!(firing_metric(&farm, "machine_silent"), Some(1));
    let back = miners(&farm, "quiet", 1);
    wait_for_alert(&farm, "machine_silent", "quiet-0", "resolved");
    assert_eq!(firing_metric(&farm, "machine_silent"), Some(0));
    back.shutdown();
}

#[test]
fn a_machine_that_polls_but_stops_submitting_is_flagged_within_its_rounds() {
    let farm = farm();
    farm.wait_for_round();
    let rig = miners(&farm, "idle", 2);
    // A habit of submitting: eight rounds, each with the machine's submissions in it (the
    // board counts at least five of them: it starts counting with its first tick).
    for _ in 0..8 {
        let before = submissions(&farm, "idle-0");
        wait_until(SLACK, || submissions(&farm, "idle-0") > before);
        next_round(&farm);
    }
    rig.shutdown();
    let polling_only = miners(&farm, "idle", 0);
    // The round it stopped in may hold a submission of its own; three idle rounds follow it.
    for _ in 0..4 {
        next_round(&farm);
    }
    let firing = wait_for_alert(&farm, "machine_not_submitting", "idle-0", "firing");
    assert!(
        firing["message"]
            .as_str()
            .unwrap()
            .contains("submitted nothing"),
        "{firing}"
    );
    assert_eq!(firing_metric(&farm, "machine_not_submitting"), Some(1));
    polling_only.shutdown();
    let back = miners(&farm, "idle", 2);
    let before = submissions(&farm, "idle-0");
    wait_until(SLACK, || submissions(&farm, "idle-0") > before);
    next_round(&farm);
    wait_for_alert(&farm, "machine_not_submitting", "idle-0", "resolved");
    back.shutdown();
}

#[test]
fn an_unreachable_upstream_fires_and_resolves() {
    let farm = farm();
    farm.wait_for_round();
    assert_eq!(firing_metric(&farm, "upstream_unreachable"), Some(0));
    farm.upstream.set_behaviour(Behaviour::Refuse);
    let firing = wait_for_alert(&farm, "upstream_unreachable", "primary-pool", "firing");
    assert!(firing["message"].as_str().unwrap().contains("unreachable"));
    assert_eq!(firing_metric(&farm, "upstream_unreachable"), Some(1));
    farm.upstream.set_behaviour(Behaviour::Normal);
    wait_for_alert(&farm, "upstream_unreachable", "primary-pool", "resolved");
}
