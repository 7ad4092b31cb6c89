//! Building the `/stats` JSON document (field names are a contract with the dashboard).
//!
//! The numbers are copied out under the lock in one pass over the tracked keys and the 30-round
//! window; the JSON is built after the lock is released, so a slow reader never holds up a
//! request worker. No channels; nothing here is kept between calls.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::keys::{KeyStats, RoundBest, Tracker};
use super::rounds::{FarmBest, RoundEntry};
use super::{forwards::ForwardCounters, Gauges, State, Stats, ACTIVE_WINDOW_MS};
use crate::events::{DropReason, RoundInfo};

/// One account or machine, as listed.
struct KeyRow {
    name: Arc<str>,
    submissions: u64,
    /// This round's best.
    best: Option<RoundBest>,
    capacity_tib: Option<f64>,
    rounds_24h: u64,
    last_seen_ms: u64,
    active: bool,
    rejected: u64,
    links: Vec<Arc<str>>,
}

struct RoundRow {
    info: RoundInfo,
    best: Option<FarmBest>,
    accepted: bool,
}

/// Everything the document needs, copied under the lock.
struct View {
    accounts: Vec<KeyRow>,
    machines: Vec<KeyRow>,
    untracked_accounts: u64,
    untracked_machines: u64,
    rounds: Vec<RoundRow>,
    /// The live round, which need not be the newest listed (a reorg may go back to one).
    current: Option<RoundRow>,
    rounds_seen_24h: u64,
    forwards: ForwardCounters,
    submissions: u64,
}

impl View {
    fn take(state: &State, now_ms: u64) -> View {
        let current_height = state.rounds.current().map(|r| r.info.height);
        View {
            accounts: key_rows(&state.accounts, current_height, now_ms),
            machines: key_rows(&state.machines, current_height, now_ms),
            untracked_accounts: state.accounts.untracked,
            untracked_machines: state.machines.untracked,
            rounds: state.rounds.newest_first().map(round_row).collect(),
            current: state.rounds.current().map(round_row),
            rounds_seen_24h: state.rounds.seen_24h(now_ms),
            forwards: state.forwards.clone(),
            submissions: state.submissions,
        }
    }
}

fn key_rows(tracker: &Tracker, current_height: Option<u64>, now_ms: u64) -> Vec<KeyRow> {
    let active_since = now_ms.saturating_sub(ACTIVE_WINDOW_MS);
    let row = |k: &KeyStats| KeyRow {
        name: Arc::clone(&k.name),
        submissions: k.submissions,
        best: current_height.and_then(|h| k.bests.for_height(h)),
        capacity_tib: k.bests.capacity_tib(),
        rounds_24h: k.rounds_24h.total(now_ms),
        last_seen_ms: k.last_seen_ms,
        active: k.last_seen_ms >= active_since,
        rejected: k.rejected.saturating_add(k.failed_verification),
        links: k.links.clone(),
    };
    tracker.values().map(row).collect()
}

fn round_row(entry: &RoundEntry) -> RoundRow {
    RoundRow {
        info: entry.info.clone(),
        best: entry.best.clone(),
        accepted: entry.best_accepted(),
    }
}

