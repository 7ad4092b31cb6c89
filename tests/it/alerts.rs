//! Integration tests: alerts raised from what simulated miners and a simulated upstream do,
//! shown in `/stats` and `/metrics`, and sent to webhook receivers on 127.0.0.1.

mod machines;
mod webhook;

use std::time::Duration;

use serde_json::Value;

use crate::support::{wait_until, Farm};

/// How long any alert may take beyond its bound (the board ticks twice a second).
pub const SLACK: Duration = Duration::from_secs(10);

/// The alert of `kind` about `subject` in `/stats`, if listed.
pub fn alert(farm: &Farm, kind: &str, subject: &str) -> Option<Value> {
    farm.stats()["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["kind"] == kind && a["subject"] == subject)
        .cloned()
}

/// Waits until that alert is listed in `state`; returns it.
pub fn wait_for_alert(farm: &Farm, kind: &str, subject: &str, state: &str) -> Value {
    let mut found = Value::Null;
    wait_until(SLACK, || {
        match alert(farm, kind, subject) {
            Some(a) if a["state"] == state => found = a,
            _ => return false,
        }
        true
    });
    found
}

/// `pocx_aggregator_alerts_firing{kind="…"}` from `/metrics`.
pub fn firing_metric(farm: &Farm, kind: &str) -> Option<u64> {
    let text = farm.get("/metrics").1;
    let prefix = format!("pocx_aggregator_alerts_firing{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
}
