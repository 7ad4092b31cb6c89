//! The mining-info cache end to end: how many upstream calls miners' polls cost, how fast a new
//! block reaches miners, and what miners see while the upstream is down, broken, hanging or
//! refusing our credentials (they keep getting the last round; `/health` and `/stats` say why).

mod credentials;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use pocx_aggregator::app::App;
use pocx_aggregator::config::Config;
use pocx_aggregator::sim::{Behaviour, SimUpstream, SimUpstreamConfig};

use crate::support::{self, account, test_config, wait_until, Farm, TempDir};

fn upstream_status(farm: &Farm) -> Value {
    farm.stats()["upstream"].clone()
}

fn refresh_errors(farm: &Farm) -> u64 {
    upstream_status(farm)["refresh_errors"].as_u64().unwrap()
}

fn health(farm: &Farm) -> (u16, Value) {
    let (status, body) = farm.get("/health");
    (status, serde_json::from_str(&body).unwrap())
}

#[test]
fn many_polls_cost_at_most_one_upstream_call_per_refresh() {
    let refresh = Duration::from_millis(200);
    let farm = Arc::new(Farm::start_with(Default::default(), |cfg| {
        cfg.cache.refresh_interval = refresh;
    }));
    let round = farm.wait_for_round();
    let calls_before = farm.upstream.mining_info_calls();
    let started = Instant::now();
    let pollers: Vec<_> = (0..10)
        .map(|_| {
            let farm = Arc::clone(&farm);
            std::thread::spawn(move || {
                let agent = support::agent();
                let body = json!({"jsonrpc": "2.0", "method": "get_mining_info", "id": 1});
                let mut heights = Vec::new();
                for _ in 0..50 {
                    let (status, text) = support::post(&agent, &farm.url, &body.to_string(), &[]);
                    assert_eq!(status, 200);
                    let answer: Value = serde_json::from_str(&text).unwrap();
                    heights.push(answer["result"]["height"].as_u64());
                    // A poller's pace: the polls are to span several refreshes.
                    std::thread::sleep(Duration::from_millis(20));
                }
                heights
            })
        })
        .collect();
    let heights: Vec<Option<u64>> = pollers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let elapsed = started.elapsed();
    let calls = farm.upstream.mining_info_calls() - calls_before;
    assert_eq!(heights.len(), 500);
    assert!(heights.iter().all(|h| *h == Some(round.height)));
    let refreshes = elapsed.as_millis() / refresh.as_millis();
    eprintln!("500 polls in {elapsed:?} cost {calls} upstream calls ({refreshes} refresh periods)");
    assert!(
        u128::from(calls) <= refreshes + 2,
        "{calls} upstream calls for 500 polls over {elapsed:?} at one refresh per {refresh:?}"
    );
}

