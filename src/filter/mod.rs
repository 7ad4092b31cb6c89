//! The round window and the best-so-far filter: which rounds a submission may belong to,
//! whether it improves on what the farm already sent for its key in its round, what the
//! upstream accepted, and the submission held back behind an undecided better one.
//!
//! A round is (height, block hash) with the generation signature and base target the upstream
//! gave for it. A key is the account (pool mode) or the whole farm (wallet mode). Per key it
//! keeps the tentative best (the lowest raw quality let through, possibly still on its way
//! upstream), the best the upstream accepted, so a rejection can roll the key back, and the
//! best worse submission filtered out while the tentative best was undecided, which goes up
//! if that one is refused. Only the last [`ROUND_WINDOW`] rounds are tracked; each holds at
//! most `max_keys_per_round` keys, and at most [`MAX_HELD`] submissions are held in all.
//!
//! [`Filter`] is the pure, synchronous logic; [`Rounds`] (`rounds.rs`) is the one shared
//! instance behind one lock, with the round miners are served. No channels, no I/O beyond one
//! warning per round when the key cap is reached. It does not check that a quality is genuine
//! (verification does) and sends nothing (the forwarder does).

use std::collections::{HashMap, VecDeque};

use crate::config::SubmissionMode;
use crate::events::{DropReason, ForwardJob, RoundInfo};
use hex::FromHex;

/// How many rounds (by arrival) are tracked; older ones are forgotten whole.
pub const ROUND_WINDOW: usize = 3;
/// Default bound on distinct keys per round.
pub const DEFAULT_MAX_KEYS_PER_ROUND: usize = 100_000;
/// Most held-back submissions kept at once (one per key and tracked round at most).
pub const MAX_HELD: usize = 100_000;

/// What becomes of a submission offered as a whole (see [`Filter::take`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It improves on its key's best: send it on.
    Forward,
    /// Not better than its key's best (kept when it may still matter), or a new key in a full
    /// round: answered, not sent.
    Filtered,
    /// Its (height, block hash) is not one of the tracked rounds.
    UnknownRound,
    /// Its round's generation signature is another.
    WrongSignature,
    /// Its round's base target is another: `expected`.
    WrongBaseTarget { expected: u64 },
}

/// The filter's verdict on a quality for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Strictly better than the key's best so far (`previous`, none for a new key).
    Improves { previous: Option<u64> },
    /// Equal or worse than the key's current best; `accepted` is the best the upstream has
    /// accepted for the key (none yet), so a caller can tell what still beats it.
    NotBetter { best: u64, accepted: Option<u64> },
    /// The round is unknown or has left the window.
    RoundNotTracked,
    /// A new key in a round that already holds the maximum number of keys.
    KeyCapReached,
}

/// Whose best a submission competes with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// Wallet mode: the whole farm competes for one best.
    Farm,
    /// Pool mode: the 20-byte account payload, so hex case does not matter.
    Account([u8; 20]),
    /// Pool mode with an account id that is not 40 hex characters (validation normally
    /// prevents it): kept apart from every real account, compared without case.
    Unparsed(Box<str>),
}

/// What the filter knows about one key in one round.
#[derive(Debug, Clone, Default)]
struct KeyBest {
    /// Lowest raw quality let through and not rejected since.
    tentative: Option<u64>,
    /// Lowest raw quality the upstream accepted.
    accepted: Option<u64>,
    /// The best submission filtered out behind an undecided tentative best.
    held: Option<Box<ForwardJob>>,
}

#[derive(Debug)]
struct TrackedRound {
    info: RoundInfo,
    keys: HashMap<Key, KeyBest>,
    cap_warned: bool,
    /// Keys with a held-back submission.
    held: usize,
}

impl TrackedRound {
    fn is(&self, height: u64, block_hash: &str) -> bool {
        self.info.height == height && self.info.block_hash.eq_ignore_ascii_case(block_hash)
    }
}

/// Best-so-far bookkeeping for the live rounds.
#[derive(Debug)]
pub struct Filter {
    mode: SubmissionMode,
    max_keys_per_round: usize,
    /// Oldest first.
    rounds: VecDeque<TrackedRound>,
    capped_total: u64,
}

impl Filter {
    pub fn new(mode: SubmissionMode, max_keys_per_round: usize) -> Filter {
        Filter {
            mode,
            max_keys_per_round,
            rounds: VecDeque::with_capacity(ROUND_WINDOW + 1),
            capped_total: 0,
        }
    }

