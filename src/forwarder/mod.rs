//! Forwarding accepted submissions to the one upstream: priority, retries with backoff, several
//! calls in flight, exactly one outcome per job, bounded shutdown.
//!
//! In: [`ForwardJob`]s from request workers (or the verification stage) through
//! [`Forwarder::submit`], a bounded crossbeam channel that never blocks the caller. Out: one
//! [`OutcomeRecord`] per job through the [`OutcomeSink`], and `accepted` / `rejected` /
//! `abandoned` calls on the [`ForwardGate`] so the filter can commit or roll back; a roll-back
//! may hand back a submission that was held behind the refused one, which joins the queue.
//!
//! Threads: one dispatcher (`dispatch`) that drains the channel eagerly into its own bounded
//! priority queue (`queue`) and keeps a timer for jobs backing off, plus `connections`
//! forwarding threads that each make one plain blocking upstream call at a time. The dispatcher
//! hands a job out only when a connection is idle, so the choice of what to send next is made as
//! late as possible: newest round first, then best quality.
//!
//! Policy in brief:
//! - Before every attempt the gate is asked whether the job is still worth it; a superseded or
//!   expired job is dropped, never sent.
//! - Pool mode retries transient failures after each delay of `backoff` in turn, then gives up
//!   with `RetriesExhausted`. Wallet mode fails fast: one attempt, a transient failure is also
//!   reported as `RetriesExhausted` (a retry budget of zero), so statistics keep one reason set.
//! - Definitive answers are never retried: `Rejected { code, reason }` with the JSON-RPC code,
//!   or the HTTP status for HTTP-level refusals (401, 403, 404, …), or 0 for local failures.
//! - Queue over capacity: the worst waiting job (oldest round, then worst quality) is dropped
//!   with `QueueFull`; a full intake channel drops the incoming job the same way.
//! - Shutdown: whatever waits for a live round gets one last attempt at once (backoffs are cut
//!   short), and so does a job whose call was in flight and fails transiently meanwhile; by
//!   `shutdown_deadline` everything not delivered is logged and reported as `Shutdown`. Forwarding threads stuck in a hung upstream call are not waited for beyond the
//!   deadline: they are detached (their late answer is discarded) and the caller returns.
//!
//! Deliberately not here: HTTP and retries of a single call (the upstream client), deciding what
//! is better than what (the filter, behind [`ForwardGate`]), verification (`verify`).

mod dispatch;
pub(crate) mod queue;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendError, Sender};
use parking_lot::{Mutex, RwLock};

use crate::config::{SubmissionMode, UpstreamSettings};
use crate::events::{now_ms, DropReason, ForwardJob, Outcome, OutcomeRecord, OutcomeSink};
use crate::threads;
use crate::upstream::SubmitUpstream;

/// What the forwarder asks of the filter, without knowing its type.
pub trait ForwardGate: Send + Sync + 'static {
    /// Ok when the job's round is still live and nothing better for its key was accepted since.
    fn still_worth_forwarding(&self, job: &ForwardJob) -> Result<(), DropReason>;
    /// The upstream accepted the job.
    fn accepted(&self, job: &ForwardJob);
    /// The upstream refused the job for good with `code` (the JSON-RPC code, the HTTP status for
    /// an HTTP-level refusal, 0 for a local failure); rolls the filter back. A job returned
    /// (one held back behind the refused one) is forwarded next.
    fn rejected(&self, job: &ForwardJob, code: i64) -> Option<ForwardJob>;
    /// The dispatcher dropped the job undelivered while its round may still matter
    /// (`RetriesExhausted`, `QueueFull`, `Shutdown`). By default this rolls the filter back like
    /// a rejection, so the next submission for the key that beats the best *accepted* one is
    /// forwarded rather than filtered out against a best that never reached the upstream.
    /// Not called for a job refused at a full intake: `submit` never calls the gate.
    fn abandoned(&self, job: &ForwardJob, reason: DropReason) -> Option<ForwardJob> {
        let _ = reason;
        self.rejected(job, 0)
    }
}

