//! Rebuilding statistics from the store's history at start-up.
//!
//! Runs once, before any request is served, on the state behind `Stats`' mutex: rounds and how
//! many a day brought, per-key counts and activity, the per-round bests the capacity window
//! needs, and forward outcome counts. No channels; it reads a `History`, never the database.

use std::sync::Arc;

use super::State;
use crate::store::{History, KeyActivity, TallyKind};

pub(super) fn restore(state: &mut State, history: &History) {
    for hour in &history.rounds_by_hour {
        state.rounds.add_seen(hour.hour_start_ms, hour.count);
    }
    for round in &history.rounds {
        state.rounds.restore(round);
    }
    for activity in &history.accounts {
        restore_activity(&mut state.accounts, activity);
        state.submissions = state.submissions.saturating_add(activity.submissions);
    }
    for activity in &history.machines {
        restore_activity(&mut state.machines, activity);
    }
    // Ascending height, so each key's ring fills oldest to newest.
    for best in &history.recent_bests {
        let (height, raw, poc) = (best.height, best.best_raw_quality, best.best_poc_time);
        let machine = &best.machine;
        let account_name = state.accounts.with_entry(
            &best.account_id,
            || Arc::from(best.account_id.as_str()),
            |a| {
                a.bests.offer(height, raw, poc);
                a.link(machine);
                Arc::clone(&a.name)
            },
        );
        state.machines.with_entry(
            machine,
            || Arc::clone(machine),
            |m| {
                m.bests.offer(height, raw, poc);
                if let Some(account) = &account_name {
                    m.link(account);
                }
            },
        );
        state.rounds.offer(
            height,
            raw,
            poc,
            || account_name.unwrap_or_else(|| Arc::from(best.account_id.as_str())),
            machine,
        );
    }
    for tally in &history.outcomes {
        let (kind, code, reason) = match tally.kind {
            TallyKind::Accepted => ("accepted", None, None),
            TallyKind::Rejected { code } => ("rejected", Some(code), None),
            TallyKind::Dropped(why) => ("dropped", None, Some(why)),
        };
        state
            .forwards
            .add(kind, code, reason, tally.count, tally.retries);
        let per_key = |k: &mut super::keys::KeyStats| match tally.kind {
            TallyKind::Rejected { .. } => k.rejected = k.rejected.saturating_add(tally.count),
            TallyKind::Dropped(crate::events::DropReason::FailedVerification) => {
                k.failed_verification = k.failed_verification.saturating_add(tally.count)
            }
            _ => {}
        };
        if let Some(account) = state.accounts.get_mut(&tally.account_id) {
            per_key(account);
        }
        if let Some(machine) = state.machines.get_mut(&tally.machine) {
            per_key(machine);
        }
    }
    for (height, raw_quality) in &history.accepted {
        state.rounds.accepted(*height, *raw_quality);
    }
}

fn restore_activity(tracker: &mut super::keys::Tracker, activity: &KeyActivity) {
    tracker.with_entry(
        &activity.key,
        || Arc::from(activity.key.as_str()),
        |k| {
            k.submissions = k.submissions.saturating_add(activity.submissions);
            k.last_seen_ms = k.last_seen_ms.max(activity.last_seen_ms);
            for hour in &activity.rounds_by_hour {
                k.rounds_24h.add(hour.hour_start_ms, hour.count);
            }
        },
    );
}
