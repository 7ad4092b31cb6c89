//! The optional verification stage: recomputes a would-be-best submission's raw quality before
//! the filter may commit it as the best and the forwarder may send it.
//!
//! In: [`ForwardJob`]s from request workers through [`VerifyStage::submit`] (never blocks; the
//! miner has already been answered). Out: for a verified job, `VerifyGate::commit` and then
//! `Forwarder::submit`; for every other job exactly one [`OutcomeRecord`](crate::events::OutcomeRecord)
//! through the sink: `FailedVerification` (also counted and logged with account and machine),
//! `VerifyQueueFull`, `Shutdown`, or `Superseded` when, after verifying, the gate no longer
//! wants it (a better one was committed meanwhile). A job that reaches the forwarder gets its
//! outcome there.
//!
//! Threads: `threads` verifier threads sharing one bounded priority queue (newest round first,
//! best claim first within a round; when full the oldest round's worst claim is dropped), so a
//! flood of claims cannot grow memory or delay the newest round behind old ones.
//!
//! Limits, decided here: compression 0 is verified like any other level (it is the cheapest);
//! above `max_compression` (default 6, about 64 nonce generations) a claim is refused as a
//! failed verification with that reason, because its cost doubles per level. Shutdown does not
//! wait for a verification in progress beyond `shutdown_deadline`: the job is reported as
//! `Shutdown` and the busy thread is detached (its late result is discarded).
//!
//! Not here: deciding what improves on what (the filter, behind [`VerifyGate`]), forwarding.

mod check;
#[cfg(test)]
mod tests;

pub use check::{recompute_quality, verify_submission, VerifyError};

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};

use crate::events::{DropReason, ForwardJob, Outcome, OutcomeSink};
use crate::forwarder::queue::{Rank, RankedQueue};
use crate::forwarder::{outcome_record, Forwarder};
use crate::protocol::NonceSubmission;

/// What the verification stage asks of the filter, without knowing its type.
pub trait VerifyGate: Send + Sync + 'static {
    /// After a successful verification: commit the job as the key's best; false when it no
    /// longer improves.
    fn commit(&self, job: &ForwardJob) -> bool;
    /// Asked just before the expensive check: Err when it is pointless by now (round gone, a
    /// better claim already committed), and the job is dropped with that reason unverified.
    fn worth_verifying(&self, job: &ForwardJob) -> Result<(), DropReason> {
        let _ = job;
        Ok(())
    }
}

/// How the verification stage behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyConfig {
    /// Verifier threads (at least 1).
    pub threads: usize,
    /// Claims that may wait before the worst is dropped (at least 1).
    pub capacity: usize,
    /// Highest compression level verified; above it a claim fails verification.
    pub max_compression: u8,
    /// How long shutdown waits for a verification in progress.
    pub shutdown_deadline: Duration,
}

impl Default for VerifyConfig {
    fn default() -> VerifyConfig {
        VerifyConfig {
            threads: 1,
            capacity: 64,
            max_compression: 6,
            shutdown_deadline: Duration::from_millis(300),
        }
    }
}

/// The check a verifier thread runs (the real one, or a stand-in in tests).
type Check = dyn Fn(&NonceSubmission) -> Result<(), VerifyError> + Send + Sync;

/// Handle to the verification stage. Cheap to clone (one `Arc`); the threads stop on
/// [`VerifyStage::shutdown`] or when the last clone is dropped.
#[derive(Clone)]
pub struct VerifyStage {
    stage: Arc<Stage>,
}

struct Stage {
    core: Arc<Core>,
    shutdown_deadline: Duration,
    threads: Mutex<Option<Threads>>,
}

struct Threads {
    handles: Vec<JoinHandle<()>>,
    /// Disconnects once every verifier thread has returned.
    alive: Receiver<()>,
}

/// State shared by the handle and the verifier threads.
struct Core {
    state: Mutex<State>,
    wake: Condvar,
    capacity: usize,
    depth: AtomicUsize,
    failed: AtomicU64,
    sink: OutcomeSink,
}

struct State {
    queue: RankedQueue<ForwardJob>,
    next_seq: u64,
    stopping: bool,
    /// The job each verifier thread is working on. Whoever takes it out (the thread when done,
    /// or shutdown after its deadline) reports its outcome, so it is reported exactly once.
    in_progress: Vec<Option<ForwardJob>>,
}

