//! Per-account and per-machine statistics, and the capped map that holds them.
//!
//! Everything here is fixed-size per key (a ring of the last 30 round bests, 24 hourly round
//! counters) so recording a submission for a known key allocates nothing. The map refuses new
//! keys beyond its cap (counted as untracked, logged once) and forgets keys idle for a day.
//! No locking and no channels: `Stats` owns these behind its mutex.

use std::collections::HashMap;
use std::sync::Arc;

use crate::history::MS_PER_HOUR;

/// Rounds the capacity estimate averages over.
pub const CAPACITY_WINDOW: usize = 30;

/// A key linked to more than this many others (machines of an account, or the reverse) keeps
/// only the first ones: the lists are for display.
pub(super) const MAX_LINKS: usize = 32;

/// A submission for a round this many heights below the newest one a key has is late but
/// plausible; further below means the chain restarted, and the ring starts over.
const LATE_ROUNDS: u64 = 3;

const HOURS_PER_DAY: usize = 24;

/// 2^42: one TiB-worth of expected best quality (protocol.md, "Capacity").
pub const CAPACITY_NUMERATOR: f64 = 4_398_046_511_104.0;

/// A key's (or the farm's) best in one round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct RoundBest {
    pub height: u64,
    pub raw_quality: u64,
    pub poc_time: u64,
}

/// The best of each of the last [`CAPACITY_WINDOW`] rounds a key submitted in.
#[derive(Debug, Clone)]
pub(super) struct BestRing {
    slots: [RoundBest; CAPACITY_WINDOW],
    /// Index of the newest slot (meaningless while `len` is 0).
    newest: usize,
    len: usize,
}

/// What [`BestRing::offer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RingUpdate {
    /// The first submission of this key in this round.
    NewRound,
    /// A round already in the ring (improved or not).
    SameRound,
    /// Too old to place.
    Ignored,
}

impl Default for BestRing {
    fn default() -> BestRing {
        BestRing {
            slots: [RoundBest::default(); CAPACITY_WINDOW],
            newest: 0,
            len: 0,
        }
    }
}

impl BestRing {
    /// Slots from newest to oldest.
    pub(super) fn iter(&self) -> impl Iterator<Item = &RoundBest> + '_ {
        (0..self.len).filter_map(move |back| {
            let index = (self.newest + CAPACITY_WINDOW - back) % CAPACITY_WINDOW;
            self.slots.get(index)
        })
    }

    pub(super) fn for_height(&self, height: u64) -> Option<RoundBest> {
        self.iter().find(|b| b.height == height).copied()
    }

    pub(super) fn offer(&mut self, height: u64, raw_quality: u64, poc_time: u64) -> RingUpdate {
        let newest_height = self.iter().next().map(|b| b.height);
        for back in 0..self.len {
            let index = (self.newest + CAPACITY_WINDOW - back) % CAPACITY_WINDOW;
            if let Some(slot) = self.slots.get_mut(index) {
                if slot.height == height {
                    if raw_quality < slot.raw_quality {
                        slot.raw_quality = raw_quality;
                        slot.poc_time = poc_time;
                    }
                    return RingUpdate::SameRound;
                }
            }
        }
        match newest_height {
            Some(newest) if height < newest && newest - height <= LATE_ROUNDS => {
                return RingUpdate::Ignored;
            }
            Some(newest) if height < newest => self.len = 0,
            _ => {}
        }
        self.newest = if self.len == 0 {
            0
        } else {
            (self.newest + 1) % CAPACITY_WINDOW
        };
        self.len = (self.len + 1).min(CAPACITY_WINDOW);
        if let Some(slot) = self.slots.get_mut(self.newest) {
            *slot = RoundBest {
                height,
                raw_quality,
                poc_time,
            };
        }
        RingUpdate::NewRound
    }

    /// protocol.md: capacity ≈ 2^42 / mean(best raw quality per round) TiB.
    pub(super) fn capacity_tib(&self) -> Option<f64> {
        if self.len == 0 {
            return None;
        }
        let sum: u128 = self.iter().map(|b| u128::from(b.raw_quality)).sum();
        let mean = sum as f64 / self.len as f64;
        (mean > 0.0).then(|| CAPACITY_NUMERATOR / mean)
    }
}

