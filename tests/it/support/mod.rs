//! Test support: a simulated upstream and an aggregator started in-process on 127.0.0.1 port 0,
//! plus small HTTP helpers. Every test gets its own ports and its own database directory, so
//! tests run in parallel.

#![allow(dead_code)]

pub mod binary;
pub mod process;
// Temporary directories, waiting for a condition, free ports and loopback agents: the same file
// the unit tests and the benches use.
#[path = "../../../src/testkit.rs"]
mod testkit;
pub use testkit::{agent_with_timeout, eventually, exit_within, free_port, wait_until, TempDir};

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use pocx_aggregator::app::App;
use pocx_aggregator::config::Config;
use pocx_aggregator::sim::{SimRound, SimUpstream, SimUpstreamConfig};

/// A configuration for tests: loopback, port 0, fast polling and short retries, no dashboard
/// (so `/stats` and `/metrics` are on the miner port), history in `dir`.
pub fn test_config(upstream_url: &str, dir: &Path) -> Config {
    let mut config = Config::with_upstream_url(upstream_url).unwrap();
    config.listen_address = "127.0.0.1:0".parse().unwrap();
    config.dashboard.enabled = false;
    config.dashboard.listen_address = "127.0.0.1:0".parse().unwrap();
    config.server.stats_on_miner_port = true;
    config.cache.refresh_interval = Duration::from_millis(100);
    config.cache.pool_timeout = Duration::from_secs(2);
    config.upstream.retry_backoff = vec![
        Duration::from_millis(100),
        Duration::from_millis(200),
        Duration::from_millis(400),
    ];
    config.database.path = dir.join("aggregator.db");
    config.logging.file = None;
    config
}

/// A simulated upstream and an aggregator in front of it.
pub struct Farm {
    pub upstream: SimUpstream,
    pub app: Option<App>,
    pub config: Config,
    pub url: String,
    pub dir: TempDir,
    agent: ureq::Agent,
}

impl Farm {
    pub fn start() -> Farm {
        Farm::start_with(SimUpstreamConfig::default(), |_| {})
    }

    /// Starts with a custom upstream and a chance to adjust the aggregator's configuration.
    pub fn start_with(upstream: SimUpstreamConfig, adjust: impl FnOnce(&mut Config)) -> Farm {
        let upstream = SimUpstream::start(upstream).unwrap();
        let dir = TempDir::new("farm");
        let mut config = test_config(&upstream.url(), dir.path());
        adjust(&mut config);
        let app = App::start(&config, true).unwrap();
        let url = format!("http://{}/", app.miner_addr().unwrap());
        Farm {
            upstream,
            app: Some(app),
            config,
            url,
            dir,
            agent: agent(),
        }
    }

    /// Waits until the aggregator serves the upstream's current round.
    pub fn wait_for_round(&self) -> SimRound {
        let want = self.upstream.current_round();
        wait_until(Duration::from_secs(5), || {
            let info = self.rpc("get_mining_info", json!({}));
            info["result"]["height"] == want.height
                && info["result"]["block_hash"] == want.block_hash
        });
        want
    }

    pub fn app(&self) -> &App {
        self.app.as_ref().unwrap()
    }

    /// One JSON-RPC call; returns the whole response object.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        let body =
            json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).to_string();
        let (_, text) = self.post(&body);
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// POSTs a raw body to `/`; returns status and body.
    pub fn post(&self, body: &str) -> (u16, String) {
        post(&self.agent, &self.url, body, &[])
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        get(
            &self.agent,
            &format!("{}{}", self.url, path.trim_start_matches('/')),
        )
    }

    pub fn stats(&self) -> Value {
        serde_json::from_str(&self.get("/stats").1).unwrap()
    }

    /// A valid submission for `round`.
    pub fn submission(round: &SimRound, account: &str, raw_quality: u64) -> Value {
        json!({
            "block_hash": round.block_hash,
            "height": round.height,
            "generation_signature": round.generation_signature,
            "base_target": round.base_target,
            "account_id": account,
            "seed": "ab".repeat(32),
            "nonce": 42,
            "compression": 1,
            "raw_quality": raw_quality,
        })
    }

    pub fn submit(&self, round: &SimRound, account: &str, raw_quality: u64) -> Value {
        self.rpc(
            "submit_nonce",
            Farm::submission(round, account, raw_quality),
        )
    }

    /// Waits until nothing is queued, backing off or in flight in the forwarder: every
    /// submission handed on so far has reached the upstream and has its outcome, and no retry
    /// is still to come.
    pub fn settle(&self) {
        let held = || self.app().gauges().queue_depth;
        let settled = eventually(Duration::from_secs(20), || held() == 0);
        assert!(settled, "forwarder still holds {} submissions", held());
    }

    /// Stops the aggregator (drains and flushes) and returns how long that took.
    pub fn stop_app(&mut self) -> Duration {
        let started = Instant::now();
        if let Some(app) = self.app.take() {
            app.shutdown();
        }
        started.elapsed()
    }

    /// Stops the aggregator and starts it again on the same configuration and database.
    pub fn restart_app(&mut self) {
        self.stop_app();
        let app = App::start(&self.config, true).unwrap();
        self.url = format!("http://{}/", app.miner_addr().unwrap());
        self.app = Some(app);
    }
}

/// An account id made from a small number.
pub fn account(n: u32) -> String {
    format!("{n:040x}")
}

/// The tests' usual agent: 10 s per call.
pub fn agent() -> ureq::Agent {
    agent_with_timeout(Duration::from_secs(10))
}

pub fn post(agent: &ureq::Agent, url: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = agent.post(url).header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body).unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

pub fn get(agent: &ureq::Agent, url: &str) -> (u16, String) {
    let mut response = agent.get(url).call().unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// The `Content-Length` of an answer's head (0 when it has none).
pub fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}
