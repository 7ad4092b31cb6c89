//! What `dist/` ships, checked without outside tools: the service's configuration is the
//! reference one with the service's paths and validates; every metric the alert rules and the
//! Grafana dashboard query is one a running aggregator exports.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use pocx_aggregator::config;

use super::{
    alert_rules, busy_farm, dist, exported_names, metric_names_in, metrics_text, strings_under,
};
use crate::support::binary::run;
use crate::support::TempDir;

/// What turns the reference `aggregator_config.yaml` into the service's: each text must occur
/// exactly once in the reference, so a change there that the service's copy misses fails here.
const SERVICE_EDITS: &[(&str, &str)] = &[
    (
        "# pocx_aggregator configuration\n#\n",
        "# pocx_aggregator configuration, as the service reads it\n\
         #\n\
         # Installed by the pocx_aggregator package and kept across upgrades. Readable by root only, since\n\
         # it may hold passwords: systemd hands the service a private copy at each start. After an edit,\n\
         # check the file (below) and `sudo systemctl restart pocx_aggregator`.\n\
         #\n",
    ),
    (
        "#   pocx_aggregator --config aggregator_config.yaml --check\n",
        "#   sudo pocx_aggregator --config /etc/pocx_aggregator/aggregator_config.yaml --check\n",
    ),
    (
        "  # Database file; created if missing.\n  # Default: aggregator.db\n  path: \"aggregator.db\"\n",
        "  # Database file; created if missing. The service may write only below /var/lib/pocx_aggregator\n\
         \x20 # (its StateDirectory), which survives upgrades.\n\
         \x20 # Default: aggregator.db\n\
         \x20 path: \"/var/lib/pocx_aggregator/aggregator.db\"\n",
    ),
    (
        "  # Default: aggregator.log\n  file: \"aggregator.log\"\n",
        "  # The service's console is the journal (journalctl -u pocx_aggregator), so no file by default.\n\
         \x20 # To keep one as well, use the service's LogsDirectory:\n\
         \x20 #   file: \"/var/log/pocx_aggregator/aggregator.log\"\n\
         \x20 # Default: aggregator.log\n\
         \x20 file: \"\"\n",
    ),
];

/// Where the service keeps its history.
pub const SERVICE_DATABASE: &str = "/var/lib/pocx_aggregator/aggregator.db";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_service_configuration_is_the_reference_one_with_the_service_paths() {
    let reference = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("aggregator_config.yaml"));
    let mut expected = reference.clone();
    for (from, to) in SERVICE_EDITS {
        assert_eq!(
            reference.matches(from).count(),
            1,
            "the reference configuration no longer has, once: {from:?}"
        );
        expected = expected.replace(from, to);
    }
    let shipped = read(&dist("aggregator_config.yaml"));
    if shipped != expected {
        let first_difference = shipped
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "in length".to_string(), |n| format!("at line {}", n + 1));
        panic!("dist/aggregator_config.yaml differs from the reference plus SERVICE_EDITS {first_difference}");
    }
}

/// Checks what `--check` printed for the service's configuration: valid, history in the state
/// directory, no log file. Shared with the package test, which runs the packaged binary.
pub fn assert_service_check_output(code: Option<i32>, stdout: &str, output: &str) {
    assert_eq!(
        code,
        Some(0),
        "--check refused the service configuration\n{output}"
    );
    assert!(
        stdout.contains(SERVICE_DATABASE),
        "--check does not show the service's database path\n{output}"
    );
}

#[test]
fn the_service_configuration_validates_with_journal_only_logging() {
    let path = dist("aggregator_config.yaml");
    let config = config::load_file(&path).unwrap();
    assert_eq!(config.database.path, Path::new(SERVICE_DATABASE));
    assert_eq!(
        config.logging.file, None,
        "the service logs to the journal only"
    );

    // The command checks it without creating anything: /var/lib/pocx_aggregator need not exist.
    let dir = TempDir::new("service-config-check");
    let done = run(dir.path(), &["--check", "-c", path.to_str().unwrap()]);
    assert_service_check_output(done.code, &done.stdout, &done.output());
}

/// Every string of the JSON under these keys is PromQL.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    let mut queries = Vec::new();
    strings_under(&dashboard["panels"], "expr", &mut queries);
    strings_under(&dashboard["templating"], "definition", &mut queries);
    queries
}

#[test]
fn the_grafana_dashboard_queries_only_metrics_the_aggregator_exports() {
    let text = read(&dist("grafana-dashboard.json"));
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 20, "only {} queries found", queries.len());

    let farm = busy_farm();
    let exported = exported_names(&metrics_text(&farm));
    let used: BTreeSet<String> = queries.iter().flat_map(|q| metric_names_in(q)).collect();
    let unknown: Vec<&String> = used.difference(&exported).collect();
    assert!(unknown.is_empty(), "not exported: {unknown:?}");

    // What an operator opens it for.
    let uses = |needle: &str| queries.iter().any(|q| q.contains(needle));
    for needle in [
        "pocx_aggregator_farm_capacity_bytes",
        "pocx_aggregator_network_capacity_bytes",
        "rate(pocx_aggregator_submissions_total",
        "outcome) (rate(pocx_aggregator_forwards_total",
        "(rate(pocx_aggregator_request_duration_seconds_bucket",
        "(rate(pocx_aggregator_upstream_request_duration_seconds_bucket",
        "pocx_aggregator_forward_queue_depth",
        "pocx_aggregator_verify_queue_depth",
    ] {
        assert!(uses(needle), "no panel queries {needle}");
    }
    for query in queries.iter().filter(|q| q.contains("_bucket")) {
        assert!(
            query.starts_with("histogram_quantile(") && query.contains(" le)"),
            "a histogram read other than as quantiles by le: {query}"
        );
    }
}

#[test]
fn the_alert_rules_use_only_metrics_the_aggregator_exports() {
    let rules = alert_rules();
    let alerts: BTreeSet<String> = rules.iter().map(|(alert, _)| alert.clone()).collect();
    let used: BTreeSet<String> = rules
        .iter()
        .flat_map(|(_, expr)| metric_names_in(expr))
        .collect();
    let want: BTreeSet<String> = [
        "PocxUpstreamUnreachable",
        "PocxUpstreamEndpointDown",
        "PocxMiningInfoStale",
        "PocxForwardsFailing",
        "PocxHistoryStoreFailing",
        "PocxMachineSilent",
        "PocxFarmCapacityDropped",
    ]
    .map(String::from)
    .into();
    assert_eq!(alerts, want);

    let farm = busy_farm();
    let exported = exported_names(&metrics_text(&farm));
    let unknown: Vec<&String> = used.difference(&exported).collect();
    assert!(unknown.is_empty(), "not exported: {unknown:?}");
}
