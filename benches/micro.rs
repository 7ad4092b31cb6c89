//! Micro benchmarks of the per-submission hot path: time bending, the best-so-far filter,
//! parameter validation, the JSON-RPC bodies of both methods read and answered, and
//! (for scale) the cost of recomputing a nonce's quality with pocx_hashlib at compression
//! levels 1 to 4. Off that path, for scale too: a `/history` answer of a week, and the alerts
//! thread's hourly work for one finished round of a farm of 1,000 machines and 1,000 accounts.
//!
//! `cargo bench --bench micro`; the whole run is kept to a couple of minutes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use std::sync::Arc;

use pocx_aggregator::alerts::board::FinishedRound;
use pocx_aggregator::alerts::{Alert, AlertKind, AlertState};
use pocx_aggregator::config::SubmissionMode;
use pocx_aggregator::events::{HourlyRecord, RoundInfo, SubjectKind};
use pocx_aggregator::filter::{Filter, DEFAULT_MAX_KEYS_PER_ROUND};
use pocx_aggregator::history::hourly::SubmissionCounts;
use pocx_aggregator::history::{self, HistoryBook, Hourly, KEPT_HOURS, MS_PER_HOUR};
use pocx_aggregator::rpc::{answer_body, Params, RawJson};
use pocx_aggregator::submission::{validate, SubmitParams};
use pocx_aggregator::timebend::{poc_time, TimeBender};
use serde_json::json;

const BASE_TARGET: u64 = 36_650_387_592;
const RAW_QUALITY: u64 = 2_387_302_541_580_475;
const BLOCK_HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/// Accounts already known in the round when the measured submission arrives.
const FARM_ACCOUNTS: u32 = 10_000;

fn account(n: u32) -> String {
    format!("{n:040x}")
}

fn time_bending(c: &mut Criterion) {
    let mut group = c.benchmark_group("timebend");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    let bender = TimeBender::new(120).unwrap();
    group.bench_function("poc_time_cached_bender", |b| {
        b.iter(|| bender.poc_time(black_box(RAW_QUALITY), black_box(BASE_TARGET)))
    });
    group.bench_function("poc_time_free_fn", |b| {
        b.iter(|| {
            poc_time(
                black_box(RAW_QUALITY),
                black_box(BASE_TARGET),
                black_box(120),
            )
        })
    });
    group.bench_function("scale_q_uncached", |b| {
        b.iter(|| TimeBender::new(black_box(120)))
    });
    group.finish();
}

fn farm_filter() -> Filter {
    let mut filter = Filter::new(SubmissionMode::Pool, DEFAULT_MAX_KEYS_PER_ROUND);
    filter.start_round(&RoundInfo {
        height: 1,
        generation_signature: "ab".repeat(32),
        block_hash: BLOCK_HASH.into(),
        base_target: BASE_TARGET,
        first_seen_ms: 0,
    });
    for n in 0..FARM_ACCOUNTS {
        filter.offer(1, BLOCK_HASH, &account(n), 1_000_000);
    }
    filter
}

fn filter_offer(c: &mut Criterion) {
    let mut group = c.benchmark_group("filter");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    let known = account(FARM_ACCOUNTS / 2);

    let mut filter = farm_filter();
    group.bench_function("offer_not_better", |b| {
        b.iter(|| filter.offer(1, BLOCK_HASH, black_box(&known), black_box(2_000_000)))
    });

    let mut filter = farm_filter();
    let mut next_best = 999_999u64;
    group.bench_function("offer_improves", |b| {
        b.iter(|| {
            next_best = next_best.wrapping_sub(1);
            filter.offer(1, BLOCK_HASH, black_box(&known), black_box(next_best))
        })
    });

    let filter = farm_filter();
    group.bench_function("still_worth_forwarding", |b| {
        b.iter(|| filter.still_worth_forwarding(1, BLOCK_HASH, black_box(&known), 1_000_000))
    });
    group.finish();
}

/// A valid `submit_nonce` params object, as a miner sends it.
fn submission_params() -> serde_json::Value {
    json!({
        "block_hash": BLOCK_HASH,
        "height": 123_456,
        "generation_signature": "ab".repeat(32),
        "base_target": BASE_TARGET,
        "account_id": "11".repeat(20),
        "seed": "5a".repeat(32),
        "nonce": 3052,
        "compression": 1,
        "raw_quality": RAW_QUALITY,
    })
}

fn submit_params(c: &mut Criterion) {
    let mut group = c.benchmark_group("submission");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    let params = submission_params().to_string();
    group.bench_function("read_and_validate", |b| {
        b.iter(|| {
            let read: Params<SubmitParams> = serde_json::from_str(black_box(&params)).ok()?;
            validate(read.named()).ok()
        })
    });
    group.finish();
}

