//! The simulated miners against the simulated upstream (which speaks the same protocol as an
//! aggregator), on 127.0.0.1 port 0.

use std::time::Duration;

use super::upstream_tests::start;
use super::*;
use crate::testkit::{eventually, wait_until};

#[test]
fn handles_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<SimUpstream>();
    shareable::<SimMiners>();
}

#[test]
fn simulated_miners_poll_and_submit_without_errors() {
    let upstream = start();
    let miners = SimMiners::start(SimMinersConfig {
        aggregator_url: upstream.url(),
        miners: 5,
        accounts_per_miner: 2,
        poll_interval: Duration::from_millis(50),
        submits_per_round: 3,
        machine_names: Some("sim-miner".into()),
        seed: 11,
    });
    // Until every miner has sent its round's submissions (bounded).
    wait_until(Duration::from_secs(5), || {
        miners.stats().submissions_sent >= 15
    });
    let stats = miners.finish();
    assert_eq!(stats.errors, 0, "{stats:?}");
    assert_eq!(stats.ok, stats.requests);
    assert!(stats.mining_info_requests >= 5, "{stats:?}");
    assert_eq!(stats.rounds_seen, 5);
    assert_eq!(stats.submissions_sent, 15, "{stats:?}");
    assert_eq!(stats.submissions_ok, 15);
    assert!(stats.max_latency >= stats.mean_latency);
    let recorded = upstream.submissions();
    assert_eq!(recorded.len(), 15);
    assert!(recorded.iter().all(|s| s.answer.is_accepted()));
    let accounts: std::collections::HashSet<_> = recorded
        .iter()
        .map(|s| s.submission.as_ref().unwrap().account_id.clone())
        .collect();
    assert_eq!(accounts.len(), 10);
    assert_eq!(upstream.submit_calls(), 15);
    assert!(upstream.mining_info_calls() >= stats.mining_info_requests - 5);
}

#[test]
fn simulated_miners_notice_new_rounds_and_count_failures() {
    let upstream = start();
    let miners = SimMiners::start(SimMinersConfig {
        aggregator_url: upstream.url(),
        miners: 2,
        accounts_per_miner: 1,
        poll_interval: Duration::from_millis(30),
        submits_per_round: 1,
        machine_names: None,
        seed: 3,
    });
    let wait_for = |what: &dyn Fn(&MinerStats) -> bool| {
        let held = eventually(Duration::from_secs(5), || what(&miners.stats()));
        assert!(held, "{:?}", miners.stats());
    };
    wait_for(&|s| s.rounds_seen == 2);
    upstream.new_round();
    wait_for(&|s| s.rounds_seen == 4);
    upstream.set_behaviour(Behaviour::Http500);
    wait_for(&|s| s.errors >= 2);
    let stats = miners.finish();
    assert_eq!(stats.ok + stats.errors, stats.requests);
    assert_eq!(stats.rejected, 0);
}