/// How the forwarder behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwarderConfig {
    pub mode: SubmissionMode,
    /// Delays before each retry of a transient failure (pool mode only).
    pub backoff: Vec<Duration>,
    /// Forwarding threads, i.e. upstream calls that may be in flight at once (at least 1).
    pub connections: usize,
    /// Jobs that may wait (ready or backing off) before the worst is dropped (at least 1).
    pub queue_capacity: usize,
    /// How long shutdown may spend on last attempts before giving up on the rest.
    pub shutdown_deadline: Duration,
}

impl ForwarderConfig {
    /// Submissions held (waiting, backing off or in flight).
    pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
    /// Budget for the last attempts at shutdown (the whole exit must fit in 2 s).
    pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(1);

    /// The forwarder settings of a validated configuration, with default capacity and deadline.
    pub fn from_settings(upstream: &UpstreamSettings) -> ForwarderConfig {
        ForwarderConfig {
            mode: upstream.submission_mode,
            backoff: upstream.retry_backoff.clone(),
            connections: upstream.forward_connections,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            shutdown_deadline: Self::DEFAULT_SHUTDOWN_DEADLINE,
        }
    }

    /// Retry delays that actually apply: none in wallet mode.
    fn retry_delays(&self) -> &[Duration] {
        match self.mode {
            SubmissionMode::Pool => &self.backoff,
            SubmissionMode::Wallet => &[],
        }
    }
}

impl Default for ForwarderConfig {
    /// Pool mode, 1-2-4-8-16 s backoff, 4 connections.
    fn default() -> ForwarderConfig {
        ForwarderConfig {
            mode: SubmissionMode::Pool,
            backoff: [1, 2, 4, 8, 16].map(Duration::from_secs).to_vec(),
            connections: 4,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            shutdown_deadline: Self::DEFAULT_SHUTDOWN_DEADLINE,
        }
    }
}

/// The intake channel never holds fewer slots than this, so a burst between two wake-ups of the
/// dispatcher does not overflow a small queue.
pub(crate) const MIN_INTAKE_CAPACITY: usize = 64;

/// Handle to the forwarding stage. Cheap to clone (one `Arc`): give a clone to every request
/// worker and to the verification stage. The threads stop on [`Forwarder::shutdown`] or when
/// the last clone is dropped; a clone used after shutdown reports `Dropped(Shutdown)`.
#[derive(Clone)]
pub struct Forwarder {
    stage: Arc<Stage>,
}

/// What `submit` needs, shared with the dispatcher.
struct Intake {
    /// A list channel, which takes memory only for what it holds (a bounded one allocates every
    /// slot up front); `capacity` bounds it.
    jobs: Sender<ForwardJob>,
    capacity: usize,
    /// Set (under the write lock) once the dispatcher stops taking jobs, so no job can slip into
    /// the channel after its final drain.
    closed: Arc<RwLock<bool>>,
    /// Waiting + backing off + in flight (+ in the channel).
    depth: Arc<AtomicUsize>,
    sink: OutcomeSink,
}

struct Stage {
    intake: Intake,
    stop: Sender<()>,
    shutdown_deadline: Duration,
    threads: Mutex<Option<Threads>>,
}

struct Threads {
    dispatcher: JoinHandle<()>,
    connections: Vec<JoinHandle<()>>,
    /// Disconnects once every forwarding thread has returned.
    connections_alive: Receiver<()>,
}

impl Forwarder {
    pub fn spawn(
        cfg: ForwarderConfig,
        upstream: Arc<dyn SubmitUpstream>,
        gate: Arc<dyn ForwardGate>,
        sink: OutcomeSink,
    ) -> io::Result<Forwarder> {
        let cfg = ForwarderConfig {
            connections: cfg.connections.max(1),
            queue_capacity: cfg.queue_capacity.max(1),
            ..cfg
        };
        let intake_capacity = cfg.queue_capacity.max(MIN_INTAKE_CAPACITY);
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
        let closed = Arc::new(RwLock::new(false));
        let depth = Arc::new(AtomicUsize::new(0));
        let shutdown_deadline = cfg.shutdown_deadline;
        let spawned = dispatch::spawn_threads(
            cfg,
            upstream,
            gate,
            dispatch::Wiring {
                jobs: jobs_rx,
                stop: stop_rx,
                closed: Arc::clone(&closed),
                depth: Arc::clone(&depth),
                sink: Arc::clone(&sink),
            },
        )?;
        Ok(Forwarder {
            stage: Arc::new(Stage {
                intake: Intake {
                    jobs: jobs_tx,
                    capacity: intake_capacity,
                    closed,
                    depth,
                    sink,
                },
                stop: stop_tx,
                shutdown_deadline,
                threads: Mutex::new(Some(Threads {
                    dispatcher: spawned.dispatcher,
                    connections: spawned.connections,
                    connections_alive: spawned.connections_alive,
                })),
            }),
        })
    }

