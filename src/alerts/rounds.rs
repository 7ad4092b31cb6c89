//! Per-machine memory of finished rounds: in which of the last 64 it submitted, and its
//! capacity test. The farm has a capacity test of its own.
//!
//! Fed one finished round at a time by the board; pure, no clock, no locking.

use super::capacity::{CapacityTest, Verdict};

/// Rounds before an idle streak that say whether a machine used to submit.
pub const HABIT_ROUNDS: u32 = 20;
/// Rounds of that habit that must be known before idleness counts.
pub const HABIT_MIN_KNOWN: u32 = 5;

/// What the board remembers of one machine across rounds.
#[derive(Debug, Clone, Default)]
pub struct MachineRounds {
    /// Bit 0 is the newest finished round; 1 = the machine submitted in it.
    submitted: u64,
    /// Rounds recorded (up to 64).
    known: u32,
    pub capacity: CapacityTest,
}

impl MachineRounds {
    /// One finished round: the machine's best in it, if it submitted.
    pub fn record(&mut self, best: Option<u64>) -> Verdict {
        self.submitted = (self.submitted << 1) | u64::from(best.is_some());
        self.known = (self.known + 1).min(u64::BITS);
        match best {
            Some(raw_quality) => self.capacity.observe(raw_quality),
            None => Verdict::Unchanged,
        }
    }

    /// Finished rounds in a row, newest first, without a submission.
    pub fn idle_rounds(&self) -> u32 {
        self.submitted.trailing_zeros().min(self.known)
    }

    /// Whether, in the rounds before its current idle streak, the machine submitted in most.
    pub fn used_to_submit(&self) -> bool {
        let idle = self.idle_rounds();
        let known = self.known.saturating_sub(idle).min(HABIT_ROUNDS);
        if known < HABIT_MIN_KNOWN {
            return false;
        }
        let before = self.submitted.checked_shr(idle).unwrap_or(0);
        let window = before & ((1u64 << known) - 1);
        window.count_ones() * 2 > known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idleness_counts_rounds_since_the_last_submission() {
        let mut m = MachineRounds::default();
        for _ in 0..10 {
            m.record(Some(5));
        }
        assert_eq!(m.idle_rounds(), 0);
        for _ in 0..3 {
            m.record(None);
        }
        assert_eq!(m.idle_rounds(), 3);
        assert!(m.used_to_submit());
        m.record(Some(5));
        assert_eq!(m.idle_rounds(), 0);
    }

    #[test]
    fn a_machine_that_rarely_submits_did_not_use_to() {
        let mut m = MachineRounds::default();
        for n in 0..30u32 {
            m.record(n.is_multiple_of(4).then_some(5));
        }
        for _ in 0..10 {
            m.record(None);
        }
        assert!(!m.used_to_submit());
        let mut fresh = MachineRounds::default();
        for _ in 0..3 {
            fresh.record(Some(1));
        }
        fresh.record(None);
        assert!(!fresh.used_to_submit(), "three rounds are no habit");
    }

    #[test]
    fn a_machine_idle_for_all_it_remembers_is_idle_for_that_long() {
        let mut m = MachineRounds::default();
        for _ in 0..100 {
            m.record(None);
        }
        assert_eq!(m.idle_rounds(), 64);
        assert!(!m.used_to_submit());
    }
}
