//! The alert board: every alert's state, recomputed from one [`AlertInput`] per tick.
//!
//! In: what the statistics hold now (polls, finished rounds, upstream, the forward streak) and
//! the upstream endpoints' state.
//! Out: the changes of this tick (an alert that began firing or resolved) and the list `/stats`,
//! `/metrics` and the dashboard show. Pure: the caller gives the time, so tests need no clock.
//! Resolved alerts stay listed for [`RESOLVED_KEPT_MS`]; the list is bounded.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::capacity::{CapacityTest, Verdict};
use super::polls::PollEntry;
use super::rounds::MachineRounds;
use super::{Alert, AlertKind, AlertState};
use crate::config::AlertSettings;
use crate::events::millis;
use crate::upstream::error::printable;
use crate::upstream::UpstreamsView;

/// How long a resolved alert stays listed.
pub const RESOLVED_KEPT_MS: u64 = 3_600_000;
/// Alerts listed at most (firing ones first; a new one beyond this is only logged).
pub const MAX_ALERTS: usize = 1_000;
/// The subject of the farm-wide capacity test.
pub const FARM: &str = "farm";

/// One finished round as the statistics saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinishedRound {
    pub height: u64,
    /// The farm's best raw quality, if anything was submitted.
    pub farm_best: Option<u64>,
    /// Every tracked machine and its best in the round (`None`: it submitted nothing).
    pub machines: Vec<(Arc<str>, Option<u64>)>,
    /// The accounts with a best in the round (for the hourly history; the board ignores them).
    pub accounts: Vec<(Arc<str>, Option<u64>)>,
}

/// Everything one tick looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertInput {
    pub polls: Vec<(Arc<str>, PollEntry)>,
    /// Rounds finished since the previous input, oldest first.
    pub finished: Vec<FinishedRound>,
    pub upstream_name: String,
    pub upstream_reachable: bool,
    pub upstream_last_success_ms: Option<u64>,
    pub upstream_last_error: Option<String>,
    /// Forwards in a row that were rejected or dropped for the upstream's sake.
    pub failed_streak: u64,
    /// The primary and backups as the cache thread last polled them.
    pub endpoints: UpstreamsView,
}

/// The board. Create once, feed every tick.
pub struct Board {
    settings: AlertSettings,
    started_ms: u64,
    alerts: BTreeMap<AlertKind, BTreeMap<Arc<str>, Alert>>,
    machines: HashMap<Arc<str>, MachineRounds>,
    farm: CapacityTest,
}

impl Board {
    pub fn new(settings: AlertSettings, started_ms: u64) -> Board {
        Board {
            settings,
            started_ms,
            alerts: BTreeMap::new(),
            machines: HashMap::new(),
            farm: CapacityTest::default(),
        }
    }

    /// The listed alerts: firing first, then newest first.
    pub fn list(&self) -> Vec<Alert> {
        let mut list: Vec<Alert> = self
            .alerts
            .values()
            .flat_map(|m| m.values().cloned())
            .collect();
        list.sort_by(|a, b| {
            (b.state == AlertState::Firing)
                .cmp(&(a.state == AlertState::Firing))
                .then(b.since_ms.cmp(&a.since_ms))
        });
        list
    }

    /// Applies one input; returns the alerts whose state changed, as they now are.
    pub fn tick(&mut self, now_ms: u64, input: &AlertInput) -> Vec<Alert> {
        let mut changes = Vec::new();
        let polls: HashMap<&str, &PollEntry> = input.polls.iter().map(|(n, p)| (&**n, p)).collect();
        for round in &input.finished {
            self.round_finished(now_ms, round, &polls, &mut changes);
        }
        self.check_silence(now_ms, &polls, &mut changes);
        self.check_upstream(now_ms, input, &mut changes);
        self.check_endpoints(now_ms, &input.endpoints, &mut changes);
        for alerts in self.alerts.values_mut() {
            alerts.retain(|_, a| {
                a.state == AlertState::Firing
                    || a.since_ms.saturating_add(RESOLVED_KEPT_MS) > now_ms
            });
        }
        changes
    }

