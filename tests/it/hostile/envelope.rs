//! The JSON-RPC envelope (`rpc::answer_body`) behind a dispatcher shaped like the real one:
//! `submit_nonce` validates its params, `get_mining_info` answers a pre-built body, anything
//! else is an unknown method. Every answer is checked against the JSON-RPC 2.0 rules, worked
//! out independently from the request itself, and byte for byte against a reading of the body
//! into a `serde_json::Value` (`reference`) and against answers recorded in
//! `tests/corpus/rpc_answers.jsonl`.

use proptest::prelude::*;
use serde_json::{json, Value};

use pocx_aggregator::protocol::code;
use pocx_aggregator::rpc::{answer_body, Call, CallResult, RawJson, RpcError, MAX_BATCH};
use pocx_aggregator::submission::{validate, SubmitParams};

use super::heap::{budget, peak_heap};
use super::params::{first_broken, parse_submit_params};
use super::reference;
use super::requests::{call_with, nested_text, request_text};
use super::{fuzz_config, json_text, token_soup};

/// The body the dispatcher answers `get_mining_info` with.
fn mining_info() -> Value {
    json!({
        "height": 7,
        "base_target": 36650387592u64,
        "generation_signature": "0f".repeat(32),
        "block_hash": "ab".repeat(32),
    })
}

fn dispatch(call: &Call<SubmitParams>, info: &RawJson) -> CallResult {
    match call.method {
        "submit_nonce" => match validate(call.params.named()) {
            Ok(submission) => submitted(submission.raw_quality),
            Err(error) => Err(RpcError::invalid_params(error.to_string())),
        },
        "get_mining_info" => Ok(info.clone()),
        other => Err(RpcError::new(code::METHOD_NOT_FOUND, "method not found")
            .with_data(json!({ "method": other }))),
    }
}

/// The answer as the miner port gives it: the envelope with the dispatcher above.
fn answer(body: &[u8], info: &RawJson) -> Option<Vec<u8>> {
    answer_body::<SubmitParams>(body, &mut |call| dispatch(call, info))
}

fn submitted(raw_quality: u64) -> CallResult {
    Ok(RawJson::from_value(
        &json!({"raw_quality": raw_quality, "poc_time": 1}),
    ))
}

/// What one request must be answered with.
#[derive(Debug)]
struct Expected {
    /// Ids the answer may carry: the request's own, or null when the request was too broken to
    /// trust its id.
    ids: Vec<Value>,
    /// `Ok(result)` or `Err(error code)`.
    outcome: Result<Value, i64>,
}

#[derive(Debug)]
enum ExpectedBody {
    Silent,
    Single(Expected),
    Batch(Vec<Expected>),
}

fn invalid(ids: Vec<Value>, error_code: i64) -> Option<Expected> {
    Some(Expected {
        ids,
        outcome: Err(error_code),
    })
}

/// The answer JSON-RPC 2.0 asks for, or `None` for a notification.
fn expected_for(request: &Value) -> Option<Expected> {
    let Value::Object(members) = request else {
        return invalid(vec![Value::Null], code::INVALID_REQUEST);
    };
    let id = members.get("id");
    let usable_id = id.filter(|id| id.is_string() || id.is_number() || id.is_null());
    let broken_ids: Vec<Value> = [Some(&Value::Null), usable_id]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if id.is_some() && usable_id.is_none() {
        return invalid(vec![Value::Null], code::INVALID_REQUEST);
    }
    let params = members.get("params").filter(|params| !params.is_null());
    let well_formed = members.get("jsonrpc") == Some(&json!("2.0"))
        && members.get("method").is_some_and(Value::is_string)
        && params.is_none_or(|params| params.is_object() || params.is_array());
    if !well_formed {
        return invalid(broken_ids, code::INVALID_REQUEST);
    }
    let id = id?.clone();
    let outcome = match members.get("method").and_then(Value::as_str) {
        Some("submit_nonce") => match params.and_then(|params| params.get("raw_quality")) {
            Some(quality) if params.is_some_and(|p| first_broken(p).is_none()) => {
                Ok(json!({"raw_quality": quality, "poc_time": 1}))
            }
            _ => Err(code::INVALID_PARAMS),
        },
        Some("get_mining_info") => Ok(mining_info()),
        _ => Err(code::METHOD_NOT_FOUND),
    };
    Some(Expected {
        ids: vec![id],
        outcome,
    })
}

