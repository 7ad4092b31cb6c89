//! The last 30 rounds with the farm's best in each, and how many rounds a day brings.
//!
//! A round is (height, block hash), kept in arrival order; the newest is the current round. The
//! farm's best per round is the lowest raw quality any account submitted for its height, and a
//! round counts as accepted once the upstream accepted that quality. No locking, no channels.

use std::collections::VecDeque;
use std::sync::Arc;

use super::keys::HourlyCounts;
use crate::events::{MachineId, RoundInfo};

/// Rounds listed in `/stats`.
pub const ROUNDS_LISTED: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FarmBest {
    pub account: Arc<str>,
    pub machine: MachineId,
    pub raw_quality: u64,
    pub poc_time: u64,
}

#[derive(Debug, Clone)]
pub(super) struct RoundEntry {
    pub info: RoundInfo,
    pub best: Option<FarmBest>,
    /// Lowest raw quality the upstream accepted for this height.
    pub accepted_min: Option<u64>,
}

impl RoundEntry {
    /// True once the farm's best in this round was accepted upstream.
    pub(super) fn best_accepted(&self) -> bool {
        match (&self.best, self.accepted_min) {
            (Some(best), Some(accepted)) => accepted <= best.raw_quality,
            _ => false,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct RoundWindow {
    recent: VecDeque<RoundEntry>,
    seen: HourlyCounts,
}

impl RoundWindow {
    /// Records a round; false when it is already known (the cache repeats itself every poll).
    pub(super) fn start(&mut self, info: &RoundInfo, count_as_seen: bool) -> bool {
        let known = self
            .recent
            .iter()
            .rev()
            .any(|r| r.info.height == info.height && r.info.block_hash == info.block_hash);
        if known {
            return false;
        }
        if self.recent.len() >= ROUNDS_LISTED {
            self.recent.pop_front();
        }
        self.recent.push_back(RoundEntry {
            info: info.clone(),
            best: None,
            accepted_min: None,
        });
        if count_as_seen {
            self.seen.add(info.first_seen_ms, 1);
        }
        true
    }

    /// Adds rounds counted elsewhere (restoring from history).
    pub(super) fn add_seen(&mut self, at_ms: u64, rounds: u64) {
        self.seen.add(at_ms, rounds);
    }

    pub(super) fn current(&self) -> Option<&RoundEntry> {
        self.recent.back()
    }

    pub(super) fn newest_first(&self) -> impl Iterator<Item = &RoundEntry> + '_ {
        self.recent.iter().rev()
    }

    /// Rounds first seen in the last day (hourly granularity).
    pub(super) fn seen_24h(&self, now_ms: u64) -> u64 {
        self.seen.total(now_ms)
    }

    fn entry_mut(&mut self, height: u64) -> Option<&mut RoundEntry> {
        self.recent
            .iter_mut()
            .rev()
            .find(|r| r.info.height == height)
    }

    /// Offers a submission as the farm's best for its round. `account` is only called when it
    /// becomes the best, so the common case allocates nothing.
    pub(super) fn offer(
        &mut self,
        height: u64,
        raw_quality: u64,
        poc_time: u64,
        account: impl FnOnce() -> Arc<str>,
        machine: &MachineId,
    ) {
        let Some(entry) = self.entry_mut(height) else {
            return;
        };
        let improves = entry
            .best
            .as_ref()
            .is_none_or(|best| raw_quality < best.raw_quality);
        if improves {
            entry.best = Some(FarmBest {
                account: account(),
                machine: Arc::clone(machine),
                raw_quality,
                poc_time,
            });
        }
    }

    pub(super) fn accepted(&mut self, height: u64, raw_quality: u64) {
        if let Some(entry) = self.entry_mut(height) {
            entry.accepted_min = Some(
                entry
                    .accepted_min
                    .map_or(raw_quality, |a| a.min(raw_quality)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(height: u64, hash: &str) -> RoundInfo {
        RoundInfo {
            height,
            generation_signature: "00".into(),
            block_hash: hash.into(),
            base_target: 1,
            first_seen_ms: height * 1_000,
        }
    }

    #[test]
    fn repeated_round_is_not_new_and_window_is_bounded() {
        let mut window = RoundWindow::default();
        assert!(window.start(&round(1, "a"), true));
        assert!(!window.start(&round(1, "a"), true));
        assert!(window.start(&round(1, "b"), true));
        for h in 2..100 {
            window.start(&round(h, "a"), true);
        }
        assert_eq!(window.newest_first().count(), ROUNDS_LISTED);
        assert_eq!(window.current().map(|r| r.info.height), Some(99));
    }

    #[test]
    fn accepted_only_when_the_best_itself_was_accepted() {
        let mut window = RoundWindow::default();
        window.start(&round(5, "a"), true);
        let m: MachineId = Arc::from("rig");
        window.offer(5, 100, 9, || Arc::from("acc"), &m);
        window.accepted(5, 100);
        assert!(window.current().unwrap().best_accepted());
        window.offer(5, 50, 4, || Arc::from("acc"), &m);
        assert!(!window.current().unwrap().best_accepted());
        window.accepted(5, 50);
        assert!(window.current().unwrap().best_accepted());
    }
}