    fn round_finished(
        &mut self,
        now_ms: u64,
        round: &FinishedRound,
        polls: &HashMap<&str, &PollEntry>,
        changes: &mut Vec<Alert>,
    ) {
        if let Some(best) = round.farm_best {
            let verdict = self.farm.observe(best);
            self.capacity_verdict(now_ms, FARM, verdict, changes);
        }
        // Machines the statistics forgot are forgotten here too.
        let listed: HashMap<&str, Option<u64>> =
            round.machines.iter().map(|(n, b)| (&**n, *b)).collect();
        self.machines.retain(|name, _| listed.contains_key(&**name));
        let idle_limit = self.settings.idle_rounds;
        let silent_ms = millis(self.settings.machine_silent);
        for (name, best) in &round.machines {
            let machine = self.machines.entry(Arc::clone(name)).or_default();
            let verdict = machine.record(*best);
            let idle = machine.idle_rounds();
            let used_to = machine.used_to_submit();
            self.capacity_verdict(now_ms, name, verdict, changes);
            let polling = polls
                .get(&**name)
                .is_some_and(|p| now_ms.saturating_sub(p.last_ms) < silent_ms);
            if best.is_some() {
                let message = format!("{name} submits again");
                self.resolve(
                    now_ms,
                    AlertKind::MachineNotSubmitting,
                    name,
                    message,
                    changes,
                );
            } else if idle >= idle_limit && used_to && polling {
                let message =
                    format!("{name} still polls but submitted nothing in the last {idle} rounds");
                self.fire(
                    now_ms,
                    AlertKind::MachineNotSubmitting,
                    name,
                    message,
                    changes,
                );
            }
        }
    }

    fn capacity_verdict(
        &mut self,
        now_ms: u64,
        subject: &str,
        verdict: Verdict,
        changes: &mut Vec<Alert>,
    ) {
        match verdict {
            Verdict::Unchanged => {}
            Verdict::Dropped {
                now_tib,
                baseline_tib,
            } => {
                let message = format!(
                    "capacity of {subject} fell to about {now_tib:.1} TiB from a baseline of \
                     {baseline_tib:.1} TiB"
                );
                self.fire(now_ms, AlertKind::CapacityDrop, subject, message, changes);
            }
            Verdict::Recovered { now_tib } => {
                let message = format!("capacity of {subject} is back at about {now_tib:.1} TiB");
                self.resolve(now_ms, AlertKind::CapacityDrop, subject, message, changes);
            }
        }
    }

    fn check_silence(
        &mut self,
        now_ms: u64,
        polls: &HashMap<&str, &PollEntry>,
        changes: &mut Vec<Alert>,
    ) {
        let silent_ms = millis(self.settings.machine_silent);
        for (name, poll) in polls {
            let quiet_ms = now_ms.saturating_sub(poll.last_ms);
            if quiet_ms >= silent_ms && poll.is_regular(silent_ms) {
                let message = format!("{name} has not polled for {} s", quiet_ms / 1000);
                self.fire(now_ms, AlertKind::MachineSilent, name, message, changes);
            } else if quiet_ms < silent_ms {
                let message = format!("{name} polls again");
                self.resolve(now_ms, AlertKind::MachineSilent, name, message, changes);
            }
        }
        // A machine the poll tracker forgot (a day of silence) leaves the list quietly.
        if let Some(silent) = self.alerts.get_mut(&AlertKind::MachineSilent) {
            silent.retain(|subject, _| polls.contains_key(&**subject));
        }
    }

    fn check_upstream(&mut self, now_ms: u64, input: &AlertInput, changes: &mut Vec<Alert>) {
        let name = if input.upstream_name.is_empty() {
            "upstream"
        } else {
            input.upstream_name.as_str()
        };
        if input.upstream_reachable {
            let message = format!("upstream {name} is reachable again");
            self.resolve(
                now_ms,
                AlertKind::UpstreamUnreachable,
                name,
                message,
                changes,
            );
        } else if let Some(down_ms) = self.down_past_bound(now_ms, input.upstream_last_success_ms) {
            let error = input.upstream_last_error.as_deref();
            let message = unreachable_message(&format!("upstream {name}"), down_ms, error);
            self.fire(
                now_ms,
                AlertKind::UpstreamUnreachable,
                name,
                message,
                changes,
            );
        }
        let limit = u64::from(self.settings.failed_forwards);
        if input.failed_streak >= limit {
            let message = format!(
                "the last {} forwards to {name} were rejected or dropped",
                input.failed_streak
            );
            self.fire(now_ms, AlertKind::ForwardsFailing, name, message, changes);
        } else if input.failed_streak == 0 {
            let message = format!("forwards to {name} are accepted again");
            self.resolve(now_ms, AlertKind::ForwardsFailing, name, message, changes);
        }
    }

