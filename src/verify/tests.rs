//! Unit tests of the verification stage: real qualities from pocx_hashlib for the verdicts, a
//! stand-in check for queueing and shutdown.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::{Check, VerifyConfig, VerifyError, VerifyGate, VerifyStage};
use crate::events::{DropReason, ForwardJob, Outcome};
use crate::forwarder::testkit::{
    channel_sink, config, expect_outcomes, job, FakeGate, FakeUpstream,
};
use crate::forwarder::Forwarder;
use crate::protocol::NonceSubmission;

/// Verification in an unoptimised test build is slow; only a hang exceeds this.
const SOON: Duration = Duration::from_secs(30);

/// A gate that commits (or not) as told and records what it committed, by nonce.
struct FakeVerifyGate {
    commit_answer: bool,
    commits: Mutex<Vec<u64>>,
    skip: Mutex<HashMap<u64, DropReason>>,
}

impl FakeVerifyGate {
    fn new(commit_answer: bool) -> Arc<FakeVerifyGate> {
        Arc::new(FakeVerifyGate {
            commit_answer,
            commits: Mutex::new(Vec::new()),
            skip: Mutex::new(HashMap::new()),
        })
    }
}

impl VerifyGate for FakeVerifyGate {
    fn commit(&self, job: &ForwardJob) -> bool {
        self.commits.lock().push(job.submission.nonce);
        self.commit_answer
    }

    fn worth_verifying(&self, job: &ForwardJob) -> Result<(), DropReason> {
        match self.skip.lock().get(&job.submission.nonce) {
            Some(reason) => Err(*reason),
            None => Ok(()),
        }
    }
}

/// A job whose claim is the real quality of its nonce at compression 1, as a miner would find.
/// Computed once: unoptimised hashing takes seconds in a test build.
fn honest_job() -> ForwardJob {
    static HONEST: OnceLock<ForwardJob> = OnceLock::new();
    HONEST
        .get_or_init(|| {
            let mut job = job(7, 0);
            job.submission.nonce = 3052;
            job.submission.account_id = "11".repeat(20);
            job.submission.seed = "5a".repeat(32);
            job.submission.generation_signature = "3C".repeat(32);
            job.submission.compression = 1;
            job.submission.raw_quality = pocx_hashlib::calculate_quality_from_height(
                &[0x11; 20],
                &[0x5a; 32],
                job.submission.nonce,
                job.submission.compression,
                job.submission.height,
                &[0x3c; 32],
            )
            .unwrap();
            job
        })
        .clone()
}

fn real_stage(
    gate: Arc<FakeVerifyGate>,
    upstream: Arc<FakeUpstream>,
) -> (
    VerifyStage,
    Forwarder,
    Receiver<crate::events::OutcomeRecord>,
) {
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(config(&[50], 1), upstream, FakeGate::new(), sink.clone())
        .expect("threads start");
    let stage = VerifyStage::spawn(1, 8, gate, forwarder.clone(), sink).expect("threads start");
    (stage, forwarder, rx)
}

#[test]
fn an_honest_claim_is_verified_committed_and_forwarded() {
    let gate = FakeVerifyGate::new(true);
    let upstream = FakeUpstream::new();
    let (stage, forwarder, rx) = real_stage(gate.clone(), upstream.clone());
    let honest = honest_job();
    let quality = honest.submission.raw_quality;
    stage.submit(honest);
    let records = expect_outcomes(&rx, 1, SOON);
    assert!(matches!(records[0].outcome, Outcome::Accepted { .. }));
    assert_eq!(records[0].raw_quality, quality);
    assert_eq!(*gate.commits.lock(), vec![3052]);
    assert_eq!(upstream.call_order(), vec![3052]);
    assert_eq!(stage.failed_verifications(), 0);
    assert_eq!(stage.queue_depth(), 0);
    stage.shutdown();
    forwarder.shutdown();
}

#[test]
fn a_forged_better_claim_is_never_committed_nor_forwarded() {
    let gate = FakeVerifyGate::new(true);
    let upstream = FakeUpstream::new();
    let (stage, forwarder, rx) = real_stage(gate.clone(), upstream.clone());
    let mut forged = honest_job();
    forged.submission.raw_quality /= 2;
    stage.submit(forged);
    let records = expect_outcomes(&rx, 1, SOON);
    assert_eq!(
        records[0].outcome,
        Outcome::Dropped(DropReason::FailedVerification)
    );
    assert_eq!(stage.failed_verifications(), 1);
    stage.shutdown();
    forwarder.shutdown();
    assert!(gate.commits.lock().is_empty());
    assert!(upstream.call_order().is_empty());
}

#[test]
fn garbage_and_too_costly_claims_fail_verification_without_a_panic() {
    let gate = FakeVerifyGate::new(true);
    let upstream = FakeUpstream::new();
    let (stage, forwarder, rx) = real_stage(gate.clone(), upstream.clone());
    let mut bad_hex = job(7, 11);
    bad_hex.submission.seed = "not hex at all".into();
    let mut too_costly = job(7, 12);
    too_costly.submission.compression = 40;
    stage.submit(bad_hex);
    stage.submit(too_costly);
    let records = expect_outcomes(&rx, 2, SOON);
    assert!(records
        .iter()
        .all(|r| r.outcome == Outcome::Dropped(DropReason::FailedVerification)));
    assert_eq!(stage.failed_verifications(), 2);
    stage.shutdown();
    forwarder.shutdown();
    assert!(gate.commits.lock().is_empty());
}

