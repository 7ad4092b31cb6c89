//! Wiring: builds every stage from a [`Config`], hands each the shared state and channels it
//! works on, and stops them in order.
//!
//! Data flow: miner server → handlers → (verification stage) → forwarder → upstream; the cache
//! refresh thread advances the served round and the filter's window (`Rounds`) and feeds new
//! rounds to statistics and store; the forwarder and verifier report outcomes to statistics
//! and store; both ports report from one `Observability`. Start-up fails (with the reason) when a port cannot be
//! bound or the database cannot be opened; it does not need the upstream to be up.
//! Shutdown order follows the data: stop taking requests, stop polling, drain verification and
//! forwarding, then flush the store last so every outcome is written.

mod gate;

use gate::{Gate, TimedUpstream};

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::alerts::notify::Notifier;
use crate::alerts::AlertStage;
use crate::cache::{CacheRefresher, Published};
use crate::config::Config;
use crate::dashboard;
use crate::events::{now_ms, OutcomeRecord, OutcomeSink};
use crate::filter::{Rounds, DEFAULT_MAX_KEYS_PER_ROUND};
use crate::forwarder::{Forwarder, ForwarderConfig};
use crate::handlers::{self, Context};
use crate::history::{self, HistoryBook, HistoryFeed};
use crate::limits::{ConnectionLimiter, RateLimiter};
use crate::observability::{HttpShared, Observability};
use crate::server::{HttpServer, ServerConfig};
use crate::stats::{Gauges, Stats, UpstreamStatus};
use crate::store::{
    self, StoreError, StoreOptions, StoreRow, StoreSender, StoreWriter, DEFAULT_QUEUE_CAPACITY,
};
use crate::timebend::TimeBender;
use crate::upstream::Upstreams;
use crate::verify::VerifyStage;

/// Claims waiting for verification.
const VERIFY_QUEUE: usize = 256;

#[derive(Debug)]
pub enum AppError {
    Listen(io::Error),
    Store(StoreError),
    Thread(io::Error),
    BlockTime,
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Listen(_) => write!(f, "cannot start the server"),
            AppError::Store(_) => write!(f, "cannot open the database"),
            AppError::Thread(_) => write!(f, "cannot start a thread"),
            AppError::BlockTime => write!(f, "block time must be greater than 0"),
        }
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AppError::Listen(e) | AppError::Thread(e) => Some(e),
            AppError::Store(e) => Some(e),
            AppError::BlockTime => None,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        AppError::Store(e)
    }
}

/// A running aggregator.
pub struct App {
    miner_server: Option<HttpServer>,
    dashboard_server: Option<HttpServer>,
    refresher: Option<CacheRefresher>,
    verifier: Option<VerifyStage>,
    forwarder: Option<Forwarder>,
    store: Option<StoreWriter>,
    alerts: Option<AlertStage>,
    notifier: Option<Notifier>,
    observe: Arc<Observability>,
}

impl App {
    /// Starts every stage. `simulation` only labels statistics and the dashboard.
    pub fn start(config: &Config, simulation: bool) -> Result<App, AppError> {
        let started = Instant::now();
        // The config guarantees a block time above zero; refuse rather than assume.
        let bender = TimeBender::new(config.block_time_secs).ok_or(AppError::BlockTime)?;
        let stats = Arc::new(Stats::new(
            config.upstream.submission_mode,
            config.block_time_secs,
            now_ms(),
            simulation,
        ));
        let book = Arc::new(HistoryBook::new());
        let writer = open_store(config, &stats, &book)?;
        let store = writer.sender();
        // Before the miner port opens: the counts restored from the store are the baseline.
        let history_feed = HistoryFeed::new(book.clone(), store.clone(), &stats, now_ms());
        let rounds = Arc::new(Rounds::new(
            config.upstream.submission_mode,
            DEFAULT_MAX_KEYS_PER_ROUND,
        ));
        let client = Arc::new(Upstreams::new(
            &config.upstream,
            config.cache.pool_timeout,
            config.cache.refresh_interval,
            config.upstream.forward_connections,
        ));
        let gate = Arc::new(Gate {
            rounds: rounds.clone(),
            stats: stats.clone(),
            store: store.clone(),
        });
        let sink = outcome_sink(stats.clone(), store.clone());
        let forwarder = Forwarder::spawn(
            ForwarderConfig::from_settings(&config.upstream),
            Arc::new(TimedUpstream {
                client: client.clone(),
                stats: stats.clone(),
            }),
            gate.clone(),
            sink.clone(),
        )
        .map_err(AppError::Thread)?;
        let verifier = config
            .upstream
            .verify_submissions
            .then(|| VerifyStage::spawn(1, VERIFY_QUEUE, gate, forwarder.clone(), sink))
            .transpose()
            .map_err(AppError::Thread)?;
        let refresher = CacheRefresher::start(
            client.clone(),
            UpstreamStatus {
                name: config.upstream.name.clone(),
                url: crate::config::mask_url(&config.upstream.url),
                ..UpstreamStatus::default()
            },
            config.cache.refresh_interval,
            Published {
                rounds: rounds.clone(),
                stats: stats.clone(),
                store: store.clone(),
            },
        )
        .map_err(AppError::Thread)?;
        let observe = Arc::new(Observability {
            stats: stats.clone(),
            history: book,
            rounds: rounds.clone(),
            forwarder: forwarder.clone(),
            verifier: verifier.clone(),
            store: store.clone(),
            upstreams: client,
            http: HttpShared::default(),
            mining_info_ttl: config.cache.mining_info_ttl,
        });
        let miner_server_config = server_config(
            "miner",
            config.listen_address,
            config.server.workers,
            config,
            &observe.http,
        );
        let context = Context {
            rounds,
            refresh: refresher.handle(),
            forwarder: forwarder.clone(),
            verifier: verifier.clone(),
            stats: stats.clone(),
            store,
            bender,
            auth: config.server.auth.clone(),
            rate_limiter: config
                .server
                .max_requests_per_second_per_ip
                .map(RateLimiter::new),
            connection_limiter: config
                .server
                .max_connections_per_ip
                .map(|max| ConnectionLimiter::new(max, miner_server_config.io_timeout)),
            stats_on_miner_port: config.server.stats_on_miner_port,
            observe: observe.clone(),
        };
        let miner_server = HttpServer::start(
            miner_server_config,
            Arc::new(move |request| handlers::handle(&context, request)),
        )
        .map_err(AppError::Listen)?;
        let notifier = config
            .alerts
            .webhook
            .clone()
            .map(|webhook| Notifier::spawn(webhook, config.alerts.repeat))
            .transpose()
            .map_err(AppError::Thread)?;
        let alerts = AlertStage::spawn(
            config.alerts.clone(),
            stats.clone(),
            observe.upstreams.clone(),
            notifier.as_ref().map(Notifier::sender),
            history_feed,
        )
        .map_err(AppError::Thread)?;
        let dashboard_server = if config.dashboard.enabled {
            Some(start_dashboard(config, &observe)?)
        } else {
            None
        };
        log::info!(
            "serving miners on {} ({} workers){}; started in {} ms",
            miner_server.local_addr(),
            config.server.workers,
            dashboard_server
                .as_ref()
                .map(|d| format!(", dashboard on http://{}", d.local_addr()))
                .unwrap_or_default(),
            started.elapsed().as_millis()
        );
        Ok(App {
            miner_server: Some(miner_server),
            dashboard_server,
            refresher: Some(refresher),
            verifier,
            forwarder: Some(forwarder),
            store: Some(writer),
            alerts: Some(alerts),
            notifier,
            observe,
        })
    }

