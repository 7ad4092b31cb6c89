//! Values of the right type that break a rule: ranges, addresses, URLs, choices, credentials.
//! Each error names its full key path.

use super::{message, reject, with, MINIMAL};
use crate::config::{ConfigError, Problem};

#[test]
fn zero_timeout_names_its_key() {
    assert_eq!(
        message(&with("cache:\n  pool_timeout_secs: 0\n")),
        "config key `cache.pool_timeout_secs`: must be greater than 0"
    );
}

#[test]
fn out_of_range_values_name_their_keys() {
    let cases = [
        (
            "block_time_secs: 0\n",
            "block_time_secs",
            "must be greater than 0",
        ),
        (
            "cache:\n  mining_info_ttl_secs: 0\n",
            "cache.mining_info_ttl_secs",
            "must be greater than 0",
        ),
        (
            "cache:\n  refresh_interval_ms: 0\n",
            "cache.refresh_interval_ms",
            "must be from 10 to 3600000",
        ),
        (
            "database:\n  batch_ms: 5\n",
            "database.batch_ms",
            "must be from 10 to 10000",
        ),
        (
            "server:\n  workers: 0\n",
            "server.workers",
            "must be greater than 0",
        ),
        (
            "server:\n  workers: 257\n",
            "server.workers",
            "must be from 1 to 256",
        ),
        (
            "server:\n  max_connections_per_ip: 0\n",
            "server.max_connections_per_ip",
            "must be greater than 0",
        ),
        (
            "upstream:\n  url: http://h\n  forward_connections: 65\n",
            "upstream.forward_connections",
            "must be from 1 to 64",
        ),
        (
            "upstream:\n  url: http://h\n  retry_backoff_secs: [1, 0]\n",
            "upstream.retry_backoff_secs[1]",
            "must be greater than 0",
        ),
        (
            "upstream:\n  url: http://h\n  retry_backoff_secs: [1, -2]\n",
            "upstream.retry_backoff_secs[1]",
            "must be greater than 0",
        ),
        (
            "database:\n  retention_days: -1\n",
            "database.retention_days",
            "must be from 0 to 4294967295",
        ),
        (
            "database:\n  retention_days: 4294967296\n",
            "database.retention_days",
            "must be from 0 to 4294967295",
        ),
        (
            "upstream:\n  rpc_port: 70000\n",
            "upstream.rpc_port",
            "must be from 1 to 65535",
        ),
    ];
    for (yaml, key, rule) in cases {
        let full = format!(
            "{yaml}{}",
            if yaml.contains("upstream") {
                ""
            } else {
                MINIMAL
            }
        );
        assert_eq!(
            message(&full),
            format!("config key `{key}`: {rule}"),
            "{yaml:?}"
        );
    }
}

#[test]
fn head_limits_have_defaults_ranges_and_fit_in_the_head() {
    let config = super::load(MINIMAL);
    assert_eq!(
        config.server.head_limits,
        crate::server::HeadLimits::default()
    );
    assert_eq!(config.server.head_limits.max_head, 65_536);
    let set = "server:\n  max_request_line_bytes: 4096\n  max_header_field_bytes: 2048\n  \
               max_header_fields: 50\n  max_head_bytes: 32768\n";
    let limits = super::load(&with(set)).server.head_limits;
    let expected = (4096, 2048, 50, 32768);
    let got = (
        limits.max_request_line,
        limits.max_field_line,
        limits.max_fields,
        limits.max_head,
    );
    assert_eq!(got, expected);
    assert_eq!(
        message(&with("server:\n  max_header_fields: 2\n")),
        "config key `server.max_header_fields`: must be from 8 to 10000"
    );
    assert_eq!(
        message(&with("server:\n  max_head_bytes: 10\n")),
        "config key `server.max_head_bytes`: must be from 1024 to 4194304"
    );
    assert_eq!(
        message(&with(
            "server:\n  max_header_field_bytes: 20000\n  max_head_bytes: 16384\n"
        )),
        "config key `server.max_header_field_bytes`: must not be larger than \
         `server.max_head_bytes` (16384)"
    );
}

#[test]
fn retention_days_accepts_the_whole_u32_range() {
    let config = super::load(&with("database:\n  retention_days: 4294967295\n"));
    assert_eq!(config.database.retention_days, u32::MAX);
}

#[test]
fn bad_addresses_name_their_keys() {
    let text = message(&with("listen_address: localhost:8080\n"));
    assert!(
        text.starts_with("config key `listen_address`: expected an IP address and port"),
        "{text}"
    );
    let text = message(&with("dashboard:\n  listen_address: \"0.0.0.0\"\n"));
    assert!(
        text.starts_with("config key `dashboard.listen_address`: "),
        "{text}"
    );
    let text = message(&with("server:\n  listen_address: \":80\"\n"));
    assert!(
        text.starts_with("config key `server.listen_address`: "),
        "{text}"
    );
}

#[test]
fn dashboard_on_the_miner_port_is_rejected() {
    let text = message(&with(
        "listen_address: 0.0.0.0:8080\ndashboard:\n  listen_address: 127.0.0.1:8080\n",
    ));
    assert!(
        text.starts_with("config key `dashboard.listen_address`: must differ"),
        "{text}"
    );
    // A disabled dashboard may keep any address.
    super::load(&with(
        "dashboard:\n  enabled: false\n  listen_address: 0.0.0.0:8080\n",
    ));
}

