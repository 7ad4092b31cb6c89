//! Wiring: builds every stage from a [`Config`], connects their channels and callbacks, and
//! stops them in order.
//!
//! Data flow: miner server → handlers → (verification stage) → forwarder → upstream; the cache
//! refresh thread feeds rounds to the filter, statistics and store; the forwarder and verifier
//! report outcomes to statistics and store. Start-up fails (with the reason) when a port cannot be
//! bound or the database cannot be opened; it does not need the upstream to be up.
//! Shutdown order follows the data: stop taking requests, stop polling, drain verification and
//! forwarding, then flush the store last so every outcome is written.

mod gate;

use gate::{verified_recorder, FilterGate, TimedUpstream};

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::Mutex;

use crate::alerts::notify::Notifier;
use crate::alerts::AlertStage;
use crate::cache::{CacheRefresher, MiningInfoCache};
use crate::config::Config;
use crate::dashboard::{self, DashboardContext};
use crate::events::{now_ms, OutcomeRecord, OutcomeSink};
use crate::filter::{Filter, HeldBack, DEFAULT_MAX_KEYS_PER_ROUND};
use crate::forwarder::{Forwarder, ForwarderConfig};
use crate::handlers::{self, Context};
use crate::history::{self, HistoryBook, HistoryFeed};
use crate::limits::{ConnectionLimiter, RateLimiter};
use crate::server::{HttpServer, RefusalCounts, ServerConfig, ServerCounters};
use crate::stats::{Gauges, HttpCounts, Stats, UpstreamStatus};
use crate::store::{
    self, StoreError, StoreOptions, StoreRow, StoreSender, StoreWriter, DEFAULT_QUEUE_CAPACITY,
};
use crate::timebend::TimeBender;
use crate::upstream::UpstreamClient;
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
    stats: Arc<Stats>,
    cache: Arc<MiningInfoCache>,
    gauges: Arc<dyn Fn() -> Gauges + Send + Sync>,
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
        let store = Some(writer.sender());
        // Before the miner port opens: the counts restored from the store are the baseline.
        let history_feed = HistoryFeed::new(book.clone(), store.clone(), &stats, now_ms());
        let cache = Arc::new(MiningInfoCache::new());
        let filter = Arc::new(Mutex::new(Filter::new(
            config.upstream.submission_mode,
            DEFAULT_MAX_KEYS_PER_ROUND,
        )));
        let client = Arc::new(UpstreamClient::new(
            &config.upstream,
            config.cache.pool_timeout,
            config.upstream.forward_connections,
        ));
        let held = Arc::new(HeldBack::new(config.upstream.submission_mode));
        let gate = Arc::new(FilterGate {
            filter: filter.clone(),
            held: held.clone(),
            forwarder: OnceLock::new(),
            record_verified: verified_recorder(stats.clone(), store.clone()),
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
        // The gate hands held-back submissions to the forwarder it serves.
        let _ = gate.forwarder.set(forwarder.clone());
        let verifier = config
            .upstream
            .verify_submissions
            .then(|| {
                VerifyStage::spawn(
                    1,
                    VERIFY_QUEUE,
                    gate.clone(),
                    forwarder.clone(),
                    sink.clone(),
                )
            })
            .transpose()
            .map_err(AppError::Thread)?;
        let refresher = start_refresher(config, &cache, &client, &filter, &held, &stats, &store)?;
        let http = HttpShared::default();
        let gauges = make_gauges(&forwarder, &verifier, &store, &filter, &cache, &http);
        let miner_server_config = server_config(
            "miner",
            config.listen_address,
            config.server.workers,
            config,
            &http,
        );
        let context = Context {
            cache: cache.clone(),
            refresh: refresher.handle(),
            filter,
            held,
            forwarder: forwarder.clone(),
            verifier: verifier.clone(),
            stats: stats.clone(),
            history: book.clone(),
            store: store.clone(),
            bender,
            mode: config.upstream.submission_mode,
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
            mining_info_ttl: config.cache.mining_info_ttl,
            gauges: gauges.clone(),
        };
        let context = Arc::new(context);
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
        let on_change = match &notifier {
            Some(notifier) => notifier.on_change(),
            None => Box::new(|_: &crate::alerts::Alert| {}),
        };
        let alerts = AlertStage::spawn(
            config.alerts.clone(),
            stats.clone(),
            on_change,
            history_feed,
        )
        .map_err(AppError::Thread)?;
        let dashboard_server = if config.dashboard.enabled {
            Some(start_dashboard(
                config, &stats, &book, &cache, &gauges, &http,
            )?)
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
            stats,
            cache,
            gauges,
        })
    }

    pub fn miner_addr(&self) -> Option<SocketAddr> {
        self.miner_server.as_ref().map(HttpServer::local_addr)
    }

    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        self.dashboard_server.as_ref().map(HttpServer::local_addr)
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    pub fn cache(&self) -> &Arc<MiningInfoCache> {
        &self.cache
    }

    pub fn gauges(&self) -> Gauges {
        (self.gauges)()
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

fn outcome_sink(stats: Arc<Stats>, store: Option<StoreSender>) -> OutcomeSink {
    Arc::new(move |record: OutcomeRecord| {
        stats.record_outcome(&record);
        if let Some(store) = &store {
            store.send(StoreRow::Outcome(record));
        }
    })
}

fn start_refresher(
    config: &Config,
    cache: &Arc<MiningInfoCache>,
    client: &Arc<UpstreamClient>,
    filter: &Arc<Mutex<Filter>>,
    held: &Arc<HeldBack>,
    stats: &Arc<Stats>,
    store: &Option<StoreSender>,
) -> Result<CacheRefresher, AppError> {
    let filter = filter.clone();
    let held = held.clone();
    let round_stats = stats.clone();
    let round_store = store.clone();
    let health_stats = stats.clone();
    let name = config.upstream.name.clone();
    let url = crate::config::mask_url(&config.upstream.url);
    CacheRefresher::start(
        cache.clone(),
        client.clone(),
        config.cache.refresh_interval,
        vec![
            Box::new(move |round| {
                let mut filter = filter.lock();
                filter.start_round(round.height, &round.block_hash);
                held.retain_rounds(|height, hash| filter.is_live(height, hash));
            }),
            Box::new(move |round| round_stats.on_new_round(round)),
            Box::new(move |round| {
                if let Some(store) = &round_store {
                    store.send(StoreRow::Round(round.clone()));
                }
            }),
        ],
        Box::new(move |health, took| {
            health_stats.record_upstream_call("get_mining_info", took);
            health_stats.set_upstream(UpstreamStatus {
                name: name.clone(),
                url: url.clone(),
                reachable: health.reachable,
                last_success_ms: health.last_success_ms,
                latency_ms: health.latency_ms,
                refresh_errors: health.refresh_errors,
                last_error: health.last_error.clone(),
            });
        }),
    )
    .map_err(AppError::Thread)
}

fn make_gauges(
    forwarder: &Forwarder,
    verifier: &Option<VerifyStage>,
    store: &Option<StoreSender>,
    filter: &Arc<Mutex<Filter>>,
    cache: &Arc<MiningInfoCache>,
    http: &HttpShared,
) -> Arc<dyn Fn() -> Gauges + Send + Sync> {
    let http = http.clone();
    let forwarder = forwarder.clone();
    let verifier = verifier.clone();
    let store = store.clone();
    let filter = filter.clone();
    let cache = cache.clone();
    Arc::new(move || Gauges {
        queue_depth: forwarder.queue_depth(),
        verify_queue_depth: verifier.as_ref().map_or(0, VerifyStage::queue_depth),
        store: store.as_ref().map(|s| s.health()).unwrap_or_default(),
        filter_capped: filter.lock().capped_total(),
        mining_info_age_ms: cache.age_ms(now_ms()),
        http_refused: http.refusals.snapshot(),
        http: HttpCounts {
            requests: http.counters.requests.load(Ordering::Relaxed),
            handler_panics: http.counters.panics.load(Ordering::Relaxed),
            body_read_failures: http.counters.read_failures.load(Ordering::Relaxed),
        },
    })
}

/// What both ports' servers count into, so `/stats` and `/metrics` show their sums.
#[derive(Clone, Default)]
struct HttpShared {
    refusals: Arc<RefusalCounts>,
    counters: Arc<ServerCounters>,
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

fn start_dashboard(
    config: &Config,
    stats: &Arc<Stats>,
    book: &Arc<HistoryBook>,
    cache: &Arc<MiningInfoCache>,
    gauges: &Arc<dyn Fn() -> Gauges + Send + Sync>,
    http: &HttpShared,
) -> Result<HttpServer, AppError> {
    let (s1, g1) = (stats.clone(), gauges.clone());
    let (s2, g2) = (stats.clone(), gauges.clone());
    let (c3, g3) = (cache.clone(), gauges.clone());
    let ttl = config.cache.mining_info_ttl;
    let book = book.clone();
    let context = DashboardContext {
        stats_json: Arc::new(move || s1.snapshot_json(now_ms(), &g1()).to_string()),
        metrics_text: Arc::new(move || crate::metrics::render_metrics(&s2, now_ms(), &g2())),
        health_json: Arc::new(move || handlers::health_report(&c3, &g3(), ttl)),
        history_json: Arc::new(move |query| history::answer(&book, query, now_ms())),
        auth: config.dashboard.auth.clone(),
    };
    HttpServer::start(
        server_config(
            "dashboard",
            config.dashboard.listen_address,
            2,
            config,
            http,
        ),
        Arc::new(move |request| dashboard::handle(&context, request)),
    )
    .map_err(AppError::Listen)
}