    /// With backups, an endpoint that is not serving the farm and has not answered a poll for
    /// `upstream_down`; the active endpoint's outage is `upstream_unreachable`.
    fn check_endpoints(&mut self, now_ms: u64, view: &UpstreamsView, changes: &mut Vec<Alert>) {
        if view.endpoints.len() < 2 {
            return;
        }
        let serving = view.active_label().unwrap_or("none");
        for (index, endpoint) in view.endpoints.iter().enumerate() {
            let subject = endpoint.label.as_str();
            if endpoint.reachable {
                let message = format!("upstream endpoint {subject} answers again");
                let kind = AlertKind::UpstreamEndpointDown;
                self.resolve(now_ms, kind, subject, message, changes);
                continue;
            }
            if index == view.active {
                continue;
            }
            let Some(down_ms) = self.down_past_bound(now_ms, endpoint.last_ok_ms) else {
                continue;
            };
            let what = format!("upstream endpoint {subject}");
            let error = endpoint.last_error.as_deref();
            let message = format!(
                "{}; the farm is served by {serving}",
                unreachable_message(&what, down_ms, error)
            );
            self.fire(
                now_ms,
                AlertKind::UpstreamEndpointDown,
                subject,
                message,
                changes,
            );
        }
    }

    /// How long something that last answered at `last_ok_ms` (never: since start) has been
    /// silent, once that reaches `upstream_down`.
    fn down_past_bound(&self, now_ms: u64, last_ok_ms: Option<u64>) -> Option<u64> {
        let down_ms = now_ms.saturating_sub(last_ok_ms.unwrap_or(self.started_ms));
        (down_ms >= millis(self.settings.upstream_down)).then_some(down_ms)
    }

    fn fire(
        &mut self,
        now_ms: u64,
        kind: AlertKind,
        subject: &str,
        message: String,
        changes: &mut Vec<Alert>,
    ) {
        let listed: usize = self.alerts.values().map(BTreeMap::len).sum();
        let of_kind = self.alerts.entry(kind).or_default();
        if let Some(alert) = of_kind.get_mut(subject) {
            enter(alert, AlertState::Firing, now_ms, message, changes);
            return;
        }
        let subject: Arc<str> = Arc::from(subject);
        let alert = Alert {
            kind,
            subject: Arc::clone(&subject),
            state: AlertState::Firing,
            since_ms: now_ms,
            message,
        };
        changes.push(alert.clone());
        if listed < MAX_ALERTS {
            of_kind.insert(subject, alert);
        }
    }

    fn resolve(
        &mut self,
        now_ms: u64,
        kind: AlertKind,
        subject: &str,
        message: String,
        changes: &mut Vec<Alert>,
    ) {
        let listed = self
            .alerts
            .get_mut(&kind)
            .and_then(|of_kind| of_kind.get_mut(subject));
        if let Some(alert) = listed {
            enter(alert, AlertState::Resolved, now_ms, message, changes);
        }
    }
}

/// Moves a listed alert into `state` (a change, when it was not in it already).
fn enter(
    alert: &mut Alert,
    state: AlertState,
    now_ms: u64,
    message: String,
    changes: &mut Vec<Alert>,
) {
    if alert.state == state {
        return;
    }
    alert.state = state;
    alert.since_ms = now_ms;
    alert.message = message;
    changes.push(alert.clone());
}

/// `<what> unreachable for <s> s: <error>`, the error on one line.
fn unreachable_message(what: &str, down_ms: u64, error: Option<&str>) -> String {
    let error = printable(error.unwrap_or("no answer"));
    format!("{what} unreachable for {} s: {error}", down_ms / 1000)
}
