//! A minimal unsigned 256-bit integer, just wide enough for the time-bending constants.
//!
//! SCALE_Q needs `T·2^126` (up to 190 bits for a 64-bit block time), its floor cube root and a
//! division of `T·2^84` by a 106-bit divisor. Only the handful of operations those steps use
//! exist here; every one is exact and none can panic.

use std::cmp::Ordering;

/// An unsigned 256-bit integer as two 128-bit halves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct U256 {
    hi: u128,
    lo: u128,
}

impl Ord for U256 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.hi.cmp(&other.hi).then(self.lo.cmp(&other.lo))
    }
}

impl PartialOrd for U256 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

const LOW_64: u128 = u64::MAX as u128;

impl U256 {
    pub(crate) const ZERO: U256 = U256 { hi: 0, lo: 0 };

    pub(crate) fn from_u128(value: u128) -> U256 {
        U256 { hi: 0, lo: value }
    }

    /// The value when it fits in 128 bits.
    pub(crate) fn to_u128(self) -> Option<u128> {
        (self.hi == 0).then_some(self.lo)
    }

    /// The lowest 64 bits (truncating on purpose).
    pub(crate) fn low_u64(self) -> u64 {
        (self.lo & LOW_64) as u64
    }

    /// The full 256-bit product of two 128-bit numbers (never overflows).
    pub(crate) fn mul_u128(a: u128, b: u128) -> U256 {
        let (a_hi, a_lo) = (a >> 64, a & LOW_64);
        let (b_hi, b_lo) = (b >> 64, b & LOW_64);
        // Each partial product of two 64-bit halves fits in 128 bits.
        let lo_lo = a_lo * b_lo;
        let hi_lo = a_hi * b_lo;
        let lo_hi = a_lo * b_hi;
        let hi_hi = a_hi * b_hi;
        // Sum of the middle column: three 64-bit pieces, cannot exceed 128 bits.
        let middle = (lo_lo >> 64) + (hi_lo & LOW_64) + (lo_hi & LOW_64);
        let lo = (lo_lo & LOW_64) | (middle << 64);
        let hi = hi_hi + (hi_lo >> 64) + (lo_hi >> 64) + (middle >> 64);
        U256 { hi, lo }
    }

    /// `self << bits`, dropping bits shifted past 256 (callers stay well inside).
    pub(crate) fn shl(self, bits: u32) -> U256 {
        match bits {
            0 => self,
            1..=127 => U256 {
                hi: (self.hi << bits) | (self.lo >> (128 - bits)),
                lo: self.lo << bits,
            },
            128..=255 => U256 {
                hi: self.lo << (bits - 128),
                lo: 0,
            },
            _ => U256::ZERO,
        }
    }

    /// `self >> bits`.
    pub(crate) fn shr(self, bits: u32) -> U256 {
        match bits {
            0 => self,
            1..=127 => U256 {
                hi: self.hi >> bits,
                lo: (self.lo >> bits) | (self.hi << (128 - bits)),
            },
            128..=255 => U256 {
                hi: 0,
                lo: self.hi >> (bits - 128),
            },
            _ => U256::ZERO,
        }
    }

    /// `self + value`, or `None` past 2^256.
    pub(crate) fn checked_add_u128(self, value: u128) -> Option<U256> {
        let (lo, carry) = self.lo.overflowing_add(value);
        let hi = self.hi.checked_add(u128::from(carry))?;
        Some(U256 { hi, lo })
    }

    fn bit(self, index: u32) -> bool {
        let half = if index >= 128 { self.hi } else { self.lo };
        (half >> (index % 128)) & 1 == 1
    }

    /// Quotient and remainder of the division by `divisor`; `None` when it is 0.
    /// Plain binary long division: the remainder always stays below the divisor.
    pub(crate) fn div_rem_u128(self, divisor: u128) -> Option<(U256, u128)> {
        if divisor == 0 {
            return None;
        }
        let mut quotient = U256::ZERO;
        let mut remainder: u128 = 0;
        for index in (0..256).rev() {
            // remainder < divisor <= u128::MAX, so doubling it may carry into bit 128.
            let carried = remainder >> 127 == 1;
            remainder = (remainder << 1) | u128::from(self.bit(index));
            if carried || remainder >= divisor {
                // The true value (with the carry) lies in [divisor, 2·divisor): the wrapped
                // difference is exact.
                remainder = remainder.wrapping_sub(divisor);
                quotient = quotient.set_bit(index);
            }
        }
        Some((quotient, remainder))
    }

    fn set_bit(self, index: u32) -> U256 {
        if index >= 128 {
            U256 {
                hi: self.hi | (1 << (index - 128)),
                lo: self.lo,
            }
        } else {
            U256 {
                hi: self.hi,
                lo: self.lo | (1 << index),
            }
        }
    }
}

/// Floor cube root of a number below 2^192 (its root fits in 64 bits). Larger inputs give
/// `u64::MAX`, the root of the largest cube this can represent.
pub(crate) fn icbrt_u256(value: U256) -> u64 {
    // Build the root from the top bit down, keeping a bit when its cube still fits under value.
    let mut root: u64 = 0;
    for bit in (0..64).rev() {
        let candidate = root | (1 << bit);
        if cube(candidate) <= value {
            root = candidate;
        }
    }
    root
}

/// `x³` exactly: x² fits in 128 bits, x³ below 2^192.
fn cube(x: u64) -> U256 {
    let square = u128::from(x) * u128::from(x);
    U256::mul_u128(square, u128::from(x))
}

