//! The last 30 rounds with the farm's best in each, and how many rounds a day brings.
//!
//! A round is (height, block hash), kept in arrival order. The current round is the one the
//! cache thread announced last, never a round restored from the store: those are history, and
//! a live round takes one of them over only when it is the newest restored round and nothing
//! live came before it (a restart within a round). A chain that starts again lower, or a
//! replaced node, brings rounds of its own even where height and block hash repeat an earlier
//! chain's. The farm's best per round is the lowest raw quality any account submitted for its
//! height, and a round counts as accepted once the upstream accepted that quality. No locking,
//! no channels.

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
    /// Announced by the cache thread (not only restored from the store).
    live: bool,
    /// Arrival number, which names the current round.
    seq: u64,
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
    /// `seq` of the current round; none until the cache thread announces one.
    current: Option<u64>,
    next_seq: u64,
}

impl RoundWindow {
    /// Makes a live round the current one; false when it is already known (the cache repeats
    /// itself every poll, a reorg may go back to a round, a restart finds its round restored).
    pub(super) fn start(&mut self, info: &RoundInfo) -> bool {
        let same =
            |r: &RoundEntry| r.info.height == info.height && r.info.block_hash == info.block_hash;
        let known = self.recent.iter_mut().rev().find(|r| r.live && same(r));
        let known = match known {
            Some(entry) => Some(entry),
            None if self.current.is_none() => self.recent.back_mut().filter(|r| same(r)),
            None => None,
        };
        if let Some(entry) = known {
            entry.live = true;
            self.current = Some(entry.seq);
            return false;
        }
        let seq = self.push(info, true);
        self.current = Some(seq);
        self.seen.add(info.first_seen_ms, 1);
        true
    }

    /// Adds a round restored from the store, as history.
    pub(super) fn restore(&mut self, info: &RoundInfo) {
        self.push(info, false);
    }

    fn push(&mut self, info: &RoundInfo, live: bool) -> u64 {
        if self.recent.len() >= ROUNDS_LISTED {
            self.recent.pop_front();
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.recent.push_back(RoundEntry {
            info: info.clone(),
            best: None,
            accepted_min: None,
            live,
            seq,
        });
        seq
    }

    /// Adds rounds counted elsewhere (restoring from history).
    pub(super) fn add_seen(&mut self, at_ms: u64, rounds: u64) {
        self.seen.add(at_ms, rounds);
    }

    /// The round that arrived last, live or restored.
    pub(super) fn newest(&self) -> Option<&RoundEntry> {
        self.recent.back()
    }

    /// The live round announced last.
    pub(super) fn current(&self) -> Option<&RoundEntry> {
        let seq = self.current?;
        self.recent.iter().rev().find(|r| r.seq == seq)
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
        assert!(window.start(&round(1, "a")));
        assert!(!window.start(&round(1, "a")));
        assert!(window.start(&round(1, "b")));
        for h in 2..100 {
            window.start(&round(h, "a"));
        }
        assert_eq!(window.newest_first().count(), ROUNDS_LISTED);
        assert_eq!(window.current().map(|r| r.info.height), Some(99));
    }

    #[test]
    fn accepted_only_when_the_best_itself_was_accepted() {
        let mut window = RoundWindow::default();
        window.start(&round(5, "a"));
        let m: MachineId = Arc::from("rig");
        window.offer(5, 100, 9, || Arc::from("acc"), &m);
        window.accepted(5, 100);
        assert!(window.current().unwrap().best_accepted());
        window.offer(5, 50, 4, || Arc::from("acc"), &m);
        assert!(!window.current().unwrap().best_accepted());
        window.accepted(5, 50);
        assert!(window.current().unwrap().best_accepted());
    }

    #[test]
    fn restored_rounds_are_history_until_the_live_one_takes_the_newest_over() {
        let mut window = RoundWindow::default();
        for h in 1..=4 {
            window.restore(&round(h, "a"));
        }
        assert!(window.current().is_none(), "no live round yet");
        // Restarted within round 4: it keeps its entry (and best).
        let m: MachineId = Arc::from("rig");
        window.offer(4, 100, 9, || Arc::from("acc"), &m);
        assert!(!window.start(&round(4, "a")));
        assert!(window.current().unwrap().best.is_some());
        assert_eq!(window.newest_first().count(), 4);
    }

    #[test]
    fn a_chain_that_starts_again_lower_gets_rounds_of_its_own() {
        let mut window = RoundWindow::default();
        let m: MachineId = Arc::from("rig");
        for h in 1..=4 {
            window.restore(&round(h, "a"));
            window.offer(h, 100, 9, || Arc::from("old"), &m);
        }
        // The same heights and block hashes as the history's: a deterministic chain again.
        assert!(window.start(&round(1, "a")));
        let current = window.current().unwrap();
        assert_eq!(current.info.height, 1);
        assert!(
            current.best.is_none(),
            "the earlier chain's best stays history"
        );
        window.offer(1, 50, 5, || Arc::from("new"), &m);
        assert_eq!(
            window.current().unwrap().best.as_ref().unwrap().raw_quality,
            50
        );
        assert!(window.start(&round(2, "a")));
        // A reorg back to a round of this chain finds it again.
        assert!(!window.start(&round(1, "a")));
        assert_eq!(
            window.current().unwrap().best.as_ref().unwrap().raw_quality,
            50
        );
        assert_eq!(window.newest_first().count(), 6);
    }
}
