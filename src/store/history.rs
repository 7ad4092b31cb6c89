//! Reading the recent past back at start-up, in the shape statistics rebuild themselves from.
//!
//! One read-only connection, aggregate queries only: the result grows with accounts, machines
//! and the 30-round window, not with the number of submissions stored. No channels, no thread;
//! it never writes (a missing file is simply an empty history).

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, Connection};

use super::{from_sql_int, schema, to_sql_int, StoreError, StoreFailure};
use crate::events::{DropReason, MachineId, RoundInfo};
use crate::history::MS_PER_HOUR;

/// Rounds whose per-key bests are loaded (the capacity window).
pub const HISTORY_ROUNDS: usize = 30;

/// Upper bound on per-(round, key) rows loaded, whatever the file holds.
const MAX_BEST_ROWS: i64 = 400_000;

/// Upper bound on distinct accounts or machines loaded.
const MAX_KEYS: i64 = 20_000;

/// What the store remembers of the last day, for `Stats::restore`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// The newest rounds (up to [`HISTORY_ROUNDS`]), oldest first.
    pub rounds: Vec<RoundInfo>,
    /// Rounds first seen per hour, over the whole period.
    pub rounds_by_hour: Vec<HourCount>,
    /// Best per (height, account, machine) for the newest [`HISTORY_ROUNDS`] heights, by height.
    pub recent_bests: Vec<KeyRoundBest>,
    pub accounts: Vec<KeyActivity>,
    pub machines: Vec<KeyActivity>,
    pub outcomes: Vec<OutcomeTally>,
    /// Lowest accepted raw quality per height, for the newest heights.
    pub accepted: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourCount {
    /// Start of the hour, ms since the epoch.
    pub hour_start_ms: u64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRoundBest {
    pub height: u64,
    pub account_id: String,
    pub machine: MachineId,
    pub best_raw_quality: u64,
    pub best_poc_time: u64,
    pub submissions: u64,
    pub first_received_ms: u64,
    pub last_received_ms: u64,
}

/// One account's or machine's activity over the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyActivity {
    pub key: String,
    pub submissions: u64,
    pub last_seen_ms: u64,
    /// Rounds it submitted in, counted in the hour of its first submission to each.
    pub rounds_by_hour: Vec<HourCount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TallyKind {
    Accepted,
    Rejected { code: i64 },
    Dropped(DropReason),
}

/// How many outcomes of one kind an (account, machine) had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeTally {
    pub account_id: String,
    pub machine: MachineId,
    pub kind: TallyKind,
    pub count: u64,
    /// Upstream calls made for them beyond the first of each.
    pub retries: u64,
}

/// Loads what was recorded since `since_ms`. A file that does not exist yet gives an empty
/// history; one this build cannot read gives an error naming the path.
pub fn load_history(path: &Path, since_ms: u64) -> Result<History, StoreError> {
    let Some((conn, version)) = schema::open_for_reading(path)? else {
        return Ok(History::default());
    };
    if version == 0 {
        return Ok(History::default());
    }
    read_all(&conn, to_sql_int(since_ms)).map_err(|e| StoreError::new(path, StoreFailure::from(e)))
}

fn read_all(conn: &Connection, since: i64) -> rusqlite::Result<History> {
    // One read transaction so every query sees the same moment; dropping it ends it.
    let tx = conn.unchecked_transaction()?;
    Ok(History {
        rounds: recent_rounds(&tx, since)?,
        rounds_by_hour: rounds_by_hour(&tx, since)?,
        recent_bests: recent_bests(&tx, since)?,
        accounts: activity(&tx, since, "account_id")?,
        machines: activity(&tx, since, "machine")?,
        outcomes: outcome_tallies(&tx, since)?,
        accepted: accepted_bests(&tx, since)?,
    })
}

