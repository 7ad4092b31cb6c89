//! The fault soak: miners submit through the aggregator for about forty seconds while the
//! upstream goes through every failure the simulation offers, one per round, and comes back.
//!
//! Each round starts with a working upstream, then fails one way (connections refused, calls
//! hanging past the timeout, HTTP 500, an HTML page, a cut-off body, -32006 "busy"), then
//! recovers. A last pair of rounds has only `submit_nonce` failing while the upstream moves on to
//! a new round: what was still waiting for the old round cannot be taken any more and must come
//! back as a definitive rejection, never as a duplicate.
//!
//! Verdicts: every account's best of every round the upstream could take was accepted exactly
//! once, nothing was accepted twice, every miner request was answered in time, `/stats` agrees
//! with what the upstream recorded, and memory and threads come back to about where they were.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::json;

use pocx_aggregator::protocol::is_transient_code;
use pocx_aggregator::sim::{Behaviour, RecordedAnswer, SimRound, SimUpstreamConfig};

use super::soak_miners::{MinerReport, SoakMiners, Submitted, MINER_TIMEOUT};
use super::{census_growth, run_in_child, settled_census, total, wait_for_census, ProcStatus};
use super::{in_child, is_child_for, lingering_allowance, own_thread_name, proc_status};
use crate::support::{account, Farm};

const CHILD_NAME: &str = "fault-soak";

const MINERS: u32 = 6;
const ACCOUNTS_PER_MINER: u32 = 3;
/// Working upstream at the start of each round, then the failure, then the recovery. These
/// are phases of the soak's timetable, not waits for something to happen: the miners keep
/// polling and submitting through each of them, which is what is soaked.
const LEAD: Duration = Duration::from_millis(1000);
const OUTAGE: Duration = Duration::from_millis(2500);
const RECOVERY: Duration = Duration::from_millis(1000);
/// Many short steps: the retry budget (6.4 s plus the failed calls) outlasts every outage.
const RETRY_STEP: Duration = Duration::from_millis(200);
const RETRY_STEPS: usize = 32;

/// The account of the submissions the soak makes itself during every outage: the only ones for
/// it in their round, so each is its round's best for the account, made while nothing could
/// reach the upstream.
const PROBE_ACCOUNT: u32 = 900;
/// The account of one submission for the round the upstream leaves behind while submissions
/// fail.
const STRANDED_ACCOUNT: u32 = 999;

/// Resident memory the soak may leave behind (allocator caches, the upstream's history).
const RSS_SLACK_KIB: u64 = 32 * 1024;

fn faults() -> [Behaviour; 6] {
    [
        Behaviour::Refuse,
        Behaviour::Hang,
        Behaviour::Http500,
        Behaviour::Html,
        Behaviour::Garbage,
        Behaviour::RpcError(-32006),
    ]
}

#[test]
fn fault_soak_delivers_every_best_exactly_once_and_returns_to_baseline() {
    if in_child() {
        return;
    }
    run_in_child(
        "faults::soak::fault_soak_child",
        CHILD_NAME,
        Duration::from_secs(180),
    );
}

