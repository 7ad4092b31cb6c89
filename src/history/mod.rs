//! History to look back at: each subject's (the farm's, every machine's, every account's)
//! capacity estimate and submissions per hour, and the alert changes, for the last week.
//!
//! [`Hourly`](hourly::Hourly) turns finished rounds and submission counters into
//! [`HourlyRecord`]s; [`HistoryFeed`] runs it on the alerts thread, sends each record to the
//! store (the `hourly` table) and adds it to the [`HistoryBook`] here, with every alert change. The book is
//! what `GET /history` reads (see `query`), so answering never touches the database; it is
//! filled from the database at start-up. Memory is bounded: [`KEPT_HOURS`] points per subject,
//! at most [`MAX_SUBJECTS`] subjects and [`MAX_MARKS`] alert changes. No channels and no thread
//! of its own; it does not decide alerts and does not write the database.

pub mod feed;
pub mod hourly;
pub mod query;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::alerts::Alert;
use crate::events::{HourlyRecord, SubjectKind};
use crate::stats::CAPACITY_NUMERATOR;

pub use feed::HistoryFeed;
pub use hourly::Hourly;
pub use query::answer;

/// The hour every hourly figure (history, per-key counts, the store's hourly rows) is cut at.
pub const MS_PER_HOUR: u64 = 3_600_000;
/// Hours kept in memory per subject: the longest range `/history` answers.
pub const KEPT_HOURS: u64 = 7 * 24;
/// Subjects kept in memory at most; the database keeps the others.
pub const MAX_SUBJECTS: usize = 4_096;
/// Alert changes kept in memory at most (newest kept).
pub const MAX_MARKS: usize = 2_000;

/// One subject's hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourPoint {
    pub hour_ms: u64,
    pub rounds: u64,
    pub best_sum: f64,
    pub submissions: u64,
}

impl HourPoint {
    /// protocol.md: 2^42 / mean(best raw quality per round) TiB, over the rounds of this hour.
    pub fn capacity_tib(&self) -> Option<f64> {
        (self.rounds > 0 && self.best_sum > 0.0)
            .then(|| CAPACITY_NUMERATOR * self.rounds as f64 / self.best_sum)
    }
}

/// The start of the hour holding `at_ms`.
pub fn hour_of(at_ms: u64) -> u64 {
    at_ms - at_ms % MS_PER_HOUR
}

/// The last week of every subject's hours and of the alert changes; shared behind a mutex
/// held for a lookup or one added record.
#[derive(Default)]
pub struct HistoryBook {
    inner: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    series: HashMap<(SubjectKind, Arc<str>), VecDeque<HourPoint>>,
    marks: VecDeque<Alert>,
    full_logged: bool,
}

impl HistoryBook {
    pub fn new() -> HistoryBook {
        HistoryBook::default()
    }

    /// Adds a record to its subject's hour (parts of the same hour add up).
    pub fn add(&self, rec: &HourlyRecord) {
        let mut book = self.inner.lock();
        let subjects = book.series.len();
        let key = (rec.kind, Arc::clone(&rec.subject));
        let series = match book.series.get_mut(&key) {
            Some(series) => series,
            None if subjects < MAX_SUBJECTS => book.series.entry(key).or_default(),
            None => {
                if !std::mem::replace(&mut book.full_logged, true) {
                    log::warn!(
                        "history charts keep at most {MAX_SUBJECTS} subjects; the database keeps the rest"
                    );
                }
                return;
            }
        };
        merge(series, rec);
    }

    pub fn add_alert(&self, alert: &Alert) {
        let mut book = self.inner.lock();
        if book.marks.len() >= MAX_MARKS {
            book.marks.pop_front();
        }
        book.marks.push_back(alert.clone());
    }

    /// Forgets hours and alert changes that no range reaches any more, and subjects left empty.
    pub fn prune(&self, now_ms: u64) {
        let oldest = hour_of(now_ms).saturating_sub(KEPT_HOURS * MS_PER_HOUR);
        let mut book = self.inner.lock();
        book.series.retain(|_, series| {
            while series.front().is_some_and(|p| p.hour_ms < oldest) {
                series.pop_front();
            }
            !series.is_empty()
        });
        while book.marks.front().is_some_and(|a| a.since_ms < oldest) {
            book.marks.pop_front();
        }
    }

    /// Which kind of subject `name` is: the farm, else a machine, else an account.
    pub fn kind_of(&self, name: &str) -> Option<SubjectKind> {
        if name == crate::alerts::board::FARM {
            return Some(SubjectKind::Farm);
        }
        let book = self.inner.lock();
        [SubjectKind::Machine, SubjectKind::Account]
            .into_iter()
            .find(|kind| book.series.contains_key(&(*kind, Arc::from(name))))
    }

    /// The subject's hours that end after `from_ms`, oldest first.
    pub fn points(&self, kind: SubjectKind, name: &str, from_ms: u64) -> Vec<HourPoint> {
        let book = self.inner.lock();
        book.series
            .get(&(kind, Arc::from(name)))
            .map(|series| {
                series
                    .iter()
                    .filter(|p| p.hour_ms + MS_PER_HOUR > from_ms)
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Alert changes since `from_ms` about the subject, oldest first: for the farm, those about
    /// the farm and the upstream; for a machine or account, those naming it.
    pub fn alerts(&self, kind: Option<SubjectKind>, name: &str, from_ms: u64) -> Vec<Alert> {
        let book = self.inner.lock();
        book.marks
            .iter()
            .filter(|a| a.since_ms >= from_ms)
            .filter(|a| match kind {
                Some(SubjectKind::Farm) => &*a.subject == name || !a.kind.about_capacity_holder(),
                _ => &*a.subject == name && a.kind.about_capacity_holder(),
            })
            .cloned()
            .collect()
    }
}

/// Adds `rec` to the point of its hour, keeping the series in hour order and at most
/// [`KEPT_HOURS`] long.
fn merge(series: &mut VecDeque<HourPoint>, rec: &HourlyRecord) {
    let at = series.partition_point(|p| p.hour_ms < rec.hour_ms);
    match series.get_mut(at) {
        Some(point) if point.hour_ms == rec.hour_ms => {
            point.rounds = point.rounds.saturating_add(rec.rounds);
            point.best_sum += rec.best_sum;
            point.submissions = point.submissions.saturating_add(rec.submissions);
        }
        _ => series.insert(
            at,
            HourPoint {
                hour_ms: rec.hour_ms,
                rounds: rec.rounds,
                best_sum: rec.best_sum,
                submissions: rec.submissions,
            },
        ),
    }
    let newest = series.back().map_or(0, |p| p.hour_ms);
    let oldest = newest.saturating_sub(KEPT_HOURS * MS_PER_HOUR);
    while series.front().is_some_and(|p| p.hour_ms < oldest) {
        series.pop_front();
    }
}

#[cfg(test)]
mod tests;
