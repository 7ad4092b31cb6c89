//! The upstream as the rest of the aggregator sees it: the primary endpoint and its backups,
//! each with its own client, and the [`Failover`] state that says which one is active.
//!
//! The cache thread polls through [`Upstreams::poll`] and asks [`Upstreams::decide`] after each
//! poll; the forwarder's threads submit through the [`SubmitUpstream`] impl, which sends a
//! submission to the active endpoint and tries a transient failure once more on a live backup
//! serving the same round (never a definitive rejection). With no backups every call goes to
//! the primary as a lone client would, without taking the state lock.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::failover::{Change, EndpointState, Failover, Tip};
use super::{MiningInfo, SubmitUpstream, UpstreamClient, UpstreamError};
use crate::config::{mask_url, UpstreamEndpoint, UpstreamSettings};
use crate::events::millis;
use crate::protocol::{NonceSubmission, SubmitAnswer};

/// With backups, others are polled at every this many polls of the active endpoint (and at
/// every poll while it fails).
pub const POLL_OTHERS_EVERY: u64 = 5;

/// The endpoints and the failover state.
pub struct Upstreams {
    clients: Vec<UpstreamClient>,
    state: Mutex<Failover>,
}

/// A copy of the endpoints' state for `/stats`, `/health` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamsView {
    pub active: usize,
    pub switches: u64,
    pub endpoints: Vec<EndpointState>,
}

impl Upstreams {
    /// One client per endpoint of `settings`; `timeout` bounds each call, `refresh` is the
    /// cache's poll interval (with backups, a poll gives up after about one interval).
    pub fn new(
        settings: &UpstreamSettings,
        timeout: Duration,
        refresh: Duration,
        connections: usize,
    ) -> Upstreams {
        let primary = settings.primary();
        let endpoints: Vec<&UpstreamEndpoint> =
            std::iter::once(&primary).chain(&settings.backups).collect();
        let with_backups = endpoints.len() > 1;
        let poll_timeout =
            refresh.clamp(Duration::from_secs(1), timeout.max(Duration::from_secs(1)));
        let clients = endpoints
            .iter()
            .map(|endpoint| {
                let client = UpstreamClient::for_endpoint(settings, endpoint, timeout, connections);
                match with_backups {
                    true => client.with_poll_timeout(poll_timeout),
                    false => client,
                }
            })
            .collect();
        let labels = endpoints.iter().map(|e| mask_url(&e.url)).collect();
        // Tips are compared when both were seen within two rounds of polling the others.
        let compare_within = refresh.saturating_mul(2 * POLL_OTHERS_EVERY as u32);
        let state = Failover::new(
            labels,
            settings.failover_after,
            millis(settings.failback),
            millis(compare_within).max(2_000),
        );
        Upstreams {
            clients,
            state: Mutex::new(state),
        }
    }

    /// Whether there is more than the primary.
    pub fn has_backups(&self) -> bool {
        self.clients.len() > 1
    }

    pub fn active(&self) -> usize {
        if self.has_backups() {
            self.state.lock().active()
        } else {
            0
        }
    }

    /// The masked URL of endpoint `index`.
    pub fn label(&self, index: usize) -> Option<String> {
        let state = self.state.lock();
        state.endpoints().get(index).map(|e| e.label.clone())
    }

    /// The endpoints that are not active and are due a poll at the `poll`-th poll.
    pub fn others_due(&self, poll: u64) -> Vec<usize> {
        if !self.has_backups() {
            return Vec::new();
        }
        let state = self.state.lock();
        let active = state.active();
        match state.poll_others(poll, POLL_OTHERS_EVERY) {
            true => (0..self.clients.len()).filter(|&i| i != active).collect(),
            false => Vec::new(),
        }
    }

    /// Polls endpoint `index` and records what it answered; the call's duration comes back too.
    pub fn poll(&self, index: usize, now_ms: u64) -> (Result<MiningInfo, UpstreamError>, Duration) {
        let Some(client) = self.clients.get(index) else {
            let missing = UpstreamError::Connect(format!("no upstream endpoint {index}"));
            return (Err(missing), Duration::ZERO);
        };
        let started = Instant::now();
        let result = client.get_mining_info();
        let took = started.elapsed();
        {
            let mut state = self.state.lock();
            let changes = match &result {
                Ok(info) => {
                    let tip = Tip {
                        height: info.height,
                        block_hash: info.block_hash.clone(),
                    };
                    state.answered(index, tip, millis(took), now_ms)
                }
                Err(error) => {
                    state.failed(index, error.to_string());
                    Vec::new()
                }
            };
            for change in changes {
                log_change(&state, &change);
            }
        }
        (result, took)
    }

