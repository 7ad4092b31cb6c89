//! A flood of distinct accounts: answers keep coming, caps hold, every outcome is counted.

use std::time::Duration;

use serde_json::{json, Value};

use pocx_aggregator::protocol::is_transient_code;
use pocx_aggregator::sim::{RecordedAnswer, SimRound};

use super::kit::*;
use crate::support::{self, account, eventually, Farm};

/// Distinct accounts in the flood: twice what statistics track, over four rounds.
const FLOOD_ROUNDS: u32 = 4;
const FLOOD_THREADS: u32 = 4;
const FLOOD_BATCHES: u32 = 25;
const FLOOD_BATCH: u32 = 50;

/// One thread's share of a flood round: batches of submissions, each for a new account.
fn flood(url: &str, round: &SimRound, first_account: u32) {
    let agent = support::agent();
    for batch in 0..FLOOD_BATCHES {
        let calls: Vec<Value> = (0..FLOOD_BATCH)
            .map(|i| {
                let n = first_account + batch * FLOOD_BATCH + i;
                let params = Farm::submission(round, &account(n), 1_000_000 + u64::from(n));
                json!({"jsonrpc": "2.0", "method": "submit_nonce", "params": params, "id": n})
            })
            .collect();
        let (status, body) = support::post(&agent, url, &Value::Array(calls).to_string(), &[]);
        assert_eq!(status, 200);
        let answers: Vec<Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(answers.len(), FLOOD_BATCH as usize);
        for answer in &answers {
            assert!(answer["result"]["poc_time"].is_u64(), "{answer}");
        }
    }
}

#[test]
fn an_account_flood_stays_bounded_and_responsive() {
    let farm = Farm::start();
    let per_round = FLOOD_THREADS * FLOOD_BATCHES * FLOOD_BATCH;
    let total = u64::from(FLOOD_ROUNDS * per_round);
    let mut polls = 0u32;
    for r in 0..FLOOD_ROUNDS {
        if r > 0 {
            farm.upstream.new_round();
        }
        let round = farm.wait_for_round();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..FLOOD_THREADS)
                .map(|t| {
                    let first = 1 + r * per_round + t * FLOOD_BATCHES * FLOOD_BATCH;
                    let (url, round) = (&farm.url, &round);
                    scope.spawn(move || flood(url, round, first))
                })
                .collect();
            // Miners that only poll are still served during the flood.
            while !workers.iter().all(|w| w.is_finished()) {
                let info = farm.rpc("get_mining_info", json!({}));
                assert_eq!(info["result"]["height"], round.height);
                polls += 1;
                // A polling miner's pace while the flood runs.
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    }
    assert!(polls > 0);
    // Every submission was a new account, so every one was handed on and gets one outcome.
    let settled = eventually(Duration::from_secs(20), || {
        outcomes(&forwards(&farm)) >= total
    });
    assert!(settled, "outcomes: {}", forwards(&farm));
    let stats = farm.stats();
    let counted = &stats["upstream"]["forwards"];
    assert_eq!(outcomes(counted), total);
    assert_eq!(stats["totals"]["submissions"], total);
    let cap = pocx_aggregator::stats::DEFAULT_KEY_CAP as u64;
    assert_eq!(stats["totals"]["accounts"], cap);
    assert_eq!(stats["totals"]["untracked_accounts"], total - cap);
    assert_eq!(
        stats["accounts"].as_array().map(Vec::len),
        Some(cap as usize)
    );
    assert_eq!(stats["totals"]["filter_capped"], 0);
    assert_eq!(stats["upstream"]["queue_depth"], 0);
    // What the statistics say went up is what the upstream saw.
    let calls = farm.upstream.submissions();
    let accepted = calls.iter().filter(|c| c.answer.is_accepted()).count();
    let refused = calls
        .iter()
        .filter(|c| matches!(c.answer, RecordedAnswer::RpcError(code) if !is_transient_code(code)))
        .count();
    assert_eq!(counted["accepted"], accepted);
    assert_eq!(counted["rejected"], refused);
    assert!(calls.len() as u64 >= accepted as u64 + refused as u64);
    // Still forwarding afterwards.
    let round = farm.wait_for_round();
    result(&farm.submit(&round, &account(1), 1));
    assert!(wait_for_calls(&farm, &account(1), 1)
        .iter()
        .any(|c| c.params["raw_quality"] == 1));
}
