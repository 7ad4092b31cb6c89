//! Integration tests: store (batching, retention, migration, restart, failure, kill -9).

mod files;
mod kill9;

use std::sync::Arc;
use std::time::{Duration, Instant};

use pocx_aggregator::events::{
    now_ms, DropReason, Outcome, OutcomeRecord, RoundInfo, SubmissionRecord,
};
use pocx_aggregator::store::{StoreOptions, StoreRow, StoreWriter};
use rusqlite::Connection;

use crate::support::{eventually, TempDir};

const DAY_MS: u64 = 86_400_000;

fn submission(height: u64, account: &str, machine: &str, raw: u64, at: u64) -> SubmissionRecord {
    SubmissionRecord {
        account_id: account.into(),
        machine: Arc::from(machine),
        height,
        raw_quality: raw,
        poc_time: raw / 1_000,
        received_ms: at,
        forwarded: true,
    }
}

fn round(height: u64, at: u64) -> RoundInfo {
    RoundInfo {
        height,
        generation_signature: format!("{height:064x}"),
        block_hash: format!("{:064x}", height + 1_000_000),
        base_target: 36_650_387_592,
        first_seen_ms: at,
    }
}

fn outcome(height: u64, account: &str, raw: u64, outcome: Outcome, at: u64) -> OutcomeRecord {
    OutcomeRecord {
        account_id: account.into(),
        machine: Arc::from("rig-1"),
        height,
        raw_quality: raw,
        outcome,
        attempts: 2,
        latency_ms: 15,
        at_ms: at,
    }
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

#[test]
fn burst_of_ten_thousand_submissions_commits_in_a_few_transactions() {
    let dir = TempDir::new("burst");
    let writer = StoreWriter::spawn(&dir.join("history.db"), 0, 20_000).unwrap();
    let sender = writer.sender();
    let now = now_ms();
    let started = Instant::now();
    for i in 0..10_000u64 {
        let account = format!("{:040x}", i % 100);
        let machine = format!("rig-{}", i / 100);
        writer.send(StoreRow::Submission(submission(
            7,
            &account,
            &machine,
            i + 1,
            now,
        )));
    }
    // Wait for the writer's own batching: shutdown would flush the rest in one go.
    let all_written = eventually(Duration::from_secs(60), || {
        sender.health().rows_written == 10_000
    });
    let elapsed = started.elapsed();
    let health = sender.health();
    println!(
        "10k distinct submission rows: {} transactions, {:.0} rows/s",
        health.batches,
        10_000.0 / elapsed.as_secs_f64()
    );
    assert!(all_written, "{health:?}");
    assert_eq!(health.dropped_rows, 0);
    assert!(health.batches <= 20, "{} transactions", health.batches);
    writer.shutdown();
    let conn = Connection::open(dir.join("history.db")).unwrap();
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM submissions"), 10_000);
}

#[test]
fn writer_keeps_up_with_a_stream_of_distinct_rows() {
    const ROWS: u64 = 100_000;
    let dir = TempDir::new("stream");
    let writer = StoreWriter::spawn(&dir.join("history.db"), 0, 20_000).unwrap();
    let sender = writer.sender();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    for i in 0..ROWS {
        let machine = format!("rig-{}", i % 50);
        writer.send(StoreRow::Submission(submission(
            i / 50,
            "acc",
            &machine,
            i,
            i,
        )));
        // Stay below the queue's capacity: this measures the writer, not the drop path.
        while sender.health().queued > 15_000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let all_written = eventually(Duration::from_secs(120), || {
        sender.health().rows_written == ROWS
    });
    let health = sender.health();
    println!(
        "stream of {ROWS} distinct rows: {} transactions, {:.0} rows/s sustained",
        health.batches,
        ROWS as f64 / started.elapsed().as_secs_f64()
    );
    assert!(all_written, "{health:?}");
    assert_eq!(health.dropped_rows, 0);
    writer.shutdown();
}

#[test]
fn repeated_submissions_coalesce_into_one_row_per_round_account_machine() {
    let dir = TempDir::new("coalesce");
    let writer = StoreWriter::spawn(&dir.join("history.db"), 0, 20_000).unwrap();
    let sender = writer.sender();
    let started = Instant::now();
    for i in 0..10_000u64 {
        let raw = 1_000_000 - i;
        writer.send(StoreRow::Submission(submission(
            9,
            "acc",
            "rig",
            raw,
            1_000 + i,
        )));
    }
    writer.shutdown();
    println!(
        "10k submissions onto one key: {} transactions, {:.0} rows/s",
        sender.health().batches,
        10_000.0 / started.elapsed().as_secs_f64()
    );
    let conn = Connection::open(dir.join("history.db")).unwrap();
    let row: (i64, i64, i64, i64, i64) = conn
        .query_row(
            "SELECT best_raw_quality, submissions, forwarded, first_received_ms, last_received_ms
             FROM submissions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(row, (1_000_000 - 9_999, 10_000, 10_000, 1_000, 10_999));
}

#[test]
fn shutdown_writes_every_queued_row() {
    let dir = TempDir::new("shutdown");
    let options = StoreOptions {
        batch_window: Duration::from_secs(3_600),
        batch_rows: 1_000_000,
        ..StoreOptions::default()
    };
    let writer = StoreWriter::spawn_with(&dir.join("history.db"), options).unwrap();
    for h in 0..500 {
        writer.send(StoreRow::Round(round(h, 1_000 + h)));
        let o = Outcome::Dropped(DropReason::Superseded);
        writer.send(StoreRow::Outcome(outcome(h, "acc", 5, o, 2_000 + h)));
    }
    writer.shutdown();
    let conn = Connection::open(dir.join("history.db")).unwrap();
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM rounds"), 500);
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM outcomes"), 500);
}

#[test]
fn a_full_queue_drops_and_counts_but_never_blocks() {
    let dir = TempDir::new("full");
    let writer = StoreWriter::spawn(&dir.join("history.db"), 0, 16).unwrap();
    let sender = writer.sender();
    for i in 0..20_000u64 {
        writer.send(StoreRow::Submission(submission(i, "acc", "rig", 1, i)));
    }
    writer.shutdown();
    let health = sender.health();
    assert_eq!(health.rows_written + health.dropped_rows, 20_000);
    let conn = Connection::open(dir.join("history.db")).unwrap();
    let stored = count(&conn, "SELECT COUNT(*) FROM submissions");
    assert_eq!(u64::try_from(stored).unwrap(), health.rows_written);
}
#[test]
fn failed_writes_are_kept_retried_and_recover() {
    let dir = TempDir::new("recover");
    let options = StoreOptions {
        max_pending_rows: 100,
        ..StoreOptions::default()
    };
    let writer = StoreWriter::spawn_with(&dir.join("history.db"), options).unwrap();
    // Another connection holding the write lock makes every commit fail with "busy".
    let blocker = Connection::open(dir.join("history.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    for i in 0..500u64 {
        writer.send(StoreRow::Submission(submission(i, "acc", "rig", 1, i)));
    }
    assert!(eventually(Duration::from_secs(10), || {
        let h = writer.health();
        h.failed_writes >= 2 && !h.ok && h.last_error.is_some()
    }));
    assert_eq!(writer.health().dropped_rows, 400, "beyond the retry buffer");
    blocker.execute_batch("ROLLBACK").unwrap();
    assert!(eventually(Duration::from_secs(10), || writer.health().ok));
    let health = writer.health();
    assert_eq!(health.rows_written, 100);
    writer.shutdown();
    assert_eq!(count(&blocker, "SELECT COUNT(*) FROM submissions"), 100);
}
