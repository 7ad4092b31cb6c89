//! The SQLite history: rounds, miners' submissions, forward outcomes, each subject's hourly
//! capacity and submissions, and alert changes, written by one thread.
//!
//! In: [`StoreRow`]s through a crossbeam channel bounded by its length ([`StoreWriter::send`]
//! never blocks; a full queue drops the row and counts it). Out: [`StoreHealth`] counters, and
//! [`load_history`] for rebuilding statistics at start-up, [`load_hourly`] for the history charts. The writer thread coalesces rows in
//! memory and commits them in batches (every `database.batch_ms`, 1 s by default, or every
//! few thousand rows), so request threads never touch the database and a burst of submissions
//! costs a handful of transactions. Submissions are kept as
//! one row per (height, account, machine) with the best quality and a count, not one row each.
//!
//! It deliberately does not serve anything, compute statistics, or decide what gets forwarded.
//! SQLite stores signed 64-bit integers: qualities and times above `i64::MAX` are stored as
//! `i64::MAX` (such qualities can never win a round).

mod batch;
mod history;
mod hourly;
mod retention;
mod schema;
mod writer;

use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::alerts::Alert;
use crate::events::{HourlyRecord, OutcomeRecord, RoundInfo, SubmissionRecord};

pub use history::{load_history, History, HourCount, KeyActivity, KeyRoundBest, OutcomeTally};
pub use history::{TallyKind, HISTORY_ROUNDS};
pub use hourly::{load_hourly, HourlyHistory};
pub use schema::SCHEMA_VERSION;

/// Rows waiting for the writer. The writer drains far faster than miners submit (hundreds of
/// thousands of rows a second), so this only has to bridge a slow commit; a channel allocates
/// all its slots up front, and a longer one cost several MiB of a small host's memory.
pub const DEFAULT_QUEUE_CAPACITY: usize = 8_192;

/// One thing worth remembering.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreRow {
    Round(RoundInfo),
    Submission(SubmissionRecord),
    Outcome(OutcomeRecord),
    /// Parts of subjects' hours (parts of the same hour add up), sent together: a farm's
    /// worth takes one place in the queue, not one per machine and account.
    Hourly(Vec<HourlyRecord>),
    /// An alert that began firing or resolved, as of that change.
    Alert(Alert),
}

impl StoreRow {
    /// Rows it counts as (in `rows_written` and `dropped_rows`): one per record it carries.
    fn rows(&self) -> u64 {
        match self {
            StoreRow::Hourly(parts) => u64::try_from(parts.len()).unwrap_or(u64::MAX),
            _ => 1,
        }
    }
}

/// How the writer is doing, for `/health`, `/stats` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreHealth {
    /// False while writes are failing.
    pub ok: bool,
    /// Rows (as sent) that reached the database.
    pub rows_written: u64,
    /// Committed write transactions.
    pub batches: u64,
    /// Write transactions that failed (each is retried while memory allows).
    pub failed_writes: u64,
    /// Rows lost: queue full, retry buffer full, or unwritable at shutdown.
    pub dropped_rows: u64,
    /// Rows waiting in the queue right now.
    pub queued: usize,
    pub last_error: Option<String>,
}

/// Tuning for [`StoreWriter::spawn_with`]; [`StoreWriter::spawn`] uses the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Rows older than this many days are deleted; 0 keeps everything.
    pub retention_days: u32,
    /// Queue length between the senders and the writer thread.
    pub capacity: usize,
    /// A batch is committed once it is this old...
    pub batch_window: Duration,
    /// ...or once it holds this many rows, whichever comes first.
    pub batch_rows: usize,
    /// Distinct rows kept for retry while the disk fails; beyond, new rows are dropped.
    pub max_pending_rows: usize,
    /// How often retention and checkpointing run (between batches).
    pub maintenance_interval: Duration,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            retention_days: 0,
            capacity: DEFAULT_QUEUE_CAPACITY,
            batch_window: Duration::from_millis(100),
            batch_rows: 5_000,
            max_pending_rows: 100_000,
            maintenance_interval: Duration::from_secs(300),
        }
    }
}

/// Handle to the writer thread. `send` from any thread (share it behind an `Arc`, or hand out
/// [`StoreSender`]s); `shutdown` flushes and joins. Dropping it does the same.
pub struct StoreWriter {
    sender: StoreSender,
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

/// A cheap, cloneable way to queue rows for the writer.
#[derive(Clone)]
pub struct StoreSender {
    rows: Sender<StoreRow>,
    /// Most rows queued at once; more are dropped and counted.
    capacity: usize,
    shared: Arc<Shared>,
}

/// Counters the writer thread and the senders share.
#[derive(Default)]
struct Shared {
    ok: AtomicBool,
    rows_written: AtomicU64,
    batches: AtomicU64,
    failed_writes: AtomicU64,
    dropped_rows: AtomicU64,
    /// Set when a full queue was reported in the log; cleared once the writer has caught up.
    queue_full_logged: AtomicBool,
    last_error: parking_lot::Mutex<Option<String>>,
}

impl Shared {
    fn count_dropped(&self, rows: u64) {
        self.dropped_rows.fetch_add(rows, Ordering::Relaxed);
    }
}

impl StoreWriter {
    /// Opens and migrates the database now (errors name the path), then starts the writer.
    pub fn spawn(
        path: &Path,
        retention_days: u32,
        capacity: usize,
    ) -> Result<StoreWriter, StoreError> {
        let options = StoreOptions {
            retention_days,
            capacity,
            ..StoreOptions::default()
        };
        StoreWriter::spawn_with(path, options)
    }

