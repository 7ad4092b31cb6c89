//! The command serving for real, in either configuration layout, against a simulated upstream
//! in the test process; stopped by SIGINT or SIGTERM, it must exit 0 within 2 s with its history
//! written. The binary must be told its port: a free one is picked and retried if taken.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use pocx_aggregator::sim::{SimUpstream, SimUpstreamConfig};
use pocx_aggregator::store::load_history;

use crate::support::binary::Running;
use crate::support::{self, account, Farm};

/// Waits until the aggregator at `running` serves the upstream's current round.
fn wait_for_round(running: &Running, upstream: &SimUpstream) -> Value {
    let agent = support::agent();
    let want = upstream.current_round();
    let body = json!({"jsonrpc": "2.0", "method": "get_mining_info", "id": 1}).to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, text) = support::post(&agent, &running.url(""), &body, &[]);
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if answer["result"]["block_hash"] == want.block_hash {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "round not served: {answer} {}",
            running.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Submits one nonce as machine `machine` and waits until the upstream has it.
fn submit_and_wait(running: &Running, upstream: &SimUpstream, machine: &str) {
    let round = upstream.current_round();
    let body = json!({"jsonrpc": "2.0", "method": "submit_nonce", "id": 2,
                      "params": Farm::submission(&round, &account(5), 9_000_000_000)});
    let (status, text) = support::post(
        &support::agent(),
        &running.url(""),
        &body.to_string(),
        &[("X-Miner", machine)],
    );
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("poc_time"), "{text}");
    support::wait_until(Duration::from_secs(5), || {
        upstream
            .submissions()
            .iter()
            .any(|s| s.answer.is_accepted())
    });
}

/// Checks what the history file holds after an orderly stop.
fn assert_history_flushed(db: &Path, machine: &str) {
    assert!(db.is_file(), "no database at {}", db.display());
    let history = load_history(db, 0).unwrap();
    assert!(
        history.machines.iter().any(|m| m.key == machine),
        "{machine} not in the stored history"
    );
    assert!(
        history.outcomes.iter().any(|o| o.account_id == account(5)),
        "the forward's outcome is not stored"
    );
}

#[test]
fn aggregator_layout_runs_end_to_end_and_stops_on_sigint() {
    // `farm:pw-Rk8` as Basic credentials.
    let upstream = SimUpstream::start(SimUpstreamConfig {
        require_auth: Some("Basic ZmFybTpwdy1Sazg=".into()),
        ..Default::default()
    })
    .unwrap();
    let sim_port = upstream.addr().port();
    let mut running = Running::start("cli-layout-b", |port, dir| {
        format!(
            r#"
server:
  listen_address: "127.0.0.1:{port}"
upstream:
  name: "sim-pool"
  rpc_transport: http
  rpc_host: "127.0.0.1"
  rpc_port: {sim_port}
  rpc_auth:
    type: user_pass
    username: farm
    password: pw-Rk8
  submission_mode: pool
  block_time_secs: 120
cache:
  refresh_interval_ms: 100
database:
  path: "{}"
logging:
  level: info
  file: ~
"#,
            dir.join("history.db").display()
        )
    });
    wait_for_round(&running, &upstream);
    submit_and_wait(&running, &upstream, "cli-rig-b");

    let (status, took) = running.stop_with("INT");
    eprintln!("exit after SIGINT took {took:?}");
    assert_eq!(status.code(), Some(0), "{}", running.log());
    assert!(took < Duration::from_secs(2), "exit took {took:?}");
    assert_history_flushed(&running.dir.path().join("history.db"), "cli-rig-b");

    let log = running.log();
    let startup = log
        .lines()
        .find(|l| l.contains("listening for miners on"))
        .unwrap_or_else(|| panic!("no startup line in:\n{log}"));
    assert!(
        startup.contains(&format!("127.0.0.1:{}", running.port)),
        "{startup}"
    );
    assert!(
        startup.contains(&format!("127.0.0.1:{sim_port}")),
        "{startup}"
    );
    assert!(startup.contains("sim-pool"), "{startup}");
    assert!(startup.contains("pool mode"), "{startup}");
    assert!(!log.contains("pw-Rk8"), "password in the log:\n{log}");
}

#[test]
fn seed_layout_runs_end_to_end_and_stops_on_sigterm() {
    let upstream = SimUpstream::start(SimUpstreamConfig::default()).unwrap();
    let sim_url = upstream.url();
    let mut running = Running::start("cli-layout-a", |port, dir| {
        format!(
            r#"
listen_address: "127.0.0.1:{port}"
upstream:
  name: "sim-wallet"
  url: "{sim_url}?api_key=key-SECRET-5"
  submission_mode: wallet
cache:
  refresh_interval_ms: 100
database:
  path: "{}"
logging:
  file: ~
"#,
            dir.join("history.db").display()
        )
    });
    wait_for_round(&running, &upstream);
    submit_and_wait(&running, &upstream, "cli-rig-a");

    let (status, took) = running.stop_with("TERM");
    eprintln!("exit after SIGTERM took {took:?}");
    assert_eq!(status.code(), Some(0), "{}", running.log());
    assert!(took < Duration::from_secs(2), "exit took {took:?}");
    assert_history_flushed(&running.dir.path().join("history.db"), "cli-rig-a");

    let log = running.log();
    let startup = log
        .lines()
        .find(|l| l.contains("listening for miners on"))
        .unwrap_or_else(|| panic!("no startup line in:\n{log}"));
    assert!(
        startup.contains(&format!("127.0.0.1:{}", running.port)),
        "{startup}"
    );
    assert!(startup.contains("wallet mode"), "{startup}");
    assert!(
        startup.contains(&format!("{}", upstream.addr())),
        "{startup}"
    );
    assert!(!log.contains("key-SECRET-5"), "secret in the log:\n{log}");
}

#[test]
fn upstream_refusing_credentials_is_logged_loudly() {
    let upstream = SimUpstream::start(SimUpstreamConfig {
        require_auth: Some("Bearer right-token".into()),
        ..Default::default()
    })
    .unwrap();
    let sim_url = upstream.url();
    let mut running = Running::start("cli-401", |port, dir| {
        format!(
            r#"
listen_address: "127.0.0.1:{port}"
upstream:
  url: "{sim_url}"
  auth_token: "wrong-token-S3"
cache:
  refresh_interval_ms: 100
database:
  path: "{}"
logging:
  file: ~
"#,
            dir.join("history.db").display()
        )
    });
    support::wait_until(Duration::from_secs(5), || {
        running.log().contains("refused our credentials")
    });
    let log = running.log();
    let line = log
        .lines()
        .find(|l| l.contains("refused our credentials"))
        .unwrap();
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("401"), "{line}");
    // Logged once for the outage, not once per poll: two more polls are refused meanwhile.
    let polls = upstream.mining_info_calls();
    support::wait_until(Duration::from_secs(5), || {
        upstream.mining_info_calls() >= polls + 2
    });
    let lines = running.log();
    let lines = lines
        .lines()
        .filter(|l| l.contains("refused our credentials"));
    assert_eq!(lines.count(), 1, "{}", running.log());
    assert!(!running.log().contains("wrong-token-S3"));
    let (status, _) = running.stop_with("TERM");
    assert_eq!(status.code(), Some(0), "{}", running.log());
}
