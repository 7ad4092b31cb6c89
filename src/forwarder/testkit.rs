//! In-memory stand-ins for the forwarder's collaborators, shared by the forwarder's and the
//! verification stage's unit tests: an upstream scripted per nonce that records when each call
//! arrived, a gate with settable verdicts that records what it was told, and a sink that hands
//! outcomes to the test through a channel.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::{ForwardGate, ForwarderConfig};
use crate::config::SubmissionMode;
use crate::events::{now_ms, DropReason, ForwardJob, OutcomeRecord, OutcomeSink};
use crate::protocol::{NonceSubmission, SubmitAnswer};
use crate::upstream::{SubmitUpstream, UpstreamError};

/// Longest a "hanging" call waits for its release, so no test thread can leak for ever.
const HANG_LIMIT: Duration = Duration::from_secs(10);

/// One scripted upstream answer.
pub(crate) struct Step {
    hang: bool,
    result: Result<SubmitAnswer, UpstreamError>,
}

impl Step {
    pub(crate) fn ok() -> Step {
        Step::answer(Ok(accepted()))
    }

    pub(crate) fn fail(error: UpstreamError) -> Step {
        Step::answer(Err(error))
    }

    pub(crate) fn answer(result: Result<SubmitAnswer, UpstreamError>) -> Step {
        Step {
            hang: false,
            result,
        }
    }

    /// Blocks until [`FakeUpstream::release`], then answers `result`.
    pub(crate) fn hang(result: Result<SubmitAnswer, UpstreamError>) -> Step {
        Step { hang: true, result }
    }
}

pub(crate) fn accepted() -> SubmitAnswer {
    SubmitAnswer {
        raw_quality: None,
        poc_time: Some(42),
    }
}

/// An upstream that answers per nonce from a script (then `Ok` once the script runs out).
pub(crate) struct FakeUpstream {
    scripts: Mutex<HashMap<u64, VecDeque<Step>>>,
    calls: Mutex<Vec<(u64, Instant)>>,
    arrivals_tx: Sender<u64>,
    arrivals: Receiver<u64>,
    release_tx: Mutex<Option<Sender<()>>>,
    release_rx: Receiver<()>,
}

impl FakeUpstream {
    pub(crate) fn new() -> Arc<FakeUpstream> {
        let (arrivals_tx, arrivals) = crossbeam_channel::unbounded();
        let (release_tx, release_rx) = crossbeam_channel::bounded(0);
        Arc::new(FakeUpstream {
            scripts: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
            arrivals_tx,
            arrivals,
            release_tx: Mutex::new(Some(release_tx)),
            release_rx,
        })
    }

    pub(crate) fn script(&self, nonce: u64, steps: impl IntoIterator<Item = Step>) {
        self.scripts.lock().entry(nonce).or_default().extend(steps);
    }

    /// Lets every hanging call (now and later) answer.
    pub(crate) fn release(&self) {
        self.release_tx.lock().take();
    }

    /// The nonce of the next call to arrive, waiting at most `timeout`.
    pub(crate) fn next_arrival(&self, timeout: Duration) -> Option<u64> {
        self.arrivals.recv_timeout(timeout).ok()
    }

    /// When each call for `nonce` arrived, in order.
    pub(crate) fn arrivals_of(&self, nonce: u64) -> Vec<Instant> {
        let calls = self.calls.lock();
        calls
            .iter()
            .filter(|(n, _)| *n == nonce)
            .map(|(_, at)| *at)
            .collect()
    }

    /// Every nonce in order of arrival.
    pub(crate) fn call_order(&self) -> Vec<u64> {
        self.calls.lock().iter().map(|(nonce, _)| *nonce).collect()
    }
}

impl SubmitUpstream for FakeUpstream {
    fn submit_nonce(&self, submission: &NonceSubmission) -> Result<SubmitAnswer, UpstreamError> {
        let nonce = submission.nonce;
        self.calls.lock().push((nonce, Instant::now()));
        let _ = self.arrivals_tx.send(nonce);
        let step = self
            .scripts
            .lock()
            .get_mut(&nonce)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(Step::ok);
        if step.hang {
            let _ = self.release_rx.recv_timeout(HANG_LIMIT);
        }
        step.result
    }
}

