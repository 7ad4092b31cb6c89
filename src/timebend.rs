//! (placeholder: the exact integer time bending is being written; signature is final)

/// poc_time in seconds for `raw_quality` against `base_target` with block time `block_time_secs`.
/// `None` when `base_target` or `block_time_secs` is 0 (bad input).
pub fn poc_time(raw_quality: u64, base_target: u64, block_time_secs: u64) -> Option<u64> {
    let _ = (raw_quality, base_target, block_time_secs);
    None
}
