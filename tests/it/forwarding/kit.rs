//! Helpers the submit and forwarding tests share: JSON-RPC answers, what the simulated
//! upstream received, and the forwarding counters of `/stats`.

use std::time::Duration;

use serde_json::Value;

use pocx_aggregator::sim::RecordedSubmission;

use crate::support::{wait_until, Farm};

/// How long any single wait in these tests may take.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The `result` of a JSON-RPC answer; fails the test on an error answer.
pub fn result(answer: &Value) -> &Value {
    assert!(
        answer.get("error").is_none(),
        "expected a result, got {answer}"
    );
    &answer["result"]
}

/// The error code and data of a JSON-RPC answer; fails the test on a result.
pub fn error(answer: &Value) -> (i64, Value) {
    let code = answer["error"]["code"].as_i64();
    assert!(code.is_some(), "expected an error, got {answer}");
    (code.unwrap_or(0), answer["error"]["data"].clone())
}

/// Submissions the upstream received for one account, oldest first.
pub fn calls_for(farm: &Farm, account: &str) -> Vec<RecordedSubmission> {
    farm.upstream
        .submissions()
        .into_iter()
        .filter(|r| r.params["account_id"] == account)
        .collect()
}

/// The raw qualities the upstream received, oldest first, with their account.
pub fn received(farm: &Farm) -> Vec<(String, u64)> {
    farm.upstream
        .submissions()
        .iter()
        .map(|r| {
            (
                r.params["account_id"].as_str().unwrap_or("").to_owned(),
                r.params["raw_quality"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

/// Waits until the upstream has received at least `n` submissions for `account`.
pub fn wait_for_calls(farm: &Farm, account: &str, n: usize) -> Vec<RecordedSubmission> {
    wait_until(PATIENCE, || calls_for(farm, account).len() >= n);
    calls_for(farm, account)
}

/// `/stats` `upstream.forwards`.
pub fn forwards(farm: &Farm) -> Value {
    farm.stats()["upstream"]["forwards"].clone()
}

/// Outcomes reported so far: accepted + rejected + dropped.
pub fn outcomes(forwards: &Value) -> u64 {
    ["accepted", "rejected", "dropped"]
        .iter()
        .map(|k| forwards[*k].as_u64().unwrap_or(0))
        .sum()
}

/// Waits until `n` forwarded submissions have their outcome; returns the counters.
pub fn wait_for_outcomes(farm: &Farm, n: u64) -> Value {
    wait_until(PATIENCE, || outcomes(&forwards(farm)) >= n);
    let counted = forwards(farm);
    assert_eq!(
        outcomes(&counted),
        n,
        "more outcomes than forwarded: {counted}"
    );
    counted
}

pub fn dropped_for(forwards: &Value, reason: &str) -> u64 {
    forwards["dropped_by_reason"][reason].as_u64().unwrap_or(0)
}

/// The `/stats` row of one account.
pub fn account_row(farm: &Farm, account: &str) -> Value {
    let stats = farm.stats();
    let rows = stats["accounts"].as_array().cloned().unwrap_or_default();
    rows.into_iter()
        .find(|row| row["account"] == account)
        .unwrap_or(Value::Null)
}