    /// Starts tracking a round; the oldest leaves whole (bests and held-back submissions) once
    /// more than [`ROUND_WINDOW`] are known. A round already tracked keeps its place and its
    /// keys and takes the signature and base target given now (the upstream may correct them).
    pub fn start_round(&mut self, info: &RoundInfo) {
        if let Some(round) = self.round_mut(info.height, &info.block_hash) {
            round
                .info
                .generation_signature
                .clone_from(&info.generation_signature);
            round.info.base_target = info.base_target;
            return;
        }
        self.rounds.push_back(TrackedRound {
            info: info.clone(),
            keys: HashMap::new(),
            cap_warned: false,
            held: 0,
        });
        while self.rounds.len() > ROUND_WINDOW {
            self.rounds.pop_front();
        }
    }

    /// Judges a whole submission: its round must be tracked with the signature and base target
    /// it names. When `commit`, an improving one becomes its key's tentative best and a worse
    /// one that still beats what the upstream accepted is held back; otherwise nothing changes.
    pub fn take(&mut self, job: &ForwardJob, commit: bool) -> Verdict {
        let s = &job.submission;
        let Some(round) = self.round(s.height, &s.block_hash) else {
            return Verdict::UnknownRound;
        };
        if !round
            .info
            .generation_signature
            .eq_ignore_ascii_case(&s.generation_signature)
        {
            return Verdict::WrongSignature;
        }
        if s.base_target != round.info.base_target {
            return Verdict::WrongBaseTarget {
                expected: round.info.base_target,
            };
        }
        let (height, hash, account, raw) = (s.height, &s.block_hash, &s.account_id, s.raw_quality);
        let offer = if commit {
            self.offer(height, hash, account, raw)
        } else {
            self.would_improve(height, hash, account, raw)
        };
        match offer {
            Offer::Improves { .. } => Verdict::Forward,
            Offer::NotBetter { accepted, .. } if commit => {
                self.hold(job, accepted);
                Verdict::Filtered
            }
            _ => Verdict::Filtered,
        }
    }

    /// After the upstream refused `job` (or it was given up): the key falls back as in
    /// [`Filter::on_rejected`], and its held-back submission leaves. That one is returned, as
    /// its key's new tentative best, when `resend_held` and it now improves.
    pub fn roll_back(&mut self, job: &ForwardJob, resend_held: bool) -> Option<ForwardJob> {
        let s = &job.submission;
        self.on_rejected(s.height, &s.block_hash, &s.account_id, s.raw_quality);
        let key = self.key(&s.account_id);
        let round = self.round_mut(s.height, &s.block_hash)?;
        let held = round.keys.get_mut(&key)?.held.take()?;
        round.held = round.held.saturating_sub(1);
        if !resend_held {
            return None;
        }
        let h = &held.submission;
        let verdict = self.offer(h.height, &h.block_hash, &h.account_id, h.raw_quality);
        matches!(verdict, Offer::Improves { .. }).then(|| *held)
    }

    /// Keeps `job` for its key when it beats what the upstream accepted and what is held.
    fn hold(&mut self, job: &ForwardJob, accepted: Option<u64>) {
        let s = &job.submission;
        if accepted.is_some_and(|accepted| s.raw_quality >= accepted) {
            return;
        }
        let key = self.key(&s.account_id);
        let room = self.held() < MAX_HELD;
        let Some(round) = self.round_mut(s.height, &s.block_hash) else {
            return;
        };
        let Some(best) = round.keys.get_mut(&key) else {
            return;
        };
        match &best.held {
            Some(held) if held.submission.raw_quality <= s.raw_quality => {}
            Some(_) => best.held = Some(Box::new(job.clone())),
            None if room => {
                best.held = Some(Box::new(job.clone()));
                round.held = round.held.saturating_add(1);
            }
            None => {}
        }
    }

    /// Held-back submissions over all tracked rounds.
    pub fn held(&self) -> usize {
        self.rounds.iter().map(|round| round.held).sum()
    }

    #[cfg(test)]
    /// True while the round is one of the tracked ones.
    pub fn is_live(&self, height: u64, block_hash: &str) -> bool {
        self.round(height, block_hash).is_some()
    }

    /// What [`Filter::offer`] would answer, without changing anything or counting a cap hit.
    pub fn would_improve(
        &self,
        height: u64,
        block_hash: &str,
        account_id: &str,
        raw_quality: u64,
    ) -> Offer {
        let Some(round) = self.round(height, block_hash) else {
            return Offer::RoundNotTracked;
        };
        match round.keys.get(&self.key(account_id)) {
            Some(best) => judge(best, raw_quality),
            None if round.keys.len() >= self.max_keys_per_round => Offer::KeyCapReached,
            None => Offer::Improves { previous: None },
        }
    }

