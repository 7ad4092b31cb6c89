//! The glue between stages that the stages themselves do not know about: the filter as the
//! forwarder and the verification stage see it (`Gate`), what a verified claim records, and the
//! timing wrapper around upstream submissions.

use std::sync::Arc;
use std::time::Instant;

use crate::events::{DropReason, ForwardJob};
use crate::filter::{Rounds, Verdict};
use crate::forwarder::ForwardGate;
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

/// The filter as the forwarder and the verification stage see it; a verified claim is
/// recorded in statistics and the store.
pub(super) struct Gate {
    pub(super) rounds: Arc<Rounds>,
    pub(super) stats: Arc<Stats>,
    pub(super) store: StoreSender,
}

impl ForwardGate for Gate {
    fn still_worth_forwarding(&self, job: &ForwardJob) -> Result<(), DropReason> {
        self.rounds.still_worth_forwarding(job)
    }

    fn accepted(&self, job: &ForwardJob) {
        self.rounds.accepted(job);
    }

    /// Rolls the key back and hands over the submission held back behind the refused one when
    /// it now improves — unless the refusal says the round is over upstream, where anything
    /// else for it would be refused too.
    fn rejected(&self, job: &ForwardJob, code: i64) -> Option<ForwardJob> {
        let round_over = matches!(code, code::WRONG_HEIGHT | code::STALE);
        self.rounds.roll_back(job, !round_over)
    }

    fn abandoned(&self, job: &ForwardJob, reason: DropReason) -> Option<ForwardJob> {
        // After the retries ran out the upstream may be back; other drops are no reason to try
        // another submission now.
        self.rounds
            .roll_back(job, reason == DropReason::RetriesExhausted)
    }
}

impl VerifyGate for Gate {
    fn worth_verifying(&self, job: &ForwardJob) -> Result<(), DropReason> {
        match self.rounds.offer(job, false) {
            Verdict::Forward => Ok(()),
            Verdict::UnknownRound => Err(DropReason::RoundExpired),
            _ => Err(DropReason::Superseded),
        }
    }

    fn commit(&self, job: &ForwardJob) -> bool {
        let improves = self.rounds.offer(job, true) == Verdict::Forward;
        let record = job.record(improves);
        self.stats.record_verified(&record);
        self.store.send(StoreRow::Submission(record));
        improves
    }
}
