//! `submit_nonce` params read into borrowed fields instead of through a `serde_json::Value`
//! tree, and the usual body read by hand in one pass (`submit_scan::plain_call`).
//!
//! Only a fully valid submission is taken these ways: every field present once, of its JSON
//! type, without escapes, and within the rules of [`crate::submission`]. Anything else goes
//! through [`parse_submit_params`], the one source of validation errors, so a miner gets the
//! same answer whichever way its params were read.

use serde::Deserialize;

use crate::protocol::NonceSubmission;
use crate::rpc::{Params, RpcError};
use crate::submission::{is_block_hash_length, is_hex, parse_submit_params};

/// The validated submission in `params`, or the invalid-params error for them.
pub fn submission(params: &Params) -> Result<NonceSubmission, RpcError> {
    if let Some(valid) = params.named::<Wire>().and_then(Wire::validated) {
        return Ok(valid);
    }
    let value = params.value();
    parse_submit_params(value.as_deref()).map_err(|e| RpcError::invalid_params(e.to_string()))
}

/// The params exactly as a miner sends them. Params with other members too are valid (the
/// general reading ignores them) but are left to that reading.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Wire<'a> {
    pub(super) block_hash: &'a str,
    pub(super) height: u64,
    pub(super) generation_signature: &'a str,
    pub(super) base_target: u64,
    pub(super) account_id: &'a str,
    pub(super) seed: &'a str,
    pub(super) nonce: u64,
    pub(super) compression: u64,
    pub(super) raw_quality: u64,
}

