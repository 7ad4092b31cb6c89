//! Integration tests: `submit_nonce` on the miner port. Validation of every parameter, checks
//! against the served rounds (generation signature, base target, height, block hash, the
//! window of three rounds, the refresh a future height triggers), the immediate answer with the
//! round's poc_time, and one counted outcome per forwarded submission.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use pocx_aggregator::protocol::is_transient_code;
use pocx_aggregator::sim::{Behaviour, RecordedAnswer, SimUpstreamConfig};

use crate::forwarding::kit::*;
use crate::support::{account, Farm};

/// Reference figures of the exact time-bending method (block time 120 s): the real 1 GiB plot
/// against the genesis base target, and a row of the reference vectors at half that target.
const GENESIS_FIGURE: (u64, u64, u64) = (2_387_302_541_580_475, 36_650_387_592, 1096);
const HALF_TARGET_FIGURE: (u64, u64, u64) = (4_398_046_511_104, 18_325_193_796, 169);

fn upstream_with_base_target(base_target: u64) -> SimUpstreamConfig {
    SimUpstreamConfig {
        base_target,
        ..SimUpstreamConfig::default()
    }
}

#[test]
fn every_broken_rule_is_invalid_params_and_goes_nowhere() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    let good = Farm::submission(&round, &account(1), 1000);
    let mut cases: Vec<(&str, Value)> = Vec::new();
    for field in pocx_aggregator::protocol::SUBMIT_NONCE_FIELDS {
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove(field);
        cases.push((field, missing));
        let mut null = good.clone();
        null[field] = Value::Null;
        cases.push((field, null));
    }
    let broken = |field: &'static str, value: Value| {
        let mut params = good.clone();
        params[field] = value;
        (field, params)
    };
    let big: Value = serde_json::from_str("18446744073709551616").unwrap();
    cases.extend([
        broken("block_hash", json!("")),
        broken("block_hash", json!("abc")),
        broken("block_hash", json!("zz".repeat(32))),
        broken("block_hash", json!("ab".repeat(65))),
        broken("height", json!(-1)),
        broken("height", json!(1.5)),
        broken("height", json!(round.height.to_string())),
        broken("height", big.clone()),
        broken("generation_signature", json!("ab".repeat(31))),
        broken("generation_signature", json!("gg".repeat(32))),
        broken("base_target", json!(0)),
        broken("base_target", json!(-5)),
        broken("account_id", json!("11".repeat(19))),
        broken("account_id", json!("11".repeat(21))),
        broken("account_id", json!(format!("0x{}", "11".repeat(19)))),
        broken("seed", json!("ab".repeat(33))),
        broken("seed", json!(42)),
        broken("nonce", json!("42")),
        broken("nonce", json!(-42)),
        broken("compression", json!(256)),
        broken("compression", json!(1.0)),
        broken("raw_quality", json!(-1)),
        broken("raw_quality", big),
    ]);
    for (field, params) in &cases {
        let (code, data) = error(&farm.rpc("submit_nonce", params.clone()));
        assert_eq!(code, -32602, "{field}: {params}");
        let details = data["details"].as_str().unwrap_or("");
        assert!(details.starts_with(field), "{field}: {details}");
    }
    // Positional, null or absent params: the named fields are required.
    let (_, absent) = farm.post(r#"{"jsonrpc":"2.0","method":"submit_nonce","id":1}"#);
    let absent: Value = serde_json::from_str(&absent).unwrap();
    for answer in [
        farm.rpc("submit_nonce", json!([1, 2])),
        farm.rpc("submit_nonce", Value::Null),
        absent,
    ] {
        let (code, data) = error(&answer);
        assert_eq!(code, -32602);
        assert!(data["details"].as_str().unwrap_or("").starts_with("params"));
    }
    // Params that are not even structured make the request itself invalid (JSON-RPC 2.0).
    assert_eq!(error(&farm.rpc("submit_nonce", json!("x"))).0, -32600);
    // Nothing counted as a submission, nothing sent (the forwarder holds nothing in flight).
    farm.settle();
    assert_eq!(farm.stats()["totals"]["submissions"], 0);
    assert_eq!(farm.upstream.submit_calls(), 0);
}

