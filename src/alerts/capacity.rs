//! The `capacity_drop` decision: a one-sided CUSUM test on the best raw quality of each round.
//!
//! The best quality a plot of capacity C finds in a round is exponentially distributed with
//! rate proportional to C (it is the minimum of very many uniform draws; protocol.md,
//! "Capacity"). For one observation q, normalised by the baseline mean μ (y = q/μ), the log
//! likelihood ratio of "capacity halved" (rate λ/2) against "baseline" (rate λ) is exactly
//! `ln(1/2) + y/2`. Its running sum, floored at zero (Page's CUSUM), crosses [`DROP_THRESHOLD`]
//! when the evidence for the drop is overwhelming; a second CUSUM on the opposite ratio decides
//! when the capacity is back (or the new level has become the baseline), so the alert resolves.
//!
//! The baseline is the machine's own: the mean of its observations, exponentially weighted over
//! about [`BASELINE_ROUNDS`], fed only with observations older than [`LAG_ROUNDS`] so that a drop
//! cannot hide itself by pulling the baseline down while it is being judged. No test runs before
//! [`ARM_ROUNDS`] observations have entered the baseline. Rounds in which a machine submitted
//! nothing are no observation (they are `machine_not_submitting`'s business).
//!
//! Pure and deterministic: no clock, no I/O, no locking. The thresholds were calibrated with the
//! simulation's own quality draws (the test below prints the rates it measures).

use std::collections::VecDeque;

use crate::stats::CAPACITY_NUMERATOR;

/// Observations held back from the baseline (the horizon a drop must be found within).
pub const LAG_ROUNDS: usize = 60;
/// The baseline averages over about this many rounds (a day of 120 s rounds).
pub const BASELINE_ROUNDS: u32 = 720;
/// Observations the baseline needs before the test may fire.
pub const ARM_ROUNDS: u32 = 120;
/// CUSUM level at which a drop to half the capacity is declared.
pub const DROP_THRESHOLD: f64 = 7.5;
/// CUSUM level (of the opposite ratio) at which the capacity counts as restored.
pub const RECOVER_THRESHOLD: f64 = 8.0;

/// ln 2: the log likelihood ratio's constant term.
const LN_2: f64 = std::f64::consts::LN_2;

/// What an observation changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Unchanged,
    /// The capacity dropped; figures in TiB for the message.
    Dropped {
        now_tib: f64,
        baseline_tib: f64,
    },
    /// The capacity is back at (or has settled into) its baseline.
    Recovered {
        now_tib: f64,
    },
}

/// One subject's (a machine's or the farm's) test state. Fixed size but for the lag ring.
#[derive(Debug, Clone, Default)]
pub struct CapacityTest {
    /// Recent observations, newest at the back, not yet in the baseline.
    lag: VecDeque<u64>,
    /// Observations in the baseline so far (saturating; only compared with the constants).
    baseline_count: u32,
    /// Mean best quality of the baseline.
    baseline_mean: f64,
    /// Evidence for "halved" against "baseline".
    drop_sum: f64,
    /// Evidence for "baseline" against "halved", gathered while dropped.
    recover_sum: f64,
    dropped: bool,
}

impl CapacityTest {
    #[cfg(test)]
    pub fn is_dropped(&self) -> bool {
        self.dropped
    }

    /// One round's best raw quality.
    pub fn observe(&mut self, raw_quality: u64) -> Verdict {
        let verdict = self.judge(raw_quality);
        if self.lag.len() >= LAG_ROUNDS {
            if let Some(old) = self.lag.pop_front() {
                self.add_to_baseline(old);
            }
        }
        self.lag.push_back(raw_quality);
        verdict
    }

    fn judge(&mut self, raw_quality: u64) -> Verdict {
        if self.baseline_count < ARM_ROUNDS || self.baseline_mean <= 0.0 {
            return Verdict::Unchanged;
        }
        let y = raw_quality as f64 / self.baseline_mean;
        let llr = y / 2.0 - LN_2;
        if !self.dropped {
            self.drop_sum = (self.drop_sum + llr).max(0.0);
            if self.drop_sum > DROP_THRESHOLD {
                self.dropped = true;
                self.recover_sum = 0.0;
                return Verdict::Dropped {
                    now_tib: self.recent_tib(raw_quality),
                    baseline_tib: CAPACITY_NUMERATOR / self.baseline_mean,
                };
            }
        } else {
            self.recover_sum = (self.recover_sum - llr).max(0.0);
            if self.recover_sum > RECOVER_THRESHOLD {
                self.dropped = false;
                self.drop_sum = 0.0;
                return Verdict::Recovered {
                    now_tib: self.recent_tib(raw_quality),
                };
            }
        }
        Verdict::Unchanged
    }

