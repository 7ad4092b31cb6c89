//! Integration tests: stats (capacity, activity, rounds window, restore, /metrics text).

pub mod prometheus;

use std::sync::Arc;

use crate::support::TempDir;
use pocx_aggregator::config::SubmissionMode;
use pocx_aggregator::events::{DropReason, Outcome, OutcomeRecord, RoundInfo, SubmissionRecord};
use pocx_aggregator::stats::{Gauges, Stats};
use pocx_aggregator::store::{load_history, StoreRow, StoreWriter};
use serde_json::Value;

const T0: u64 = 1_700_000_000_000;
const MINUTE: u64 = 60_000;
const TIB_QUALITY: u64 = 1 << 42;

fn stats() -> Stats {
    Stats::new(SubmissionMode::Pool, 120, T0, false)
}

fn round(height: u64, base_target: u64) -> RoundInfo {
    RoundInfo {
        height,
        generation_signature: format!("{height:064x}"),
        block_hash: format!("{:064x}", height + 7),
        base_target,
        first_seen_ms: T0 + height * 2 * MINUTE,
    }
}

fn sub(height: u64, account: &str, machine: &str, raw: u64) -> SubmissionRecord {
    SubmissionRecord {
        account_id: account.into(),
        machine: Arc::from(machine),
        height,
        raw_quality: raw,
        poc_time: raw % 1_000,
        received_ms: T0 + height * 2 * MINUTE + 1_000,
        forwarded: true,
    }
}

fn outcome(height: u64, account: &str, raw: u64, outcome: Outcome, attempts: u32) -> OutcomeRecord {
    OutcomeRecord {
        account_id: account.into(),
        machine: Arc::from("rig-1"),
        height,
        raw_quality: raw,
        outcome,
        attempts,
        latency_ms: 20,
        at_ms: T0 + height * 2 * MINUTE + 2_000,
    }
}

fn find<'a>(list: &'a Value, field: &str, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v[field] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

#[test]
fn capacity_is_estimated_from_the_last_thirty_round_bests() {
    let s = stats();
    for h in 1..=40 {
        s.on_new_round(&round(h, 36_650_387_592));
        // Ten early rounds far better than the rest, then 30 rounds worth exactly 1 TiB.
        let raw = if h <= 10 {
            TIB_QUALITY / 1_000
        } else {
            TIB_QUALITY
        };
        s.record_submission(&sub(h, "acc-a", "rig-1", raw));
        s.record_submission(&sub(h, "acc-a", "rig-1", raw + 5)); // not better: ignored
        s.record_submission(&sub(h, "acc-b", "rig-2", TIB_QUALITY / 4));
    }
    let snap = s.snapshot_json(T0 + 81 * MINUTE, &Gauges::default());
    let a = find(&snap["accounts"], "account", "acc-a");
    assert_eq!(a["capacity_tib"], 1.0);
    assert_eq!(a["submissions"], 80);
    assert_eq!(a["best_raw_quality"], TIB_QUALITY);
    assert_eq!(
        find(&snap["accounts"], "account", "acc-b")["capacity_tib"],
        4.0
    );
    assert_eq!(
        find(&snap["machines"], "machine", "rig-2")["capacity_tib"],
        4.0
    );
    assert_eq!(snap["totals"]["farm_capacity_tib"], 5.0);
    // Genesis base target for T = 120 over the round's base target: 1 TiB.
    let network = snap["round"]["network_capacity_tib"].as_f64().unwrap();
    assert!((network - 1.0).abs() < 1e-9, "{network}");
}

