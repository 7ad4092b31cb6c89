//! The `pocx_aggregator` command as a process: `--version`, `--check` and configuration errors
//! (exit code 2, one line naming the key). Real runs stopped by signals are in `serve`.

mod serve;

use crate::support::binary::run;
use crate::support::process::Finished;
use crate::support::TempDir;

/// Runs `--check` on a configuration file with this text.
fn check(dir: &TempDir, yaml: &str) -> Finished {
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    run(dir.path(), &["--config", path.to_str().unwrap(), "--check"])
}

#[test]
fn version_prints_name_and_version() {
    let dir = TempDir::new("cli-version");
    let done = run(dir.path(), &["--version"]);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(
        done.stdout.trim(),
        format!("pocx_aggregator {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_prints_the_effective_settings_with_secrets_masked() {
    let dir = TempDir::new("cli-check");
    let seed_layout = r#"
listen_address: "127.0.0.1:18080"
upstream:
  url: "http://pooluser:url-pw-Q7x@pool.example.com:8080/pocx?key=query-secret-9"
  auth_token: "tok-SECRET-42"
  submission_mode: wallet
server:
  auth:
    enabled: true
    basic_auth:
      username: miners
      password: server-pw-K3j
dashboard:
  listen_address: "127.0.0.1:18081"
  auth:
    username: admin
    password: dash-pw-M1n
"#;
    let done = check(&dir, seed_layout);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    for secret in [
        "url-pw-Q7x",
        "query-secret-9",
        "tok-SECRET-42",
        "server-pw-K3j",
        "dash-pw-M1n",
    ] {
        assert!(
            !done.stdout.contains(secret),
            "{secret} in:\n{}",
            done.stdout
        );
        assert!(
            !done.stderr.contains(secret),
            "{secret} in:\n{}",
            done.stderr
        );
    }
    for line in [
        "listen_address: 127.0.0.1:18080",
        "upstream.submission_mode: wallet",
        "dashboard.listen_address: 127.0.0.1:18081",
        "server.auth: username miners, password ***",
    ] {
        assert!(
            done.stdout.lines().any(|l| l == line),
            "{line}:\n{}",
            done.stdout
        );
    }
    assert!(
        done.stdout.contains("pool.example.com:8080/pocx"),
        "{}",
        done.stdout
    );
    assert!(!done.stdout.contains("pooluser"), "{}", done.stdout);

    let aggregator_layout = r#"
server:
  listen_address: "127.0.0.1:18090"
upstream:
  rpc_host: "node.example.com"
  rpc_port: 8332
  rpc_auth:
    type: user_pass
    username: rpcuser
    password: rpc-pw-Z9q
  block_time_secs: 240
"#;
    let done = check(&dir, aggregator_layout);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(!done.stdout.contains("rpc-pw-Z9q"), "{}", done.stdout);
    assert!(
        done.stdout.contains("listen_address: 127.0.0.1:18090"),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout.contains("block_time_secs: 240"),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout.contains("node.example.com:8332"),
        "{}",
        done.stdout
    );
    // Nothing was started: no database, no log file.
    assert!(!dir.path().join("aggregator.db").exists());
    assert!(!dir.path().join("aggregator.log").exists());
}

#[test]
fn each_config_error_exits_2_with_one_line_naming_the_key() {
    let dir = TempDir::new("cli-errors");
    let url = "upstream:\n  url: \"http://127.0.0.1:9/\"\n";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown key",
            format!("{url}  bogus_key: 1\n"),
            "upstream.bogus_key",
        ),
        (
            "unknown top-level key",
            format!("{url}listen_adress: \"0.0.0.0:8080\"\n"),
            "listen_adress",
        ),
        (
            "wrong type",
            format!("{url}cache:\n  pool_timeout_secs: \"ten\"\n"),
            "cache.pool_timeout_secs",
        ),
        (
            "wrong type (list for a number)",
            format!("{url}database:\n  retention_days: [1]\n"),
            "database.retention_days",
        ),
        (
            "bad address",
            format!("listen_address: \"localhost:80\"\n{url}"),
            "listen_address",
        ),
        (
            "bad dashboard address",
            format!("{url}dashboard:\n  listen_address: \"0.0.0.0\"\n"),
            "dashboard.listen_address",
        ),
        (
            "non-http URL",
            "upstream:\n  url: \"ftp://127.0.0.1:9/\"\n".to_owned(),
            "upstream.url",
        ),
        (
            "missing URL",
            "upstream:\n  name: x\n".to_owned(),
            "upstream.url",
        ),
        (
            "zero TTL",
            format!("{url}cache:\n  mining_info_ttl_secs: 0\n"),
            "cache.mining_info_ttl_secs",
        ),
        (
            "zero timeout",
            format!("{url}cache:\n  pool_timeout_secs: 0\n"),
            "cache.pool_timeout_secs",
        ),
        (
            "both listen addresses",
            format!("listen_address: \"127.0.0.1:1\"\nserver:\n  listen_address: \"127.0.0.1:2\"\n{url}"),
            "server.listen_address",
        ),
        (
            "url and rpc_host",
            format!("{url}  rpc_host: \"127.0.0.1\"\n"),
            "upstream.rpc_host",
        ),
        (
            "auth_token and rpc_auth",
            format!("{url}  auth_token: \"t\"\n  rpc_auth:\n    type: none\n"),
            "upstream.rpc_auth",
        ),
    ];
    for (what, yaml, key) in cases {
        let done = check(&dir, &yaml);
        assert_eq!(done.code, Some(2), "{what}: {}", done.stderr);
        let lines: Vec<&str> = done.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: {:?}", done.stderr);
        assert!(
            lines[0].contains(&format!("`{key}")) || lines[0].contains(&format!(" {key}")),
            "{what}: {:?} does not name {key}",
            lines[0]
        );
        assert!(done.stdout.is_empty(), "{what}: {}", done.stdout);
    }
}

#[test]
fn a_missing_config_file_is_named() {
    let dir = TempDir::new("cli-missing");
    let path = dir.path().join("not-there.yaml");
    let done = run(dir.path(), &["--config", path.to_str().unwrap()]);
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
    assert!(
        done.stderr.contains(path.to_str().unwrap()),
        "{}",
        done.stderr
    );
    // Without --config, the default file name in the working directory.
    let done = run(dir.path(), &[]);
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    assert!(
        done.stderr.contains("aggregator_config.yaml"),
        "{}",
        done.stderr
    );
}
