//! The simulated chain's state: the round being mined and the checks a `submit_nonce` must
//! pass against it.
//!
//! Pure logic, no I/O and no locking: the simulated upstream keeps one `Chain` behind a mutex.
//! Like the PoCX mock chain it checks height, block hash, generation signature and base target
//! against the current round and rejects malformed accounts and seeds; unlike it, it does not
//! recompute the quality from the nonce (that costs ~0.1 s of CPU per call). It believes the
//! claimed `raw_quality` and answers the poc_time for it.

use serde_json::{json, Map, Value};

use super::rng::{is_hex_of_len, SimRng};
use crate::protocol::{code, NonceSubmission};

/// Genesis base target for a 120 s block time: 2^42 / 120, one TiB of network space.
pub const GENESIS_BASE_TARGET_120: u64 = (1u64 << 42) / 120;

/// The compression levels the simulated chain announces (X1 only).
const MINIMUM_COMPRESSION_LEVEL: u8 = 1;
const TARGET_COMPRESSION_LEVEL: u8 = 1;

/// Height of the first simulated round.
const FIRST_HEIGHT: u64 = 1;

/// Fixed seed: every simulated chain walks the same sequence of rounds.
const CHAIN_SEED: u64 = 0x506f_4358_5369_6d21;

/// One simulated round, as `get_mining_info` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRound {
    pub height: u64,
    /// 64 lowercase hex characters.
    pub generation_signature: String,
    /// 64 lowercase hex characters; changes with every round.
    pub block_hash: String,
    pub base_target: u64,
}

/// A JSON-RPC error the chain answers with.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RpcFailure {
    pub(super) code: i64,
    pub(super) message: String,
    pub(super) data: Option<Value>,
}

impl RpcFailure {
    fn invalid_params(details: String) -> RpcFailure {
        RpcFailure {
            code: code::INVALID_PARAMS,
            message: "invalid params".to_owned(),
            data: Some(json!({ "details": details })),
        }
    }

    fn invalid_submission(reason: &str) -> RpcFailure {
        RpcFailure {
            code: code::INVALID_SUBMISSION,
            message: "invalid submission".to_owned(),
            data: Some(json!({ "reason": reason })),
        }
    }
}

/// The round state of the simulated chain.
#[derive(Debug)]
pub(super) struct Chain {
    round: SimRound,
    rng: SimRng,
}

impl Chain {
    pub(super) fn new(base_target: u64) -> Chain {
        let mut rng = SimRng::new(CHAIN_SEED);
        let round = SimRound {
            height: FIRST_HEIGHT,
            generation_signature: rng.hex_bytes(32),
            block_hash: rng.hex_bytes(32),
            base_target,
        };
        Chain { round, rng }
    }

    pub(super) fn current(&self) -> &SimRound {
        &self.round
    }

    /// Moves to the next height with a fresh generation signature and block hash.
    pub(super) fn advance(&mut self) -> SimRound {
        self.round = SimRound {
            height: self.round.height.saturating_add(1),
            generation_signature: self.rng.hex_bytes(32),
            block_hash: self.rng.hex_bytes(32),
            base_target: self.round.base_target,
        };
        self.round.clone()
    }

    /// The `get_mining_info` result; `extra` fields are added last and win on a name clash.
    pub(super) fn mining_info(&self, extra: &Map<String, Value>) -> Value {
        let mut info = Map::new();
        info.insert(
            "generation_signature".into(),
            self.round.generation_signature.clone().into(),
        );
        info.insert("base_target".into(), self.round.base_target.into());
        info.insert("height".into(), self.round.height.into());
        info.insert("block_hash".into(), self.round.block_hash.clone().into());
        info.insert("target_quality".into(), u64::MAX.into());
        info.insert(
            "minimum_compression_level".into(),
            MINIMUM_COMPRESSION_LEVEL.into(),
        );
        info.insert(
            "target_compression_level".into(),
            TARGET_COMPRESSION_LEVEL.into(),
        );
        for (name, value) in extra {
            info.insert(name.clone(), value.clone());
        }
        Value::Object(info)
    }

    /// Checks a `submit_nonce` against the current round; on success the parsed submission and
    /// the `{raw_quality, poc_time}` result.
    pub(super) fn judge_submission(
        &self,
        params: Option<&Value>,
        block_time_secs: u64,
    ) -> Result<(NonceSubmission, Value), RpcFailure> {
        let submission = read_params(params).map_err(RpcFailure::invalid_params)?;
        let round = &self.round;
        if submission.height != round.height {
            return Err(RpcFailure {
                code: code::WRONG_HEIGHT,
                message: "wrong height".to_owned(),
                data: Some(json!({
                    "reason": "wrong_height",
                    "expected": round.height,
                    "submitted": submission.height,
                })),
            });
        }
        if !submission
            .block_hash
            .eq_ignore_ascii_case(&round.block_hash)
        {
            return Err(RpcFailure::invalid_submission(
                "unexpected block hash, stale submission?",
            ));
        }
        if !submission
            .generation_signature
            .eq_ignore_ascii_case(&round.generation_signature)
        {
            return Err(RpcFailure::invalid_submission(
                "unexpected generation signature, fork?",
            ));
        }
        if submission.base_target != round.base_target {
            return Err(RpcFailure::invalid_submission("unexpected base target"));
        }
        if !is_hex_of_len(&submission.account_id, 40) {
            return Err(RpcFailure::invalid_params(
                "account_id: expected 40 hex characters (20 bytes)".to_owned(),
            ));
        }
        if !is_hex_of_len(&submission.seed, 64) {
            return Err(RpcFailure::invalid_params(
                "seed: expected 64 hex characters (32 bytes)".to_owned(),
            ));
        }
        let poc_time =
            crate::timebend::poc_time(submission.raw_quality, round.base_target, block_time_secs)
                .unwrap_or(u64::MAX);
        let result = json!({ "raw_quality": submission.raw_quality, "poc_time": poc_time });
        Ok((submission, result))
    }
}

