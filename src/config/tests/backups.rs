//! `upstream.backup_urls`, `failover_after` and `failback_secs` in both layouts.

use std::path::PathBuf;
use std::time::Duration;

use super::{load, message, MINIMAL};
use crate::config::{BasicCredentials, UpstreamAuth, UpstreamEndpoint};

#[test]
fn no_backups_by_default() {
    let config = load(MINIMAL);
    assert!(config.upstream.backups.is_empty());
    assert_eq!(config.upstream.failover_after, 3);
    assert_eq!(config.upstream.failback, Duration::from_secs(60));
}

#[test]
fn backups_are_urls_or_mappings_with_their_own_credentials() {
    let config = load(
        "upstream:
  url: http://pool-a.example.com:8080/pocx
  auth_token: user:secret
  failover_after: 5
  failback_secs: 300
  backup_urls:
    - http://pool-b.example.com:8080/pocx
    - url: http://node.example.com:8332
      auth_token: bearer-token
    - url: https://wallet.example.com
      rpc_auth:
        type: user_pass
        username: miner
        password: pw
    - url: http://127.0.0.1:8332
      rpc_auth: {type: cookie, cookie_path: /var/lib/node/.cookie}
",
    );
    let upstream = &config.upstream;
    assert_eq!(upstream.failover_after, 5);
    assert_eq!(upstream.failback, Duration::from_secs(300));
    let endpoint = |url: &str, auth| UpstreamEndpoint {
        url: url.into(),
        auth,
    };
    let credentials = BasicCredentials {
        username: "miner".into(),
        password: "pw".into(),
    };
    assert_eq!(
        upstream.backups,
        vec![
            endpoint("http://pool-b.example.com:8080/pocx", UpstreamAuth::None),
            endpoint(
                "http://node.example.com:8332",
                UpstreamAuth::Token("bearer-token".into())
            ),
            endpoint(
                "https://wallet.example.com",
                UpstreamAuth::UserPass(credentials)
            ),
            endpoint(
                "http://127.0.0.1:8332",
                UpstreamAuth::Cookie(PathBuf::from("/var/lib/node/.cookie"))
            ),
        ]
    );
}

#[test]
fn the_reference_layout_takes_backups_too() {
    let config = load(
        "upstream:
  rpc_transport: http
  rpc_host: 10.0.0.5
  rpc_port: 8332
  rpc_auth: {type: none}
  backup_urls: [http://10.0.0.6:8332]
",
    );
    assert_eq!(config.upstream.url, "http://10.0.0.5:8332");
    assert_eq!(config.upstream.backups.len(), 1);
}

#[test]
fn every_backup_error_names_its_key() {
    let base = "upstream:\n  url: http://pool.example.com:8080/pocx\n";
    let cases = [
        (
            "  backup_urls: http://b\n",
            "config key `upstream.backup_urls`: expected a list, found a string",
        ),
        (
            "  backup_urls: [ftp://b]\n",
            "config key `upstream.backup_urls[0]`: must start with http:// or https://",
        ),
        (
            "  backup_urls:\n    - http://b\n    - auth_token: t\n",
            "config key `upstream.backup_urls[1].url`: required",
        ),
        (
            "  backup_urls:\n    - url: http://b\n      token: t\n",
            "config key `upstream.backup_urls[0].token`: unknown key",
        ),
        (
            "  backup_urls:\n    - url: http://b\n      auth_token: t\n      rpc_auth: {type: none}\n",
            "config keys `upstream.backup_urls[0].auth_token` and \
             `upstream.backup_urls[0].rpc_auth`",
        ),
        (
            "  backup_urls:\n    - url: http://b\n      rpc_auth: {type: cookie}\n",
            "config key `upstream.backup_urls[0].rpc_auth.cookie_path`: required",
        ),
        (
            "  backup_urls: [http://pool.example.com:8080/pocx]\n",
            "config key `upstream.backup_urls[0]`: repeats an endpoint listed before it",
        ),
        (
            "  backup_urls: [http://b, {url: http://b}]\n",
            "config key `upstream.backup_urls[1].url`: repeats an endpoint listed before it",
        ),
        (
            "  backup_urls: [a, b, c, d, e, f, g, h, i]\n",
            "config key `upstream.backup_urls`: must have at most 8 entries",
        ),
        (
            "  failover_after: 0\n",
            "config key `upstream.failover_after`: must be greater than 0",
        ),
        (
            "  failback_secs: 86401\n",
            "config key `upstream.failback_secs`: must be from 1 to 86400",
        ),
    ];
    for (extra, expected) in cases {
        let text = message(&format!("{base}{extra}"));
        assert!(
            text.starts_with(expected),
            "for {extra:?}\n got: {text}\nwant: {expected}"
        );
    }
}