fn expected_body(body: &[u8]) -> ExpectedBody {
    let whole_body = |error_code| {
        ExpectedBody::Single(Expected {
            ids: vec![Value::Null],
            outcome: Err(error_code),
        })
    };
    match serde_json::from_slice::<Value>(body) {
        Err(_) => whole_body(code::PARSE_ERROR),
        Ok(Value::Array(items)) if items.is_empty() || items.len() > MAX_BATCH => {
            whole_body(code::INVALID_REQUEST)
        }
        Ok(Value::Array(items)) => {
            let answers: Vec<Expected> = items.iter().filter_map(expected_for).collect();
            if answers.is_empty() {
                ExpectedBody::Silent
            } else {
                ExpectedBody::Batch(answers)
            }
        }
        Ok(single) => expected_for(&single).map_or(ExpectedBody::Silent, ExpectedBody::Single),
    }
}

/// Whether an echoed id is the one sent. Fractional ids are compared to within two units in the
/// last place: serde_json (without its `float_roundtrip` feature) may round a decimal with many
/// digits to a neighbouring double, once when reading the request and once when reading the
/// answer here. `float_ids_are_echoed_exactly` below holds the exact check.
fn same_id(sent: &Value, echoed: &Value) -> bool {
    if sent == echoed {
        return true;
    }
    match (sent, echoed) {
        (Value::Number(sent), Value::Number(echoed)) if sent.is_f64() => {
            match (sent.as_f64(), echoed.as_f64()) {
                (Some(sent), Some(echoed)) => {
                    let unit = f64::from_bits(sent.abs().to_bits() + 1) - sent.abs();
                    (sent - echoed).abs() <= 2.0 * unit
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// One response object against the rules and against what was expected of it.
fn check_response(response: &Value, expected: &Expected) {
    let members = response.as_object().expect("every response is an object");
    assert_eq!(members.get("jsonrpc"), Some(&json!("2.0")), "{response}");
    let id = members.get("id").expect("every response carries an id");
    assert!(
        expected.ids.iter().any(|sent| same_id(sent, id)),
        "id {id}, expected one of {:?}",
        expected.ids
    );
    let has_result = members.contains_key("result");
    let has_error = members.contains_key("error");
    assert!(has_result != has_error, "result xor error: {response}");
    assert_eq!(members.len(), 3, "no other members: {response}");
    match (&expected.outcome, members.get("error")) {
        (Ok(result), None) => assert_eq!(&members["result"], result),
        (Err(wanted), Some(error)) => {
            assert_eq!(error["code"].as_i64(), Some(*wanted), "{response}");
            assert!(error["message"].is_string(), "{response}");
        }
        (wanted, _) => panic!("expected {wanted:?}, answered {response}"),
    }
}

/// Answers `body` and checks the answer, the heap it took, and that nothing panicked.
fn check_exchange(body: &[u8]) -> Option<Value> {
    let info = RawJson::from_value(&mining_info());
    let (answer, held) = peak_heap(|| answer(body, &info));
    assert!(
        held <= budget(body.len()),
        "{held} bytes held for a body of {}",
        body.len()
    );
    let answer = answer
        .map(|bytes| serde_json::from_slice::<Value>(&bytes).expect("every answer is valid JSON"));
    match (expected_body(body), &answer) {
        (ExpectedBody::Silent, None) => {}
        (ExpectedBody::Single(expected), Some(response)) => check_response(response, &expected),
        (ExpectedBody::Batch(expected), Some(Value::Array(responses))) => {
            assert_eq!(responses.len(), expected.len(), "one answer per call");
            for (response, expected) in responses.iter().zip(&expected) {
                check_response(response, expected);
            }
        }
        (expected, answer) => panic!("expected {expected:?}, answered {answer:?}"),
    }
    answer
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn arbitrary_bytes_are_answered(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_exchange(&body);
    }

    #[test]
    fn token_soup_is_answered(body in token_soup()) {
        check_exchange(&body);
    }

    #[test]
    fn any_json_is_answered(body in json_text()) {
        check_exchange(body.as_bytes());
    }

    #[test]
    fn mutated_calls_are_answered(body in request_text()) {
        check_exchange(body.as_bytes());
    }

    #[test]
    fn batches_are_answered(
        calls in prop::collection::vec(request_text(), 1..8),
        order in prop::collection::vec(any::<prop::sample::Index>(), 0..=MAX_BATCH + 4),
    ) {
        // A few distinct calls, repeated in any order, make long batches cheap to generate.
        let batch: Vec<&str> = order.iter().map(|at| calls[at.index(calls.len())].as_str()).collect();
        check_exchange(format!("[{}]", batch.join(",")).as_bytes());
    }

    #[test]
    fn deep_nesting_is_answered(body in nested_text()) {
        check_exchange(body.as_bytes());
    }

    /// The answer is byte for byte what reading the body into a `Value` gives, also with
    /// whitespace around the separators.
    #[test]
    fn answers_are_those_of_a_value_reading(
        body in request_text(),
        spaced in any::<bool>(),
    ) {
        let body = if spaced { body.replace(':', " :\t").replace(',', "\r\n, ") } else { body };
        let info = RawJson::from_value(&mining_info());
        let expected = reference::answer(body.as_bytes(), &mut |call| dispatch_value(call, &info));
        prop_assert_eq!(answer(body.as_bytes(), &info), expected, "body {}", body);
    }

    #[test]
    fn any_json_is_answered_as_a_value_reading_answers_it(body in json_text()) {
        let info = RawJson::from_value(&mining_info());
        let expected = reference::answer(body.as_bytes(), &mut |call| dispatch_value(call, &info));
        prop_assert_eq!(answer(body.as_bytes(), &info), expected, "body {}", body);
    }
}

/// [`dispatch`] for a call the reference read into a `Value`; its params take the one
/// reading's way to `validate` (the reference checks the envelope, `params` checks the rules).
fn dispatch_value(call: &reference::Call, info: &RawJson) -> CallResult {
    match call.method {
        "submit_nonce" => match parse_submit_params(call.params) {
            Ok(submission) => submitted(submission.raw_quality),
            Err(error) => Err(RpcError::invalid_params(error.to_string())),
        },
        "get_mining_info" => Ok(info.clone()),
        other => Err(RpcError::new(code::METHOD_NOT_FOUND, "method not found")
            .with_data(json!({ "method": other }))),
    }
}

/// Bodies and their answers recorded from the miner port's earlier readings (a hand-written
/// one for plain submissions, serde visitors for plain calls, a `Value` for everything else):
/// ids of every type, escapes, duplicates, lone surrogates, numbers beyond f64, every kind of
/// bad field, batches with notifications, the batch limit, nesting at serde_json's limit.
#[test]
fn recorded_answers_are_given_byte_for_byte() {
    let info = RawJson::from_value(&json!({"height": 7}));
    let mut dispatch = |call: &Call<SubmitParams>| match call.method {
        "submit_nonce" | "get_mining_info" => dispatch(call, &info),
        other => Err(RpcError::new(code::METHOD_NOT_FOUND, "method not found")
            .with_data(json!({ "method": other.chars().take(64).collect::<String>() }))),
    };
    let recorded = include_str!("../../corpus/rpc_answers.jsonl");
    let mut differing = Vec::new();
    for line in recorded.lines() {
        let (body, expected): (String, Option<String>) = serde_json::from_str(line).unwrap();
        let got = answer_body::<SubmitParams>(body.as_bytes(), &mut dispatch)
            .map(|bytes| String::from_utf8(bytes).unwrap());
        if got != expected {
            differing.push(format!(
                "body {body}\n  answered {got:?}\n  recorded {expected:?}"
            ));
        }
    }
    assert!(differing.is_empty(), "{}", differing.join("\n"));
    assert!(recorded.lines().count() > 400);
}

fn error_code(answer: &Option<Value>) -> Option<i64> {
    answer.as_ref()?["error"]["code"].as_i64()
}

#[test]
fn a_hundred_thousand_open_brackets_are_a_parse_error() {
    for opener in ["[", "{\"a\":", "[{\"id\":"] {
        let answer = check_exchange(opener.repeat(100_000).as_bytes());
        assert_eq!(error_code(&answer), Some(code::PARSE_ERROR));
    }
}

#[test]
fn a_64_kib_string_of_escapes_is_echoed_without_blowing_up() {
    let escapes = "\\u0041".repeat(64 * 1024 / 6 - 10);
    let body = format!(r#"{{"jsonrpc":"2.0","method":"{escapes}","id":1}}"#);
    let answer = check_exchange(body.as_bytes()).unwrap();
    assert_eq!(answer["error"]["code"], code::METHOD_NOT_FOUND);
    assert_eq!(
        answer["error"]["data"]["method"].as_str().map(str::len),
        Some(escapes.len() / 6)
    );
    let quotes = "\\\"".repeat(64 * 1024 / 2 - 30);
    let body = format!(r#"{{"jsonrpc":"2.0","method":"get_mining_info","id":"{quotes}"}}"#);
    let answer = check_exchange(body.as_bytes()).unwrap();
    assert_eq!(answer["id"].as_str().map(str::len), Some(quotes.len() / 2));
}

#[test]
fn oversized_batches_get_one_invalid_request() {
    let tiny = vec!["{}"; 10_000].join(",");
    let answer = check_exchange(format!("[{tiny}]").as_bytes()).unwrap();
    assert_eq!(answer["error"]["code"], code::INVALID_REQUEST);
    assert_eq!(answer["id"], Value::Null);
    let call = r#"{"jsonrpc":"2.0","method":"get_mining_info","id":1}"#;
    for (count, answers) in [
        (MAX_BATCH, Some(MAX_BATCH)),
        (MAX_BATCH + 1, None),
        (10_000, None),
    ] {
        let answer = check_exchange(format!("[{}]", vec![call; count].join(",")).as_bytes());
        assert_eq!(
            answer.as_ref().and_then(Value::as_array).map(Vec::len),
            answers
        );
    }
}

#[test]
fn numbers_beyond_every_rust_type_are_handled() {
    let with_id = |id: &str| format!(r#"{{"jsonrpc":"2.0","method":"get_mining_info","id":{id}}}"#);
    assert_eq!(
        error_code(&check_exchange(with_id("1e400").as_bytes())),
        Some(code::PARSE_ERROR)
    );
    let zero = check_exchange(with_id("-0").as_bytes()).unwrap();
    assert_eq!(zero["id"].as_f64(), Some(0.0));
    let beyond = check_exchange(with_id("18446744073709551616").as_bytes()).unwrap();
    assert_eq!(beyond["id"].as_f64(), Some(18_446_744_073_709_551_616.0));
    for (field, value) in [
        ("height", "18446744073709551616"),
        ("base_target", "-0"),
        ("compression", "1e2"),
        ("nonce", "1e400"),
        ("raw_quality", "-1"),
    ] {
        let answer = check_exchange(call_with(field, value).as_bytes());
        let wanted = if value == "1e400" {
            code::PARSE_ERROR
        } else {
            code::INVALID_PARAMS
        };
        assert_eq!(error_code(&answer), Some(wanted), "{field}: {value}");
    }
    let fine = check_exchange(call_with("nonce", "18446744073709551615").as_bytes()).unwrap();
    assert_eq!(fine["result"]["raw_quality"], 3);
}

/// The id's text in an answer that carries exactly one `"id":` member with a number.
fn id_text(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    let after = text.split_once("\"id\":").map_or("", |(_, after)| after);
    after
        .chars()
        .take_while(|c| c.is_ascii_digit() || "+-.eE".contains(*c))
        .collect()
}

/// A fractional id with more than 17 significant digits comes back as the nearest double
/// (serde_json's `float_roundtrip`; without it this one is read as its neighbour).
#[test]
fn float_ids_are_echoed_exactly() {
    let sent = "0.6844818911988574500";
    let body = format!(r#"{{"jsonrpc":"2.0","method":"get_mining_info","id":{sent}}}"#);
    let info = RawJson::from_value(&mining_info());
    let answer = answer(body.as_bytes(), &info).unwrap();
    let echoed: f64 = id_text(&answer).parse().unwrap();
    assert_eq!(echoed, sent.parse::<f64>().unwrap());
}