#[test]
fn a_generation_signature_or_base_target_not_of_the_round_is_an_invalid_submission() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    let mut fork = Farm::submission(&round, &account(1), 1000);
    fork["generation_signature"] = json!("cd".repeat(32));
    let (code, data) = error(&farm.rpc("submit_nonce", fork));
    assert_eq!(code, -32001);
    assert!(data["reason"].is_string());
    // The mock chain refuses a base target claim that is not the round's (-32001) too.
    let mut claim = Farm::submission(&round, &account(1), 1000);
    claim["base_target"] = json!(round.base_target / 2);
    let (code, data) = error(&farm.rpc("submit_nonce", claim));
    assert_eq!(code, -32001);
    assert_eq!(data["expected"], round.base_target);
    assert_eq!(data["submitted"], round.base_target / 2);
    // Hex case does not matter for the round's identity.
    let mut upper = Farm::submission(&round, &account(2), 1000);
    upper["block_hash"] = json!(round.block_hash.to_uppercase());
    upper["generation_signature"] = json!(round.generation_signature.to_uppercase());
    result(&farm.rpc("submit_nonce", upper));
    wait_for_calls(&farm, &account(2), 1);
    farm.settle();
    assert!(calls_for(&farm, &account(1)).is_empty());
}

#[test]
fn every_valid_submission_is_answered_at_once_with_the_rounds_poc_time() {
    for (raw_quality, base_target, poc_time) in [GENESIS_FIGURE, HALF_TARGET_FIGURE] {
        let upstream = SimUpstreamConfig {
            hang_limit: Duration::from_secs(5),
            ..upstream_with_base_target(base_target)
        };
        let farm = Farm::start_with(upstream, |cfg| {
            cfg.cache.pool_timeout = Duration::from_secs(4);
        });
        let round = farm.wait_for_round();
        assert_eq!(round.base_target, base_target);
        // The upstream holds every submit: answers must not wait for it.
        farm.upstream.set_submit_behaviour(Some(Behaviour::Hang));
        let asked = Instant::now();
        // An improving one (forwarded), then a worse and an equal one (not forwarded).
        for quality in [raw_quality, raw_quality + 1, raw_quality] {
            let answer = farm.submit(&round, &account(1), quality);
            assert_eq!(result(&answer)["raw_quality"], quality);
            assert!(result(&answer)["poc_time"].is_u64());
            if quality == raw_quality {
                assert_eq!(result(&answer)["poc_time"], poc_time);
            }
        }
        assert!(asked.elapsed() < Duration::from_secs(3));
        let answer = farm.submit(&round, &account(2), raw_quality);
        assert_eq!(result(&answer)["poc_time"], poc_time);
        wait_for_calls(&farm, &account(1), 1);
        assert_eq!(farm.stats()["totals"]["submissions"], 4);
    }
}

#[test]
fn a_height_above_ours_refreshes_before_deciding() {
    let farm = Farm::start_with(SimUpstreamConfig::default(), |cfg| {
        cfg.cache.refresh_interval = Duration::from_secs(60);
    });
    farm.wait_for_round();
    let polls = farm.upstream.mining_info_calls();
    let next = farm.upstream.new_round();
    let answer = farm.submit(&next, &account(1), 1000);
    assert_eq!(result(&answer)["raw_quality"], 1000);
    assert!(farm.upstream.mining_info_calls() > polls);
    let info = farm.rpc("get_mining_info", json!({}));
    assert_eq!(info["result"]["height"], next.height);
    // It counts for the new round and goes upstream, which accepts it.
    let calls = wait_for_calls(&farm, &account(1), 1);
    assert!(calls[0].answer.is_accepted());
    assert_eq!(wait_for_outcomes(&farm, 1)["accepted"], 1);
}

#[test]
fn a_height_upstream_does_not_have_is_a_wrong_height() {
    let farm = Farm::start_with(SimUpstreamConfig::default(), |cfg| {
        cfg.cache.refresh_interval = Duration::from_secs(60);
    });
    let round = farm.wait_for_round();
    let polls = farm.upstream.mining_info_calls();
    let mut ahead = Farm::submission(&round, &account(1), 1000);
    ahead["height"] = json!(round.height + 5);
    let (code, data) = error(&farm.rpc("submit_nonce", ahead));
    assert_eq!(code, -32002);
    assert_eq!(data["reason"], "wrong_height");
    assert_eq!(data["expected"], round.height);
    assert_eq!(data["submitted"], round.height + 5);
    assert!(
        farm.upstream.mining_info_calls() > polls,
        "asked upstream first"
    );
    assert_eq!(farm.upstream.submit_calls(), 0);
}

#[test]
fn another_block_hash_at_a_served_height_is_stale() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    let mut fork = Farm::submission(&round, &account(1), 1000);
    fork["block_hash"] = json!("ee".repeat(32));
    let (code, data) = error(&farm.rpc("submit_nonce", fork));
    assert_eq!(code, -32003);
    assert_eq!(data["reason"], "stale");
    farm.settle();
    assert_eq!(farm.upstream.submit_calls(), 0);
    assert_eq!(farm.stats()["totals"]["submissions"], 0);
}

