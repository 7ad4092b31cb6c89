//! Which upstream endpoint is active: the primary, or a backup of the same chain while the
//! primary is down.
//!
//! Pure state, fed by the cache thread with the outcome of every poll and read by the
//! forwarder (where a failed forward may be tried again) and the observability endpoints. No
//! I/O, no clock: times come in as milliseconds. It never mixes chains: an endpoint whose tip
//! disagrees with the active one's (another block hash at the same height, or heights far
//! apart) is neither failed over to nor used for a retry until it agrees again.

use crate::events::short_hash;

/// Tips further apart than this many blocks are on different chains (or one is far behind).
pub const MAX_HEIGHT_GAP: u64 = 3;

/// What an endpoint's last successful poll showed: the round it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    pub height: u64,
    pub block_hash: String,
}

/// One endpoint as polls have seen it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointState {
    /// The masked URL, for logs, `/stats` and metric labels.
    pub label: String,
    /// The latest poll answered.
    pub reachable: bool,
    /// Failed polls since the last answer.
    pub failures: u32,
    /// When the current run of answers began (reset by any failure).
    pub up_since_ms: Option<u64>,
    pub last_ok_ms: Option<u64>,
    pub latency_ms: Option<u64>,
    pub last_error: Option<String>,
    pub tip: Option<Tip>,
    /// Its chain agrees with the active endpoint's, as last compared.
    pub agrees: bool,
}

/// A change worth one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The active endpoint failed; `to` answers and takes over.
    FailedOver { from: usize, to: usize },
    /// The primary has answered long enough to be active again.
    FailedBack { from: usize },
    /// `index` is on another chain than the active endpoint (shown as `why`).
    Disagrees { index: usize, why: String },
    /// `index` agrees with the active endpoint again.
    AgreesAgain { index: usize },
}

/// The endpoints (index 0 is the primary) and which one is active.
#[derive(Debug)]
pub struct Failover {
    endpoints: Vec<EndpointState>,
    active: usize,
    failover_after: u32,
    failback_ms: u64,
    /// Tips observed further apart in time than this are not compared.
    compare_within_ms: u64,
    failovers: u64,
}

impl Failover {
    /// `labels` in order of preference: the primary first.
    pub fn new(
        labels: Vec<String>,
        failover_after: u32,
        failback_ms: u64,
        compare_within_ms: u64,
    ) -> Failover {
        let endpoints = labels
            .into_iter()
            .map(|label| EndpointState {
                label,
                agrees: true,
                ..EndpointState::default()
            })
            .collect();
        Failover {
            endpoints,
            active: 0,
            failover_after: failover_after.max(1),
            failback_ms,
            compare_within_ms,
            failovers: 0,
        }
    }

    pub fn active(&self) -> usize {
        self.active
    }

    pub fn endpoints(&self) -> &[EndpointState] {
        &self.endpoints
    }

    /// Failovers and failbacks so far.
    pub fn switches(&self) -> u64 {
        self.failovers
    }

    /// Whether the others should be polled at this poll too: always while the active endpoint
    /// is failing (a takeover must find out who answers), otherwise every `every`-th poll.
    pub fn poll_others(&self, poll: u64, every: u64) -> bool {
        let failing = self
            .endpoints
            .get(self.active)
            .is_some_and(|active| active.failures > 0);
        failing || poll.is_multiple_of(every.max(1))
    }

    /// Records an answered poll of `index`; returns a chain (dis)agreement worth logging.
    pub fn answered(
        &mut self,
        index: usize,
        tip: Tip,
        latency_ms: u64,
        now_ms: u64,
    ) -> Vec<Change> {
        let Some(endpoint) = self.endpoints.get_mut(index) else {
            return Vec::new();
        };
        endpoint.reachable = true;
        endpoint.failures = 0;
        endpoint.up_since_ms.get_or_insert(now_ms);
        endpoint.last_ok_ms = Some(now_ms);
        endpoint.latency_ms = Some(latency_ms);
        endpoint.last_error = None;
        endpoint.tip = Some(tip);
        self.compare(now_ms)
    }