pub(super) fn build(stats: &Stats, now_ms: u64, gauges: &Gauges) -> Value {
    let upstream = stats.upstream.lock().clone();
    let alerts: Vec<Value> = stats.alerts().iter().map(|a| a.to_json()).collect();
    let mut view = View::take(&stats.state.lock(), now_ms);
    view.accounts.sort_by(|a, b| a.name.cmp(&b.name));
    view.machines.sort_by(|a, b| a.name.cmp(&b.name));

    let f = &view.forwards;
    let mut dropped_by_reason = Map::new();
    for reason in DropReason::ALL {
        dropped_by_reason.insert(reason.as_str().into(), json!(f.dropped_for(reason)));
    }
    let mut rejected_by_code = Map::new();
    for (code, n) in &f.rejected_by_code {
        rejected_by_code.insert(code.to_string(), json!(n));
    }
    if f.rejected_other_codes > 0 {
        rejected_by_code.insert("other".into(), json!(f.rejected_other_codes));
    }
    let current = view.current.as_ref();
    let round = current.map(|r| {
        json!({
            "height": r.info.height,
            "base_target": r.info.base_target,
            "generation_signature": r.info.generation_signature,
            "block_hash": r.info.block_hash,
            "started_ms": r.info.first_seen_ms,
            "network_capacity_tib": stats.network_capacity_tib(r.info.base_target),
        })
    });
    let best = current.and_then(|r| r.best.as_ref()).map(|b| {
        json!({
            "account": &*b.account,
            "machine": &*b.machine,
            "raw_quality": b.raw_quality,
            "poc_time": b.poc_time,
        })
    });
    let farm_capacity_tib: f64 = view.accounts.iter().filter_map(|a| a.capacity_tib).sum();
    let seen = view.rounds_seen_24h;
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "simulation": stats.simulation,
        "uptime_secs": stats.uptime_secs(now_ms),
        "now_ms": now_ms,
        "mode": stats.mode.as_str(),
        "upstream": {
            "name": upstream.name,
            "url": upstream.url,
            "reachable": upstream.reachable,
            "last_success_ms": upstream.last_success_ms,
            "latency_ms": upstream.latency_ms,
            "refresh_errors": upstream.refresh_errors,
            "last_error": upstream.last_error,
            "active": gauges.upstreams.active_label(),
            "failovers": gauges.upstreams.switches,
            "endpoints": gauges.upstreams.endpoints_json(),
            "queue_depth": gauges.queue_depth,
            "verify_queue_depth": gauges.verify_queue_depth,
            "mining_info_age_ms": gauges.mining_info_age_ms,
            "forwards": {
                "accepted": f.accepted,
                "rejected": f.rejected,
                "dropped": f.dropped,
                "retries": f.retries,
                "dropped_by_reason": dropped_by_reason,
                "rejected_by_code": rejected_by_code,
            },
        },
        "store": {
            "ok": gauges.store.ok,
            "rows_written": gauges.store.rows_written,
            "batches": gauges.store.batches,
            "failed_writes": gauges.store.failed_writes,
            "dropped_rows": gauges.store.dropped_rows,
            "queued": gauges.store.queued,
            "last_error": gauges.store.last_error,
        },
        "http": {
            "refused": gauges.http_refused.iter().map(|(r, n)| ((*r).to_owned(), json!(n))).collect::<serde_json::Map<String, Value>>(),
            "refused_total": gauges.http_refused.iter().map(|(_, n)| n).sum::<u64>(),
        },
        "round": round,
        "best": best,
        "totals": {
            "accounts": view.accounts.len(),
            "machines": view.machines.len(),
            "active_machines": view.machines.iter().filter(|m| m.active).count(),
            "farm_capacity_tib": farm_capacity_tib,
            "submissions": view.submissions,
            "rejected": f.rejected,
            "failed_verification": f.dropped_for(DropReason::FailedVerification),
            "untracked_accounts": view.untracked_accounts,
            "untracked_machines": view.untracked_machines,
            "filter_capped": gauges.filter_capped,
            "rounds_24h": seen,
        },
        "accounts": view.accounts.iter().map(|k| key_json(k, "account", "machines", seen)).collect::<Vec<_>>(),
        "machines": view.machines.iter().map(|k| key_json(k, "machine", "accounts", seen)).collect::<Vec<_>>(),
        "rounds": view.rounds.iter().map(round_json).collect::<Vec<_>>(),
        "alerts": alerts,
    })
}

fn key_json(k: &KeyRow, name_field: &str, links_field: &str, rounds_seen: u64) -> Value {
    let share = if rounds_seen == 0 {
        0.0
    } else {
        (k.rounds_24h as f64 / rounds_seen as f64).min(1.0)
    };
    let mut links: Vec<&str> = k.links.iter().map(|l| &**l).collect();
    links.sort_unstable();
    let mut object = Map::new();
    object.insert(name_field.into(), json!(&*k.name));
    object.insert("submissions".into(), json!(k.submissions));
    object.insert(
        "best_raw_quality".into(),
        json!(k.best.map(|b| b.raw_quality)),
    );
    object.insert("best_poc_time".into(), json!(k.best.map(|b| b.poc_time)));
    object.insert("capacity_tib".into(), json!(k.capacity_tib));
    object.insert("rounds_24h".into(), json!(k.rounds_24h));
    object.insert("round_share_24h".into(), json!(share));
    object.insert("last_seen_ms".into(), json!(k.last_seen_ms));
    object.insert("active".into(), json!(k.active));
    object.insert("rejected".into(), json!(k.rejected));
    object.insert(links_field.into(), json!(links));
    Value::Object(object)
}

fn round_json(r: &RoundRow) -> Value {
    json!({
        "height": r.info.height,
        "block_hash": r.info.block_hash,
        "base_target": r.info.base_target,
        "started_ms": r.info.first_seen_ms,
        "best_raw_quality": r.best.as_ref().map(|b| b.raw_quality),
        "best_poc_time": r.best.as_ref().map(|b| b.poc_time),
        "best_account": r.best.as_ref().map(|b| &*b.account),
        "best_machine": r.best.as_ref().map(|b| &*b.machine),
        "accepted": r.accepted,
    })
}
