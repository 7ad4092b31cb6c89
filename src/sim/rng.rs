//! A small deterministic pseudo-random generator for the simulation, and the identifiers it
//! makes from it (generation signatures, block hashes, account ids, request ids) in hex.
//!
//! It is SplitMix64: fast, well mixed, reproducible from a seed, and not cryptographic. The
//! simulation wants repeatable runs, not secrets. No I/O, no shared state.

/// SplitMix64 stream. Equal seeds give equal sequences.
#[derive(Debug, Clone)]
pub(crate) struct SimRng {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl SimRng {
    pub(crate) fn new(seed: u64) -> SimRng {
        SimRng { state: seed }
    }

    /// A generator for one part of a simulation: the same (seed, stream) always gives the
    /// same sequence, different streams give unrelated ones.
    pub(crate) fn for_stream(seed: u64, stream: u64) -> SimRng {
        let mut mixer = SimRng::new(seed ^ stream.wrapping_mul(GOLDEN_GAMMA).rotate_left(17));
        SimRng::new(mixer.next_u64())
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        // The top 53 bits fill an f64 mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (clamped to [0, 1]).
    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }

    /// `len` random bytes as lowercase hex (2·len characters).
    pub(super) fn hex_bytes(&mut self, len: usize) -> String {
        let mut bytes = Vec::with_capacity(len.next_multiple_of(8));
        while bytes.len() < len {
            bytes.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        bytes.truncate(len);
        hex::encode(bytes)
    }

    /// A request id shaped like the UUIDs real miners send.
    pub(super) fn uuid_like(&mut self) -> String {
        let hex = self.hex_bytes(16);
        let part = |from: usize, to: usize| hex.get(from..to).unwrap_or("");
        format!(
            "{}-{}-{}-{}-{}",
            part(0, 8),
            part(8, 12),
            part(12, 16),
            part(16, 20),
            part(20, 32)
        )
    }
}

pub(super) use crate::submission::is_hex_of_len;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_streams_differ() {
        let mut a = SimRng::new(7);
        let mut b = SimRng::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let mut s1 = SimRng::for_stream(7, 1);
        let mut s2 = SimRng::for_stream(7, 2);
        assert_ne!(s1.next_u64(), s2.next_u64());
    }

    #[test]
    fn hex_and_uuid_shapes() {
        let mut rng = SimRng::new(1);
        let gensig = rng.hex_bytes(32);
        assert!(is_hex_of_len(&gensig, 64));
        assert!(is_hex_of_len(&rng.hex_bytes(20), 40));
        assert!(is_hex_of_len(&rng.hex_bytes(3), 6));
        let word = SimRng::new(9).next_u64().to_le_bytes();
        assert_eq!(SimRng::new(9).hex_bytes(3), hex::encode(&word[..3]));
        let id = rng.uuid_like();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert!(!is_hex_of_len("zz", 2));
    }

    #[test]
    fn floats_stay_in_unit_interval() {
        let mut rng = SimRng::new(3);
        for _ in 0..10_000 {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
