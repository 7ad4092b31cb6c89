//! Structural errors: unknown keys, wrong types, missing and conflicting keys, YAML syntax. Each
//! names its full key path, on one line.

use super::{message, reject, with, MINIMAL};
use crate::config::ConfigError;

#[test]
fn misspelt_key_suggests_the_right_one() {
    assert_eq!(
        message("upstream:\n  urll: http://h\n"),
        "config key `upstream.urll`: unknown key (did you mean `url`?)"
    );
    assert_eq!(
        message(&with("cache:\n  Pool_Timeout_Secs: 3\n")),
        "config key `cache.Pool_Timeout_Secs`: unknown key (did you mean `pool_timeout_secs`?)"
    );
}

#[test]
fn key_in_the_wrong_section_suggests_its_full_path() {
    assert_eq!(
        message("url: http://h\n"),
        "config key `url`: unknown key (did you mean `upstream.url`?)"
    );
}

#[test]
fn unknown_key_without_a_near_match() {
    assert_eq!(
        message(&with("database:\n  compression: zstd\n")),
        "config key `database.compression`: unknown key"
    );
}

#[test]
fn unknown_keys_are_reported_before_value_problems() {
    let error = reject("cache:\n  pool_timeout_secs: 0\nlogging:\n  levle: info\n");
    assert_eq!(error.key_path(), Some("logging.levle"));
}

#[test]
fn missing_url_is_required() {
    let text = message("block_time_secs: 120\n");
    assert!(
        text.starts_with("config key `upstream.url`: required"),
        "{text}"
    );
    assert!(text.contains("rpc_host"), "{text}");
}

#[test]
fn wrong_types_name_key_and_expected_type() {
    let cases = [
        (
            "block_time_secs: \"120\"\n",
            "block_time_secs",
            "expected a whole number, found a string",
        ),
        (
            "block_time_secs: 1.5\n",
            "block_time_secs",
            "expected a whole number, found a decimal number",
        ),
        (
            "dashboard:\n  enabled: yes\n",
            "dashboard.enabled",
            "expected true or false, found a string",
        ),
        (
            "upstream:\n  url: http://h\n  name: 42\n",
            "upstream.name",
            "expected a string, found a whole number (put the value in quotes)",
        ),
        (
            "cache: 5\n",
            "cache",
            "expected a mapping of keys, found a whole number",
        ),
        (
            "upstream:\n  url: http://h\n  retry_backoff_secs: 5\n",
            "upstream.retry_backoff_secs",
            "expected a list of whole numbers",
        ),
        (
            "upstream:\n  url: [a]\n",
            "upstream.url",
            "expected a string, found a list",
        ),
    ];
    for (yaml, key, expected) in cases {
        let full = format!(
            "{yaml}{}",
            if yaml.contains("upstream") {
                ""
            } else {
                MINIMAL
            }
        );
        let text = message(&full);
        assert!(
            text.starts_with(&format!("config key `{key}`: ")),
            "{yaml:?} gave {text}"
        );
        assert!(text.contains(expected), "{yaml:?} gave {text}");
    }
}

#[test]
fn document_that_is_not_a_mapping() {
    assert_eq!(
        message("- a\n- b\n"),
        "config: expected a mapping of keys, found a list"
    );
}

#[test]
fn same_setting_in_both_layouts_names_both_keys() {
    let cases = [
        ("listen_address: 0.0.0.0:1\nserver:\n  listen_address: 0.0.0.0:2\nupstream: {url: 'http://h'}\n", "listen_address", "server.listen_address"),
        ("upstream:\n  url: http://h\n  rpc_host: h\n", "upstream.url", "upstream.rpc_host"),
        ("upstream:\n  url: http://h\n  rpc_port: 80\n", "upstream.url", "upstream.rpc_port"),
        ("upstream:\n  url: http://h\n  auth_token: t\n  rpc_auth: {type: none}\n", "upstream.auth_token", "upstream.rpc_auth"),
        ("block_time_secs: 120\nupstream:\n  url: http://h\n  block_time_secs: 120\n", "block_time_secs", "upstream.block_time_secs"),
    ];
    for (yaml, first, second) in cases {
        let error = reject(yaml);
        assert!(
            matches!(&error, ConfigError::Conflict { first: f, second: s, .. } if f == first && s == second),
            "{yaml:?} gave {error:?}"
        );
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("config keys `{first}` and `{second}` both set ")),
            "{text}"
        );
    }
}

#[test]
fn yaml_syntax_errors_are_one_line() {
    for yaml in [
        "upstream: [1,\n",
        "a: 1\na: 2\n",
        "--- a\n--- b\n",
        "a: *missing\n",
        "x:\n\t- 1\n",
    ] {
        let error = reject(yaml);
        assert!(
            matches!(error, ConfigError::Syntax { .. }),
            "{yaml:?} gave {error:?}"
        );
        let text = error.to_string();
        assert!(text.starts_with("config: invalid YAML: "), "{text}");
        assert!(!text.contains('\n'), "{text}");
        assert!(std::error::Error::source(&error).is_some());
    }
}

#[test]
fn control_characters_in_keys_stay_on_one_line() {
    let text = message("\"bad\\nkey\": 1\n");
    assert_eq!(text, "config key `bad\\nkey`: unknown key");
    let long_key = "k".repeat(500);
    let text = message(&format!("{long_key}: 1\n"));
    assert!(text.len() < 200, "{text}");
}

#[test]
fn non_text_keys_are_unknown() {
    assert_eq!(
        message("upstream:\n  7: x\n"),
        "config key `upstream.7`: unknown key"
    );
    assert_eq!(
        message("? [1]\n: 2\n"),
        "config key `(a list)`: unknown key"
    );
}
