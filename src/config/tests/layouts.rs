//! Defaults, the seed's layout, the PoCX aggregator's layout, and the shipped example file.

use std::path::PathBuf;
use std::time::Duration;

use super::{load, MINIMAL};
use crate::config::{defaults, BasicCredentials, Config, SubmissionMode, UpstreamAuth};

#[test]
fn only_upstream_url_gives_every_default() {
    let config = load(MINIMAL);
    assert_eq!(config.listen_address, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(config.block_time_secs, 120);
    assert_eq!(config.server.workers, 4);
    assert_eq!(config.server.auth, None);
    assert_eq!(config.server.max_requests_per_second_per_ip, None);
    assert_eq!(config.server.max_connections_per_ip, None);
    assert_eq!(config.upstream.name, "primary-pool");
    assert_eq!(config.upstream.url, "http://pool.example.com:8080/pocx");
    assert_eq!(config.upstream.auth, UpstreamAuth::None);
    assert_eq!(config.upstream.submission_mode, SubmissionMode::Pool);
    assert!(!config.upstream.verify_submissions);
    let backoff: Vec<u64> = config
        .upstream
        .retry_backoff
        .iter()
        .map(Duration::as_secs)
        .collect();
    assert_eq!(backoff, vec![1, 2, 4, 8, 16]);
    assert_eq!(config.upstream.forward_connections, 4);
    assert_eq!(config.cache.mining_info_ttl, Duration::from_secs(5));
    assert_eq!(config.cache.pool_timeout, Duration::from_secs(30));
    assert_eq!(config.cache.refresh_interval, Duration::from_millis(1000));
    assert_eq!(config.database.path, PathBuf::from("aggregator.db"));
    assert_eq!(config.database.retention_days, 7);
    assert_eq!(config.database.batch_window, Duration::from_millis(1000));
    assert!(
        !config.dashboard.enabled,
        "no dashboard section, no dashboard"
    );
    assert_eq!(
        config.dashboard.listen_address,
        "0.0.0.0:8081".parse().unwrap()
    );
    assert_eq!(config.dashboard.auth, None);
    assert!(
        config.server.stats_on_miner_port,
        "stats go on the miner port without a dashboard"
    );
    assert_eq!(config.logging.level, log::LevelFilter::Info);
    assert_eq!(config.logging.file, Some(PathBuf::from("aggregator.log")));
}

#[test]
fn with_upstream_url_equals_the_minimal_file() {
    let built = Config::with_upstream_url("http://pool.example.com:8080/pocx").unwrap();
    assert_eq!(built, load(MINIMAL));
    assert!(Config::with_upstream_url("ftp://pool.example.com").is_err());
}

#[test]
fn defaults_module_matches_loaded_defaults() {
    let config = load(MINIMAL);
    assert_eq!(config.listen_address.to_string(), defaults::LISTEN_ADDRESS);
    assert_eq!(config.block_time_secs, defaults::BLOCK_TIME_SECS);
    assert_eq!(config.upstream.name, defaults::UPSTREAM_NAME);
    assert_eq!(
        config.dashboard.listen_address.to_string(),
        defaults::DASHBOARD_LISTEN_ADDRESS
    );
}

#[test]
fn dashboard_section_enables_the_dashboard_by_default() {
    let config = load(&format!(
        "{MINIMAL}dashboard:\n  listen_address: 127.0.0.1:9000\n"
    ));
    assert!(config.dashboard.enabled);
    assert!(!config.server.stats_on_miner_port);
    assert_eq!(
        config.dashboard.listen_address,
        "127.0.0.1:9000".parse().unwrap()
    );
    let empty_section = load(&format!("{MINIMAL}dashboard: {{}}\n"));
    assert!(empty_section.dashboard.enabled);
    let off = load(&format!("{MINIMAL}dashboard:\n  enabled: false\n"));
    assert!(!off.dashboard.enabled);
    assert!(off.server.stats_on_miner_port);
}

#[test]
fn seed_layout_with_every_key() {
    let yaml = r#"
listen_address: "127.0.0.1:9090"
block_time_secs: 240
server:
  workers: 8
  auth:
    enabled: true
    basic_auth: { username: miner, password: "s3cret" }
  max_requests_per_second_per_ip: 50
  max_connections_per_ip: 16
  stats_on_miner_port: true
upstream:
  name: "solo"
  url: "https://wallet.example.com/rpc"
  auth_token: "tok"
  submission_mode: WALLET
  verify_submissions: true
  retry_backoff_secs: [3, 5]
  forward_connections: 2
cache: { mining_info_ttl_secs: 9, pool_timeout_secs: 11, refresh_interval_ms: 250 }
database: { path: "/var/lib/agg/history.db", retention_days: 0, batch_ms: 1000 }
dashboard:
  enabled: true
  listen_address: "127.0.0.1:9091"
  auth: { username: admin, password: pw }
logging: { level: Debug, file: "" }
"#;
    let config = load(yaml);
    assert_eq!(config.listen_address, "127.0.0.1:9090".parse().unwrap());
    assert_eq!(config.block_time_secs, 240);
    assert_eq!(config.server.workers, 8);
    let miner = BasicCredentials {
        username: "miner".into(),
        password: "s3cret".into(),
    };
    assert_eq!(config.server.auth, Some(miner));
    assert_eq!(config.server.max_requests_per_second_per_ip, Some(50));
    assert_eq!(config.server.max_connections_per_ip, Some(16));
    assert!(config.server.stats_on_miner_port);
    assert_eq!(config.upstream.name, "solo");
    assert_eq!(config.upstream.auth, UpstreamAuth::Token("tok".into()));
    assert_eq!(config.upstream.submission_mode, SubmissionMode::Wallet);
    assert!(config.upstream.verify_submissions);
    assert_eq!(
        config.upstream.retry_backoff,
        vec![Duration::from_secs(3), Duration::from_secs(5)]
    );
    assert_eq!(config.upstream.forward_connections, 2);
    assert_eq!(config.cache.mining_info_ttl, Duration::from_secs(9));
    assert_eq!(config.cache.pool_timeout, Duration::from_secs(11));
    assert_eq!(config.cache.refresh_interval, Duration::from_millis(250));
    assert_eq!(config.database.retention_days, 0);
    assert_eq!(config.database.batch_window, Duration::from_secs(1));
    assert_eq!(
        config.database.path,
        PathBuf::from("/var/lib/agg/history.db")
    );
    let admin = BasicCredentials {
        username: "admin".into(),
        password: "pw".into(),
    };
    assert_eq!(config.dashboard.auth, Some(admin));
    assert_eq!(config.logging.level, log::LevelFilter::Debug);
    assert_eq!(config.logging.file, None);
}

#[test]
fn pocx_aggregator_layout_is_accepted_unchanged() {
    // The PoCX aggregator's own example file, as its users have it.
    let yaml = r#"
server:
  listen_address: "0.0.0.0:8080"
  auth:
    enabled: false
upstream:
  name: "primary_pool"
  rpc_transport: http
  rpc_host: "pool.example.com"
  rpc_port: 8080
  rpc_auth:
    type: none
  submission_mode: pool
  block_time_secs: 120
cache:
  mining_info_ttl_secs: 5
  pool_timeout_secs: 30
database:
  path: "aggregator.db"
  retention_days: 7
dashboard:
  enabled: true
  listen_address: "0.0.0.0:8081"
logging:
  level: "info"
  file: "aggregator.log"
"#;
    let config = load(yaml);
    assert_eq!(config.upstream.url, "http://pool.example.com:8080");
    assert_eq!(config.upstream.name, "primary_pool");
    assert_eq!(config.upstream.auth, UpstreamAuth::None);
    assert_eq!(config.block_time_secs, 120);
    assert_eq!(config.listen_address, "0.0.0.0:8080".parse().unwrap());
    assert!(config.dashboard.enabled);
}

#[test]
fn rpc_auth_user_pass_and_cookie() {
    let user_pass = load(
        "upstream:\n  rpc_transport: https\n  rpc_host: pool.pocx.io\n  rpc_port: 443\n  rpc_auth:\n    type: user_pass\n    username: agg\n    password: pw\n",
    );
    assert_eq!(user_pass.upstream.url, "https://pool.pocx.io:443");
    let credentials = BasicCredentials {
        username: "agg".into(),
        password: "pw".into(),
    };
    assert_eq!(user_pass.upstream.auth, UpstreamAuth::UserPass(credentials));

    let cookie = load(
        "upstream:\n  rpc_host: 127.0.0.1\n  rpc_port: 18332\n  rpc_auth: { type: cookie, cookie_path: /home/u/.bitcoin/.cookie }\n",
    );
    assert_eq!(cookie.upstream.url, "http://127.0.0.1:18332");
    let path = PathBuf::from("/home/u/.bitcoin/.cookie");
    assert_eq!(cookie.upstream.auth, UpstreamAuth::Cookie(path));
}

#[test]
fn rpc_keys_take_their_defaults() {
    let only_port = load("upstream:\n  rpc_port: 9000\n");
    assert_eq!(only_port.upstream.url, "http://127.0.0.1:9000");
    let ipv6 = load("upstream:\n  rpc_host: \"::1\"\n");
    assert_eq!(ipv6.upstream.url, "http://[::1]:8080");
}

#[test]
fn url_with_rpc_auth_mixes_layouts_without_conflict() {
    let config = load(
        "upstream:\n  url: http://127.0.0.1:8332/\n  rpc_auth: { type: user_pass, username: u, password: p }\n",
    );
    assert!(matches!(config.upstream.auth, UpstreamAuth::UserPass(_)));
}

#[test]
fn empty_retry_list_means_no_retries() {
    let config = load(&format!("{MINIMAL}  retry_backoff_secs: []\n"));
    assert!(config.upstream.retry_backoff.is_empty());
}

#[test]
fn null_values_count_as_not_given() {
    let config = load(&format!(
        "block_time_secs: ~\ncache:\n{MINIMAL}  auth_token: ~\n"
    ));
    assert_eq!(config.block_time_secs, 120);
    assert_eq!(config.upstream.auth, UpstreamAuth::None);
    assert_eq!(config.cache.pool_timeout, Duration::from_secs(30));
}

#[test]
fn null_log_file_turns_file_logging_off() {
    let config = load(&format!("{MINIMAL}logging:\n  file: ~\n"));
    assert_eq!(config.logging.file, None);
}

#[test]
fn log_levels_in_any_case() {
    for (text, level) in [
        ("off", log::LevelFilter::Off),
        ("ERROR", log::LevelFilter::Error),
        ("Warn", log::LevelFilter::Warn),
        ("info", log::LevelFilter::Info),
        ("dEbUg", log::LevelFilter::Debug),
        ("trace", log::LevelFilter::Trace),
    ] {
        let config = load(&format!("{MINIMAL}logging:\n  level: {text}\n"));
        assert_eq!(config.logging.level, level, "level {text}");
    }
}

#[test]
fn anchors_and_merge_keys_are_resolved() {
    let yaml = "credentials: &creds\n  username: u\n  password: p\n";
    // A stray top-level key is still an error, so define the anchor inside a known section.
    assert!(super::from_yaml_str(yaml).is_err());
    let config = load(
        "server:\n  auth:\n    enabled: true\n    basic_auth: &creds { username: u, password: p }\ndashboard:\n  auth:\n    <<: *creds\n  listen_address: 127.0.0.1:0\nupstream: { url: 'http://h' }\n",
    );
    assert_eq!(config.dashboard.auth, config.server.auth);
}

#[test]
fn port_zero_listeners_never_clash() {
    let config = load(&format!(
        "listen_address: 127.0.0.1:0\ndashboard:\n  listen_address: 127.0.0.1:0\n{MINIMAL}"
    ));
    assert!(config.dashboard.enabled);
}

#[test]
fn shipped_example_file_loads() {
    let config = load(include_str!("../../../aggregator_config.yaml"));
    assert_eq!(config.upstream.url, "http://pool.example.com:8080/pocx");
    assert!(config.dashboard.enabled);
}

#[test]
fn shipped_example_layout_b_block_loads_when_uncommented() {
    let shipped = include_str!("../../../aggregator_config.yaml");
    let (_, layout_b) = shipped
        .split_once("\n# server:\n#   listen_address")
        .unwrap();
    let block = format!("# server:\n#   listen_address{layout_b}");
    let yaml: String = block
        .lines()
        .map(|line| {
            line.strip_prefix("# ")
                .or(line.strip_prefix('#'))
                .unwrap_or(line)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let config = load(&yaml);
    assert_eq!(config.upstream.url, "http://pool.example.com:8080");
    assert_eq!(config.upstream.name, "primary_pool");
    assert_eq!(config.upstream.auth, UpstreamAuth::None);
}
