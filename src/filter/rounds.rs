//! [`Rounds`]: the one shared instance of the filter, and the round miners are served.
//!
//! Owns, behind one mutex, the round window, every key's bests and the held-back submissions
//! (a [`Filter`]); beside it, under a read-write lock of its own so `get_mining_info` never
//! waits for a submission, the served round with its ready-made `result` body.
//!
//! In: [`Rounds::advance`] from the cache thread (one call per poll), [`Rounds::offer`] from
//! request workers and the verification stage, [`Rounds::still_worth_forwarding`],
//! [`Rounds::accepted`] and [`Rounds::roll_back`] from the forwarder. Out: return values
//! only; no channels, no threads. `advance` changes the window and the served round under the
//! filter's lock, window first, so whoever reads a served round finds it in the window.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::{Filter, Verdict};
use crate::config::SubmissionMode;
use crate::events::{now_ms, DropReason, ForwardJob, RoundInfo};
use crate::rpc::RawJson;
use crate::upstream::MiningInfo;

/// What miners are served: the round and its ready-made `result` body.
#[derive(Debug)]
pub struct Snapshot {
    pub round: RoundInfo,
    pub body: RawJson,
}

/// The filter's state and the served round, shared by every stage that reads or changes them.
pub struct Rounds {
    served: RwLock<Option<Arc<Snapshot>>>,
    filter: Mutex<Filter>,
}

impl Rounds {
    pub fn new(mode: SubmissionMode, max_keys_per_round: usize) -> Rounds {
        Rounds {
            served: RwLock::new(None),
            filter: Mutex::new(Filter::new(mode, max_keys_per_round)),
        }
    }

    /// The round being served, if the upstream has answered yet.
    pub fn served(&self) -> Option<Arc<Snapshot>> {
        self.served.read().clone()
    }

    /// Serves fresh mining info: its round joins the window (or, already there, takes the base
    /// target given now), then becomes the served one. Returns the round when it differs from
    /// the one served before (height, block hash or generation signature). One thread calls it
    /// (the cache thread).
    pub fn advance(&self, info: &MiningInfo) -> Option<RoundInfo> {
        // Only this call replaces the served round, so reading it first is reading it now.
        let before = self.served();
        let body = RawJson::from_value(&info.raw);
        let changed = before.as_deref().is_none_or(|old| {
            old.round.height != info.height
                || old.round.block_hash != info.block_hash
                || old.round.generation_signature != info.generation_signature
        });
        let round = match before.as_deref() {
            Some(old) if !changed => RoundInfo {
                base_target: info.base_target,
                ..old.round.clone()
            },
            _ => RoundInfo {
                height: info.height,
                generation_signature: info.generation_signature.clone(),
                block_hash: info.block_hash.clone(),
                base_target: info.base_target,
                first_seen_ms: now_ms(),
            },
        };
        let snapshot = Arc::new(Snapshot {
            round: round.clone(),
            body,
        });
        let mut filter = self.filter.lock();
        filter.start_round(&round);
        *self.served.write() = Some(snapshot);
        drop(filter);
        changed.then_some(round)
    }

    /// Judges a submission against its round and its key's best (see [`Filter::take`]).
    pub fn offer(&self, job: &ForwardJob, commit: bool) -> Verdict {
        self.filter.lock().take(job, commit)
    }

    /// Whether a job waiting to go upstream still matters (see
    /// [`Filter::still_worth_forwarding`]).
    pub fn still_worth_forwarding(&self, job: &ForwardJob) -> Result<(), DropReason> {
        let s = &job.submission;
        self.filter.lock().still_worth_forwarding(
            s.height,
            &s.block_hash,
            &s.account_id,
            s.raw_quality,
        )
    }

    /// The upstream accepted `job`.
    pub fn accepted(&self, job: &ForwardJob) {
        let s = &job.submission;
        self.filter
            .lock()
            .on_accepted(s.height, &s.block_hash, &s.account_id, s.raw_quality);
    }

    /// The upstream refused `job` or it was given up: see [`Filter::roll_back`]. The returned
    /// submission is to be forwarded.
    pub fn roll_back(&self, job: &ForwardJob, resend_held: bool) -> Option<ForwardJob> {
        self.filter.lock().roll_back(job, resend_held)
    }

    /// Submissions refused because their round had reached the key cap, since start.
    pub fn capped_total(&self) -> u64 {
        self.filter.lock().capped_total()
    }
}
