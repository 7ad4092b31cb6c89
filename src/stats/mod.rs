//! In-memory mining statistics: per account, per machine, per round, forwards and upstream.
//!
//! In: calls from the request workers (`record_submission`, `record_request`, `record_poll`),
//! the forwarder's outcome sink (`record_outcome`), the cache thread (`on_new_round`,
//! `set_upstream`), the alerts thread (`set_alerts`) and the store's history once at start-up
//! (`restore`). Out: the `/stats` JSON (`snapshot_json`), the values `/metrics` renders
//! (`counters`, the latency histograms, `alerts`) and the alerts thread's `alert_input`.
//!
//! Recording is O(1) and allocation-free for known keys, under one `parking_lot` mutex held for
//! well under a microsecond; latency histograms are lock-free. A snapshot costs time in the
//! number of tracked keys and the 30-round window, never in the amount of history. Memory is
//! bounded: at most `DEFAULT_KEY_CAP` accounts and as many machines, idle keys forgotten after a
//! day. It does not serve HTTP and does not touch the database.

mod alert_input;
mod forwards;
mod histogram;
mod keys;
mod restore;
mod rounds;
mod snapshot;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::alerts::polls::PollTracker;
use crate::alerts::Alert;
use crate::config::SubmissionMode;
use crate::events::{DropReason, Outcome, OutcomeRecord, RoundInfo, SubmissionRecord};
use crate::store::{History, StoreHealth};

pub use histogram::{HistogramSnapshot, LatencyHistograms, LATENCY_BUCKETS_SECS, METHOD_LABELS};
pub use keys::{CAPACITY_NUMERATOR, CAPACITY_WINDOW};
pub use rounds::ROUNDS_LISTED;

/// Accounts (and, separately, machines) tracked at most.
pub const DEFAULT_KEY_CAP: usize = 10_000;

/// A key seen within this long is active.
pub const ACTIVE_WINDOW_MS: u64 = 5 * 60 * 1000;

/// A key not seen for this long is forgotten.
pub const FORGET_AFTER_MS: u64 = 24 * 60 * 60 * 1000;

/// What the cache thread knows about the upstream (it keeps this one value and hands a copy
/// over after every poll).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamStatus {
    pub name: String,
    /// With any credentials masked.
    pub url: String,
    pub reachable: bool,
    pub last_success_ms: Option<u64>,
    pub latency_ms: Option<u64>,
    pub refresh_errors: u64,
    pub last_error: Option<String>,
}

/// Values other stages own, read when a snapshot is taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    pub queue_depth: usize,
    pub verify_queue_depth: usize,
    pub store: StoreHealth,
    pub filter_capped: u64,
    pub mining_info_age_ms: Option<u64>,
    /// The upstream endpoints: which one is active, each one's reachability.
    pub upstreams: crate::upstream::UpstreamsView,
    /// Requests the HTTP layer refused, `(reason, count)` for every reason.
    pub http_refused: Vec<(&'static str, u64)>,
    /// What the HTTP servers of both ports counted about themselves.
    pub http: HttpCounts,
}

/// Requests served, handler panics and bodies not received, summed over both ports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpCounts {
    pub requests: u64,
    pub handler_panics: u64,
    pub body_read_failures: u64,
}

/// The plain numbers `/metrics` exposes, read in one short lock.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsCounters {
    pub submissions: u64,
    pub forwards_accepted: u64,
    pub forwards_rejected: u64,
    pub forwards_dropped: u64,
    pub forward_retries: u64,
    /// Every reason of [`DropReason::ALL`], in that order.
    pub dropped_by_reason: Vec<(DropReason, u64)>,
    pub rejected_by_code: Vec<(i64, u64)>,
    pub rejected_other_codes: u64,
    pub round_height: Option<u64>,
    pub accounts: usize,
    pub machines: usize,
    pub active_machines: usize,
    pub untracked_accounts: u64,
    pub untracked_machines: u64,
    pub farm_capacity_tib: f64,
    pub network_capacity_tib: Option<f64>,
    pub uptime_secs: u64,
    pub upstream_reachable: bool,
    pub upstream_refresh_errors: u64,
}

/// Shared statistics; every method takes `&self`.
pub struct Stats {
    mode: SubmissionMode,
    block_time_secs: u64,
    started_ms: u64,
    simulation: bool,
    state: Mutex<State>,
    upstream: Mutex<UpstreamStatus>,
    /// Apart from `state`: polls are the most frequent request and must not wait for it.
    polls: Mutex<PollTracker>,
    /// The alerts thread's latest list.
    alerts: Mutex<Vec<Alert>>,
    requests: LatencyHistograms,
    upstream_calls: LatencyHistograms,
}

