//! Prometheus's own checker: `promtool check metrics` on the `/metrics` of a running aggregator
//! with every figure present, `promtool check rules` on the shipped alert rules, and
//! `promtool test rules` on their unit tests (`alert_rules_test.yml` beside this file), which
//! must show every alert both firing and not firing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::stats::prometheus::parse_exposition;
use crate::support::process::{run_in, Finished};
use crate::support::TempDir;

use super::{alert_rules, busy_farm, dist, metrics_text, promtool_or_skip};

const LIMIT: Duration = Duration::from_secs(60);

fn promtool(promtool: &Path, args: &[&str], input: Option<&str>) -> Finished {
    let dir = TempDir::new("promtool");
    let mut command = Command::new(promtool);
    command.args(args);
    run_in(dir.path(), &mut command, input, LIMIT)
}

fn rules_test_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/service/alert_rules_test.yml")
}

#[test]
fn promtool_check_metrics_passes_with_every_figure_present() {
    let Some(promtool_path) = promtool_or_skip("promtool_check_metrics_passes") else {
        return;
    };
    let farm = busy_farm();
    let text = metrics_text(&farm);

    // Every declared family has samples, the ones shown only once known included.
    let (types, samples) = parse_exposition(&text);
    let mut per_family: BTreeMap<&str, usize> = types.keys().map(|k| (k.as_str(), 0)).collect();
    for (name, _, _) in &samples {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        *per_family.get_mut(family).unwrap() += 1;
    }
    let empty: Vec<_> = per_family.iter().filter(|(_, n)| **n == 0).collect();
    assert!(
        empty.is_empty(),
        "families without samples: {empty:?}\n{text}"
    );
    for family in [
        "pocx_aggregator_round_height",
        "pocx_aggregator_network_capacity_bytes",
        "pocx_aggregator_mining_info_age_seconds",
        "pocx_aggregator_forward_rejections_total",
        "pocx_aggregator_machine_last_submission_timestamp_seconds",
        "pocx_aggregator_request_duration_seconds",
        "pocx_aggregator_upstream_request_duration_seconds",
    ] {
        assert!(per_family.contains_key(family), "{family} missing\n{text}");
    }

    promtool(&promtool_path, &["check", "metrics"], Some(&text))
        .assert_clean("promtool check metrics");
}

#[test]
fn promtool_check_rules_passes_on_the_shipped_rules() {
    let Some(promtool_path) = promtool_or_skip("promtool_check_rules_passes") else {
        return;
    };
    let rules = dist("pocx_aggregator.rules.yml");
    let done = promtool(
        &promtool_path,
        &["check", "rules", rules.to_str().unwrap()],
        None,
    );
    assert_eq!(done.code, Some(0), "{}", done.output());
    assert!(
        done.stdout.contains("SUCCESS: 7 rules found"),
        "{}",
        done.output()
    );
}

#[test]
fn promtool_test_rules_shows_each_alert_firing_and_not_firing() {
    let Some(promtool_path) = promtool_or_skip("promtool_test_rules") else {
        return;
    };
    // Each alert of the rules has an evaluation expecting it silent and one expecting it firing.
    let alerts: BTreeSet<String> = alert_rules().into_iter().map(|(alert, _)| alert).collect();
    let tests: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(rules_test_file()).unwrap()).unwrap();
    let mut silent = BTreeSet::new();
    let mut firing = BTreeSet::new();
    for test in tests["tests"].as_sequence().unwrap() {
        for check in test["alert_rule_test"].as_sequence().unwrap() {
            let name = check["alertname"].as_str().unwrap().to_string();
            if check["exp_alerts"].as_sequence().unwrap().is_empty() {
                silent.insert(name);
            } else {
                firing.insert(name);
            }
        }
    }
    for alert in &alerts {
        assert!(
            silent.contains(alert),
            "{alert}: no case where it must not fire"
        );
        assert!(
            firing.contains(alert),
            "{alert}: no case where it must fire"
        );
    }

    let test_file = rules_test_file();
    let done = promtool(
        &promtool_path,
        &["test", "rules", test_file.to_str().unwrap()],
        None,
    );
    assert_eq!(done.code, Some(0), "{}", done.output());
    assert!(done.stdout.contains("SUCCESS"), "{}", done.output());
}
