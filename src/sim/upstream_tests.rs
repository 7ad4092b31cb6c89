//! Socket-level checks of the simulated upstream, on 127.0.0.1 port 0.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::protocol::code;
use crate::testkit::{agent_with_timeout, wait_until};

/// POSTs `body`; Ok((status, content type, body text)) or the transport error.
pub(super) fn post(
    agent: &ureq::Agent,
    url: &str,
    body: &str,
) -> Result<(u16, String, String), ureq::Error> {
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.body_mut().read_to_string()?;
    Ok((status, content_type, text))
}

pub(super) fn call(upstream: &SimUpstream, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 7});
    let (status, _, text) = post(
        &agent_with_timeout(Duration::from_secs(5)),
        &upstream.url(),
        &body.to_string(),
    )
    .expect("upstream answers");
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("json answer")
}

pub(super) fn submit_params(round: &SimRound, raw_quality: u64) -> Value {
    json!({
        "block_hash": round.block_hash,
        "height": round.height,
        "generation_signature": round.generation_signature,
        "base_target": round.base_target,
        "account_id": "ab".repeat(20),
        "seed": "cd".repeat(32),
        "nonce": 1,
        "compression": 1,
        "raw_quality": raw_quality,
    })
}

pub(super) fn start() -> SimUpstream {
    SimUpstream::start(SimUpstreamConfig {
        hang_limit: Duration::from_secs(3),
        ..SimUpstreamConfig::default()
    })
    .unwrap()
}

#[test]
fn mining_info_has_every_field_and_round_changes() {
    let upstream = start();
    assert!(upstream.addr().ip().is_loopback());
    assert_ne!(upstream.addr().port(), 0);
    let answer = call(&upstream, "get_mining_info", json!({}));
    assert_eq!(answer["id"], 7);
    let info = &answer["result"];
    let round = upstream.current_round();
    assert_eq!(info["height"], round.height);
    assert_eq!(info["block_hash"], round.block_hash.as_str());
    assert_eq!(
        info["generation_signature"],
        round.generation_signature.as_str()
    );
    assert_eq!(info["base_target"], GENESIS_BASE_TARGET_120);
    assert_eq!(info["target_quality"], u64::MAX);
    assert!(info["minimum_compression_level"].is_u64());
    assert!(info["target_compression_level"].is_u64());

    let next = upstream.new_round();
    assert_eq!(next.height, round.height + 1);
    assert_ne!(next.block_hash, round.block_hash);
    let info = call(&upstream, "get_mining_info", json!({}))["result"].clone();
    assert_eq!(info["height"], next.height);
    assert_eq!(info["block_hash"], next.block_hash.as_str());
    assert_eq!(info["base_target"], GENESIS_BASE_TARGET_120);
    assert_eq!(upstream.mining_info_calls(), 2);
    upstream.shutdown();
}

#[test]
fn extra_fields_pass_into_mining_info() {
    let mut extra = serde_json::Map::new();
    extra.insert("future_field".into(), json!({"nested": [1, 2]}));
    let upstream = SimUpstream::start(SimUpstreamConfig {
        extra_fields: extra,
        ..SimUpstreamConfig::default()
    })
    .unwrap();
    let info = call(&upstream, "get_mining_info", Value::Null)["result"].clone();
    assert_eq!(info["future_field"]["nested"][1], 2);
}

#[test]
fn submissions_are_checked_answered_and_recorded() {
    let upstream = start();
    let round = upstream.current_round();
    let ok = call(&upstream, "submit_nonce", submit_params(&round, 5_000_000));
    assert_eq!(ok["result"]["raw_quality"], 5_000_000);
    assert!(ok["result"]["poc_time"].is_u64());

    let mut wrong = submit_params(&round, 7);
    wrong["height"] = json!(round.height + 5);
    let rejected = call(&upstream, "submit_nonce", wrong);
    assert_eq!(rejected["error"]["code"], code::WRONG_HEIGHT);
    assert_eq!(rejected["error"]["data"]["reason"], "wrong_height");
    assert_eq!(rejected["error"]["data"]["expected"], round.height);
    assert_eq!(rejected["error"]["data"]["submitted"], round.height + 5);

    let stale_round = round.clone();
    upstream.new_round();
    let mut stale = submit_params(&upstream.current_round(), 9);
    stale["block_hash"] = json!(stale_round.block_hash);
    let stale_answer = call(&upstream, "submit_nonce", stale);
    assert_eq!(stale_answer["error"]["code"], code::INVALID_SUBMISSION);
    assert!(stale_answer["error"]["data"]["reason"].is_string());

    let history = upstream.submissions();
    assert_eq!(history.len(), 3);
    assert_eq!(upstream.submit_calls(), 3);
    assert!(history[0].answer.is_accepted());
    assert_eq!(
        history[0].submission.as_ref().unwrap().raw_quality,
        5_000_000
    );
    assert_eq!(
        history[1].answer,
        RecordedAnswer::RpcError(code::WRONG_HEIGHT)
    );
    assert_eq!(
        history[2].answer,
        RecordedAnswer::RpcError(code::INVALID_SUBMISSION)
    );
    assert!(history[0].received_at <= history[2].received_at);
}

