//! `submit_nonce` parameters: the typed params a request body is read into ([`SubmitParams`],
//! by the envelope's one reading in `rpc`), and their rules ([`validate`]): a
//! [`NonceSubmission`] or the first broken rule out. Decoding validated hex fields into bytes
//! is the `hex` crate's job where a stage needs it.
//!
//! Pure: no channels, no I/O. Deliberately does not check the values against the current
//! round (height, block hash, base target): that is the handler's job with the cache at hand.
//! Unknown extra fields are ignored, since miners may add their own.

use std::fmt;

use std::fmt::Formatter;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::protocol::NonceSubmission;
use crate::rpc::{Checked, Scalar};

/// Longest block hash accepted, in hex characters (64 bytes).
pub const MAX_BLOCK_HASH_CHARS: usize = 128;

/// The first parameter that broke a rule. Display: `<field>: <rule>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamError {
    pub field: &'static str,
    pub rule: &'static str,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

impl std::error::Error for ParamError {}

const REQUIRED: &str = "is required";
const NAMED_OBJECT: &str = "must be an object of named parameters";
const HEX_40: &str = "must be exactly 40 hex characters";
const HEX_64: &str = "must be exactly 64 hex characters";
const BLOCK_HASH_RULE: &str = "must be non-empty hex of even length, at most 128 characters";
const UNSIGNED_64: &str = "must be an integer from 0 to 18446744073709551615";
const COMPRESSION_RULE: &str = "must be an integer from 0 to 255";
const POSITIVE_64: &str = "must be an integer from 1 to 18446744073709551615";

/// Named `submit_nonce` params as read from a JSON object: each field as the JSON it held
/// (`None`: absent; the last of duplicates wins), other members checked and dropped.
#[derive(Debug, Default)]
pub struct SubmitParams<'a> {
    block_hash: Option<Scalar<'a>>,
    height: Option<Scalar<'a>>,
    generation_signature: Option<Scalar<'a>>,
    base_target: Option<Scalar<'a>>,
    account_id: Option<Scalar<'a>>,
    seed: Option<Scalar<'a>>,
    nonce: Option<Scalar<'a>>,
    compression: Option<Scalar<'a>>,
    raw_quality: Option<Scalar<'a>>,
}

/// A member's name (escapes decoded before matching).
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    BlockHash,
    Height,
    GenerationSignature,
    BaseTarget,
    AccountId,
    Seed,
    Nonce,
    Compression,
    RawQuality,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for SubmitParams<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ParamsVisitor;
        impl<'de> Visitor<'de> for ParamsVisitor {
            type Value = SubmitParams<'de>;
            fn expecting(&self, f: &mut Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut p = SubmitParams::default();
                while let Some(field) = map.next_key::<Field>()? {
                    let slot = match field {
                        Field::BlockHash => &mut p.block_hash,
                        Field::Height => &mut p.height,
                        Field::GenerationSignature => &mut p.generation_signature,
                        Field::BaseTarget => &mut p.base_target,
                        Field::AccountId => &mut p.account_id,
                        Field::Seed => &mut p.seed,
                        Field::Nonce => &mut p.nonce,
                        Field::Compression => &mut p.compression,
                        Field::RawQuality => &mut p.raw_quality,
                        Field::Other => {
                            map.next_value::<Checked>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value()?);
                }
                Ok(p)
            }
        }
        deserializer.deserialize_map(ParamsVisitor)
    }
}

/// Validates the named params of a `submit_nonce` call (`None`: the call had no named params).
/// Fields are checked in the order of the protocol table; the first failure is returned.
pub fn validate(params: Option<&SubmitParams>) -> Result<NonceSubmission, ParamError> {
    let Some(p) = params else {
        return Err(broken("params", NAMED_OBJECT));
    };
    let block_hash = hex_field(&p.block_hash, "block_hash", BLOCK_HASH_RULE, is_block_hash)?;
    let height = unsigned_field(&p.height, "height", UNSIGNED_64)?;
    let generation_signature = hex_field(
        &p.generation_signature,
        "generation_signature",
        HEX_64,
        |s| is_hex_of_len(s, 64),
    )?;
    let base_target = unsigned_field(&p.base_target, "base_target", POSITIVE_64)?;
    if base_target == 0 {
        return Err(broken("base_target", POSITIVE_64));
    }
    let account_id = hex_field(&p.account_id, "account_id", HEX_40, |s| {
        is_hex_of_len(s, 40)
    })?;
    let seed = hex_field(&p.seed, "seed", HEX_64, |s| is_hex_of_len(s, 64))?;
    let nonce = unsigned_field(&p.nonce, "nonce", UNSIGNED_64)?;
    let compression = u8::try_from(unsigned_field(
        &p.compression,
        "compression",
        COMPRESSION_RULE,
    )?)
    .map_err(|_| broken("compression", COMPRESSION_RULE))?;
    let raw_quality = unsigned_field(&p.raw_quality, "raw_quality", UNSIGNED_64)?;
    Ok(NonceSubmission {
        block_hash,
        height,
        generation_signature,
        base_target,
        account_id,
        seed,
        nonce,
        compression,
        raw_quality,
    })
}

/// Hex digits of either case only (an empty text too).
fn is_hex(text: &str) -> bool {
    // Without an early exit the compiler checks many bytes per instruction; valid fields
    // (the usual case) are read to the end either way.
    text.bytes()
        .fold(true, |all, byte| all & byte.is_ascii_hexdigit())
}

fn broken(field: &'static str, rule: &'static str) -> ParamError {
    ParamError { field, rule }
}

/// The field's value; JSON `null` counts as absent.
fn present<'v, 'a>(
    value: &'v Option<Scalar<'a>>,
    field: &'static str,
) -> Result<&'v Scalar<'a>, ParamError> {
    match value {
        None | Some(Scalar::Null) => Err(broken(field, REQUIRED)),
        Some(value) => Ok(value),
    }
}

fn hex_field(
    value: &Option<Scalar>,
    field: &'static str,
    rule: &'static str,
    valid: impl Fn(&str) -> bool,
) -> Result<String, ParamError> {
    match present(value, field)?.as_str() {
        Some(text) if valid(text) => Ok(text.to_owned()),
        _ => Err(broken(field, rule)),
    }
}

/// A JSON integer within u64: no floats (even `1.0`), no negatives, no strings.
fn unsigned_field(
    value: &Option<Scalar>,
    field: &'static str,
    rule: &'static str,
) -> Result<u64, ParamError> {
    present(value, field)?.as_u64().ok_or(broken(field, rule))
}

/// `len` hex digits of either case.
pub fn is_hex_of_len(text: &str, len: usize) -> bool {
    text.len() == len && is_hex(text)
}

/// A block hash as miners may send it: hex, whole bytes, at most [`MAX_BLOCK_HASH_CHARS`].
fn is_block_hash(text: &str) -> bool {
    let len = text.len();
    len > 0 && len.is_multiple_of(2) && len <= MAX_BLOCK_HASH_CHARS && is_hex(text)
}

#[cfg(test)]
mod tests;