/// Counts per hour over the last day, in a fixed ring of hourly slots.
#[derive(Debug, Clone, Default)]
pub(super) struct HourlyCounts {
    hour: [u64; HOURS_PER_DAY],
    count: [u32; HOURS_PER_DAY],
}

impl HourlyCounts {
    pub(super) fn add(&mut self, at_ms: u64, n: u64) {
        let hour = at_ms / MS_PER_HOUR;
        let slot = usize::try_from(hour % HOURS_PER_DAY as u64).unwrap_or(0);
        let (Some(slot_hour), Some(slot_count)) =
            (self.hour.get_mut(slot), self.count.get_mut(slot))
        else {
            return;
        };
        if hour < *slot_hour {
            return; // older than what the slot holds now: outside the window
        }
        if hour > *slot_hour {
            *slot_hour = hour;
            *slot_count = 0;
        }
        *slot_count = slot_count.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// Sum over the 24 hourly slots ending with the one holding `now_ms`.
    pub(super) fn total(&self, now_ms: u64) -> u64 {
        let now_hour = now_ms / MS_PER_HOUR;
        self.hour
            .iter()
            .zip(self.count.iter())
            .filter(|(hour, _)| **hour <= now_hour && **hour + HOURS_PER_DAY as u64 > now_hour)
            .map(|(_, count)| u64::from(*count))
            .sum()
    }
}

/// Everything known about one account or one machine.
#[derive(Debug, Clone)]
pub(super) struct KeyStats {
    pub name: Arc<str>,
    pub submissions: u64,
    pub last_seen_ms: u64,
    pub bests: BestRing,
    /// Rounds submitted in, by hour of the first submission.
    pub rounds_24h: HourlyCounts,
    /// Definitive upstream rejections.
    pub rejected: u64,
    pub failed_verification: u64,
    /// Machines of an account, or accounts of a machine.
    pub links: Vec<Arc<str>>,
}

impl KeyStats {
    fn new(name: Arc<str>) -> KeyStats {
        KeyStats {
            name,
            submissions: 0,
            last_seen_ms: 0,
            bests: BestRing::default(),
            rounds_24h: HourlyCounts::default(),
            rejected: 0,
            failed_verification: 0,
            links: Vec::new(),
        }
    }

    /// A submission arrived (its quality may not be trusted yet).
    pub(super) fn count(&mut self, at_ms: u64) {
        self.submissions = self.submissions.saturating_add(1);
        self.last_seen_ms = self.last_seen_ms.max(at_ms);
    }

    /// A trusted quality for the round.
    pub(super) fn offer_best(&mut self, height: u64, raw_quality: u64, poc_time: u64, at_ms: u64) {
        if self.bests.offer(height, raw_quality, poc_time) == RingUpdate::NewRound {
            self.rounds_24h.add(at_ms, 1);
        }
    }

    pub(super) fn link(&mut self, other: &Arc<str>) {
        if self.links.len() < MAX_LINKS && !self.links.iter().any(|l| **l == **other) {
            self.links.push(Arc::clone(other));
        }
    }
}

/// Accounts or machines, capped.
#[derive(Debug)]
pub(super) struct Tracker {
    what: &'static str,
    entries: HashMap<Arc<str>, KeyStats>,
    cap: usize,
    /// Records refused because the cap was reached.
    pub untracked: u64,
    cap_logged: bool,
}

impl Tracker {
    pub(super) fn new(what: &'static str, cap: usize) -> Tracker {
        Tracker {
            what,
            entries: HashMap::new(),
            cap,
            untracked: 0,
            cap_logged: false,
        }
    }

