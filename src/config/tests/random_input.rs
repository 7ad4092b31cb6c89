//! Random and mangled input: loading returns a one-line error or a config, and never panics.

use proptest::prelude::*;

use crate::config::from_yaml_str;

/// Checks the one promise made for every input.
fn assert_one_line_outcome(text: &str) {
    if let Err(error) = from_yaml_str(text) {
        let message = error.to_string();
        assert!(message.starts_with("config"), "{message}");
        assert!(!message.contains('\n'), "{message:?}");
        assert!(message.chars().count() < 400, "{message}");
    }
}

const KEYS: &[&str] = &[
    "listen_address",
    "block_time_secs",
    "server",
    "workers",
    "auth",
    "enabled",
    "basic_auth",
    "username",
    "password",
    "upstream",
    "url",
    "name",
    "auth_token",
    "submission_mode",
    "rpc_transport",
    "rpc_host",
    "rpc_port",
    "rpc_auth",
    "type",
    "cookie_path",
    "retry_backoff_secs",
    "forward_connections",
    "cache",
    "pool_timeout_secs",
    "refresh_interval_ms",
    "database",
    "retention_days",
    "dashboard",
    "logging",
    "level",
    "file",
    "urll",
    "<<",
];

const SCALARS: &[&str] = &[
    "0",
    "1",
    "-1",
    "65536",
    "18446744073709551615",
    "1.5",
    "true",
    "no",
    "~",
    "\"\"",
    "pool",
    "wallet",
    "cookie",
    "user_pass",
    "none",
    "https",
    "http://h:1/x",
    "0.0.0.0:8080",
    "[1, 2]",
    "{}",
    "[]",
    "!tag x",
    "\"a\\u0000b\"",
    "'::1'",
    "info",
];

/// YAML built from the configuration's own vocabulary, so the walk gets deep.
fn yaml_from_vocabulary() -> impl Strategy<Value = String> {
    let line = (
        0usize..4,
        0..KEYS.len(),
        proptest::option::of(0..SCALARS.len()),
    );
    proptest::collection::vec(line, 0..24).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(depth, key, scalar)| {
                let indent = "  ".repeat(depth);
                match scalar {
                    Some(value) => format!("{indent}{}: {}\n", KEYS[key], SCALARS[value]),
                    None => format!("{indent}{}:\n", KEYS[key]),
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        assert_one_line_outcome(&text);
    }

    #[test]
    fn vocabulary_yaml_never_panics(text in yaml_from_vocabulary()) {
        assert_one_line_outcome(&text);
    }

    #[test]
    fn mangled_example_never_panics(cut in 0usize..8000, drop_every in 2usize..9) {
        let shipped = include_str!("../../../aggregator_config.yaml");
        let uncommented: String = shipped
            .lines()
            .map(|line| line.strip_prefix("# ").unwrap_or(line))
            .enumerate()
            .filter(|(index, _)| index % drop_every != 0)
            .map(|(_, line)| format!("{line}\n"))
            .collect();
        let end = uncommented.char_indices().map(|(i, _)| i).find(|i| *i >= cut).unwrap_or(uncommented.len());
        assert_one_line_outcome(&uncommented[..end]);
        assert_one_line_outcome(&uncommented);
    }

    #[test]
    fn mask_url_never_panics(text in any::<String>()) {
        let _ = crate::config::mask_url(&text);
    }

    #[test]
    fn with_upstream_url_never_panics(text in any::<String>()) {
        let _ = crate::config::Config::with_upstream_url(&text);
    }
}

#[test]
fn alias_bomb_and_deep_nesting_are_refused() {
    let mut bomb = String::from("a: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..12 {
        let previous = level - 1;
        bomb.push_str(&format!(
            "b{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n"
        ));
    }
    assert_one_line_outcome(&bomb);
    let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    assert_one_line_outcome(&deep);
    let deep_map = (0..1_000)
        .map(|depth| format!("{}k:\n", " ".repeat(depth)))
        .collect::<String>();
    assert_one_line_outcome(&deep_map);
}
