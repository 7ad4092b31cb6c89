//! `kill -9` in the middle of a burst: the file stays intact and only the last batch is lost.
//!
//! The writer runs in a copy of this test binary (re-executed with a test filter and an
//! environment variable naming the database), so no extra binary is needed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pocx_aggregator::store::{load_history, StoreOptions, StoreRow, StoreWriter};
use rusqlite::Connection;

use super::submission;
use crate::support::{eventually, TempDir};

/// Set when this test binary is re-executed as the writer that gets killed.
const WRITER_CHILD_ENV: &str = "POCX_STORE_WRITER_CHILD_DB";

/// Not a test on its own: the body the kill -9 test runs in a child copy of this binary.
#[test]
fn writer_child() {
    let Ok(path) = std::env::var(WRITER_CHILD_ENV) else {
        return;
    };
    let options = StoreOptions {
        capacity: 20_000,
        ..StoreOptions::default()
    };
    let writer = StoreWriter::spawn_with(Path::new(&path), options).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut height = 0u64;
    while Instant::now() < deadline {
        for _ in 0..1_000 {
            height += 1;
            writer.send(StoreRow::Submission(submission(
                height, "acc", "rig", height, height,
            )));
        }
        // Never let the queue overflow: a dropped row would break the contiguity check.
        while writer.health().queued > 5_000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn kill_9_mid_burst_leaves_an_intact_file_missing_only_the_last_batch() {
    if std::env::var(WRITER_CHILD_ENV).is_ok() {
        return;
    }
    let dir = TempDir::new("kill9");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "store::kill9::writer_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_CHILD_ENV, dir.join("history.db"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let committed = || -> i64 {
        let Ok(conn) = Connection::open(dir.join("history.db")) else {
            return 0;
        };
        conn.query_row("SELECT COUNT(*) FROM submissions", [], |r| r.get(0))
            .unwrap_or(0)
    };
    let mut seen = 0;
    let reached = eventually(Duration::from_secs(60), || {
        seen = committed();
        seen >= 30_000
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(reached, "the child committed only {seen} rows");

    // Reading history straight after the crash, with the WAL not yet folded back, works.
    assert!(dir.join("history.db").with_extension("db-wal").exists());
    let history = load_history(&dir.join("history.db"), 0).unwrap();
    let loaded = history.accounts[0].submissions;

    let conn = Connection::open(dir.join("history.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let (rows, lowest, highest): (i64, i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), MIN(height), MAX(height) FROM submissions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    println!("kill -9: {seen} rows seen committed before the kill, {rows} after reopening");
    assert!(
        rows >= seen,
        "{rows} rows after the kill, {seen} seen committed before"
    );
    // Batches commit whole and in order: what survives is exactly a prefix of what was sent.
    assert_eq!((lowest, highest), (1, rows));
    assert_eq!(loaded, u64::try_from(rows).unwrap());
    drop(conn);
    let writer = StoreWriter::spawn(&dir.join("history.db"), 0, 10).unwrap();
    writer.shutdown();
}
