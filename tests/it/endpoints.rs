//! `/stats` and `/metrics` over real sockets, with counts matching what the test sent.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::stats::prometheus::{parse_exposition, Sample};
use crate::support::{account, agent, get, wait_until, Farm};

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| *v)
}

#[test]
fn stats_and_metrics_count_what_miners_sent() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    // Two accounts; per account the second is better, the third is worse (not forwarded).
    for (acc, raws) in [
        (1, [9_000_000u64, 5_000_000, 7_000_000]),
        (2, [8_000_000, 4_000_000, 6_000_000]),
    ] {
        for raw in raws {
            let answer = farm.submit(&round, &account(acc), raw);
            assert_eq!(answer["result"]["raw_quality"], raw, "{answer}");
            // Each forward ends before the next submission: a better one would otherwise
            // supersede a forward still queued, and fewer than four would reach the upstream.
            farm.settle();
        }
    }
    // Four improving submissions reached the upstream and were accepted.
    wait_until(Duration::from_secs(5), || {
        farm.stats()["upstream"]["forwards"]["accepted"] == 4
    });
    assert_eq!(farm.upstream.submit_calls(), 4);

    let stats = farm.stats();
    assert_eq!(stats["totals"]["submissions"], 6);
    assert_eq!(stats["totals"]["accounts"], 2);
    assert_eq!(stats["round"]["height"], round.height);
    assert_eq!(stats["best"]["raw_quality"], 4_000_000);
    assert_eq!(stats["best"]["account"], account(2));
    let accounts: HashMap<String, &Value> = stats["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["account"].as_str().unwrap().to_owned(), a))
        .collect();
    assert_eq!(accounts[&account(1)]["best_raw_quality"], 5_000_000);
    assert_eq!(accounts[&account(1)]["submissions"], 3);
    assert_eq!(stats["simulation"], true);
    assert_eq!(stats["mode"], "pool");

    let (status, text) = farm.get("/metrics");
    assert_eq!(status, 200);
    let (types, samples) = parse_exposition(&text);
    assert_eq!(types["pocx_aggregator_submissions_total"], "counter");
    assert_eq!(
        value(&samples, "pocx_aggregator_submissions_total", &[]),
        Some(6.0)
    );
    assert_eq!(
        value(
            &samples,
            "pocx_aggregator_forwards_total",
            &[("outcome", "accepted")]
        ),
        Some(4.0)
    );
    assert_eq!(
        value(&samples, "pocx_aggregator_upstream_up", &[]),
        Some(1.0)
    );
    let submit_requests = value(
        &samples,
        "pocx_aggregator_request_duration_seconds_count",
        &[("method", "submit_nonce")],
    );
    assert_eq!(submit_requests, Some(6.0));
    for name in [
        "pocx_aggregator_http_requests_total",
        "pocx_aggregator_http_handler_panics_total",
        "pocx_aggregator_http_body_read_failures_total",
    ] {
        assert_eq!(types[name], "counter", "{name}");
    }
    assert_eq!(
        value(&samples, "pocx_aggregator_http_handler_panics_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(
            &samples,
            "pocx_aggregator_http_body_read_failures_total",
            &[]
        ),
        Some(0.0)
    );
}

/// `/metrics` counts `requests` of both ports, itself included (counted before it is answered).
fn http_requests(text: &str) -> f64 {
    let (_, samples) = parse_exposition(text);
    value(&samples, "pocx_aggregator_http_requests_total", &[]).unwrap()
}

#[test]
fn http_requests_are_counted_over_both_ports() {
    let farm = Farm::start_with(Default::default(), |config| {
        config.dashboard.enabled = true;
    });
    farm.wait_for_round();
    let dashboard = format!("http://{}", farm.app().dashboard_addr().unwrap());
    let agent = agent();
    let before = http_requests(&farm.get("/metrics").1);
    assert_eq!(get(&agent, &format!("{dashboard}/health")).0, 200);
    assert_eq!(farm.get("/health").0, 200);
    farm.rpc("get_mining_info", serde_json::json!({}));
    let after = http_requests(&get(&agent, &format!("{dashboard}/metrics")).1);
    assert_eq!(after - before, 4.0);
}

#[test]
fn the_dashboard_port_serves_stats_and_asks_for_credentials_when_configured() {
    let farm = Farm::start_with(Default::default(), |config| {
        config.dashboard.enabled = true;
        config.server.stats_on_miner_port = false;
        config.dashboard.auth = Some(pocx_aggregator::config::BasicCredentials {
            username: "farm".into(),
            password: "s3cret".into(),
        });
    });
    farm.wait_for_round();
    let dashboard = format!("http://{}", farm.app().dashboard_addr().unwrap());
    let agent = agent();
    assert_eq!(get(&agent, &format!("{dashboard}/stats")).0, 401);
    // farm:wrong, and the right ones behind another scheme.
    for wrong in ["Basic ZmFybTp3cm9uZw==", "Bearer ZmFybTpzM2NyZXQ="] {
        let response = agent
            .get(&format!("{dashboard}/stats"))
            .header("Authorization", wrong)
            .call()
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{wrong}");
        assert!(
            response.headers().contains_key("WWW-Authenticate"),
            "{wrong}"
        );
    }
    let response = agent
        .get(&format!("{dashboard}/stats"))
        .header("Authorization", "basic  ZmFybTpzM2NyZXQ=")
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut response = agent
        .get(&format!("{dashboard}/stats"))
        .header("Authorization", "Basic ZmFybTpzM2NyZXQ=")
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let stats: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert!(stats["round"]["height"].is_u64());
    // Not on the miner port when the dashboard has them.
    assert_eq!(farm.get("/stats").0, 404);
}
