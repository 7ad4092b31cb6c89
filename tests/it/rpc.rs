//! The miner port's JSON-RPC surface, end to end through a real socket: envelope, ids, errors,
//! batches, pass-through. The HTTP side of the port (auth, limits, headers) is in `port`.

mod port;

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{account, wait_until, Farm};

#[test]
fn get_mining_info_passes_the_upstream_answer_through() {
    let mut extra = serde_json::Map::new();
    extra.insert("future_field".into(), json!({"nested": [1, 2, 3]}));
    let farm = Farm::start_with(
        pocx_aggregator::sim::SimUpstreamConfig {
            extra_fields: extra,
            ..Default::default()
        },
        |_| {},
    );
    let round = farm.wait_for_round();
    let answer = farm.rpc("get_mining_info", json!({}));
    assert_eq!(answer["jsonrpc"], "2.0");
    assert_eq!(answer["id"], 1);
    let result = &answer["result"];
    assert_eq!(result["height"], round.height);
    assert_eq!(result["generation_signature"], round.generation_signature);
    assert_eq!(result["base_target"], round.base_target);
    assert_eq!(result["future_field"], json!({"nested": [1, 2, 3]}));
}

#[test]
fn envelope_errors_travel_with_http_200() {
    let farm = Farm::start();
    farm.wait_for_round();
    let (status, body) = farm.post("{oops");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], -32700);
    assert_eq!(v["id"], Value::Null);
    let v = farm.rpc("no_such_method", json!({}));
    assert_eq!(v["error"]["code"], -32601);
    assert_eq!(v["error"]["data"]["method"], "no_such_method");
    let (status, body) = farm.post("[]");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        -32600
    );
}

#[test]
fn notifications_get_204_and_batches_get_arrays() {
    let farm = Farm::start();
    farm.wait_for_round();
    let (status, body) = farm.post(r#"{"jsonrpc":"2.0","method":"get_mining_info"}"#);
    assert_eq!((status, body.as_str()), (204, ""));
    let (status, body) = farm.post(
        r#"[{"jsonrpc":"2.0","method":"get_mining_info","id":"a"},{"jsonrpc":"2.0","method":"get_mining_info"},{"jsonrpc":"2.0","method":"x","id":2}]"#,
    );
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["id"], "a");
    assert_eq!(v[1]["error"]["code"], -32601);
}

#[test]
fn health_paths_and_methods() {
    let farm = Farm::start();
    farm.wait_for_round();
    let (status, body) = farm.get("/health");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["upstream_reachable"], true);
    assert_eq!(farm.get("/nope").0, 404);
    assert_eq!(farm.get("/").0, 405);
}

fn call(id: Value) -> String {
    json!({"jsonrpc": "2.0", "method": "get_mining_info", "params": {}, "id": id}).to_string()
}

#[test]
fn ids_are_echoed_as_sent() {
    let farm = Farm::start();
    farm.wait_for_round();
    let ids = [
        json!("3f2b8c1e-6a4d-4e0f-9b7a-2c5d8e1f0a93"),
        json!(0),
        json!(18_446_744_073_709_551_615u64),
        json!(-7),
        json!(2.5),
        Value::Null,
    ];
    for id in ids {
        let (status, body) = farm.post(&call(id.clone()));
        assert_eq!(status, 200);
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["id"], id, "{body}");
        assert!(answer.get("id").is_some(), "id member missing: {body}");
        assert!(answer["result"]["height"].is_u64(), "{body}");
    }
}

