//! Random and mangled input: loading returns a config or a one-line error that names the key
//! (or says the text is not YAML), and never panics; the URL masker never shows a secret.

use proptest::prelude::*;

use crate::config::{from_yaml_str, mask_url, Config, ConfigError};

/// Checks the one promise made for every input: a config, or a short one-line error that says
/// what it is about.
fn assert_one_line_outcome(text: &str) {
    if let Err(error) = from_yaml_str(text) {
        let message = error.to_string();
        assert!(message.starts_with("config"), "{message}");
        assert!(!message.contains('\n'), "{message:?}");
        assert!(message.chars().count() < 400, "{message}");
        match &error {
            ConfigError::Key { key, .. } if key.is_empty() => {
                assert!(message.starts_with("config: "), "{message}");
            }
            ConfigError::Key { key, .. } => {
                assert!(
                    message.starts_with(&format!("config key `{key}`: ")),
                    "{message}"
                );
            }
            ConfigError::Conflict { first, second, .. } => {
                assert!(message.contains(&format!("`{first}`")), "{message}");
                assert!(message.contains(&format!("`{second}`")), "{message}");
            }
            ConfigError::Syntax { path: None, .. } => {
                assert!(message.starts_with("config: invalid YAML: "), "{message}");
            }
            // Reading and size errors belong to files, and a text has no file.
            other => panic!("text cannot fail as {other:?}"),
        }
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
    fn arbitrary_text_loads_or_names_what_is_wrong(text in any::<String>()) {
        assert_one_line_outcome(&text);
    }

    #[test]
    fn vocabulary_yaml_loads_or_names_what_is_wrong(text in yaml_from_vocabulary()) {
        assert_one_line_outcome(&text);
    }

    #[test]
    fn mangled_example_loads_or_names_what_is_wrong(cut in 0usize..8000, drop_every in 2usize..9) {
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
    fn arbitrary_text_masks_to_a_fixed_point(text in any::<String>()) {
        // Masking what was already masked (a logged URL logged again) changes nothing.
        let once = mask_url(&text);
        prop_assert_eq!(mask_url(&once), once);
    }

    #[test]
    fn the_masked_url_never_shows_the_password_or_a_query_value(
        url in secret_url(),
    ) {
        let masked = mask_url(&url);
        // Every secret holds an upper-case letter; nothing else in the URL does.
        prop_assert!(!masked.contains(SECRET), "{} -> {}", url, masked);
        prop_assert!(masked.contains("***@"), "{} -> {}", url, masked);
    }

    #[test]
    fn an_upstream_url_is_taken_as_written_or_refused_naming_the_key(
        text in prop_oneof![any::<String>(), url_like()],
    ) {
        match Config::with_upstream_url(&text) {
            Ok(config) => prop_assert_eq!(config.upstream.url, text),
            Err(error) => prop_assert_eq!(error.key_path(), Some("upstream.url")),
        }
    }
}

/// Marks every secret part of [`secret_url`]; its other parts are lower case.
const SECRET: &str = "Pw";

/// `scheme://user:password@host[:port]/path[?name=value…][#fragment]` with secrets drawn from
/// the characters user info and query values may hold (`@` and `:` included).
fn secret_url() -> impl Strategy<Value = String> {
    let secret = "[a-zA-Z0-9@:!$'()*+,;=%._~-]{0,12}".prop_map(|tail| format!("{SECRET}{tail}"));
    (
        prop::sample::select(vec!["http", "https"]),
        "[a-z0-9._~-]{0,8}",
        secret.clone(),
        "[a-z0-9.-]{1,12}",
        prop::option::of(1u16..),
        "(/[a-z0-9._~-]{0,6}){0,3}",
        prop::collection::vec(("[a-z]{1,5}", secret), 0..3),
        prop::option::of("[a-z0-9/]{0,6}"),
    )
        .prop_map(
            |(scheme, user, password, host, port, path, query, fragment)| {
                let mut url = format!("{scheme}://{user}:{password}@{host}");
                if let Some(port) = port {
                    url.push_str(&format!(":{port}"));
                }
                url.push_str(&path);
                for (i, (name, value)) in query.iter().enumerate() {
                    url.push(if i == 0 { '?' } else { '&' });
                    // `=` and `&` inside a value would start another pair: not in a value.
                    url.push_str(&format!("{name}={}", value.replace(['=', '&'], "")));
                }
                if let Some(fragment) = fragment {
                    url.push('#');
                    url.push_str(&fragment);
                }
                url
            },
        )
}

/// Text shaped like an upstream URL, often a valid one.
fn url_like() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["http://", "https://", "ftp://", "http:/", ""]),
        "[a-z0-9.\\[\\]:_-]{0,16}",
        prop::option::of(0u32..70_000),
        "[a-z0-9/?=&# ]{0,10}",
    )
        .prop_map(|(scheme, host, port, rest)| match port {
            Some(port) => format!("{scheme}{host}:{port}{rest}"),
            None => format!("{scheme}{host}{rest}"),
        })
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
