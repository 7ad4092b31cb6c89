//! Integration tests: running as a service. What `dist/` ships, checked by the tools that will
//! read it: the configuration against the reference one and `--check`; `/metrics`, the alert
//! rules and their unit tests by `promtool`; a real Prometheus scraping a running aggregator;
//! the Grafana dashboard's queries against what `/metrics` exports; the built Debian package,
//! extracted, its binary run with its configuration and its unit checked by `systemd-analyze`.
//!
//! A test whose tool is missing says so loudly and is skipped, unless its `POCX_REQUIRE_*`
//! variable is 1 (`.ci/run` sets them and installs the tools).

mod package;
mod promtool;
mod scrape;
mod shipped;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pocx_aggregator::sim::Behaviour;
use serde_json::Value;

use crate::stats::prometheus::parse_exposition;
use crate::support::{account, process, wait_until, Farm};

/// Set to 1 (CI does) to fail instead of skip where `prometheus` or `promtool` is missing.
pub const REQUIRE_PROMETHEUS: &str = "POCX_REQUIRE_PROMETHEUS";

/// The Debian package that brings both `prometheus` and `promtool`.
const PROMETHEUS_PACKAGE: &str = "prometheus";

/// A file the package ships.
pub fn dist(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dist")
        .join(name)
}

/// `promtool`, or `None` after saying why `test` is skipped.
pub fn promtool_or_skip(test: &str) -> Option<PathBuf> {
    process::program_or_skip(test, "promtool", REQUIRE_PROMETHEUS, PROMETHEUS_PACKAGE)
}

/// Every alert of the shipped rules with its expression.
pub fn alert_rules() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dist("pocx_aggregator.rules.yml")).unwrap();
    let rules: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut alerts = Vec::new();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let field = |key: &str| rule[key].as_str().unwrap().to_string();
            alerts.push((field("alert"), field("expr")));
        }
    }
    alerts
}

/// An aggregator whose `/metrics` has every figure it can show: a round (height, network
/// capacity, mining info age), submissions from a machine, forwards accepted and rejected (so a
/// rejection code appears), a capacity estimate and both latency histograms.
pub fn busy_farm() -> Farm {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    farm.upstream
        .script_submit_answers(vec![Behaviour::Normal, Behaviour::RpcError(-32001)]);
    for n in 1..=2 {
        let answer = farm.submit(&round, &account(n), 1_000_000_000);
        assert!(answer["result"]["poc_time"].is_u64(), "{answer}");
    }
    wait_until(Duration::from_secs(10), || {
        let forwards = &farm.stats()["upstream"]["forwards"];
        forwards["accepted"] == 1 && forwards["rejected"] == 1
    });
    farm
}

/// The aggregator's `/metrics` text.
pub fn metrics_text(farm: &Farm) -> String {
    let (status, text) = farm.get("/metrics");
    assert_eq!(status, 200, "{text}");
    text
}

/// The name of every sample in an exposition text (`…_bucket`, `…_sum`, `…_count` included).
pub fn exported_names(text: &str) -> BTreeSet<String> {
    let (_, samples) = parse_exposition(text);
    samples.into_iter().map(|(name, _, _)| name).collect()
}

/// Every `pocx_aggregator_*` metric name a PromQL expression uses.
pub fn metric_names_in(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(start) = rest.find("pocx_aggregator_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// Every string under the key `key` anywhere in a JSON document.
pub fn strings_under(value: &Value, key: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(text) if k == key => out.push(text.clone()),
                    _ => strings_under(v, key, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| strings_under(v, key, out)),
        _ => {}
    }
}

#[test]
fn metric_names_are_read_out_of_promql() {
    let names = metric_names_in(
        "histogram_quantile(0.9, sum by (le) (rate(pocx_aggregator_request_duration_seconds_bucket{instance=~\"$i\"}[5m]))) / pocx_aggregator_up",
    );
    let want: BTreeSet<String> = [
        "pocx_aggregator_request_duration_seconds_bucket",
        "pocx_aggregator_up",
    ]
    .map(String::from)
    .into();
    assert_eq!(names, want);
}
