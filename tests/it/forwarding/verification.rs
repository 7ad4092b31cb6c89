//! Verification: a real nonce (built here with pocx_hashlib) is forwarded, a forged quality
//! never is.

use serde_json::json;

use pocx_aggregator::sim::SimUpstreamConfig;

use super::kit::*;
use crate::support::{account, Farm};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn verification_forwards_a_real_nonce_and_drops_a_forged_quality() {
    let farm = Farm::start_with(SimUpstreamConfig::default(), |cfg| {
        cfg.upstream.verify_submissions = true;
    });
    let round = farm.wait_for_round();
    let payload = [0x11u8; 20];
    let seed = [0x5au8; 32];
    let nonce = 3052;
    let gensig = pocx_hashlib::decode_generation_signature(&round.generation_signature).unwrap();
    let real = pocx_hashlib::calculate_quality_from_height(
        &payload,
        &seed,
        nonce,
        1,
        round.height,
        &gensig,
    )
    .unwrap();
    assert!(real > 1);
    let claim = |raw_quality: u64| {
        json!({
            "block_hash": round.block_hash,
            "height": round.height,
            "generation_signature": round.generation_signature,
            "base_target": round.base_target,
            "account_id": hex(&payload),
            "seed": hex(&seed),
            "nonce": nonce,
            "compression": 1,
            "raw_quality": raw_quality,
        })
    };
    // A forged claim first: it must not take the best slot from the honest one after it.
    result(&farm.rpc("submit_nonce", claim(real / 2)));
    result(&farm.rpc("submit_nonce", claim(real)));
    let counted = wait_for_outcomes(&farm, 2);
    assert_eq!(dropped_for(&counted, "failed_verification"), 1);
    assert_eq!(counted["accepted"], 1);
    // And a forged improvement after the honest one goes nowhere either.
    result(&farm.rpc("submit_nonce", claim(real - 1)));
    let counted = wait_for_outcomes(&farm, 3);
    assert_eq!(dropped_for(&counted, "failed_verification"), 2);
    assert_eq!(received(&farm), [(hex(&payload), real)]);
    let stats = farm.stats();
    assert_eq!(stats["totals"]["failed_verification"], 2);
    assert_eq!(account_row(&farm, &hex(&payload))["rejected"], 2);
}

#[test]
fn the_round_best_never_shows_a_claim_that_failed_verification() {
    let farm = Farm::start_with(SimUpstreamConfig::default(), |cfg| {
        cfg.upstream.verify_submissions = true;
    });
    let round = farm.wait_for_round();
    // No nonce has quality 1: the claim fails verification.
    result(&farm.submit(&round, &account(1), 1));
    let counted = wait_for_outcomes(&farm, 1);
    assert_eq!(dropped_for(&counted, "failed_verification"), 1);
    let stats = farm.stats();
    assert_ne!(stats["best"]["raw_quality"], 1, "{}", stats["best"]);
}
