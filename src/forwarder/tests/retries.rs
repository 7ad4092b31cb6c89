//! Retries, definitive answers, wallet mode and gate verdicts.

use std::time::Duration;

use super::{assert_no_more, dropped, outcome_of, SOON};
use crate::config::SubmissionMode;
use crate::events::{DropReason, Outcome};
use crate::forwarder::testkit::{
    channel_sink, config, expect_outcomes, job, FakeGate, FakeUpstream, GateCall, Step,
};
use crate::forwarder::Forwarder;
use crate::upstream::UpstreamError;

fn rpc(code: i64) -> UpstreamError {
    UpstreamError::Rpc {
        code,
        message: format!("code {code}"),
        data: None,
    }
}

fn transient_kinds() -> Vec<UpstreamError> {
    vec![
        UpstreamError::Connect("connection refused".into()),
        UpstreamError::Timeout,
        UpstreamError::Http { status: 500 },
        UpstreamError::Http { status: 503 },
        rpc(-32006),
        rpc(-10),
        rpc(-32603),
    ]
}

#[test]
fn an_accepted_job_is_reported_once_and_the_gate_told() {
    let upstream = FakeUpstream::new();
    let gate = FakeGate::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&[50], 2), upstream.clone(), gate.clone(), sink)
        .expect("threads start");
    forwarder.submit(job(10, 7));
    let records = expect_outcomes(&rx, 1, SOON);
    let record = outcome_of(&records, 7);
    assert_eq!(
        record.outcome,
        Outcome::Accepted {
            upstream_poc_time: Some(42)
        }
    );
    assert_eq!(record.attempts, 1);
    assert_eq!(record.height, 10);
    assert_eq!(&*record.machine, "rig-1");
    assert!(record.at_ms >= record.latency_ms);
    assert_eq!(gate.calls(), vec![GateCall::Accepted(7)]);
    assert_eq!(forwarder.queue_depth(), 0);
    assert_no_more(&rx);
    forwarder.shutdown();
}

#[test]
fn every_transient_failure_kind_is_retried() {
    let upstream = FakeUpstream::new();
    let gate = FakeGate::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&[20, 40], 4), upstream.clone(), gate, sink)
        .expect("threads start");
    let kinds = transient_kinds();
    let count = kinds.len();
    for (quality, error) in (1u64..).zip(kinds) {
        upstream.script(quality, [Step::fail(error), Step::ok()]);
        forwarder.submit(job(10, quality));
    }
    let records = expect_outcomes(&rx, count, SOON);
    for quality in (1u64..).take(count) {
        let record = outcome_of(&records, quality);
        assert!(
            matches!(record.outcome, Outcome::Accepted { .. }),
            "{record:?}"
        );
        assert_eq!(record.attempts, 2, "{record:?}");
        assert_eq!(upstream.arrivals_of(quality).len(), 2);
    }
    assert_no_more(&rx);
    forwarder.shutdown();
}

#[test]
fn definitive_answers_are_never_retried() {
    let cases = [
        (rpc(-32001), -32001),
        (rpc(-32002), -32002),
        (rpc(-32003), -32003),
        (rpc(-32007), -32007),
        (rpc(-32602), -32602),
        (rpc(-8), -8),
        (rpc(-26), -26),
        (rpc(-5), -5),
        (UpstreamError::Unauthorized { status: 401 }, 401),
        (UpstreamError::Unauthorized { status: 403 }, 403),
    ];
    let upstream = FakeUpstream::new();
    let gate = FakeGate::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&[20, 40], 4), upstream.clone(), gate.clone(), sink)
        .expect("threads start");
    let mut expected = Vec::new();
    for (quality, (error, code)) in (1u64..).zip(cases) {
        upstream.script(quality, [Step::fail(error)]);
        forwarder.submit(job(10, quality));
        expected.push((quality, code));
    }
    let records = expect_outcomes(&rx, expected.len(), SOON);
    for (quality, code) in expected {
        let record = outcome_of(&records, quality);
        assert!(
            matches!(&record.outcome, Outcome::Rejected { code: c, .. } if *c == code),
            "{record:?}"
        );
        assert_eq!(record.attempts, 1);
        assert_eq!(upstream.arrivals_of(quality).len(), 1);
        assert!(gate.calls().contains(&GateCall::Rejected(quality)));
    }
    // Give a wrongly scheduled retry time to show up.
    assert_no_more(&rx);
    assert_eq!(upstream.call_order().len(), 10);
    forwarder.shutdown();
}

#[test]
fn retries_wait_for_each_backoff_delay() {
    let delays = [50u64, 100, 200];
    let upstream = FakeUpstream::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&delays, 1), upstream.clone(), FakeGate::new(), sink)
        .expect("threads start");
    upstream.script(
        5,
        [
            Step::fail(UpstreamError::Timeout),
            Step::fail(UpstreamError::Timeout),
            Step::fail(UpstreamError::Timeout),
            Step::ok(),
        ],
    );
    forwarder.submit(job(10, 5));
    let records = expect_outcomes(&rx, 1, SOON);
    assert_eq!(records[0].attempts, 4);
    let arrivals = upstream.arrivals_of(5);
    assert_eq!(arrivals.len(), 4);
    for (pair, delay) in arrivals.windows(2).zip(delays) {
        let gap = pair[1].duration_since(pair[0]);
        let delay = Duration::from_millis(delay);
        assert!(gap >= delay, "retried after {gap:?}, before {delay:?}");
        assert!(
            gap < delay + Duration::from_millis(500),
            "retried only after {gap:?}"
        );
    }
    forwarder.shutdown();
}

