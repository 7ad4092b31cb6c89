//! Time bending: the forging time (poc_time, seconds) the chain derives from a raw quality.
//!
//! Owns the exact integer method of the PoCX node, bit for bit:
//! `poc_time = round(SCALE_Q(T) · icbrt(raw_quality · 2^63 / base_target) / 2^63)` with
//! `SCALE_Q(T) = round_half_up(T·2^84 / ⌊icbrt(T·2^126) · GAMMA_FP / 2^42⌋)`.
//! SCALE_Q depends only on the block time, so [`TimeBender`] computes it once; the per-call
//! work is one u128 division, one cube root of a u128 and one wide multiplication.
//!
//! Pure functions: no channels, no state beyond a per-thread cache of the last block time's
//! constant. Deliberately does not decide what a good quality is (that is the filter's job).

mod wide;

#[cfg(test)]
mod reference;

use std::cell::Cell;

use wide::{icbrt_u128, icbrt_u256, U256};

/// Γ(4/3) · 2^42, rounded: the mean of the cube-root-bent distribution in fixed point.
pub const GAMMA_FP: u128 = 3_927_365_422_841;
/// Fixed-point exponents of the method: 2^(3P) = 2^(P+Q) = 2^63.
pub const P: u32 = 21;
pub const Q: u32 = 42;

/// The constant of the method for one block time, ready for many calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBender {
    block_time_secs: u64,
    scale_q: u128,
}

impl TimeBender {
    /// `None` when the block time is 0 (bad input: the method divides by its cube root).
    pub fn new(block_time_secs: u64) -> Option<TimeBender> {
        let scale_q = scale_q(block_time_secs)?;
        Some(TimeBender {
            block_time_secs,
            scale_q,
        })
    }

    pub fn block_time_secs(&self) -> u64 {
        self.block_time_secs
    }

    /// SCALE_Q(T); 119822714572729 for T = 120. Below 2^86 for every 64-bit block time.
    pub fn scale_q(&self) -> u128 {
        self.scale_q
    }

    /// poc_time in seconds, `None` when `base_target` is 0.
    pub fn poc_time(&self, raw_quality: u64, base_target: u64) -> Option<u64> {
        if base_target == 0 {
            return None;
        }
        // raw_quality · 2^63 < 2^127: exact in u128.
        let ratio = (u128::from(raw_quality) << (3 * P)) / u128::from(base_target);
        let root = icbrt_u128(ratio);
        // scale_q < 2^86 and root < 2^43, yet compute the product wide so no block time can
        // overflow it; adding half of 2^63 then shifting rounds half up.
        let rounded = U256::mul_u128(self.scale_q, u128::from(root))
            .checked_add_u128(1 << (P + Q - 1))?
            .shr(P + Q);
        Some(rounded.low_u64())
    }
}

/// SCALE_Q(T), `None` for T = 0.
fn scale_q(block_time_secs: u64) -> Option<u128> {
    if block_time_secs == 0 {
        return None;
    }
    let block_time = U256::from_u128(u128::from(block_time_secs));
    // T·2^126 < 2^190, so the root is below 2^64 and root·GAMMA_FP below 2^106.
    let root = icbrt_u256(block_time.shl(3 * Q));
    let divisor = (u128::from(root) * GAMMA_FP) >> Q;
    let (quotient, remainder) = block_time.shl(2 * Q).div_rem_u128(divisor)?;
    // round half up: one more when the remainder is at least half the divisor.
    let round_up = remainder >= divisor - remainder;
    let quotient = quotient.to_u128()?;
    Some(quotient + u128::from(round_up))
}

thread_local! {
    /// The last block time asked for on this thread: the app uses one, so this is always hit.
    static LAST_BENDER: Cell<Option<TimeBender>> = const { Cell::new(None) };
}

/// poc_time in seconds for `raw_quality` against `base_target` with block time `block_time_secs`.
/// `None` when `base_target` or `block_time_secs` is 0 (bad input).
///
/// Keeps the last block time's constant per thread; code with a fixed block time can hold a
/// [`TimeBender`] instead.
pub fn poc_time(raw_quality: u64, base_target: u64, block_time_secs: u64) -> Option<u64> {
    let bender = match LAST_BENDER.get() {
        Some(bender) if bender.block_time_secs == block_time_secs => bender,
        _ => {
            let bender = TimeBender::new(block_time_secs)?;
            LAST_BENDER.set(Some(bender));
            bender
        }
    };
    bender.poc_time(raw_quality, base_target)
}

#[cfg(test)]
mod tests;
