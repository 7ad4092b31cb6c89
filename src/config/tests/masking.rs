//! Secrets never reach the summary, the startup line or a masked URL.

use super::load;
use crate::config::mask_url;

#[test]
fn mask_url_hides_user_info_and_query_values() {
    assert_eq!(
        mask_url("http://user:secret@pool.example.com:8080/pocx"),
        "http://***@pool.example.com:8080/pocx"
    );
    assert_eq!(
        mask_url("https://pool.example.com/pocx?key=abc&debug"),
        "https://pool.example.com/pocx?key=***&debug"
    );
    assert_eq!(
        mask_url("http://a:b@[::1]:80/x?t=1#frag"),
        "http://***@[::1]:80/x?t=***#frag"
    );
    assert_eq!(
        mask_url("http://pool.example.com"),
        "http://pool.example.com"
    );
}

#[test]
fn mask_url_on_text_that_is_not_a_url() {
    assert_eq!(mask_url("user:secret@host"), "***@host");
    assert_eq!(mask_url("plain"), "plain");
    assert_eq!(mask_url(""), "");
    assert_eq!(mask_url("http://[broken@x"), "http://***@x");
    assert_eq!(mask_url("http//a:b@c"), "***@c");
}

const WITH_SECRETS: &str = r#"
server:
  auth:
    enabled: true
    basic_auth: { username: miner, password: "miner-pass-1" }
upstream:
  url: "http://pooluser:url-pass-2@pool.example.com/pocx?apikey=query-secret-3"
  auth_token: "token-secret-4"
dashboard:
  listen_address: 127.0.0.1:9001
  auth: { username: admin, password: "dash-pass-5" }
"#;

const SECRETS: [&str; 5] = [
    "miner-pass-1",
    "url-pass-2",
    "query-secret-3",
    "token-secret-4",
    "dash-pass-5",
];

#[test]
fn summary_masks_every_secret_and_lists_every_setting() {
    let summary = load(WITH_SECRETS).masked_summary();
    for secret in SECRETS {
        assert!(!summary.contains(secret), "{secret} leaked:\n{summary}");
    }
    assert!(!summary.contains("pooluser"), "URL user leaked:\n{summary}");
    for expected in [
        "listen_address: 0.0.0.0:8080",
        "server.auth: username miner, password ***",
        "upstream.url: http://***@pool.example.com/pocx?apikey=***",
        "upstream.auth: token ***",
        "upstream.retry_backoff_secs: [1, 2, 4, 8, 16]",
        "cache.mining_info_ttl_secs: 5",
        "cache.refresh_interval_ms: 1000",
        "dashboard.auth: username admin, password ***",
        "database.retention_days: 7",
        "logging.level: info",
    ] {
        assert!(
            summary.lines().any(|line| line == expected),
            "missing {expected:?}:\n{summary}"
        );
    }
    assert!(summary.lines().count() >= 24, "{summary}");
}

#[test]
fn summary_masks_rpc_passwords_and_shows_cookie_paths() {
    let user_pass = load("upstream:\n  rpc_host: h\n  rpc_auth: {type: user_pass, username: agg, password: rpc-secret}\n");
    let summary = user_pass.masked_summary();
    assert!(!summary.contains("rpc-secret"), "{summary}");
    assert!(
        summary.contains("upstream.auth: user_pass, username agg, password ***"),
        "{summary}"
    );
    let cookie =
        load("upstream:\n  rpc_host: h\n  rpc_auth: {type: cookie, cookie_path: /data/.cookie}\n");
    assert!(cookie
        .masked_summary()
        .contains("upstream.auth: cookie file /data/.cookie"));
}

#[test]
fn startup_line_names_address_upstream_and_mode() {
    let line = load(WITH_SECRETS).startup_line();
    assert!(!line.contains('\n'));
    for secret in SECRETS {
        assert!(!line.contains(secret), "{secret} leaked: {line}");
    }
    assert!(line.contains("0.0.0.0:8080"), "{line}");
    assert!(
        line.contains("primary-pool at http://***@pool.example.com/pocx?apikey=***"),
        "{line}"
    );
    assert!(line.contains("pool mode"), "{line}");
    assert!(line.contains("dashboard on 127.0.0.1:9001"), "{line}");
}
