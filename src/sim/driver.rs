//! One thread's share of the simulated miners: their state, the timetable that says which
//! miner acts next, and the JSON-RPC calls they make.
//!
//! A driver makes one blocking call at a time over the acting miner's own keep-alive
//! connection, then files the miner back into the timetable at its next due time; it waits
//! for that time on the stop channel, so stopping is immediate between calls. Inputs: the
//! miners it owns and the stop channel; output: the shared counters. It never retries a
//! failed call (the next poll comes anyway).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use serde_json::{json, Value};

use super::farm::{plan_round, PlannedSubmit, SimAccount};
use super::rng::SimRng;

/// A simulated plot scan lasts this many poll intervals.
const SCAN_POLLS: u32 = 10;
/// Answers above this size are treated as errors.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// Shared by the drivers, read by `SimMiners::stats`.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) requests: AtomicU64,
    pub(super) ok: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) mining_info_requests: AtomicU64,
    pub(super) submissions_sent: AtomicU64,
    pub(super) submissions_ok: AtomicU64,
    pub(super) rounds_seen: AtomicU64,
    pub(super) latency_total_us: AtomicU64,
    pub(super) max_latency_us: AtomicU64,
    pub(super) max_lag_us: AtomicU64,
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The round a miner is working on.
struct SeenRound {
    height: u64,
    block_hash: String,
    generation_signature: String,
    base_target: u64,
}

/// One simulated miner: its connection, its accounts and what it knows of the round.
pub(super) struct Miner {
    name: Option<String>,
    agent: ureq::Agent,
    accounts: Vec<SimAccount>,
    rng: SimRng,
    round: Option<SeenRound>,
    next_poll: Instant,
    /// Submissions still to send this round, in time order.
    plan: VecDeque<(Instant, PlannedSubmit)>,
}

impl Miner {
    pub(super) fn new(
        name: Option<String>,
        agent: ureq::Agent,
        accounts: Vec<SimAccount>,
        rng: SimRng,
        first_poll: Instant,
    ) -> Miner {
        Miner {
            name,
            agent,
            accounts,
            rng,
            round: None,
            next_poll: first_poll,
            plan: VecDeque::new(),
        }
    }

    fn next_due(&self) -> Instant {
        match self.plan.front() {
            Some((at, _)) => (*at).min(self.next_poll),
            None => self.next_poll,
        }
    }
}

/// How one call ended.
enum CallOutcome {
    Result(Value),
    Rejected,
    Failed(String),
}

/// One thread's share of the miners and its timetable.
pub(super) struct Driver {
    pub(super) url: String,
    pub(super) poll_interval: Duration,
    pub(super) submits_per_round: usize,
    pub(super) counters: Arc<Counters>,
    pub(super) first_error_logged: bool,
}

impl Driver {
    pub(super) fn run(mut self, mut miners: Vec<Miner>, stopped: &Receiver<()>) {
        let mut timetable: BinaryHeap<Reverse<(Instant, usize)>> = miners
            .iter()
            .enumerate()
            .map(|(slot, miner)| Reverse((miner.next_due(), slot)))
            .collect();
        while let Some(Reverse((due, slot))) = timetable.pop() {
            match stopped.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
            let Some(miner) = miners.get_mut(slot) else {
                continue;
            };
            let now = Instant::now();
            self.counters.max_lag_us.fetch_max(
                micros(now.saturating_duration_since(due)),
                Ordering::Relaxed,
            );
            let submit_due = miner.plan.front().is_some_and(|(at, _)| *at <= now);
            if submit_due {
                if let Some((_, planned)) = miner.plan.pop_front() {
                    self.submit(miner, &planned);
                }
            } else {
                self.poll(miner, now);
            }
            timetable.push(Reverse((miner.next_due(), slot)));
        }
    }