    /// Switches the active endpoint when the rules say so; the change, logged, comes back.
    pub fn decide(&self, now_ms: u64) -> Option<Change> {
        if !self.has_backups() {
            return None;
        }
        let mut state = self.state.lock();
        let change = state.decide(now_ms)?;
        log_change(&state, &change);
        Some(change)
    }

    pub fn view(&self) -> UpstreamsView {
        let state = self.state.lock();
        UpstreamsView {
            active: state.active(),
            switches: state.switches(),
            endpoints: state.endpoints().to_vec(),
        }
    }

    /// Where a submission goes first: the active endpoint, unless its latest poll failed and
    /// a live backup serves the submission's round.
    fn first_choice(&self, height: u64) -> usize {
        let state = self.state.lock();
        let active = state.active();
        let failing = state.endpoints().get(active).is_some_and(|e| !e.reachable);
        match failing {
            true => state.retry_target(active, height).unwrap_or(active),
            false => active,
        }
    }
}

impl SubmitUpstream for Upstreams {
    fn submit_nonce(&self, submission: &NonceSubmission) -> Result<SubmitAnswer, UpstreamError> {
        let Some(primary) = self.clients.first() else {
            return Err(UpstreamError::Connect("no upstream endpoint".into()));
        };
        if !self.has_backups() {
            return primary.submit_nonce(submission);
        }
        let first = self.first_choice(submission.height);
        let error = match self
            .clients
            .get(first)
            .unwrap_or(primary)
            .submit_nonce(submission)
        {
            Err(error) if error.is_transient() => error,
            answer => return answer,
        };
        let second = self.state.lock().retry_target(first, submission.height);
        match second.and_then(|index| self.clients.get(index).map(|c| (index, c))) {
            Some((index, client)) => {
                log::debug!(
                    "forward to upstream endpoint {first} failed ({error}): trying endpoint {index}"
                );
                client.submit_nonce(submission)
            }
            None => Err(error),
        }
    }
}

impl UpstreamsView {
    /// The active endpoint's label.
    pub fn active_label(&self) -> Option<&str> {
        self.endpoints.get(self.active).map(|e| e.label.as_str())
    }

    /// Every endpoint as `/stats` and `/health` show it.
    pub fn endpoints_json(&self) -> serde_json::Value {
        let endpoints = self.endpoints.iter().enumerate().map(|(index, e)| {
            serde_json::json!({
                "url": e.label,
                "role": if index == 0 { "primary" } else { "backup" },
                "active": index == self.active,
                "reachable": e.reachable,
                "latency_ms": e.latency_ms,
                "failed_polls": e.failures,
                "last_success_ms": e.last_ok_ms,
                "last_error": e.last_error,
                "height": e.tip.as_ref().map(|t| t.height),
                "same_chain": e.agrees,
            })
        });
        serde_json::Value::Array(endpoints.collect())
    }
}

fn log_change(state: &Failover, change: &Change) {
    let label = |index: usize| {
        state
            .endpoints()
            .get(index)
            .map_or_else(|| format!("#{index}"), |e| e.label.clone())
    };
    match change {
        Change::FailedOver { from, to } => {
            let failures = state.endpoints().get(*from).map_or(0, |e| e.failures);
            log::warn!(
                "upstream {} failed {failures} polls in a row: failing over to {}",
                label(*from),
                label(*to)
            );
        }
        Change::FailedBack { from } => log::info!(
            "upstream {} has answered long enough: failing back to it from {}",
            label(0),
            label(*from)
        ),
        Change::Disagrees { index, why } => log::warn!(
            "upstream {} is not on the chain of the active {}: {why}; it is not used until it agrees",
            label(*index),
            label(state.active())
        ),
        Change::AgreesAgain { index } => log::info!(
            "upstream {} agrees with the active {} again",
            label(*index),
            label(state.active())
        ),
    }
}
