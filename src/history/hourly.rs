//! The hourly aggregation: from finished rounds and submission counters to [`HourlyRecord`]s.
//!
//! Each finished round adds, for the farm and for every machine and account with a best in it,
//! one round and that best to the subject's open hour. Submissions are the growth of each
//! subject's running count since the previous reading (the counts restored at start-up are the
//! first reading, so what earlier runs counted is not counted again). [`Hourly::take`] hands
//! out what gathered as records for one hour and starts over; records of the same subject and
//! hour add up downstream. Pure: the caller gives the time and the readings.

use std::collections::HashMap;
use std::sync::Arc;

use crate::alerts::board::{FinishedRound, FARM};
use crate::events::{HourlyRecord, SubjectKind};

/// Every subject's running submission count, as the statistics hold it now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmissionCounts {
    pub farm: u64,
    pub machines: Vec<(Arc<str>, u64)>,
    pub accounts: Vec<(Arc<str>, u64)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Gathered {
    rounds: u64,
    best_sum: f64,
    submissions: u64,
}

type Key = (SubjectKind, Arc<str>);

/// What gathered since the last [`Hourly::take`].
#[derive(Debug)]
pub struct Hourly {
    farm: Arc<str>,
    gathered: HashMap<Key, Gathered>,
    /// Each subject's count at the previous reading.
    counted: HashMap<Key, u64>,
}

impl Hourly {
    /// Starts from the counts the statistics hold before anything new is recorded.
    pub fn new(baseline: &SubmissionCounts) -> Hourly {
        let mut hourly = Hourly {
            farm: Arc::from(FARM),
            gathered: HashMap::new(),
            counted: HashMap::new(),
        };
        hourly.counted = hourly.readings(baseline).collect();
        hourly
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.gathered.is_empty()
    }

    /// Adds a finished round's bests.
    pub fn round_finished(&mut self, round: &FinishedRound) {
        let farm = Arc::clone(&self.farm);
        let bests = std::iter::once((SubjectKind::Farm, &farm, round.farm_best))
            .chain(
                round
                    .machines
                    .iter()
                    .map(|(name, best)| (SubjectKind::Machine, name, *best)),
            )
            .chain(
                round
                    .accounts
                    .iter()
                    .map(|(name, best)| (SubjectKind::Account, name, *best)),
            );
        for (kind, name, best) in bests {
            let Some(best) = best else { continue };
            let entry = self.gathered.entry((kind, Arc::clone(name))).or_default();
            entry.rounds = entry.rounds.saturating_add(1);
            entry.best_sum += best as f64;
        }
    }

    /// Adds the submissions made since the previous reading. A subject no longer listed is
    /// forgotten; one whose count went down was forgotten by the statistics and started over.
    pub fn count(&mut self, counts: &SubmissionCounts) {
        let now: HashMap<Key, u64> = self.readings(counts).collect();
        for (key, count) in &now {
            let before = self.counted.get(key).copied().unwrap_or(0);
            let made = if *count >= before {
                *count - before
            } else {
                *count
            };
            if made > 0 {
                let entry = self.gathered.entry(key.clone()).or_default();
                entry.submissions = entry.submissions.saturating_add(made);
            }
        }
        self.counted = now;
    }

    /// What gathered, as records for the hour starting at `hour_ms`; starts over.
    pub fn take(&mut self, hour_ms: u64) -> Vec<HourlyRecord> {
        let mut records: Vec<HourlyRecord> = self
            .gathered
            .drain()
            .map(|((kind, subject), g)| HourlyRecord {
                kind,
                subject,
                hour_ms,
                rounds: g.rounds,
                best_sum: g.best_sum,
                submissions: g.submissions,
            })
            .collect();
        records.sort_by(|a, b| (a.kind, &a.subject).cmp(&(b.kind, &b.subject)));
        records
    }