/// Body in, answer bytes out, for both methods, without the server around it.
fn jsonrpc_bodies(c: &mut Criterion) {
    let mut group = c.benchmark_group("jsonrpc");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    let mining_info = RawJson::from_value(&json!({
        "height": 123_456,
        "base_target": BASE_TARGET,
        "generation_signature": "ab".repeat(32),
        "block_hash": BLOCK_HASH,
        "target_quality": u64::MAX,
    }));
    let gmi = br#"{"jsonrpc":"2.0","method":"get_mining_info","params":{},"id":1}"#;
    group.bench_function("get_mining_info", |b| {
        b.iter(|| answer_body::<SubmitParams>(black_box(gmi), &mut |_| Ok(mining_info.clone())))
    });
    let submit = json!({
        "jsonrpc": "2.0",
        "method": "submit_nonce",
        "params": submission_params(),
        "id": 1,
    })
    .to_string();
    let answer =
        |quality: u64| RawJson::from_unsigned_fields(&[("poc_time", 17), ("raw_quality", quality)]);
    group.bench_function("submit_nonce", |b| {
        b.iter(|| {
            answer_body::<SubmitParams>(black_box(submit.as_bytes()), &mut |call| {
                validate(call.params.named())
                    .map(|s| answer(s.raw_quality))
                    .map_err(|e| pocx_aggregator::rpc::RpcError::invalid_params(e.to_string()))
            })
        })
    });
    group.finish();
}

fn quality_verification(c: &mut Criterion) {
    let mut group = c.benchmark_group("pocx_hashlib_quality");
    // One call takes a sizeable fraction of a second: a few flat samples are enough.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(100));
    let payload = [0x11u8; 20];
    let seed = [0x5au8; 32];
    let generation_signature = [0u8; 32];
    for compression in 1..=4u8 {
        // Ten calls of about 0.15 s, doubling per level, must fit the measurement window.
        group.measurement_time(Duration::from_millis(2_000 << (compression - 1)));
        group.bench_function(format!("compression_{compression}"), |b| {
            b.iter(|| {
                pocx_hashlib::calculate_quality_from_height(
                    black_box(&payload),
                    black_box(&seed),
                    black_box(3052),
                    compression,
                    0,
                    &generation_signature,
                )
            })
        });
    }
    group.finish();
}

/// Subjects of the hourly bench: machines, and as many accounts.
const HISTORY_SUBJECTS: u32 = 1_000;

fn hourly_history(c: &mut Criterion) {
    let mut group = c.benchmark_group("history");
    let book = HistoryBook::new();
    let now = 1_800_000_000_000u64;
    let hour = history::hour_of(now);
    for back in 0..=KEPT_HOURS {
        book.add(&HourlyRecord {
            kind: SubjectKind::Machine,
            subject: Arc::from("rig-0001"),
            hour_ms: hour - back * MS_PER_HOUR,
            rounds: 30,
            best_sum: 30.0 * RAW_QUALITY as f64,
            submissions: 400,
        });
    }
    for n in 0..20u64 {
        book.add_alert(&Alert {
            kind: AlertKind::MachineSilent,
            subject: Arc::from("rig-0001"),
            state: AlertState::Firing,
            since_ms: now - n * 6 * MS_PER_HOUR,
            message: "rig-0001 has not polled for 120 s".to_owned(),
        });
    }
    group.bench_function("answer_7d_169_hours_20_alerts", |b| {
        b.iter(|| history::answer(&book, black_box("subject=rig-0001&range=7d"), now))
    });
    let name = |prefix: &str, n: u32| -> Arc<str> { Arc::from(format!("{prefix}-{n:04}")) };
    let machines: Vec<Arc<str>> = (0..HISTORY_SUBJECTS).map(|n| name("rig", n)).collect();
    let accounts: Vec<Arc<str>> = (0..HISTORY_SUBJECTS)
        .map(|n| Arc::from(account(n)))
        .collect();
    let round = FinishedRound {
        height: 1,
        farm_best: Some(RAW_QUALITY),
        machines: machines
            .iter()
            .map(|m| (Arc::clone(m), Some(RAW_QUALITY)))
            .collect(),
        accounts: accounts
            .iter()
            .map(|a| (Arc::clone(a), Some(RAW_QUALITY)))
            .collect(),
    };
    let mut total = 0u64;
    let mut counts = move || {
        total += 1;
        SubmissionCounts {
            farm: total * 2 * u64::from(HISTORY_SUBJECTS),
            machines: machines.iter().map(|m| (Arc::clone(m), total)).collect(),
            accounts: accounts.iter().map(|a| (Arc::clone(a), total)).collect(),
        }
    };
    let mut hourly = Hourly::new(&counts());
    group.bench_function("round_count_and_take_1000_machines_1000_accounts", |b| {
        b.iter(|| {
            hourly.round_finished(black_box(&round));
            hourly.count(&counts());
            hourly.take(hour).len()
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    hourly_history,
    time_bending,
    filter_offer,
    submit_params,
    jsonrpc_bodies,
    quality_verification
);
criterion_main!(benches);