    fn add_to_baseline(&mut self, raw_quality: u64) {
        self.baseline_count = self.baseline_count.saturating_add(1);
        let weight = 1.0 / f64::from(self.baseline_count.min(BASELINE_ROUNDS));
        self.baseline_mean += (raw_quality as f64 - self.baseline_mean) * weight;
    }

    /// The capacity the last 30 observations (this one included) suggest, in TiB.
    fn recent_tib(&self, raw_quality: u64) -> f64 {
        let recent = self.lag.iter().rev().take(29);
        let count = recent.len() + 1;
        let sum: f64 = recent.map(|q| *q as f64).sum::<f64>() + raw_quality as f64;
        let mean = sum / count as f64;
        if mean > 0.0 {
            CAPACITY_NUMERATOR / mean
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{round_best, SimRng};

    /// One week of 120 s rounds.
    const WEEK: u32 = 5_040;

    fn draw(rng: &mut SimRng, capacity_tib: f64) -> u64 {
        round_best(rng, capacity_tib).max(1.0) as u64
    }

    /// Alarms raised over `weeks` fresh machines of constant capacity, a week each.
    fn false_alarms(weeks: u64, seed: u64) -> u64 {
        let mut alarms = 0;
        for week in 0..weeks {
            let mut rng = SimRng::for_stream(seed, week);
            let capacity = 1.0 + 15.0 * rng.next_f64();
            let mut test = CapacityTest::default();
            for _ in 0..WEEK {
                if matches!(
                    test.observe(draw(&mut rng, capacity)),
                    Verdict::Dropped { .. }
                ) {
                    alarms += 1;
                }
            }
        }
        alarms
    }

    /// Rounds to detection of a halving after a day at full capacity, per trial (`None` when
    /// it was not found within `horizon` or the test was already firing when it happened).
    fn detection_delays(trials: u64, seed: u64, horizon: u32) -> Vec<Option<u32>> {
        (0..trials)
            .map(|trial| {
                let mut rng = SimRng::for_stream(seed, trial);
                let capacity = 1.0 + 15.0 * rng.next_f64();
                let mut test = CapacityTest::default();
                for _ in 0..BASELINE_ROUNDS {
                    test.observe(draw(&mut rng, capacity));
                }
                if test.is_dropped() {
                    return None;
                }
                (1..=horizon).find(|_| {
                    matches!(
                        test.observe(draw(&mut rng, capacity / 2.0)),
                        Verdict::Dropped { .. }
                    )
                })
            })
            .collect()
    }

    #[test]
    fn constant_capacity_rarely_alarms_and_a_halving_is_found_within_sixty_rounds() {
        let weeks = 1_000;
        let alarms = false_alarms(weeks, 0xA1E7);
        let per_week = alarms as f64 / weeks as f64;
        let trials = 2_000;
        let delays = detection_delays(trials, 0xD20B, 60);
        let found = delays.iter().flatten().count();
        let rate = found as f64 / trials as f64;
        let mut sorted: Vec<u32> = delays.iter().flatten().copied().collect();
        sorted.sort_unstable();
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
        eprintln!(
            "capacity_drop: constant capacity: {alarms} false alarms in {weeks} simulated weeks \
             ({per_week:.3} per week of {WEEK} rounds); half capacity: found within 60 rounds in \
             {found} of {trials} trials ({:.1} %), median {median} rounds",
            rate * 100.0
        );
        assert!(per_week < 1.0, "{per_week} false alarms per week");
        assert!(rate >= 0.95, "halving found in only {rate} of trials");
    }

    #[test]
    fn an_alarm_resolves_when_the_capacity_returns() {
        let mut rng = SimRng::new(11);
        let mut test = CapacityTest::default();
        for _ in 0..BASELINE_ROUNDS {
            test.observe(draw(&mut rng, 8.0));
        }
        let dropped = (0..200).find_map(|_| match test.observe(draw(&mut rng, 2.0)) {
            Verdict::Dropped {
                now_tib,
                baseline_tib,
            } => Some((now_tib, baseline_tib)),
            _ => None,
        });
        let (now_tib, baseline_tib) = dropped.expect("a quartering must be found");
        assert!(now_tib < baseline_tib, "{now_tib} vs {baseline_tib}");
        assert!(
            (6.0..10.0).contains(&baseline_tib),
            "baseline {baseline_tib}"
        );
        let back = (0..200)
            .any(|_| matches!(test.observe(draw(&mut rng, 8.0)), Verdict::Recovered { .. }));
        assert!(back, "restored capacity must resolve the alarm");
        assert!(!test.is_dropped());
    }

    #[test]
    fn nothing_is_decided_before_the_baseline_is_armed() {
        let mut test = CapacityTest::default();
        for _ in 0..(ARM_ROUNDS as usize + LAG_ROUNDS - 1) {
            assert_eq!(test.observe(u64::MAX), Verdict::Unchanged);
        }
        assert_eq!(test.observe(0), Verdict::Unchanged);
    }
}