/// Reads the named params of `submit_nonce`; the error says which field is wrong and how.
pub(super) fn read_params(params: Option<&Value>) -> Result<NonceSubmission, String> {
    let object = params
        .and_then(Value::as_object)
        .ok_or_else(|| "params: expected an object of named params".to_owned())?;
    let text = |field: &str| -> Result<String, String> {
        object
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{field}: expected a string"))
    };
    let number = |field: &str| -> Result<u64, String> {
        object
            .get(field)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("{field}: expected an unsigned integer"))
    };
    let compression = u8::try_from(number("compression")?)
        .map_err(|_| "compression: expected 0..=255".to_owned())?;
    Ok(NonceSubmission {
        block_hash: text("block_hash")?,
        height: number("height")?,
        generation_signature: text("generation_signature")?,
        base_target: number("base_target")?,
        account_id: text("account_id")?,
        seed: text("seed")?,
        nonce: number("nonce")?,
        compression,
        raw_quality: number("raw_quality")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params_for(round: &SimRound) -> Value {
        json!({
            "block_hash": round.block_hash,
            "height": round.height,
            "generation_signature": round.generation_signature,
            "base_target": round.base_target,
            "account_id": "11".repeat(20),
            "seed": "22".repeat(32),
            "nonce": 3052,
            "compression": 1,
            "raw_quality": 2_387_302_541_580_475u64,
        })
    }

    #[test]
    fn advance_changes_height_and_hashes() {
        let mut chain = Chain::new(GENESIS_BASE_TARGET_120);
        let first = chain.current().clone();
        let next = chain.advance();
        assert_eq!(next.height, first.height + 1);
        assert_ne!(next.block_hash, first.block_hash);
        assert_ne!(next.generation_signature, first.generation_signature);
        assert_eq!(next.base_target, first.base_target);
    }

    #[test]
    fn right_submission_is_answered_with_its_quality() {
        let chain = Chain::new(GENESIS_BASE_TARGET_120);
        let (submission, result) = chain
            .judge_submission(Some(&params_for(chain.current())), 120)
            .unwrap();
        assert_eq!(submission.nonce, 3052);
        assert_eq!(result["raw_quality"], 2_387_302_541_580_475u64);
        assert!(result["poc_time"].is_u64());
    }

    #[test]
    fn each_mismatch_has_its_code() {
        let chain = Chain::new(GENESIS_BASE_TARGET_120);
        let good = params_for(chain.current());
        let judge = |edit: &dyn Fn(&mut Value)| {
            let mut params = good.clone();
            edit(&mut params);
            chain.judge_submission(Some(&params), 120).unwrap_err()
        };
        let wrong_height = judge(&|p| p["height"] = json!(99));
        assert_eq!(wrong_height.code, code::WRONG_HEIGHT);
        let data = wrong_height.data.unwrap();
        assert_eq!(data["expected"], chain.current().height);
        assert_eq!(data["submitted"], 99);
        assert_eq!(data["reason"], "wrong_height");
        let stale = judge(&|p| p["block_hash"] = json!("ab".repeat(32)));
        assert_eq!(stale.code, code::INVALID_SUBMISSION);
        assert!(stale.data.unwrap()["reason"].is_string());
        let fork = judge(&|p| p["generation_signature"] = json!("cd".repeat(32)));
        assert_eq!(fork.code, code::INVALID_SUBMISSION);
        let bt = judge(&|p| p["base_target"] = json!(5));
        assert_eq!(bt.code, code::INVALID_SUBMISSION);
        let account = judge(&|p| p["account_id"] = json!("xyz"));
        assert_eq!(account.code, code::INVALID_PARAMS);
        let missing = judge(&|p| p["nonce"] = Value::Null);
        assert_eq!(missing.code, code::INVALID_PARAMS);
        let compression = judge(&|p| p["compression"] = json!(300));
        assert_eq!(compression.code, code::INVALID_PARAMS);
        assert!(chain.judge_submission(None, 120).is_err());
        assert!(chain.judge_submission(Some(&json!([1, 2])), 120).is_err());
    }

    #[test]
    fn mining_info_has_the_mock_chain_fields_and_extras() {
        let chain = Chain::new(GENESIS_BASE_TARGET_120);
        let mut extra = Map::new();
        extra.insert("pool_fee".into(), json!(0.01));
        let info = chain.mining_info(&extra);
        assert_eq!(info["height"], chain.current().height);
        assert_eq!(info["target_quality"], u64::MAX);
        assert_eq!(info["minimum_compression_level"], 1);
        assert_eq!(info["pool_fee"], 0.01);
        assert_eq!(info["generation_signature"].as_str().unwrap().len(), 64);
    }
}
