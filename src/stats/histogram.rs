//! Lock-free latency histograms with fixed buckets, one per method label.
//!
//! Every request records here, so recording is a handful of relaxed atomic adds and no lock.
//! Method names come from miners: anything but the known methods is counted as "other", which
//! keeps the label set fixed. No channels; rendering lives in `metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds (Prometheus `le`).
pub const LATENCY_BUCKETS_SECS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The same bounds in microseconds, for recording without floating point.
const BUCKET_LIMITS_MICROS: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// The method labels histograms are kept for; the last catches everything else.
pub const METHOD_LABELS: [&str; 3] = ["get_mining_info", "submit_nonce", "other"];

const BUCKETS_WITH_OVERFLOW: usize = LATENCY_BUCKETS_SECS.len() + 1;

#[derive(Debug)]
struct Histogram {
    /// Per bucket (not cumulative); the last one is above every bound.
    counts: [AtomicU64; BUCKETS_WITH_OVERFLOW],
    sum_micros: AtomicU64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram {
            counts: [const { AtomicU64::new(0) }; BUCKETS_WITH_OVERFLOW],
            sum_micros: AtomicU64::new(0),
        }
    }
}

/// One histogram per method label.
#[derive(Debug)]
pub struct LatencyHistograms {
    by_method: [Histogram; METHOD_LABELS.len()],
}

/// A histogram read out for rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub method: &'static str,
    /// Cumulative counts per bound of [`LATENCY_BUCKETS_SECS`].
    pub cumulative: [u64; LATENCY_BUCKETS_SECS.len()],
    /// Every observation (the `+Inf` bucket).
    pub count: u64,
    pub sum_secs: f64,
}

impl Default for LatencyHistograms {
    fn default() -> LatencyHistograms {
        LatencyHistograms {
            by_method: [const { Histogram::new() }; METHOD_LABELS.len()],
        }
    }
}

impl LatencyHistograms {
    pub fn record(&self, method: &str, latency: Duration) {
        let label = METHOD_LABELS
            .iter()
            .position(|m| *m == method)
            .unwrap_or(METHOD_LABELS.len() - 1);
        let Some(histogram) = self.by_method.get(label) else {
            return;
        };
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKET_LIMITS_MICROS.partition_point(|limit| *limit < micros);
        if let Some(count) = histogram.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        histogram.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Vec<HistogramSnapshot> {
        METHOD_LABELS
            .iter()
            .zip(self.by_method.iter())
            .map(|(method, histogram)| {
                let mut cumulative = [0u64; LATENCY_BUCKETS_SECS.len()];
                let mut running = 0u64;
                for (i, count) in histogram.counts.iter().enumerate() {
                    running = running.saturating_add(count.load(Ordering::Relaxed));
                    if let Some(slot) = cumulative.get_mut(i) {
                        *slot = running;
                    }
                }
                HistogramSnapshot {
                    method,
                    cumulative,
                    // Summed from the buckets so `+Inf` always equals the count.
                    count: running,
                    sum_secs: histogram.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = LatencyHistograms::default();
        h.record("submit_nonce", Duration::from_micros(500));
        h.record("submit_nonce", Duration::from_micros(501));
        h.record("submit_nonce", Duration::from_secs(60));
        h.record("made_up", Duration::from_millis(1));
        let snap = h.snapshot();
        let submit = snap.iter().find(|s| s.method == "submit_nonce").unwrap();
        assert_eq!(submit.cumulative[0], 1);
        assert_eq!(submit.cumulative[1], 2);
        assert_eq!(submit.cumulative[13], 2);
        assert_eq!(submit.count, 3);
        let other = snap.iter().find(|s| s.method == "other").unwrap();
        assert_eq!(other.count, 1);
    }
}
