//! One batch of rows on its way into the database, coalesced in memory first.
//!
//! Submissions for the same (height, account, machine) collapse into one entry holding the best
//! quality, the count and the first/last arrival, which the commit upserts; rounds are written
//! once; outcomes are appended; hourly records add up and alert changes are appended (see
//! `hourly`). A batch that fails to commit stays here, keeps absorbing new rows
//! and is committed whole on the next attempt. No channels and no threads of its own.

use std::collections::HashMap;

use rusqlite::{params, Connection, TransactionBehavior};

use super::hourly::HistoryBatch;
use super::to_sql_int;
use crate::alerts::Alert;
use crate::events::{HourlyRecord, MachineId, Outcome, OutcomeRecord, RoundInfo, SubmissionRecord};

/// Ordered as the table's primary key: height, then account, then machine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct SubmissionKey {
    height: u64,
    account_id: String,
    machine: MachineId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SubmissionTotals {
    best_raw_quality: u64,
    best_poc_time: u64,
    submissions: u64,
    forwarded: u64,
    first_received_ms: u64,
    last_received_ms: u64,
}

impl SubmissionTotals {
    fn of(rec: &SubmissionRecord) -> SubmissionTotals {
        SubmissionTotals {
            best_raw_quality: rec.raw_quality,
            best_poc_time: rec.poc_time,
            submissions: 1,
            forwarded: u64::from(rec.forwarded),
            first_received_ms: rec.received_ms,
            last_received_ms: rec.received_ms,
        }
    }

    /// Folds in totals for the same key (later or earlier arrivals alike).
    fn merge(&mut self, other: SubmissionTotals) {
        if other.best_raw_quality < self.best_raw_quality {
            self.best_raw_quality = other.best_raw_quality;
            self.best_poc_time = other.best_poc_time;
        }
        self.submissions = self.submissions.saturating_add(other.submissions);
        self.forwarded = self.forwarded.saturating_add(other.forwarded);
        self.first_received_ms = self.first_received_ms.min(other.first_received_ms);
        self.last_received_ms = self.last_received_ms.max(other.last_received_ms);
    }
}

/// Rows received since the last successful commit.
#[derive(Debug, Default)]
pub(super) struct PendingBatch {
    rounds: Vec<RoundInfo>,
    submissions: HashMap<SubmissionKey, SubmissionTotals>,
    outcomes: Vec<OutcomeRecord>,
    history: HistoryBatch,
    /// Rows as sent, before coalescing.
    rows: u64,
}

impl PendingBatch {
    pub(super) fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Rows as sent since the last commit.
    pub(super) fn rows(&self) -> u64 {
        self.rows
    }

    /// Distinct rows the commit will write: what memory use grows with.
    pub(super) fn distinct_rows(&self) -> usize {
        self.rounds.len()
            + self.submissions.len()
            + self.outcomes.len()
            + self.history.distinct_rows()
    }

    pub(super) fn add_round(&mut self, round: RoundInfo) {
        self.rows += 1;
        let known = self
            .rounds
            .iter()
            .any(|r| r.height == round.height && r.block_hash == round.block_hash);
        if !known {
            self.rounds.push(round);
        }
    }

    pub(super) fn add_submission(&mut self, rec: SubmissionRecord) {
        self.rows += 1;
        let totals = SubmissionTotals::of(&rec);
        let key = SubmissionKey {
            height: rec.height,
            account_id: rec.account_id,
            machine: rec.machine,
        };
        self.submissions
            .entry(key)
            .and_modify(|existing| existing.merge(totals))
            .or_insert(totals);
    }

    pub(super) fn add_outcome(&mut self, rec: OutcomeRecord) {
        self.rows += 1;
        self.outcomes.push(rec);
    }

    pub(super) fn add_hourly(&mut self, rec: HourlyRecord) {
        self.rows += 1;
        self.history.add_hourly(rec);
    }

    pub(super) fn add_alert(&mut self, alert: Alert) {
        self.rows += 1;
        self.history.add_alert(alert);
    }

    /// Forgets everything (after a commit), keeping a modest allocation for the next batch.
    pub(super) fn clear(&mut self, keep_capacity: usize) {
        self.rounds.clear();
        self.submissions.clear();
        self.submissions.shrink_to(keep_capacity);
        self.outcomes.clear();
        self.outcomes.shrink_to(keep_capacity);
        self.history.clear();
        self.rows = 0;
    }

    /// Writes the whole batch in one transaction; on error nothing of it is written.
    pub(super) fn commit(&self, conn: &mut Connection) -> rusqlite::Result<()> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert_round = tx.prepare_cached(
                "INSERT OR IGNORE INTO rounds
                 (height, block_hash, generation_signature, base_target, first_seen_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for r in &self.rounds {
                insert_round.execute(params![
                    to_sql_int(r.height),
                    r.block_hash,
                    r.generation_signature,
                    to_sql_int(r.base_target),
                    to_sql_int(r.first_seen_ms),
                ])?;
            }
            // Every right-hand side below reads the row as it was, so the order does not matter.
            let mut upsert_submission = tx.prepare_cached(
                "INSERT INTO submissions (height, account_id, machine, best_raw_quality,
                     best_poc_time, submissions, forwarded, first_received_ms, last_received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (height, account_id, machine) DO UPDATE SET
                     best_poc_time = CASE WHEN excluded.best_raw_quality < best_raw_quality
                                          THEN excluded.best_poc_time ELSE best_poc_time END,
                     best_raw_quality = MIN(best_raw_quality, excluded.best_raw_quality),
                     submissions = submissions + excluded.submissions,
                     forwarded = forwarded + excluded.forwarded,
                     first_received_ms = MIN(first_received_ms, excluded.first_received_ms),
                     last_received_ms = MAX(last_received_ms, excluded.last_received_ms)",
            )?;
            // In key order, each upsert lands next to the last one in the table's B-tree.
            let mut in_key_order: Vec<_> = self.submissions.iter().collect();
            in_key_order.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (key, t) in in_key_order {
                upsert_submission.execute(params![
                    to_sql_int(key.height),
                    key.account_id,
                    &*key.machine,
                    to_sql_int(t.best_raw_quality),
                    to_sql_int(t.best_poc_time),
                    to_sql_int(t.submissions),
                    to_sql_int(t.forwarded),
                    to_sql_int(t.first_received_ms),
                    to_sql_int(t.last_received_ms),
                ])?;
            }
            let mut insert_outcome = tx.prepare_cached(
                "INSERT INTO outcomes (height, account_id, machine, raw_quality, outcome, reason,
                     code, upstream_poc_time, attempts, latency_ms, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for o in &self.outcomes {
                let (reason, code, upstream_poc_time) = match &o.outcome {
                    Outcome::Accepted { upstream_poc_time } => {
                        (None, None, upstream_poc_time.map(to_sql_int))
                    }
                    Outcome::Rejected { code, reason } => {
                        (Some(reason.as_str()), Some(*code), None)
                    }
                    Outcome::Dropped(why) => (Some(why.as_str()), None, None),
                };
                insert_outcome.execute(params![
                    to_sql_int(o.height),
                    o.account_id,
                    &*o.machine,
                    to_sql_int(o.raw_quality),
                    o.outcome.kind(),
                    reason,
                    code,
                    upstream_poc_time,
                    i64::from(o.attempts),
                    to_sql_int(o.latency_ms),
                    to_sql_int(o.at_ms),
                ])?;
            }
            self.history.write(&tx)?;
        }
        tx.commit()
    }
}
