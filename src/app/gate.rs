//! The glue between stages that the stages themselves do not know about: the filter as the
//! forwarder and the verification stage see it (`FilterGate`), what a verified claim records,
//! and the timing wrapper around upstream submissions.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::Mutex;

use crate::events::{DropReason, ForwardJob, SubmissionRecord};
use crate::filter::{Filter, HeldBack, Offer};
use crate::forwarder::{ForwardGate, Forwarder};
use crate::protocol::{code, NonceSubmission, SubmitAnswer};
use crate::stats::Stats;
use crate::store::{StoreRow, StoreSender};
use crate::upstream::{SubmitUpstream, UpstreamError, Upstreams};
use crate::verify::VerifyGate;

/// Times every forwarded call for `/metrics`.
pub(super) struct TimedUpstream {
    pub(super) client: Arc<Upstreams>,
    pub(super) stats: Arc<Stats>,
}

impl SubmitUpstream for TimedUpstream {
    fn submit_nonce(&self, submission: &NonceSubmission) -> Result<SubmitAnswer, UpstreamError> {
        let started = Instant::now();
        let result = self.client.submit_nonce(submission);
        self.stats
            .record_upstream_call("submit_nonce", started.elapsed());
        result
    }
}

/// Records a verified claim (statistics and store); the flag says whether it was forwarded.
pub(super) type VerifiedRecorder = Box<dyn Fn(&ForwardJob, bool) + Send + Sync>;

pub(super) fn verified_recorder(stats: Arc<Stats>, store: Option<StoreSender>) -> VerifiedRecorder {
    Box::new(move |job: &ForwardJob, forwarded: bool| {
        let record = SubmissionRecord {
            account_id: job.submission.account_id.clone(),
            machine: job.machine.clone(),
            height: job.submission.height,
            raw_quality: job.submission.raw_quality,
            poc_time: job.poc_time,
            received_ms: job.received_ms,
            forwarded,
        };
        stats.record_verified(&record);
        if let Some(store) = &store {
            store.send(StoreRow::Submission(record));
        }
    })
}

/// The filter as the forwarder and the verification stage see it.
pub(super) struct FilterGate {
    pub(super) filter: Arc<Mutex<Filter>>,
    pub(super) held: Arc<HeldBack>,
    /// Set right after the forwarder starts (the forwarder needs the gate first).
    pub(super) forwarder: OnceLock<Forwarder>,
    pub(super) record_verified: VerifiedRecorder,
}

impl ForwardGate for FilterGate {
    fn still_worth_forwarding(&self, job: &ForwardJob) -> Result<(), DropReason> {
        let s = &job.submission;
        self.filter.lock().still_worth_forwarding(
            s.height,
            &s.block_hash,
            &s.account_id,
            s.raw_quality,
        )
    }

    fn accepted(&self, job: &ForwardJob) {
        let s = &job.submission;
        self.filter
            .lock()
            .on_accepted(s.height, &s.block_hash, &s.account_id, s.raw_quality);
    }

    /// Rolls the key back to what the upstream accepted, then sends the submission that was held
    /// back behind the refused one when it now improves — unless the refusal says the round is
    /// over upstream, where anything else for it would be refused too.
    fn rejected(&self, job: &ForwardJob, code: i64) {
        let round_over = matches!(code, code::WRONG_HEIGHT | code::STALE);
        self.roll_back(job, !round_over);
    }

    fn abandoned(&self, job: &ForwardJob, reason: DropReason) {
        // After the retries ran out the upstream may be back; other drops are no reason to try
        // another submission now.
        self.roll_back(job, reason == DropReason::RetriesExhausted);
    }
}

impl FilterGate {
    fn roll_back(&self, job: &ForwardJob, resend_held: bool) {
        let s = &job.submission;
        let mut filter = self.filter.lock();
        filter.on_rejected(s.height, &s.block_hash, &s.account_id, s.raw_quality);
        let Some(held) = self.held.take(job) else {
            return;
        };
        if !resend_held {
            return;
        }
        let h = &held.submission;
        let improves = matches!(
            filter.offer(h.height, &h.block_hash, &h.account_id, h.raw_quality),
            Offer::Improves { .. }
        );
        drop(filter);
        if let (true, Some(forwarder)) = (improves, self.forwarder.get()) {
            log::info!(
                "sending the held-back submission of {} (raw quality {}) after a refusal",
                h.account_id,
                h.raw_quality
            );
            forwarder.submit(held);
        }
    }
}

impl VerifyGate for FilterGate {
    fn worth_verifying(&self, job: &ForwardJob) -> Result<(), DropReason> {
        let s = &job.submission;
        let filter = self.filter.lock();
        match filter.would_improve(s.height, &s.block_hash, &s.account_id, s.raw_quality) {
            Offer::Improves { .. } => Ok(()),
            Offer::RoundNotTracked => Err(DropReason::RoundExpired),
            Offer::NotBetter { .. } | Offer::KeyCapReached => Err(DropReason::Superseded),
        }
    }

    fn commit(&self, job: &ForwardJob) -> bool {
        let s = &job.submission;
        let improves = matches!(
            self.filter
                .lock()
                .offer(s.height, &s.block_hash, &s.account_id, s.raw_quality),
            Offer::Improves { .. }
        );
        (self.record_verified)(job, improves);
        improves
    }
}