/// Floor cube root of any u128 (the root is below 2^43). A floating-point guess, then exact
/// integer correction, so the result never depends on how precise `cbrt` is.
pub(crate) fn icbrt_u128(value: u128) -> u64 {
    let cube_fits = |x: u64| -> bool {
        let x = u128::from(x);
        x.checked_mul(x)
            .and_then(|square| square.checked_mul(x))
            .is_some_and(|c| c <= value)
    };
    // The guess is within a few units of the root; the loops below make it exact.
    let guess = (value as f64).cbrt() as u64;
    let mut root = guess.min(1 << 43);
    while root > 0 && !cube_fits(root) {
        root -= 1;
    }
    while cube_fits(root + 1) {
        root += 1;
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn from_parts(hi: u128, lo: u128) -> U256 {
        U256 { hi, lo }
    }

    #[test]
    fn multiplication_of_small_values_matches_u128() {
        assert_eq!(U256::mul_u128(0, u128::MAX), U256::ZERO);
        assert_eq!(U256::from_u128(5).low_u64(), 5);
        assert_eq!(U256::div_rem_u128(U256::from_u128(5), 0), None);
        assert_eq!(
            U256::mul_u128(u128::from(u64::MAX), u128::from(u64::MAX)),
            U256::from_u128(u128::from(u64::MAX) * u128::from(u64::MAX))
        );
    }

    #[test]
    fn multiplication_of_the_largest_values_is_exact() {
        // (2^128 - 1)^2 = 2^256 - 2^129 + 1
        assert_eq!(
            U256::mul_u128(u128::MAX, u128::MAX),
            from_parts(u128::MAX - 1, 1)
        );
    }

    #[test]
    fn shifts_cross_the_halves() {
        let one = U256::from_u128(1);
        assert_eq!(one.shl(128), from_parts(1, 0));
        assert_eq!(one.shl(255).shr(255), one);
        assert_eq!(one.shl(256), U256::ZERO);
        assert_eq!(from_parts(1, 0).shr(1), U256::from_u128(1 << 127));
    }

    #[test]
    fn cube_root_of_exact_cubes_and_neighbours() {
        for root in [
            1u64,
            2,
            3,
            1 << 21,
            (1 << 42) + 12345,
            (1 << 63) + 7,
            u64::MAX,
        ] {
            let exact = cube(root);
            assert_eq!(icbrt_u256(exact), root);
            assert_eq!(icbrt_u256(exact.checked_add_u128(1).unwrap()), root);
        }
        for root in [2u64, 3, 1 << 21, (1 << 42) + 12345] {
            let just_below = cube(root).to_u128().unwrap() - 1;
            assert_eq!(icbrt_u256(U256::from_u128(just_below)), root - 1);
        }
        assert_eq!(icbrt_u256(U256::ZERO), 0);
        assert_eq!(icbrt_u256(U256::from_u128(7)), 1);
        assert_eq!(icbrt_u256(U256::from_u128(8)), 2);
    }

    #[test]
    fn cube_root_of_u128_extremes() {
        assert_eq!(icbrt_u128(0), 0);
        assert_eq!(icbrt_u128(26), 2);
        assert_eq!(icbrt_u128(27), 3);
        let root = icbrt_u128(u128::MAX);
        assert!(cube(root) <= U256::from_u128(u128::MAX));
        assert!(cube(root + 1) > U256::from_u128(u128::MAX));
    }

    proptest! {
        #[test]
        fn division_inverts_multiplication(
            quotient in any::<u128>(),
            divisor in 1..=u128::MAX,
            remainder_seed in any::<u128>(),
            small_divisor in 1..=u128::from(u64::MAX),
        ) {
            for divisor in [divisor, small_divisor] {
                let remainder = remainder_seed % divisor;
                let value = U256::mul_u128(quotient, divisor)
                    .checked_add_u128(remainder)
                    .unwrap();
                let (q, r) = value.div_rem_u128(divisor).unwrap();
                prop_assert_eq!(q, U256::from_u128(quotient));
                prop_assert_eq!(r, remainder);
            }
        }

        #[test]
        fn division_of_wide_values_reassembles(hi in any::<u128>(), lo in any::<u128>()) {
            // A 64-bit divisor leaves a quotient wider than 128 bits: rebuild it half by half.
            let value = from_parts(hi, lo);
            let divisor = u128::from(u64::MAX - 12345);
            let (q, r) = value.div_rem_u128(divisor).unwrap();
            prop_assert!(r < divisor);
            let back = U256::mul_u128(q.hi, divisor)
                .shl(128);
            let low_part = U256::mul_u128(q.lo, divisor);
            let sum_lo = back.lo.overflowing_add(low_part.lo);
            let sum = U256 { hi: back.hi.wrapping_add(low_part.hi).wrapping_add(u128::from(sum_lo.1)), lo: sum_lo.0 };
            prop_assert_eq!(sum.checked_add_u128(r).unwrap(), value);
        }

        #[test]
        fn u128_root_is_the_floor_root(value in any::<u128>()) {
            let root = icbrt_u128(value);
            prop_assert!(cube(root) <= U256::from_u128(value));
            prop_assert!(cube(root + 1) > U256::from_u128(value));
            prop_assert_eq!(u128::from(root), u128::from(icbrt_u256(U256::from_u128(value))));
        }

        #[test]
        fn wide_root_is_the_floor_root(hi in 0..(1u128 << 64), lo in any::<u128>()) {
            let value = from_parts(hi, lo);
            let root = icbrt_u256(value);
            prop_assert!(cube(root) <= value);
            prop_assert!(root == u64::MAX || cube(root + 1) > value);
        }
    }
}