#[test]
fn submit_overrides_and_scripts_touch_only_submissions() {
    let upstream = start();
    let round = upstream.current_round();
    upstream.script_submit_answers(vec![
        Behaviour::RpcError(code::RATE_LIMITED),
        Behaviour::Http500,
    ]);
    let first = call(&upstream, "submit_nonce", submit_params(&round, 10));
    assert_eq!(first["error"]["code"], code::RATE_LIMITED);
    let body =
        json!({"jsonrpc":"2.0","method":"submit_nonce","params":submit_params(&round, 9),"id":1});
    let client = agent_with_timeout(Duration::from_secs(5));
    assert_eq!(
        post(&client, &upstream.url(), &body.to_string()).unwrap().0,
        500
    );
    assert!(call(&upstream, "submit_nonce", submit_params(&round, 8))["result"].is_object());

    upstream.set_submit_behaviour(Some(Behaviour::RpcError(code::NOT_ASSIGNED)));
    assert!(call(&upstream, "get_mining_info", json!({}))["result"].is_object());
    let overridden = call(&upstream, "submit_nonce", submit_params(&round, 7));
    assert_eq!(overridden["error"]["code"], code::NOT_ASSIGNED);
    upstream.set_submit_behaviour(None);
    assert!(call(&upstream, "submit_nonce", submit_params(&round, 6))["result"].is_object());

    let answers: Vec<RecordedAnswer> = upstream
        .submissions()
        .into_iter()
        .map(|s| s.answer)
        .collect();
    assert_eq!(answers.len(), 5);
    assert_eq!(answers[0], RecordedAnswer::RpcError(code::RATE_LIMITED));
    assert_eq!(answers[1], RecordedAnswer::HttpStatus(500));
    assert!(answers[2].is_accepted() && answers[4].is_accepted());
    assert_eq!(answers[3], RecordedAnswer::RpcError(code::NOT_ASSIGNED));
}

#[test]
fn authorization_is_required_when_configured() {
    let upstream = SimUpstream::start(SimUpstreamConfig {
        require_auth: Some("Basic dXNlcjpwYXNz".into()),
        ..SimUpstreamConfig::default()
    })
    .unwrap();
    let client = agent_with_timeout(Duration::from_secs(5));
    let info = r#"{"jsonrpc":"2.0","method":"get_mining_info","id":1}"#;
    assert_eq!(post(&client, &upstream.url(), info).unwrap().0, 401);
    let mut response = client
        .post(&upstream.url())
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send(info)
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert!(answer["result"]["height"].is_u64());
}

#[test]
fn bad_input_gets_json_rpc_errors_not_panics() {
    let upstream = start();
    let client = agent_with_timeout(Duration::from_secs(5));
    let url = upstream.url();
    let error_code = |body: &str| -> Value {
        let (status, _, text) = post(&client, &url, body).unwrap();
        assert_eq!(status, 200, "{body} -> {text}");
        serde_json::from_str::<Value>(&text).unwrap()["error"]["code"].clone()
    };
    assert_eq!(error_code("{not json"), code::PARSE_ERROR);
    assert_eq!(error_code("[]"), code::INVALID_REQUEST);
    assert_eq!(error_code("42"), code::INVALID_REQUEST);
    assert_eq!(
        error_code(r#"{"jsonrpc":"1.0","method":"get_mining_info","id":1}"#),
        code::INVALID_REQUEST
    );
    assert_eq!(
        error_code(r#"{"jsonrpc":"2.0","method":"nope","id":1}"#),
        code::METHOD_NOT_FOUND
    );
    assert_eq!(
        error_code(r#"{"jsonrpc":"2.0","method":"submit_nonce","params":{"height":-1},"id":1}"#),
        code::INVALID_PARAMS
    );
    // A notification gets no answer object; a batch gets one per call with an id.
    let (status, _, _) = post(
        &client,
        &url,
        r#"{"jsonrpc":"2.0","method":"get_mining_info"}"#,
    )
    .unwrap();
    assert_eq!(status, 204);
    let batch = r#"[{"jsonrpc":"2.0","method":"get_mining_info","id":1},{"jsonrpc":"2.0","method":"get_mining_info"},{"jsonrpc":"2.0","method":"x","id":2}]"#;
    let (_, _, text) = post(&client, &url, batch).unwrap();
    let answers: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answers.as_array().unwrap().len(), 2);
    assert!(answers[0]["result"]["height"].is_u64());
    assert_eq!(answers[1]["error"]["code"], code::METHOD_NOT_FOUND);
    let mut get = client.get(&url).call().unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let _ = get.body_mut().read_to_string();
    assert!(upstream.mining_info_calls() >= 3);
    // Only the malformed submit reached the history; nothing panicked.
    assert_eq!(upstream.submissions().len(), 1);
    assert!(upstream.submissions()[0].submission.is_none());
}

#[test]
fn round_timer_starts_rounds_on_its_own() {
    let upstream = SimUpstream::start(SimUpstreamConfig {
        round_interval: Some(Duration::from_millis(50)),
        ..SimUpstreamConfig::default()
    })
    .unwrap();
    let first = upstream.current_round().height;
    wait_until(Duration::from_secs(5), || {
        upstream.current_round().height >= first + 2
    });
}

#[test]
fn raw_socket_garbage_gets_a_400_and_the_server_carries_on() {
    use std::io::{Read, Write};
    let upstream = start();
    let mut socket = std::net::TcpStream::connect(upstream.addr()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket
        .write_all(b"\x00\x01\x02 not http at all\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(call(&upstream, "get_mining_info", json!({}))["result"].is_object());
}
