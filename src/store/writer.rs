//! The writer thread: the only code that writes to the history database.
//!
//! In: rows from the bounded queue, and a stop signal. It commits a batch when the batch is
//! `batch_window` old or holds `batch_rows` rows, whichever comes first; while a batch is open it
//! takes queued rows in slices instead of waking for each. When a commit fails the
//! batch is kept and retried with growing pauses (memory bounded by `max_pending_rows`; rows
//! beyond are dropped and counted), the failure streak is logged once and the recovery once.
//! Between batches, at most every `maintenance_interval`, it prunes rows past the retention
//! period and compacts. On stop it drains the queue and commits before returning. It does not
//! read history (see `history`) and never blocks a sender.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use rusqlite::Connection;

use super::batch::PendingBatch;
use super::retention;
use super::{Shared, StoreOptions, StoreRow};
use crate::events::now_ms;

/// First pause after a failed commit; doubles up to `LONGEST_RETRY_PAUSE`.
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_RETRY_PAUSE: Duration = Duration::from_secs(5);
/// Retention chunks per maintenance pass before giving new rows a turn.
const CHUNKS_PER_PASS: usize = 20;
/// Pause between passes while old rows remain to be deleted.
const BACKLOG_PAUSE: Duration = Duration::from_secs(1);
/// While a batch is open, queued rows are taken this often (the queue holds thousands, so
/// even a flood fits between two takes).
const GATHER_SLICE: Duration = Duration::from_millis(20);
/// Commit attempts at shutdown when the disk is failing.
const SHUTDOWN_ATTEMPTS: u32 = 3;

struct FailureStreak {
    failed_attempts: u64,
    pause: Duration,
    retry_at: Instant,
}

pub(super) struct WriterLoop {
    conn: Connection,
    rows: Receiver<StoreRow>,
    stop: Receiver<()>,
    shared: Arc<Shared>,
    options: StoreOptions,
    pending: PendingBatch,
    batch_started: Option<Instant>,
    failing: Option<FailureStreak>,
    /// Rows dropped because the retry buffer was full, logged once per streak.
    pending_full_logged: bool,
    next_maintenance: Instant,
}

impl WriterLoop {
    pub(super) fn new(
        conn: Connection,
        rows: Receiver<StoreRow>,
        stop: Receiver<()>,
        shared: Arc<Shared>,
        options: StoreOptions,
    ) -> WriterLoop {
        WriterLoop {
            conn,
            rows,
            stop,
            shared,
            options,
            pending: PendingBatch::default(),
            batch_started: None,
            failing: None,
            pending_full_logged: false,
            // The first pass runs as soon as the writer is idle: old rows go at start-up.
            next_maintenance: Instant::now(),
        }
    }

    pub(super) fn run(mut self) {
        let rows = self.rows.clone();
        let stop = self.stop.clone();
        loop {
            let timeout = self.next_wakeup().saturating_duration_since(Instant::now());
            if self.batch_started.is_some() && self.failing.is_none() {
                // A batch is open: let rows gather in the queue and take them in slices, rather
                // than waking (and making a sender wake us) for every row.
                crossbeam_channel::select! {
                    recv(stop) -> _ => break,
                    default(timeout.min(GATHER_SLICE)) => {
                        if self.gather() {
                            break;
                        }
                    }
                }
            } else {
                crossbeam_channel::select! {
                    recv(rows) -> msg => match msg {
                        Ok(row) => self.accept_burst(row),
                        Err(_) => break,
                    },
                    recv(stop) -> _ => break,
                    default(timeout) => {}
                }
            }
            let now = Instant::now();
            if self.flush_due(now) {
                self.flush();
            }
            if now >= self.next_maintenance {
                self.maintain();
            }
        }
        self.finish();
    }

    /// Takes what is queued, up to a batch. True when every sender is gone.
    fn gather(&mut self) -> bool {
        let limit = self.batch_limit();
        while self.pending.rows() < limit {
            match self.rows.try_recv() {
                Ok(row) => self.accept(row),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => return true,
            }
        }
        false
    }

    /// Takes one row and whatever else is already queued, up to a batch.
    fn accept_burst(&mut self, first: StoreRow) {
        self.accept(first);
        // Senders gone shows at the next `recv`.
        self.gather();
    }

    fn accept(&mut self, row: StoreRow) {
        if self.pending.distinct_rows() >= self.options.max_pending_rows {
            self.shared.count_dropped(row.rows());
            if !self.pending_full_logged {
                self.pending_full_logged = true;
                log::error!(
                    "history retry buffer full ({} rows): dropping new rows until writes succeed",
                    self.options.max_pending_rows
                );
            }
            return;
        }
        match row {
            StoreRow::Round(r) => self.pending.add_round(r),
            StoreRow::Submission(s) => self.pending.add_submission(s),
            StoreRow::Outcome(o) => self.pending.add_outcome(o),
            StoreRow::Hourly(parts) => parts.into_iter().for_each(|h| self.pending.add_hourly(h)),
            StoreRow::Alert(a) => self.pending.add_alert(a),
        }
        self.batch_started.get_or_insert_with(Instant::now);
    }