/// Not a test on its own: the soak's body, run in a child process by the test above.
#[test]
fn fault_soak_child() {
    if !is_child_for(CHILD_NAME) {
        return;
    }
    let started = Instant::now();
    let farm = Farm::start_with(
        SimUpstreamConfig {
            hang_limit: Duration::from_millis(1500),
            ..SimUpstreamConfig::default()
        },
        |config| {
            config.cache.refresh_interval = Duration::from_millis(100);
            config.cache.pool_timeout = Duration::from_secs(1);
            config.upstream.retry_backoff = vec![RETRY_STEP; RETRY_STEPS];
        },
    );
    farm.wait_for_round();
    for _ in 0..5 {
        farm.rpc("get_mining_info", json!({}));
    }
    let baseline_threads = settled_census();
    let baseline = proc_status();

    let miners = SoakMiners::start(&farm.url, MINERS, ACCOUNTS_PER_MINER);
    let mut takeable: Vec<SimRound> = Vec::new();
    let mut probes: Vec<Probe> = Vec::new();
    for fault in faults() {
        let round = next_round(&farm, &miners);
        std::thread::sleep(LEAD);
        farm.upstream.set_behaviour(fault.clone());
        std::thread::sleep(OUTAGE / 2);
        let probe = Probe::submit(&farm, &round, PROBE_ACCOUNT);
        std::thread::sleep(OUTAGE / 2);
        probes.push(probe.recovering());
        farm.upstream.set_behaviour(Behaviour::Normal);
        takeable.push(round);
        std::thread::sleep(RECOVERY);
        println!(
            "{fault:?} round done at {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    // Only submit_nonce fails, and the upstream moves on meanwhile.
    let left_behind = next_round(&farm, &miners);
    std::thread::sleep(LEAD);
    farm.upstream.set_submit_behaviour(Some(Behaviour::Http500));
    std::thread::sleep(OUTAGE / 2);
    // A certain improvement for the round about to be left behind.
    let stranded = Probe::submit(&farm, &left_behind, STRANDED_ACCOUNT);
    miners.pause();
    farm.upstream.new_round();
    let round = farm.wait_for_round();
    miners.resume();
    let probe = Probe::submit(&farm, &round, PROBE_ACCOUNT);
    std::thread::sleep(OUTAGE / 2);
    probes.push(probe.recovering());
    farm.upstream.set_submit_behaviour(None);
    takeable.push(round);
    std::thread::sleep(RECOVERY);

    miners.pause();
    farm.settle();
    let reports = miners.finish();
    let soak_time = started.elapsed();

    let slowest = reports.iter().map(|r| r.slowest).max().unwrap_or_default();
    let polls: u64 = reports.iter().map(|r| r.polls).sum();
    let failures: Vec<&String> = reports.iter().flat_map(|r| &r.failures).collect();
    assert!(failures.is_empty(), "miners were let down: {failures:?}");
    assert!(slowest < MINER_TIMEOUT, "slowest answer {slowest:?}");
    let mut submitted: Vec<&Submitted> = reports.iter().flat_map(|r| &r.submitted).collect();
    submitted.extend(probes.iter().map(|p| &p.submitted));
    submitted.push(&stranded.submitted);

    let delivered = check_deliveries(&farm, &takeable, &submitted);
    check_probes(&farm, &probes, &stranded);
    let figures = check_stats(&farm, &reports, probes.len() + 1, &delivered);

    let allowance = lingering_allowance(own_thread_name());
    let (threads_now, excess) =
        wait_for_census(&baseline_threads, &allowance, Duration::from_secs(12));
    let after = proc_status();
    println!(
        "fault soak: {:.1} s; {MINERS} miners, {polls} polls, {} submissions ({} forwarded), \
         slowest answer {} ms; upstream: {} accepted, {} rejected as stale, {} failed attempts; \
         {} dropped as superseded, {} retries",
        soak_time.as_secs_f64(),
        submitted.len(),
        figures.forwarded,
        slowest.as_millis(),
        delivered.accepted,
        delivered.definitive,
        delivered.failed_attempts,
        figures.superseded,
        figures.retries,
    );
    print_resources(baseline, after, total(&threads_now));
    println!(
        "threads above the start: {}",
        census_growth(&baseline_threads, &threads_now)
    );
    assert!(
        excess.is_empty(),
        "threads left over: {excess:?}; now {threads_now:?}, at the start {baseline_threads:?}"
    );
    assert!(
        after.rss_kib <= baseline.rss_kib + RSS_SLACK_KIB,
        "resident memory {} KiB, {} KiB at the start",
        after.rss_kib,
        baseline.rss_kib
    );
}

fn print_resources(baseline: ProcStatus, after: ProcStatus, threads_now: u64) {
    println!(
        "resources: threads {} at the start, {threads_now} after; VmRSS {} KiB at the start, \
         {} KiB after",
        baseline.threads, baseline.rss_kib, after.rss_kib
    );
}

/// With the miners paused and everything forwarded settled, starts the upstream's next round
/// and resumes the miners once the aggregator serves it.
fn next_round(farm: &Farm, miners: &SoakMiners) -> SimRound {
    miners.pause();
    farm.settle();
    farm.upstream.new_round();
    let round = farm.wait_for_round();
    miners.resume();
    round
}

/// A submission the soak made itself during an outage, and when the upstream came back.
struct Probe {
    submitted: Submitted,
    recovered_at: Option<Instant>,
}

impl Probe {
    fn submit(farm: &Farm, round: &SimRound, account_number: u32) -> Probe {
        let quality = 1_000 + round.height;
        let answer = farm.submit(round, &account(account_number), quality);
        let poc_time = answer["result"]["poc_time"].as_u64();
        assert!(poc_time.is_some(), "answer during the outage: {answer}");
        Probe {
            submitted: Submitted {
                height: round.height,
                block_hash: round.block_hash.clone(),
                account: account(account_number),
                quality,
                poc_time: poc_time.unwrap_or(0),
            },
            recovered_at: None,
        }
    }

    /// Called just before the upstream is told to work again.
    fn recovering(self) -> Probe {
        Probe {
            recovered_at: Some(Instant::now()),
            ..self
        }
    }
}

/// Each outage's probe reached the upstream after it recovered, accepted once, at its first
/// successful try; the stranded one came back refused as stale.
fn check_probes(farm: &Farm, probes: &[Probe], stranded: &Probe) {
    let records = farm.upstream.submissions();
    let of = |probe: &Probe| {
        records
            .iter()
            .filter(|r| {
                r.submission.as_ref().is_some_and(|s| {
                    s.height == probe.submitted.height && s.account_id == probe.submitted.account
                })
            })
            .collect::<Vec<_>>()
    };
    for probe in probes {
        let tries = of(probe);
        let last = tries.last().expect("the probe never reached the upstream");
        assert!(last.answer.is_accepted(), "{:?}", last.answer);
        assert!(tries[..tries.len() - 1]
            .iter()
            .all(|r| !r.answer.is_accepted()));
        let recovered_at = probe.recovered_at.expect("recovery time");
        assert!(
            last.received_at >= recovered_at,
            "accepted before the upstream recovered"
        );
    }
    let tries = of(stranded);
    let last = tries
        .last()
        .expect("the stranded submission never reached the upstream");
    assert_eq!(last.answer, RecordedAnswer::RpcError(-32002));
    assert!(tries.iter().all(|r| !r.answer.is_accepted()));
}

/// What the upstream recorded, summed up.
#[derive(Debug, Default)]
struct Delivered {
    accepted: u64,
    /// Definitive rejections (the stranded round's submissions).
    definitive: u64,
    failed_attempts: u64,
}

type Key = (u64, String, String);

/// Every accepted submission was answered with the poc_time the upstream gave it, none was
/// accepted twice, the only definitive refusals are for the round left behind, and every best of
/// a round the upstream could take was accepted exactly once.
fn check_deliveries(farm: &Farm, takeable: &[SimRound], submitted: &[&Submitted]) -> Delivered {
    let mut answered: HashMap<(Key, u64), u64> = HashMap::new();
    let mut best: BTreeMap<Key, u64> = BTreeMap::new();
    for s in submitted {
        let key = (s.height, s.block_hash.clone(), s.account.clone());
        answered.insert((key.clone(), s.quality), s.poc_time);
        let entry = best.entry(key).or_insert(u64::MAX);
        *entry = (*entry).min(s.quality);
    }
    let mut accepted: HashMap<(Key, u64), u64> = HashMap::new();
    let mut delivered = Delivered::default();
    for record in farm.upstream.submissions() {
        let s = record
            .submission
            .as_ref()
            .expect("well-formed submissions only");
        let key = (s.height, s.block_hash.clone(), s.account_id.clone());
        match record.answer {
            RecordedAnswer::Accepted { poc_time, .. } => {
                delivered.accepted += 1;
                *accepted.entry((key.clone(), s.raw_quality)).or_default() += 1;
                let told = answered.get(&(key, s.raw_quality));
                assert_eq!(told, Some(&poc_time), "accepted but never answered: {s:?}");
            }
            RecordedAnswer::RpcError(code) if !is_transient_code(code) => {
                assert_eq!(code, -32002, "{s:?}");
                let was_takeable = takeable.iter().any(|r| r.height == s.height);
                assert!(!was_takeable, "refused in a round it could take: {s:?}");
                delivered.definitive += 1;
            }
            _ => delivered.failed_attempts += 1,
        }
    }
    let twice: Vec<_> = accepted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "accepted more than once: {twice:?}");
    let mut checked = 0u64;
    for ((height, block_hash, account_id), quality) in &best {
        let is_takeable = takeable
            .iter()
            .any(|r| r.height == *height && r.block_hash == *block_hash);
        if !is_takeable {
            continue;
        }
        let key = (*height, block_hash.clone(), account_id.clone());
        let times = accepted.get(&(key, *quality)).copied().unwrap_or(0);
        assert_eq!(
            times, 1,
            "best {quality} of account {account_id} at height {height} accepted {times} times"
        );
        checked += 1;
    }
    // Every miner account and the probe, in every takeable round.
    let accounts = u64::from(MINERS * ACCOUNTS_PER_MINER) + 1;
    assert!(
        checked >= accounts * takeable.len() as u64,
        "only {checked} bests were checked"
    );
    println!(
        "{checked} (round, account) bests over {} takeable rounds each accepted exactly once",
        takeable.len()
    );
    delivered
}

/// Figures `/stats` gave, once checked.
struct StatsFigures {
    forwarded: u64,
    superseded: u64,
    retries: u64,
}

/// `/stats` against what happened.
/// `own` is how many submissions the soak made itself (each the first for its key: forwarded).
fn check_stats(
    farm: &Farm,
    reports: &[MinerReport],
    own: usize,
    delivered: &Delivered,
) -> StatsFigures {
    // Each miner owns its accounts, so its own order is the order the filter saw: a submission
    // is forwarded when it beats every earlier one for its round and account (no rejection
    // rolled a best back while its round was still being mined).
    let own = own as u64;
    let mut forwarded = own;
    for report in reports {
        let mut best: HashMap<Key, u64> = HashMap::new();
        for s in &report.submitted {
            let key = (s.height, s.block_hash.clone(), s.account.clone());
            let entry = best.entry(key).or_insert(u64::MAX);
            if s.quality < *entry {
                *entry = s.quality;
                forwarded += 1;
            }
        }
    }
    let submissions: u64 = reports
        .iter()
        .map(|r| r.submitted.len() as u64)
        .sum::<u64>()
        + own;
    let stats = farm.stats();
    let f = &stats["upstream"]["forwards"];
    let count = |v: &serde_json::Value| v.as_u64().unwrap();
    assert_eq!(
        count(&stats["totals"]["submissions"]),
        submissions,
        "{stats}"
    );
    assert_eq!(count(&f["accepted"]), delivered.accepted, "{f}");
    assert_eq!(count(&f["rejected"]), delivered.definitive, "{f}");
    assert_eq!(
        count(&f["rejected_by_code"]["-32002"]),
        delivered.definitive,
        "{f}"
    );
    let reasons = &f["dropped_by_reason"];
    for never in [
        "retries_exhausted",
        "queue_full",
        "shutdown",
        "round_expired",
    ] {
        assert_eq!(count(&reasons[never]), 0, "{never}: {f}");
    }
    assert_eq!(count(&f["dropped"]), count(&reasons["superseded"]), "{f}");
    let outcomes = count(&f["accepted"]) + count(&f["rejected"]) + count(&f["dropped"]);
    assert_eq!(
        outcomes, forwarded,
        "one outcome per forwarded submission: {f}"
    );
    assert!(
        count(&f["retries"]) > 0,
        "no retries in a soak full of faults: {f}"
    );
    assert_eq!(count(&stats["upstream"]["queue_depth"]), 0);
    StatsFigures {
        forwarded,
        superseded: count(&reasons["superseded"]),
        retries: count(&f["retries"]),
    }
}
