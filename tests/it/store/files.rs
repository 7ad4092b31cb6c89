//! Store files across restarts: retention, migration, history, unopenable paths.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pocx_aggregator::alerts::{Alert, AlertKind, AlertState};
use pocx_aggregator::events::{now_ms, DropReason, HourlyRecord, Outcome, SubjectKind};
use pocx_aggregator::stats::CAPACITY_NUMERATOR;
use pocx_aggregator::store::{
    load_history, load_hourly, StoreOptions, StoreRow, StoreWriter, TallyKind, SCHEMA_VERSION,
};
use rusqlite::Connection;

use super::{count, outcome, round, submission, DAY_MS};
use crate::support::{eventually, TempDir};

/// Starts a writer on `db` keeping 7 days, with maintenance every 20 ms, until `counting` (one
/// number) reaches `expected` (at most 20 s); stops it and returns a connection for checks.
fn reopen_with_week_retention_until(db: &Path, counting: &str, expected: i64) -> Connection {
    let options = StoreOptions {
        retention_days: 7,
        maintenance_interval: Duration::from_millis(20),
        ..StoreOptions::default()
    };
    let writer = StoreWriter::spawn_with(db, options).unwrap();
    let conn = Connection::open(db).unwrap();
    let reached = eventually(Duration::from_secs(20), || {
        count(&conn, counting) == expected
    });
    writer.shutdown();
    assert!(reached, "{counting} stayed at {}", count(&conn, counting));
    conn
}

#[test]
fn retention_deletes_old_rows_in_chunks_and_keeps_recent_ones() {
    let dir = TempDir::new("retention");
    let now = now_ms();
    let old = now - 10 * DAY_MS;
    let writer = StoreWriter::spawn(&dir.join("history.db"), 0, 10_000).unwrap();
    for i in 0..2_500u64 {
        writer.send(StoreRow::Submission(submission(
            i,
            "acc",
            "rig",
            9,
            old + i,
        )));
    }
    writer.send(StoreRow::Round(round(1, old)));
    let o = Outcome::Accepted {
        upstream_poc_time: Some(3),
    };
    writer.send(StoreRow::Outcome(outcome(1, "acc", 9, o.clone(), old)));
    writer.send(StoreRow::Submission(submission(
        9_000, "acc", "rig", 9, now,
    )));
    writer.send(StoreRow::Round(round(9_000, now)));
    writer.send(StoreRow::Outcome(outcome(9_000, "acc", 9, o, now)));
    writer.shutdown();

    let total = "SELECT (SELECT COUNT(*) FROM submissions) + (SELECT COUNT(*) FROM rounds)
                 + (SELECT COUNT(*) FROM outcomes)";
    let conn = reopen_with_week_retention_until(&dir.join("history.db"), total, 3);
    let kept = "SELECT COUNT(*) FROM submissions WHERE height = 9000";
    assert_eq!(count(&conn, kept), 1);
}

