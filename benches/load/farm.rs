//! The realistic-farm scenario: M simulated miners, each on its own keep-alive connection,
//! polling once per second and submitting a few times per round, against the aggregator in a
//! child process. Measures what the farm costs the aggregator: its CPU time per second of wall
//! time (all of its threads, read from `/proc/<pid>/stat`) and its memory.
//!
//! Polling, the bulk of a farm's load, is at the real rate. Rounds are shortened to `ROUND`
//! so submissions happen inside a short run, with one submission per miner per round: a third
//! more often than a real farm (a few per 120 s round).

use std::io;
use std::thread;
use std::time::{Duration, Instant};

use pocx_aggregator::sim::{
    MinerStats, SimMiners, SimMinersConfig, SimUpstream, SimUpstreamConfig,
};

use super::servers::ServerProcess;
use super::wire::post;
use super::{wait_until_serving, GET_MINING_INFO};

const ROUND: Duration = Duration::from_secs(10);
/// Time for every miner to connect and settle before measuring.
const WARMUP: Duration = Duration::from_secs(3);
const MEASURE: Duration = Duration::from_secs(5);

pub struct FarmReport {
    pub server: &'static str,
    pub miners: usize,
    pub polls_per_second: f64,
    pub submits_per_second: f64,
    /// Aggregator CPU time per wall second, as a fraction of one core.
    pub cpu_share: f64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub threads: u64,
    pub errors: u64,
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
    let crowd = SimMiners::start(SimMinersConfig {
        aggregator_url: format!("http://{}/", server.addr),
        miners,
        accounts_per_miner: 1,
        poll_interval: Duration::from_secs(1),
        submits_per_round: 1,
        machine_names: true,
        seed: 7,
    });
    thread::sleep(WARMUP);
    let (cpu_before, stats_before, started) = (server.cpu_time(), crowd.stats(), Instant::now());
    // A longer window on request, e.g. to attach a profiler.
    let measure = std::env::var("POCX_LOAD_FARM_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(MEASURE, Duration::from_secs);
    thread::sleep(measure);
    let (cpu_after, stats_after, wall) = (server.cpu_time(), crowd.stats(), started.elapsed());
    let (rss_kib, hwm_kib, threads) = server.memory();
    let end = crowd.finish();
    server.stop();
    drop(upstream);
    let seconds = wall.as_secs_f64();
    let delta = |f: fn(&MinerStats) -> u64| f(&stats_after).saturating_sub(f(&stats_before));
    Ok(FarmReport {
        server: if bare { "bare" } else { "aggregator" },
        miners,
        polls_per_second: delta(|s| s.mining_info_requests) as f64 / seconds,
        submits_per_second: delta(|s| s.submissions_sent) as f64 / seconds,
        cpu_share: cpu_after.saturating_sub(cpu_before).as_secs_f64() / seconds,
        rss_kib,
        hwm_kib,
        threads,
        errors: delta(|s| s.errors),
        max_lag: end.max_lag,
        max_latency: end.max_latency,
    })
}