/// A stand-in check: records the order of claims it sees, passes them, and blocks on the claim
/// whose nonce is `blocker` until the returned sender is dropped.
fn recording_check(
    blocker: u64,
    started: Sender<u64>,
) -> (Arc<Check>, Arc<Mutex<Vec<u64>>>, Sender<()>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
    let record = Arc::clone(&seen);
    let check: Arc<Check> = Arc::new(move |submission: &NonceSubmission| {
        record.lock().push(submission.nonce);
        if submission.nonce == blocker {
            let _ = started.send(blocker);
            let _ = release_rx.recv_timeout(Duration::from_secs(10));
        }
        Ok::<(), VerifyError>(())
    });
    (check, seen, release_tx)
}

fn stand_in_stage(
    check: Arc<Check>,
    gate: Arc<FakeVerifyGate>,
    capacity: usize,
) -> (
    VerifyStage,
    Forwarder,
    Receiver<crate::events::OutcomeRecord>,
) {
    let (sink, rx) = channel_sink();
    let forwarder = Forwarder::spawn(
        config(&[50], 1),
        FakeUpstream::new(),
        FakeGate::new(),
        sink.clone(),
    )
    .expect("threads start");
    let cfg = VerifyConfig {
        threads: 1,
        capacity,
        shutdown_deadline: Duration::from_millis(200),
        ..VerifyConfig::default()
    };
    let stage = VerifyStage::spawn_checking(cfg, check, gate, forwarder.clone(), sink)
        .expect("threads start");
    (stage, forwarder, rx)
}

#[test]
fn best_claims_first_and_oldest_rounds_dropped_when_full() {
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let (check, seen, release) = recording_check(1000, started_tx);
    let gate = FakeVerifyGate::new(true);
    let (stage, forwarder, rx) = stand_in_stage(check, gate.clone(), 3);
    stage.submit(job(20, 1000));
    assert_eq!(started_rx.recv_timeout(SOON).ok(), Some(1000));
    for (height, quality) in [(19, 1), (20, 50), (18, 2), (20, 40), (21, 90)] {
        stage.submit(job(height, quality));
    }
    let records = expect_outcomes(&rx, 2, SOON);
    for quality in [1, 2] {
        let record = records.iter().find(|r| r.raw_quality == quality).unwrap();
        assert_eq!(
            record.outcome,
            Outcome::Dropped(DropReason::VerifyQueueFull)
        );
    }
    drop(release);
    let _ = expect_outcomes(&rx, 4, SOON);
    assert_eq!(*seen.lock(), vec![1000, 90, 40, 50]);
    assert_eq!(*gate.commits.lock(), vec![1000, 90, 40, 50]);
    stage.shutdown();
    forwarder.shutdown();
}

#[test]
fn a_claim_the_gate_no_longer_wants_is_not_verified() {
    let (started_tx, _started_rx) = crossbeam_channel::bounded(1);
    let (check, seen, _release) = recording_check(u64::MAX, started_tx);
    let gate = FakeVerifyGate::new(true);
    gate.skip.lock().insert(5, DropReason::RoundExpired);
    let (stage, forwarder, rx) = stand_in_stage(check, gate.clone(), 8);
    stage.submit(job(20, 5));
    let records = expect_outcomes(&rx, 1, SOON);
    assert_eq!(
        records[0].outcome,
        Outcome::Dropped(DropReason::RoundExpired)
    );
    assert!(seen.lock().is_empty());
    assert!(gate.commits.lock().is_empty());
    stage.shutdown();
    forwarder.shutdown();
}

#[test]
fn shutdown_does_not_wait_for_a_stuck_verification() {
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let (check, _seen, release) = recording_check(1000, started_tx);
    let gate = FakeVerifyGate::new(true);
    let (stage, forwarder, rx) = stand_in_stage(check, gate.clone(), 8);
    stage.submit(job(20, 1000));
    assert_eq!(started_rx.recv_timeout(SOON).ok(), Some(1000));
    stage.submit(job(20, 3));
    let started = Instant::now();
    stage.shutdown();
    assert!(started.elapsed() < Duration::from_secs(1));
    let records = expect_outcomes(&rx, 2, SOON);
    assert!(records
        .iter()
        .all(|r| r.outcome == Outcome::Dropped(DropReason::Shutdown)));
    // The verification finishing late neither commits nor reports again.
    drop(release);
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    assert!(gate.commits.lock().is_empty());
    forwarder.shutdown();
}

#[test]
fn a_claim_no_longer_committed_is_reported_superseded() {
    let (started_tx, _started_rx) = crossbeam_channel::bounded(1);
    let (check, seen, _release) = recording_check(u64::MAX, started_tx);
    let gate = FakeVerifyGate::new(false);
    let (stage, forwarder, rx) = stand_in_stage(check, gate.clone(), 8);
    stage.submit(job(20, 77));
    let records = expect_outcomes(&rx, 1, SOON);
    assert_eq!(records[0].outcome, Outcome::Dropped(DropReason::Superseded));
    assert_eq!(*seen.lock(), vec![77]);
    assert_eq!(*gate.commits.lock(), vec![77]);
    assert_eq!(stage.queue_depth(), 0);
    assert_eq!(forwarder.queue_depth(), 0);
    stage.shutdown();
    forwarder.shutdown();
}
