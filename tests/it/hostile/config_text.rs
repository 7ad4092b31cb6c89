//! `config::from_yaml_str` on arbitrary text, on YAML built from the configuration's own words
//! and YAML's odder features, and on the shipped example file mangled line by line. Loading
//! either succeeds or fails with one line that names what it is about: the key, both keys of a
//! conflict, or the YAML.

use proptest::prelude::*;

use pocx_aggregator::config::{from_yaml_str, ConfigError};

use super::fuzz_config;
use super::heap::peak_heap;

/// The most heap loading `input_len` bytes of configuration may hold. Higher per byte than for
/// network input: serde_yaml keeps every parser event of the document (a few hundred bytes
/// each, one per `[` or `- `) before it builds the tree; up to 330 bytes per input byte were
/// measured on deep nesting. Still linear, and the file itself is capped at 1 MiB.
fn config_budget(input_len: usize) -> usize {
    input_len.saturating_mul(512).saturating_add(1 << 20)
}

/// The shipped example with its commented-out settings switched on.
fn uncommented_example() -> Vec<String> {
    include_str!("../../../aggregator_config.yaml")
        .lines()
        .map(|line| line.replacen("# ", "", 1))
        .collect()
}

fn check_config_text(text: &str) {
    let (outcome, held) =
        peak_heap(|| from_yaml_str(text).map_err(|error| (error.to_string(), error)));
    assert!(
        held <= config_budget(text.len()),
        "{held} bytes held for {}",
        text.len()
    );
    let Err((message, error)) = outcome else {
        return;
    };
    assert!(message.starts_with("config"), "{message}");
    assert!(
        !message.chars().any(char::is_control),
        "one line: {message:?}"
    );
    assert!(message.chars().count() < 500, "short: {message}");
    match &error {
        ConfigError::Key { key, .. } if key.is_empty() => {
            assert!(message.starts_with("config: "), "{message}");
        }
        ConfigError::Key { key, .. } => {
            let names = format!("config key `{key}`: ");
            assert!(message.starts_with(&names), "names {key}: {message}");
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

const WORDS: [&str; 28] = [
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
    "rpc_host",
    "rpc_port",
    "rpc_auth",
    "type",
    "cookie_path",
    "retry_backoff_secs",
    "cache",
    "refresh_interval_ms",
    "database",
    "dashboard",
    "logging",
    "level",
    "file",
    "<<",
];

const VALUES: [&str; 30] = [
    "&a {}",
    "*a",
    "&a [1, 2]",
    "*b",
    "!!str 5",
    "!!binary aGk=",
    "!!float .nan",
    "|\n  text",
    ">-\n  folded",
    "{url: 'http://h/', <<: *a}",
    "[[[[[]]]]]",
    "\"\\x00\\n\\t\\u2028\"",
    "'it''s'",
    "? [k]\n: v",
    "0x1F",
    "0o17",
    "1_000",
    "-.inf",
    "~",
    "null",
    "yes",
    "on",
    "18446744073709551616",
    "-1",
    "2001-01-01",
    "http://u:p@h:1/x",
    "0.0.0.0:0",
    "[::1]:8080",
    "\"\"",
    "\t",
];

/// YAML lines made of configuration keys and values that exercise anchors, aliases, merges,
/// tags, block scalars, flow collections, complex keys and document markers.
fn yaml_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        6 => (0usize..5, prop::sample::select(WORDS.to_vec()), prop::sample::select(VALUES.to_vec()))
            .prop_map(|(depth, key, value)| format!("{}{key}: {value}", "  ".repeat(depth))),
        2 => (0usize..5, prop::sample::select(WORDS.to_vec()))
            .prop_map(|(depth, key)| format!("{}{key}:", "  ".repeat(depth))),
        1 => prop::sample::select(vec!["---", "...", "%YAML 1.2", "- x", "<<: *a", "# c", "&a", "!"])
            .prop_map(str::to_owned),
        1 => "[ -~]{0,40}",
    ];
    prop::collection::vec(line, 0..30).prop_map(|lines| lines.join("\n"))
}

/// One change to a line of a file.
#[derive(Debug, Clone)]
enum LineEdit {
    Drop(usize),
    Repeat(usize),
    Replace(usize, String),
    Splice(usize, usize, String),
    /// The file ends in the middle of this line, at this column (a write cut short).
    Truncate(usize, usize),
}

fn line_edit() -> impl Strategy<Value = LineEdit> {
    prop_oneof![
        any::<usize>().prop_map(LineEdit::Drop),
        any::<usize>().prop_map(LineEdit::Repeat),
        (any::<usize>(), yaml_like()).prop_map(|(at, text)| LineEdit::Replace(at, text)),
        (
            any::<usize>(),
            any::<usize>(),
            "\\PC{0,8}|[\t\r\0\u{feff}:#&*!|>{}\\[\\]'\"-]{1,3}"
        )
            .prop_map(|(at, column, text)| LineEdit::Splice(at, column, text)),
        (any::<usize>(), any::<usize>()).prop_map(|(at, column)| LineEdit::Truncate(at, column)),
    ]
}

fn edited(mut lines: Vec<String>, edits: &[LineEdit]) -> String {
    for edit in edits {
        let len = lines.len().max(1);
        match edit {
            LineEdit::Drop(at) if !lines.is_empty() => {
                lines.remove(at % len);
            }
            LineEdit::Repeat(at) => {
                if let Some(line) = lines.get(at % len).cloned() {
                    lines.insert(at % len, line);
                }
            }
            LineEdit::Replace(at, text) => {
                if let Some(line) = lines.get_mut(at % len) {
                    line.clone_from(text);
                }
            }
            LineEdit::Splice(at, column, text) => {
                if let Some(line) = lines.get_mut(at % len) {
                    let boundaries: Vec<usize> = line.char_indices().map(|(i, _)| i).collect();
                    let cut = boundaries.get(column % boundaries.len().max(1)).copied();
                    line.insert_str(cut.unwrap_or(line.len()), text);
                }
            }
            LineEdit::Truncate(at, column) => {
                lines.truncate(at % len + 1);
                if let Some(line) = lines.last_mut() {
                    let boundaries: Vec<usize> = line.char_indices().map(|(i, _)| i).collect();
                    let cut = boundaries.get(column % boundaries.len().max(1)).copied();
                    line.truncate(cut.unwrap_or(line.len()));
                }
            }
            LineEdit::Drop(_) => {}
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn arbitrary_text_loads_or_says_why(text in any::<String>()) {
        check_config_text(&text);
    }

    #[test]
    fn yaml_like_text_loads_or_says_why(text in yaml_like()) {
        check_config_text(&text);
    }

    #[test]
    fn the_edited_example_loads_or_says_why(edits in prop::collection::vec(line_edit(), 1..6)) {
        check_config_text(&edited(uncommented_example(), &edits));
    }
}

#[test]
fn the_uncommented_example_is_checked_as_a_whole() {
    check_config_text(&uncommented_example().join("\n"));
}

/// serde_yaml expands aliases while it builds the tree and only limits the number of alias jumps
/// relative to the document's size, so unchecked the memory held grows with the square of the
/// text: the 3 KiB corpus file would hold about 15 MB (160,000 values) before the unknown key is
/// even seen, 6 KiB 60 MB, and a file of 64 KiB gigabytes. Loading refuses a text with more
/// aliases than it allows before serde_yaml sees it; this holds that to the heap budget.
#[test]
fn alias_bombs_are_refused_within_budget() {
    check_config_text(include_str!("../../corpus/config_alias_square.yaml"));
    let mut nested = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for level in 1..10 {
        let aliases = vec![format!("*a{}", level - 1); 9].join(", ");
        nested.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
    }
    check_config_text(&nested);
}

#[test]
fn merge_chains_load_within_budget() {
    let merges: String = (1..2_000)
        .map(|level| {
            format!(
                "m{level}: &m{level}\n  <<: *m{}\n  k{level}: 1\n",
                level - 1
            )
        })
        .collect();
    check_config_text(&format!("m0: &m0 {{k: 1}}\n{merges}"));
}

#[test]
fn deep_and_large_text_is_refused_within_budget() {
    for opener in ["[", "{", "- ", "? ", "{a: "] {
        check_config_text(&opener.repeat(20_000));
    }
    let indented: String = (0..2_000)
        .map(|depth| format!("{}k:\n", " ".repeat(depth)))
        .collect();
    check_config_text(&indented);
    check_config_text(&format!(
        "upstream:\n  url: \"{}\"\n",
        "\\u00e9".repeat(40_000)
    ));
    check_config_text(&"x: 1\n".repeat(40_000));
}
