//! The mining-info cache and the thread that keeps it fresh.
//!
//! Owns the current round as the upstream last described it, pre-serialised so every
//! `get_mining_info` answer is a copy of one shared body, and the last three rounds served (the
//! window submissions are checked against). The refresh thread polls upstream every
//! `refresh_interval`, or at once when a worker asks (a miner submitted for a height above ours).
//!
//! In: refresh requests (crossbeam channel, each with a reply channel). Out: a round-change event
//! to every subscriber (filter, statistics, store) and an upstream status after every poll.
//! Miners are never blocked on upstream: readers only take a short read lock on the snapshot.
//! It does not interpret the round beyond the four fields the aggregator needs; every other field
//! is passed through untouched.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::RwLock;

use crate::events::{now_ms, RoundInfo};
use crate::rpc::RawJson;
use crate::upstream::{MiningInfo, UpstreamClient, UpstreamError};

/// Rounds a submission may belong to.
pub const ROUND_WINDOW: usize = 3;

/// Forced refreshes closer together than this are merged into one upstream call.
const MIN_FORCED_GAP: Duration = Duration::from_millis(200);

/// What miners are served: the round and its ready-made `result` body.
#[derive(Debug)]
pub struct Snapshot {
    pub round: RoundInfo,
    pub body: RawJson,
}

/// Upstream health as the refresh thread last saw it.
#[derive(Debug, Clone, Default)]
pub struct UpstreamHealth {
    pub reachable: bool,
    pub last_success_ms: Option<u64>,
    pub latency_ms: Option<u64>,
    pub refresh_errors: u64,
    pub last_error: Option<String>,
}

/// Shared, read-mostly cache state.
#[derive(Default)]
pub struct MiningInfoCache {
    current: RwLock<Option<Arc<Snapshot>>>,
    recent: RwLock<VecDeque<RoundInfo>>,
    health: RwLock<UpstreamHealth>,
    upstream_calls: AtomicU64,
}

impl MiningInfoCache {
    pub fn new() -> MiningInfoCache {
        MiningInfoCache::default()
    }

    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current.read().clone()
    }

    /// What `read` takes from the served round with this height and block hash, when it is
    /// one of the last three (read in place: a submission needs two facts, not a copy).
    pub fn read_served_round<T>(
        &self,
        height: u64,
        block_hash: &str,
        read: impl FnOnce(&RoundInfo) -> T,
    ) -> Option<T> {
        self.recent
            .read()
            .iter()
            .find(|r| r.height == height && r.block_hash.eq_ignore_ascii_case(block_hash))
            .map(read)
    }

    pub fn health(&self) -> UpstreamHealth {
        self.health.read().clone()
    }

    /// Upstream `get_mining_info` calls made so far.
    pub fn upstream_calls(&self) -> u64 {
        self.upstream_calls.load(Ordering::Relaxed)
    }

    /// Milliseconds since the served info was last confirmed by upstream.
    pub fn age_ms(&self, now: u64) -> Option<u64> {
        self.health
            .read()
            .last_success_ms
            .map(|t| now.saturating_sub(t))
    }

    /// Installs fresh info; returns the new round when it differs from the current one.
    fn install(&self, info: &MiningInfo) -> Option<RoundInfo> {
        let changed = match self.current.read().as_deref() {
            Some(old) => {
                old.round.height != info.height
                    || old.round.block_hash != info.block_hash
                    || old.round.generation_signature != info.generation_signature
            }
            None => true,
        };
        let round = if changed {
            RoundInfo {
                height: info.height,
                generation_signature: info.generation_signature.clone(),
                block_hash: info.block_hash.clone(),
                base_target: info.base_target,
                first_seen_ms: now_ms(),
            }
        } else {
            // Same round; the base target may still have been corrected upstream, and the
            // round's poc_time must follow what miners are served.
            let mut round = match self.current.read().as_deref() {
                Some(old) => old.round.clone(),
                None => return None,
            };
            if round.base_target != info.base_target {
                round.base_target = info.base_target;
                if let Some(recent) = self.recent.write().front_mut() {
                    recent.base_target = info.base_target;
                }
            }
            round
        };
        let snapshot = Arc::new(Snapshot {
            round: round.clone(),
            body: RawJson::from_value(&info.raw),
        });
        *self.current.write() = Some(snapshot);
        if !changed {
            return None;
        }
        let mut recent = self.recent.write();
        recent.push_front(round.clone());
        recent.truncate(ROUND_WINDOW);
        Some(round)
    }
}

/// Called on every new round, on the refresh thread; keep it short.
pub type RoundListener = Box<dyn Fn(&RoundInfo) + Send>;
/// Called after every poll with the latest health and the call's duration.
pub type HealthListener = Box<dyn Fn(&UpstreamHealth, Duration) + Send>;

/// Workers that may wait for a forced refresh at once; the rest answer without waiting, so
/// miners naming future heights cannot tie up the worker pool.
const MAX_REFRESH_WAITERS: usize = 1;

/// A handle workers use to ask for an immediate refresh.
#[derive(Clone)]
pub struct RefreshHandle {
    requests: Sender<Sender<()>>,
    waiting: Arc<AtomicUsize>,
}