/// Polls the aggregator until it serves `block_hash`; returns how long that took.
fn time_until_served(farm: &Farm, block_hash: &str, since: Instant) -> Duration {
    let deadline = since + Duration::from_secs(5);
    loop {
        let info = farm.rpc("get_mining_info", json!({}));
        if info["result"]["block_hash"] == block_hash {
            return since.elapsed();
        }
        assert!(Instant::now() < deadline, "new block not served within 5 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_new_block_is_served_within_a_second_at_the_default_refresh() {
    let farm = Farm::start_with(Default::default(), |cfg| {
        cfg.cache.refresh_interval = Duration::from_secs(1);
    });
    farm.wait_for_round();
    let mut latencies = Vec::new();
    // At different points of the refresh period…
    for offset_ms in [0, 330, 670] {
        // Letting part of the refresh period pass is the point.
        std::thread::sleep(Duration::from_millis(offset_ms));
        let round = farm.upstream.new_round();
        latencies.push(time_until_served(&farm, &round.block_hash, Instant::now()));
    }
    // …and the worst case: the block changes just after a refresh has read the old one.
    for _ in 0..3 {
        let calls = farm.upstream.mining_info_calls();
        wait_until(Duration::from_secs(3), || {
            farm.upstream.mining_info_calls() > calls
        });
        let round = farm.upstream.new_round();
        latencies.push(time_until_served(&farm, &round.block_hash, Instant::now()));
    }
    let worst = latencies.iter().max().unwrap();
    eprintln!("new block served after {latencies:?} (worst {worst:?}) at a 1 s refresh");
    // Polls start 1 s apart, so the worst case is 1 s plus one upstream call (about 1 ms on
    // loopback). The slack covers a test host busy with the rest of the suite; the figure itself
    // is printed above.
    assert!(
        *worst < Duration::from_millis(1500),
        "a new block took {worst:?} to reach miners: {latencies:?}"
    );
}

/// An aggregator started against an upstream that may be down (Farm needs it up to start).
struct Rig {
    upstream: SimUpstream,
    app: Option<App>,
    url: String,
    agent: ureq::Agent,
    _dir: TempDir,
}

impl Rig {
    fn start(upstream: SimUpstream, adjust: impl FnOnce(&mut Config)) -> Rig {
        let dir = TempDir::new("cache");
        let mut config = test_config(&upstream.url(), dir.path());
        adjust(&mut config);
        let app = App::start(&config, false).unwrap();
        let url = format!("http://{}/", app.miner_addr().unwrap());
        Rig {
            upstream,
            app: Some(app),
            url,
            agent: support::agent(),
            _dir: dir,
        }
    }

    fn mining_info(&self) -> Value {
        let body = json!({"jsonrpc": "2.0", "method": "get_mining_info", "id": 1}).to_string();
        let (status, text) = support::post(&self.agent, &self.url, &body, &[]);
        assert_eq!(status, 200);
        serde_json::from_str(&text).unwrap()
    }

    fn health(&self) -> (u16, Value) {
        let (status, text) = support::get(&self.agent, &format!("{}health", self.url));
        (status, serde_json::from_str(&text).unwrap())
    }

    fn stats(&self) -> Value {
        serde_json::from_str(&support::get(&self.agent, &format!("{}stats", self.url)).1).unwrap()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown();
        }
    }
}

#[test]
fn upstream_down_at_start_then_up() {
    let upstream = SimUpstream::start(SimUpstreamConfig::default()).unwrap();
    upstream.set_behaviour(Behaviour::Refuse);
    let rig = Rig::start(upstream, |_| {});

    wait_until(Duration::from_secs(5), || {
        rig.stats()["upstream"]["refresh_errors"].as_u64() >= Some(2)
    });
    let answer = rig.mining_info();
    assert_eq!(answer["error"]["code"], -32000, "{answer}");
    assert_eq!(answer["error"]["message"], "upstream unavailable");
    let (status, health) = rig.health();
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["upstream_reachable"], false);
    assert_eq!(health["status"], "unavailable");
    let last_error = rig.stats()["upstream"]["last_error"].clone();
    assert!(
        last_error
            .as_str()
            .unwrap()
            .contains("cannot reach upstream"),
        "{last_error}"
    );

    rig.upstream.set_behaviour(Behaviour::Normal);
    let up = Instant::now();
    let want = rig.upstream.current_round();
    wait_until(Duration::from_secs(3), || {
        rig.mining_info()["result"]["block_hash"] == want.block_hash
    });
    eprintln!("served {:?} after the upstream came up", up.elapsed());
    let (status, health) = rig.health();
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["upstream_reachable"], true);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["height"], want.height);
}

#[test]
fn upstream_down_later_keeps_serving_the_last_round() {
    let farm = Farm::start_with(Default::default(), |cfg| {
        cfg.cache.mining_info_ttl = Duration::from_secs(1);
    });
    let round = farm.wait_for_round();
    assert_eq!(health(&farm).1["status"], "ok");

    farm.upstream.set_behaviour(Behaviour::Refuse);
    wait_until(Duration::from_secs(3), || {
        health(&farm).1["upstream_reachable"] == false
    });
    let served = farm.rpc("get_mining_info", json!({}));
    assert_eq!(served["result"]["block_hash"], round.block_hash, "{served}");
    // A submission for the last round is still answered with its poc_time.
    let answer = farm.submit(&round, &account(1), 3_000_000_000);
    assert!(answer["result"]["poc_time"].is_u64(), "{answer}");

    // Once the info is older than the TTL, health says so (and still answers 200).
    wait_until(Duration::from_secs(4), || {
        health(&farm).1["status"] == "degraded"
    });
    let (status, body) = health(&farm);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mining_info_stale"], true, "{body}");
    assert_eq!(body["upstream_reachable"], false, "{body}");
    assert_eq!(body["height"], round.height, "{body}");
    let upstream = upstream_status(&farm);
    assert_eq!(upstream["reachable"], false, "{upstream}");
    assert!(upstream["refresh_errors"].as_u64() >= Some(1), "{upstream}");
    let served = farm.rpc("get_mining_info", json!({}));
    assert_eq!(served["result"]["block_hash"], round.block_hash, "{served}");

    farm.upstream.set_behaviour(Behaviour::Normal);
    farm.upstream.new_round();
    farm.wait_for_round();
    wait_until(Duration::from_secs(3), || health(&farm).1["status"] == "ok");
    assert_eq!(upstream_status(&farm)["reachable"], true);
}

