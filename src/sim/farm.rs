//! The simulated farm: each miner's accounts (ids, plot seeds, capacities) and, per round,
//! the plan of submissions a plot scan would produce.
//!
//! Pure and deterministic: the same seed gives the same farm and the same plans. A scan finds
//! ever better qualities, so most planned submissions improve on the account's previous one;
//! about a quarter do not (a miner also sends those, and an aggregator should filter them).
//! Qualities follow the capacity: the best of a round averages 2^42 / capacity_TiB, the
//! relation the aggregator's capacity estimate inverts. No I/O.

use std::time::Duration;

use super::rng::SimRng;

/// Share of planned submissions that do not improve on the account's previous one.
const NOT_BETTER_SHARE: f64 = 0.25;

/// One simulated mining account with one plot.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SimAccount {
    /// 40 lowercase hex characters (a 20-byte address payload).
    pub(super) account_id: String,
    /// 64 lowercase hex characters (the plot seed).
    pub(super) seed: String,
    /// Simulated plot size, between 1 and 16 TiB.
    pub(super) capacity_tib: f64,
}

/// The accounts of miner `miner`, derived from the simulation seed.
pub(super) fn accounts_for(seed: u64, miner: usize, count: usize) -> Vec<SimAccount> {
    (0..count)
        .map(|index| {
            let stream = ((miner as u64) << 20) ^ (index as u64);
            let mut rng = SimRng::for_stream(seed, stream);
            SimAccount {
                account_id: rng.hex_bytes(20),
                seed: rng.hex_bytes(32),
                // Log-uniform: as many 1-2 TiB plots as 8-16 TiB ones.
                capacity_tib: 2f64.powf(4.0 * rng.next_f64()),
            }
        })
        .collect()
}

/// One submission a miner will send during a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PlannedSubmit {
    /// When, counted from the moment the miner saw the round.
    pub(super) after: Duration,
    /// Index into the miner's accounts.
    pub(super) account: usize,
    pub(super) nonce: u64,
    pub(super) raw_quality: u64,
}

/// Plans `submits` submissions, shared round-robin between the accounts, spread over `scan`.
/// Sorted by time.
pub(super) fn plan_round(
    rng: &mut SimRng,
    accounts: &[SimAccount],
    submits: usize,
    scan: Duration,
) -> Vec<PlannedSubmit> {
    let mut plan = Vec::with_capacity(submits);
    for (account_index, account) in accounts.iter().enumerate() {
        let count = (submits + accounts.len() - 1 - account_index) / accounts.len();
        if count == 0 {
            continue;
        }
        let qualities = scan_qualities(rng, account.capacity_tib, count);
        let mut offsets: Vec<Duration> = (0..count).map(|_| scan.mul_f64(rng.next_f64())).collect();
        offsets.sort();
        for (after, raw_quality) in offsets.into_iter().zip(qualities) {
            plan.push(PlannedSubmit {
                after,
                account: account_index,
                nonce: rng.next_u64(),
                raw_quality,
            });
        }
    }
    plan.sort_by_key(|planned| planned.after);
    plan
}

/// The best raw quality a plot of `capacity_tib` finds in one round: exponentially distributed
/// (the minimum of many uniform draws is) with mean 2^42 / capacity_TiB.
pub(crate) fn round_best(rng: &mut SimRng, capacity_tib: f64) -> f64 {
    let mean_best = (1u64 << 42) as f64 / capacity_tib.max(1e-6);
    mean_best * -(1.0 - rng.next_f64()).ln()
}

/// The qualities one account's scan reports, in the order found: a falling chain ending at
/// the round's best, with some worse-than-previous values mixed in.
fn scan_qualities(rng: &mut SimRng, capacity_tib: f64, count: usize) -> Vec<u64> {
    let best = round_best(rng, capacity_tib);
    let mut chain = vec![best.max(1.0); count];
    for k in (0..count.saturating_sub(1)).rev() {
        let next = chain.get(k + 1).copied().unwrap_or(best);
        if let Some(slot) = chain.get_mut(k) {
            *slot = next * (1.1 + 1.9 * rng.next_f64());
        }
    }
    let mut sent: Vec<u64> = Vec::with_capacity(count);
    for (k, value) in chain.iter().enumerate() {
        let previous = sent.last().copied();
        let quality = match previous {
            // Not the last (the best must arrive) and not the first: sometimes worse.
            Some(previous) if k + 1 < count && rng.chance(NOT_BETTER_SHARE) => {
                previous as f64 * (1.0 + 0.5 * rng.next_f64())
            }
            _ => *value,
        };
        // `as` saturates at u64::MAX for huge values.
        sent.push(quality.max(1.0) as u64);
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_deterministic_and_distinct() {
        let a = accounts_for(42, 3, 4);
        assert_eq!(a, accounts_for(42, 3, 4));
        assert_ne!(a, accounts_for(42, 4, 4));
        assert_eq!(a.len(), 4);
        for account in &a {
            assert_eq!(account.account_id.len(), 40);
            assert_eq!(account.seed.len(), 64);
            assert!((1.0..=16.0).contains(&account.capacity_tib));
        }
        assert_ne!(a[0].account_id, a[1].account_id);
    }

    #[test]
    fn plan_spreads_submissions_over_accounts_and_scan() {
        let accounts = accounts_for(1, 0, 3);
        let mut rng = SimRng::new(9);
        let scan = Duration::from_secs(10);
        let plan = plan_round(&mut rng, &accounts, 7, scan);
        assert_eq!(plan.len(), 7);
        assert!(plan.windows(2).all(|w| w[0].after <= w[1].after));
        assert!(plan.iter().all(|p| p.after < scan && p.account < 3));
        let per_account = |i| plan.iter().filter(|p| p.account == i).count();
        assert_eq!((per_account(0), per_account(1), per_account(2)), (3, 2, 2));
        assert!(plan_round(&mut rng, &accounts, 0, scan).is_empty());
        assert!(plan_round(&mut rng, &[], 5, scan).is_empty());
    }

    #[test]
    fn most_submissions_improve_and_the_last_is_the_best() {
        let mut rng = SimRng::new(5);
        let (mut improving, mut total) = (0, 0);
        for _ in 0..200 {
            let qualities = scan_qualities(&mut rng, 4.0, 6);
            let best = *qualities.iter().min().unwrap();
            assert_eq!(*qualities.last().unwrap(), best);
            let mut running_best = u64::MAX;
            for q in qualities {
                total += 1;
                if q < running_best {
                    improving += 1;
                    running_best = q;
                }
            }
        }
        assert!(
            improving * 10 > total * 6,
            "{improving} of {total} improved"
        );
        assert!(improving < total, "some submissions must not improve");
    }
}
