//! The dashboard of a whole running aggregator, fed by simulated miners and one miner with a
//! hostile machine name, checked in headless Chromium by [`check_dashboard`]; stopping the
//! aggregator must bring up the stale banner.

use std::time::Duration;

use serde_json::json;

use pocx_aggregator::sim::{SimMiners, SimMinersConfig, SimUpstreamConfig};

use super::{check_dashboard, Expected, HOSTILE_IMG};
use crate::browser;
use crate::support::{account, agent, post, wait_until, Farm};

#[test]
fn dashboard_renders_a_running_aggregator_in_headless_chromium() {
    const NAME: &str = "dashboard_renders_a_running_aggregator_in_headless_chromium";
    if browser::chromedriver_or_skip(NAME).is_none() {
        return;
    }
    let farm = Farm::start_with(SimUpstreamConfig::default(), |cfg| {
        cfg.dashboard.enabled = true;
        cfg.dashboard.listen_address = "127.0.0.1:0".parse().unwrap();
    });
    let first = farm.wait_for_round();
    let miners = SimMiners::start(SimMinersConfig {
        aggregator_url: farm.url.clone(),
        miners: 3,
        accounts_per_miner: 2,
        poll_interval: Duration::from_millis(100),
        submits_per_round: 4,
        machine_names: Some("sim-miner".into()),
        seed: 7,
    });
    let body = json!({"jsonrpc": "2.0", "method": "submit_nonce", "id": 1,
                      "params": Farm::submission(&first, &account(77), 123_456_789_012)});
    let (status, text) = post(
        &agent(),
        &farm.url,
        &body.to_string(),
        &[("X-Miner", HOSTILE_IMG)],
    );
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("poc_time"), "{text}");
    // A few rounds for the chart: each gets all the miners' submissions (3 miners, 4 each,
    // spread over about a second) before the next begins.
    let mut received = 1;
    for _ in 0..3 {
        received += 3 * 4;
        wait_until(Duration::from_secs(10), || {
            farm.stats()["totals"]["submissions"].as_u64() >= Some(received)
        });
        farm.upstream.new_round();
    }
    wait_until(Duration::from_secs(10), || {
        let stats = farm.stats();
        let machines = Expected::from_stats(&stats).machines;
        let with_best = stats["rounds"].as_array().map_or(0, |r| {
            r.iter().filter(|r| r["best_poc_time"].is_u64()).count()
        });
        with_best >= 3
            && machines.iter().any(|m| m == HOSTILE_IMG)
            && (0..3).all(|i| machines.contains(&format!("sim-miner-{i}")))
    });
    let stats = farm.stats();
    let expected = Expected::from_stats(&stats);
    assert!(expected.simulation);
    assert!(expected.accounts.contains(&account(77)));

    let url = format!("http://{}/", farm.app().dashboard_addr().unwrap());
    let Some(report) = check_dashboard(NAME, &url, &expected, move || {
        miners.shutdown();
        let mut farm = farm;
        farm.stop_app();
    }) else {
        return;
    };
    assert!(report.chart_points >= 3, "{report:?}");
    // The rounds that finished are in the farm's hour already.
    assert!(report.history.day_points >= 1, "{report:?}");
    assert_eq!(report.history.day_points, report.history.week_points);
    assert!(report.stale_text.contains("not answering"), "{report:?}");
    assert_eq!(report.endpoints, None, "one upstream: no endpoints row");
}