    pub(super) fn set_cap(&mut self, cap: usize) {
        self.cap = cap;
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut KeyStats> {
        self.entries.get_mut(key)
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &KeyStats> + '_ {
        self.entries.values()
    }

    /// Runs `f` on the key's entry, creating it (name from `make_name`) when there is room.
    /// A known key costs one lookup by `&str` and no allocation.
    pub(super) fn with_entry<R>(
        &mut self,
        key: &str,
        make_name: impl FnOnce() -> Arc<str>,
        f: impl FnOnce(&mut KeyStats) -> R,
    ) -> Option<R> {
        if let Some(entry) = self.entries.get_mut(key) {
            return Some(f(entry));
        }
        if self.entries.len() >= self.cap {
            self.untracked = self.untracked.saturating_add(1);
            if !self.cap_logged {
                self.cap_logged = true;
                log::warn!(
                    "statistics track at most {} {}; further ones are counted as untracked",
                    self.cap,
                    self.what
                );
            }
            return None;
        }
        let name = make_name();
        let entry = self
            .entries
            .entry(Arc::clone(&name))
            .or_insert_with(|| KeyStats::new(name));
        Some(f(entry))
    }

    /// Drops keys not seen since `cutoff_ms`.
    pub(super) fn forget_idle(&mut self, cutoff_ms: u64) {
        self.entries.retain(|_, e| e.last_seen_ms >= cutoff_ms);
    }

    /// Drops links to keys `other` no longer tracks.
    pub(super) fn prune_links(&mut self, other: &Tracker) {
        for entry in self.entries.values_mut() {
            entry.links.retain(|l| other.contains(l));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_lowest_quality_per_round_and_the_last_thirty_rounds() {
        let mut ring = BestRing::default();
        assert_eq!(ring.offer(1, 500, 50), RingUpdate::NewRound);
        assert_eq!(ring.offer(1, 400, 40), RingUpdate::SameRound);
        assert_eq!(ring.offer(1, 600, 60), RingUpdate::SameRound);
        assert_eq!(ring.for_height(1).map(|b| b.raw_quality), Some(400));
        for h in 2..=40 {
            ring.offer(h, 1_000, 1);
        }
        assert_eq!(ring.iter().count(), CAPACITY_WINDOW);
        assert_eq!(ring.iter().next().map(|b| b.height), Some(40));
        assert_eq!(ring.iter().last().map(|b| b.height), Some(11));
    }

    #[test]
    fn late_rounds_are_ignored_and_a_restarted_chain_starts_over() {
        let mut ring = BestRing::default();
        ring.offer(100, 10, 1);
        assert_eq!(ring.offer(98, 5, 1), RingUpdate::Ignored);
        assert_eq!(ring.offer(0, 7, 1), RingUpdate::NewRound);
        assert_eq!(ring.iter().count(), 1);
    }

    #[test]
    fn capacity_is_two_to_the_42_over_mean_best() {
        let mut ring = BestRing::default();
        assert_eq!(ring.capacity_tib(), None);
        ring.offer(1, 1 << 40, 0);
        ring.offer(2, 3 << 40, 0);
        // mean = 2^41 → 2 TiB
        assert_eq!(ring.capacity_tib(), Some(2.0));
    }

    #[test]
    fn hourly_counts_cover_the_last_day() {
        let mut counts = HourlyCounts::default();
        counts.add(0, 1);
        counts.add(MS_PER_HOUR * 5, 2);
        assert_eq!(counts.total(MS_PER_HOUR * 5), 3);
        assert_eq!(counts.total(MS_PER_HOUR * 24), 2);
        counts.add(MS_PER_HOUR * 24, 4);
        assert_eq!(counts.total(MS_PER_HOUR * 24), 6);
        assert_eq!(counts.total(MS_PER_HOUR * 29), 4);
    }

    #[test]
    fn tracker_caps_keys_and_counts_the_rest() {
        let mut tracker = Tracker::new("accounts", 1);
        assert!(tracker.with_entry("a", || Arc::from("a"), |_| ()).is_some());
        assert!(tracker.with_entry("a", || Arc::from("a"), |_| ()).is_some());
        assert!(tracker.with_entry("b", || Arc::from("b"), |_| ()).is_none());
        assert_eq!(tracker.untracked, 1);
        assert_eq!(tracker.len(), 1);
    }
}
