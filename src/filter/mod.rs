//! The best-so-far filter: decides whether a submission improves on what the farm already
//! sent for its key in its round, and remembers what the upstream accepted.
//!
//! A key is the account (pool mode) or the whole farm (wallet mode). Per key it keeps the
//! tentative best (the lowest raw quality let through, possibly still on its way upstream) and
//! the best the upstream accepted, so a rejection can roll the key back. Only the last
//! [`ROUND_WINDOW`] rounds are tracked; each holds at most `max_keys_per_round` keys.
//!
//! Pure and synchronous: the app owns it behind a mutex and calls it from request workers, the
//! verification stage and the forwarder. No channels, no I/O beyond one warning per round
//! when the key cap is reached. It does not check that a quality is genuine (verification does).

use std::collections::{HashMap, VecDeque};

use crate::config::SubmissionMode;
use crate::events::DropReason;
use crate::submission::decode_hex;

/// How many rounds (by arrival) are tracked; older ones are forgotten whole.
pub const ROUND_WINDOW: usize = 3;
/// Default bound on distinct keys per round.
pub const DEFAULT_MAX_KEYS_PER_ROUND: usize = 100_000;

/// The filter's verdict on a submission.
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct KeyBest {
    /// Lowest raw quality let through and not rejected since.
    tentative: Option<u64>,
    /// Lowest raw quality the upstream accepted.
    accepted: Option<u64>,
}

#[derive(Debug)]
struct TrackedRound {
    height: u64,
    block_hash: Box<str>,
    keys: HashMap<Key, KeyBest>,
    cap_warned: bool,
}

impl TrackedRound {
    fn is(&self, height: u64, block_hash: &str) -> bool {
        self.height == height && self.block_hash.eq_ignore_ascii_case(block_hash)
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

    /// Starts tracking a round; the oldest leaves once more than [`ROUND_WINDOW`] are known.
    /// Announcing a round already tracked changes nothing.
    pub fn start_round(&mut self, height: u64, block_hash: &str) {
        if self.is_live(height, block_hash) {
            return;
        }
        self.rounds.push_back(TrackedRound {
            height,
            block_hash: block_hash.into(),
            keys: HashMap::new(),
            cap_warned: false,
        });
        while self.rounds.len() > ROUND_WINDOW {
            self.rounds.pop_front();
        }
    }

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
                    round.height
                );
            }
            self.capped_total = self.capped_total.saturating_add(1);
            return Offer::KeyCapReached;
        }
        round.keys.insert(
            key,
            KeyBest {
                tentative: Some(raw_quality),
                accepted: None,
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
            SubmissionMode::Pool => match decode_hex::<20>(account_id) {
                Some(payload) => Key::Account(payload),
                None => Key::Unparsed(account_id.to_ascii_lowercase().into()),
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

mod held;

pub use held::HeldBack;

#[cfg(test)]
mod tests;
