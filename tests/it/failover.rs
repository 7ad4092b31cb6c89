//! A primary and backups of the same chain: the aggregator fails over when the primary stops
//! answering (in each way an endpoint can fail), fails back after `failback_secs`, never mixes
//! two chains, and retries on a backup only what may succeed there.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use pocx_aggregator::config::{Config, UpstreamAuth, UpstreamEndpoint};
use pocx_aggregator::sim::{Behaviour, SimUpstream, SimUpstreamConfig};

use crate::alerts::alert;
use crate::support::{account, wait_until, Farm};

/// Long enough for the slowest failover here (a hanging primary: three polls of about 1 s)
/// on a loaded test host.
const FAILOVER_DEADLINE: Duration = Duration::from_secs(15);

/// A farm whose aggregator has `backups` behind its primary.
fn farm_with_backups(backups: &[&SimUpstream], failback_secs: u64) -> Farm {
    farm_with_backups_and(backups, failback_secs, |_| {})
}

/// The same, with `adjust` changing more of the configuration.
fn farm_with_backups_and(
    backups: &[&SimUpstream],
    failback_secs: u64,
    adjust: impl FnOnce(&mut Config),
) -> Farm {
    let urls: Vec<String> = backups.iter().map(|b| b.url()).collect();
    let upstream = SimUpstreamConfig {
        hang_limit: Duration::from_secs(60),
        ..SimUpstreamConfig::default()
    };
    Farm::start_with(upstream, move |config| {
        config.upstream.backups = urls
            .into_iter()
            .map(|url| UpstreamEndpoint {
                url,
                auth: UpstreamAuth::None,
            })
            .collect();
        config.upstream.failback = Duration::from_secs(failback_secs);
        adjust(config);
    })
}

fn backup() -> SimUpstream {
    SimUpstream::start(SimUpstreamConfig::default()).unwrap()
}

