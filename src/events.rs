//! Records that travel between the stages: the round the aggregator is serving, a submission a
//! miner made, the outcome of forwarding one upstream, and an hour's worth of a subject's
//! capacity and submissions for the history.
//!
//! These are plain data. The server and forwarder produce them; statistics and the store consume
//! them. Nothing here does I/O or holds a lock.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, the one clock every record uses.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}

/// A duration in whole milliseconds, as records and settings count time.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The first 16 hex digits of a block hash, as log lines show it.
pub fn short_hash(hex: &str) -> &str {
    hex.get(..16).unwrap_or(hex)
}

/// One round of mining as the upstream described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundInfo {
    pub height: u64,
    pub generation_signature: String,
    pub block_hash: String,
    pub base_target: u64,
    /// When the aggregator first saw this round (ms since epoch).
    pub first_seen_ms: u64,
}

/// The identity of a submitting machine: the `X-Miner` header (sanitised) or the client IP.
pub type MachineId = Arc<str>;

/// A valid submission as a miner made it, after validation and poc_time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionRecord {
    pub account_id: String,
    pub machine: MachineId,
    pub height: u64,
    pub raw_quality: u64,
    /// Computed by the aggregator from the round's upstream base target.
    pub poc_time: u64,
    pub received_ms: u64,
    /// True when it improved on the best so far and was handed on towards the upstream.
    pub forwarded: bool,
}

/// Why a submission that was handed to the forwarder never reached a verdict upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// A better submission for the same key came along first.
    Superseded,
    /// The round left the window of live rounds.
    RoundExpired,
    /// Every retry failed.
    RetriesExhausted,
    /// The forwarding queue was full.
    QueueFull,
    /// The claimed quality did not match the recomputed one.
    FailedVerification,
    /// The verification stage was full.
    VerifyQueueFull,
    /// The process shut down before it could be delivered.
    Shutdown,
}

impl DropReason {
    pub const ALL: [DropReason; 7] = [
        DropReason::Superseded,
        DropReason::RoundExpired,
        DropReason::RetriesExhausted,
        DropReason::QueueFull,
        DropReason::FailedVerification,
        DropReason::VerifyQueueFull,
        DropReason::Shutdown,
    ];

    /// Stable snake_case name used in logs, JSON, metrics labels and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Superseded => "superseded",
            DropReason::RoundExpired => "round_expired",
            DropReason::RetriesExhausted => "retries_exhausted",
            DropReason::QueueFull => "queue_full",
            DropReason::FailedVerification => "failed_verification",
            DropReason::VerifyQueueFull => "verify_queue_full",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// The single outcome of one forwarded submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted { upstream_poc_time: Option<u64> },
    Rejected { code: i64, reason: String },
    Dropped(DropReason),
}

impl Outcome {
    /// "accepted", "rejected" or "dropped".
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Accepted { .. } => "accepted",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Dropped(_) => "dropped",
        }
    }
}

/// What happened to one forwarded submission, for statistics and the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeRecord {
    pub account_id: String,
    pub machine: MachineId,
    pub height: u64,
    pub raw_quality: u64,
    pub outcome: Outcome,
    /// Upstream calls made for it (0 when dropped before the first).
    pub attempts: u32,
    /// Time from the miner's submission to the outcome.
    pub latency_ms: u64,
    pub at_ms: u64,
}

/// A submission the filter let through, on its way (possibly via verification) upstream.
#[derive(Debug, Clone)]
pub struct ForwardJob {
    pub submission: crate::protocol::NonceSubmission,
    pub machine: MachineId,
    /// poc_time the aggregator computed (from the round's upstream base target).
    pub poc_time: u64,
    pub received_ms: u64,
}

impl ForwardJob {
    /// The submission as statistics and the store keep it.
    pub fn record(&self, forwarded: bool) -> SubmissionRecord {
        SubmissionRecord {
            account_id: self.submission.account_id.clone(),
            machine: self.machine.clone(),
            height: self.submission.height,
            raw_quality: self.submission.raw_quality,
            poc_time: self.poc_time,
            received_ms: self.received_ms,
            forwarded,
        }
    }
}

/// Where the forwarder and the verification stage report each submission's single outcome
/// (the app wires it to statistics and the store).
pub type OutcomeSink = Arc<dyn Fn(OutcomeRecord) + Send + Sync>;

/// What an hourly history row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubjectKind {
    /// The whole farm; its subject is always `farm`.
    Farm,
    Machine,
    Account,
}

impl SubjectKind {
    pub const ALL: [SubjectKind; 3] = [
        SubjectKind::Farm,
        SubjectKind::Machine,
        SubjectKind::Account,
    ];

    /// Stable name for JSON, the query string and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Farm => "farm",
            SubjectKind::Machine => "machine",
            SubjectKind::Account => "account",
        }
    }

    pub fn named(name: &str) -> Option<SubjectKind> {
        SubjectKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Part of one subject's hour: the bests of the rounds that finished in it and the submissions
/// counted in it since the previous record. Records for the same subject and hour add up.
#[derive(Debug, Clone, PartialEq)]
pub struct HourlyRecord {
    pub kind: SubjectKind,
    pub subject: Arc<str>,
    /// Start of the hour, ms since the epoch.
    pub hour_ms: u64,
    /// Finished rounds with a best from this subject.
    pub rounds: u64,
    /// Sum of those bests' raw qualities (a float: the sum of a few u64 can exceed 2^64).
    pub best_sum: f64,
    pub submissions: u64,
}
