//! Retries: each transient failure is retried after the configured backoff, no definitive
//! answer is, wallet mode fails fast, and a job backing off or hanging holds up no other.

use std::time::Duration;

use serde_json::json;

use pocx_aggregator::config::SubmissionMode;
use pocx_aggregator::protocol::is_transient_code;
use pocx_aggregator::sim::{Behaviour, RecordedAnswer, SimUpstreamConfig};

use super::kit::*;
use crate::support::{account, Farm};

/// What the upstream recorded for a failing answer of each kind.
fn recorded_as(kind: &Behaviour) -> RecordedAnswer {
    match kind {
        Behaviour::Http500 => RecordedAnswer::HttpStatus(500),
        Behaviour::RpcError(code) => RecordedAnswer::RpcError(*code),
        Behaviour::Html | Behaviour::Garbage => RecordedAnswer::NotJson,
        _ => RecordedAnswer::NoAnswer,
    }
}

#[test]
fn each_transient_failure_is_retried_after_the_first_backoff() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    let kinds = [
        Behaviour::Http500,
        Behaviour::RpcError(-32006),
        Behaviour::RpcError(-10),
        Behaviour::RpcError(-32603),
        Behaviour::Refuse,
        Behaviour::Html,
        Behaviour::Garbage,
    ];
    for (i, kind) in kinds.iter().enumerate() {
        let who = account(100 + i as u32);
        farm.upstream.script_submit_answers(vec![kind.clone()]);
        result(&farm.submit(&round, &who, 1000));
        let calls = wait_for_calls(&farm, &who, 2);
        assert_eq!(calls.len(), 2, "{kind:?}: one retry");
        assert_eq!(calls[0].answer, recorded_as(kind), "{kind:?}");
        assert!(calls[1].answer.is_accepted(), "{kind:?}: {:?}", calls[1]);
        let gap = calls[1].received_at - calls[0].received_at;
        assert!(
            gap >= Duration::from_millis(100),
            "{kind:?}: retried after {gap:?}"
        );
        wait_for_outcomes(&farm, i as u64 + 1);
    }
    let counted = wait_for_outcomes(&farm, kinds.len() as u64);
    assert_eq!(counted["accepted"], kinds.len());
    assert_eq!(counted["retries"], kinds.len());
    assert_eq!(counted["rejected"], 0);
    assert_eq!(farm.upstream.submissions().len(), 2 * kinds.len());
}

#[test]
fn a_call_that_hangs_times_out_and_is_retried() {
    let upstream = SimUpstreamConfig {
        hang_limit: Duration::from_secs(3),
        ..SimUpstreamConfig::default()
    };
    let farm = Farm::start_with(upstream, |cfg| {
        cfg.cache.pool_timeout = Duration::from_millis(400);
    });
    let round = farm.wait_for_round();
    farm.upstream.script_submit_answers(vec![Behaviour::Hang]);
    result(&farm.submit(&round, &account(1), 1000));
    let calls = wait_for_calls(&farm, &account(1), 2);
    assert_eq!(calls[0].answer, RecordedAnswer::NoAnswer);
    assert!(calls[1].answer.is_accepted());
    let gap = calls[1].received_at - calls[0].received_at;
    assert!(
        gap >= Duration::from_millis(400 + 100),
        "retried after {gap:?}"
    );
    let counted = wait_for_outcomes(&farm, 1);
    assert_eq!(
        (counted["accepted"].clone(), counted["retries"].clone()),
        (json!(1), json!(1))
    );
}

#[test]
fn definitive_answers_are_never_retried() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    let codes = [-32001, -32002, -32003, -32007, -32602, -8, -26, -5];
    for (i, code) in codes.iter().enumerate() {
        assert!(!is_transient_code(*code));
        let who = account(200 + i as u32);
        farm.upstream
            .script_submit_answers(vec![Behaviour::RpcError(*code)]);
        result(&farm.submit(&round, &who, 1000));
        let counted = wait_for_outcomes(&farm, i as u64 + 1);
        assert_eq!(counted["rejected"], i + 1);
        assert_eq!(counted["rejected_by_code"][code.to_string()], 1);
        assert_eq!(account_row(&farm, &who)["rejected"], 1);
    }
    // Nothing is left backing off: no call comes late.
    farm.settle();
    let calls = farm.upstream.submissions();
    assert_eq!(calls.len(), codes.len());
    for (call, code) in calls.iter().zip(codes) {
        assert_eq!(call.answer, RecordedAnswer::RpcError(code));
    }
    let counted = forwards(&farm);
    assert_eq!(counted["retries"], 0);
    assert_eq!(counted["accepted"], 0);
    assert_eq!(outcomes(&counted), codes.len() as u64);
}