fn u(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<u64> {
    Ok(from_sql_int(row.get::<_, Option<i64>>(index)?.unwrap_or(0)))
}

fn recent_rounds(conn: &Connection, since: i64) -> rusqlite::Result<Vec<RoundInfo>> {
    let mut stmt = conn.prepare(
        "SELECT height, block_hash, generation_signature, base_target, first_seen_ms
         FROM rounds WHERE first_seen_ms >= ?1
         ORDER BY first_seen_ms DESC, height DESC LIMIT ?2",
    )?;
    let limit = i64::try_from(HISTORY_ROUNDS).unwrap_or(i64::MAX);
    let mut rounds = stmt
        .query_map(params![since, limit], |row| {
            Ok(RoundInfo {
                height: u(row, 0)?,
                block_hash: row.get(1)?,
                generation_signature: row.get(2)?,
                base_target: u(row, 3)?,
                first_seen_ms: u(row, 4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rounds.reverse();
    Ok(rounds)
}

fn rounds_by_hour(conn: &Connection, since: i64) -> rusqlite::Result<Vec<HourCount>> {
    let mut stmt = conn.prepare(
        "SELECT first_seen_ms / ?2, COUNT(*) FROM rounds WHERE first_seen_ms >= ?1
         GROUP BY 1 ORDER BY 1",
    )?;
    let hours = stmt
        .query_map(params![since, MS_PER_HOUR], hour_count)?
        .collect();
    hours
}

fn hour_count(row: &rusqlite::Row<'_>) -> rusqlite::Result<HourCount> {
    Ok(HourCount {
        hour_start_ms: u(row, 0)?.saturating_mul(MS_PER_HOUR),
        count: u(row, 1)?,
    })
}

fn recent_bests(conn: &Connection, since: i64) -> rusqlite::Result<Vec<KeyRoundBest>> {
    let limit = i64::try_from(HISTORY_ROUNDS).unwrap_or(i64::MAX);
    let lowest_height: Option<i64> = conn.query_row(
        "SELECT MIN(height) FROM (SELECT DISTINCT height FROM submissions
         WHERE last_received_ms >= ?1 ORDER BY height DESC LIMIT ?2)",
        params![since, limit],
        |row| row.get(0),
    )?;
    let Some(lowest_height) = lowest_height else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare(
        "SELECT height, account_id, machine, best_raw_quality, best_poc_time, submissions,
                first_received_ms, last_received_ms
         FROM submissions WHERE height >= ?1 AND last_received_ms >= ?2
         ORDER BY height, account_id, machine LIMIT ?3",
    )?;
    let bests = stmt
        .query_map(params![lowest_height, since, MAX_BEST_ROWS], |row| {
            Ok(KeyRoundBest {
                height: u(row, 0)?,
                account_id: row.get(1)?,
                machine: MachineId::from(row.get::<_, String>(2)?),
                best_raw_quality: u(row, 3)?,
                best_poc_time: u(row, 4)?,
                submissions: u(row, 5)?,
                first_received_ms: u(row, 6)?,
                last_received_ms: u(row, 7)?,
            })
        })?
        .collect();
    bests
}

/// The lowest height a submission written since `since` can have: that of the round in
/// progress then, one below the lowest round seen since (0 when none is recorded: everything is
/// read). Submissions have no index by time (their table is keyed by height first), so this
/// bound is what keeps a read of the last day from scanning all of them. Taking the lowest, not
/// the latest, keeps a chain that restarted at lower heights in view.
fn lowest_height_since(conn: &Connection, since: i64) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COALESCE((SELECT MIN(height) FROM rounds WHERE first_seen_ms >= ?1) - 1, 0)",
        params![since],
        |row| row.get(0),
    )
}

/// Per account (or machine): submissions, last seen, and rounds submitted in by hour.
fn activity(conn: &Connection, since: i64, key_column: &str) -> rusqlite::Result<Vec<KeyActivity>> {
    // `key_column` is one of two constants, never input. The inner query makes one row per
    // (key, height) so a round reached through several machines counts once.
    let sql = format!(
        "SELECT key, hour, COUNT(*), SUM(subs), MAX(last) FROM (
             SELECT {key_column} AS key, MIN(first_received_ms) / ?2 AS hour,
                    SUM(submissions) AS subs, MAX(last_received_ms) AS last
             FROM submissions WHERE height >= ?4 AND last_received_ms >= ?1 AND {key_column} IN (
                 SELECT {key_column} FROM submissions WHERE height >= ?4 AND last_received_ms >= ?1
                 GROUP BY {key_column} ORDER BY MAX(last_received_ms) DESC LIMIT ?3)
             GROUP BY {key_column}, height)
         GROUP BY key, hour ORDER BY key, hour"
    );
    let mut stmt = conn.prepare(&sql)?;
    let lowest = lowest_height_since(conn, since)?;
    let mut rows = stmt.query(params![since, MS_PER_HOUR, MAX_KEYS, lowest])?;
    let mut by_key: HashMap<String, KeyActivity> = HashMap::new();
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        let hour = HourCount {
            hour_start_ms: u(row, 1)?.saturating_mul(MS_PER_HOUR),
            count: u(row, 2)?,
        };
        let entry = by_key.entry(key.clone()).or_insert_with(|| KeyActivity {
            key,
            submissions: 0,
            last_seen_ms: 0,
            rounds_by_hour: Vec::new(),
        });
        entry.rounds_by_hour.push(hour);
        entry.submissions = entry.submissions.saturating_add(u(row, 3)?);
        entry.last_seen_ms = entry.last_seen_ms.max(u(row, 4)?);
    }
    let mut keys: Vec<KeyActivity> = by_key.into_values().collect();
    keys.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(keys)
}

fn outcome_tallies(conn: &Connection, since: i64) -> rusqlite::Result<Vec<OutcomeTally>> {
    let mut stmt = conn.prepare(
        "SELECT account_id, machine, outcome,
                CASE WHEN outcome = 'dropped' THEN reason END,
                CASE WHEN outcome = 'rejected' THEN code END,
                COUNT(*), SUM(MAX(attempts - 1, 0))
         FROM outcomes WHERE at_ms >= ?1
         GROUP BY 1, 2, 3, 4, 5 LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![since, MAX_BEST_ROWS])?;
    let mut tallies = Vec::new();
    while let Some(row) = rows.next()? {
        let outcome: String = row.get(2)?;
        let kind = match outcome.as_str() {
            "accepted" => TallyKind::Accepted,
            "rejected" => TallyKind::Rejected {
                code: row.get::<_, Option<i64>>(4)?.unwrap_or(0),
            },
            "dropped" => {
                let reason: Option<String> = row.get(3)?;
                match reason.as_deref().and_then(drop_reason_named) {
                    Some(why) => TallyKind::Dropped(why),
                    None => continue,
                }
            }
            _ => continue,
        };
        tallies.push(OutcomeTally {
            account_id: row.get(0)?,
            machine: MachineId::from(row.get::<_, String>(1)?),
            kind,
            count: u(row, 5)?,
            retries: u(row, 6)?,
        });
    }
    Ok(tallies)
}

fn accepted_bests(conn: &Connection, since: i64) -> rusqlite::Result<Vec<(u64, u64)>> {
    let mut stmt = conn.prepare(
        "SELECT height, MIN(raw_quality) FROM outcomes
         WHERE outcome = 'accepted' AND at_ms >= ?1
         GROUP BY height ORDER BY height DESC LIMIT ?2",
    )?;
    let limit = i64::try_from(HISTORY_ROUNDS * 2).unwrap_or(i64::MAX);
    let accepted = stmt
        .query_map(params![since, limit], |row| Ok((u(row, 0)?, u(row, 1)?)))?
        .collect();
    accepted
}

fn drop_reason_named(name: &str) -> Option<DropReason> {
    DropReason::ALL.into_iter().find(|r| r.as_str() == name)
}
