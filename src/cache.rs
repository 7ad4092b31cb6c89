//! The cache-refresh thread: keeps the served mining info fresh.
//!
//! Polls the active upstream endpoint every `refresh_interval`, or at once when a worker asks (a
//! miner submitted for a height above ours), and the other endpoints less often (see
//! [`Upstreams`], which also decides when to fail over). Each poll of the active endpoint has two
//! parts: the call and what it says about the upstream (`fetch`: latency, reachability, the
//! upstream status in [`Stats`]), and, when it answered, publishing its info (`publish`): [`Rounds::advance`] serves it and moves
//! the round window in one step, and a new round goes to statistics and the store.
//!
//! In: refresh requests (crossbeam channel, each with a reply channel). Out: the served round
//! in [`Rounds`], round rows to the store, round changes and the upstream status to [`Stats`].
//! Miners are never blocked on upstream: they read what was published. It does not interpret
//! the round beyond the four fields the aggregator needs; every other field is passed through
//! untouched.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::events::{millis, now_ms, short_hash};
use crate::filter::Rounds;
use crate::stats::{Stats, UpstreamStatus};
use crate::store::{StoreRow, StoreSender};
use crate::upstream::{MiningInfo, UpstreamError, Upstreams};

/// Forced refreshes closer together than this are merged into one upstream call.
const MIN_FORCED_GAP: Duration = Duration::from_millis(200);

/// Where a poll's results go.
pub struct Published {
    pub rounds: Arc<Rounds>,
    pub stats: Arc<Stats>,
    pub store: StoreSender,
}

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
    /// Starts polling `upstreams`; `upstream` names them (name and masked URL) in the status.
    pub fn start(
        upstreams: Arc<Upstreams>,
        upstream: UpstreamStatus,
        interval: Duration,
        published: Published,
    ) -> std::io::Result<CacheRefresher> {
        let (requests, request_rx) = bounded(256);
        let (stop, stop_rx) = bounded(1);
        let mut poller = Poller {
            upstreams,
            polls: 0,
            status: upstream,
            published,
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
    upstreams: Arc<Upstreams>,
    /// Polls of the active endpoint so far (the others are polled at some of them).
    polls: u64,
    /// The upstream as the last poll left it.
    status: UpstreamStatus,
    published: Published,
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
                    let started = Instant::now();
                    // A worker waits for this poll with a miner's submission in hand: it is
                    // answered as soon as the active endpoint has, not after the others.
                    if self.poll_active() {
                        answer(&mut waiting);
                    }
                    self.poll_others();
                    answer(&mut waiting);
                    last_poll = Instant::now();
                    next_poll = next_poll_after(started, last_poll, interval);
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

    /// One call to the active endpoint and, when it answered, its info published; when due,
    /// a call to each of the others. Returns when it started. Only the active endpoint's
    /// answers are published: endpoints are never mixed in one round.
    fn poll(&mut self) -> Instant {
        let started = Instant::now();
        self.poll_active();
        self.poll_others();
        started
    }

    /// The active endpoint's call, its info published when it answered (then true).
    fn poll_active(&mut self) -> bool {
        let Some(info) = self.fetch() else {
            return false;
        };
        self.publish(&info);
        true
    }

    /// When due, a call to each of the other endpoints; then whether another one takes over.
    fn poll_others(&mut self) {
        self.polls = self.polls.wrapping_add(1);
        for index in self.upstreams.others_due(self.polls) {
            let _ = self.upstreams.poll(index, now_ms());
        }
        if self.upstreams.decide(now_ms()).is_some() {
            // The new active endpoint's round is served at once, not a poll later.
            self.poll_active();
        }
    }

    /// Calls the upstream and records what the call says about it.
    fn fetch(&mut self) -> Option<MiningInfo> {
        let active = self.upstreams.active();
        let (result, took) = self.upstreams.poll(active, now_ms());
        if let Some(label) = self.upstreams.label(active) {
            self.status.url = label;
        }
        let stats = &self.published.stats;
        stats.record_upstream_call("get_mining_info", took);
        let info = match result {
            Ok(info) => {
                self.status.reachable = true;
                self.status.last_success_ms = Some(now_ms());
                self.status.latency_ms = Some(millis(took));
                if self.in_outage {
                    self.in_outage = false;
                    log::info!("upstream reachable again");
                }
                Some(info)
            }
            Err(error) => {
                self.status.reachable = false;
                self.status.refresh_errors = self.status.refresh_errors.saturating_add(1);
                self.status.last_error = Some(error.to_string());
                if !self.in_outage {
                    self.in_outage = true;
                    self.log_outage(&error);
                }
                None
            }
        };
        stats.set_upstream(self.status.clone());
        info
    }

    /// Serves the info; a new round goes to statistics and the store.
    fn publish(&self, info: &MiningInfo) {
        let Some(round) = self.published.rounds.advance(info) else {
            return;
        };
        log::info!(
            "new round: height {} base target {} block hash {}",
            round.height,
            round.base_target,
            short_hash(&round.block_hash)
        );
        self.published.stats.on_new_round(&round);
        self.published.store.send(StoreRow::Round(round));
    }

    fn log_outage(&self, error: &UpstreamError) {
        let serving = match self.published.rounds.served() {
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

/// Tells the workers waiting for a poll that it is done.
fn answer(waiting: &mut Vec<Sender<()>>) {
    for reply in waiting.drain(..) {
        let _ = reply.try_send(());
    }
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
