//! Ordering and bounding of jobs that wait: a double-ended priority queue (best at the front,
//! worst at the back) and, on top of it, the forwarder's queue of jobs that are ready now or
//! backing off until a due time.
//!
//! Pure data structures: no threads, no clocks of their own (callers pass `Instant`s), no
//! capacity policy (callers decide when to evict the worst). The verification stage reuses
//! [`RankedQueue`] so both stages agree on what "better" means.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Where a job stands among others: newer rounds (higher height) first, then better (lower)
/// raw quality, then earlier arrival. Lower ranks are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rank {
    height: Reverse<u64>,
    raw_quality: u64,
    /// Unique per job, so two jobs never share a rank.
    seq: u64,
}

impl Rank {
    pub(crate) fn new(height: u64, raw_quality: u64, seq: u64) -> Rank {
        Rank {
            height: Reverse(height),
            raw_quality,
            seq,
        }
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }
}

/// Items ordered by [`Rank`]; both the best and the worst come out in O(log n).
pub(crate) struct RankedQueue<T> {
    items: BTreeMap<Rank, T>,
}

impl<T> RankedQueue<T> {
    pub(crate) fn new() -> RankedQueue<T> {
        RankedQueue {
            items: BTreeMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn push(&mut self, rank: Rank, item: T) {
        self.items.insert(rank, item);
    }

    pub(crate) fn pop_best(&mut self) -> Option<(Rank, T)> {
        self.items.pop_first()
    }

    pub(crate) fn pop_worst(&mut self) -> Option<(Rank, T)> {
        self.items.pop_last()
    }

    pub(crate) fn worst_rank(&self) -> Option<Rank> {
        self.items.last_key_value().map(|(rank, _)| *rank)
    }

    pub(crate) fn remove(&mut self, rank: &Rank) -> Option<T> {
        self.items.remove(rank)
    }

    /// Everything, best first; the queue is left empty.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (Rank, T)> {
        std::mem::take(&mut self.items).into_iter()
    }
}

/// A job backing off, and when it may be tried again.
struct Deferred<T> {
    due: Instant,
    item: T,
}

/// The forwarder's waiting jobs: those ready for an attempt and those backing off until their
/// due time. `len` counts both; `pop_worst` considers both.
pub(crate) struct ForwardQueue<T> {
    ready: RankedQueue<T>,
    backing_off: RankedQueue<Deferred<T>>,
    /// Due times of the backing-off jobs, soonest first.
    timers: BTreeSet<(Instant, Rank)>,
}

impl<T> ForwardQueue<T> {
    pub(crate) fn new() -> ForwardQueue<T> {
        ForwardQueue {
            ready: RankedQueue::new(),
            backing_off: RankedQueue::new(),
            timers: BTreeSet::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ready.len() + self.backing_off.len()
    }

    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    pub(crate) fn push_ready(&mut self, rank: Rank, item: T) {
        self.ready.push(rank, item);
    }

    /// Parks a job until `due`.
    pub(crate) fn defer(&mut self, rank: Rank, item: T, due: Instant) {
        self.timers.insert((due, rank));
        self.backing_off.push(rank, Deferred { due, item });
    }

    /// When the next backing-off job becomes ready, if any is waiting.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.timers.first().map(|(due, _)| *due)
    }

    /// Moves every job whose due time has come into the ready set.
    pub(crate) fn promote_due(&mut self, now: Instant) {
        while let Some(&(due, rank)) = self.timers.first() {
            if due > now {
                break;
            }
            self.timers.pop_first();
            if let Some(deferred) = self.backing_off.remove(&rank) {
                self.ready.push(rank, deferred.item);
            }
        }
    }

    /// Ends every backoff at once (used for the last attempt at shutdown).
    pub(crate) fn promote_all(&mut self) {
        self.timers.clear();
        for (rank, deferred) in self.backing_off.drain() {
            self.ready.push(rank, deferred.item);
        }
    }

    pub(crate) fn pop_ready(&mut self) -> Option<(Rank, T)> {
        self.ready.pop_best()
    }

