//! Integration tests: hostile. Property-based fuzzing of every parser that reads bytes the
//! aggregator does not control: the JSON-RPC envelope with a dispatcher shaped like the real one,
//! `submit_nonce` parameter validation, configuration text, and the upstream's answers.
//!
//! Each property runs `POCX_FUZZ_CASES` cases (default 256, so a plain `cargo test` stays quick).
//! The long run:
//!
//! ```text
//! POCX_FUZZ_CASES=200000 cargo test --release --test it hostile
//! ```
//!
//! Besides "never panics" and the output rules of each parser, every call is measured by a
//! counting global allocator (`heap`): the most heap it holds at once must stay within a fixed
//! multiple of the input's size plus a constant, so no input can make a parser allocate without
//! bound. Failing cases are not written to disk; proptest prints the minimal input instead.
//!
//! Inputs that found a problem are kept as named tests beside the property that found them
//! (bulky ones under `tests/corpus/`): float ids echoed exactly (`envelope`), alias expansion in
//! configuration YAML within budget (`config_text`), and upstream error text shown on one line
//! (`upstream_answer`).

mod config_text;
mod envelope;
mod heap;
mod params;
mod reference;
mod requests;
mod upstream_answer;

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

/// Cases per property when `POCX_FUZZ_CASES` is not set.
const DEFAULT_CASES: u32 = 256;

/// The proptest settings every property here uses: the case count from the environment and no
/// regression files written into the source tree.
fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("POCX_FUZZ_CASES")
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .filter(|cases| *cases > 0)
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Field names of `submit_nonce` in the order of the protocol table.
const SUBMIT_FIELDS: [&str; 9] = pocx_aggregator::protocol::SUBMIT_NONCE_FIELDS;

/// Keys a generated object is likely to use, so that generated values land where parsers look.
const INTERESTING_KEYS: [&str; 16] = [
    "jsonrpc",
    "method",
    "params",
    "id",
    "result",
    "error",
    "code",
    "message",
    "data",
    "block_hash",
    "height",
    "generation_signature",
    "base_target",
    "account_id",
    "seed",
    "nonce",
];

/// JSON number text, including spellings no Rust number holds exactly.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| serde_json::Value::from(x).to_string()),
        "-?(0|[1-9][0-9]{0,40})(\\.[0-9]{1,25})?([eE][+-]?[0-9]{1,4})?",
        prop::sample::select(vec![
            "-0",
            "0.0",
            "-0.0",
            "1e400",
            "-1e400",
            "1e-400",
            "4.9e-324",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1.0",
            "1e2",
        ])
        .prop_map(str::to_owned),
    ]
}

/// A quoted JSON string: plain and exotic characters, every escape, surrogate pairs and lone
/// surrogates, and hex runs of the lengths the protocol cares about.
fn string_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<char>()
            .prop_filter("needs escaping", |c| *c != '"'
                && *c != '\\'
                && !c.is_control())
            .prop_map(String::from),
        "\\\\[\"\\\\/bfnrt]",
        "\\\\u[0-9a-fA-F]{4}",
        "\\\\u[dD][89abAB][0-9a-fA-F]{2}\\\\u[dD][c-fC-F][0-9a-fA-F]{2}",
        "[0-9a-f]{1,2}",
        "[0-9a-fA-F]{40}",
        "[0-9a-fA-F]{64}",
    ];
    prop::collection::vec(piece, 0..10).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
}

/// An object key: usually one a parser looks for, sometimes anything.
fn key_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(INTERESTING_KEYS.to_vec()).prop_map(|key| format!("\"{key}\"")),
        1 => prop::sample::select(SUBMIT_FIELDS.to_vec()).prop_map(|key| format!("\"{key}\"")),
        1 => string_text(),
    ]
}

/// Well-formed JSON text of any shape, nested a few levels.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop::sample::select(vec!["null", "true", "false"]).prop_map(str::to_owned),
        number_text(),
        string_text(),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((key_text(), inner), 0..8).prop_map(|entries| {
                let members: Vec<String> = entries
                    .into_iter()
                    .map(|(key, value)| format!("{key}:{value}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// Bytes that are mostly JSON tokens in no particular order: gets further into a parser than
/// uniform noise does.
fn token_soup() -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: [&str; 24] = [
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\\",
        "\\u",
        "0",
        "-1",
        "1e9",
        ".5",
        "true",
        "null",
        " ",
        "\n",
        "\"jsonrpc\"",
        "\"2.0\"",
        "\"method\"",
        "\"id\"",
        "\"params\"",
        "\u{feff}",
        "\0",
    ];
    prop::collection::vec(prop::sample::select(TOKENS.to_vec()), 0..300)
        .prop_map(|tokens| tokens.concat().into_bytes())
}

/// A JSON object rendered from key and value texts in the given order (duplicates kept).
fn render_object(members: &[(String, String)]) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|(key, value)| format!("\"{key}\":{value}"))
        .collect();
    format!("{{{}}}", members.join(","))
}
