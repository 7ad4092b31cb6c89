//! The forwarder's threads: one dispatcher that owns every waiting job and decides what goes
//! upstream next, and a fixed set of forwarding threads that make the blocking calls.
//!
//! In: jobs from the intake channel, a stop signal, answers from the forwarding threads. Out:
//! attempts to the forwarding threads (only ever as many as are idle), gate calls and outcome
//! records. The dispatcher never sleeps: it waits on its channels with a timeout that ends at the
//! next backoff due time, so a job backing off never holds up a fresh one.
//!
//! Not here: the ordering itself (`queue`), the public handle and shutdown joining (`mod`).

use std::collections::HashMap;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};
use parking_lot::RwLock;

use super::queue::{ForwardQueue, Rank};
use super::{outcome_record, ForwardGate, ForwarderConfig};
use crate::events::{DropReason, ForwardJob, Outcome, OutcomeSink};
use crate::protocol::SubmitAnswer;
use crate::upstream::{SubmitUpstream, UpstreamError};

/// How long the dispatcher waits when nothing is due; any message wakes it earlier.
const IDLE_WAKE: Duration = Duration::from_secs(60);

/// Channel ends and shared counters the dispatcher is built with.
pub(super) struct Wiring {
    pub(super) jobs: Receiver<ForwardJob>,
    pub(super) stop: Receiver<()>,
    pub(super) closed: Arc<RwLock<bool>>,
    pub(super) depth: Arc<AtomicUsize>,
    pub(super) sink: OutcomeSink,
}

pub(super) struct Spawned {
    pub(super) dispatcher: JoinHandle<()>,
    pub(super) connections: Vec<JoinHandle<()>>,
    pub(super) connections_alive: Receiver<()>,
}

/// One upstream call to make.
struct Attempt {
    seq: u64,
    job: Arc<ForwardJob>,
}

/// What the upstream said to one attempt.
struct Answer {
    seq: u64,
    result: Result<SubmitAnswer, UpstreamError>,
}

/// A job the dispatcher owns, with the attempts made so far.
struct Pending {
    job: Arc<ForwardJob>,
    attempts: u32,
    /// Its last attempt was made during shutdown: a failure now is final.
    tried_in_last_round: bool,
}

pub(super) fn spawn_threads(
    cfg: ForwarderConfig,
    upstream: Arc<dyn SubmitUpstream>,
    gate: Arc<dyn ForwardGate>,
    wiring: Wiring,
) -> io::Result<Spawned> {
    // At most `connections` attempts are ever outstanding, so neither channel can fill up.
    let (work_tx, work_rx) = crossbeam_channel::bounded::<Attempt>(cfg.connections);
    let (answer_tx, answer_rx) = crossbeam_channel::bounded::<Answer>(cfg.connections);
    let (alive_tx, alive_rx) = crossbeam_channel::bounded::<()>(0);
    let connections = (0..cfg.connections)
        .map(|index| {
            let upstream = Arc::clone(&upstream);
            let work = work_rx.clone();
            let answers = answer_tx.clone();
            let alive = alive_tx.clone();
            thread::Builder::new()
                .name(format!("forward-{index}"))
                .spawn(move || forward_calls(upstream.as_ref(), &work, &answers, alive))
        })
        // On an error the threads already started end with this function: the work channel
        // closes when `work_tx` is dropped.
        .collect::<io::Result<_>>()?;
    let dispatcher = Dispatcher {
        cfg,
        gate,
        wiring,
        work: work_tx,
        answers: answer_rx,
        queue: ForwardQueue::new(),
        in_flight: HashMap::new(),
        next_seq: 0,
        last_round: false,
    };
    let dispatcher = thread::Builder::new()
        .name("forward-dispatch".to_owned())
        .spawn(move || dispatcher.run())?;
    Ok(Spawned {
        dispatcher,
        connections,
        connections_alive: alive_rx,
    })
}

/// A forwarding thread: one blocking call per attempt until the dispatcher goes away.
/// `_alive` is dropped on return, which is how shutdown learns that every thread has finished.
fn forward_calls(
    upstream: &dyn SubmitUpstream,
    work: &Receiver<Attempt>,
    answers: &Sender<Answer>,
    _alive: Sender<()>,
) {
    for attempt in work.iter() {
        let result = catch_unwind(AssertUnwindSafe(|| {
            upstream.submit_nonce(&attempt.job.submission)
        }))
        .unwrap_or_else(|_| {
            Err(UpstreamError::BadResponse(
                "upstream client panicked".into(),
            ))
        });
        let answer = Answer {
            seq: attempt.seq,
            result,
        };
        if answers.send(answer).is_err() {
            return;
        }
    }
}