    /// Judges a submission and, when it improves, makes it the key's tentative best.
    pub fn offer(
        &mut self,
        height: u64,
        block_hash: &str,
        account_id: &str,
        raw_quality: u64,
    ) -> Offer {
        let key = self.key(account_id);
        let max_keys = self.max_keys_per_round;
        let Some(round) = self.round_mut(height, block_hash) else {
            return Offer::RoundNotTracked;
        };
        if let Some(best) = round.keys.get_mut(&key) {
            let verdict = judge(best, raw_quality);
            if matches!(verdict, Offer::Improves { .. }) {
                best.tentative = Some(raw_quality);
            }
            return verdict;
        }
        if round.keys.len() >= max_keys {
            if !round.cap_warned {
                round.cap_warned = true;
                log::warn!(
                    "round {} already tracks {max_keys} keys: further new keys are refused",
                    round.info.height
                );
            }
            self.capped_total = self.capped_total.saturating_add(1);
            return Offer::KeyCapReached;
        }
        round.keys.insert(
            key,
            KeyBest {
                tentative: Some(raw_quality),
                ..KeyBest::default()
            },
        );
        Offer::Improves { previous: None }
    }

    /// Records that the upstream accepted `raw_quality` for the key.
    pub fn on_accepted(
        &mut self,
        height: u64,
        block_hash: &str,
        account_id: &str,
        raw_quality: u64,
    ) {
        let key = self.key(account_id);
        let max_keys = self.max_keys_per_round;
        let Some(round) = self.round_mut(height, block_hash) else {
            return;
        };
        let room = round.keys.len() < max_keys;
        let best = match round.keys.get_mut(&key) {
            Some(best) => best,
            // Every forwarded key went through `offer`; an unknown one is only kept if it fits.
            None if room => round.keys.entry(key).or_default(),
            None => return,
        };
        best.accepted = lower(best.accepted, raw_quality);
        // What the upstream holds is a floor the tentative best never rises above.
        best.tentative = lower(best.tentative, raw_quality);
    }

    /// Records that the upstream rejected `raw_quality`: when it is still the key's tentative
    /// best, the key falls back to its best accepted (or to none). A better submission that
    /// arrived since stays.
    pub fn on_rejected(
        &mut self,
        height: u64,
        block_hash: &str,
        account_id: &str,
        raw_quality: u64,
    ) {
        let key = self.key(account_id);
        let Some(round) = self.round_mut(height, block_hash) else {
            return;
        };
        if let Some(best) = round.keys.get_mut(&key) {
            if best.tentative == Some(raw_quality) {
                best.tentative = best.accepted;
            }
        }
    }

    /// Whether a submission waiting to go upstream still matters: its round must be live, and
    /// neither an accepted nor a tentative best of its key may be strictly better.
    pub fn still_worth_forwarding(
        &self,
        height: u64,
        block_hash: &str,
        account_id: &str,
        raw_quality: u64,
    ) -> Result<(), DropReason> {
        let round = self
            .round(height, block_hash)
            .ok_or(DropReason::RoundExpired)?;
        let Some(best) = round.keys.get(&self.key(account_id)) else {
            return Ok(());
        };
        let beaten = |best: Option<u64>| best.is_some_and(|b| b < raw_quality);
        if beaten(best.accepted) || beaten(best.tentative) {
            return Err(DropReason::Superseded);
        }
        Ok(())
    }

    /// Submissions refused because their round had reached the key cap, since start.
    pub fn capped_total(&self) -> u64 {
        self.capped_total
    }

    /// Keys held over all tracked rounds.
    pub fn tracked_keys(&self) -> usize {
        self.rounds.iter().map(|round| round.keys.len()).sum()
    }

    fn round(&self, height: u64, block_hash: &str) -> Option<&TrackedRound> {
        self.rounds
            .iter()
            .find(|round| round.is(height, block_hash))
    }

    fn round_mut(&mut self, height: u64, block_hash: &str) -> Option<&mut TrackedRound> {
        self.rounds
            .iter_mut()
            .find(|round| round.is(height, block_hash))
    }

    fn key(&self, account_id: &str) -> Key {
        match self.mode {
            SubmissionMode::Wallet => Key::Farm,
            SubmissionMode::Pool => match <[u8; 20]>::from_hex(account_id) {
                Ok(payload) => Key::Account(payload),
                Err(_) => Key::Unparsed(account_id.to_ascii_lowercase().into()),
            },
        }
    }
}

/// Strictly lower raw quality improves.
fn judge(best: &KeyBest, raw_quality: u64) -> Offer {
    match best.tentative {
        Some(current) if raw_quality >= current => Offer::NotBetter {
            best: current,
            accepted: best.accepted,
        },
        previous => Offer::Improves { previous },
    }
}

fn lower(current: Option<u64>, candidate: u64) -> Option<u64> {
    Some(current.map_or(candidate, |c| c.min(candidate)))
}

mod rounds;

pub use rounds::{Rounds, Snapshot};

#[cfg(test)]
mod tests;
