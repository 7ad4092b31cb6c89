//! Priority, capacity and the absence of head-of-line blocking.

use std::time::{Duration, Instant};

use super::{assert_no_more, dropped, outcome_of, SOON};
use crate::events::{DropReason, Outcome};
use crate::forwarder::testkit::{
    accepted, channel_sink, config, expect_outcomes, job, FakeGate, FakeUpstream, GateCall, Step,
};
use crate::forwarder::{Forwarder, MIN_INTAKE_CAPACITY};
use crate::upstream::UpstreamError;

/// Bound for "within milliseconds": far below any backoff used here, far above scheduling noise.
const PROMPTLY: Duration = Duration::from_millis(500);

#[test]
fn a_backing_off_job_does_not_delay_a_fresh_one() {
    let upstream = FakeUpstream::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&[5_000], 1), upstream.clone(), FakeGate::new(), sink)
        .expect("threads start");
    upstream.script(1, [Step::fail(UpstreamError::Timeout)]);
    forwarder.submit(job(10, 1));
    assert_eq!(upstream.next_arrival(SOON), Some(1));
    let submitted = Instant::now();
    forwarder.submit(job(10, 2));
    assert_eq!(upstream.next_arrival(SOON), Some(2));
    let waited = submitted.elapsed();
    assert!(waited < PROMPTLY, "fresh job waited {waited:?}");
    let records = expect_outcomes(&rx, 1, SOON);
    assert!(matches!(
        outcome_of(&records, 2).outcome,
        Outcome::Accepted { .. }
    ));
    // The first job is still backing off: one call only, and it is still counted.
    assert_eq!(upstream.arrivals_of(1).len(), 1);
    assert_eq!(forwarder.queue_depth(), 1);
    forwarder.shutdown();
    // Shutdown cut its backoff short for a last attempt, which succeeded.
    let records = expect_outcomes(&rx, 1, SOON);
    assert_eq!(records[0].attempts, 2);
    assert!(matches!(records[0].outcome, Outcome::Accepted { .. }));
}

#[test]
fn a_slow_upstream_call_does_not_hold_up_the_others() {
    let upstream = FakeUpstream::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&[50], 2), upstream.clone(), FakeGate::new(), sink)
        .expect("threads start");
    upstream.script(1, [Step::hang(Ok(accepted()))]);
    forwarder.submit(job(10, 1));
    assert_eq!(upstream.next_arrival(SOON), Some(1));
    let submitted = Instant::now();
    forwarder.submit(job(10, 2));
    let records = expect_outcomes(&rx, 1, SOON);
    assert!(submitted.elapsed() < PROMPTLY);
    assert!(matches!(
        outcome_of(&records, 2).outcome,
        Outcome::Accepted { .. }
    ));
    assert_eq!(forwarder.queue_depth(), 1);
    upstream.release();
    let records = expect_outcomes(&rx, 1, SOON);
    assert!(matches!(
        outcome_of(&records, 1).outcome,
        Outcome::Accepted { .. }
    ));
    forwarder.shutdown();
}

/// Holds the single connection with a hanging call while `jobs` are queued behind it, then
/// returns the order in which the queued jobs reached the upstream.
fn order_behind_a_busy_connection(jobs: &[(u64, u64)]) -> Vec<u64> {
    let upstream = FakeUpstream::new();
    let gate = FakeGate::new();
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&[50], 1), upstream.clone(), gate.clone(), sink)
        .expect("threads start");
    upstream.script(1000, [Step::hang(Ok(accepted()))]);
    // Stall the dispatcher in its gate check of the blocker while the others are submitted, so
    // they are all in the channel when it next looks and it takes them in one go.
    let (stalled_tx, stalled_rx) = crossbeam_channel::bounded(1);
    let unstall = gate.stall_next(stalled_tx);
    forwarder.submit(job(100, 1000));
    assert!(stalled_rx.recv_timeout(SOON).is_ok());
    for &(height, quality) in jobs {
        forwarder.submit(job(height, quality));
    }
    drop(unstall);
    assert_eq!(upstream.next_arrival(SOON), Some(1000));
    // The dispatcher now takes every job from its channel; let the blocker answer after that.
    // Nothing outside the stage shows the channel empty, so this pause stays.
    std::thread::sleep(Duration::from_millis(50));
    upstream.release();
    let _ = expect_outcomes(&rx, jobs.len() + 1, SOON);
    assert_no_more(&rx);
    forwarder.shutdown();
    let mut order = upstream.call_order();
    order.retain(|nonce| *nonce != 1000);
    order
}