struct State {
    accounts: keys::Tracker,
    machines: keys::Tracker,
    rounds: rounds::RoundWindow,
    forwards: forwards::ForwardCounters,
    submissions: u64,
}

impl Stats {
    pub fn new(
        mode: SubmissionMode,
        block_time_secs: u64,
        started_ms: u64,
        simulation: bool,
    ) -> Stats {
        Stats {
            mode,
            block_time_secs,
            started_ms,
            simulation,
            state: Mutex::new(State {
                accounts: keys::Tracker::new("accounts", DEFAULT_KEY_CAP),
                machines: keys::Tracker::new("machines", DEFAULT_KEY_CAP),
                rounds: rounds::RoundWindow::default(),
                forwards: forwards::ForwardCounters::default(),
                submissions: 0,
            }),
            upstream: Mutex::new(UpstreamStatus::default()),
            polls: Mutex::new(PollTracker::new(DEFAULT_KEY_CAP)),
            alerts: Mutex::new(Vec::new()),
            requests: LatencyHistograms::default(),
            upstream_calls: LatencyHistograms::default(),
        }
    }

    /// Changes how many accounts and how many machines are tracked at most.
    pub fn with_key_cap(self, cap: usize) -> Stats {
        {
            let mut state = self.state.lock();
            state.accounts.set_cap(cap);
            state.machines.set_cap(cap);
        }
        self.polls.lock().set_cap(cap);
        self
    }

    /// Rebuilds from the store's history. Call once, before anything is recorded.
    pub fn restore(&self, history: &History) {
        restore::restore(&mut self.state.lock(), history);
    }

    /// A round from the cache thread; repeats of the current round are ignored. A new round is
    /// also when keys idle for a day are forgotten.
    pub fn on_new_round(&self, round: &RoundInfo) {
        let mut state = self.state.lock();
        if !state.rounds.start(round) {
            return;
        }
        let cutoff = round.first_seen_ms.saturating_sub(FORGET_AFTER_MS);
        let State {
            accounts, machines, ..
        } = &mut *state;
        let before = accounts.len() + machines.len();
        accounts.forget_idle(cutoff);
        machines.forget_idle(cutoff);
        if accounts.len() + machines.len() != before {
            accounts.prune_links(machines);
            machines.prune_links(accounts);
        }
    }

    pub fn record_submission(&self, rec: &SubmissionRecord) {
        self.record_parts(rec, Parts::Both);
    }

    /// A submission whose quality is being verified: counted (submissions, last seen) but its
    /// quality is not a best until [`Stats::record_verified`] says so.
    pub fn record_unverified(&self, rec: &SubmissionRecord) {
        self.record_parts(rec, Parts::Count);
    }

    /// The quality of a submission counted earlier by [`Stats::record_unverified`], now proven.
    pub fn record_verified(&self, rec: &SubmissionRecord) {
        self.record_parts(rec, Parts::Best);
    }

    fn record_parts(&self, rec: &SubmissionRecord, parts: Parts) {
        let (count, best) = (parts != Parts::Best, parts != Parts::Count);
        let mut state = self.state.lock();
        let State {
            accounts,
            machines,
            rounds,
            submissions,
            ..
        } = &mut *state;
        if count {
            *submissions = submissions.saturating_add(1);
        }
        let (height, raw, poc, at) = (rec.height, rec.raw_quality, rec.poc_time, rec.received_ms);
        let machine = &rec.machine;
        let account_name = accounts.with_entry(
            &rec.account_id,
            || Arc::from(rec.account_id.as_str()),
            |a| {
                if count {
                    a.count(at);
                }
                if best {
                    a.offer_best(height, raw, poc, at);
                }
                a.link(machine);
                Arc::clone(&a.name)
            },
        );
        machines.with_entry(
            machine,
            || Arc::clone(machine),
            |m| {
                if count {
                    m.count(at);
                }
                if best {
                    m.offer_best(height, raw, poc, at);
                }
                if let Some(account) = &account_name {
                    m.link(account);
                }
            },
        );
        if !best {
            return;
        }
        rounds.offer(
            height,
            raw,
            poc,
            || account_name.unwrap_or_else(|| Arc::from(rec.account_id.as_str())),
            machine,
        );
    }

