//! Envelope rules, and the fast and general readings agreeing on every kind of body.

use super::*;

fn echo_method(call: &Call) -> CallResult {
    match call.method {
        "ping" => Ok(RawJson::from_value(&json!("pong"))),
        other => Err(RpcError::new(code::METHOD_NOT_FOUND, "method not found")
            .with_data(json!({ "method": other }))),
    }
}

fn answer(body: &str) -> Option<Value> {
    answer_body(body.as_bytes(), &mut echo_method).map(|b| serde_json::from_slice(&b).unwrap())
}

#[test]
fn ids_are_echoed_as_sent() {
    for id in [json!("a-uuid"), json!(7), json!(-1.5), Value::Null] {
        let body = json!({"jsonrpc": "2.0", "method": "ping", "id": id}).to_string();
        let got = answer(&body).unwrap();
        assert_eq!(got["id"], id);
        assert_eq!(got["result"], "pong");
    }
}

#[test]
fn envelope_errors_have_their_codes() {
    assert_eq!(answer("{not json").unwrap()["error"]["code"], -32700);
    assert_eq!(answer("{not json").unwrap()["id"], Value::Null);
    assert_eq!(answer("42").unwrap()["error"]["code"], -32600);
    assert_eq!(
        answer(r#"{"jsonrpc":"1.0","method":"ping","id":1}"#).unwrap()["id"],
        1
    );
    assert_eq!(
        answer(r#"{"jsonrpc":"2.0","id":1}"#).unwrap()["error"]["code"],
        -32600
    );
    assert_eq!(
        answer(r#"{"jsonrpc":"2.0","method":"ping","id":{}}"#).unwrap()["error"]["code"],
        -32600
    );
    assert_eq!(
        answer(r#"{"jsonrpc":"2.0","method":"ping","params":3,"id":1}"#).unwrap()["error"]["code"],
        -32600
    );
    let missing = answer(r#"{"jsonrpc":"2.0","method":"nope","id":1}"#).unwrap();
    assert_eq!(missing["error"]["code"], -32601);
    assert_eq!(missing["error"]["data"]["method"], "nope");
}

#[test]
fn batches_answer_in_order_and_skip_notifications() {
    let got = answer(r#"[{"jsonrpc":"2.0","method":"ping","id":1},{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method":"x","id":"b"}]"#).unwrap();
    let items = got.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], 1);
    assert_eq!(items[1]["error"]["code"], -32601);
    assert_eq!(answer("[]").unwrap()["error"]["code"], -32600);
    assert!(answer(r#"[{"jsonrpc":"2.0","method":"ping"}]"#).is_none());
    assert!(answer(r#"{"jsonrpc":"2.0","method":"ping"}"#).is_none());
}

/// Echoes what it was given, so any difference between the readings shows in the answer.
fn echo_call(call: &Call) -> CallResult {
    match call.method {
        "fail" => Err(RpcError::new(-1, "failed").with_data(json!({"m": call.method}))),
        method => Ok(RawJson::from_value(&json!({
            "method": method,
            "params": call.params.value().map(|p| p.into_owned()),
        }))),
    }
}

#[test]
fn both_readings_give_the_same_answers() {
    let bodies = [
        r#"{"jsonrpc":"2.0","method":"get_mining_info","params":{},"id":1}"#,
        r#"{"jsonrpc":"2.0","method":"m","params":[1,{"a":[2]}],"id":"x-1"}"#,
        r#" { "id" : null , "method" : "m" , "jsonrpc" : "2.0" } "#,
        r#"{"jsonrpc":"2.0","method":"m","params":null,"id":18446744073709551615}"#,
        r#"{"jsonrpc":"2.0","method":"m","id":18446744073709551616}"#,
        r#"{"jsonrpc":"2.0","method":"m","id":-7}"#,
        r#"{"jsonrpc":"2.0","method":"m","id":-0}"#,
        r#"{"jsonrpc":"2.0","method":"m","id":1.5}"#,
        r#"{"jsonrpc":"2.0","method":"m","id":"A
"}"#,
        r#"{"jsonrpc":"2.0","method":"m","id":"ünï"}"#,
        r#"{"jsonrpc":"2.0","method":"m","id":[1]}"#,
        r#"{"jsonrpc":"2.0","method":"m","id":true}"#,
        r#"{"jsonrpc":"2.0","method":"m"}"#,
        r#"{"jsonrpc":"2.0","method":"fail","id":3}"#,
        r#"{"jsonrpc":"2.0","method":"ma","id":3}"#,
        r#"{"jsonrpc":"2.0","method":"m","method":"fail","id":3}"#,
        r#"{"jsonrpc":"2.0","method":"m","id":1,"id":2}"#,
        r#"{"jsonrpc":"2.0","method":"m","params":{},"params":[],"id":1}"#,
        r#"{"jsonrpc":"2.0","method":"m","params":5,"id":1}"#,
        r#"{"jsonrpc":"2.0","method":"m","params":"p","id":1}"#,
        r#"{"jsonrpc":"2.0","method":7,"id":1}"#,
        r#"{"jsonrpc":"2.0","id":1}"#,
        r#"{"jsonrpc":"2.00","method":"m","id":1}"#,
        r#"{"jsonrpc":"2.0","method":"m","id":1}"#,
        r#"{"jsonrpc":null,"method":"m","id":1}"#,
        r#"{"method":"m","id":1}"#,
        r#"{"jsonrpc":"2.0","method":"m","id":1,"extra":{"deep":[[[]]]}}"#,
        r#"["jsonrpc","2.0"]"#,
        r#"[{"jsonrpc":"2.0","method":"m","id":1}]"#,
        r#"{"jsonrpc":"2.0","method":"m","id":1} x"#,
        r#"{"jsonrpc":"2.0","method":"m","id":1"#,
        "",
        "null",
    ];
    for body in bodies {
        let fast = answer_body(body.as_bytes(), &mut echo_call);
        let general = answer_general(body.as_bytes(), &mut echo_call);
        assert_eq!(fast, general, "body {body}");
    }
    let nested = format!(
        r#"{{"jsonrpc":"2.0","method":"m","id":1,"x":{}}}"#,
        "[".repeat(200)
    );
    assert_eq!(
        answer_body(nested.as_bytes(), &mut echo_call),
        answer_general(nested.as_bytes(), &mut echo_call)
    );
}

#[test]
fn plain_calls_take_the_fast_reading() {
    for body in [
        r#"{"jsonrpc":"2.0","method":"get_mining_info","params":{},"id":1}"#,
        r#"{"jsonrpc":"2.0","method":"submit_nonce","params":{"a":"b"},"id":"c"}"#,
        r#"{"jsonrpc":"2.0","method":"get_mining_info","id":null}"#,
    ] {
        assert!(single::parse(body.as_bytes()).is_some(), "{body}");
    }
    let text = RawJson::from_unsigned_fields(&[("poc_time", 7), ("raw_quality", 0)]);
    let value = json!({"raw_quality": 0, "poc_time": 7});
    assert_eq!(text, RawJson::from_value(&value));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let body = "[".repeat(100_000);
    assert_eq!(answer(&body).unwrap()["error"]["code"], -32700);
}

#[test]
fn bodies_that_are_not_utf8_take_the_general_reading_and_its_answer() {
    let valid = br#"{"jsonrpc":"2.0","method":"count","params":{"n":3},"id":"ab"}"#;
    // A byte that can never start a UTF-8 character, inside the id and outside any string.
    let in_string = [&valid[..58], b"\xff", &valid[59..]].concat();
    let outside = [&valid[..], b"\xff"].concat();
    for body in [in_string, outside] {
        assert!(single::parse(&body).is_none());
        assert_eq!(
            answer_body(&body, &mut echo_call),
            answer_general(&body, &mut echo_call)
        );
    }
}