impl Wire<'_> {
    /// The submission when every rule holds (the same rules `parse_submit_params` applies).
    fn validated(self) -> Option<NonceSubmission> {
        let hex_fields = [
            self.block_hash,
            self.generation_signature,
            self.account_id,
            self.seed,
        ];
        hex_fields.into_iter().all(is_hex).then_some(())?;
        self.with_hex_digits()
    }

    /// The submission when every rule holds but "hex digits only", which the caller has
    /// checked already (the hand-written reading checks it as it goes).
    pub(super) fn with_hex_digits(self) -> Option<NonceSubmission> {
        let valid = is_block_hash_length(self.block_hash.len())
            && self.generation_signature.len() == 64
            && self.base_target > 0
            && self.account_id.len() == 40
            && self.seed.len() == 64;
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
    use super::super::submit_scan::plain_call;
    use super::*;
    use crate::rpc::CallId;
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
        // The one-pass reading takes only what the usual way accepts, and reads it the same.
        if let Some((id, fast)) = plain_call(body.as_bytes()) {
            assert_eq!(Ok(fast), expected, "one pass, body {body}");
            let id_json = id.map(|id| id.as_value().into_owned());
            assert_eq!(
                id_json.as_ref(),
                parsed.get("id"),
                "one pass id, body {body}"
            );
        }
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
    fn a_plain_submission_is_read_in_one_pass() {
        let params = valid_params().to_string();
        let body = body_with(&params);
        let (id, submission) = plain_call(body.as_bytes()).expect("taken");
        assert!(matches!(id, Some(CallId::Unsigned(1))));
        assert_eq!(submission.nonce, 42);
        // A notification has no id; a string id is kept as sent.
        let notification =
            format!(r#"{{"jsonrpc":"2.0","method":"submit_nonce","params":{params}}}"#);
        assert!(matches!(
            plain_call(notification.as_bytes()),
            Some((None, _))
        ));
        let text_id = body_with(&params).replace(r#""id":1"#, r#""id":"m-7""#);
        assert!(matches!(
            plain_call(text_id.as_bytes()),
            Some((Some(CallId::Text("m-7")), _))
        ));
        // Anything else is left to the usual reading.
        let valid = body_with(&params);
        let with_id = |id: &str| valid.replace(r#""id":1"#, &format!(r#""id":{id}"#));
        let with_nonce = |nonce: &str| valid.replace("\"nonce\":42", &format!("\"nonce\":{nonce}"));
        for body in [
            r#"{"jsonrpc":"2.0","method":"get_mining_info","params":{},"id":1}"#.to_owned(),
            valid.replace(r#""2.0""#, r#""1.0""#),
            valid.replace(r#""jsonrpc":"2.0","#, ""),
            valid.replace(r#""jsonrpc":"2.0","#, r#""jsonrpc":"1.0","jsonrpc":"2.0","#),
            valid.replace(
                r#""method":"submit_nonce","#,
                r#""method":"x","method":"submit_nonce","#,
            ),
            valid.replace(r#""id":1"#, r#""id":1,"id":2"#),
            valid.replace("\"nonce\":42", "\"nonce\":42,\"nonce\":42"),
            with_nonce("4.2e1"),
            with_nonce("42.0"),
            with_nonce("042"),
            with_nonce("-42"),
            with_nonce("18446744073709551616"),
            with_nonce("\"42\""),
            with_id("{\"a\":1}"),
            with_id("1e400"),
            with_id("1.5"),
            with_id("-1"),
            with_id("nul"),
            with_id("nullx"),
            with_id("true"),
            with_id(r#""\u0061""#),
            with_id("\"tab\there\""),
            format!("[{valid}]"),
            format!("{valid}x"),
            format!("{valid},"),
            valid.replace(r#""params":{"#, r#""params":null,"p":{"#),
            body_with("null"),
            body_with("[]"),
            body_with("{}"),
            body_with(r#"{"block_hash":"ab"}"#),
            // Valid, but with a member the miner does not send: the usual reading takes it.
            body_with(&params.replacen('{', r#"{"extra":1,"#, 1)),
            valid.replacen('{', r#"{"extra":1,"#, 1),
        ] {
            assert!(plain_call(body.as_bytes()).is_none(), "body {body}");
            agrees_if_json(&body);
        }
        // Not UTF-8, inside a string and outside: the usual reading refuses it.
        let text_id = with_id(r#""ab""#);
        let at = text_id.find(r#""ab""#).unwrap() + 1;
        let mut inside = text_id.into_bytes();
        inside[at] = 0xff;
        let outside = [valid.as_bytes(), b"\xff"].concat();
        for body in [inside, outside] {
            assert!(plain_call(&body).is_none());
        }
    }

    /// [`agrees`] for the bodies that are JSON at all.
    fn agrees_if_json(body: &str) {
        if serde_json::from_str::<Value>(body).is_ok() {
            agrees(body);
        }
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
        let extra = valid.replacen('{', r#"{"extra":{"ignored":[1,2e300]},"#, 1);
        let array = format!("[{valid}]");
        for params in [
            escaped.as_str(),
            duplicate.as_str(),
            extra.as_str(),
            array.as_str(),
            "null",
            "7",
        ] {
            agrees(&body_with(params));
        }
        agrees(r#"{"jsonrpc":"2.0","method":"submit_nonce","id":1}"#);
    }

    /// Spellings of a plain call: member order, whitespace, every kind of id.
    #[test]
    fn plain_spellings_read_the_same_both_ways() {
        let params = valid_params().to_string();
        let spaced = params.replace(':', " :\t").replace(',', "\r\n, ");
        for id in [
            "",
            r#","id":0"#,
            r#","id":null"#,
            r#","id":"rig 7""#,
            r#","id":18446744073709551615"#,
        ] {
            for params in [&params, &spaced] {
                let members = [
                    r#""jsonrpc":"2.0""#.to_owned(),
                    r#""method":"submit_nonce""#.to_owned(),
                    format!(r#""params":{params}"#),
                ];
                for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
                    let body = format!(
                        " {{ {} , {} ,{}{id} }}\n",
                        members[order[0]], members[order[1]], members[order[2]]
                    );
                    assert!(plain_call(body.as_bytes()).is_some(), "{body}");
                    agrees(&body);
                }
            }
        }
    }
}
