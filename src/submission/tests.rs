use super::*;
use crate::rpc::Params;
use proptest::prelude::*;
use serde_json::{json, Value};

/// `params` as a request body carries them, read and validated the one way a body is.
fn parse_submit_params(params: Option<&Value>) -> Result<NonceSubmission, ParamError> {
    let text = params.map_or_else(|| "null".to_owned(), Value::to_string);
    let read: Params<SubmitParams> = serde_json::from_str(&text).expect("valid JSON");
    validate(read.named())
}

fn valid() -> Value {
    json!({
        "block_hash": "ab".repeat(32),
        "height": 12345,
        "generation_signature": "0F".repeat(32),
        "base_target": 36650387592u64,
        "account_id": "11".repeat(20),
        "seed": "c0".repeat(32),
        "nonce": 3052,
        "compression": 1,
        "raw_quality": 2387302541580475u64,
    })
}

fn with(field: &str, value: Value) -> Value {
    let mut params = valid();
    params[field] = value;
    params
}

fn without(field: &str) -> Value {
    let mut params = valid();
    params.as_object_mut().unwrap().remove(field);
    params
}

fn error_of(params: &Value) -> String {
    parse_submit_params(Some(params)).unwrap_err().to_string()
}

const ALL_FIELDS: [&str; 9] = crate::protocol::SUBMIT_NONCE_FIELDS;

#[test]
fn a_complete_submission_is_read_field_by_field() {
    let submission = parse_submit_params(Some(&valid())).unwrap();
    assert_eq!(submission.block_hash, "ab".repeat(32));
    assert_eq!(submission.height, 12345);
    assert_eq!(submission.generation_signature, "0F".repeat(32));
    assert_eq!(submission.base_target, 36_650_387_592);
    assert_eq!(submission.account_id, "11".repeat(20));
    assert_eq!(submission.seed, "c0".repeat(32));
    assert_eq!(submission.nonce, 3052);
    assert_eq!(submission.compression, 1);
    assert_eq!(submission.raw_quality, 2_387_302_541_580_475);
    assert_eq!(serde_json::json!(submission), valid());
}

#[test]
fn params_must_be_a_named_object() {
    for params in [
        None,
        Some(json!([1, 2])),
        Some(json!("x")),
        Some(Value::Null),
    ] {
        let error = parse_submit_params(params.as_ref()).unwrap_err();
        assert_eq!(error.field, "params");
    }
}

#[test]
fn every_field_is_required() {
    for field in ALL_FIELDS {
        assert_eq!(error_of(&without(field)), format!("{field}: is required"));
        assert_eq!(
            error_of(&with(field, Value::Null)),
            format!("{field}: is required")
        );
    }
}

#[test]
fn unknown_fields_are_ignored() {
    let params = with("worker", json!("rig-7"));
    assert!(parse_submit_params(Some(&params)).is_ok());
}

#[test]
fn account_id_must_be_exactly_40_hex_characters() {
    let expected = "account_id: must be exactly 40 hex characters";
    for bad in [
        json!("11".repeat(19)),
        json!("11".repeat(21)),
        json!(format!("{}zz", "11".repeat(19))),
        json!(format!("0x{}", "11".repeat(19))),
        json!(12),
    ] {
        assert_eq!(error_of(&with("account_id", bad)), expected);
    }
    assert!(parse_submit_params(Some(&with("account_id", json!("aB".repeat(20))))).is_ok());
}

#[test]
fn seed_and_generation_signature_must_be_64_hex_characters() {
    for field in ["seed", "generation_signature"] {
        let expected = format!("{field}: must be exactly 64 hex characters");
        for bad in [
            json!("00".repeat(31)),
            json!("g0".repeat(32)),
            json!(["00"]),
        ] {
            assert_eq!(error_of(&with(field, bad)), expected);
        }
    }
}