#[test]
fn wallet_mode_fails_fast_without_retrying() {
    let farm = Farm::start_with(SimUpstreamConfig::default(), |cfg| {
        cfg.upstream.submission_mode = SubmissionMode::Wallet;
    });
    let round = farm.wait_for_round();
    farm.upstream
        .script_submit_answers(vec![Behaviour::Http500, Behaviour::RpcError(-32006)]);
    result(&farm.submit(&round, &account(1), 1000));
    wait_for_outcomes(&farm, 1);
    // The give-up rolled the farm's best back: a worse one is still worth sending.
    result(&farm.submit(&round, &account(2), 2000));
    let counted = wait_for_outcomes(&farm, 2);
    farm.settle();
    assert_eq!(
        received(&farm),
        [(account(1), 1000), (account(2), 2000)],
        "one attempt each"
    );
    assert_eq!(dropped_for(&counted, "retries_exhausted"), 2);
    assert_eq!(counted["retries"], 0);
}

#[test]
fn backoff_follows_the_configured_delays_then_gives_up() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    farm.upstream.set_submit_behaviour(Some(Behaviour::Http500));
    result(&farm.submit(&round, &account(1), 1000));
    let counted = wait_for_outcomes(&farm, 1);
    let calls = calls_for(&farm, &account(1));
    assert_eq!(calls.len(), 4, "the first attempt and one retry per delay");
    let delays = farm.config.upstream.retry_backoff.clone();
    for (pair, delay) in calls.windows(2).zip(&delays) {
        let gap = pair[1].received_at - pair[0].received_at;
        // Never early; late only by scheduling on a busy host.
        assert!(gap >= *delay, "gap {gap:?} before the {delay:?} retry");
        assert!(
            gap < *delay + Duration::from_millis(750),
            "gap {gap:?} for {delay:?}"
        );
    }
    assert_eq!(dropped_for(&counted, "retries_exhausted"), 1);
    assert_eq!(counted["retries"], 3);
    farm.settle();
    assert_eq!(farm.upstream.submissions().len(), 4);
}

#[test]
fn a_fresh_submission_is_not_held_up_by_one_backing_off() {
    let farm = Farm::start_with(SimUpstreamConfig::default(), |cfg| {
        cfg.upstream.retry_backoff = vec![Duration::from_millis(1500)];
    });
    let round = farm.wait_for_round();
    farm.upstream
        .script_submit_answers(vec![Behaviour::Http500]);
    result(&farm.submit(&round, &account(1), 1000));
    let first = wait_for_calls(&farm, &account(1), 1)[0].received_at;
    result(&farm.submit(&round, &account(2), 2000));
    let fresh = wait_for_calls(&farm, &account(2), 1)[0].clone();
    assert!(fresh.answer.is_accepted());
    assert!(
        fresh.received_at < first + Duration::from_millis(1500),
        "the fresh submission waited for the backoff"
    );
    assert_eq!(calls_for(&farm, &account(1)).len(), 1, "still backing off");
    let retried = wait_for_calls(&farm, &account(1), 2);
    assert!(retried[1].received_at - first >= Duration::from_millis(1500));
    let counted = wait_for_outcomes(&farm, 2);
    assert_eq!(
        (counted["accepted"].clone(), counted["retries"].clone()),
        (json!(2), json!(1))
    );
}

#[test]
fn a_hung_call_does_not_hold_up_other_submissions() {
    let upstream = SimUpstreamConfig {
        hang_limit: Duration::from_secs(5),
        ..SimUpstreamConfig::default()
    };
    let farm = Farm::start_with(upstream, |cfg| {
        cfg.cache.pool_timeout = Duration::from_secs(3);
    });
    let round = farm.wait_for_round();
    farm.upstream.script_submit_answers(vec![Behaviour::Hang]);
    result(&farm.submit(&round, &account(1), 1000));
    let hung = wait_for_calls(&farm, &account(1), 1)[0].received_at;
    result(&farm.submit(&round, &account(2), 2000));
    let fresh = wait_for_calls(&farm, &account(2), 1)[0].clone();
    assert!(fresh.answer.is_accepted());
    assert!(fresh.received_at < hung + Duration::from_secs(3));
    assert_eq!(calls_for(&farm, &account(1)).len(), 1, "still in flight");
}