impl RefreshHandle {
    /// Asks for a refresh now and waits until it is done, at most `wait`. False when it did not
    /// wait (another worker already is) or the refresh did not finish in time.
    pub fn refresh_now(&self, wait: Duration) -> bool {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_REFRESH_WAITERS {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        let (reply, done) = bounded(1);
        let refreshed = self.requests.try_send(reply).is_ok() && done.recv_timeout(wait).is_ok();
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        refreshed
    }
}

pub struct CacheRefresher {
    requests: Sender<Sender<()>>,
    waiting: Arc<AtomicUsize>,
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl CacheRefresher {
    pub fn start(
        cache: Arc<MiningInfoCache>,
        client: Arc<UpstreamClient>,
        interval: Duration,
        on_round: Vec<RoundListener>,
        on_health: HealthListener,
    ) -> std::io::Result<CacheRefresher> {
        let (requests, request_rx) = bounded(256);
        let (stop, stop_rx) = bounded(1);
        let mut poller = Poller {
            cache,
            client,
            on_round,
            on_health,
            in_outage: false,
        };
        let thread = thread::Builder::new()
            .name("cache-refresh".into())
            .spawn(move || poller.run(interval, request_rx, stop_rx))?;
        Ok(CacheRefresher {
            requests,
            waiting: Arc::new(AtomicUsize::new(0)),
            stop,
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> RefreshHandle {
        RefreshHandle {
            requests: self.requests.clone(),
            waiting: self.waiting.clone(),
        }
    }

    /// Stops polling; waits for a call in progress (bounded by the upstream timeout).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.try_send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for CacheRefresher {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

struct Poller {
    cache: Arc<MiningInfoCache>,
    client: Arc<UpstreamClient>,
    on_round: Vec<RoundListener>,
    on_health: HealthListener,
    in_outage: bool,
}

impl Poller {
    fn run(&mut self, interval: Duration, requests: Receiver<Sender<()>>, stop: Receiver<()>) {
        let mut next_poll = Instant::now();
        let mut last_poll = Instant::now() - MIN_FORCED_GAP;
        loop {
            let wait = next_poll.saturating_duration_since(Instant::now());
            crossbeam_channel::select! {
                recv(stop) -> _ => return,
                recv(requests) -> request => {
                    let mut waiting: Vec<Sender<()>> = request.into_iter().collect();
                    waiting.extend(requests.try_iter());
                    let since = last_poll.elapsed();
                    if since < MIN_FORCED_GAP {
                        thread::sleep(MIN_FORCED_GAP - since);
                    }
                    let started = self.poll();
                    last_poll = Instant::now();
                    next_poll = next_poll_after(started, last_poll, interval);
                    for reply in waiting {
                        let _ = reply.try_send(());
                    }
                }
                default(wait) => {
                    let started = self.poll();
                    last_poll = Instant::now();
                    next_poll = next_poll_after(started, last_poll, interval);
                }
            }
            if stop.try_recv().is_ok() {
                return;
            }
        }
    }

    /// One upstream call; returns when it started.
    fn poll(&mut self) -> Instant {
        let started = Instant::now();
        self.cache.upstream_calls.fetch_add(1, Ordering::Relaxed);
        let result = self.client.get_mining_info();
        let took = started.elapsed();
        match result {
            Ok(info) => self.on_success(&info, took),
            Err(e) => self.on_failure(&e),
        }
        let health = self.cache.health();
        (self.on_health)(&health, took);
        started
    }

    fn on_success(&mut self, info: &MiningInfo, took: Duration) {
        {
            let mut health = self.cache.health.write();
            health.reachable = true;
            health.last_success_ms = Some(now_ms());
            health.latency_ms = Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
        }
        if self.in_outage {
            self.in_outage = false;
            log::info!("upstream reachable again");
        }
        if let Some(round) = self.cache.install(info) {
            log::info!(
                "new round: height {} base target {} block hash {}",
                round.height,
                round.base_target,
                short(&round.block_hash)
            );
            for listener in &self.on_round {
                listener(&round);
            }
        }
    }

    fn on_failure(&mut self, error: &UpstreamError) {
        let first_of_outage = !self.in_outage;
        self.in_outage = true;
        {
            let mut health = self.cache.health.write();
            health.reachable = false;
            health.refresh_errors = health.refresh_errors.saturating_add(1);
            health.last_error = Some(error.to_string());
        }
        if first_of_outage {
            let serving = match self.cache.snapshot() {
                Some(s) => format!("still serving height {}", s.round.height),
                None => "no mining info yet: miners get \"upstream unavailable\"".to_owned(),
            };
            match error {
                UpstreamError::Unauthorized { .. } => {
                    log::error!("{error}: check the upstream credentials; {serving}")
                }
                UpstreamError::Tls { .. } => log::error!("{error}; {serving}"),
                _ => log::warn!("{error}; {serving}"),
            }
        }
    }
}

/// Polls are spaced from the start of one to the start of the next, so a new block waits at
/// most one interval plus one call for the next poll, not one interval plus two calls. A call
/// slower than the interval is followed by the next after a short gap, never back to back.
fn next_poll_after(started: Instant, finished: Instant, interval: Duration) -> Instant {
    let from_start = started + interval;
    if from_start > finished {
        from_start
    } else {
        finished + MIN_FORCED_GAP.min(interval)
    }
}

fn short(hex: &str) -> &str {
    hex.get(..16).unwrap_or(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_spaced_from_start_to_start() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let quick = start + Duration::from_millis(30);
        assert_eq!(next_poll_after(start, quick, second), start + second);
        let slow = start + Duration::from_secs(5);
        assert_eq!(next_poll_after(start, slow, second), slow + MIN_FORCED_GAP);
        let fast_interval = Duration::from_millis(50);
        assert_eq!(
            next_poll_after(start, slow, fast_interval),
            slow + fast_interval
        );
    }
}