struct Dispatcher {
    cfg: ForwarderConfig,
    gate: Arc<dyn ForwardGate>,
    wiring: Wiring,
    work: Sender<Attempt>,
    answers: Receiver<Answer>,
    queue: ForwardQueue<Pending>,
    in_flight: HashMap<u64, (Rank, Pending)>,
    next_seq: u64,
    /// Shutting down: no more backoff; a job gets one attempt made after the stop at most.
    last_round: bool,
}

impl Dispatcher {
    fn run(mut self) {
        loop {
            self.queue.promote_due(Instant::now());
            self.dispatch_ready();
            let wait = self.queue.next_due().map_or(IDLE_WAKE, |due| {
                due.saturating_duration_since(Instant::now())
            });
            select! {
                recv(self.wiring.jobs) -> job => match job {
                    Ok(job) => {
                        self.take(job);
                        self.drain_intake();
                    }
                    Err(_) => break,
                },
                recv(self.answers) -> answer => match answer {
                    Ok(answer) => self.settle(answer),
                    Err(_) => {
                        log::error!("every forwarding thread has gone; forwarder stopping");
                        break;
                    }
                },
                recv(self.wiring.stop) -> _ => break,
                default(wait) => {}
            }
        }
        self.finish();
    }

    /// Takes whatever else is already in the channel, so the channel rarely fills.
    fn drain_intake(&mut self) {
        let waiting = self.wiring.jobs.len();
        for _ in 0..waiting {
            match self.wiring.jobs.try_recv() {
                Ok(job) => self.take(job),
                Err(_) => break,
            }
        }
    }

