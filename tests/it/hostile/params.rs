//! `submit_nonce` params (read as a request body carries them, then `submission::validate`) on
//! arbitrary JSON values: never a panic, exactly what the protocol table allows accepted, and
//! the first broken field in table order named otherwise.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use pocx_aggregator::protocol::NonceSubmission;
use pocx_aggregator::rpc::Params;
use pocx_aggregator::submission::{validate, ParamError, SubmitParams};

use super::heap::{budget, peak_heap};
use super::{fuzz_config, json_text, SUBMIT_FIELDS};

/// Whether `value` is a string of hex digits whose length passes `length_ok`.
fn hex_text(value: &Value, length_ok: impl Fn(usize) -> bool) -> bool {
    value
        .as_str()
        .is_some_and(|text| length_ok(text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `params` as a request body carries them (absent when `None`), read and validated.
pub fn parse_submit_params(params: Option<&Value>) -> Result<NonceSubmission, ParamError> {
    let text = params.map_or_else(|| "null".to_owned(), Value::to_string);
    let read: Params<SubmitParams> = serde_json::from_str(&text).expect("valid JSON");
    validate(read.named())
}

/// The protocol table, written out on its own: the first field that breaks its rule.
pub fn first_broken(params: &Value) -> Option<&'static str> {
    let Value::Object(members) = params else {
        return Some("params");
    };
    SUBMIT_FIELDS.into_iter().find(|field| {
        let value = members.get(*field).filter(|value| !value.is_null());
        let fits = value.is_some_and(|value| match *field {
            "block_hash" => hex_text(value, |len| len > 0 && len % 2 == 0 && len <= 128),
            "generation_signature" | "seed" => hex_text(value, |len| len == 64),
            "account_id" => hex_text(value, |len| len == 40),
            "base_target" => value.as_u64().is_some_and(|target| target > 0),
            "compression" => value.as_u64().is_some_and(|level| level <= 255),
            _ => value.as_u64().is_some(),
        });
        !fits
    })
}

fn check_params(params: &Value) {
    let input_len = params.to_string().len();
    let (outcome, held) = peak_heap(|| parse_submit_params(Some(params)));
    assert!(
        held <= budget(input_len),
        "{held} bytes held for {input_len}"
    );
    match (outcome, first_broken(params)) {
        (Ok(submission), None) => {
            let echoed = serde_json::json!(submission);
            for field in SUBMIT_FIELDS {
                assert_eq!(echoed[field], params[field], "{field} carried unchanged");
            }
            assert!(submission.base_target > 0);
            assert!(hex_text(&json!(submission.account_id), |len| len == 40));
            assert!(hex_text(&json!(submission.seed), |len| len == 64));
            assert!(hex_text(&json!(submission.generation_signature), |len| len == 64));
            assert!(hex_text(&json!(submission.block_hash), |len| {
                len > 0 && len % 2 == 0 && len <= 128
            }));
        }
        (Err(error), Some(field)) => {
            assert_eq!(error.field, field, "{error}");
            let message = error.to_string();
            assert!(message.starts_with(&format!("{field}: ")), "{message}");
            assert!(!message.contains('\n'), "{message:?}");
        }
        (outcome, broken) => panic!("answered {outcome:?}, the table says {broken:?}"),
    }
}

fn any_value() -> impl Strategy<Value = Value> {
    json_text().prop_filter_map("valid JSON", |text| serde_json::from_str(&text).ok())
}

/// A valid params object with up to four fields replaced by anything, nulled or removed, and
/// maybe an extra member.
fn near_valid_params() -> impl Strategy<Value = Value> {
    let valid = (
        ("([0-9a-fA-F]{2}){1,64}", any::<u64>(), "[0-9a-fA-F]{64}"),
        (0..=u64::MAX, "[0-9a-fA-F]{40}", "[0-9a-fA-F]{64}"),
        (any::<u64>(), 0u64..300, any::<u64>()),
    )
        .prop_map(
            |((block, height, gensig), (target, account, seed), (nonce, level, quality))| {
                json!({
                    "block_hash": block, "height": height, "generation_signature": gensig,
                    "base_target": target, "account_id": account, "seed": seed,
                    "nonce": nonce, "compression": level, "raw_quality": quality,
                })
            },
        );
    let change = (0..SUBMIT_FIELDS.len(), prop::option::of(any_value()));
    (
        valid,
        prop::collection::vec(change, 0..4),
        prop::option::of(("[a-z_]{1,10}", any_value())),
    )
        .prop_map(|(mut params, changes, extra)| {
            if let Value::Object(members) = &mut params {
                for (field, replacement) in changes {
                    change_member(members, SUBMIT_FIELDS[field], replacement);
                }
                if let Some((key, value)) = extra {
                    members.insert(key, value);
                }
            }
            params
        })
}

fn change_member(members: &mut Map<String, Value>, field: &str, replacement: Option<Value>) {
    match replacement {
        Some(value) => members.insert(field.to_owned(), value),
        None => members.remove(field),
    };
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn any_value_is_judged_by_the_table(params in any_value()) {
        check_params(&params);
    }

    #[test]
    fn near_valid_params_are_judged_by_the_table(params in near_valid_params()) {
        check_params(&params);
    }
}

#[test]
fn missing_params_name_params() {
    let error = parse_submit_params(None).unwrap_err();
    assert_eq!(error.field, "params");
}

#[test]
fn odd_numbers_are_refused_where_the_table_wants_integers() {
    let valid = json!({
        "block_hash": "ab", "height": 1, "generation_signature": "0f".repeat(32),
        "base_target": 5, "account_id": "11".repeat(20), "seed": "c0".repeat(32),
        "nonce": 2, "compression": 255, "raw_quality": 3,
    });
    check_params(&valid);
    for (field, text) in [
        ("height", "18446744073709551616"),
        ("base_target", "-0"),
        ("base_target", "0"),
        ("compression", "256"),
        ("compression", "1e2"),
        ("nonce", "-9223372036854775809"),
        ("raw_quality", "4.9e-324"),
    ] {
        let mut params = valid.clone();
        params[field] = serde_json::from_str(text).unwrap();
        check_params(&params);
        assert_eq!(parse_submit_params(Some(&params)).unwrap_err().field, field);
    }
}