/// Hourly rows and alert changes age out like the rest; parts of one hour add up into one row,
/// and what is kept reads back in hour order.
#[test]
fn hourly_rows_add_up_age_out_and_read_back() {
    let dir = TempDir::new("hourly");
    let now = now_ms();
    let hour = now - now % 3_600_000;
    let old = hour - 10 * DAY_MS;
    let writer = StoreWriter::spawn(&dir.join("history.db"), 0, 10_000).unwrap();
    let part = |hour_ms: u64, rounds: u64| {
        StoreRow::Hourly(vec![HourlyRecord {
            kind: SubjectKind::Machine,
            subject: Arc::from("rig"),
            hour_ms,
            rounds,
            best_sum: rounds as f64 * CAPACITY_NUMERATOR / 2.0,
            submissions: rounds * 2,
        }])
    };
    writer.send(part(old, 5));
    writer.send(part(hour, 1));
    writer.send(part(hour, 3));
    let silent = |at_ms: u64| Alert {
        kind: AlertKind::MachineSilent,
        subject: Arc::from("rig"),
        state: AlertState::Firing,
        since_ms: at_ms,
        message: "rig has not polled for 120 s".to_owned(),
    };
    writer.send(StoreRow::Alert(silent(old)));
    writer.send(StoreRow::Alert(silent(now)));
    writer.shutdown();

    let all = load_hourly(&dir.join("history.db"), 0).unwrap();
    assert_eq!(all.hours.len(), 2);
    assert_eq!(all.alerts.len(), 2);
    let total = "SELECT (SELECT COUNT(*) FROM hourly) + (SELECT COUNT(*) FROM alert_changes)";
    let conn = reopen_with_week_retention_until(&dir.join("history.db"), total, 2);
    let row: (i64, i64, f64) = conn
        .query_row(
            "SELECT rounds, submissions, capacity_tib FROM hourly",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    // Four rounds whose bests average 2^41: 2 TiB.
    assert_eq!(row, (4, 8, 2.0));
    let kept = load_hourly(&dir.join("history.db"), 0).unwrap();
    assert_eq!(kept.hours[0].hour_ms, hour);
    assert_eq!(kept.alerts, [silent(now)]);
}

/// The upstream switched to a chain at lower heights (a testnet, then the main chain) with the
/// same file: the old chain's rows still age out, and the new chain's are what history shows.
#[test]
fn a_chain_that_restarts_lower_keeps_history_and_retention_right() {
    let dir = TempDir::new("lower");
    let now = now_ms();
    let old = now - 10 * DAY_MS;
    let writer = StoreWriter::spawn(&dir.join("history.db"), 0, 10_000).unwrap();
    for height in 50_000..50_010u64 {
        writer.send(StoreRow::Round(round(height, old)));
        writer.send(StoreRow::Submission(submission(
            height, "old", "rig", 9, old,
        )));
    }
    for height in 100..103u64 {
        writer.send(StoreRow::Round(round(height, now - 1000)));
        writer.send(StoreRow::Submission(submission(
            height, "new", "rig", 9, now,
        )));
    }
    writer.shutdown();

    let history = load_history(&dir.join("history.db"), now - DAY_MS).unwrap();
    let accounts: Vec<&str> = history.accounts.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(accounts, ["new"]);
    assert_eq!(history.accounts[0].submissions, 3);

    let old_rows = "SELECT (SELECT COUNT(*) FROM submissions WHERE account_id = 'old')
                    + (SELECT COUNT(*) FROM rounds WHERE height >= 50000)";
    let conn = reopen_with_week_retention_until(&dir.join("history.db"), old_rows, 0);
    let kept = "SELECT COUNT(*) FROM submissions WHERE account_id = 'new'";
    assert_eq!(count(&conn, kept), 3);
}

#[test]
fn an_empty_file_is_migrated_to_the_current_schema() {
    let dir = TempDir::new("empty");
    std::fs::write(dir.join("history.db"), b"").unwrap();
    let writer = StoreWriter::spawn(&dir.join("history.db"), 0, 100).unwrap();
    writer.send(StoreRow::Round(round(3, now_ms())));
    writer.shutdown();
    let conn = Connection::open(dir.join("history.db")).unwrap();
    assert_eq!(
        count(&conn, "PRAGMA user_version"),
        i64::from(SCHEMA_VERSION)
    );
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM rounds"), 1);
    assert_eq!(count(&conn, "PRAGMA auto_vacuum"), 2); // incremental
}

/// The version 1 layout as it shipped, written by hand.
const V1_LAYOUT: &str = "
CREATE TABLE rounds (height INTEGER NOT NULL, block_hash TEXT NOT NULL,
    generation_signature TEXT NOT NULL, base_target INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL, PRIMARY KEY (height, block_hash));
CREATE TABLE submissions (height INTEGER NOT NULL, account_id TEXT NOT NULL,
    machine TEXT NOT NULL, best_raw_quality INTEGER NOT NULL, best_poc_time INTEGER NOT NULL,
    submissions INTEGER NOT NULL, first_received_ms INTEGER NOT NULL,
    last_received_ms INTEGER NOT NULL, PRIMARY KEY (height, account_id, machine));
CREATE TABLE outcomes (id INTEGER PRIMARY KEY, height INTEGER NOT NULL,
    account_id TEXT NOT NULL, machine TEXT NOT NULL, raw_quality INTEGER NOT NULL,
    outcome TEXT NOT NULL, reason TEXT, code INTEGER, upstream_poc_time INTEGER,
    attempts INTEGER NOT NULL, latency_ms INTEGER NOT NULL, at_ms INTEGER NOT NULL);
PRAGMA user_version = 1;
";

#[test]
fn a_version_1_file_is_migrated_and_keeps_its_rows() {
    let dir = TempDir::new("v1");
    let now = now_ms();
    {
        let conn = Connection::open(dir.join("history.db")).unwrap();
        conn.execute_batch(V1_LAYOUT).unwrap();
        conn.execute(
            "INSERT INTO submissions VALUES (5, 'acc', 'rig', 700, 7, 3, ?1, ?1)",
            [i64::try_from(now).unwrap()],
        )
        .unwrap();
    }
    let writer = StoreWriter::spawn(&dir.join("history.db"), 0, 100).unwrap();
    writer.send(StoreRow::Submission(submission(
        5,
        "acc",
        "rig",
        600,
        now + 1,
    )));
    writer.shutdown();

    let conn = Connection::open(dir.join("history.db")).unwrap();
    assert_eq!(
        count(&conn, "PRAGMA user_version"),
        i64::from(SCHEMA_VERSION)
    );
    // Version 3: submissions keyed by (height, account, machine) alone, no index by time.
    let index = "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'submissions_by_time'";
    assert_eq!(count(&conn, index), 0);
    let keyed = "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'submissions'
                 AND sql LIKE '%WITHOUT ROWID%'";
    assert_eq!(count(&conn, keyed), 1);
    let kept =
        "SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('rounds_by_time', 'outcomes_by_time')";
    assert_eq!(count(&conn, kept), 2);
    let row: (i64, i64, i64) = conn
        .query_row(
            "SELECT best_raw_quality, submissions, forwarded FROM submissions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    // The old row's 3 submissions (none counted as forwarded) plus the new, better one.
    assert_eq!(row, (600, 4, 1));
    let history = load_history(&dir.join("history.db"), now - DAY_MS).unwrap();
    assert_eq!(history.recent_bests.len(), 1);
    assert_eq!(history.accounts[0].submissions, 4);
}

#[test]
fn a_file_from_a_newer_version_is_refused() {
    let dir = TempDir::new("newer");
    Connection::open(dir.join("history.db"))
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let err = StoreWriter::spawn(&dir.join("history.db"), 0, 100)
        .err()
        .unwrap();
    assert!(err.to_string().contains("99"), "{err}");
    assert!(load_history(&dir.join("history.db"), 0).is_err());
}

#[test]
fn history_after_restart_returns_what_was_written() {
    let dir = TempDir::new("restart");
    let now = now_ms();
    let writer = StoreWriter::spawn(&dir.join("history.db"), 0, 1_000).unwrap();
    for h in 1..=40u64 {
        writer.send(StoreRow::Round(round(h, now - 1_000 * (41 - h))));
        writer.send(StoreRow::Submission(submission(
            h,
            "a1",
            "rig-1",
            100 + h,
            now,
        )));
        writer.send(StoreRow::Submission(submission(
            h,
            "a1",
            "rig-2",
            50 + h,
            now,
        )));
    }
    writer.send(StoreRow::Submission(submission(
        2,
        "a2",
        "rig-1",
        10,
        now - 2 * DAY_MS,
    )));
    let accepted = Outcome::Accepted {
        upstream_poc_time: Some(1),
    };
    writer.send(StoreRow::Outcome(outcome(40, "a1", 90, accepted, now)));
    let rejected = Outcome::Rejected {
        code: -32002,
        reason: "wrong height".into(),
    };
    writer.send(StoreRow::Outcome(outcome(39, "a1", 89, rejected, now)));
    let dropped = Outcome::Dropped(DropReason::RoundExpired);
    writer.send(StoreRow::Outcome(outcome(38, "a1", 88, dropped, now)));
    writer.shutdown();

    let history = load_history(&dir.join("history.db"), now - DAY_MS).unwrap();
    let heights: Vec<u64> = history.rounds.iter().map(|r| r.height).collect();
    assert_eq!(heights, (11..=40).collect::<Vec<_>>());
    assert_eq!(history.rounds[29], round(40, now - 1_000));
    assert_eq!(
        history.rounds_by_hour.iter().map(|h| h.count).sum::<u64>(),
        40
    );
    assert_eq!(history.recent_bests.len(), 60);
    let best = &history.recent_bests[59];
    assert_eq!(
        (best.height, &*best.machine, best.best_raw_quality),
        (40, "rig-2", 90)
    );
    assert_eq!(history.accounts.len(), 1, "a2 is older than a day");
    assert_eq!(history.accounts[0].submissions, 80);
    let rounds: u64 = history.accounts[0]
        .rounds_by_hour
        .iter()
        .map(|h| h.count)
        .sum();
    assert_eq!(rounds, 40);
    assert_eq!(history.machines.len(), 2);
    assert_eq!(history.outcomes.len(), 3);
    let kinds: Vec<TallyKind> = history.outcomes.iter().map(|t| t.kind).collect();
    assert!(kinds.contains(&TallyKind::Rejected { code: -32002 }));
    assert!(kinds.contains(&TallyKind::Dropped(DropReason::RoundExpired)));
    assert!(history
        .outcomes
        .iter()
        .all(|t| t.count == 1 && t.retries == 1));
    assert_eq!(history.accepted, vec![(40, 90)]);
}

#[test]
fn load_history_of_a_missing_file_is_empty() {
    let dir = TempDir::new("missing");
    let history = load_history(&dir.join("history.db"), 0).unwrap();
    assert!(history.rounds.is_empty() && history.recent_bests.is_empty());
}

#[test]
fn unopenable_paths_fail_at_start_naming_the_path() {
    let dir = TempDir::new("unopenable");
    let as_directory = dir.join("a-directory");
    std::fs::create_dir(&as_directory).unwrap();
    let corrupt = dir.join("corrupt.db");
    std::fs::write(&corrupt, "this is plain text, not a database. ".repeat(100)).unwrap();
    let under_a_file = corrupt.join("history.db");
    let mut cases = vec![as_directory, corrupt, under_a_file];

    // A read-only directory only stops a user without override rights (not root).
    let read_only = dir.join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    set_mode(&read_only, 0o555);
    if std::fs::write(read_only.join("probe"), b"").is_err() {
        cases.push(read_only.join("history.db"));
    }
    for path in &cases {
        let err = StoreWriter::spawn(path, 0, 10).err().unwrap();
        let text = err.to_string();
        println!("{text}");
        assert!(text.contains(&*path.to_string_lossy()), "{text}");
        assert_eq!(err.path, *path);
    }
    set_mode(&read_only, 0o755);
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