    /// Hands a job over. Never blocks and never calls the gate (so it is safe to call while
    /// holding the filter's lock); a full intake reports `Dropped(QueueFull)` for this job.
    pub fn submit(&self, job: ForwardJob) {
        let intake = &self.stage.intake;
        let closed = intake.closed.read();
        if *closed {
            drop(closed);
            report_now(&intake.sink, job, DropReason::Shutdown);
            return;
        }
        // Workers submitting at the same moment may pass this check together: the intake can
        // exceed its capacity by at most one job per worker.
        if intake.jobs.len() >= intake.capacity {
            drop(closed);
            log::warn!(
                "forwarding queue full: dropped submission of account {} at height {}",
                job.submission.account_id,
                job.submission.height
            );
            report_now(&intake.sink, job, DropReason::QueueFull);
            return;
        }
        intake.depth.fetch_add(1, Ordering::Relaxed);
        if let Err(SendError(job)) = intake.jobs.send(job) {
            intake.depth.fetch_sub(1, Ordering::Relaxed);
            drop(closed);
            report_now(&intake.sink, job, DropReason::Shutdown);
        }
    }

    /// Jobs not yet finished: in the channel, waiting, backing off or in flight.
    pub fn queue_depth(&self) -> usize {
        self.stage.intake.depth.load(Ordering::Relaxed)
    }

    /// Stops the stage: last attempts for live rounds within the shutdown deadline, the rest
    /// logged and reported as `Dropped(Shutdown)`, threads joined (hung ones detached). Returns
    /// within about the deadline even if the upstream hangs. Other clones report
    /// `Dropped(Shutdown)` for anything they submit afterwards.
    pub fn shutdown(self) {
        self.stage.stop_and_join();
    }
}

impl Stage {
    fn stop_and_join(&self) {
        let Some(threads) = self.threads.lock().take() else {
            return;
        };
        // The deadline the dispatcher applies starts when it sees the stop; a small grace on top
        // lets it report and exit before we stop waiting for the forwarding threads.
        let give_up_at = Instant::now() + self.shutdown_deadline + Duration::from_millis(100);
        let _ = self.stop.try_send(());
        if threads.dispatcher.join().is_err() {
            log::error!("forwarding dispatcher panicked");
        }
        // Idle forwarding threads return as soon as the dispatcher has gone; wait for the rest
        // only until the deadline.
        let all_returned = threads::wait_all_returned(&threads.connections_alive, give_up_at);
        let joined = threads::join_returned(threads.connections, all_returned);
        if joined.panicked > 0 {
            log::error!("{} forwarding thread(s) panicked", joined.panicked);
        }
        if joined.left_behind > 0 {
            // Stuck in an upstream call past its own timeout: its answer would go to a channel
            // nobody reads; its job was already reported as Dropped(Shutdown).
            log::warn!(
                "{} forwarding thread(s) still in an upstream call at shutdown; detached",
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

/// Builds the single outcome record of a job.
pub(crate) fn outcome_record(job: &ForwardJob, outcome: Outcome, attempts: u32) -> OutcomeRecord {
    let at_ms = now_ms();
    OutcomeRecord {
        account_id: job.submission.account_id.clone(),
        machine: Arc::clone(&job.machine),
        height: job.submission.height,
        raw_quality: job.submission.raw_quality,
        outcome,
        attempts,
        latency_ms: at_ms.saturating_sub(job.received_ms),
        at_ms,
    }
}

/// Reports a job dropped before any attempt.
fn report_now(sink: &OutcomeSink, job: ForwardJob, reason: DropReason) {
    sink(outcome_record(&job, Outcome::Dropped(reason), 0));
}