    /// Removes the worst waiting job, ready or backing off: oldest round, then worst quality.
    pub(crate) fn pop_worst(&mut self) -> Option<(Rank, T)> {
        let take_backing_off = match (self.ready.worst_rank(), self.backing_off.worst_rank()) {
            (Some(ready), Some(backing_off)) => backing_off > ready,
            (None, Some(_)) => true,
            _ => false,
        };
        if !take_backing_off {
            return self.ready.pop_worst();
        }
        let (rank, deferred) = self.backing_off.pop_worst()?;
        self.timers.remove(&(deferred.due, rank));
        Some((rank, deferred.item))
    }

    /// Everything still waiting, ready or not; the queue is left empty.
    pub(crate) fn drain(&mut self) -> Vec<(Rank, T)> {
        self.timers.clear();
        let mut all: Vec<(Rank, T)> = self.ready.drain().collect();
        all.extend(self.backing_off.drain().map(|(rank, d)| (rank, d.item)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn newer_round_then_better_quality_comes_first() {
        let mut queue = RankedQueue::new();
        queue.push(Rank::new(10, 5, 0), "old round, great quality");
        queue.push(Rank::new(11, 900, 1), "new round, poor quality");
        queue.push(Rank::new(11, 100, 2), "new round, good quality");
        queue.push(Rank::new(11, 100, 3), "new round, good quality, later");
        let order: Vec<&str> = std::iter::from_fn(|| queue.pop_best().map(|(_, s)| s)).collect();
        assert_eq!(
            order,
            [
                "new round, good quality",
                "new round, good quality, later",
                "new round, poor quality",
                "old round, great quality",
            ]
        );
    }

    #[test]
    fn worst_is_oldest_round_then_worst_quality() {
        let mut queue = RankedQueue::new();
        queue.push(Rank::new(11, 900, 0), 'a');
        queue.push(Rank::new(10, 5, 1), 'b');
        queue.push(Rank::new(10, 50, 2), 'c');
        assert_eq!(queue.pop_worst().map(|(_, c)| c), Some('c'));
        assert_eq!(queue.pop_worst().map(|(_, c)| c), Some('b'));
        assert_eq!(queue.pop_worst().map(|(_, c)| c), Some('a'));
        assert!(queue.pop_worst().is_none());
    }

    #[test]
    fn deferred_jobs_become_ready_only_when_due() {
        let start = Instant::now();
        let mut queue = ForwardQueue::new();
        queue.defer(Rank::new(5, 1, 0), 'x', start + Duration::from_millis(100));
        queue.defer(Rank::new(5, 2, 1), 'y', start + Duration::from_millis(50));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.next_due(), Some(start + Duration::from_millis(50)));
        queue.promote_due(start + Duration::from_millis(10));
        assert!(!queue.has_ready());
        queue.promote_due(start + Duration::from_millis(60));
        assert_eq!(queue.pop_ready().map(|(_, c)| c), Some('y'));
        assert_eq!(queue.next_due(), Some(start + Duration::from_millis(100)));
        queue.promote_all();
        assert_eq!(queue.pop_ready().map(|(_, c)| c), Some('x'));
        assert_eq!(queue.len(), 0);
        assert_eq!(queue.next_due(), None);
    }

    #[test]
    fn pop_worst_looks_at_ready_and_backing_off_jobs() {
        let due = Instant::now() + Duration::from_secs(60);
        let mut queue = ForwardQueue::new();
        queue.push_ready(Rank::new(7, 10, 0), "ready, new round");
        queue.defer(Rank::new(6, 10, 1), "backing off, old round", due);
        queue.push_ready(Rank::new(6, 5, 2), "ready, old round");
        assert_eq!(
            queue.pop_worst().map(|(_, s)| s),
            Some("backing off, old round")
        );
        // Its timer went with it.
        assert_eq!(queue.next_due(), None);
        assert_eq!(queue.pop_worst().map(|(_, s)| s), Some("ready, old round"));
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.drain().len(), 1);
        assert_eq!(queue.len(), 0);
    }
}
