//! An edge's upstream over HTTPS: trusted through the farm's CA (added to the public roots or
//! alone), refused without it, and mutual TLS.

use std::time::Duration;

use pocx_aggregator::app::App;
use pocx_aggregator::sim::{SimUpstream, SimUpstreamConfig};
use serde_json::json;

use super::pki::Ca;
use super::relay::HttpsRelay;
use super::{edge_config, health, wait_for_upstream_error, wait_reachable};
use crate::support::binary::Running;
use crate::support::{account, agent, post, wait_until, Farm, TempDir};

/// An edge started in-process; returns it and its miner URL.
fn start_edge(url: &str, dir: &TempDir, upstream_keys: &str) -> (App, String) {
    let config = edge_config(url, dir.path(), upstream_keys);
    let app = App::start(&config, false).unwrap();
    let base = format!("http://{}/", app.miner_addr().unwrap());
    (app, base)
}

/// Polls the edge for the upstream's round and submits one nonce for it; true when the
/// simulated upstream received it.
fn serves_and_forwards(upstream: &SimUpstream, base: &str, quality: u64) -> bool {
    let round = upstream.current_round();
    let agent = agent();
    let rpc = |method: &str, params: serde_json::Value| {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        let text = post(&agent, base, &body.to_string(), &[("X-Miner", "rig-1")]).1;
        serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default()
    };
    wait_until(Duration::from_secs(5), || {
        rpc("get_mining_info", json!({}))["result"]["height"] == round.height
    });
    let before = upstream.submissions().len();
    let answer = rpc(
        "submit_nonce",
        Farm::submission(&round, &account(1), quality),
    );
    assert!(answer["result"].is_object(), "submit answer: {answer}");
    wait_until(Duration::from_secs(5), || {
        upstream.submissions().len() > before
    });
    upstream
        .submissions()
        .last()
        .and_then(|s| s.submission.as_ref())
        .map(|s| s.raw_quality)
        == Some(quality)
}

#[test]
fn an_edge_trusts_the_farm_ca_added_to_or_instead_of_the_public_roots() {
    let ca = Ca::new("farm CA");
    let upstream = SimUpstream::start(SimUpstreamConfig::default()).unwrap();
    let relay = HttpsRelay::start(&ca.server(), None, upstream.addr());
    let dir = TempDir::new("tls-trust");
    let ca_path = ca.write(dir.path(), "ca.crt");
    for (n, only) in ["false", "true"].into_iter().enumerate() {
        let keys = format!("  ca_cert_path: {}\n  ca_only: {only}\n", ca_path.display());
        let (app, base) = start_edge(&relay.url(), &dir, &keys);
        wait_reachable(&base);
        assert!(serves_and_forwards(&upstream, &base, 1000 - n as u64));
        app.shutdown();
    }
    assert_eq!(relay.failures(), Vec::<String>::new());
}

#[test]
fn without_the_farm_ca_the_endpoint_is_refused_logged_once_and_shown_in_health() {
    let ca = Ca::new("farm CA");
    let upstream = SimUpstream::start(SimUpstreamConfig::default()).unwrap();
    let relay = HttpsRelay::start(&ca.server(), None, upstream.addr());
    let url = relay.url();
    let mut edge = Running::start("tls-refused", |port, _dir| {
        format!(
            "listen_address: 127.0.0.1:{port}\nupstream:\n  url: {url}\n\
             cache:\n  refresh_interval_ms: 50\n  pool_timeout_secs: 2\n\
             database:\n  path: edge.db\nlogging:\n  file: ''\n"
        )
    });
    let base = edge.url("");
    let error = wait_for_upstream_error(&base, "not signed by a trusted CA");
    assert!(error.contains("upstream.ca_cert_path"), "{error}");
    // More refused polls later, the outage is still one log line.
    let failed_polls = || health(&base)["upstream_endpoints"][0]["failed_polls"].as_u64();
    let before = failed_polls().expect("/health lists the upstream endpoint");
    wait_until(Duration::from_secs(5), || {
        failed_polls().is_some_and(|n| n >= before + 2)
    });
    let log = edge.log();
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("not signed by a trusted CA"))
        .collect();
    assert_eq!(refused.len(), 1, "{log}");
    assert!(refused[0].contains("ERROR"), "{log}");
    assert!(upstream.mining_info_calls() == 0, "nothing got through");
    edge.stop_with("TERM");
}

#[test]
fn a_certificate_of_another_ca_is_refused_with_ca_only() {
    let ca = Ca::new("farm CA");
    let other = Ca::new("another farm's CA");
    let upstream = SimUpstream::start(SimUpstreamConfig::default()).unwrap();
    let relay = HttpsRelay::start(&other.server(), None, upstream.addr());
    let dir = TempDir::new("tls-ca-only");
    let keys = format!(
        "  ca_cert_path: {}\n  ca_only: true\n",
        ca.write(dir.path(), "ca.crt").display()
    );
    let (app, base) = start_edge(&relay.url(), &dir, &keys);
    wait_for_upstream_error(&base, "not signed by a trusted CA");
    assert_eq!(upstream.mining_info_calls(), 0);
    app.shutdown();
}

#[test]
fn mutual_tls_is_accepted_with_the_right_client_certificate_and_refused_without() {
    let ca = Ca::new("farm CA");
    let upstream = SimUpstream::start(SimUpstreamConfig::default()).unwrap();
    let relay = HttpsRelay::start(&ca.server(), Some(&ca.der), upstream.addr());
    let dir = TempDir::new("tls-mutual");
    let ca_path = ca.write(dir.path(), "ca.crt");
    let (cert, key) = ca.client("north-edge").write(dir.path(), "north");
    let trust = format!("  ca_cert_path: {}\n  ca_only: true\n", ca_path.display());

    let with_cert = format!(
        "{trust}  client_cert_path: {}\n  client_key_path: {}\n",
        cert.display(),
        key.display()
    );
    let (app, base) = start_edge(&relay.url(), &dir, &with_cert);
    wait_reachable(&base);
    assert!(serves_and_forwards(&upstream, &base, 4321));
    app.shutdown();
    assert_eq!(relay.failures(), Vec::<String>::new());

    let (app, base) = start_edge(&relay.url(), &dir, &trust);
    let error = wait_for_upstream_error(&base, "client certificate");
    assert!(error.contains("upstream refused over TLS"), "{error}");
    app.shutdown();
    assert!(
        relay
            .failures()
            .iter()
            .any(|f| f.contains("no certificates")),
        "{:?}",
        relay.failures()
    );

    // A client certificate of another CA is no better than none.
    let stranger = Ca::new("stranger");
    let (cert, key) = stranger.client("intruder").write(dir.path(), "intruder");
    let wrong = format!(
        "{trust}  client_cert_path: {}\n  client_key_path: {}\n",
        cert.display(),
        key.display()
    );
    let calls = upstream.mining_info_calls();
    let (app, base) = start_edge(&relay.url(), &dir, &wrong);
    wait_for_upstream_error(&base, "upstream refused over TLS");
    assert_eq!(upstream.mining_info_calls(), calls);
    app.shutdown();
}