    fn batch_limit(&self) -> u64 {
        u64::try_from(self.options.batch_rows.max(1)).unwrap_or(u64::MAX)
    }

    /// When the next batch or retry is due, or the next maintenance pass.
    fn next_wakeup(&self) -> Instant {
        match (&self.failing, self.batch_started) {
            (Some(streak), _) if !self.pending.is_empty() => streak.retry_at,
            (None, Some(started)) => started + self.options.batch_window,
            _ => self.next_maintenance,
        }
        .min(self.next_maintenance)
    }

    fn flush_due(&self, now: Instant) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        match (&self.failing, self.batch_started) {
            (Some(streak), _) => now >= streak.retry_at,
            (None, Some(started)) => {
                self.pending.rows() >= self.batch_limit()
                    || now >= started + self.options.batch_window
            }
            (None, None) => true,
        }
    }

    /// One commit attempt of everything pending. True when it was written.
    fn flush(&mut self) -> bool {
        match self.pending.commit(&mut self.conn) {
            Ok(()) => {
                self.committed();
                true
            }
            Err(e) => {
                self.failed(&e);
                false
            }
        }
    }

    fn committed(&mut self) {
        let s = &self.shared;
        s.rows_written
            .fetch_add(self.pending.rows(), Ordering::Relaxed);
        s.batches.fetch_add(1, Ordering::Relaxed);
        s.ok.store(true, Ordering::Relaxed);
        if self.rows.is_empty() && s.queue_full_logged.swap(false, Ordering::Relaxed) {
            log::info!(
                "history queue caught up ({} rows dropped since start)",
                s.dropped_rows.load(Ordering::Relaxed)
            );
        }
        if let Some(streak) = self.failing.take() {
            log::info!(
                "history writes recovered after {} failed attempts",
                streak.failed_attempts
            );
        }
        self.pending_full_logged = false;
        self.pending.clear(self.options.batch_rows);
        self.batch_started = None;
    }

    fn failed(&mut self, error: &rusqlite::Error) {
        let s = &self.shared;
        s.failed_writes.fetch_add(1, Ordering::Relaxed);
        s.ok.store(false, Ordering::Relaxed);
        *s.last_error.lock() = Some(error.to_string());
        let now = Instant::now();
        match &mut self.failing {
            Some(streak) => {
                streak.failed_attempts += 1;
                streak.pause = (streak.pause * 2).min(LONGEST_RETRY_PAUSE);
                streak.retry_at = now + streak.pause;
            }
            None => {
                log::error!(
                    "history write failed, keeping {} rows for retry: {error}",
                    self.pending.distinct_rows()
                );
                self.failing = Some(FailureStreak {
                    failed_attempts: 1,
                    pause: FIRST_RETRY_PAUSE,
                    retry_at: now + FIRST_RETRY_PAUSE,
                });
            }
        }
    }

    /// Retention and compaction, only while nothing waits to be written.
    fn maintain(&mut self) {
        let now = Instant::now();
        if self.failing.is_some() || !self.pending.is_empty() || !self.rows.is_empty() {
            self.next_maintenance = now + self.options.batch_window.max(FIRST_RETRY_PAUSE);
            return;
        }
        let mut backlog = false;
        if let Some(cutoff) = retention::cutoff_ms(self.options.retention_days, now_ms()) {
            for _ in 0..CHUNKS_PER_PASS {
                if !self.rows.is_empty() {
                    backlog = true;
                    break;
                }
                match retention::delete_one_chunk(&self.conn, cutoff) {
                    Ok(0) => {
                        backlog = false;
                        break;
                    }
                    Ok(_) => backlog = true,
                    Err(e) => {
                        log::warn!("history retention pass failed: {e}");
                        backlog = false;
                        break;
                    }
                }
            }
        }
        if !backlog {
            if let Err(e) = retention::compact(&self.conn) {
                log::debug!("history compaction skipped: {e}");
            }
        }
        self.next_maintenance = Instant::now()
            + if backlog {
                BACKLOG_PAUSE.min(self.options.maintenance_interval)
            } else {
                self.options.maintenance_interval
            };
    }

    /// Drains what is queued and commits it; rows that cannot be written are counted as lost.
    fn finish(mut self) {
        let mut budget = self.options.capacity.saturating_add(1);
        while budget > 0 {
            match self.rows.try_recv() {
                Ok(row) => self.accept(row),
                Err(_) => break,
            }
            budget -= 1;
        }
        if self.pending.is_empty() {
            return;
        }
        for attempt in 1..=SHUTDOWN_ATTEMPTS {
            if self.flush() {
                return;
            }
            if attempt < SHUTDOWN_ATTEMPTS {
                // Bounded, shutdown only: give a briefly busy disk a moment.
                std::thread::sleep(FIRST_RETRY_PAUSE);
            }
        }
        let lost = self.pending.rows();
        self.shared.count_dropped(lost);
        log::error!("history: {lost} rows could not be written before shutdown");
    }
}