/// Runs the upstream in `behaviour` and checks miners keep the last round, the aggregator keeps
/// answering, and the failures are counted with a reason containing `reason`.
fn keeps_serving_through(behaviour: Behaviour, reason: &str, adjust: impl FnOnce(&mut Config)) {
    let farm = Farm::start_with(
        SimUpstreamConfig {
            hang_limit: Duration::from_secs(4),
            ..Default::default()
        },
        adjust,
    );
    let round = farm.wait_for_round();
    let before = refresh_errors(&farm);
    farm.upstream.set_behaviour(behaviour.clone());
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut served = 0;
    while refresh_errors(&farm) < before + 2 {
        assert!(
            Instant::now() < deadline,
            "{behaviour:?}: failures not counted: {}",
            upstream_status(&farm)
        );
        let info = farm.rpc("get_mining_info", json!({}));
        assert_eq!(
            info["result"]["block_hash"], round.block_hash,
            "{behaviour:?}: {info}"
        );
        served += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(served > 0);
    let upstream = upstream_status(&farm);
    assert_eq!(upstream["reachable"], false, "{behaviour:?}: {upstream}");
    let last_error = upstream["last_error"].as_str().unwrap_or_default();
    assert!(
        last_error.contains(reason),
        "{behaviour:?}: last error {last_error:?} lacks {reason:?}"
    );
    let (status, body) = health(&farm);
    assert_eq!(status, 200, "{behaviour:?}: {body}");
    assert_eq!(body["upstream_reachable"], false, "{behaviour:?}: {body}");

    farm.upstream.set_behaviour(Behaviour::Normal);
    farm.upstream.new_round();
    farm.wait_for_round();
    assert_eq!(upstream_status(&farm)["reachable"], true);
}

#[test]
fn garbage_from_upstream_keeps_the_last_round() {
    keeps_serving_through(Behaviour::Garbage, "garbage", |_| {});
}

#[test]
fn html_from_upstream_keeps_the_last_round() {
    keeps_serving_through(Behaviour::Html, "garbage", |_| {});
}

#[test]
fn http_500_from_upstream_keeps_the_last_round() {
    keeps_serving_through(Behaviour::Http500, "http 500", |_| {});
}

#[test]
fn a_hanging_upstream_keeps_the_last_round() {
    // The upstream holds each request for 4 s; the aggregator gives up after 1 s.
    keeps_serving_through(Behaviour::Hang, "timed out", |cfg| {
        cfg.cache.pool_timeout = Duration::from_secs(1);
    });
}

/// A chain that starts again lower (the demo's simulated chain on a second run, a testnet reset,
/// a replaced node) with the history of the first in the same file: every port reports the
/// upstream's live round and its best, never the earlier chain's newest round.
#[test]
fn a_chain_that_starts_again_lower_is_the_live_round_everywhere() {
    let mut farm = Farm::start_with(SimUpstreamConfig::default(), |config| {
        config.dashboard.enabled = true;
    });
    let mut round = farm.wait_for_round();
    while round.height < 4 {
        farm.upstream.new_round();
        round = farm.wait_for_round();
    }
    let answer = farm.submit(&round, &account(1), 1_000);
    assert!(answer["result"].is_object(), "{answer}");
    wait_until(Duration::from_secs(5), || {
        farm.stats()["best"]["raw_quality"] == 1_000
    });
    farm.stop_app();

    // The same simulated chain again from height 1: the same block hashes as the history's.
    farm.upstream = SimUpstream::start(SimUpstreamConfig::default()).unwrap();
    farm.config.upstream.url = farm.upstream.url();
    farm.restart_app();
    let live = farm.wait_for_round();
    assert_eq!(live.height, 1);
    let dashboard = format!("http://{}/stats", farm.app().dashboard_addr().unwrap());
    let dashboard_stats = || -> Value {
        serde_json::from_str(&support::get(&support::agent(), &dashboard).1).unwrap()
    };
    wait_until(Duration::from_secs(5), || {
        farm.stats()["round"]["height"] == 1
    });
    for (port, stats) in [("miner", farm.stats()), ("dashboard", dashboard_stats())] {
        assert_eq!(stats["round"]["height"], 1, "{port}: {}", stats["round"]);
        assert_eq!(
            stats["round"]["block_hash"],
            live.block_hash.as_str(),
            "{port}"
        );
        assert!(stats["best"].is_null(), "{port}: {}", stats["best"]);
        // The first run's rounds are still listed, as history.
        let heights: Vec<&Value> = stats["rounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["height"])
            .collect();
        assert_eq!(heights, [1, 4, 3, 2, 1], "{port}");
    }
    assert_eq!(health(&farm).1["height"], 1);
    let answer = farm.submit(&live, &account(1), 2_000);
    assert!(answer["result"].is_object(), "{answer}");
    wait_until(Duration::from_secs(5), || {
        farm.stats()["best"]["raw_quality"] == 2_000
    });
    assert_eq!(dashboard_stats()["best"]["raw_quality"], 2_000);
}