#[test]
fn after_the_last_backoff_the_job_is_given_up() {
    let upstream = FakeUpstream::new();
    let gate = FakeGate::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&[10, 20], 1), upstream.clone(), gate.clone(), sink)
        .expect("threads start");
    upstream.script(5, (0..10).map(|_| Step::fail(rpc(-32006))));
    forwarder.submit(job(10, 5));
    let records = expect_outcomes(&rx, 1, SOON);
    assert_eq!(records[0].outcome, dropped(DropReason::RetriesExhausted));
    assert_eq!(records[0].attempts, 3);
    assert_eq!(upstream.arrivals_of(5).len(), 3);
    assert_eq!(
        gate.calls(),
        vec![GateCall::Abandoned(5, DropReason::RetriesExhausted)]
    );
    assert_no_more(&rx);
    forwarder.shutdown();
}

#[test]
fn wallet_mode_fails_fast() {
    let upstream = FakeUpstream::new();
    let (sink, rx) = channel_sink();
    let mut cfg = config(&[10, 20], 2);
    cfg.mode = SubmissionMode::Wallet;
    let forwarder =
        Forwarder::spawn(cfg, upstream.clone(), FakeGate::new(), sink).expect("threads start");
    upstream.script(1, [Step::fail(UpstreamError::Connect("refused".into()))]);
    upstream.script(2, [Step::fail(rpc(-26))]);
    forwarder.submit(job(10, 1));
    forwarder.submit(job(10, 2));
    let records = expect_outcomes(&rx, 2, SOON);
    let transient = outcome_of(&records, 1);
    assert_eq!(transient.outcome, dropped(DropReason::RetriesExhausted));
    assert_eq!(transient.attempts, 1);
    assert!(matches!(
        outcome_of(&records, 2).outcome,
        Outcome::Rejected { code: -26, .. }
    ));
    assert_no_more(&rx);
    assert_eq!(upstream.arrivals_of(1).len(), 1);
    forwarder.shutdown();
}

#[test]
fn a_job_superseded_while_queued_is_never_sent() {
    let upstream = FakeUpstream::new();
    let gate = FakeGate::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&[10], 1), upstream.clone(), gate.clone(), sink)
        .expect("threads start");
    gate.refuse(3, DropReason::Superseded);
    forwarder.submit(job(10, 3));
    forwarder.submit(job(10, 4));
    let records = expect_outcomes(&rx, 2, SOON);
    let superseded = outcome_of(&records, 3);
    assert_eq!(superseded.outcome, dropped(DropReason::Superseded));
    assert_eq!(superseded.attempts, 0);
    assert!(upstream.arrivals_of(3).is_empty());
    assert!(matches!(
        outcome_of(&records, 4).outcome,
        Outcome::Accepted { .. }
    ));
    forwarder.shutdown();
}

#[test]
fn a_round_that_expires_during_backoff_ends_the_retries() {
    let upstream = FakeUpstream::new();
    let gate = FakeGate::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&[150], 1), upstream.clone(), gate.clone(), sink)
        .expect("threads start");
    upstream.script(9, [Step::fail(UpstreamError::Http { status: 502 })]);
    forwarder.submit(job(10, 9));
    assert_eq!(upstream.next_arrival(SOON), Some(9));
    gate.refuse(9, DropReason::RoundExpired);
    let records = expect_outcomes(&rx, 1, SOON);
    assert_eq!(records[0].outcome, dropped(DropReason::RoundExpired));
    assert_eq!(records[0].attempts, 1);
    assert_eq!(upstream.arrivals_of(9).len(), 1);
    forwarder.shutdown();
}

#[test]
fn every_job_gets_exactly_one_outcome() {
    let upstream = FakeUpstream::new();
    let gate = FakeGate::new();
    let (sink, rx) = channel_sink();
    let mut cfg = config(&[5, 10], 4);
    cfg.queue_capacity = 1000;
    let forwarder =
        Forwarder::spawn(cfg, upstream.clone(), gate.clone(), sink).expect("threads start");
    let total = 300u64;
    for quality in 1..=total {
        match quality % 5 {
            0 => {}
            1 => upstream.script(quality, [Step::fail(UpstreamError::Timeout), Step::ok()]),
            2 => upstream.script(quality, [Step::fail(rpc(-32002))]),
            3 => upstream.script(quality, (0..3).map(|_| Step::fail(rpc(-10)))),
            _ => gate.refuse(quality, DropReason::Superseded),
        }
        forwarder.submit(job(10 + quality % 3, quality));
    }
    let records = expect_outcomes(&rx, total as usize, Duration::from_secs(10));
    for quality in 1..=total {
        let kind = outcome_of(&records, quality).outcome.kind();
        let expected = ["accepted", "accepted", "rejected", "dropped", "dropped"];
        assert_eq!(kind, expected[(quality % 5) as usize], "quality {quality}");
    }
    assert_no_more(&rx);
    assert_eq!(forwarder.queue_depth(), 0);
    forwarder.shutdown();
}
