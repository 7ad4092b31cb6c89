//! When each machine last polled `get_mining_info`, and whether it polls regularly.
//!
//! Request workers record every poll (one map lookup by `&str`, no allocation for a known
//! machine); the alerts thread reads the entries. Bounded like the statistics' key maps: at most
//! a cap of machines, machines silent for a day forgotten. No locking here: `Stats` keeps the
//! tracker behind a mutex of its own, apart from the one submissions take.

use std::collections::HashMap;
use std::sync::Arc;

/// Polls a machine must have made before its silence means anything.
pub const REGULAR_POLLS: u64 = 5;

/// Weight of the newest gap in the running mean gap (1/8).
const GAP_SMOOTHING: u64 = 8;

/// One machine's polling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollEntry {
    pub last_ms: u64,
    pub polls: u64,
    /// Running mean of the time between polls.
    pub mean_gap_ms: u64,
}

impl PollEntry {
    /// Polled at least [`REGULAR_POLLS`] times, on average well within `silent_ms` of each
    /// other: such a machine's silence is news. One that polls once an hour is not "silent".
    pub fn is_regular(&self, silent_ms: u64) -> bool {
        self.polls >= REGULAR_POLLS && self.mean_gap_ms.saturating_mul(2) <= silent_ms
    }

    fn record(&mut self, at_ms: u64) {
        if self.polls > 0 {
            let gap = at_ms.saturating_sub(self.last_ms);
            if self.polls == 1 {
                self.mean_gap_ms = gap;
            } else if gap >= self.mean_gap_ms {
                self.mean_gap_ms += (gap - self.mean_gap_ms) / GAP_SMOOTHING;
            } else {
                self.mean_gap_ms -= (self.mean_gap_ms - gap) / GAP_SMOOTHING;
            }
        }
        self.polls = self.polls.saturating_add(1);
        self.last_ms = self.last_ms.max(at_ms);
    }
}

/// Every polling machine, capped.
#[derive(Debug)]
pub struct PollTracker {
    entries: HashMap<Arc<str>, PollEntry>,
    cap: usize,
    /// Polls from machines beyond the cap.
    pub untracked: u64,
}

impl PollTracker {
    pub fn new(cap: usize) -> PollTracker {
        PollTracker {
            entries: HashMap::new(),
            cap,
            untracked: 0,
        }
    }

    pub fn set_cap(&mut self, cap: usize) {
        self.cap = cap;
    }

    pub fn record(&mut self, machine: &str, at_ms: u64) {
        if let Some(entry) = self.entries.get_mut(machine) {
            entry.record(at_ms);
            return;
        }
        if self.entries.len() >= self.cap {
            self.untracked = self.untracked.saturating_add(1);
            return;
        }
        let mut entry = PollEntry::default();
        entry.record(at_ms);
        self.entries.insert(Arc::from(machine), entry);
    }

    #[cfg(test)]
    pub fn get(&self, machine: &str) -> Option<&PollEntry> {
        self.entries.get(machine)
    }

    /// Every machine's entry, copied.
    pub fn entries(&self) -> Vec<(Arc<str>, PollEntry)> {
        self.entries
            .iter()
            .map(|(name, entry)| (Arc::clone(name), *entry))
            .collect()
    }

    /// Drops machines that have not polled since `cutoff_ms`.
    pub fn forget_idle(&mut self, cutoff_ms: u64) {
        self.entries.retain(|_, e| e.last_ms >= cutoff_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_is_regular_after_a_few_frequent_polls() {
        let mut tracker = PollTracker::new(10);
        for n in 0..REGULAR_POLLS {
            assert!(!tracker.get("rig").is_some_and(|e| e.is_regular(120_000)));
            tracker.record("rig", n * 1_000);
        }
        let entry = *tracker.get("rig").unwrap();
        assert_eq!(entry.mean_gap_ms, 1_000);
        assert!(entry.is_regular(120_000));
        assert!(
            !entry.is_regular(1_500),
            "a 1 s poller is not regular for a 1.5 s bound"
        );
    }

    #[test]
    fn a_long_gap_makes_a_machine_irregular_until_it_settles_again() {
        let mut tracker = PollTracker::new(10);
        for n in 0..10 {
            tracker.record("rig", n * 1_000);
        }
        tracker.record("rig", 2_000_000);
        assert!(!tracker.get("rig").unwrap().is_regular(120_000));
        for n in 1..60 {
            tracker.record("rig", 2_000_000 + n * 1_000);
        }
        assert!(tracker.get("rig").unwrap().is_regular(120_000));
    }

    #[test]
    fn the_tracker_is_capped_and_forgets_idle_machines() {
        let mut tracker = PollTracker::new(1);
        tracker.record("a", 5);
        tracker.record("b", 6);
        assert_eq!(tracker.untracked, 1);
        assert!(tracker.get("b").is_none());
        tracker.forget_idle(6);
        assert!(tracker.entries().is_empty());
    }
}