/// What the gate was told, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GateCall {
    Accepted(u64),
    Rejected(u64),
    Abandoned(u64, DropReason),
}

/// A gate whose verdicts tests set per nonce; it can also stall the first check it gets.
pub(crate) struct FakeGate {
    verdicts: Mutex<HashMap<u64, DropReason>>,
    calls: Mutex<Vec<GateCall>>,
    stall: Mutex<Option<(Sender<()>, Receiver<()>)>>,
}

impl FakeGate {
    pub(crate) fn new() -> Arc<FakeGate> {
        Arc::new(FakeGate {
            verdicts: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
            stall: Mutex::new(None),
        })
    }

    pub(crate) fn refuse(&self, nonce: u64, reason: DropReason) {
        self.verdicts.lock().insert(nonce, reason);
    }

    /// The next `still_worth_forwarding` blocks (holding up the dispatcher) until the returned
    /// sender is dropped; `stalled` gets a message when it starts blocking.
    pub(crate) fn stall_next(&self, stalled: Sender<()>) -> Sender<()> {
        let (release_tx, release_rx) = crossbeam_channel::bounded(0);
        *self.stall.lock() = Some((stalled, release_rx));
        release_tx
    }

    pub(crate) fn calls(&self) -> Vec<GateCall> {
        self.calls.lock().clone()
    }
}

impl ForwardGate for FakeGate {
    fn still_worth_forwarding(&self, job: &ForwardJob) -> Result<(), DropReason> {
        let stall = self.stall.lock().take();
        if let Some((stalled, release)) = stall {
            let _ = stalled.send(());
            let _ = release.recv_timeout(HANG_LIMIT);
        }
        match self.verdicts.lock().get(&job.submission.nonce) {
            Some(reason) => Err(*reason),
            None => Ok(()),
        }
    }

    fn accepted(&self, job: &ForwardJob) {
        self.calls
            .lock()
            .push(GateCall::Accepted(job.submission.nonce));
    }

    fn rejected(&self, job: &ForwardJob, _code: i64) -> Option<ForwardJob> {
        self.calls
            .lock()
            .push(GateCall::Rejected(job.submission.nonce));
        None
    }

    fn abandoned(&self, job: &ForwardJob, reason: DropReason) -> Option<ForwardJob> {
        self.calls
            .lock()
            .push(GateCall::Abandoned(job.submission.nonce, reason));
        None
    }
}

/// A sink that forwards every outcome to the returned receiver.
pub(crate) fn channel_sink() -> (OutcomeSink, Receiver<OutcomeRecord>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let sink: OutcomeSink = Arc::new(move |record| {
        let _ = tx.send(record);
    });
    (sink, rx)
}

/// Exactly `count` outcomes, waiting at most `within` for all of them.
pub(crate) fn expect_outcomes(
    rx: &Receiver<OutcomeRecord>,
    count: usize,
    within: Duration,
) -> Vec<OutcomeRecord> {
    let deadline = Instant::now() + within;
    let mut records = Vec::with_capacity(count);
    while records.len() < count {
        match rx.recv_deadline(deadline) {
            Ok(record) => records.push(record),
            Err(_) => panic!("got {} of {count} outcomes: {records:?}", records.len()),
        }
    }
    records
}

/// A job for `height` whose nonce equals its claimed raw quality (outcome records carry the
/// quality, so tests tell jobs apart by it).
pub(crate) fn job(height: u64, raw_quality: u64) -> ForwardJob {
    ForwardJob {
        submission: NonceSubmission {
            block_hash: format!("{height:064x}"),
            height,
            generation_signature: "00".repeat(32),
            base_target: 36_650_387_592,
            account_id: "aa".repeat(20),
            seed: "bb".repeat(32),
            nonce: raw_quality,
            compression: 1,
            raw_quality,
        },
        machine: Arc::from("rig-1"),
        poc_time: 100,
        received_ms: now_ms(),
    }
}

/// Pool mode with the given backoff in milliseconds.
pub(crate) fn config(backoff_ms: &[u64], connections: usize) -> ForwarderConfig {
    ForwarderConfig {
        mode: SubmissionMode::Pool,
        backoff: backoff_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect(),
        connections,
        queue_capacity: 100,
        shutdown_deadline: Duration::from_millis(300),
    }
}
