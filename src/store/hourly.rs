//! The hourly history and the alert changes: their part of a batch, and reading them back.
//!
//! Hourly records for the same (kind, subject, hour) add up, in memory and in the upsert, so a
//! subject's hour may arrive in as many parts as the alerts thread sends; the row keeps the
//! capacity estimate its sums give. Alert changes are appended. Reading back is bounded in rows
//! and ordered by time. No channels and no thread of its own.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, Connection, Transaction};

use super::{from_sql_int, schema, to_sql_int, StoreError, StoreFailure};
use crate::alerts::{Alert, AlertKind, AlertState};
use crate::events::{HourlyRecord, SubjectKind};
use crate::stats::CAPACITY_NUMERATOR;

/// Upper bound on hourly rows read at start (a week of hours for 5,000 subjects and more).
const MAX_HOURLY_ROWS: i64 = 1_000_000;
/// Upper bound on alert changes read at start.
const MAX_ALERT_ROWS: i64 = 10_000;

type HourKey = (SubjectKind, Arc<str>, u64);

/// Hourly records and alert changes waiting for the next commit.
#[derive(Debug, Default)]
pub(super) struct HistoryBatch {
    hours: HashMap<HourKey, (u64, f64, u64)>,
    alerts: Vec<Alert>,
}

impl HistoryBatch {
    pub(super) fn distinct_rows(&self) -> usize {
        self.hours.len() + self.alerts.len()
    }

    pub(super) fn add_hourly(&mut self, rec: HourlyRecord) {
        let sums = self
            .hours
            .entry((rec.kind, rec.subject, rec.hour_ms))
            .or_insert((0, 0.0, 0));
        sums.0 = sums.0.saturating_add(rec.rounds);
        sums.1 += rec.best_sum;
        sums.2 = sums.2.saturating_add(rec.submissions);
    }

    pub(super) fn add_alert(&mut self, alert: Alert) {
        self.alerts.push(alert);
    }

    pub(super) fn clear(&mut self) {
        self.hours.clear();
        self.alerts.clear();
    }

    pub(super) fn write(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        // capacity_tib is what the summed rounds and bests give; NULL while there is no best.
        let mut upsert = tx.prepare_cached(
            "INSERT INTO hourly (subject_kind, subject, hour_ms, rounds, best_sum, capacity_tib,
                 submissions)
             VALUES (?1, ?2, ?3, ?4, ?5,
                 CASE WHEN ?5 > 0 THEN ?6 * ?4 / ?5 END, ?7)
             ON CONFLICT (subject_kind, subject, hour_ms) DO UPDATE SET
                 rounds = rounds + excluded.rounds,
                 best_sum = best_sum + excluded.best_sum,
                 capacity_tib = CASE WHEN best_sum + excluded.best_sum > 0
                     THEN ?6 * (rounds + excluded.rounds) / (best_sum + excluded.best_sum) END,
                 submissions = submissions + excluded.submissions",
        )?;
        for ((kind, subject, hour_ms), (rounds, best_sum, submissions)) in &self.hours {
            upsert.execute(params![
                kind.as_str(),
                &**subject,
                to_sql_int(*hour_ms),
                to_sql_int(*rounds),
                best_sum,
                CAPACITY_NUMERATOR,
                to_sql_int(*submissions),
            ])?;
        }
        let mut insert_alert = tx.prepare_cached(
            "INSERT INTO alert_changes (at_ms, kind, subject, state, message)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for a in &self.alerts {
            insert_alert.execute(params![
                to_sql_int(a.since_ms),
                a.kind.as_str(),
                &*a.subject,
                a.state.as_str(),
                a.message,
            ])?;
        }
        Ok(())
    }
}

/// The hourly rows and alert changes recorded since `since_ms`, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourlyHistory {
    pub hours: Vec<HourlyRecord>,
    pub alerts: Vec<Alert>,
}

/// Reads the hourly history back. A file that does not exist yet gives an empty history.
pub fn load_hourly(path: &Path, since_ms: u64) -> Result<HourlyHistory, StoreError> {
    let Some((conn, version)) = schema::open_for_reading(path)? else {
        return Ok(HourlyHistory::default());
    };
    // Files not yet migrated hold no hourly history (the writer migrates them on open).
    if version < 4 {
        return Ok(HourlyHistory::default());
    }
    read(&conn, to_sql_int(since_ms)).map_err(|e| StoreError::new(path, StoreFailure::from(e)))
}

fn read(conn: &Connection, since: i64) -> rusqlite::Result<HourlyHistory> {
    let tx = conn.unchecked_transaction()?;
    let mut hours = Vec::new();
    {
        let mut stmt = tx.prepare(
            "SELECT subject_kind, subject, hour_ms, rounds, best_sum, submissions FROM hourly
             WHERE hour_ms >= ?1 ORDER BY hour_ms LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![since, MAX_HOURLY_ROWS])?;
        while let Some(row) = rows.next()? {
            let Some(kind) = SubjectKind::named(&row.get::<_, String>(0)?) else {
                continue;
            };
            hours.push(HourlyRecord {
                kind,
                subject: Arc::from(row.get::<_, String>(1)?),
                hour_ms: from_sql_int(row.get(2)?),
                rounds: from_sql_int(row.get(3)?),
                best_sum: row.get::<_, f64>(4)?.max(0.0),
                submissions: from_sql_int(row.get(5)?),
            });
        }
    }
    let mut alerts = Vec::new();
    {
        let mut stmt = tx.prepare(
            "SELECT at_ms, kind, subject, state, message FROM (
                 SELECT id, at_ms, kind, subject, state, message FROM alert_changes
                 WHERE at_ms >= ?1 ORDER BY at_ms DESC, id DESC LIMIT ?2)
             ORDER BY at_ms, id",
        )?;
        let mut rows = stmt.query(params![since, MAX_ALERT_ROWS])?;
        while let Some(row) = rows.next()? {
            let kind = AlertKind::named(&row.get::<_, String>(1)?);
            let state = AlertState::named(&row.get::<_, String>(3)?);
            let (Some(kind), Some(state)) = (kind, state) else {
                continue;
            };
            alerts.push(Alert {
                kind,
                subject: Arc::from(row.get::<_, String>(2)?),
                state,
                since_ms: from_sql_int(row.get(0)?),
                message: row.get(4)?,
            });
        }
    }
    Ok(HourlyHistory { hours, alerts })
}