    pub fn record_outcome(&self, rec: &OutcomeRecord) {
        let mut state = self.state.lock();
        state.forwards.record(&rec.outcome, rec.attempts);
        match rec.outcome {
            Outcome::Accepted { .. } => state.rounds.accepted(rec.height, rec.raw_quality),
            Outcome::Rejected { .. } => {
                count_against(&mut state, &rec.account_id, &rec.machine, |k| {
                    &mut k.rejected
                })
            }
            Outcome::Dropped(DropReason::FailedVerification) => {
                count_against(&mut state, &rec.account_id, &rec.machine, |k| {
                    &mut k.failed_verification
                })
            }
            Outcome::Dropped(_) => {}
        }
    }

    pub fn set_upstream(&self, status: UpstreamStatus) {
        *self.upstream.lock() = status;
    }

    /// The upstream as the cache thread last saw it.
    pub fn upstream(&self) -> UpstreamStatus {
        self.upstream.lock().clone()
    }

    /// Latency of one miner request (lock-free).
    pub fn record_request(&self, method: &str, latency: Duration) {
        self.requests.record(method, latency);
    }

    /// Latency of one call to the upstream (lock-free).
    pub fn record_upstream_call(&self, method: &str, latency: Duration) {
        self.upstream_calls.record(method, latency);
    }

    /// The `/stats` document.
    pub fn snapshot_json(&self, now_ms: u64, gauges: &Gauges) -> serde_json::Value {
        snapshot::build(self, now_ms, gauges)
    }

    pub fn counters(&self, now_ms: u64) -> StatsCounters {
        let upstream = self.upstream.lock().clone();
        let state = self.state.lock();
        let f = &state.forwards;
        let active_since = now_ms.saturating_sub(ACTIVE_WINDOW_MS);
        StatsCounters {
            submissions: state.submissions,
            forwards_accepted: f.accepted,
            forwards_rejected: f.rejected,
            forwards_dropped: f.dropped,
            forward_retries: f.retries,
            dropped_by_reason: DropReason::ALL
                .iter()
                .map(|r| (*r, f.dropped_for(*r)))
                .collect(),
            rejected_by_code: f.rejected_by_code.iter().map(|(c, n)| (*c, *n)).collect(),
            rejected_other_codes: f.rejected_other_codes,
            round_height: state.rounds.current().map(|r| r.info.height),
            accounts: state.accounts.len(),
            machines: state.machines.len(),
            active_machines: state
                .machines
                .values()
                .filter(|m| m.last_seen_ms >= active_since)
                .count(),
            untracked_accounts: state.accounts.untracked,
            untracked_machines: state.machines.untracked,
            farm_capacity_tib: state
                .accounts
                .values()
                .filter_map(|a| a.bests.capacity_tib())
                .sum(),
            network_capacity_tib: state
                .rounds
                .current()
                .and_then(|r| self.network_capacity_tib(r.info.base_target)),
            uptime_secs: self.uptime_secs(now_ms),
            upstream_reachable: upstream.reachable,
            upstream_refresh_errors: upstream.refresh_errors,
        }
    }

    pub fn request_latencies(&self) -> Vec<HistogramSnapshot> {
        self.requests.snapshot()
    }

    pub fn upstream_latencies(&self) -> Vec<HistogramSnapshot> {
        self.upstream_calls.snapshot()
    }

    /// Every tracked machine with the time of its last submission (ms since the epoch). At most
    /// `DEFAULT_KEY_CAP` entries; a machine idle for a day is no longer tracked.
    pub fn machines_last_seen(&self) -> Vec<(Arc<str>, u64)> {
        let state = self.state.lock();
        state
            .machines
            .values()
            .map(|m| (Arc::clone(&m.name), m.last_seen_ms))
            .collect()
    }

    /// protocol.md: genesis base target (2^42 / T) over the round's base target, in TiB.
    pub fn network_capacity_tib(&self, base_target: u64) -> Option<f64> {
        if base_target == 0 || self.block_time_secs == 0 {
            return None;
        }
        Some(CAPACITY_NUMERATOR / self.block_time_secs as f64 / base_target as f64)
    }

    fn uptime_secs(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.started_ms) / 1000
    }
}

/// Adds one to a counter of the outcome's account and machine, when they are tracked.
/// Which parts of a submission record to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parts {
    Count,
    Best,
    Both,
}

fn count_against(
    state: &mut State,
    account: &str,
    machine: &str,
    counter: impl Fn(&mut keys::KeyStats) -> &mut u64,
) {
    for entry in [
        state.accounts.get_mut(account),
        state.machines.get_mut(machine),
    ]
    .into_iter()
    .flatten()
    {
        let n = counter(entry);
        *n = n.saturating_add(1);
    }
}
