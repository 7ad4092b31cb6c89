//! Generated JSON-RPC requests for the envelope properties: valid `submit_nonce` and
//! `get_mining_info` calls, the same with one member of the envelope or of the params changed,
//! and deep nesting around them. Text is built directly, so numbers and strings no Rust type
//! holds (1e400, lone surrogates, duplicate keys) reach the parser as a miner could send them.

use proptest::prelude::*;

use super::{json_text, number_text, render_object, string_text};

/// Members of a valid `submit_nonce` params object, values as JSON text.
fn valid_params() -> impl Strategy<Value = Vec<(String, String)>> {
    (
        ("([0-9a-fA-F]{2}){1,64}", any::<u64>(), "[0-9a-fA-F]{64}"),
        (1..=u64::MAX, "[0-9a-fA-F]{40}", "[0-9a-fA-F]{64}"),
        (any::<u64>(), any::<u8>(), any::<u64>()),
    )
        .prop_map(
            |((block, height, gensig), (target, account, seed), (nonce, level, quality))| {
                let quoted = |text: String| format!("\"{text}\"");
                vec![
                    ("block_hash".to_owned(), quoted(block)),
                    ("height".to_owned(), height.to_string()),
                    ("generation_signature".to_owned(), quoted(gensig)),
                    ("base_target".to_owned(), target.to_string()),
                    ("account_id".to_owned(), quoted(account)),
                    ("seed".to_owned(), quoted(seed)),
                    ("nonce".to_owned(), nonce.to_string()),
                    ("compression".to_owned(), level.to_string()),
                    ("raw_quality".to_owned(), quality.to_string()),
                ]
            },
        )
}

/// One change to an object's members.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, String),
    Remove(usize),
    Repeat(usize, String),
    Add(String, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), json_text()).prop_map(|(at, value)| Mutation::Replace(at, value)),
        1 => any::<usize>().prop_map(Mutation::Remove),
        1 => (any::<usize>(), json_text()).prop_map(|(at, value)| Mutation::Repeat(at, value)),
        1 => ("[a-z_]{1,12}", json_text()).prop_map(|(key, value)| Mutation::Add(key, value)),
    ]
}

fn apply(members: &mut Vec<(String, String)>, mutation: &Mutation) {
    let len = members.len().max(1);
    match mutation {
        Mutation::Replace(at, value) => {
            if let Some(member) = members.get_mut(at % len) {
                member.1 = value.clone();
            }
        }
        Mutation::Remove(at) => {
            if at % len < members.len() {
                members.remove(at % len);
            }
        }
        Mutation::Repeat(at, value) => {
            if let Some((key, _)) = members.get(at % len) {
                members.push((key.clone(), value.clone()));
            }
        }
        Mutation::Add(key, value) => members.push((key.clone(), value.clone())),
    }
}

/// A request: a valid `submit_nonce` or `get_mining_info` call, often with up to one member of
/// the envelope and one of the params replaced, dropped, repeated or added.
pub fn request_text() -> impl Strategy<Value = String> {
    let method = prop_oneof![
        4 => prop::sample::select(vec!["\"submit_nonce\"", "\"get_mining_info\""]),
        1 => prop::sample::select(vec!["\"SUBMIT_NONCE\"", "\"submit_nonce \"", "\"\"", "7"]),
    ];
    let id = prop::option::weighted(
        0.85,
        prop_oneof![string_text(), number_text(), Just("null".to_owned())],
    );
    (
        method,
        valid_params(),
        id,
        prop::collection::vec(mutation(), 0..2),
        prop::collection::vec(mutation(), 0..2),
    )
        .prop_map(|(method, mut params, id, in_params, in_envelope)| {
            for change in &in_params {
                apply(&mut params, change);
            }
            let mut envelope = vec![
                ("jsonrpc".to_owned(), "\"2.0\"".to_owned()),
                ("method".to_owned(), method.to_owned()),
                ("params".to_owned(), render_object(&params)),
            ];
            envelope.extend(id.map(|id| ("id".to_owned(), id)));
            for change in &in_envelope {
                apply(&mut envelope, change);
            }
            render_object(&envelope)
        })
}

/// Deep nesting, closed or not, around a generated call: up to the 64 KiB body limit of nesting.
pub fn nested_text() -> impl Strategy<Value = String> {
    let opener = prop::sample::select(vec!["[", "{\"a\":", "[1,", "{\"params\":", " [ "]);
    (opener, 1usize..20_000, any::<bool>(), request_text()).prop_map(
        |(opener, depth, closed, inner)| {
            let depth = depth.min(64 * 1024 / opener.len());
            let closer = if opener.starts_with('{') { "}" } else { "]" };
            let mut text = opener.repeat(depth);
            text.push_str(&inner);
            if closed {
                text.push_str(&closer.repeat(depth));
            }
            text
        },
    )
}

/// A valid `submit_nonce` call with `field` set to the JSON text `raw_value`.
pub fn call_with(field: &str, raw_value: &str) -> String {
    let gensig = format!("\"{}\"", "0f".repeat(32));
    let account = format!("\"{}\"", "11".repeat(20));
    let seed = format!("\"{}\"", "c0".repeat(32));
    let params: Vec<(String, String)> = [
        ("block_hash", "\"ab\""),
        ("height", "1"),
        ("generation_signature", &gensig),
        ("base_target", "5"),
        ("account_id", &account),
        ("seed", &seed),
        ("nonce", "2"),
        ("compression", "1"),
        ("raw_quality", "3"),
    ]
    .into_iter()
    .map(|(key, value)| {
        let value = if key == field { raw_value } else { value };
        (key.to_owned(), value.to_owned())
    })
    .collect();
    format!(
        r#"{{"jsonrpc":"2.0","method":"submit_nonce","params":{},"id":9}}"#,
        render_object(&params)
    )
}