#[test]
fn the_last_three_rounds_are_served_and_older_ones_are_stale() {
    let farm = Farm::start();
    let oldest = farm.wait_for_round();
    let mut rounds = vec![oldest];
    for _ in 0..3 {
        farm.upstream.new_round();
        rounds.push(farm.wait_for_round());
    }
    // Four rounds seen: the first has left the window, whatever its block hash.
    let (code, data) = error(&farm.submit(&rounds[0], &account(1), 1000));
    assert_eq!(code, -32003);
    assert_eq!(data["reason"], "stale");
    for (i, round) in rounds.iter().enumerate().skip(1) {
        let who = account(10 + i as u32);
        assert_eq!(result(&farm.submit(round, &who, 1000))["raw_quality"], 1000);
        // Still live: handed on; the upstream, past those rounds, refuses the older two.
        let calls = wait_for_calls(&farm, &who, 1);
        match i {
            3 => assert!(calls[0].answer.is_accepted()),
            _ => assert_eq!(calls[0].answer, RecordedAnswer::RpcError(-32002)),
        }
    }
    let counted = wait_for_outcomes(&farm, 3);
    assert_eq!(
        (counted["accepted"].clone(), counted["rejected"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(counted["rejected_by_code"]["-32002"], 2);
    assert!(calls_for(&farm, &account(1)).is_empty());
}

#[test]
fn every_forwarded_submission_has_one_outcome_matching_the_upstream_record() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    // Accepted.
    result(&farm.submit(&round, &account(1), 500));
    wait_for_outcomes(&farm, 1);
    // Not better: answered, never forwarded, no outcome.
    result(&farm.submit(&round, &account(1), 600));
    // Rejected.
    farm.upstream
        .script_submit_answers(vec![Behaviour::RpcError(-32007)]);
    result(&farm.submit(&round, &account(2), 700));
    wait_for_outcomes(&farm, 2);
    // Accepted after two retries.
    farm.upstream
        .script_submit_answers(vec![Behaviour::Http500, Behaviour::RpcError(-32006)]);
    result(&farm.submit(&round, &account(3), 800));
    wait_for_outcomes(&farm, 3);
    // Given up on after every retry.
    farm.upstream.set_submit_behaviour(Some(Behaviour::Http500));
    result(&farm.submit(&round, &account(4), 900));
    wait_for_outcomes(&farm, 4);
    farm.upstream.set_submit_behaviour(None);
    // Accepted, improving on the first.
    result(&farm.submit(&round, &account(1), 400));
    let counted = wait_for_outcomes(&farm, 5);

    let calls = farm.upstream.submissions();
    let accepted = calls.iter().filter(|c| c.answer.is_accepted()).count();
    let refused = calls
        .iter()
        .filter(|c| matches!(c.answer, RecordedAnswer::RpcError(code) if !is_transient_code(code)))
        .count();
    let given_up = dropped_for(&counted, "retries_exhausted");
    assert_eq!(counted["accepted"], accepted);
    assert_eq!(counted["rejected"], refused);
    assert_eq!((accepted, refused, given_up), (3, 1, 1));
    // Every call is a first attempt or a retry; 3 + 1 + 1 first attempts.
    let retries = counted["retries"].as_u64().unwrap();
    assert_eq!(calls.len() as u64, 5 + retries);
    assert_eq!(retries, 2 + 3);
    assert_eq!(counted["dropped"], given_up);
    assert_eq!(farm.stats()["totals"]["submissions"], 6);
    assert_eq!(account_row(&farm, &account(2))["rejected"], 1);
}

#[test]
fn a_rejection_is_counted_against_its_account_however_fast_it_comes() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    farm.upstream
        .set_submit_behaviour(Some(Behaviour::RpcError(-32007)));
    let accounts = 60u32;
    let calls: Vec<Value> = (1..=accounts)
        .map(|n| {
            let params = Farm::submission(&round, &account(n), 1000);
            json!({"jsonrpc": "2.0", "method": "submit_nonce", "params": params, "id": n})
        })
        .collect();
    let (status, _) = farm.post(&Value::Array(calls).to_string());
    assert_eq!(status, 200);
    let counted = wait_for_outcomes(&farm, u64::from(accounts));
    assert_eq!(counted["rejected"], accounts);
    let stats = farm.stats();
    let rows = stats["accounts"].as_array().unwrap();
    assert_eq!(rows.len(), accounts as usize);
    for row in rows {
        assert_eq!(row["rejected"], 1, "{row}");
    }
}