/// The URL `/stats` names as the active endpoint.
fn active(farm: &Farm) -> String {
    farm.stats()["upstream"]["active"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn served_height(farm: &Farm) -> Value {
    farm.rpc("get_mining_info", json!({}))["result"]["height"].clone()
}

#[test]
fn miners_are_served_by_the_backup_whichever_way_the_primary_fails() {
    for failure in [
        Behaviour::Refuse,
        Behaviour::Hang,
        Behaviour::Http500,
        Behaviour::Garbage,
    ] {
        let backup = backup();
        let farm = farm_with_backups(&[&backup], 3_600);
        farm.wait_for_round();
        assert_eq!(active(&farm), farm.upstream.url(), "{failure:?}");

        let failed_at = Instant::now();
        farm.upstream.set_behaviour(failure.clone());
        wait_until(FAILOVER_DEADLINE, || active(&farm) == backup.url());
        let took = failed_at.elapsed();
        println!("{failure:?}: failed over in {} ms", took.as_millis());

        // The backup's next round is what miners get, and their submissions go there.
        let round = backup.new_round();
        wait_until(Duration::from_secs(5), || {
            served_height(&farm) == json!(round.height)
        });
        let answer = farm.submit(&round, &account(1), 1_000);
        assert!(answer["result"].is_object(), "{failure:?}: {answer}");
        wait_until(Duration::from_secs(5), || {
            backup.submissions().iter().any(|s| s.answer.is_accepted())
        });
        assert!(farm.upstream.submissions().is_empty(), "{failure:?}");

        let stats = farm.stats();
        let endpoints = stats["upstream"]["endpoints"].as_array().unwrap().clone();
        assert_eq!(endpoints.len(), 2);
        assert_eq!(endpoints[0]["reachable"], false, "{failure:?}");
        assert_eq!(endpoints[1]["active"], true);
        assert_eq!(stats["upstream"]["failovers"], 1);
        let (_, metrics) = farm.get("/metrics");
        let active_line = format!(
            "pocx_aggregator_upstream_active{{endpoint=\"{}\"}} 1",
            backup.url()
        );
        assert!(metrics.contains(&active_line), "{metrics}");
        let (_, health) = farm.get("/health");
        let health: Value = serde_json::from_str(&health).unwrap();
        assert_eq!(health["upstream_active"], backup.url());
    }
}

#[test]
fn the_primary_takes_over_again_once_it_has_answered_for_failback_secs() {
    let backup = backup();
    let farm = farm_with_backups(&[&backup], 2);
    farm.wait_for_round();
    farm.upstream.set_behaviour(Behaviour::Refuse);
    wait_until(FAILOVER_DEADLINE, || active(&farm) == backup.url());

    let back_at = Instant::now();
    farm.upstream.set_behaviour(Behaviour::Normal);
    wait_until(Duration::from_secs(15), || {
        active(&farm) == farm.upstream.url()
    });
    let took = back_at.elapsed();
    println!(
        "failed back {} ms after the primary answered again",
        took.as_millis()
    );
    assert!(took >= Duration::from_secs(2), "failed back after {took:?}");
    assert_eq!(farm.stats()["upstream"]["failovers"], 2);

    // Submissions go to the primary again.
    let round = farm.upstream.new_round();
    backup.new_round();
    wait_until(Duration::from_secs(5), || {
        served_height(&farm) == json!(round.height)
    });
    farm.submit(&round, &account(2), 1_000);
    wait_until(Duration::from_secs(5), || {
        !farm.upstream.submissions().is_empty()
    });
}

#[test]
fn an_endpoint_down_while_a_backup_serves_the_farm_is_an_alert() {
    let backup = backup();
    let farm = farm_with_backups_and(&[&backup], 2, |config| {
        config.alerts.upstream_down = Duration::from_secs(1);
    });
    farm.wait_for_round();
    let primary = farm.stats()["upstream"]["endpoints"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    farm.upstream.set_behaviour(Behaviour::Refuse);
    wait_until(FAILOVER_DEADLINE, || {
        alert(&farm, "upstream_endpoint_down", &primary).map(|a| a["state"].clone())
            == Some(json!("firing"))
    });
    // The farm is served all the while: the upstream itself is not an alert.
    let stats = farm.stats();
    assert_eq!(stats["upstream"]["active"], backup.url(), "{stats}");
    let upstream_alerts = stats["alerts"].as_array().unwrap().iter();
    assert!(
        upstream_alerts
            .filter(|a| a["kind"] == "upstream_unreachable")
            .all(|a| a["state"] != "firing"),
        "{stats}"
    );

    farm.upstream.set_behaviour(Behaviour::Normal);
    wait_until(Duration::from_secs(10), || {
        alert(&farm, "upstream_endpoint_down", &primary).map(|a| a["state"].clone())
            == Some(json!("resolved"))
    });
}

#[test]
fn an_endpoint_on_another_chain_is_never_mixed_in() {
    let other_chain = backup();
    for _ in 0..5 {
        other_chain.new_round();
    }
    let farm = farm_with_backups(&[&other_chain], 3_600);
    let round = farm.wait_for_round();
    wait_until(Duration::from_secs(5), || {
        farm.stats()["upstream"]["endpoints"][1]["same_chain"] == false
    });

    farm.upstream.set_behaviour(Behaviour::Refuse);
    wait_until(Duration::from_secs(5), || {
        farm.stats()["upstream"]["endpoints"][0]["failed_polls"]
            .as_u64()
            .is_some_and(|n| n >= 5)
    });
    assert_eq!(active(&farm), farm.upstream.url());
    // Still the primary's round (stale), never the other chain's.
    assert_eq!(served_height(&farm), json!(round.height));
    farm.submit(&round, &account(3), 1_000);
    let (_, health) = farm.get("/health");
    assert!(health.contains("\"same_chain\":false"), "{health}");
    // Its retries run out against the refusing primary; none went to the other chain.
    wait_until(Duration::from_secs(10), || {
        farm.stats()["upstream"]["forwards"]["dropped"] == 1
    });
    assert!(other_chain.submissions().is_empty());
}

#[test]
fn a_transient_failure_is_retried_on_the_backup_a_rejection_is_not() {
    let backup = backup();
    let farm = farm_with_backups(&[&backup], 3_600);
    let round = farm.wait_for_round();
    // Both endpoints have been polled, so the backup is known to serve the round.
    wait_until(Duration::from_secs(5), || {
        farm.stats()["upstream"]["endpoints"][1]["height"] == json!(round.height)
    });

    farm.upstream
        .set_submit_behaviour(Some(Behaviour::RpcError(-32001)));
    farm.submit(&round, &account(4), 1_000);
    wait_until(Duration::from_secs(5), || {
        farm.stats()["upstream"]["forwards"]["rejected"] == 1
    });
    assert_eq!(farm.upstream.submissions().len(), 1);
    assert!(
        backup.submissions().is_empty(),
        "a rejection went elsewhere"
    );

    farm.upstream.set_submit_behaviour(Some(Behaviour::Http500));
    farm.submit(&round, &account(5), 1_000);
    wait_until(Duration::from_secs(5), || {
        farm.stats()["upstream"]["forwards"]["accepted"] == 1
    });
    let sent = backup.submissions();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].answer.is_accepted());
    assert_eq!(active(&farm), farm.upstream.url(), "polls still answer");
}
