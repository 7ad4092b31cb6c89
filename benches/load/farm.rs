//! The realistic-farm scenario: M simulated miners (`farm_client`), each on its own keep-alive
//! connection, polling once per second and submitting a few improving qualities per round for
//! one of the farm's accounts, against the server in a child process. Measures what the farm
//! costs the server: its CPU time per second of wall time (all of its threads, read from
//! `/proc/<pid>/stat`), how that splits over its kinds of thread, what it writes to storage per
//! second, and its memory.
//!
//! Polling, the bulk of a farm's load, is at the real rate. Rounds are shortened to `ROUND` so
//! submissions happen inside a short run: three per miner per 10 s round is twelve times a real
//! farm's rate (a few per 120 s round). The miners share `FARM_ACCOUNTS` accounts, so the
//! filter has something to do; `POCX_LOAD_FARM_ACCOUNTS=<M>` gives every miner its own
//! account, the worst case, where every submission goes upstream.

use std::io;
use std::thread;
use std::time::{Duration, Instant};

use pocx_aggregator::sim::{SimUpstream, SimUpstreamConfig};

use super::farm_client::{start_miners, Crowd};
use super::procfs;
use super::servers::ServerProcess;
use super::wire::post;
use super::{env_number, wait_until_serving, GET_MINING_INFO};

const ROUND: Duration = Duration::from_secs(10);
/// Time for every miner to connect and settle before measuring.
const WARMUP: Duration = Duration::from_secs(3);
const MEASURE: Duration = Duration::from_secs(5);
/// Accounts the farm's miners mine for, unless `POCX_LOAD_FARM_ACCOUNTS` says otherwise.
pub const FARM_ACCOUNTS: usize = 10;

pub struct FarmReport {
    pub server: &'static str,
    pub miners: usize,
    pub polls_per_second: f64,
    pub submits_per_second: f64,
    /// Submissions the upstream received per second: what the filter let through.
    pub forwards_per_second: f64,
    /// Server CPU time per wall second, as a fraction of one core.
    pub cpu_share: f64,
    /// The CPU share split by kind of thread (threads alive through the whole window).
    pub cpu_split: Vec<(&'static str, f64)>,
    /// Bytes per second the server caused to be written to storage (its history).
    pub storage_bytes_per_second: f64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub threads: u64,
    pub errors: u64,
    pub reconnects: u64,
    pub max_lag: Duration,
    pub max_latency: Duration,
}

/// The farm against the aggregator, or (`bare`) against a bare tiny_http server answering
/// every request with the upstream's mining info: the floor of what this design costs.
pub fn run_farm(miners: usize, workers: usize, bare: bool) -> io::Result<FarmReport> {
    let upstream = SimUpstream::start(SimUpstreamConfig {
        round_interval: Some(ROUND),
        ..SimUpstreamConfig::default()
    })?;
    let server = if bare {
        let (_, body) = post(upstream.addr(), GET_MINING_INFO)?;
        ServerProcess::bare(&body, workers)?
    } else {
        ServerProcess::aggregator(&upstream.url(), workers)?
    };
    wait_until_serving(server.addr)?;
    // A longer window on request, e.g. to attach a profiler.
    let measure = measure_window();
    let from = Instant::now() + WARMUP;
    let until = from + measure;
    let crowd = start_miners(
        server.addr,
        Crowd {
            miners,
            accounts: farm_accounts(),
            from,
            until,
        },
    )?;
    sleep_until(from);
    let forwards_before = upstream.submit_calls();
    let cpu_before = server.cpu_time();
    let threads_before = procfs::thread_cpu(server.pid());
    let written_before = procfs::storage_writes(server.pid());
    sleep_until(until);
    let cpu_after = server.cpu_time();
    let threads_after = procfs::thread_cpu(server.pid());
    let written_after = procfs::storage_writes(server.pid());
    let forwards = upstream.submit_calls().saturating_sub(forwards_before);
    let (rss_kib, hwm_kib, threads) = server.memory();
    let counts = crowd.finish();
    server.stop();
    drop(upstream);
    let counts = counts?;
    let seconds = measure.as_secs_f64();
    Ok(FarmReport {
        server: if bare { "bare" } else { "aggregator" },
        miners,
        polls_per_second: counts.polls as f64 / seconds,
        submits_per_second: counts.submits as f64 / seconds,
        forwards_per_second: forwards as f64 / seconds,
        cpu_share: cpu_after.saturating_sub(cpu_before).as_secs_f64() / seconds,
        cpu_split: procfs::cpu_by_kind(&threads_before, &threads_after)
            .into_iter()
            .map(|(kind, ran)| (kind, ran.as_secs_f64() / seconds))
            .collect(),
        storage_bytes_per_second: match (written_before, written_after) {
            (Some(before), Some(after)) => after.saturating_sub(before) as f64 / seconds,
            _ => 0.0,
        },
        rss_kib,
        hwm_kib,
        threads,
        errors: counts.errors,
        reconnects: counts.reconnects,
        max_lag: counts.max_lag,
        max_latency: counts.max_latency,
    })
}

/// How long a farm is measured (`POCX_LOAD_FARM_SECS`, else [`MEASURE`]).
pub fn measure_window() -> Duration {
    env_number("POCX_LOAD_FARM_SECS").map_or(MEASURE, Duration::from_secs)
}

/// Accounts the miners share (`POCX_LOAD_FARM_ACCOUNTS`, else [`FARM_ACCOUNTS`]).
pub fn farm_accounts() -> usize {
    env_number("POCX_LOAD_FARM_ACCOUNTS")
        .filter(|&n| n > 0)
        .unwrap_or(FARM_ACCOUNTS)
}

fn sleep_until(when: Instant) {
    let now = Instant::now();
    if when > now {
        thread::sleep(when - now);
    }
}
