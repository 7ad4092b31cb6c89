//! Integration tests: chain. An aggregator used as another aggregator's upstream: miners → edge
//! aggregators → core aggregator → simulated upstream, all in this process on 127.0.0.1.
//!
//! Each level keeps only improvements: an edge forwards what beats the best it sent for the
//! account; the core forwards what beats the best any edge sent it. Every level answers with
//! the same poc_time, computed from the same base target.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use serde_json::{json, Value};

use pocx_aggregator::app::App;
use pocx_aggregator::sim::{RecordedAnswer, SimRound};
use pocx_aggregator::timebend::poc_time;

use crate::support::{account, agent, post, test_config, wait_until, Farm, TempDir};

/// An aggregator whose upstream is the core aggregator.
struct Edge {
    app: Option<App>,
    url: String,
    db: PathBuf,
    agent: ureq::Agent,
    _dir: TempDir,
}

impl Edge {
    fn start(core: &Farm, label: &str) -> Edge {
        let core_url = format!("http://{}/", core.app().miner_addr().unwrap());
        let dir = TempDir::new(label);
        let config = test_config(&core_url, dir.path());
        let app = App::start(&config, false).unwrap();
        let url = format!("http://{}/", app.miner_addr().unwrap());
        Edge {
            app: Some(app),
            url,
            db: config.database.path.clone(),
            agent: agent(),
            _dir: dir,
        }
    }

    fn rpc(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 7});
        serde_json::from_str(&post(&self.agent, &self.url, &body.to_string(), &[]).1).unwrap()
    }

    fn stats(&self) -> Value {
        let url = format!("{}stats", self.url);
        serde_json::from_str(&crate::support::get(&self.agent, &url).1).unwrap()
    }

    fn wait_for_round(&self, round: &SimRound) {
        wait_until(Duration::from_secs(5), || {
            let info = self.rpc("get_mining_info", json!({}));
            info["result"]["height"] == round.height
                && info["result"]["block_hash"] == round.block_hash
        });
    }

    /// Every submission it forwarded has its outcome.
    fn settled(&self, forwarded: u64) -> bool {
        let f = &self.stats()["upstream"]["forwards"];
        let done = f["accepted"].as_u64().unwrap()
            + f["rejected"].as_u64().unwrap()
            + f["dropped"].as_u64().unwrap();
        done == forwarded
    }

    /// Stops it, so its history is flushed to the file.
    fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown();
        }
    }
}