    pub fn miner_addr(&self) -> Option<SocketAddr> {
        self.miner_server.as_ref().map(HttpServer::local_addr)
    }

    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        self.dashboard_server.as_ref().map(HttpServer::local_addr)
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.observe.stats
    }

    pub fn gauges(&self) -> Gauges {
        self.observe.gauges()
    }

    /// Stops every stage in data-flow order and joins its threads.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        let started = Instant::now();
        if let Some(server) = self.miner_server.take() {
            server.shutdown();
        }
        if let Some(server) = self.dashboard_server.take() {
            server.shutdown();
        }
        if let Some(refresher) = self.refresher.take() {
            refresher.shutdown();
        }
        if let Some(alerts) = self.alerts.take() {
            alerts.shutdown();
        }
        if let Some(mut notifier) = self.notifier.take() {
            notifier.shutdown();
        }
        if let Some(verifier) = self.verifier.take() {
            verifier.shutdown();
        }
        if let Some(forwarder) = self.forwarder.take() {
            forwarder.shutdown();
        }
        if let Some(store) = self.store.take() {
            store.shutdown();
        }
        log::info!("stopped in {} ms", started.elapsed().as_millis());
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if self.miner_server.is_some() {
            self.stop_all();
        }
    }
}

fn open_store(
    config: &Config,
    stats: &Arc<Stats>,
    book: &HistoryBook,
) -> Result<StoreWriter, AppError> {
    let path: &PathBuf = &config.database.path;
    let options = StoreOptions {
        retention_days: config.database.retention_days,
        capacity: DEFAULT_QUEUE_CAPACITY,
        batch_window: config.database.batch_window,
        ..StoreOptions::default()
    };
    let writer = StoreWriter::spawn_with(path, options)?;
    let since = now_ms().saturating_sub(24 * 3600 * 1000);
    match store::load_history(path, since) {
        Ok(history) => stats.restore(&history),
        Err(e) => log::warn!(
            "statistics start empty: cannot read history from {}: {e}",
            path.display()
        ),
    }
    let week = history::KEPT_HOURS * history::MS_PER_HOUR;
    match store::load_hourly(path, history::hour_of(now_ms()).saturating_sub(week)) {
        Ok(hourly) => {
            hourly.hours.iter().for_each(|record| book.add(record));
            hourly.alerts.iter().for_each(|alert| book.add_alert(alert));
        }
        Err(e) => log::warn!(
            "history charts start empty: cannot read them from {}: {e}",
            path.display()
        ),
    }
    Ok(writer)
}

fn outcome_sink(stats: Arc<Stats>, store: StoreSender) -> OutcomeSink {
    Arc::new(move |record: OutcomeRecord| {
        stats.record_outcome(&record);
        store.send(StoreRow::Outcome(record));
    })
}

/// One port's server settings: the head limits of `server.*` and the shared counts.
fn server_config(
    name: &'static str,
    addr: SocketAddr,
    workers: usize,
    config: &Config,
    http: &HttpShared,
) -> ServerConfig {
    let mut server = ServerConfig::new(name, addr, workers);
    server.head_limits = config.server.head_limits;
    server.trusted_proxies = config.server.trusted_proxies.clone();
    server.refusals = http.refusals.clone();
    server.counters = http.counters.clone();
    server
}

fn start_dashboard(config: &Config, observe: &Arc<Observability>) -> Result<HttpServer, AppError> {
    let observe = observe.clone();
    let auth = config.dashboard.auth.clone();
    HttpServer::start(
        server_config(
            "dashboard",
            config.dashboard.listen_address,
            2,
            config,
            &observe.http,
        ),
        Arc::new(move |request| dashboard::handle(&*observe, auth.as_ref(), request)),
    )
    .map_err(AppError::Listen)
}