    fn take(&mut self, job: ForwardJob) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let rank = Rank::new(job.submission.height, job.submission.raw_quality, seq);
        let pending = Pending {
            job: Arc::new(job),
            attempts: 0,
            tried_in_last_round: false,
        };
        self.queue.push_ready(rank, pending);
        self.enforce_capacity();
    }

    /// Drops the worst waiting jobs (oldest round, then worst quality) beyond capacity.
    fn enforce_capacity(&mut self) {
        while self.queue.len() > self.cfg.queue_capacity {
            let Some((_, pending)) = self.queue.pop_worst() else {
                break;
            };
            log::warn!(
                "forwarding queue full: dropped submission of account {} at height {} (quality {})",
                pending.job.submission.account_id,
                pending.job.submission.height,
                pending.job.submission.raw_quality
            );
            self.abandon(&pending, DropReason::QueueFull);
        }
    }

    /// Hands the best ready jobs to idle forwarding threads, asking the gate first.
    fn dispatch_ready(&mut self) {
        while self.in_flight.len() < self.cfg.connections {
            let Some((rank, mut pending)) = self.queue.pop_ready() else {
                break;
            };
            if let Err(reason) = self.gate.still_worth_forwarding(&pending.job) {
                self.report(&pending, Outcome::Dropped(reason));
                continue;
            }
            pending.attempts = pending.attempts.saturating_add(1);
            pending.tried_in_last_round = self.last_round;
            let attempt = Attempt {
                seq: rank.seq(),
                job: Arc::clone(&pending.job),
            };
            if self.work.try_send(attempt).is_err() {
                // Cannot happen while the threads live: fewer than `connections` are busy.
                log::error!("no forwarding thread took a job; dropping it");
                self.abandon(&pending, DropReason::Shutdown);
                continue;
            }
            self.in_flight.insert(rank.seq(), (rank, pending));
        }
    }

    /// Acts on an upstream answer: the job's final outcome, or a retry.
    fn settle(&mut self, answer: Answer) {
        let Some((rank, pending)) = self.in_flight.remove(&answer.seq) else {
            return;
        };
        let submission = &pending.job.submission;
        match answer.result {
            Ok(accepted) => {
                log::debug!(
                    "upstream accepted account {} at height {} (quality {})",
                    submission.account_id,
                    submission.height,
                    submission.raw_quality
                );
                self.gate.accepted(&pending.job);
                let outcome = Outcome::Accepted {
                    upstream_poc_time: accepted.poc_time,
                };
                self.report(&pending, outcome);
            }
            Err(error) if !error.is_transient() => {
                if matches!(error, UpstreamError::Unauthorized { .. }) {
                    log::error!("{error}: check the upstream credentials");
                } else {
                    log::info!(
                        "upstream rejected account {} at height {}: {error}",
                        submission.account_id,
                        submission.height
                    );
                }
                let code = rejection_code(&error);
                let held = self.gate.rejected(&pending.job, code);
                let outcome = Outcome::Rejected {
                    code,
                    reason: error.reason(),
                };
                self.report(&pending, outcome);
                self.take_held(held);
            }
            Err(error) => self.retry_or_give_up(rank, pending, &error),
        }
    }

    fn retry_or_give_up(&mut self, rank: Rank, pending: Pending, error: &UpstreamError) {
        let submission = &pending.job.submission;
        if pending.tried_in_last_round {
            log::warn!(
                "not delivered before shutdown: account {} at height {}: {error}",
                submission.account_id,
                submission.height
            );
            self.abandon(&pending, DropReason::Shutdown);
            return;
        }
        let retries_done =
            usize::try_from(pending.attempts.saturating_sub(1)).unwrap_or(usize::MAX);
        let Some(&delay) = self.cfg.retry_delays().get(retries_done) else {
            log::warn!(
                "giving up on account {} at height {} after {} attempt(s): {error}",
                submission.account_id,
                submission.height,
                pending.attempts
            );
            self.abandon(&pending, DropReason::RetriesExhausted);
            return;
        };
        if let Err(reason) = self.gate.still_worth_forwarding(&pending.job) {
            self.report(&pending, Outcome::Dropped(reason));
            return;
        }
        if self.last_round {
            // It was in flight when shutdown began: it gets its last attempt now.
            self.queue.push_ready(rank, pending);
            return;
        }
        log::debug!(
            "retrying account {} at height {} in {} ms: {error}",
            submission.account_id,
            submission.height,
            delay.as_millis()
        );
        self.queue.defer(rank, pending, Instant::now() + delay);
        self.enforce_capacity();
    }

    /// Shutdown: one last attempt for everything still waiting, bounded by the deadline; then
    /// everything undelivered is logged and reported. In-flight calls are not waited for
    /// beyond the deadline.
    fn finish(&mut self) {
        let deadline = Instant::now() + self.cfg.shutdown_deadline;
        *self.wiring.closed.write() = true;
        // Nobody can add to the channel any more: take what is in it.
        while let Ok(job) = self.wiring.jobs.try_recv() {
            self.take(job);
        }
        self.queue.promote_all();
        self.last_round = true;
        loop {
            self.dispatch_ready();
            if self.in_flight.is_empty() && !self.queue.has_ready() {
                break;
            }
            match self.answers.recv_deadline(deadline) {
                Ok(answer) => self.settle(answer),
                Err(_) => break,
            }
        }
        let queued = self.queue.drain().into_iter().map(|(_, pending)| pending);
        let in_flight: Vec<Pending> = self.in_flight.drain().map(|(_, (_, p))| p).collect();
        for pending in queued.chain(in_flight) {
            log::warn!(
                "not delivered before shutdown: account {} at height {} (quality {})",
                pending.job.submission.account_id,
                pending.job.submission.height,
                pending.job.submission.raw_quality
            );
            self.abandon(&pending, DropReason::Shutdown);
        }
    }

    /// Reports a job dropped undelivered, letting the gate roll back.
    fn abandon(&mut self, pending: &Pending, reason: DropReason) {
        let held = self.gate.abandoned(&pending.job, reason);
        self.report(pending, Outcome::Dropped(reason));
        self.take_held(held);
    }

    /// Queues the submission a roll-back handed back: it was held behind the one just given up.
    fn take_held(&mut self, held: Option<ForwardJob>) {
        let Some(job) = held else {
            return;
        };
        log::info!(
            "sending the held-back submission of {} (raw quality {}) after a refusal",
            job.submission.account_id,
            job.submission.raw_quality
        );
        self.wiring.depth.fetch_add(1, Ordering::Relaxed);
        self.take(job);
    }

    /// The job's single outcome.
    fn report(&self, pending: &Pending, outcome: Outcome) {
        self.wiring.depth.fetch_sub(1, Ordering::Relaxed);
        (self.wiring.sink)(outcome_record(&pending.job, outcome, pending.attempts));
    }
}

/// The code recorded for a definitive refusal: the JSON-RPC code, else the HTTP status, else 0.
fn rejection_code(error: &UpstreamError) -> i64 {
    match error {
        UpstreamError::Rpc { code, .. } => *code,
        UpstreamError::Http { status } | UpstreamError::Unauthorized { status } => {
            i64::from(*status)
        }
        _ => 0,
    }
}
