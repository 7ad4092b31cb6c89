//! Recomputing a submission's raw quality with pocx_hashlib and comparing it with the claim.
//!
//! Pure and synchronous (one call costs about 0.1 s of CPU at compression 1 and doubles with
//! each level), so it only ever runs on the verification stage's own threads. Miners' bytes are
//! untrusted: bad hex, a compression above the configured limit, an error or even a panic inside
//! the hashing library all end as a [`VerifyError`], never as a panic here.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use hex::FromHex;
use pocx_hashlib::PoCXHashError;

use crate::protocol::NonceSubmission;

/// Why a submission failed verification.
#[derive(Debug)]
pub enum VerifyError {
    /// A field that must be fixed-length hex was not.
    BadHex { field: &'static str },
    /// Recomputing would cost 2^level nonce generations; refused above the configured limit.
    CompressionTooHigh { level: u8, max: u8 },
    /// The hashing library refused the input.
    Hashlib(PoCXHashError),
    /// The hashing library panicked on the input.
    Panicked,
    /// The nonce does not have the quality the miner claimed.
    Mismatch { claimed: u64, actual: u64 },
}

impl From<PoCXHashError> for VerifyError {
    fn from(error: PoCXHashError) -> VerifyError {
        VerifyError::Hashlib(error)
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::BadHex { field } => {
                write!(f, "{field} is not valid hex of the right length")
            }
            VerifyError::CompressionTooHigh { level, max } => {
                write!(
                    f,
                    "compression {level} is above the verification limit {max}"
                )
            }
            VerifyError::Hashlib(_) => write!(f, "quality computation failed"),
            VerifyError::Panicked => write!(f, "quality computation panicked"),
            VerifyError::Mismatch { claimed, actual } => {
                write!(f, "claimed quality {claimed} but the nonce gives {actual}")
            }
        }
    }
}

impl std::error::Error for VerifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VerifyError::Hashlib(error) => Some(error),
            _ => None,
        }
    }
}

/// The raw quality the submitted nonce really has, for the submission's own account, seed,
/// compression, height and generation signature.
pub fn recompute_quality(
    submission: &NonceSubmission,
    max_compression: u8,
) -> Result<u64, VerifyError> {
    if submission.compression > max_compression {
        return Err(VerifyError::CompressionTooHigh {
            level: submission.compression,
            max: max_compression,
        });
    }
    let account = decode_hex::<[u8; 20]>(&submission.account_id, "account_id")?;
    let seed = decode_hex::<[u8; 32]>(&submission.seed, "seed")?;
    let generation_signature =
        decode_hex::<[u8; 32]>(&submission.generation_signature, "generation_signature")?;
    let computed = catch_unwind(AssertUnwindSafe(|| {
        pocx_hashlib::calculate_quality_from_height(
            &account,
            &seed,
            submission.nonce,
            submission.compression,
            submission.height,
            &generation_signature,
        )
    }));
    match computed {
        Ok(quality) => Ok(quality?),
        Err(_) => Err(VerifyError::Panicked),
    }
}

/// Ok when the nonce has exactly the raw quality the miner claimed.
pub fn verify_submission(
    submission: &NonceSubmission,
    max_compression: u8,
) -> Result<(), VerifyError> {
    let actual = recompute_quality(submission, max_compression)?;
    if actual == submission.raw_quality {
        Ok(())
    } else {
        Err(VerifyError::Mismatch {
            claimed: submission.raw_quality,
            actual,
        })
    }
}

/// A byte array from exactly twice its length in hex digits of either case.
fn decode_hex<T: FromHex>(text: &str, field: &'static str) -> Result<T, VerifyError> {
    T::from_hex(text).map_err(|_| VerifyError::BadHex { field })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission(compression: u8, raw_quality: u64) -> NonceSubmission {
        NonceSubmission {
            block_hash: "ab".repeat(32),
            height: 7,
            generation_signature: "3c".repeat(32),
            base_target: 36_650_387_592,
            account_id: "11".repeat(20),
            seed: "5A".repeat(32),
            nonce: 3052,
            compression,
            raw_quality,
        }
    }

    #[test]
    fn hex_of_either_case_decodes() {
        assert_eq!(decode_hex::<[u8; 2]>("aB0f", "x").ok(), Some([0xab, 0x0f]));
        assert!(decode_hex::<[u8; 2]>("aB0", "x").is_err());
        assert!(decode_hex::<[u8; 2]>("aB0g", "x").is_err());
        assert!(decode_hex::<[u8; 2]>("ééé", "x").is_err());
    }

    #[test]
    fn bad_input_fails_without_panicking() {
        let mut claim = submission(1, 5);
        claim.seed = "zz".repeat(32);
        assert!(matches!(
            verify_submission(&claim, 6),
            Err(VerifyError::BadHex { field: "seed" })
        ));
        let mut claim = submission(1, 5);
        claim.account_id = "11".repeat(19);
        assert!(matches!(
            verify_submission(&claim, 6),
            Err(VerifyError::BadHex {
                field: "account_id"
            })
        ));
        let claim = submission(200, 5);
        let refused = verify_submission(&claim, 6).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "compression 200 is above the verification limit 6"
        );
    }
}