    fn poll(&mut self, miner: &mut Miner, planned_at: Instant) {
        let body = json!({
            "jsonrpc": "2.0",
            "method": "get_mining_info",
            "params": {},
            "id": miner.rng.uuid_like(),
        });
        self.counters
            .mining_info_requests
            .fetch_add(1, Ordering::Relaxed);
        let outcome = self.call(miner, &body);
        let after = Instant::now();
        miner.next_poll = planned_at
            .checked_add(self.poll_interval)
            .map_or(after, |next| next.max(after));
        let CallOutcome::Result(info) = outcome else {
            return;
        };
        let Some(round) = read_round(&info) else {
            self.note_error(miner, "mining info without the round fields".to_owned());
            return;
        };
        let is_new = miner
            .round
            .as_ref()
            .is_none_or(|seen| seen.block_hash != round.block_hash);
        if is_new {
            self.counters.rounds_seen.fetch_add(1, Ordering::Relaxed);
            let scan = self.poll_interval.saturating_mul(SCAN_POLLS);
            let plan = plan_round(
                &mut miner.rng,
                &miner.accounts,
                self.submits_per_round,
                scan,
            );
            // A new round aborts the scan of the old one.
            miner.plan = plan
                .into_iter()
                .map(|planned| (after.checked_add(planned.after).unwrap_or(after), planned))
                .collect();
            miner.round = Some(round);
        }
    }

    fn submit(&mut self, miner: &mut Miner, planned: &PlannedSubmit) {
        let (Some(round), Some(account)) = (&miner.round, miner.accounts.get(planned.account))
        else {
            return;
        };
        let body = json!({
            "jsonrpc": "2.0",
            "method": "submit_nonce",
            "params": {
                "block_hash": round.block_hash,
                "height": round.height,
                "generation_signature": round.generation_signature,
                "base_target": round.base_target,
                "account_id": account.account_id,
                "seed": account.seed,
                "nonce": planned.nonce,
                "compression": 1,
                "raw_quality": planned.raw_quality,
            },
            "id": miner.rng.uuid_like(),
        });
        self.counters
            .submissions_sent
            .fetch_add(1, Ordering::Relaxed);
        if let CallOutcome::Result(_) = self.call(miner, &body) {
            self.counters.submissions_ok.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One JSON-RPC call over the miner's own connection, counted and timed.
    fn call(&mut self, miner: &Miner, body: &Value) -> CallOutcome {
        let started = Instant::now();
        let outcome = send(&miner.agent, &self.url, miner.name.as_deref(), body);
        let latency = micros(started.elapsed());
        let c = &self.counters;
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.latency_total_us.fetch_add(latency, Ordering::Relaxed);
        c.max_latency_us.fetch_max(latency, Ordering::Relaxed);
        match &outcome {
            CallOutcome::Result(_) => {
                c.ok.fetch_add(1, Ordering::Relaxed);
            }
            CallOutcome::Rejected => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                c.rejected.fetch_add(1, Ordering::Relaxed);
            }
            CallOutcome::Failed(reason) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                self.note_error(miner, reason.clone());
            }
        }
        outcome
    }

    /// Logs the first failure of this thread; the rest are only counted.
    fn note_error(&mut self, miner: &Miner, reason: String) {
        let who = miner.name.as_deref().unwrap_or("simulated miner");
        if self.first_error_logged {
            log::debug!("{who}: {reason}");
        } else {
            self.first_error_logged = true;
            log::warn!("{who}: {reason} (further simulated miner errors are only counted)");
        }
    }
}

fn send(agent: &ureq::Agent, url: &str, machine: Option<&str>, body: &Value) -> CallOutcome {
    let mut request = agent.post(url).header("Content-Type", "application/json");
    if let Some(name) = machine {
        request = request.header("X-Miner", name);
    }
    let mut response = match request.send(body.to_string()) {
        Ok(response) => response,
        Err(err) => return CallOutcome::Failed(format!("request failed: {err}")),
    };
    let status = response.status().as_u16();
    let answer = response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_vec();
    if status != 200 {
        return CallOutcome::Failed(format!("HTTP {status}"));
    }
    let parsed: Option<Value> = answer
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    match parsed {
        Some(answer) if answer.get("error").is_some_and(|e| !e.is_null()) => CallOutcome::Rejected,
        Some(mut answer) => match answer.get_mut("result").map(Value::take) {
            Some(result) if !result.is_null() => CallOutcome::Result(result),
            _ => CallOutcome::Failed("answer without a result".to_owned()),
        },
        None => CallOutcome::Failed("answer is not JSON".to_owned()),
    }
}

fn read_round(info: &Value) -> Option<SeenRound> {
    Some(SeenRound {
        height: info.get("height")?.as_u64()?,
        block_hash: info.get("block_hash")?.as_str()?.to_owned(),
        generation_signature: info.get("generation_signature")?.as_str()?.to_owned(),
        base_target: info.get("base_target")?.as_u64()?,
    })
}
