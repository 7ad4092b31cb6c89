//! `X-Forwarded-For` is believed only from the peers in `server.trusted_proxies`: machine names
//! (the fallback without `X-Miner`) and per-IP limits then see the client the proxy names.
//! Machines appear in `/stats` by their submissions.

use serde_json::{json, Value};

use pocx_aggregator::config::TrustedProxies;

use crate::support::{account, agent, post, Farm};

/// The machine names in `/stats`.
fn machines(farm: &Farm) -> Vec<String> {
    let stats = farm.stats();
    let list = stats["machines"].as_array().cloned().unwrap_or_default();
    list.iter()
        .filter_map(|m| m["machine"].as_str().map(str::to_owned))
        .collect()
}

/// Submits one nonce for the current round with these headers (and no `X-Miner`).
fn submit(farm: &Farm, headers: &[(&str, &str)]) -> Value {
    let round = farm.upstream.current_round();
    let params = Farm::submission(&round, &account(1), 1000);
    let body = json!({"jsonrpc": "2.0", "method": "submit_nonce", "params": params, "id": 1});
    let text = post(&agent(), &farm.url, &body.to_string(), headers).1;
    serde_json::from_str(&text).unwrap_or_default()
}

fn farm_trusting(entries: &[&str]) -> Farm {
    let proxies = TrustedProxies::parse(entries.iter().copied()).unwrap();
    let farm = Farm::start_with(Default::default(), |config| {
        config.server.trusted_proxies = proxies;
    });
    farm.wait_for_round();
    farm
}

#[test]
fn forwarded_for_is_believed_from_a_trusted_proxy_only() {
    // The test's requests come from 127.0.0.1: here that is the proxy.
    let behind_proxy = farm_trusting(&["127.0.0.1"]);
    submit(
        &behind_proxy,
        &[("X-Forwarded-For", "198.51.100.1, 203.0.113.7")],
    );
    let names = machines(&behind_proxy);
    assert!(names.contains(&"203.0.113.7".to_owned()), "{names:?}");
    assert!(!names.contains(&"198.51.100.1".to_owned()), "{names:?}");

    // Trusting another address, the same header from 127.0.0.1 is a client's word: ignored.
    let direct = farm_trusting(&["192.0.2.1"]);
    submit(&direct, &[("X-Forwarded-For", "203.0.113.7")]);
    assert_eq!(machines(&direct), ["127.0.0.1"]);

    // And with the default (no trusted proxies) too.
    let plain = farm_trusting(&[]);
    submit(&plain, &[("X-Forwarded-For", "203.0.113.7")]);
    assert_eq!(machines(&plain), ["127.0.0.1"]);
}

#[test]
fn per_ip_rate_limits_count_the_forwarded_client() {
    let proxies = TrustedProxies::parse(["127.0.0.1"]).unwrap();
    let farm = Farm::start_with(Default::default(), |config| {
        config.server.trusted_proxies = proxies;
        config.server.max_requests_per_second_per_ip = Some(2);
    });
    farm.wait_for_round();
    let status = |client: &str| {
        let body = json!({"jsonrpc": "2.0", "method": "get_mining_info", "params": {}, "id": 1});
        post(
            &agent(),
            &farm.url,
            &body.to_string(),
            &[("X-Forwarded-For", client)],
        )
        .0
    };
    let first: Vec<u16> = (0..6).map(|_| status("203.0.113.7")).collect();
    assert!(first.contains(&429), "one client over its limit: {first:?}");
    // Another client behind the same proxy has its own budget.
    assert_eq!(status("203.0.113.8"), 200);
}