    pub fn spawn_with(path: &Path, options: StoreOptions) -> Result<StoreWriter, StoreError> {
        let conn = schema::open_for_writing(path)?;
        // A list channel grows and shrinks with what is queued: a bounded one would allocate
        // (and touch) every slot at start, a megabyte of idle memory for nothing. `send` keeps
        // the bound.
        let (rows_tx, rows_rx) = crossbeam_channel::unbounded();
        let capacity = options.capacity.max(1);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
        let shared = Arc::new(Shared {
            ok: AtomicBool::new(true),
            ..Shared::default()
        });
        let worker = writer::WriterLoop::new(conn, rows_rx, stop_rx, Arc::clone(&shared), options);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || worker.run())
            .map_err(|e| StoreError::new(path, StoreFailure::Thread(e)))?;
        Ok(StoreWriter {
            sender: StoreSender {
                rows: rows_tx,
                capacity,
                shared,
            },
            stop: stop_tx,
            thread: Some(thread),
        })
    }

    /// Queues a row; never blocks. A full queue drops the row and counts it.
    pub fn send(&self, row: StoreRow) {
        self.sender.send(row);
    }

    /// A handle other threads can keep to queue rows.
    pub fn sender(&self) -> StoreSender {
        self.sender.clone()
    }

    pub fn health(&self) -> StoreHealth {
        self.sender.health()
    }

    /// Writes every row queued so far, then stops and joins the writer thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(thread) = self.thread.take() {
            // The writer drains the queue after this; a full stop slot means it is already told.
            let _ = self.stop.try_send(());
            if thread.join().is_err() {
                log::error!("history writer thread panicked");
            }
        }
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl StoreSender {
    /// Queues a row; never blocks. A full queue drops the row and counts it.
    pub fn send(&self, row: StoreRow) {
        let shared = &self.shared;
        // Senders at the same moment may pass this check together: the queue can exceed its
        // capacity by at most one row per sending thread.
        if self.rows.len() >= self.capacity {
            shared.count_dropped(row.rows());
            if !shared.queue_full_logged.swap(true, Ordering::Relaxed) {
                log::warn!("history queue full: dropping rows until the writer catches up");
            }
            return;
        }
        let rows = row.rows();
        if self.rows.send(row).is_err() {
            // The writer is gone (only after shutdown).
            shared.count_dropped(rows);
        }
    }

    pub fn health(&self) -> StoreHealth {
        let s = &self.shared;
        StoreHealth {
            ok: s.ok.load(Ordering::Relaxed),
            rows_written: s.rows_written.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
            failed_writes: s.failed_writes.load(Ordering::Relaxed),
            dropped_rows: s.dropped_rows.load(Ordering::Relaxed),
            queued: self.rows.len(),
            last_error: s.last_error.lock().clone(),
        }
    }
}

/// The store could not be opened or read; always names the file.
#[derive(Debug)]
pub struct StoreError {
    pub path: PathBuf,
    pub cause: StoreFailure,
}

/// What went wrong with the file.
#[derive(Debug)]
pub enum StoreFailure {
    Sqlite(rusqlite::Error),
    /// The file or its directory cannot be written.
    ReadOnly,
    /// A later version of the program wrote this file.
    NewerSchema {
        found: u32,
        supported: u32,
    },
    /// The file holds tables but no schema version: some other program's database.
    ForeignDatabase,
    /// The writer thread could not be started.
    Thread(std::io::Error),
}

impl StoreError {
    fn new(path: &Path, cause: StoreFailure) -> StoreError {
        StoreError {
            path: path.to_path_buf(),
            cause,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "history database {}: {}",
            self.path.display(),
            self.cause
        )
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}

impl fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreFailure::Sqlite(e) => write!(f, "{e}"),
            StoreFailure::ReadOnly => write!(f, "not writable"),
            StoreFailure::NewerSchema { found, supported } => write!(
                f,
                "schema version {found} is newer than this build supports ({supported})"
            ),
            StoreFailure::ForeignDatabase => {
                write!(
                    f,
                    "holds tables but no schema version: not a history database"
                )
            }
            StoreFailure::Thread(e) => write!(f, "cannot start writer thread: {e}"),
        }
    }
}

impl Error for StoreFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StoreFailure::Sqlite(e) => Some(e),
            StoreFailure::Thread(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for StoreFailure {
    fn from(e: rusqlite::Error) -> StoreFailure {
        StoreFailure::Sqlite(e)
    }
}

impl From<std::io::Error> for StoreFailure {
    fn from(e: std::io::Error) -> StoreFailure {
        StoreFailure::Thread(e)
    }
}

/// SQLite integers are signed: clamp instead of failing (see the module note).
fn to_sql_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Values read back are ours, but a hand-edited file may hold negatives.
fn from_sql_int(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
