//! The upstream's answers: `parse_rpc_answer` on arbitrary bytes and `parse_mining_info` on
//! arbitrary values. Neither may panic; what they accept must hold what they promise.

use proptest::prelude::*;
use serde_json::{json, Value};

use pocx_aggregator::upstream::client::{parse_mining_info, parse_rpc_answer};
use pocx_aggregator::upstream::UpstreamError;

use super::heap::{budget, peak_heap};
use super::{fuzz_config, json_text, number_text, render_object, string_text, token_soup};

/// Longest upstream error message kept, in characters.
const MAX_MESSAGE_CHARS: usize = 200;

fn check_rpc_answer(body: &[u8]) {
    let (outcome, held) = peak_heap(|| parse_rpc_answer(body));
    assert!(
        held <= budget(body.len()),
        "{held} bytes held for {}",
        body.len()
    );
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let object = parsed.as_ref().and_then(Value::as_object);
    let error = object
        .and_then(|members| members.get("error"))
        .filter(|error| !error.is_null());
    match outcome {
        Ok(result) => {
            let object = object.expect("only an object has a result");
            assert!(error.is_none(), "an error member wins over a result");
            assert_eq!(object.get("result"), Some(&result));
        }
        Err(UpstreamError::Rpc {
            code,
            message,
            data,
        }) => {
            let error = error.expect("an rpc error comes from an error member");
            assert_eq!(error["code"].as_i64(), Some(code));
            // Control characters are shown as spaces, so a message stays one log line.
            let sent: String = error["message"]
                .as_str()
                .unwrap_or("")
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            assert!(message.chars().count() <= MAX_MESSAGE_CHARS);
            assert!(
                sent.starts_with(&message),
                "message is a prefix of what was sent"
            );
            assert_eq!(data.as_ref(), error.get("data"));
        }
        Err(UpstreamError::BadResponse(reason)) => {
            let usable = error.map_or_else(
                || object.is_some_and(|members| members.contains_key("result")),
                |error| error["code"].as_i64().is_some(),
            );
            assert!(!usable, "a usable answer was refused: {reason}");
            let shown = UpstreamError::BadResponse(reason).to_string();
            assert!(!shown.contains('\n') && shown.len() < 1000, "{shown:?}");
        }
        Err(other) => panic!("parsing cannot fail with {other:?}"),
    }
}

