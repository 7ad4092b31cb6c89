//! The miner port's JSON-RPC surface, end to end through a real socket.

use serde_json::{json, Value};

use crate::support::Farm;

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