#[test]
fn block_hash_is_bounded_even_length_hex() {
    let expected = "block_hash: must be non-empty hex of even length, at most 128 characters";
    for bad in [
        json!(""),
        json!("abc"),
        json!("ab".repeat(65)),
        json!("xy"),
        json!(42),
    ] {
        assert_eq!(error_of(&with("block_hash", bad)), expected);
    }
    for good in ["ab", &"cd".repeat(64)] {
        assert!(parse_submit_params(Some(&with("block_hash", json!(good)))).is_ok());
    }
}

#[test]
fn integers_must_be_plain_json_integers_within_u64() {
    for field in ["height", "nonce", "raw_quality"] {
        let expected = format!("{field}: must be an integer from 0 to 18446744073709551615");
        let too_big: Value = serde_json::from_str("18446744073709551616").unwrap();
        for bad in [json!(1.0), json!(-1), json!("5"), json!(true), too_big] {
            assert_eq!(error_of(&with(field, bad)), expected);
        }
        let params = with(field, json!(u64::MAX));
        assert!(parse_submit_params(Some(&params)).is_ok());
        assert!(parse_submit_params(Some(&with(field, json!(0)))).is_ok());
    }
}

#[test]
fn compression_is_a_byte() {
    let expected = "compression: must be an integer from 0 to 255";
    for bad in [json!(256), json!(-1), json!(1.5), json!("1")] {
        assert_eq!(error_of(&with("compression", bad)), expected);
    }
    let top = parse_submit_params(Some(&with("compression", json!(255)))).unwrap();
    assert_eq!(top.compression, 255);
}

#[test]
fn base_target_must_be_positive() {
    let expected = "base_target: must be an integer from 1 to 18446744073709551615";
    for bad in [json!(0), json!(-5), json!(2.0)] {
        assert_eq!(error_of(&with("base_target", bad)), expected);
    }
}

#[test]
fn hex_is_checked_in_either_case_at_exact_length() {
    assert!(is_hex_of_len("aBf0", 4));
    assert!(is_hex_of_len(&"0123456789abcdefABCDEF".repeat(2), 44));
    assert!(!is_hex_of_len("abf", 4));
    assert!(!is_hex_of_len("abf00", 4));
    assert!(!is_hex_of_len("abg0", 4));
    assert!(!is_hex_of_len("é", 2));
    assert!(is_hex_of_len("", 0));
    assert!(is_block_hash("aB"));
    assert!(!is_block_hash(""));
    assert!(!is_block_hash(&"a".repeat(MAX_BLOCK_HASH_CHARS + 2)));
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[0-9a-fA-Fxg]{0,130}".prop_map(Value::String),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 10, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(ALL_FIELDS.to_vec()).prop_map(str::to_owned),
                inner,
                0..10
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_json_never_panics(params in any_json()) {
        let _ = parse_submit_params(Some(&params));
    }

    #[test]
    fn arbitrary_values_in_a_valid_frame_never_panic(
        field in prop::sample::select(ALL_FIELDS.to_vec()),
        value in any_json(),
    ) {
        match parse_submit_params(Some(&with(field, value.clone()))) {
            // Whatever is accepted is carried through unchanged.
            Ok(submission) => prop_assert_eq!(&serde_json::json!(submission)[field], &value),
            Err(error) => prop_assert_eq!(error.field, field),
        }
    }

    /// The stages that decode validated fields (the filter's account key, verification) rely
    /// on the rule and the decoder agreeing: what passes decodes, what fails does not.
    #[test]
    fn the_hex_rule_accepts_exactly_what_decodes(
        digits in "[0-9a-fA-F]{4,44}",
        spoil in proptest::option::of(any::<char>()),
    ) {
        use hex::FromHex;
        // Mostly valid hex near the lengths that matter, sometimes one character replaced.
        let text: String = match spoil {
            Some(c) => std::iter::once(c).chain(digits.chars().skip(1)).collect(),
            None => digits,
        };
        prop_assert_eq!(is_hex_of_len(&text, 40), <[u8; 20]>::from_hex(&text).is_ok());
        prop_assert_eq!(is_hex_of_len(&text, 6), <[u8; 3]>::from_hex(&text).is_ok());
    }
}