#[test]
fn machines_are_active_for_five_minutes_after_their_last_submission() {
    let s = stats();
    s.on_new_round(&round(1, 1_000));
    s.record_submission(&sub(1, "acc", "rig-1", 50));
    let seen = T0 + 2 * MINUTE + 1_000;
    let at = |offset: u64| s.snapshot_json(seen + offset, &Gauges::default());
    let snap = at(4 * MINUTE);
    assert_eq!(find(&snap["machines"], "machine", "rig-1")["active"], true);
    assert_eq!(snap["totals"]["active_machines"], 1);
    assert_eq!(
        find(&snap["machines"], "machine", "rig-1")["last_seen_ms"],
        seen
    );
    let snap = at(6 * MINUTE);
    assert_eq!(find(&snap["machines"], "machine", "rig-1")["active"], false);
    assert_eq!(find(&snap["accounts"], "account", "acc")["active"], false);
    assert_eq!(snap["totals"]["active_machines"], 0);
    assert_eq!(snap["totals"]["machines"], 1);
}

#[test]
fn rounds_list_is_newest_first_with_the_farm_best_and_its_acceptance() {
    let s = stats();
    for h in 1..=35 {
        s.on_new_round(&round(h, 1_000));
        s.on_new_round(&round(h, 1_000)); // the cache repeats itself
        s.record_submission(&sub(h, "acc-a", "rig-1", 1_000 + h));
        s.record_submission(&sub(h, "acc-b", "rig-2", 900 + h));
        // Only the second account's submission (the farm best) is accepted in even rounds;
        // the first account's, not the best, in odd ones.
        let (account, raw) = if h % 2 == 0 {
            ("acc-b", 900 + h)
        } else {
            ("acc-a", 1_000 + h)
        };
        let accepted = Outcome::Accepted {
            upstream_poc_time: Some(1),
        };
        s.record_outcome(&outcome(h, account, raw, accepted, 1));
    }
    let snap = s.snapshot_json(T0 + 71 * MINUTE, &Gauges::default());
    let rounds = snap["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 30);
    let heights: Vec<u64> = rounds
        .iter()
        .map(|r| r["height"].as_u64().unwrap())
        .collect();
    assert_eq!(heights, (6..=35).rev().collect::<Vec<_>>());
    for r in rounds {
        let h = r["height"].as_u64().unwrap();
        assert_eq!(r["best_raw_quality"], 900 + h);
        assert_eq!(r["best_account"], "acc-b");
        assert_eq!(r["best_machine"], "rig-2");
        assert_eq!(r["accepted"], h % 2 == 0, "round {h}");
    }
    assert_eq!(snap["round"]["height"], 35);
    assert_eq!(snap["best"]["account"], "acc-b");
    assert_eq!(snap["best"]["raw_quality"], 935);
    assert_eq!(snap["best"]["poc_time"], 935);
    assert_eq!(snap["upstream"]["forwards"]["accepted"], 35);
}

#[test]
fn round_share_counts_the_rounds_a_key_submitted_in() {
    let s = stats();
    for h in 1..=10 {
        s.on_new_round(&round(h, 1_000));
        if h % 2 == 0 {
            s.record_submission(&sub(h, "acc", "rig-1", 10));
            s.record_submission(&sub(h, "acc", "rig-2", 20));
        }
    }
    let snap = s.snapshot_json(T0 + 21 * MINUTE, &Gauges::default());
    let acc = find(&snap["accounts"], "account", "acc");
    assert_eq!(acc["rounds_24h"], 5);
    assert_eq!(acc["round_share_24h"], 0.5);
    let mut machines: Vec<&str> = acc["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    machines.sort();
    assert_eq!(machines, ["rig-1", "rig-2"]);
    assert_eq!(
        find(&snap["machines"], "machine", "rig-2")["accounts"][0],
        "acc"
    );
}

#[test]
fn rejections_and_failed_verification_count_against_account_and_machine() {
    let s = stats();
    s.on_new_round(&round(1, 1_000));
    s.record_submission(&sub(1, "acc", "rig-1", 10));
    let rejected = Outcome::Rejected {
        code: -32001,
        reason: "bad".into(),
    };
    s.record_outcome(&outcome(1, "acc", 10, rejected, 3));
    s.record_outcome(&outcome(
        1,
        "acc",
        10,
        Outcome::Dropped(DropReason::FailedVerification),
        0,
    ));
    s.record_outcome(&outcome(
        1,
        "acc",
        10,
        Outcome::Dropped(DropReason::Superseded),
        0,
    ));
    let snap = s.snapshot_json(T0, &Gauges::default());
    assert_eq!(find(&snap["accounts"], "account", "acc")["rejected"], 2);
    assert_eq!(find(&snap["machines"], "machine", "rig-1")["rejected"], 2);
    let forwards = &snap["upstream"]["forwards"];
    assert_eq!(forwards["rejected"], 1);
    assert_eq!(forwards["dropped"], 2);
    assert_eq!(forwards["retries"], 2);
    assert_eq!(forwards["rejected_by_code"]["-32001"], 1);
    assert_eq!(forwards["dropped_by_reason"]["superseded"], 1);
    assert_eq!(snap["totals"]["failed_verification"], 1);
}

#[test]
fn tracked_keys_are_capped_and_idle_ones_forgotten_after_a_day() {
    let s = stats().with_key_cap(2);
    s.on_new_round(&round(1, 1_000));
    for account in ["a", "b", "c", "d"] {
        s.record_submission(&sub(1, account, account, 10));
    }
    let snap = s.snapshot_json(T0, &Gauges::default());
    assert_eq!(snap["totals"]["accounts"], 2);
    assert_eq!(snap["totals"]["untracked_accounts"], 2);
    let mut later = round(2, 1_000);
    later.first_seen_ms = T0 + 25 * 60 * MINUTE;
    s.on_new_round(&later);
    let snap = s.snapshot_json(later.first_seen_ms, &Gauges::default());
    assert_eq!(snap["totals"]["accounts"], 0);
    assert_eq!(snap["totals"]["machines"], 0);
}

#[test]
fn stats_restored_from_the_store_match_the_live_ones() {
    let dir = TempDir::new("stats-restore");
    let db = dir.join("history.db");
    let live = stats();
    let writer = StoreWriter::spawn(&db, 0, 10_000).unwrap();
    for h in 1..=35 {
        let r = round(h, 1_000 + h);
        live.on_new_round(&r);
        writer.send(StoreRow::Round(r));
        for (account, machine, raw) in [
            ("a1", "rig-1", 500 + h),
            ("a1", "rig-2", 400 + h),
            ("a2", "rig-1", 450),
        ] {
            if h % 3 == 0 && account == "a2" {
                continue;
            }
            let rec = sub(h, account, machine, raw);
            live.record_submission(&rec);
            writer.send(StoreRow::Submission(rec));
        }
        let o = outcome(
            h,
            "a1",
            400 + h,
            Outcome::Accepted {
                upstream_poc_time: None,
            },
            2,
        );
        live.record_outcome(&o);
        writer.send(StoreRow::Outcome(o));
    }
    let o = outcome(
        35,
        "a2",
        450,
        Outcome::Rejected {
            code: -8,
            reason: "no".into(),
        },
        1,
    );
    live.record_outcome(&o);
    writer.send(StoreRow::Outcome(o));
    writer.shutdown();

    let now = T0 + 71 * MINUTE;
    let restored = stats();
    restored.restore(&load_history(&db, now - 24 * 60 * MINUTE).unwrap());
    // History is not the live round: none until the upstream names it, here the same round 35
    // (a restart within the round), which takes its restored best along.
    let waiting = restored.snapshot_json(now, &Gauges::default());
    assert!(waiting["round"].is_null() && waiting["best"].is_null());
    restored.on_new_round(&round(35, 1_035));
    let (a, b) = (
        live.snapshot_json(now, &Gauges::default()),
        restored.snapshot_json(now, &Gauges::default()),
    );
    for field in ["accounts", "machines", "rounds", "round", "best", "totals"] {
        assert_eq!(a[field], b[field], "{field}");
    }
    assert_eq!(a["upstream"]["forwards"], b["upstream"]["forwards"]);
}
