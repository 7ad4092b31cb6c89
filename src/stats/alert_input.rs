//! What the alerts thread reads from the statistics, and the list it writes back.
//!
//! Polls are recorded here by the request workers (under their own mutex, not the one
//! submissions take). `alert_input` copies, in one short lock each, the polls, the rounds
//! finished since the height the caller last saw (with the farm's and every machine's best in
//! each), the upstream's state and the forward failure streak; and every subject's running
//! submission count for the hourly history. No channels.

use super::{Stats, FORGET_AFTER_MS};
use crate::alerts::board::{AlertInput, FinishedRound};
use crate::alerts::Alert;
use crate::history::hourly::SubmissionCounts;

impl Stats {
    /// A `get_mining_info` from `machine`.
    pub fn record_poll(&self, machine: &str, at_ms: u64) {
        self.polls.lock().record(machine, at_ms);
    }

    /// Everything the alert board looks at. `after_height` is the current height the previous
    /// call returned: the rounds from it up to (not including) the current one are finished.
    /// Returns the input and the current height.
    pub fn alert_input(&self, now_ms: u64, after_height: Option<u64>) -> (AlertInput, Option<u64>) {
        let polls = {
            let mut polls = self.polls.lock();
            polls.forget_idle(now_ms.saturating_sub(FORGET_AFTER_MS));
            polls.entries()
        };
        let upstream = self.upstream.lock().clone();
        let state = self.state.lock();
        let current = state.rounds.current().map(|r| r.info.height);
        let mut finished = Vec::new();
        if let (Some(after), Some(current)) = (after_height, current) {
            let mut rounds: Vec<_> = state
                .rounds
                .newest_first()
                .filter(|r| r.info.height >= after && r.info.height < current)
                .collect();
            rounds.reverse();
            for round in rounds {
                let height = round.info.height;
                finished.push(FinishedRound {
                    height,
                    farm_best: round.best.as_ref().map(|b| b.raw_quality),
                    machines: state
                        .machines
                        .values()
                        .map(|m| {
                            let best = m.bests.for_height(height).map(|b| b.raw_quality);
                            (std::sync::Arc::clone(&m.name), best)
                        })
                        .collect(),
                    accounts: state
                        .accounts
                        .values()
                        .filter_map(|a| {
                            let best = a.bests.for_height(height)?;
                            Some((std::sync::Arc::clone(&a.name), Some(best.raw_quality)))
                        })
                        .collect(),
                });
            }
        }
        let input = AlertInput {
            polls,
            finished,
            upstream_name: upstream.name,
            upstream_reachable: upstream.reachable,
            upstream_last_success_ms: upstream.last_success_ms,
            upstream_last_error: upstream.last_error,
            failed_streak: state.forwards.failed_streak,
            // The endpoints' state is the upstream module's: the alerts thread adds it.
            endpoints: Default::default(),
        };
        (input, current)
    }

    /// The height of the newest round known, live or restored from the store.
    pub fn newest_height(&self) -> Option<u64> {
        self.state.lock().rounds.newest().map(|r| r.info.height)
    }

    /// Every subject's running submission count, for the hourly history.
    pub fn submission_counts(&self) -> SubmissionCounts {
        let state = self.state.lock();
        let counts = |tracker: &super::keys::Tracker| {
            tracker
                .values()
                .map(|k| (std::sync::Arc::clone(&k.name), k.submissions))
                .collect()
        };
        SubmissionCounts {
            farm: state.submissions,
            machines: counts(&state.machines),
            accounts: counts(&state.accounts),
        }
    }

    pub fn set_alerts(&self, alerts: Vec<Alert>) {
        *self.alerts.lock() = alerts;
    }

    /// The alerts as last computed: firing first, then newest first.
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts.lock().clone()
    }
}