#[test]
fn bad_urls_name_the_key_and_the_rule() {
    let cases = [
        (
            "ftp://pool.example.com",
            "must start with http:// or https://",
        ),
        ("pool.example.com:8080", "expected a URL"),
        ("http://", "must name a host"),
        ("http:///pocx", "must name a host"),
        ("http://pool.example.com:0/", "port"),
        ("http://pool.example.com:99999/", "port"),
        ("http://pool.example.com:80a/", "port"),
        ("http://pool example.com/", "spaces"),
        ("http://[::g]:80/", "IPv6"),
        ("http://po%ol/", "host name"),
        ("", "must not be empty"),
    ];
    for (url, rule) in cases {
        let text = message(&format!("upstream:\n  url: \"{url}\"\n"));
        assert!(
            text.starts_with("config key `upstream.url`: "),
            "{url:?} gave {text}"
        );
        assert!(text.contains(rule), "{url:?} gave {text}");
    }
}

#[test]
fn good_urls_are_accepted() {
    for url in [
        "http://pool.example.com",
        "HTTPS://pool.example.com:443/pocx?x=1",
        "http://user:pw@10.0.0.2:8080/",
        "http://[::1]:8332",
        "http://my_host.lan/",
    ] {
        super::load(&format!("upstream:\n  url: \"{url}\"\n"));
    }
}

#[test]
fn bad_choices_list_the_accepted_values() {
    assert_eq!(
        message("upstream:\n  url: http://h\n  submission_mode: solo\n"),
        "config key `upstream.submission_mode`: must be one of pool, wallet, not `solo`"
    );
    let text = message(&with("logging:\n  level: verbose\n"));
    assert_eq!(
        text,
        "config key `logging.level`: must be one of off, error, warn, info, debug, trace, not `verbose`"
    );
    let text = message("upstream:\n  rpc_transport: tcp\n");
    assert!(
        text.starts_with("config key `upstream.rpc_transport`: must be one of http, https"),
        "{text}"
    );
}

#[test]
fn rpc_auth_problems_name_their_keys() {
    let cases = [
        (
            "rpc_auth: {type: cookie}",
            "upstream.rpc_auth.cookie_path",
            "required when `type` is cookie",
        ),
        (
            "rpc_auth: {type: user_pass, username: u}",
            "upstream.rpc_auth.password",
            "required",
        ),
        (
            "rpc_auth: {type: user_pass, password: p}",
            "upstream.rpc_auth.username",
            "required",
        ),
        (
            "rpc_auth: {username: u, password: p}",
            "upstream.rpc_auth.type",
            "required (none, user_pass or cookie)",
        ),
        (
            "rpc_auth: {type: none, password: p}",
            "upstream.rpc_auth.password",
            "not used with `type: none`",
        ),
        (
            "rpc_auth: {type: cookie, cookie_path: c, username: u}",
            "upstream.rpc_auth.username",
            "not used with `type: cookie`",
        ),
        (
            "rpc_auth: {type: token}",
            "upstream.rpc_auth.type",
            "must be one of none, user_pass, cookie, not `token`",
        ),
        (
            "rpc_auth: {type: user_pass, username: 'a:b', password: p}",
            "upstream.rpc_auth.username",
            "must not contain `:`",
        ),
    ];
    for (auth, key, rule) in cases {
        let text = message(&format!("upstream:\n  rpc_host: h\n  {auth}\n"));
        assert!(
            text.starts_with(&format!("config key `{key}`: {rule}")),
            "{auth:?} gave {text}"
        );
    }
}

#[test]
fn server_auth_enabled_needs_credentials() {
    let error = reject(&with("server:\n  auth:\n    enabled: true\n"));
    assert_eq!(error.key_path(), Some("server.auth.basic_auth"));
    assert!(matches!(
        error,
        ConfigError::Key {
            problem: Problem::Required { .. },
            ..
        }
    ));
    let text = message(&with(
        "server:\n  auth:\n    enabled: true\n    basic_auth: {username: u, password: \"\"}\n",
    ));
    assert_eq!(
        text,
        "config key `server.auth.basic_auth.password`: must not be empty"
    );
}

#[test]
fn dashboard_auth_needs_both_fields() {
    let text = message(&with("dashboard:\n  auth:\n    username: admin\n"));
    assert_eq!(text, "config key `dashboard.auth.password`: required");
}

#[test]
fn empty_strings_are_rejected_where_meaningless() {
    for (yaml, key) in [
        (
            "upstream:\n  url: http://h\n  auth_token: \"\"\n",
            "upstream.auth_token",
        ),
        (
            "upstream:\n  url: http://h\n  name: \"\"\n",
            "upstream.name",
        ),
        ("database:\n  path: \"\"\n", "database.path"),
    ] {
        let full = format!(
            "{yaml}{}",
            if yaml.contains("upstream") {
                ""
            } else {
                MINIMAL
            }
        );
        assert_eq!(
            message(&full),
            format!("config key `{key}`: must not be empty")
        );
    }
}
