//! Which submissions go upstream: exactly the improving ones, per account in pool mode and
//! for the whole farm in wallet mode.

use std::collections::HashMap;

use pocx_aggregator::config::SubmissionMode;
use pocx_aggregator::sim::SimUpstreamConfig;

use super::kit::*;
use crate::support::{account, wait_until, Farm};

/// Which submissions of `sequence` improve on the best so far of their key.
fn improving(sequence: &[(u32, u64)], key: impl Fn(u32) -> u32) -> Vec<(String, u64)> {
    let mut best: HashMap<u32, u64> = HashMap::new();
    let mut kept = Vec::new();
    for &(n, quality) in sequence {
        let slot = best.entry(key(n)).or_insert(u64::MAX);
        if quality < *slot {
            *slot = quality;
            kept.push((account(n), quality));
        }
    }
    kept
}

/// Submits `sequence` one by one; after each improving one, waits until the upstream has it,
/// so the forwarder never sees two at once and cannot drop one as superseded.
fn submit_sequence(farm: &Farm, sequence: &[(u32, u64)], expected: &[(String, u64)]) {
    let round = farm.wait_for_round();
    for &(n, quality) in sequence {
        let answer = farm.submit(&round, &account(n), quality);
        assert_eq!(result(&answer)["raw_quality"], quality);
        let sent = received(farm).len();
        if expected.get(sent) == Some(&(account(n), quality)) {
            wait_until(PATIENCE, || received(farm).len() > sent);
        }
    }
}

const SEQUENCE: [(u32, u64); 12] = [
    (1, 500),
    (2, 800),
    (1, 600),
    (1, 400),
    (2, 800),
    (2, 700),
    (1, 400),
    (3, 450),
    (1, 100),
    (2, 900),
    (3, 1000),
    (2, 50),
];

#[test]
fn pool_mode_forwards_exactly_the_improving_submissions_of_each_account() {
    let farm = Farm::start();
    let expected = improving(&SEQUENCE, |n| n);
    assert_eq!(expected.len(), 7);
    submit_sequence(&farm, &SEQUENCE, &expected);
    let counted = wait_for_outcomes(&farm, expected.len() as u64);
    assert_eq!(received(&farm), expected);
    assert_eq!(counted["accepted"], expected.len());
    assert_eq!(counted["retries"], 0);
    assert_eq!(farm.stats()["totals"]["submissions"], SEQUENCE.len());
}

#[test]
fn wallet_mode_forwards_exactly_the_improving_submissions_of_the_whole_farm() {
    let farm = Farm::start_with(SimUpstreamConfig::default(), |cfg| {
        cfg.upstream.submission_mode = SubmissionMode::Wallet;
    });
    let expected = improving(&SEQUENCE, |_| 0);
    assert_eq!(expected.len(), 4);
    submit_sequence(&farm, &SEQUENCE, &expected);
    let counted = wait_for_outcomes(&farm, expected.len() as u64);
    assert_eq!(received(&farm), expected);
    assert_eq!(counted["accepted"], expected.len());
    assert_eq!(farm.stats()["totals"]["submissions"], SEQUENCE.len());
}