/// (account, raw quality) → upstream poc_time, for every accepted outcome in a history file.
fn accepted_outcomes(db: &Path) -> BTreeMap<(String, u64), u64> {
    let conn = Connection::open(db).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT account_id, raw_quality, upstream_poc_time FROM outcomes \
             WHERE outcome = 'accepted'",
        )
        .unwrap();
    let rows = statement
        .query_map([], |row| {
            let (account, quality, poc): (String, i64, i64) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            Ok(((account, quality as u64), poc as u64))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// What one step of the scenario sends and what each level should make of it.
struct Step {
    edge: usize,
    account: u32,
    quality: u64,
    /// The edge forwards it to the core.
    edge_forwards: bool,
    /// The core forwards it to the upstream.
    core_forwards: bool,
}

const fn step(edge: usize, account: u32, quality: u64, edge_fw: bool, core_fw: bool) -> Step {
    Step {
        edge,
        account,
        quality,
        edge_forwards: edge_fw,
        core_forwards: core_fw,
    }
}

/// Two edges, two accounts. Every step waits until all levels have dealt with it, so what the
/// core has seen is known before the next step.
const SCENARIO: [Step; 7] = [
    step(0, 1, 1_000_000, true, true),
    // Worse than edge 0's best: stops at the edge.
    step(0, 1, 2_000_000, false, false),
    // Edge 1's first for the account, but worse than what the core holds: stops at the core.
    step(1, 1, 1_500_000, true, false),
    step(1, 1, 500_000, true, true),
    // Better than edge 0's own best, not than the core's (from edge 1).
    step(0, 1, 700_000, true, false),
    step(0, 2, 3_000_000, true, true),
    // Equal is not better.
    step(1, 2, 3_000_000, true, false),
];

#[test]
fn two_level_chain_filters_at_both_levels_and_agrees_on_poc_time() {
    let mut core = Farm::start();
    let round = core.wait_for_round();
    let mut edges = [Edge::start(&core, "edge-0"), Edge::start(&core, "edge-1")];
    for edge in &edges {
        edge.wait_for_round(&round);
        // Two levels of cache pass the upstream's round through untouched, extra fields too.
        assert_eq!(
            edge.rpc("get_mining_info", json!({}))["result"],
            core.rpc("get_mining_info", json!({}))["result"]
        );
    }

    let mut miner_answers: BTreeMap<(String, u64), u64> = BTreeMap::new();
    let mut edge_submissions = [0u64; 2];
    let mut edge_forwarded = [0u64; 2];
    let (mut core_submissions, mut core_forwarded) = (0u64, 0u64);
    for s in &SCENARIO {
        let edge = &edges[s.edge];
        let answer = edge.rpc(
            "submit_nonce",
            Farm::submission(&round, &account(s.account), s.quality),
        );
        let result = &answer["result"];
        assert_eq!(result["raw_quality"], s.quality, "{answer}");
        let expected = poc_time(s.quality, round.base_target, 120).unwrap();
        assert_eq!(result["poc_time"], expected, "{answer}");
        miner_answers.insert((account(s.account), s.quality), expected);
        edge_submissions[s.edge] += 1;
        edge_forwarded[s.edge] += u64::from(s.edge_forwards);
        core_submissions += u64::from(s.edge_forwards);
        core_forwarded += u64::from(s.core_forwards);
        wait_until(Duration::from_secs(10), || {
            edges[s.edge].settled(edge_forwarded[s.edge])
                && core.stats()["totals"]["submissions"] == core_submissions
                && core.upstream.submissions().len() as u64 == core_forwarded
        });
    }

    // Only the core's improvements reached the upstream, each once, accepted, with the poc_time
    // the miner was told.
    let reached: Vec<(String, u64, u64)> = core
        .upstream
        .submissions()
        .iter()
        .map(|r| match (&r.submission, &r.answer) {
            (Some(s), RecordedAnswer::Accepted { poc_time, .. }) => {
                (s.account_id.clone(), s.raw_quality, *poc_time)
            }
            other => panic!("upstream answered {other:?}"),
        })
        .collect();
    let expected_reached: Vec<(String, u64, u64)> = SCENARIO
        .iter()
        .filter(|s| s.core_forwards)
        .map(|s| {
            let key = (account(s.account), s.quality);
            (key.0.clone(), key.1, miner_answers[&key])
        })
        .collect();
    assert_eq!(reached, expected_reached);

    let core_stats = core.stats();
    assert_eq!(core_stats["totals"]["submissions"], core_submissions);
    assert_eq!(
        core_stats["upstream"]["forwards"]["accepted"],
        core_forwarded
    );
    for (index, edge) in edges.iter().enumerate() {
        let stats = edge.stats();
        assert_eq!(stats["totals"]["submissions"], edge_submissions[index]);
        // The core answers success to everything valid, forwarded upstream or not.
        assert_eq!(
            stats["upstream"]["forwards"]["accepted"],
            edge_forwarded[index]
        );
    }

    // What the core answered each edge, and what the upstream answered the core, as the two
    // levels recorded it: the same poc_time the miner got.
    core.stop_app();
    let core_outcomes = accepted_outcomes(&core.config.database.path);
    assert_eq!(core_outcomes.len() as u64, core_forwarded);
    for (key, upstream_poc) in &core_outcomes {
        assert_eq!(Some(upstream_poc), miner_answers.get(key), "{key:?}");
    }
    for (index, edge) in edges.iter_mut().enumerate() {
        edge.stop();
        let outcomes = accepted_outcomes(&edge.db);
        assert_eq!(outcomes.len() as u64, edge_forwarded[index]);
        for (key, core_poc) in &outcomes {
            assert_eq!(Some(core_poc), miner_answers.get(key), "{key:?}");
        }
    }
}

#[test]
fn a_new_round_travels_down_the_chain_and_its_submissions_up() {
    let core = Farm::start();
    let first = core.wait_for_round();
    let edge = Edge::start(&core, "edge-rounds");
    edge.wait_for_round(&first);
    let answer = edge.rpc(
        "submit_nonce",
        Farm::submission(&first, &account(5), 4_000_000),
    );
    assert!(answer["result"]["poc_time"].is_u64(), "{answer}");
    wait_until(Duration::from_secs(10), || {
        core.upstream.submissions().len() == 1
    });

    let second = core.upstream.new_round();
    core.wait_for_round();
    edge.wait_for_round(&second);
    // Worse than round one's best, but a new round starts from scratch at both levels.
    let answer = edge.rpc(
        "submit_nonce",
        Farm::submission(&second, &account(5), 8_000_000),
    );
    assert!(answer["result"]["poc_time"].is_u64(), "{answer}");
    wait_until(Duration::from_secs(10), || {
        core.upstream.submissions().len() == 2
    });
    let last = core.upstream.submissions().pop().unwrap();
    let submission = last.submission.unwrap();
    assert_eq!(submission.height, second.height);
    assert_eq!(submission.raw_quality, 8_000_000);
    assert!(last.answer.is_accepted());

    // The previous round is still within the window at both levels: a late improvement for it
    // is answered, and passed on, and the upstream (which has moved on) rejects it.
    let late = edge.rpc("submit_nonce", Farm::submission(&first, &account(5), 1_000));
    assert!(late["result"]["poc_time"].is_u64(), "{late}");
    wait_until(Duration::from_secs(10), || {
        core.upstream.submissions().len() == 3
    });
    let stale = core.upstream.submissions().pop().unwrap();
    assert_eq!(stale.answer, RecordedAnswer::RpcError(-32002));
    wait_until(Duration::from_secs(10), || {
        core.stats()["upstream"]["forwards"]["rejected"] == 1
    });
}