    /// Records a failed poll of `index`.
    pub fn failed(&mut self, index: usize, error: String) {
        if let Some(endpoint) = self.endpoints.get_mut(index) {
            endpoint.reachable = false;
            endpoint.failures = endpoint.failures.saturating_add(1);
            endpoint.up_since_ms = None;
            endpoint.last_error = Some(error);
        }
    }

    /// Switches the active endpoint when the rules say so (after a round of polls).
    pub fn decide(&mut self, now_ms: u64) -> Option<Change> {
        let from = self.active;
        let active_down = self
            .endpoints
            .get(from)
            .is_some_and(|active| active.failures >= self.failover_after);
        if active_down {
            let to = (0..self.endpoints.len()).find(|&i| i != from && self.usable(i))?;
            self.switch_to(to);
            return Some(Change::FailedOver { from, to });
        }
        let primary_back = from != 0
            && self.usable(0)
            && self.endpoints.first().is_some_and(|primary| {
                primary
                    .up_since_ms
                    .is_some_and(|since| now_ms.saturating_sub(since) >= self.failback_ms)
            });
        if primary_back {
            self.switch_to(0);
            return Some(Change::FailedBack { from });
        }
        None
    }

    /// Another endpoint a forward that failed on `failed` may be tried on within its round:
    /// one that answers, agrees with the active chain and serves `height`.
    pub fn retry_target(&self, failed: usize, height: u64) -> Option<usize> {
        let serves = |i: usize| {
            let tip = self.endpoints.get(i).and_then(|e| e.tip.as_ref());
            tip.is_some_and(|tip| tip.height == height)
        };
        (0..self.endpoints.len()).find(|&i| i != failed && self.usable(i) && serves(i))
    }

    /// Answers its latest poll and agrees with the active chain.
    fn usable(&self, index: usize) -> bool {
        self.endpoints
            .get(index)
            .is_some_and(|e| e.reachable && e.agrees)
    }

    fn switch_to(&mut self, to: usize) {
        self.active = to;
        self.failovers = self.failovers.saturating_add(1);
        // The chain followed until now was the active one's; the new one is the reference now.
        if let Some(endpoint) = self.endpoints.get_mut(to) {
            endpoint.agrees = true;
        }
    }

    /// Compares every other endpoint's tip with the active one's, where both are recent.
    fn compare(&mut self, now_ms: u64) -> Vec<Change> {
        let Some(active) = self.endpoints.get(self.active) else {
            return Vec::new();
        };
        let (Some(reference), Some(seen)) = (active.tip.clone(), active.last_ok_ms) else {
            return Vec::new();
        };
        let recent = |at: u64| now_ms.saturating_sub(at) <= self.compare_within_ms;
        if !recent(seen) {
            return Vec::new();
        }
        let mut changes = Vec::new();
        for (index, endpoint) in self.endpoints.iter_mut().enumerate() {
            let comparable = index != self.active && endpoint.last_ok_ms.is_some_and(recent);
            let Some(tip) = endpoint.tip.as_ref().filter(|_| comparable) else {
                continue;
            };
            match (compare_tips(&reference, tip), endpoint.agrees) {
                (Verdict::Different(why), true) => {
                    endpoint.agrees = false;
                    changes.push(Change::Disagrees { index, why });
                }
                (Verdict::Same, false) => {
                    endpoint.agrees = true;
                    changes.push(Change::AgreesAgain { index });
                }
                _ => {}
            }
        }
        changes
    }
}

/// What two tips say about their chains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The same block at the same height.
    Same,
    /// Different chains, and why.
    Different(String),
    /// A block or two apart: nothing to compare yet.
    Unknown,
}

/// Whether `other` is on the chain `reference` is on.
pub fn compare_tips(reference: &Tip, other: &Tip) -> Verdict {
    let gap = reference.height.abs_diff(other.height);
    if gap > MAX_HEIGHT_GAP {
        return Verdict::Different(format!(
            "height {} against {} of the active endpoint",
            other.height, reference.height
        ));
    }
    if gap > 0 {
        return Verdict::Unknown;
    }
    if reference.block_hash.eq_ignore_ascii_case(&other.block_hash) {
        Verdict::Same
    } else {
        Verdict::Different(format!(
            "another block hash at height {} ({} against {})",
            other.height,
            short_hash(&other.block_hash),
            short_hash(&reference.block_hash)
        ))
    }
}

#[cfg(test)]
mod tests;