    fn readings<'a>(
        &'a self,
        counts: &'a SubmissionCounts,
    ) -> impl Iterator<Item = (Key, u64)> + 'a {
        std::iter::once(((SubjectKind::Farm, Arc::clone(&self.farm)), counts.farm))
            .chain(
                counts
                    .machines
                    .iter()
                    .map(|(n, c)| ((SubjectKind::Machine, Arc::clone(n)), *c)),
            )
            .chain(
                counts
                    .accounts
                    .iter()
                    .map(|(n, c)| ((SubjectKind::Account, Arc::clone(n)), *c)),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::MS_PER_HOUR;

    fn name(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn counts(farm: u64, machines: &[(&str, u64)], accounts: &[(&str, u64)]) -> SubmissionCounts {
        SubmissionCounts {
            farm,
            machines: machines.iter().map(|(n, c)| (name(n), *c)).collect(),
            accounts: accounts.iter().map(|(n, c)| (name(n), *c)).collect(),
        }
    }

    fn round(
        farm: Option<u64>,
        machines: &[(&str, Option<u64>)],
        accounts: &[(&str, u64)],
    ) -> FinishedRound {
        FinishedRound {
            height: 1,
            farm_best: farm,
            machines: machines.iter().map(|(n, b)| (name(n), *b)).collect(),
            accounts: accounts.iter().map(|(n, b)| (name(n), Some(*b))).collect(),
        }
    }

    fn find<'a>(records: &'a [HourlyRecord], kind: SubjectKind, subject: &str) -> &'a HourlyRecord {
        records
            .iter()
            .find(|r| r.kind == kind && &*r.subject == subject)
            .unwrap()
    }

    #[test]
    fn rounds_add_one_best_each_to_every_subject_that_had_one() {
        let mut hourly = Hourly::new(&SubmissionCounts::default());
        hourly.round_finished(&round(
            Some(100),
            &[("rig-a", Some(100)), ("rig-b", None)],
            &[("acc", 100)],
        ));
        hourly.round_finished(&round(
            Some(300),
            &[("rig-a", Some(500)), ("rig-b", Some(300))],
            &[("acc", 300)],
        ));
        let records = hourly.take(7 * MS_PER_HOUR);
        assert_eq!(records.len(), 4);
        let farm = find(&records, SubjectKind::Farm, "farm");
        assert_eq!(
            (farm.rounds, farm.best_sum, farm.hour_ms),
            (2, 400.0, 7 * MS_PER_HOUR)
        );
        let a = find(&records, SubjectKind::Machine, "rig-a");
        assert_eq!((a.rounds, a.best_sum), (2, 600.0));
        let b = find(&records, SubjectKind::Machine, "rig-b");
        assert_eq!((b.rounds, b.best_sum), (1, 300.0));
        assert_eq!(find(&records, SubjectKind::Account, "acc").rounds, 2);
        assert!(hourly.is_empty());
        assert!(hourly.take(8 * MS_PER_HOUR).is_empty());
    }

    #[test]
    fn submissions_are_what_the_counts_grew_by_since_the_baseline() {
        let mut hourly = Hourly::new(&counts(50, &[("rig", 40)], &[("acc", 50)]));
        hourly.count(&counts(50, &[("rig", 40)], &[("acc", 50)]));
        assert!(hourly.is_empty(), "restored counts are not new submissions");
        hourly.count(&counts(57, &[("rig", 45), ("new", 2)], &[("acc", 57)]));
        let records = hourly.take(0);
        assert_eq!(find(&records, SubjectKind::Farm, "farm").submissions, 7);
        assert_eq!(find(&records, SubjectKind::Machine, "rig").submissions, 5);
        assert_eq!(find(&records, SubjectKind::Machine, "new").submissions, 2);
        assert_eq!(find(&records, SubjectKind::Account, "acc").submissions, 7);
        assert_eq!(find(&records, SubjectKind::Account, "acc").rounds, 0);
    }

    #[test]
    fn a_forgotten_subject_that_returns_counts_from_zero() {
        let mut hourly = Hourly::new(&counts(10, &[("rig", 10)], &[]));
        hourly.count(&counts(10, &[], &[]));
        hourly.count(&counts(13, &[("rig", 3)], &[]));
        let records = hourly.take(0);
        assert_eq!(find(&records, SubjectKind::Machine, "rig").submissions, 3);
        // A count that went down (forgotten and back between two readings) is all new.
        hourly.count(&counts(14, &[("rig", 1)], &[]));
        assert_eq!(
            find(&hourly.take(0), SubjectKind::Machine, "rig").submissions,
            1
        );
    }
}
