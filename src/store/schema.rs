//! Opening the history database and bringing its layout up to the version this build writes.
//!
//! The layout is versioned with `PRAGMA user_version` and migrated in code, one transaction per
//! step, so a crash mid-migration leaves the file at the last completed version. Version 1 is the
//! original layout (rounds, one row per (height, account, machine) of submissions, forward
//! outcomes); version 2 adds the `forwarded` count and the time indexes retention and history
//! loading use; version 3 stores submissions by their key alone (see [`V2_TO_V3`]); version 4
//! adds the hourly history of every subject and the alert changes (see [`V3_TO_V4`]). No
//! channels; this module does not write rows or decide what to keep.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{StoreError, StoreFailure};

/// The layout version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 4;

/// How long a statement waits for a lock another connection holds before it fails. Nothing but
/// the writer thread writes, so a long wait would only hide a stuck external tool.
const BUSY_TIMEOUT: Duration = Duration::from_millis(250);

/// The WAL file is truncated back to this size after a checkpoint.
const JOURNAL_SIZE_LIMIT_BYTES: i64 = 8 * 1024 * 1024;

/// Version 1: the original layout.
const V1_LAYOUT: &str = "
CREATE TABLE rounds (
    height               INTEGER NOT NULL,
    block_hash           TEXT    NOT NULL,
    generation_signature TEXT    NOT NULL,
    base_target          INTEGER NOT NULL,
    first_seen_ms        INTEGER NOT NULL,
    PRIMARY KEY (height, block_hash)
);
CREATE TABLE submissions (
    height            INTEGER NOT NULL,
    account_id        TEXT    NOT NULL,
    machine           TEXT    NOT NULL,
    best_raw_quality  INTEGER NOT NULL,
    best_poc_time     INTEGER NOT NULL,
    submissions       INTEGER NOT NULL,
    first_received_ms INTEGER NOT NULL,
    last_received_ms  INTEGER NOT NULL,
    PRIMARY KEY (height, account_id, machine)
);
CREATE TABLE outcomes (
    id                INTEGER PRIMARY KEY,
    height            INTEGER NOT NULL,
    account_id        TEXT    NOT NULL,
    machine           TEXT    NOT NULL,
    raw_quality       INTEGER NOT NULL,
    outcome           TEXT    NOT NULL,
    reason            TEXT,
    code              INTEGER,
    upstream_poc_time INTEGER,
    attempts          INTEGER NOT NULL,
    latency_ms        INTEGER NOT NULL,
    at_ms             INTEGER NOT NULL
);
";

/// Version 2: how many of a row's submissions were forwarded, and the indexes by time that
/// retention and `load_history` scan.
const V1_TO_V2: &str = "
ALTER TABLE submissions ADD COLUMN forwarded INTEGER NOT NULL DEFAULT 0;
CREATE INDEX rounds_by_time      ON rounds (first_seen_ms);
CREATE INDEX submissions_by_time ON submissions (last_received_ms);
CREATE INDEX outcomes_by_time    ON outcomes (at_ms);
";

/// Version 3: submissions in a table keyed by (height, account, machine) alone — no separate
/// rowid table, no index by time — so the upsert of a submission touches one b-tree instead of
/// three, and the table takes about half the space. Retention and history loading find
/// submissions by height, through the rounds' time index.
const V2_TO_V3: &str = "
CREATE TABLE submissions_by_key (
    height            INTEGER NOT NULL,
    account_id        TEXT    NOT NULL,
    machine           TEXT    NOT NULL,
    best_raw_quality  INTEGER NOT NULL,
    best_poc_time     INTEGER NOT NULL,
    submissions       INTEGER NOT NULL,
    first_received_ms INTEGER NOT NULL,
    last_received_ms  INTEGER NOT NULL,
    forwarded         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (height, account_id, machine)
) WITHOUT ROWID;
INSERT INTO submissions_by_key (height, account_id, machine, best_raw_quality, best_poc_time,
    submissions, first_received_ms, last_received_ms, forwarded)
  SELECT height, account_id, machine, best_raw_quality, best_poc_time,
    submissions, first_received_ms, last_received_ms, forwarded FROM submissions;
DROP TABLE submissions;
ALTER TABLE submissions_by_key RENAME TO submissions;
";

/// Version 4: one row per subject (the farm, a machine, an account) and hour, with the sum of
/// its round bests (what the capacity estimate is made from, so rows written in parts add up),
/// the estimate itself for people reading the file, and its submissions; and every alert
/// change, so the history charts can mark them. Both are read and pruned by time.
const V3_TO_V4: &str = "
CREATE TABLE hourly (
    subject_kind TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    hour_ms      INTEGER NOT NULL,
    rounds       INTEGER NOT NULL,
    best_sum     REAL    NOT NULL,
    capacity_tib REAL,
    submissions  INTEGER NOT NULL,
    PRIMARY KEY (subject_kind, subject, hour_ms)
) WITHOUT ROWID;
CREATE INDEX hourly_by_time ON hourly (hour_ms);
CREATE TABLE alert_changes (
    id      INTEGER PRIMARY KEY,
    at_ms   INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    subject TEXT    NOT NULL,
    state   TEXT    NOT NULL,
    message TEXT    NOT NULL
);
CREATE INDEX alert_changes_by_time ON alert_changes (at_ms);
";