#[test]
fn newer_rounds_then_better_qualities_go_first() {
    let jobs = [
        (10, 50),
        (11, 900),
        (11, 100),
        (10, 5),
        (12, 700),
        (11, 101),
    ];
    let order = order_behind_a_busy_connection(&jobs);
    assert_eq!(order, vec![700, 100, 101, 900, 5, 50]);
}

#[test]
fn over_capacity_the_oldest_round_then_worst_quality_is_dropped() {
    let upstream = FakeUpstream::new();
    let gate = FakeGate::new();
    let (sink, rx) = channel_sink();
    let mut cfg = config(&[50], 1);
    cfg.queue_capacity = 3;
    let forwarder =
        Forwarder::spawn(cfg, upstream.clone(), gate.clone(), sink).expect("threads start");
    upstream.script(1000, [Step::hang(Ok(accepted()))]);
    forwarder.submit(job(100, 1000));
    assert_eq!(upstream.next_arrival(SOON), Some(1000));
    for (height, quality) in [(100, 1), (101, 5), (101, 9), (99, 2), (101, 3)] {
        forwarder.submit(job(height, quality));
    }
    let records = expect_outcomes(&rx, 2, SOON);
    for quality in [1, 2] {
        let record = outcome_of(&records, quality);
        assert_eq!(record.outcome, dropped(DropReason::QueueFull));
        assert_eq!(record.attempts, 0);
        assert!(gate
            .calls()
            .contains(&GateCall::Abandoned(quality, DropReason::QueueFull)));
    }
    upstream.release();
    let records = expect_outcomes(&rx, 4, SOON);
    for quality in [1000, 3, 5, 9] {
        assert!(matches!(
            outcome_of(&records, quality).outcome,
            Outcome::Accepted { .. }
        ));
    }
    assert_no_more(&rx);
    assert_eq!(upstream.call_order(), vec![1000, 3, 5, 9]);
    forwarder.shutdown();
}

#[test]
fn a_full_intake_drops_the_incoming_job_without_blocking() {
    let upstream = FakeUpstream::new();
    let gate = FakeGate::new();
    let (sink, rx) = channel_sink();
    let mut cfg = config(&[50], 1);
    // The intake channel then has its minimum size, and the queue room for all of it.
    cfg.queue_capacity = MIN_INTAKE_CAPACITY;
    let forwarder =
        Forwarder::spawn(cfg, upstream.clone(), gate.clone(), sink).expect("threads start");
    let (stalled_tx, stalled_rx) = crossbeam_channel::bounded(1);
    let unstall = gate.stall_next(stalled_tx);
    forwarder.submit(job(10, 1));
    assert!(stalled_rx.recv_timeout(SOON).is_ok());
    // The dispatcher is stuck: the channel fills, then the next two are dropped on the spot.
    let intake = MIN_INTAKE_CAPACITY as u64;
    for quality in 2..intake + 4 {
        forwarder.submit(job(10, quality));
    }
    let dropped_now: Vec<_> = rx.try_iter().collect();
    assert_eq!(dropped_now.len(), 2, "{dropped_now:?}");
    for quality in [intake + 2, intake + 3] {
        assert_eq!(
            outcome_of(&dropped_now, quality).outcome,
            dropped(DropReason::QueueFull)
        );
    }
    drop(unstall);
    let records = expect_outcomes(&rx, intake as usize + 1, Duration::from_secs(10));
    assert!(records
        .iter()
        .all(|r| matches!(r.outcome, Outcome::Accepted { .. })));
    assert_no_more(&rx);
    forwarder.shutdown();
}
