//! `kill -9` in the middle of a burst, then a restart: the file is intact, statistics come
//! back from it, and miners are served again within a second.

use std::collections::BTreeMap;
use std::time::Duration;

use pocx_aggregator::sim::{SimUpstream, SimUpstreamConfig};
use serde_json::json;

use super::Burst;
use super::{call, integrity, open_db, stored_submissions, Aggregator};
use crate::support::{account, agent_with_timeout, eventually, Farm, TempDir};

/// Submissions made before the burst, all confirmed written before the kill.
const CONFIRMED: u64 = 120;

/// Per account: the sum of its stored submission counts.
fn stored_per_account(db: &std::path::Path) -> BTreeMap<String, u64> {
    let conn = open_db(db);
    let mut statement = conn
        .prepare("SELECT account_id, SUM(submissions) FROM submissions GROUP BY account_id")
        .unwrap();
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .unwrap();
    rows.map(|row| {
        let (account, count) = row.unwrap();
        (account, u64::try_from(count).unwrap())
    })
    .collect()
}

#[test]
fn kill_9_mid_burst_then_restart_restores_statistics_and_serves_within_1_s() {
    let upstream = SimUpstream::start(SimUpstreamConfig::default()).unwrap();
    let dir = TempDir::new("kill9-restart");
    let db = dir.path().join("aggregator.db");
    let (mut aggregator, first_start) = Aggregator::start(dir.path(), &upstream.url(), &db);
    let round = upstream.current_round();

    // Known submissions, confirmed in the file before anything else happens.
    let agent = agent_with_timeout(Duration::from_secs(5));
    for n in 0..CONFIRMED {
        let index = u32::try_from(n % 4).unwrap() + 1;
        let params = Farm::submission(&round, &account(index), 5_000_000 - n);
        let answer = call(
            &agent,
            &aggregator.url,
            "submit_nonce",
            params,
            Some("rig-a"),
        );
        assert!(answer.unwrap()["result"]["poc_time"].is_u64());
    }
    let confirmed = eventually(Duration::from_secs(10), || {
        stored_submissions(&db) == CONFIRMED
    });
    assert!(confirmed, "only {} rows written", stored_submissions(&db));

    // Then a burst, killed in the middle.
    let burst = Burst::start(&aggregator.url, &round, 4, 5);
    let going = eventually(Duration::from_secs(20), || burst.answered() >= 300);
    assert!(going, "the burst got only {} answers", burst.answered());
    aggregator.kill9();
    let (answered, sent) = burst.finish();

    assert_eq!(integrity(&db), "ok");
    let per_account = stored_per_account(&db);
    let stored: u64 = per_account.values().sum();
    for index in 1..=4 {
        assert_eq!(
            per_account.get(&account(index)).copied(),
            Some(CONFIRMED / 4),
            "account {index}"
        );
    }
    // The last batch before the kill may be lost; nothing else, and nothing never sent.
    assert!(
        stored >= CONFIRMED && stored <= CONFIRMED + sent,
        "{stored} stored"
    );

    let (restarted, service_after) = aggregator.restart();
    let stats = restarted.get("/stats");
    println!(
        "kill -9: first start served after {} ms; {CONFIRMED} confirmed + {answered} burst \
         submissions answered, {stored} stored when killed; restart served mining info after {} ms",
        first_start.as_millis(),
        service_after.as_millis()
    );
    assert!(
        service_after < Duration::from_secs(1),
        "restart to first get_mining_info took {service_after:?}"
    );
    assert_eq!(stats["totals"]["submissions"], json!(stored), "{stats}");
    let accounts = stats["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), per_account.len(), "{stats}");
    for (account_id, count) in &per_account {
        let listed = accounts
            .iter()
            .find(|a| a["account"] == json!(account_id))
            .unwrap_or_else(|| panic!("account {account_id} missing after restart: {stats}"));
        assert_eq!(listed["submissions"], json!(count), "{account_id}");
    }
    let machines = stats["machines"].as_array().unwrap();
    assert!(machines.iter().any(|m| m["machine"] == "rig-a"), "{stats}");
}