impl VerifyStage {
    /// A stage with `threads` verifiers, room for `capacity` waiting claims and the default
    /// compression limit and shutdown deadline.
    pub fn spawn(
        threads: usize,
        capacity: usize,
        gate: Arc<dyn VerifyGate>,
        forwarder: Forwarder,
        sink: OutcomeSink,
    ) -> io::Result<VerifyStage> {
        let cfg = VerifyConfig {
            threads,
            capacity,
            ..VerifyConfig::default()
        };
        VerifyStage::spawn_with(cfg, gate, forwarder, sink)
    }

    pub fn spawn_with(
        cfg: VerifyConfig,
        gate: Arc<dyn VerifyGate>,
        forwarder: Forwarder,
        sink: OutcomeSink,
    ) -> io::Result<VerifyStage> {
        let max_compression = cfg.max_compression;
        let check: Arc<Check> = Arc::new(move |s| verify_submission(s, max_compression));
        VerifyStage::spawn_checking(cfg, check, gate, forwarder, sink)
    }

    fn spawn_checking(
        cfg: VerifyConfig,
        check: Arc<Check>,
        gate: Arc<dyn VerifyGate>,
        forwarder: Forwarder,
        sink: OutcomeSink,
    ) -> io::Result<VerifyStage> {
        let threads = cfg.threads.max(1);
        let core = Arc::new(Core {
            state: Mutex::new(State {
                queue: RankedQueue::new(),
                next_seq: 0,
                stopping: false,
                in_progress: vec![None; threads],
            }),
            wake: Condvar::new(),
            capacity: cfg.capacity.max(1),
            depth: AtomicUsize::new(0),
            failed: AtomicU64::new(0),
            sink,
        });
        let (alive_tx, alive_rx) = crossbeam_channel::bounded::<()>(0);
        let handles: io::Result<Vec<JoinHandle<()>>> = (0..threads)
            .map(|slot| {
                let verifier = Verifier {
                    slot,
                    core: Arc::clone(&core),
                    check: Arc::clone(&check),
                    gate: Arc::clone(&gate),
                    forwarder: forwarder.clone(),
                };
                let alive = alive_tx.clone();
                thread::Builder::new()
                    .name(format!("verify-{slot}"))
                    .spawn(move || verifier.run(alive))
            })
            .collect();
        let handles = match handles {
            Ok(handles) => handles,
            Err(e) => {
                // The threads that did start are told to stop (they hold nothing yet).
                core.state.lock().stopping = true;
                core.wake.notify_all();
                return Err(e);
            }
        };
        Ok(VerifyStage {
            stage: Arc::new(Stage {
                core,
                shutdown_deadline: cfg.shutdown_deadline,
                threads: Mutex::new(Some(Threads {
                    handles,
                    alive: alive_rx,
                })),
            }),
        })
    }

    /// Queues a claim for verification. Never blocks; when the queue is full the worst claim
    /// (oldest round, then worst quality, possibly this one) is dropped as `VerifyQueueFull`.
    pub fn submit(&self, job: ForwardJob) {
        let core = &self.stage.core;
        let evicted = {
            let mut state = core.state.lock();
            if state.stopping {
                drop(state);
                (core.sink)(outcome_record(
                    &job,
                    Outcome::Dropped(DropReason::Shutdown),
                    0,
                ));
                return;
            }
            let rank = Rank::new(
                job.submission.height,
                job.submission.raw_quality,
                state.next_seq,
            );
            state.next_seq = state.next_seq.wrapping_add(1);
            state.queue.push(rank, job);
            core.depth.fetch_add(1, Ordering::Relaxed);
            if state.queue.len() > core.capacity {
                state.queue.pop_worst().map(|(_, job)| job)
            } else {
                None
            }
        };
        core.wake.notify_one();
        if let Some(job) = evicted {
            log::warn!(
                "verification queue full: dropped claim of account {} from {} at height {}",
                job.submission.account_id,
                job.machine,
                job.submission.height
            );
            core.finish(&job, Outcome::Dropped(DropReason::VerifyQueueFull));
        }
    }

    /// Claims waiting or being verified.
    pub fn queue_depth(&self) -> usize {
        self.stage.core.depth.load(Ordering::Relaxed)
    }

    /// Claims that failed verification since start.
    pub fn failed_verifications(&self) -> u64 {
        self.stage.core.failed.load(Ordering::Relaxed)
    }

