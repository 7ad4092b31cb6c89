//! Submissions held back behind an undecided better one.
//!
//! When a key's best is still on its way upstream (in flight or backing off), a worse but still
//! useful submission is filtered out. If the upstream then refuses the better one, the worse one
//! is the best the farm has, so it must go up after all. This store keeps, per key and live
//! round, the best such held-back submission; the forwarder's gate takes it when it rolls the
//! filter back. Bounded: rounds leave with the filter's window, and the table has a cap.
//! It does not decide what improves (the filter does) or send anything (the forwarder does).

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::config::SubmissionMode;
use crate::events::ForwardJob;

/// Most held-back submissions kept at once (one per key and live round at most).
pub const MAX_HELD: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HeldKey {
    height: u64,
    block_hash: String,
    /// Lower-cased account id; empty in wallet mode, where the whole farm is one key.
    account: String,
}

pub struct HeldBack {
    mode: SubmissionMode,
    jobs: Mutex<HashMap<HeldKey, ForwardJob>>,
}

impl HeldBack {
    pub fn new(mode: SubmissionMode) -> HeldBack {
        HeldBack {
            mode,
            jobs: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, job: &ForwardJob) -> HeldKey {
        let s = &job.submission;
        HeldKey {
            height: s.height,
            block_hash: s.block_hash.to_ascii_lowercase(),
            account: match self.mode {
                SubmissionMode::Pool => s.account_id.to_ascii_lowercase(),
                SubmissionMode::Wallet => String::new(),
            },
        }
    }

    /// Keeps `job` if it beats what the upstream accepted for its key and what is held already.
    pub fn hold(&self, job: &ForwardJob, accepted_best: Option<u64>) {
        let raw = job.submission.raw_quality;
        if accepted_best.is_some_and(|accepted| raw >= accepted) {
            return;
        }
        let key = self.key(job);
        let mut jobs = self.jobs.lock();
        match jobs.get(&key) {
            Some(held) if held.submission.raw_quality <= raw => {}
            Some(_) => {
                jobs.insert(key, job.clone());
            }
            None if jobs.len() < MAX_HELD => {
                jobs.insert(key, job.clone());
            }
            None => {}
        }
    }

    /// Takes the held-back submission of `job`'s key, if any.
    pub fn take(&self, job: &ForwardJob) -> Option<ForwardJob> {
        let key = self.key(job);
        self.jobs.lock().remove(&key)
    }

    /// Forgets every round `is_live` says is gone.
    pub fn retain_rounds(&self, is_live: impl Fn(u64, &str) -> bool) {
        self.jobs
            .lock()
            .retain(|key, _| is_live(key.height, &key.block_hash));
    }

    pub fn len(&self) -> usize {
        self.jobs.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::NonceSubmission;

    fn job(account: &str, raw: u64) -> ForwardJob {
        ForwardJob {
            submission: NonceSubmission {
                block_hash: "AB".into(),
                height: 5,
                generation_signature: String::new(),
                base_target: 1,
                account_id: account.into(),
                seed: String::new(),
                nonce: raw,
                compression: 1,
                raw_quality: raw,
            },
            machine: "m".into(),
            poc_time: 0,
            received_ms: 0,
        }
    }

    #[test]
    fn keeps_only_the_best_useful_submission_per_key() {
        let held = HeldBack::new(SubmissionMode::Pool);
        held.hold(&job("aa", 500), Some(400));
        assert!(held.is_empty(), "no better than what was accepted");
        held.hold(&job("aa", 350), Some(400));
        held.hold(&job("AA", 380), Some(400));
        held.hold(&job("bb", 900), None);
        assert_eq!(held.len(), 2);
        assert_eq!(
            held.take(&job("aa", 1)).unwrap().submission.raw_quality,
            350
        );
        assert!(held.take(&job("aa", 1)).is_none());
        held.retain_rounds(|height, _| height != 5);
        assert!(held.is_empty());
    }

    #[test]
    fn wallet_mode_holds_one_per_round() {
        let held = HeldBack::new(SubmissionMode::Wallet);
        held.hold(&job("aa", 300), None);
        held.hold(&job("bb", 200), None);
        assert_eq!(held.len(), 1);
        assert_eq!(
            held.take(&job("cc", 1)).unwrap().submission.account_id,
            "bb"
        );
    }
}
