//! Counters of what happened to forwarded submissions: accepted, rejected (by code), dropped
//! (by reason) and retries.
//!
//! Plain counters owned by `Stats` under its mutex; no channels. The number of distinct
//! rejection codes kept is capped because the codes come from the upstream.

use std::collections::BTreeMap;

use crate::events::{DropReason, Outcome};

/// Distinct rejection codes counted separately; the rest are summed as "other".
const MAX_REJECTION_CODES: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ForwardCounters {
    pub accepted: u64,
    pub rejected: u64,
    pub dropped: u64,
    /// Upstream calls beyond the first, over all outcomes.
    pub retries: u64,
    /// Indexed like [`DropReason::ALL`].
    pub dropped_by_reason: [u64; DropReason::ALL.len()],
    pub rejected_by_code: BTreeMap<i64, u64>,
    pub rejected_other_codes: u64,
    /// Outcomes in a row, up to now, that were rejected or dropped for the upstream's sake
    /// (see [`counts_as_failure`]); an acceptance ends the streak.
    pub failed_streak: u64,
}

/// Whether an outcome says forwarding is failing. A superseded submission, a forged claim and
/// a shutdown say nothing about the upstream.
fn counts_as_failure(outcome: &Outcome) -> Option<bool> {
    match outcome {
        Outcome::Accepted { .. } => Some(false),
        Outcome::Rejected { .. } => Some(true),
        Outcome::Dropped(
            DropReason::Superseded | DropReason::FailedVerification | DropReason::Shutdown,
        ) => None,
        Outcome::Dropped(_) => Some(true),
    }
}

/// Position of a reason in [`DropReason::ALL`].
pub(super) fn reason_index(reason: DropReason) -> usize {
    DropReason::ALL
        .iter()
        .position(|r| *r == reason)
        .unwrap_or(0)
}

impl ForwardCounters {
    pub(super) fn record(&mut self, outcome: &Outcome, attempts: u32) {
        match counts_as_failure(outcome) {
            Some(true) => self.failed_streak = self.failed_streak.saturating_add(1),
            Some(false) => self.failed_streak = 0,
            None => {}
        }
        let code = match outcome {
            Outcome::Rejected { code, .. } => Some(*code),
            _ => None,
        };
        let dropped = match outcome {
            Outcome::Dropped(why) => Some(*why),
            _ => None,
        };
        self.add(
            outcome.kind(),
            code,
            dropped,
            1,
            u64::from(attempts.saturating_sub(1)),
        );
    }

    /// Adds `count` outcomes of one kind whose retries add up to `retries`.
    pub(super) fn add(
        &mut self,
        kind: &str,
        rejection_code: Option<i64>,
        drop_reason: Option<DropReason>,
        count: u64,
        retries: u64,
    ) {
        self.retries = self.retries.saturating_add(retries);
        match (kind, rejection_code, drop_reason) {
            ("accepted", _, _) => self.accepted = self.accepted.saturating_add(count),
            ("rejected", code, _) => {
                self.rejected = self.rejected.saturating_add(count);
                let code = code.unwrap_or(0);
                if self.rejected_by_code.len() < MAX_REJECTION_CODES
                    || self.rejected_by_code.contains_key(&code)
                {
                    let n = self.rejected_by_code.entry(code).or_insert(0);
                    *n = n.saturating_add(count);
                } else {
                    self.rejected_other_codes = self.rejected_other_codes.saturating_add(count);
                }
            }
            (_, _, Some(why)) => {
                self.dropped = self.dropped.saturating_add(count);
                if let Some(n) = self.dropped_by_reason.get_mut(reason_index(why)) {
                    *n = n.saturating_add(count);
                }
            }
            _ => {}
        }
    }

    pub(super) fn dropped_for(&self, reason: DropReason) -> u64 {
        self.dropped_by_reason
            .get(reason_index(reason))
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_count_attempts_beyond_the_first() {
        let mut c = ForwardCounters::default();
        c.record(
            &Outcome::Accepted {
                upstream_poc_time: None,
            },
            3,
        );
        c.record(&Outcome::Dropped(DropReason::Superseded), 0);
        c.record(
            &Outcome::Rejected {
                code: -32002,
                reason: "wrong height".into(),
            },
            1,
        );
        assert_eq!((c.accepted, c.rejected, c.dropped, c.retries), (1, 1, 1, 2));
        assert_eq!(c.dropped_for(DropReason::Superseded), 1);
        assert_eq!(c.rejected_by_code.get(&-32002), Some(&1));
    }

    #[test]
    fn rejection_codes_are_capped() {
        let mut c = ForwardCounters::default();
        for code in 0..100 {
            c.record(
                &Outcome::Rejected {
                    code,
                    reason: String::new(),
                },
                1,
            );
        }
        assert_eq!(c.rejected_by_code.len(), MAX_REJECTION_CODES);
        assert_eq!(c.rejected_other_codes, 100 - MAX_REJECTION_CODES as u64);
    }
}