/// Whether a string value is 1 to 256 hex digits.
fn is_short_hex(value: &Value) -> bool {
    value.as_str().is_some_and(|text| {
        !text.is_empty() && text.len() <= 256 && text.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn check_mining_info(result: Value) {
    let input_len = result.to_string().len();
    let copy = result.clone();
    let (outcome, held) = peak_heap(|| parse_mining_info(result));
    assert!(
        held <= budget(input_len),
        "{held} bytes held for {input_len}"
    );
    let usable = copy["height"].as_u64().is_some()
        && copy["base_target"]
            .as_u64()
            .is_some_and(|target| target > 0)
        && is_short_hex(&copy["generation_signature"])
        && is_short_hex(&copy["block_hash"]);
    match outcome {
        Ok(info) => {
            assert!(usable, "accepted {copy}");
            assert!(info.base_target > 0);
            assert_eq!(Some(info.height), copy["height"].as_u64());
            assert!(is_short_hex(&json!(info.generation_signature)));
            assert!(is_short_hex(&json!(info.block_hash)));
            assert_eq!(info.raw, copy, "kept whole for pass-through");
        }
        Err(UpstreamError::BadResponse(reason)) => {
            assert!(!usable, "refused a usable answer: {reason}");
            assert!(!reason.contains('\n'));
        }
        Err(other) => panic!("parsing cannot fail with {other:?}"),
    }
}

/// A JSON-RPC answer with some members replaced by anything.
fn answer_text() -> impl Strategy<Value = String> {
    let error = (number_text(), string_text(), json_text()).prop_map(|(code, message, data)| {
        render_object(&[
            ("code".to_owned(), code),
            ("message".to_owned(), message),
            ("data".to_owned(), data),
        ])
    });
    let member = prop_oneof![
        json_text().prop_map(|value| ("result".to_owned(), value)),
        error.prop_map(|value| ("error".to_owned(), value)),
        json_text().prop_map(|value| ("error".to_owned(), value)),
        Just(("error".to_owned(), "null".to_owned())),
        number_text().prop_map(|value| ("id".to_owned(), value)),
        Just(("jsonrpc".to_owned(), "\"2.0\"".to_owned())),
    ];
    prop::collection::vec(member, 0..5).prop_map(|members| render_object(&members))
}

fn any_value() -> impl Strategy<Value = Value> {
    json_text().prop_filter_map("valid JSON", |text| serde_json::from_str(&text).ok())
}

/// A mining-info object with some fields replaced by anything or removed.
fn near_mining_info() -> impl Strategy<Value = Value> {
    const FIELDS: [&str; 5] = [
        "height",
        "base_target",
        "generation_signature",
        "block_hash",
        "target_quality",
    ];
    let base = (
        any::<u64>(),
        any::<u64>(),
        "[0-9a-fA-F]{1,300}",
        "[0-9a-fA-F]{64}",
    );
    let change = (0..FIELDS.len(), prop::option::of(any_value()));
    (base, prop::collection::vec(change, 0..3)).prop_map(
        |((height, target, gensig, hash), changes)| {
            let mut info = json!({
                "height": height, "base_target": target,
                "generation_signature": gensig, "block_hash": hash, "target_quality": 1,
            });
            if let Value::Object(members) = &mut info {
                for (field, replacement) in changes {
                    match replacement {
                        Some(value) => members.insert(FIELDS[field].to_owned(), value),
                        None => members.remove(FIELDS[field]),
                    };
                }
            }
            info
        },
    )
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn arbitrary_bytes_are_judged(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_rpc_answer(&body);
    }

    #[test]
    fn token_soup_is_judged(body in token_soup()) {
        check_rpc_answer(&body);
    }

    #[test]
    fn answer_shaped_text_is_judged(body in answer_text()) {
        check_rpc_answer(body.as_bytes());
    }

    #[test]
    fn any_value_as_mining_info_is_judged(result in any_value()) {
        check_mining_info(result);
    }

    #[test]
    fn near_mining_info_is_judged(result in near_mining_info()) {
        check_mining_info(result);
    }
}

#[test]
fn a_megabyte_answer_of_brackets_is_garbage() {
    let body = "[".repeat(1 << 20);
    check_rpc_answer(body.as_bytes());
    assert!(matches!(
        parse_rpc_answer(body.as_bytes()),
        Err(UpstreamError::BadResponse(_))
    ));
}

#[test]
fn a_megabyte_result_is_passed_on_within_budget() {
    let items = vec!["0"; (1 << 20) / 2 - 20].join(",");
    let body = format!(r#"{{"jsonrpc":"2.0","result":[{items}],"id":1}}"#);
    check_rpc_answer(body.as_bytes());
    let info = format!(
        r#"{{"height":1,"base_target":1,"generation_signature":"ab","block_hash":"cd","x":[{items}]}}"#
    );
    check_mining_info(serde_json::from_str(&info).unwrap());
}

#[test]
fn odd_numbers_in_mining_info_are_refused() {
    for (field, text) in [
        ("height", "-1"),
        ("height", "18446744073709551616"),
        ("base_target", "0"),
        ("base_target", "-0"),
        ("base_target", "1.0"),
    ] {
        let mut info = json!({"height": 7, "base_target": 5, "generation_signature": "ab", "block_hash": "cd"});
        info[field] = serde_json::from_str(text).unwrap();
        check_mining_info(info.clone());
        assert!(parse_mining_info(info).is_err(), "{field}: {text}");
    }
}

/// Error codes beyond i64 and error members that are not objects are garbage, not rpc errors.
#[test]
fn malformed_error_members_are_garbage() {
    for error in ["18446744073709551615", "1.5", "\"-32000\"", "1e400"] {
        let body = format!(r#"{{"error":{{"code":{error},"message":"x"}},"result":1}}"#);
        check_rpc_answer(body.as_bytes());
    }
    for error in ["[]", "\"busy\"", "{}", "-32000"] {
        let body = format!(r#"{{"error":{error},"result":1}}"#);
        check_rpc_answer(body.as_bytes());
    }
}

/// An upstream's error message printed verbatim would let a hostile upstream put line breaks and
/// terminal escapes into every log line and message that shows the error: `UpstreamError`
/// escapes upstream text the way configuration errors do.
#[test]
fn upstream_error_text_prints_as_one_line() {
    let body = br#"{"error":{"code":-1,"message":"busy\n[ERROR] forged line\u001b[2J","data":{"reason":"a\nb"}}}"#;
    let error = parse_rpc_answer(body).unwrap_err();
    let shown = error.to_string();
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(
        !error.reason().chars().any(char::is_control),
        "{:?}",
        error.reason()
    );
}