#[test]
fn invalid_requests_are_32600() {
    let farm = Farm::start();
    farm.wait_for_round();
    let cases = [
        ("not an object", r#"42"#, Value::Null),
        ("a string", r#""get_mining_info""#, Value::Null),
        (
            "jsonrpc 1.0",
            r#"{"jsonrpc":"1.0","method":"get_mining_info","id":5}"#,
            json!(5),
        ),
        (
            "jsonrpc missing",
            r#"{"method":"get_mining_info","id":"x"}"#,
            json!("x"),
        ),
        (
            "jsonrpc a number",
            r#"{"jsonrpc":2.0,"method":"get_mining_info","id":6}"#,
            json!(6),
        ),
        ("method missing", r#"{"jsonrpc":"2.0","id":7}"#, json!(7)),
        (
            "method not a string",
            r#"{"jsonrpc":"2.0","method":12,"id":8}"#,
            json!(8),
        ),
    ];
    for (what, body, id) in cases {
        let (status, text) = farm.post(body);
        assert_eq!(status, 200, "{what}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["jsonrpc"], "2.0", "{what}: {text}");
        assert_eq!(answer["error"]["code"], -32600, "{what}: {text}");
        assert_eq!(answer["id"], id, "{what}: {text}");
        assert!(answer.get("result").is_none(), "{what}: {text}");
    }
    // Inside a batch, each bad member gets its own -32600 and the good ones are answered.
    let (_, text) = farm.post(&format!("[1, {}]", call(json!(9))));
    let answers: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answers[0]["error"]["code"], -32600, "{text}");
    assert_eq!(answers[1]["id"], 9, "{text}");
    assert!(answers[1]["result"]["height"].is_u64(), "{text}");
}

#[test]
fn bad_submit_params_are_32602_naming_the_field() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    let good = Farm::submission(&round, &account(1), 5_000_000);
    let mut cases: Vec<(&str, Value)> = Vec::new();
    for field in pocx_aggregator::protocol::SUBMIT_NONCE_FIELDS {
        let mut params = good.clone();
        params.as_object_mut().unwrap().remove(field);
        cases.push((field, params));
    }
    let broken: [(&str, Value); 7] = [
        ("account_id", json!("abc")),
        ("account_id", json!("zz".repeat(20))),
        ("seed", json!("12".repeat(31))),
        ("height", json!(-1)),
        ("nonce", json!("42")),
        ("raw_quality", json!(1.5)),
        ("compression", json!(300)),
    ];
    for (field, value) in broken {
        let mut params = good.clone();
        params[field] = value;
        cases.push((field, params));
    }
    for (field, params) in cases {
        let answer = farm.rpc("submit_nonce", params.clone());
        assert_eq!(answer["error"]["code"], -32602, "{field}: {answer}");
        let details = answer["error"]["data"]["details"].as_str().unwrap_or("");
        assert!(
            details.contains(field),
            "details do not name `{field}`: {answer} (params {params})"
        );
    }
    let answer = farm.rpc("submit_nonce", json!([1, 2, 3]));
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    // Nothing of this reached the upstream.
    assert_eq!(farm.upstream.submit_calls(), 0);
}

#[test]
fn a_batch_mixes_mining_info_and_submissions() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    let submission = Farm::submission(&round, &account(3), 7_000_000_000);
    let mut bad = submission.clone();
    bad["seed"] = json!("nothex");
    let batch = json!([
        {"jsonrpc": "2.0", "method": "get_mining_info", "id": "info"},
        {"jsonrpc": "2.0", "method": "submit_nonce", "params": submission, "id": 2},
        {"jsonrpc": "2.0", "method": "submit_nonce", "params": bad, "id": 3},
        {"jsonrpc": "2.0", "method": "get_mining_info", "params": {}, "id": null},
    ]);
    let (status, text) = farm.post(&batch.to_string());
    assert_eq!(status, 200);
    let answers: Value = serde_json::from_str(&text).unwrap();
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 4, "{text}");
    assert_eq!(answers[0]["id"], "info");
    assert_eq!(answers[0]["result"]["block_hash"], round.block_hash);
    assert_eq!(answers[1]["id"], 2);
    assert_eq!(answers[1]["result"]["raw_quality"], 7_000_000_000u64);
    assert!(answers[1]["result"]["poc_time"].is_u64(), "{text}");
    assert_eq!(answers[2]["id"], 3);
    assert_eq!(answers[2]["error"]["code"], -32602);
    assert_eq!(answers[3]["id"], Value::Null);
    assert_eq!(answers[3]["result"]["height"], round.height);
    // The good submission is forwarded like any other.
    wait_until(Duration::from_secs(5), || farm.upstream.submit_calls() == 1);
    let forwarded = farm.upstream.submissions();
    assert_eq!(forwarded[0].params["account_id"], account(3));
}
