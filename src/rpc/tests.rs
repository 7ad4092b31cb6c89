//! Envelope rules, and the one reading refusing exactly the bodies a `Value` reading refuses.
//! Named params are read as a `Value` here: the envelope takes any params type.

use super::*;

fn echo_method(call: &Call<Value>) -> CallResult {
    match call.method {
        "ping" => Ok(RawJson::from_value(&json!("pong"))),
        other => Err(RpcError::new(code::METHOD_NOT_FOUND, "method not found")
            .with_data(json!({ "method": other }))),
    }
}

fn answer(body: &str) -> Option<Value> {
    answer_body::<Value>(body.as_bytes(), &mut echo_method)
        .map(|b| serde_json::from_slice(&b).unwrap())
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

/// Echoes what it was given, so what the reading took shows in the answer.
fn echo_call(call: &Call<Value>) -> CallResult {
    let params = match call.params {
        Params::Absent => Value::Null,
        Params::Named(params) => params.clone(),
        Params::Positional => json!("positional"),
        Params::Other => json!("other"),
    };
    Ok(RawJson::from_value(
        &json!({"method": call.method, "params": params}),
    ))
}

fn echoed(body: &[u8]) -> Option<Value> {
    answer_body::<Value>(body, &mut echo_call).map(|b| serde_json::from_slice(&b).unwrap())
}

#[test]
fn members_are_read_as_a_value_holds_them() {
    // The last of duplicate members wins; escapes in names and values are decoded.
    let got = echoed(br#"{"jsonrpc":"2.0","method":"a","method":"b","params":[1],"params":{"k":[2]},"id":1,"id":"x"}"#).unwrap();
    assert_eq!(got["result"], json!({"method": "b", "params": {"k": [2]}}));
    assert_eq!(got["id"], "x");
    let got = echoed(br#"{"\u006asonrpc":"\u0032.0","\u006dethod":"\u00e9","\u0069d":"\u0061"}"#)
        .unwrap();
    assert_eq!(got["result"]["method"], "\u{e9}");
    assert_eq!(got["id"], "a");
    let got = echoed(br#"{"jsonrpc":"2.0","method":"m","params":[{"a":1}],"id":null}"#).unwrap();
    assert_eq!(got["result"]["params"], "positional");
    assert_eq!(got["id"], Value::Null);
    let got =
        echoed(br#"{"jsonrpc":"2.0","method":"m","params":{},"params":null,"id":0}"#).unwrap();
    assert_eq!(got["result"]["params"], Value::Null);
}

#[test]
fn a_body_is_refused_as_json_exactly_when_a_value_reading_refuses_it() {
    let call = |extra: &str| format!(r#"{{"jsonrpc":"2.0","method":"m","id":1,"x":{extra}}}"#);
    let nested = |depth: usize| call(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
    let bodies = [
        call("1e400"),
        call("-1e400"),
        call("[1e400]"),
        call("{\"a\":1e400}"),
        call("1e308"),
        call("18446744073709551616"),
        call(r#""\ud800""#),
        call(r#""\udc00x""#),
        call(r#""\ud83d\ude00""#),
        call(r#"{"\ud800":1}"#),
        call(r#""\x""#),
        call("tru"),
        call("01"),
        call("[1,]"),
        nested(126),
        nested(127),
        nested(128),
        format!("[{}]", call("1e400")),
        format!("[{},1e400]", call("1")),
        format!("{} x", call("1")),
        format!("{} \n", call("1")),
        call("1").replace('}', ""),
        String::new(),
        " ".to_owned(),
        "null".to_owned(),
        "[]".to_owned(),
    ];
    for body in bodies {
        let answer = echoed(body.as_bytes());
        let refused = answer.as_ref().map(|a| a["error"]["code"].clone()) == Some(json!(-32700));
        let value_refuses = serde_json::from_str::<Value>(&body).is_err();
        assert_eq!(refused, value_refuses, "body {body}");
    }
}

#[test]
fn unsigned_fields_serialise_as_json_would() {
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
fn bodies_that_are_not_utf8_are_parse_errors() {
    let valid = br#"{"jsonrpc":"2.0","method":"count","params":{"n":3},"id":"ab"}"#;
    // A byte that can never start a UTF-8 character, inside the id and outside any string.
    let in_string = [&valid[..58], b"\xff", &valid[59..]].concat();
    let outside = [&valid[..], b"\xff"].concat();
    assert!(echoed(valid).is_some_and(|answer| answer["id"] == "ab"));
    for body in [in_string, outside] {
        assert_eq!(echoed(&body).unwrap()["error"]["code"], -32700);
    }
}
