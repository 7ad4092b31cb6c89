//! An independent, deliberately naive model of time bending for tests: arbitrary-size naturals
//! as little-endian `u32` limbs, schoolbook arithmetic, and a cube root found by binary search
//! on the value range. Slow and simple, so it can check the fast path.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Natural {
    /// Little-endian base-2^32 digits, no trailing zero limbs.
    limbs: Vec<u32>,
}

impl Natural {
    fn from_u64(value: u64) -> Natural {
        Natural {
            limbs: vec![value as u32, (value >> 32) as u32],
        }
        .trimmed()
    }

    fn trimmed(mut self) -> Natural {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
        self
    }

    fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    fn power_of_two(exponent: usize) -> Natural {
        let mut limbs = vec![0u32; exponent / 32 + 1];
        limbs[exponent / 32] = 1 << (exponent % 32);
        Natural { limbs }
    }

    fn add(&self, other: &Natural) -> Natural {
        let mut limbs = Vec::new();
        let mut carry = 0u64;
        for i in 0..self.limbs.len().max(other.limbs.len()) {
            let sum = carry
                + u64::from(*self.limbs.get(i).unwrap_or(&0))
                + u64::from(*other.limbs.get(i).unwrap_or(&0));
            limbs.push(sum as u32);
            carry = sum >> 32;
        }
        limbs.push(carry as u32);
        Natural { limbs }.trimmed()
    }

    /// self - other, for self >= other.
    fn sub(&self, other: &Natural) -> Natural {
        let mut limbs = Vec::new();
        let mut borrow = 0i64;
        for i in 0..self.limbs.len() {
            let mut diff =
                i64::from(self.limbs[i]) - i64::from(*other.limbs.get(i).unwrap_or(&0)) - borrow;
            borrow = 0;
            if diff < 0 {
                diff += 1 << 32;
                borrow = 1;
            }
            limbs.push(diff as u32);
        }
        assert_eq!(borrow, 0, "reference subtraction went negative");
        Natural { limbs }.trimmed()
    }

    fn mul(&self, other: &Natural) -> Natural {
        let mut limbs = vec![0u64; self.limbs.len() + other.limbs.len() + 1];
        for (i, a) in self.limbs.iter().enumerate() {
            let mut carry = 0u64;
            for (j, b) in other.limbs.iter().enumerate() {
                let cell = limbs[i + j] + u64::from(*a) * u64::from(*b) + carry;
                limbs[i + j] = cell & 0xffff_ffff;
                carry = cell >> 32;
            }
            limbs[i + other.limbs.len()] += carry;
        }
        Natural {
            limbs: limbs.into_iter().map(|l| l as u32).collect(),
        }
        .trimmed()
    }

    fn half(&self) -> Natural {
        let mut limbs = self.limbs.clone();
        let mut carry_in = 0u32;
        for limb in limbs.iter_mut().rev() {
            let next_carry = *limb & 1;
            *limb = (*limb >> 1) | (carry_in << 31);
            carry_in = next_carry;
        }
        Natural { limbs }.trimmed()
    }

    /// Floor division by repeated doubling of the divisor (no shortcut through machine words).
    fn div(&self, divisor: &Natural) -> Natural {
        assert!(!divisor.is_zero());
        let mut doublings = vec![(divisor.clone(), Natural::from_u64(1))];
        while doublings.last().unwrap().0 <= *self {
            let (d, q) = doublings.last().unwrap().clone();
            doublings.push((d.add(&d), q.add(&q)));
        }
        let mut rest = self.clone();
        let mut quotient = Natural::from_u64(0);
        for (d, q) in doublings.iter().rev() {
            if *d <= rest {
                rest = rest.sub(d);
                quotient = quotient.add(q);
            }
        }
        quotient
    }

    fn cube_root(&self) -> Natural {
        // Invariant: low³ <= self < high³.
        let mut low = Natural::from_u64(0);
        let mut high = self.add(&Natural::from_u64(1));
        let one = Natural::from_u64(1);
        while high.sub(&low) > one {
            let middle = low.add(&high).half();
            if middle.mul(&middle).mul(&middle) <= *self {
                low = middle;
            } else {
                high = middle;
            }
        }
        low
    }

    fn low_u64(&self) -> u64 {
        let limb = |i: usize| u64::from(*self.limbs.get(i).unwrap_or(&0));
        limb(0) | (limb(1) << 32)
    }
}

impl Ord for Natural {
    fn cmp(&self, other: &Self) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }
}

impl PartialOrd for Natural {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// SCALE_Q(T) straight from the formula, as a natural.
fn reference_scale(block_time: u64) -> Natural {
    let t = Natural::from_u64(block_time);
    let root = t.mul(&Natural::power_of_two(126)).cube_root();
    let divisor = root
        .mul(&Natural::from_u64(3_927_365_422_841))
        .div(&Natural::power_of_two(42));
    let numerator = t.mul(&Natural::power_of_two(84));
    // round_half_up(n / d) = floor((2n + d) / 2d)
    numerator
        .add(&numerator)
        .add(&divisor)
        .div(&divisor.add(&divisor))
}

pub(super) fn reference_scale_u128(block_time: u64) -> u128 {
    let scale = reference_scale(block_time);
    let limb = |i: usize| u128::from(*scale.limbs.get(i).unwrap_or(&0));
    assert!(scale.limbs.len() <= 4);
    limb(0) | (limb(1) << 32) | (limb(2) << 64) | (limb(3) << 96)
}

pub(super) fn reference_poc_time(raw_quality: u64, base_target: u64, block_time: u64) -> u64 {
    let ratio = Natural::from_u64(raw_quality)
        .mul(&Natural::power_of_two(63))
        .div(&Natural::from_u64(base_target));
    let product = reference_scale(block_time).mul(&ratio.cube_root());
    let unit = Natural::power_of_two(63);
    // round to nearest, halves up: floor((x + 2^62) / 2^63)
    product.add(&unit.half()).div(&unit).low_u64()
}
