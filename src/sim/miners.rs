//! `SimMiners`: simulated PoCX miners polling an aggregator (or any PoCX upstream) and
//! submitting nonces, the way real miners do. The handle, settings and figures live here;
//! `driver` runs the miners.
//!
//! Each miner has its own keep-alive connection (a ureq Agent with the real miner's 5 s
//! timeout), polls `get_mining_info` every `poll_interval`, and on a new round (block hash
//! change) sends `submits_per_round` `submit_nonce` calls spread over a simulated plot scan
//! of ten poll intervals. Thousands of miners do not get a thread each: a small pool of
//! threads each drives a share of the miners from a timetable, one blocking call at a time.
//! When the target is slow, calls start late; the lag is measured (`max_lag`) rather than
//! hidden. Outputs are counters only. `shutdown` (or drop) stops and joins every thread; a
//! call in flight finishes first (at most the 5 s timeout).
//!
//! Deliberately not done: plot files, nonce verification (qualities are drawn from each
//! account's simulated capacity) or retrying failed submissions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};

use super::driver::{Counters, Driver, Miner};
use super::farm::accounts_for;
use super::rng::SimRng;
use crate::upstream::QuickResolver;

/// A miner's request timeout, as in the real miner.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// One thread drives up to this many miners (more threads only up to `MAX_THREADS`).
const MINERS_PER_THREAD: usize = 200;
const MAX_THREADS: usize = 32;
/// Per-connection buffers: answers are small, and thousands of miners add up.
const CONNECTION_BUFFER_BYTES: usize = 16 * 1024;

/// Settings of a crowd of simulated miners.
#[derive(Debug, Clone)]
pub struct SimMinersConfig {
    /// e.g. `http://127.0.0.1:8080/`
    pub aggregator_url: String,
    pub miners: usize,
    pub accounts_per_miner: usize,
    pub poll_interval: Duration,
    /// Submissions per miner per round, shared between its accounts.
    pub submits_per_round: usize,
    /// Send `X-Miner: <this>-N` (N counts the miners from 0); `None` sends no name.
    pub machine_names: Option<String>,
    pub seed: u64,
}

impl Default for SimMinersConfig {
    fn default() -> SimMinersConfig {
        SimMinersConfig {
            aggregator_url: String::new(),
            miners: 4,
            accounts_per_miner: 2,
            poll_interval: Duration::from_secs(1),
            submits_per_round: 4,
            machine_names: Some("sim-miner".into()),
            seed: 1,
        }
    }
}

/// What the simulated miners saw so far. `ok + errors == requests`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MinerStats {
    pub requests: u64,
    /// Answered with a JSON-RPC result.
    pub ok: u64,
    /// Transport failures, HTTP errors, unreadable answers and JSON-RPC errors.
    pub errors: u64,
    /// The part of `errors` that were JSON-RPC errors (rejections).
    pub rejected: u64,
    pub mining_info_requests: u64,
    pub submissions_sent: u64,
    pub submissions_ok: u64,
    /// New rounds noticed, summed over miners.
    pub rounds_seen: u64,
    pub max_latency: Duration,
    pub mean_latency: Duration,
    /// Longest delay between a call's planned and actual start (the drivers fell behind).
    pub max_lag: Duration,
}

/// Running simulated miners. Dropping it stops and joins their threads.
pub struct SimMiners {
    stop: Option<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl SimMiners {
    pub fn start(cfg: SimMinersConfig) -> SimMiners {
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = bounded::<()>(0);
        let thread_count = cfg.miners.div_ceil(MINERS_PER_THREAD).clamp(1, MAX_THREADS);
        let thread_count = thread_count.min(cfg.miners);
        // Miners reach their aggregator directly, never through a proxy from the environment.
        let agent_config = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .proxy(None)
            .user_agent("PoCX-Miner/sim")
            .input_buffer_size(CONNECTION_BUFFER_BYTES)
            .output_buffer_size(CONNECTION_BUFFER_BYTES)
            .max_idle_connections(1)
            .max_idle_connections_per_host(1)
            .build();
        let started = Instant::now();
        let spacing = cfg.poll_interval / u32::try_from(cfg.miners.max(1)).unwrap_or(u32::MAX);
        let mut drivers: Vec<Vec<Miner>> = (0..thread_count).map(|_| Vec::new()).collect();
        for index in 0..cfg.miners {
            // Staggered first polls: miners do not start in lockstep.
            let first_poll = started
                .checked_add(spacing.saturating_mul(u32::try_from(index).unwrap_or(u32::MAX)))
                .unwrap_or(started);
            let miner = Miner::new(
                cfg.machine_names
                    .as_ref()
                    .map(|prefix| format!("{prefix}-{index}")),
                QuickResolver::agent(agent_config.clone()),
                accounts_for(cfg.seed, index, cfg.accounts_per_miner),
                SimRng::for_stream(cfg.seed, u64::MAX - index as u64),
                first_poll,
            );
            if let Some(driver) = drivers.get_mut(index % thread_count.max(1)) {
                driver.push(miner);
            }
        }
        let mut threads = Vec::with_capacity(thread_count);
        for (number, miners) in drivers.into_iter().enumerate() {
            let driver = Driver {
                url: cfg.aggregator_url.clone(),
                poll_interval: cfg.poll_interval,
                submits_per_round: cfg.submits_per_round,
                counters: Arc::clone(&counters),
                first_error_logged: false,
            };
            let stopped = stopped.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("sim-miners-{number}"))
                .spawn(move || driver.run(miners, &stopped));
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(err) => log::error!("simulated miners: could not start a thread: {err}"),
            }
        }
        log::info!(
            "simulated miners: {} miners with {} accounts each on {} threads polling {}",
            cfg.miners,
            cfg.accounts_per_miner,
            threads.len(),
            cfg.aggregator_url
        );
        SimMiners {
            stop: Some(stop),
            threads,
            counters,
        }
    }

    pub fn stats(&self) -> MinerStats {
        let c = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let requests = load(&c.requests);
        MinerStats {
            requests,
            ok: load(&c.ok),
            errors: load(&c.errors),
            rejected: load(&c.rejected),
            mining_info_requests: load(&c.mining_info_requests),
            submissions_sent: load(&c.submissions_sent),
            submissions_ok: load(&c.submissions_ok),
            rounds_seen: load(&c.rounds_seen),
            max_latency: Duration::from_micros(load(&c.max_latency_us)),
            mean_latency: Duration::from_micros(
                load(&c.latency_total_us).checked_div(requests).unwrap_or(0),
            ),
            max_lag: Duration::from_micros(load(&c.max_lag_us)),
        }
    }

    /// Stops the miners (a call in flight finishes first) and joins their threads.
    pub fn shutdown(self) {}

    /// Like `shutdown`, then the final figures (no call is half counted any more).
    pub fn finish(mut self) -> MinerStats {
        self.stop_all();
        self.stats()
    }

    fn stop_all(&mut self) {
        // Dropping the sender disconnects every driver's stop channel.
        self.stop.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for SimMiners {
    fn drop(&mut self) {
        self.stop_all();
    }
}