    /// Stops the stage: waiting claims are reported as `Shutdown` at once, verifications in
    /// progress get until the shutdown deadline, threads are joined (busy ones detached).
    pub fn shutdown(self) {
        self.stage.stop_and_join();
    }
}

impl Stage {
    fn stop_and_join(&self) {
        let Some(threads) = self.threads.lock().take() else {
            return;
        };
        let give_up_at = Instant::now() + self.shutdown_deadline;
        let queued: Vec<ForwardJob> = {
            let mut state = self.core.state.lock();
            state.stopping = true;
            state.queue.drain().map(|(_, job)| job).collect()
        };
        self.core.wake.notify_all();
        for job in queued {
            log::warn!(
                "not verified before shutdown: account {} at height {}",
                job.submission.account_id,
                job.submission.height
            );
            self.core
                .finish(&job, Outcome::Dropped(DropReason::Shutdown));
        }
        let all_returned = crate::threads::wait_all_returned(&threads.alive, give_up_at);
        let unfinished: Vec<ForwardJob> = {
            let mut state = self.core.state.lock();
            state
                .in_progress
                .iter_mut()
                .filter_map(Option::take)
                .collect()
        };
        for job in unfinished {
            log::warn!(
                "verification unfinished at shutdown: account {} at height {}",
                job.submission.account_id,
                job.submission.height
            );
            self.core
                .finish(&job, Outcome::Dropped(DropReason::Shutdown));
        }
        let joined = crate::threads::join_returned(threads.handles, all_returned);
        if joined.panicked > 0 {
            log::error!("{} verification thread(s) panicked", joined.panicked);
        }
        if joined.left_behind > 0 {
            log::warn!(
                "{} verification thread(s) still busy at shutdown; detached",
                joined.left_behind
            );
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl Core {
    /// Blocks until there is a claim to verify (noting it as this slot's), or the stage stops.
    fn next_job(&self, slot: usize) -> Option<ForwardJob> {
        let mut state = self.state.lock();
        loop {
            if state.stopping {
                return None;
            }
            if let Some((_, job)) = state.queue.pop_best() {
                if let Some(current) = state.in_progress.get_mut(slot) {
                    *current = Some(job.clone());
                }
                return Some(job);
            }
            self.wake.wait(&mut state);
        }
    }

    /// Takes this slot's job back; None when shutdown has already reported it.
    fn claim(&self, slot: usize) -> Option<ForwardJob> {
        self.state.lock().in_progress.get_mut(slot)?.take()
    }

    /// Reports a claim's single outcome and lets it leave the stage.
    fn finish(&self, job: &ForwardJob, outcome: Outcome) {
        self.depth.fetch_sub(1, Ordering::Relaxed);
        (self.sink)(outcome_record(job, outcome, 0));
    }
}

/// One verifier thread.
struct Verifier {
    slot: usize,
    core: Arc<Core>,
    check: Arc<Check>,
    gate: Arc<dyn VerifyGate>,
    forwarder: Forwarder,
}

impl Verifier {
    /// `_alive` is dropped on return, which is how shutdown learns the thread has finished.
    fn run(self, _alive: Sender<()>) {
        while let Some(job) = self.core.next_job(self.slot) {
            let verdict = match self.gate.worth_verifying(&job) {
                Ok(()) => Ok((self.check)(&job.submission)),
                Err(reason) => Err(reason),
            };
            let Some(job) = self.core.claim(self.slot) else {
                return;
            };
            match verdict {
                Err(reason) => self.core.finish(&job, Outcome::Dropped(reason)),
                Ok(Err(error)) => {
                    self.core.failed.fetch_add(1, Ordering::Relaxed);
                    log::warn!(
                        "failed verification: account {} from {} at height {}: {error}",
                        job.submission.account_id,
                        job.machine,
                        job.submission.height
                    );
                    self.core
                        .finish(&job, Outcome::Dropped(DropReason::FailedVerification));
                }
                Ok(Ok(())) if self.gate.commit(&job) => {
                    self.core.depth.fetch_sub(1, Ordering::Relaxed);
                    self.forwarder.submit(job);
                }
                Ok(Ok(())) => self
                    .core
                    .finish(&job, Outcome::Dropped(DropReason::Superseded)),
            }
        }
    }
}
