//! Keeping the database file bounded: deleting rows past the retention period in small chunks,
//! handing freed pages back, and checkpointing the WAL.
//!
//! Called by the writer thread between batches only, a chunk per transaction, so a large backlog
//! of old rows never holds up new submissions. No channels and no thread of its own; it does not
//! decide when to run (the writer does).

use rusqlite::{params, Connection};

use super::to_sql_int;

/// Rows deleted per transaction: small enough that a chunk takes milliseconds.
pub(super) const CHUNK_ROWS: i64 = 1_000;

/// Free pages handed back to the file system per maintenance pass.
const VACUUM_PAGES_PER_PASS: i64 = 2_000;

const MS_PER_DAY: u64 = 86_400_000;

/// The oldest time kept, or `None` when everything is kept.
pub(super) fn cutoff_ms(retention_days: u32, now_ms: u64) -> Option<u64> {
    if retention_days == 0 {
        return None;
    }
    Some(now_ms.saturating_sub(u64::from(retention_days).saturating_mul(MS_PER_DAY)))
}

/// What retention deletes, a chunk per statement, in this order: submissions first, while the
/// rounds that date them are still there. Submissions are keyed by height and have no time
/// index, so they are found by height, two ways: below the lowest round seen since the cutoff
/// (all heights when there is none), walking the key from its low end; and at the heights of
/// rounds first seen before the cutoff (through the rounds' time index) — which also finds old
/// rows above today's heights, as after a chain that restarted lower. Outcomes and rounds have
/// rowids and a time index; so do alert changes, and hourly rows are found through their time
/// index (an hour goes once it began before the cutoff). `?1` is the cutoff, `?2` the chunk size.
const DELETE_CHUNK: [&str; 6] = [
    "DELETE FROM submissions WHERE (height, account_id, machine) IN (
         SELECT height, account_id, machine FROM submissions
         WHERE height < COALESCE(
                 (SELECT MIN(height) FROM rounds WHERE first_seen_ms >= ?1),
                 9223372036854775807)
           AND last_received_ms < ?1
         LIMIT ?2)",
    "DELETE FROM submissions WHERE (height, account_id, machine) IN (
         SELECT s.height, s.account_id, s.machine
         FROM rounds AS r JOIN submissions AS s ON s.height = r.height
         WHERE r.first_seen_ms < ?1 AND s.last_received_ms < ?1
         LIMIT ?2)",
    "DELETE FROM outcomes WHERE rowid IN
         (SELECT rowid FROM outcomes WHERE at_ms < ?1 LIMIT ?2)",
    "DELETE FROM rounds WHERE rowid IN
         (SELECT rowid FROM rounds WHERE first_seen_ms < ?1 LIMIT ?2)",
    "DELETE FROM hourly WHERE (subject_kind, subject, hour_ms) IN (
         SELECT subject_kind, subject, hour_ms FROM hourly WHERE hour_ms < ?1 LIMIT ?2)",
    "DELETE FROM alert_changes WHERE id IN
         (SELECT id FROM alert_changes WHERE at_ms < ?1 LIMIT ?2)",
];

/// Deletes at most one chunk of rows older than `cutoff_ms`, with the first statement of
/// [`DELETE_CHUNK`] that finds any. Returns how many rows went; 0 means nothing is left.
pub(super) fn delete_one_chunk(conn: &Connection, cutoff_ms: u64) -> rusqlite::Result<usize> {
    for sql in DELETE_CHUNK {
        let deleted = conn
            .prepare_cached(sql)?
            .execute(params![to_sql_int(cutoff_ms), CHUNK_ROWS])?;
        if deleted > 0 {
            return Ok(deleted);
        }
    }
    Ok(0)
}

/// Returns some free pages to the file system and moves the WAL into the main file.
pub(super) fn compact(conn: &Connection) -> rusqlite::Result<()> {
    // incremental_vacuum returns a row per step; reading them is what runs it.
    let mut vacuum = conn.prepare(&format!(
        "PRAGMA incremental_vacuum({VACUUM_PAGES_PER_PASS})"
    ))?;
    let mut rows = vacuum.query([])?;
    while rows.next()?.is_some() {}
    drop(rows);
    // PASSIVE never waits for readers; journal_size_limit then trims the WAL file.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_days_keeps_everything() {
        assert_eq!(cutoff_ms(0, 10 * MS_PER_DAY), None);
    }

    #[test]
    fn cutoff_is_days_before_now_and_never_underflows() {
        assert_eq!(cutoff_ms(7, 10 * MS_PER_DAY), Some(3 * MS_PER_DAY));
        assert_eq!(cutoff_ms(7, 1), Some(0));
    }
}
