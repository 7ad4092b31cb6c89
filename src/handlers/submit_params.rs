//! `submit_nonce` params read straight from the request body into borrowed fields, instead of
//! through a `serde_json::Value` tree — the bulk of a submission's parsing cost.
//!
//! Only a fully valid submission is taken this way: every field present once, of its JSON
//! type, without escapes, and within the rules of [`crate::submission`]. Anything else goes
//! through [`parse_submit_params`], the one source of validation errors, so a miner gets the
//! same answer whichever way its params were read.

use serde::Deserialize;

use crate::protocol::NonceSubmission;
use crate::rpc::{Params, RpcError};
use crate::submission::{is_block_hash, is_hex_of_len, parse_submit_params};

/// The validated submission in `params`, or the invalid-params error for them.
pub fn submission(params: &Params) -> Result<NonceSubmission, RpcError> {
    if let Some(valid) = params.named::<Wire>().and_then(Wire::validated) {
        return Ok(valid);
    }
    let value = params.value();
    parse_submit_params(value.as_deref()).map_err(|e| RpcError::invalid_params(e.to_string()))
}

/// The params as a miner sends them; unknown members are ignored, as by the general reading.
#[derive(Deserialize)]
struct Wire<'a> {
    block_hash: &'a str,
    height: u64,
    generation_signature: &'a str,
    base_target: u64,
    account_id: &'a str,
    seed: &'a str,
    nonce: u64,
    compression: u64,
    raw_quality: u64,
}

impl Wire<'_> {
    /// The submission when every rule holds (the same rules `parse_submit_params` applies).
    fn validated(self) -> Option<NonceSubmission> {
        let valid = is_block_hash(self.block_hash)
            && is_hex_of_len(self.generation_signature, 64)
            && self.base_target > 0
            && is_hex_of_len(self.account_id, 40)
            && is_hex_of_len(self.seed, 64);
        let compression = u8::try_from(self.compression).ok()?;
        valid.then(|| NonceSubmission {
            block_hash: self.block_hash.to_owned(),
            height: self.height,
            generation_signature: self.generation_signature.to_owned(),
            base_target: self.base_target,
            account_id: self.account_id.to_owned(),
            seed: self.seed.to_owned(),
            nonce: self.nonce,
            compression,
            raw_quality: self.raw_quality,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn valid_params() -> Value {
        json!({
            "block_hash": "ab".repeat(32),
            "height": 1000,
            "generation_signature": "CD".repeat(32),
            "base_target": 36_650_387_592u64,
            "account_id": "0123456789abcdefABCDEF0123456789abcdef01",
            "seed": "ef".repeat(32),
            "nonce": 42,
            "compression": 1,
            "raw_quality": 2_387_302_541_580_475u64,
            "extra": {"ignored": [1, 2]},
        })
    }

    /// The answer both readings must agree on: the general validation of `params`.
    fn reference(params: Option<&Value>) -> Result<NonceSubmission, RpcError> {
        parse_submit_params(params).map_err(|e| RpcError::invalid_params(e.to_string()))
    }

    /// Checks a body (as text, so it can hold what a `Value` cannot: duplicates, escapes).
    fn agrees(body: &str) {
        let parsed: Value = serde_json::from_str(body).unwrap();
        let expected = reference(parsed.get("params").filter(|p| !p.is_null()));
        let in_body = submission(&Params::InBody(body.as_bytes()));
        assert_eq!(in_body, expected, "body {body}");
        if let Some(params) = parsed.get("params") {
            assert_eq!(
                submission(&Params::Parsed(params)),
                expected,
                "params {params}"
            );
        }
    }

    fn body_with(params: &str) -> String {
        format!(r#"{{"jsonrpc":"2.0","method":"submit_nonce","params":{params},"id":1}}"#)
    }

    #[test]
    fn a_valid_submission_reads_the_same_both_ways() {
        let params = valid_params();
        let body = body_with(&params.to_string());
        agrees(&body);
        let wire: Option<Wire> = Params::Parsed(&params).named();
        assert!(wire.and_then(Wire::validated).is_some());
        let wire: Option<Wire> = Params::InBody(body.as_bytes()).named();
        assert!(wire.and_then(Wire::validated).is_some());
    }

    #[test]
    fn every_kind_of_bad_field_gets_the_general_answer() {
        let replacements = [
            "null",
            "true",
            "\"\"",
            "\"a\"",
            "\"abc\"",
            "\"zz\"",
            "\"0x12\"",
            "0",
            "1",
            "255",
            "256",
            "-1",
            "-0",
            "1.0",
            "1e2",
            "18446744073709551615",
            "18446744073709551616",
            "\"12\"",
            "[1]",
            "{}",
        ];
        for field in crate::protocol::SUBMIT_NONCE_FIELDS {
            for replacement in replacements {
                let mut params = valid_params();
                params[field] = serde_json::from_str(replacement).unwrap();
                agrees(&body_with(&params.to_string()));
            }
            let mut params = valid_params();
            params.as_object_mut().unwrap().remove(field);
            agrees(&body_with(&params.to_string()));
            for hex_len in [38, 40, 42, 62, 64, 66, 128, 130] {
                params[field] = json!("a".repeat(hex_len));
                agrees(&body_with(&params.to_string()));
            }
        }
    }

    #[test]
    fn unusual_spellings_get_the_general_answer() {
        let valid = valid_params().to_string();
        // An escaped hex digit, a duplicate member (the last one wins), params as an array,
        // params absent, null or of the wrong type.
        let escaped = valid.replacen("\"ab", "\"\\u0061b", 1);
        let duplicate = valid.replacen('{', r#"{"nonce":"bad","#, 1);
        let array = format!("[{valid}]");
        for params in [
            escaped.as_str(),
            duplicate.as_str(),
            array.as_str(),
            "null",
            "7",
        ] {
            agrees(&body_with(params));
        }
        agrees(r#"{"jsonrpc":"2.0","method":"submit_nonce","id":1}"#);
    }
}