/// Migration steps in order: `STEPS[n]` takes a file from version n+1 to n+2.
const STEPS: [&str; 3] = [V1_TO_V2, V2_TO_V3, V3_TO_V4];

/// Opens (creating when absent) the database for writing, checks it is writable, switches it to
/// WAL and migrates it to [`SCHEMA_VERSION`]. Every error names the path.
pub(super) fn open_for_writing(path: &Path) -> Result<Connection, StoreError> {
    let at = |cause: StoreFailure| StoreError::new(path, cause);
    let conn = Connection::open(path).map_err(|e| at(e.into()))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| at(e.into()))?;
    // Reading the header is what reveals a file that is not a database, or a directory.
    let version = user_version(&conn).map_err(|e| at(e.into()))?;
    if conn.is_readonly("main").map_err(|e| at(e.into()))? {
        return Err(at(StoreFailure::ReadOnly));
    }
    if version > SCHEMA_VERSION {
        return Err(at(StoreFailure::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
        }));
    }
    if version == 0 {
        if table_count(&conn).map_err(|e| at(e.into()))? > 0 {
            return Err(at(StoreFailure::ForeignDatabase));
        }
        // Only possible before the first table exists; lets retention hand pages back.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(|e| at(e.into()))?;
    }
    configure_journal(&conn).map_err(|e| at(e.into()))?;
    migrate(&conn, version).map_err(|e| at(e.into()))?;
    // An up-to-date file needs no migration write: prove the write lock can be taken now.
    conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")
        .map_err(|e| at(e.into()))?;
    Ok(conn)
}

/// Opens an existing database read-only for loading history. `None` when there is no file yet.
pub(super) fn open_for_reading(path: &Path) -> Result<Option<(Connection, u32)>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let at = |cause: StoreFailure| StoreError::new(path, cause);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| at(e.into()))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| at(e.into()))?;
    let version = user_version(&conn).map_err(|e| at(e.into()))?;
    if version > SCHEMA_VERSION {
        return Err(at(StoreFailure::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
        }));
    }
    Ok(Some((conn, version)))
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    let raw: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    // A negative or huge value is not one this program wrote; treat it as "newer".
    Ok(u32::try_from(raw).unwrap_or(u32::MAX))
}

fn table_count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table'",
        [],
        |row| row.get(0),
    )
}

/// WAL with synchronous=NORMAL: a commit is one sequential append, and a power cut or `kill -9`
/// loses at most the transactions not yet checkpointed to disk, never consistency.
fn configure_journal(conn: &Connection) -> rusqlite::Result<()> {
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        log::warn!("history database: journal mode is {mode}, not wal; writes will be slower");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES)?;
    Ok(())
}

/// Brings a file at `from` up to [`SCHEMA_VERSION`], one committed step at a time.
fn migrate(conn: &Connection, from: u32) -> rusqlite::Result<()> {
    let mut version = from;
    while version < SCHEMA_VERSION {
        let step = if version == 0 {
            V1_LAYOUT
        } else {
            let index = usize::try_from(version - 1).unwrap_or(usize::MAX);
            match STEPS.get(index) {
                Some(step) => *step,
                None => break,
            }
        };
        let next = version + 1;
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", next)?;
        tx.commit()?;
        // A new file is laid out step by step too; only an existing file is "migrated".
        if from > 0 {
            log::info!("history database migrated from schema version {version} to {next}");
        }
        version = next;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_has_a_step() {
        assert_eq!(STEPS.len() + 1, usize::try_from(SCHEMA_VERSION).unwrap());
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |row| row.get(0)).unwrap()
    }

    #[test]
    fn fresh_memory_database_migrates_to_current_version() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, 0).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        let forwarded =
            "SELECT COUNT(*) FROM pragma_table_info('submissions') WHERE name = 'forwarded'";
        assert_eq!(count(&conn, forwarded), 1);
        let keyed_only = "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'submissions'
                          AND sql LIKE '%WITHOUT ROWID%'";
        assert_eq!(count(&conn, keyed_only), 1);
        let history =
            "SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('hourly', 'alert_changes')";
        assert_eq!(count(&conn, history), 2);
    }

    #[test]
    fn a_version_3_file_gains_the_history_tables_and_keeps_its_rows() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, 0).unwrap();
        conn.execute_batch(
            "DROP TABLE hourly; DROP TABLE alert_changes; PRAGMA user_version = 3;
             INSERT INTO rounds VALUES (7, 'h', 'g', 1, 1000);",
        )
        .unwrap();
        migrate(&conn, 3).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM rounds"), 1);
        conn.execute(
            "INSERT INTO hourly VALUES ('farm', 'farm', 0, 1, 2.0, NULL, 3)",
            [],
        )
        .unwrap();
    }
}
