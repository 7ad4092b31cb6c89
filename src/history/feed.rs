//! The history's part of the alerts thread: every tick it adds the finished rounds to the open
//! hour and, when a round finished, the hour turned or [`FLUSH_EVERY_MS`] passed, reads the
//! submission counters and hands what gathered to the [`HistoryBook`] and to the store (one
//! `StoreRow::Hourly` with every subject's part, so a large farm does not crowd the queue the
//! miners' submissions share). Alert changes go the same two
//! ways. Reading the counters is one short lock on the statistics; nothing here blocks.

use std::sync::Arc;

use super::{hour_of, HistoryBook, Hourly};
use crate::alerts::board::FinishedRound;
use crate::alerts::Alert;
use crate::stats::Stats;
use crate::store::{StoreRow, StoreSender};

/// Longest time gathered submissions wait for the book and the store without a round finishing.
pub const FLUSH_EVERY_MS: u64 = 60_000;

pub struct HistoryFeed {
    book: Arc<HistoryBook>,
    store: StoreSender,
    hourly: Hourly,
    open_hour: u64,
    last_flush_ms: u64,
    /// The round the statistics were in when the feed was made (restored from the store).
    start_height: Option<u64>,
}

impl HistoryFeed {
    /// Call before anything new is recorded: the statistics' counts now are the baseline.
    pub fn new(
        book: Arc<HistoryBook>,
        store: StoreSender,
        stats: &Stats,
        now_ms: u64,
    ) -> HistoryFeed {
        HistoryFeed {
            book,
            store,
            hourly: Hourly::new(&stats.submission_counts()),
            open_hour: hour_of(now_ms),
            last_flush_ms: now_ms,
            start_height: stats.newest_height(),
        }
    }

    /// The height from which rounds are new to the history: the restored current round (its
    /// bests were not counted before the restart: it had not finished), else every round.
    pub fn first_new_height(&self) -> u64 {
        self.start_height.unwrap_or(0)
    }

    pub fn alert_changed(&self, alert: &Alert) {
        self.book.add_alert(alert);
        self.store.send(StoreRow::Alert(alert.clone()));
    }

    pub fn tick(&mut self, now_ms: u64, finished: &[FinishedRound], stats: &Stats) {
        let hour = hour_of(now_ms);
        if hour != self.open_hour {
            // What was counted before the turn belongs to the hour that ended.
            self.flush(now_ms, stats);
            self.open_hour = hour;
            self.book.prune(now_ms);
        }
        for round in finished {
            self.hourly.round_finished(round);
        }
        if !finished.is_empty() || now_ms >= self.last_flush_ms.saturating_add(FLUSH_EVERY_MS) {
            self.flush(now_ms, stats);
        }
    }

    /// Hands out what gathered (also at shutdown, before the store's last flush).
    pub fn flush(&mut self, now_ms: u64, stats: &Stats) {
        self.last_flush_ms = now_ms;
        self.hourly.count(&stats.submission_counts());
        let records = self.hourly.take(self.open_hour);
        if records.is_empty() {
            return;
        }
        records.iter().for_each(|record| self.book.add(record));
        self.store.send(StoreRow::Hourly(records));
    }
}
