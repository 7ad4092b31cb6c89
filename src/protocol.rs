//! Wire-level facts of the PoCX mining protocol shared by several stages: the validated
//! `submit_nonce` parameters and the JSON-RPC error codes.
//!
//! Parsing and validating miners' bytes happens in `submission` (params) and `rpc` (envelope);
//! this module only names the shapes they produce.

use serde::Serialize;

/// JSON-RPC and PoCX error codes (see the README's protocol section).
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Upstream not reachable yet (no mining info ever fetched).
    pub const UPSTREAM_UNAVAILABLE: i64 = -32000;
    pub const INVALID_SUBMISSION: i64 = -32001;
    pub const WRONG_HEIGHT: i64 = -32002;
    pub const STALE: i64 = -32003;
    pub const AUTH_REQUIRED: i64 = -32004;
    pub const AUTH_INVALID: i64 = -32005;
    pub const RATE_LIMITED: i64 = -32006;
    pub const NOT_ASSIGNED: i64 = -32007;
    /// Bitcoin Core style codes a PoCX node answers with.
    pub const CORE_INVALID_PARAMETER: i64 = -8;
    pub const CORE_VERIFY_REJECTED: i64 = -26;
    pub const CORE_NO_KEY: i64 = -5;
    pub const CORE_QUEUE_FULL: i64 = -10;
}

/// An upstream JSON-RPC error code worth retrying: the upstream was busy, not unwilling.
pub fn is_transient_code(code: i64) -> bool {
    matches!(
        code,
        code::RATE_LIMITED | code::CORE_QUEUE_FULL | code::INTERNAL_ERROR
    )
}

/// `submit_nonce`'s parameter names, all required, in the order of the protocol table.
pub const SUBMIT_NONCE_FIELDS: [&str; 9] = [
    "block_hash",
    "height",
    "generation_signature",
    "base_target",
    "account_id",
    "seed",
    "nonce",
    "compression",
    "raw_quality",
];

/// `submit_nonce` parameters after validation: every field present and within its rule.
/// Serialises as the named params object sent upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NonceSubmission {
    pub block_hash: String,
    pub height: u64,
    pub generation_signature: String,
    pub base_target: u64,
    /// 40 lowercase-or-uppercase hex characters, as the miner sent them.
    pub account_id: String,
    pub seed: String,
    pub nonce: u64,
    pub compression: u8,
    pub raw_quality: u64,
}

/// What an upstream answered to a `submit_nonce` it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmitAnswer {
    pub raw_quality: Option<u64>,
    pub poc_time: Option<u64>,
}
