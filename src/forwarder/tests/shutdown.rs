//! Shutdown: last attempts, the deadline with a hung upstream, and submissions afterwards.

use std::time::{Duration, Instant};

use super::{assert_no_more, dropped, outcome_of, SOON};
use crate::events::{DropReason, Outcome};
use crate::forwarder::testkit::{
    accepted, channel_sink, config, expect_outcomes, job, FakeGate, FakeUpstream, GateCall, Step,
};
use crate::forwarder::Forwarder;
use crate::upstream::UpstreamError;

#[test]
fn shutdown_gives_a_backing_off_job_its_last_attempt_at_once() {
    let upstream = FakeUpstream::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(
        config(&[10_000], 2),
        upstream.clone(),
        FakeGate::new(),
        sink,
    )
    .expect("threads start");
    upstream.script(4, [Step::fail(UpstreamError::Timeout)]);
    forwarder.submit(job(10, 4));
    assert_eq!(upstream.next_arrival(SOON), Some(4));
    let started = Instant::now();
    forwarder.shutdown();
    assert!(started.elapsed() < Duration::from_secs(1));
    let records = expect_outcomes(&rx, 1, SOON);
    assert!(matches!(records[0].outcome, Outcome::Accepted { .. }));
    assert_eq!(records[0].attempts, 2);
}

#[test]
fn a_last_attempt_that_fails_transiently_ends_as_shutdown() {
    let upstream = FakeUpstream::new();
    let gate = FakeGate::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&[10_000], 1), upstream.clone(), gate.clone(), sink)
        .expect("threads start");
    upstream.script(4, (0..2).map(|_| Step::fail(UpstreamError::Timeout)));
    forwarder.submit(job(10, 4));
    assert_eq!(upstream.next_arrival(SOON), Some(4));
    forwarder.shutdown();
    let records = expect_outcomes(&rx, 1, SOON);
    assert_eq!(records[0].outcome, dropped(DropReason::Shutdown));
    assert_eq!(records[0].attempts, 2);
    assert_eq!(
        gate.calls(),
        vec![GateCall::Abandoned(4, DropReason::Shutdown)]
    );
}

#[test]
fn a_call_failing_while_shutdown_runs_gets_its_last_attempt() {
    let upstream = FakeUpstream::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(
        config(&[10_000], 1),
        upstream.clone(),
        FakeGate::new(),
        sink,
    )
    .expect("threads start");
    upstream.script(6, [Step::hang(Err(UpstreamError::Timeout))]);
    forwarder.submit(job(10, 6));
    assert_eq!(upstream.next_arrival(SOON), Some(6));
    // The call is in flight when shutdown begins; it fails shortly after. Shutdown blocks this
    // thread and shows no "begun" from outside, so the releaser waits a fixed pause.
    let releaser = {
        let upstream = upstream.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            upstream.release();
        })
    };
    forwarder.shutdown();
    releaser.join().unwrap();
    let records = expect_outcomes(&rx, 1, SOON);
    assert!(matches!(records[0].outcome, Outcome::Accepted { .. }));
    assert_eq!(records[0].attempts, 2);
}

#[test]
fn a_hung_upstream_cannot_hold_shutdown_past_its_deadline() {
    let upstream = FakeUpstream::new();
    let (sink, rx) = channel_sink();
    let cfg = config(&[50], 2);
    let deadline = cfg.shutdown_deadline;
    let forwarder =
        Forwarder::spawn(cfg, upstream.clone(), FakeGate::new(), sink).expect("threads start");
    for quality in 1..=5 {
        upstream.script(quality, [Step::hang(Ok(accepted()))]);
        forwarder.submit(job(10, quality));
    }
    // Both connections are stuck; three jobs wait behind them.
    assert!(upstream.next_arrival(SOON).is_some());
    assert!(upstream.next_arrival(SOON).is_some());
    let started = Instant::now();
    forwarder.shutdown();
    let took = started.elapsed();
    assert!(took >= deadline, "gave up after {took:?}");
    assert!(
        took < deadline + Duration::from_millis(700),
        "took {took:?}"
    );
    let records = expect_outcomes(&rx, 5, SOON);
    let attempts: Vec<u32> = (1..=5).map(|q| outcome_of(&records, q).attempts).collect();
    assert!(records
        .iter()
        .all(|r| r.outcome == dropped(DropReason::Shutdown)));
    assert_eq!(attempts.iter().filter(|a| **a == 1).count(), 2);
    assert_eq!(attempts.iter().filter(|a| **a == 0).count(), 3);
    // The detached threads' late answers are discarded, not reported a second time.
    upstream.release();
    assert_no_more(&rx);
}

#[test]
fn a_clone_submitting_after_shutdown_gets_a_shutdown_outcome() {
    let upstream = FakeUpstream::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&[50], 1), upstream.clone(), FakeGate::new(), sink)
        .expect("threads start");
    let worker_handle = forwarder.clone();
    forwarder.shutdown();
    worker_handle.submit(job(10, 8));
    let records = expect_outcomes(&rx, 1, SOON);
    assert_eq!(records[0].outcome, dropped(DropReason::Shutdown));
    assert_eq!(records[0].attempts, 0);
    assert!(upstream.call_order().is_empty());
    drop(worker_handle);
}

#[test]
fn dropping_the_last_handle_stops_and_joins_the_threads() {
    let upstream = FakeUpstream::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&[50], 2), upstream.clone(), FakeGate::new(), sink)
        .expect("threads start");
    forwarder.submit(job(10, 3));
    let records = expect_outcomes(&rx, 1, SOON);
    assert!(matches!(
        outcome_of(&records, 3).outcome,
        Outcome::Accepted { .. }
    ));
    let started = Instant::now();
    drop(forwarder);
    assert!(started.elapsed() < SOON);
}
