//! What both ports report about the running aggregator: `/health`, `/stats`, `/metrics` and
//! `/history`, from the stages' own state.
//!
//! [`Observability`] holds the handles (statistics, the history book, the served round, the
//! forwarding and verification queues, the store's health, the HTTP servers' counts); `app`
//! builds one and both the miner port's handlers and the dashboard take it as an argument.
//! Reading it takes each stage's own short lock or atomic once; nothing here is kept between
//! calls, and no request path of a miner's submission or poll comes through here.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::events::now_ms;
use crate::filter::Rounds;
use crate::forwarder::Forwarder;
use crate::history::HistoryBook;
use crate::server::{RefusalCounts, ServerCounters};
use crate::stats::{Gauges, HttpCounts, Stats};
use crate::store::StoreSender;
use crate::upstream::Upstreams;
use crate::verify::VerifyStage;

/// What both ports' servers count into, so `/stats` and `/metrics` show their sums.
#[derive(Clone, Default)]
pub struct HttpShared {
    pub refusals: Arc<RefusalCounts>,
    pub counters: Arc<ServerCounters>,
}

/// The running aggregator as its reports see it.
pub struct Observability {
    pub stats: Arc<Stats>,
    pub history: Arc<HistoryBook>,
    pub rounds: Arc<Rounds>,
    pub forwarder: Forwarder,
    pub verifier: Option<VerifyStage>,
    pub store: StoreSender,
    /// The upstream endpoints and which one is active.
    pub upstreams: Arc<Upstreams>,
    pub http: HttpShared,
    /// Mining info older than this makes `/health` "degraded".
    pub mining_info_ttl: Duration,
}

impl Observability {
    /// The values other stages own, read now.
    pub fn gauges(&self) -> Gauges {
        let counters = &self.http.counters;
        Gauges {
            queue_depth: self.forwarder.queue_depth(),
            verify_queue_depth: self.verifier.as_ref().map_or(0, VerifyStage::queue_depth),
            store: self.store.health(),
            filter_capped: self.rounds.capped_total(),
            mining_info_age_ms: age_ms(self.stats.upstream().last_success_ms, now_ms()),
            upstreams: self.upstreams.view(),
            http_refused: self.http.refusals.snapshot(),
            http: HttpCounts {
                requests: counters.requests.load(Ordering::Relaxed),
                handler_panics: counters.panics.load(Ordering::Relaxed),
                body_read_failures: counters.read_failures.load(Ordering::Relaxed),
            },
        }
    }
}

/// Milliseconds since the served info was last confirmed by the upstream (at `last_success_ms`).
fn age_ms(last_success_ms: Option<u64>, now: u64) -> Option<u64> {
    last_success_ms.map(|last| now.saturating_sub(last))
}

/// The reports both ports serve: the running aggregator's [`Observability`], or a fixture.
pub trait Reports {
    /// The `/stats` document (see the schema in the interface notes).
    fn stats_json(&self) -> String;
    /// Prometheus text exposition 0.0.4 for `/metrics`.
    fn metrics_text(&self) -> String;
    /// Status code and JSON body for `/health`.
    fn health(&self) -> (u16, String);
    /// Status code and JSON body for `/history`, given the query string.
    fn history(&self, query: &str) -> (u16, String);
}

impl Reports for Observability {
    fn stats_json(&self) -> String {
        let stats = self.stats.snapshot_json(now_ms(), &self.gauges());
        stats.to_string()
    }

    fn metrics_text(&self) -> String {
        crate::metrics::render_metrics(&self.stats, now_ms(), &self.gauges())
    }

    fn history(&self, query: &str) -> (u16, String) {
        crate::history::answer(&self.history, query, now_ms())
    }

    /// 503 until the first mining info; "degraded" when the info is older than the TTL or the
    /// database cannot be written.
    fn health(&self) -> (u16, String) {
        let upstream = self.stats.upstream();
        let upstreams = self.upstreams.view();
        let served = self.rounds.served();
        let store = self.store.health();
        let age_ms = age_ms(upstream.last_success_ms, now_ms());
        let ttl_ms = crate::events::millis(self.mining_info_ttl);
        let stale = age_ms.is_none_or(|age| age > ttl_ms);
        let status = match (&served, stale, store.ok) {
            (None, _, _) => "unavailable",
            (Some(_), false, true) => "ok",
            _ => "degraded",
        };
        let body = json!({
            "status": status,
            "upstream_reachable": upstream.reachable,
            "mining_info_age_ms": age_ms,
            "mining_info_stale": stale,
            "height": served.as_ref().map(|s| s.round.height),
            "queue_depth": self.forwarder.queue_depth(),
            "verify_queue_depth": self.verifier.as_ref().map_or(0, VerifyStage::queue_depth),
            "store_ok": store.ok,
            "store_last_error": store.last_error,
            "last_error": upstream.last_error,
            "upstream_active": upstreams.active_label(),
            "upstream_endpoints": upstreams.endpoints_json(),
        });
        let code = if served.is_some() { 200 } else { 503 };
        (code, body.to_string())
    }
}
