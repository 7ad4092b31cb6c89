//! Integration tests: the hourly history of the farm, a machine and an account, written to the
//! database, read back after a restart on the same file, and served by `GET /history` on the
//! miner port and the dashboard port.

use std::time::Duration;

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::support::{account, agent, get, post, wait_until, Farm};

const MACHINE: &str = "rig-history";

fn history(farm: &Farm, query: &str) -> (u16, Value) {
    let (status, body) = farm.get(&format!("/history?{query}"));
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Points of one subject's answer as (rounds, submissions, has a capacity).
fn points(doc: &Value) -> Vec<(u64, u64, bool)> {
    doc["points"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["rounds"].as_u64().unwrap_or(0),
                p["submissions"].as_u64().unwrap_or(0),
                p["capacity_tib"].as_f64().is_some_and(|c| c > 0.0),
            )
        })
        .collect()
}

fn totals(doc: &Value) -> (u64, u64) {
    points(doc)
        .iter()
        .fold((0, 0), |(r, s), p| (r + p.0, s + p.1))
}

/// Submits `per_round` qualities from `MACHINE` in each of `rounds` rounds, then finishes it.
fn mine_rounds(farm: &Farm, rounds: u64, per_round: u64) {
    let agent = agent();
    for _ in 0..rounds {
        let round = farm.wait_for_round();
        for i in 0..per_round {
            let body = json!({"jsonrpc": "2.0", "method": "submit_nonce", "id": 1,
                "params": Farm::submission(&round, &account(5), 1_000_000_000_000 - i * 1_000)});
            let (status, text) = post(
                &agent,
                &farm.url,
                &body.to_string(),
                &[("X-Miner", MACHINE)],
            );
            assert_eq!(status, 200, "{text}");
        }
        farm.upstream.new_round();
    }
}

#[test]
fn hourly_rows_are_written_survive_a_restart_and_are_served() {
    let mut farm = Farm::start();
    mine_rounds(&farm, 3, 4);
    // The round in progress is not finished: 3 rounds, 12 submissions.
    wait_until(Duration::from_secs(10), || {
        totals(&history(&farm, &format!("subject={MACHINE}")).1) == (3, 12)
    });
    let (status, machine) = history(&farm, &format!("subject={MACHINE}&range=7d"));
    assert_eq!(status, 200);
    assert_eq!(machine["kind"], "machine");
    assert_eq!(machine["range"], "7d");
    assert!(points(&machine).iter().all(|p| p.2), "{machine}");
    let (_, farm_doc) = history(&farm, "subject=farm");
    assert_eq!(farm_doc["kind"], "farm");
    assert_eq!(totals(&farm_doc), (3, 12));
    let (_, account_doc) = history(&farm, &format!("subject={}", account(5)));
    assert_eq!(account_doc["kind"], "account");
    assert_eq!(totals(&account_doc), (3, 12));

    farm.stop_app();
    let conn = Connection::open(&farm.config.database.path).unwrap();
    let rows: Vec<(String, String, i64, i64, f64)> = conn
        .prepare(
            "SELECT subject_kind, subject, SUM(rounds), SUM(submissions), MIN(capacity_tib)
             FROM hourly GROUP BY 1, 2 ORDER BY 1",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let kinds: Vec<(&str, &str, i64, i64)> = rows
        .iter()
        .map(|r| (r.0.as_str(), r.1.as_str(), r.2, r.3))
        .collect();
    let acc = account(5);
    assert_eq!(
        kinds,
        [
            ("account", acc.as_str(), 3, 12),
            ("farm", "farm", 3, 12),
            ("machine", MACHINE, 3, 12)
        ]
    );
    assert!(rows.iter().all(|r| r.4 > 0.0), "{rows:?}");
    drop(conn);

    farm.restart_app();
    let (_, again) = history(&farm, &format!("subject={MACHINE}&range=7d"));
    assert_eq!(points(&again), points(&machine), "{again} after {machine}");
    // New rounds add to the hour the restart found.
    mine_rounds(&farm, 1, 2);
    wait_until(Duration::from_secs(10), || {
        totals(&history(&farm, &format!("subject={MACHINE}")).1) == (4, 14)
    });
}

#[test]
fn history_answers_400_to_bad_parameters_and_nothing_for_unknown_subjects() {
    let farm = Farm::start_with(Default::default(), |cfg| {
        cfg.dashboard.enabled = true;
    });
    let dashboard = format!("http://{}", farm.app().dashboard_addr().unwrap());
    let agent = agent();
    for base in [farm.url.trim_end_matches('/'), dashboard.as_str()] {
        for (query, says) in [
            ("subject=farm&range=1y", "range must be 24h or 7d"),
            ("range=24h", "subject is missing"),
            ("subject=farm&kind=pool", "kind must be"),
        ] {
            let (status, body) = get(&agent, &format!("{base}/history?{query}"));
            assert_eq!(status, 400, "{base} {query}: {body}");
            assert!(body.contains(says), "{base} {query}: {body}");
        }
        let (status, body) = get(
            &agent,
            &format!("{base}/history?subject=no%20such%20rig&range=7d"),
        );
        assert_eq!(status, 200, "{body}");
        let doc: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["subject"], "no such rig");
        assert_eq!(doc["points"], json!([]));
        assert_eq!(doc["alerts"], json!([]));
    }
}
