//! `/metrics`: every line of the rendered text parses, and the numbers are the recorded ones.

use std::collections::HashMap;
use std::time::Duration;

use pocx_aggregator::events::{DropReason, Outcome};
use pocx_aggregator::metrics::render_metrics;
use pocx_aggregator::stats::{Gauges, UpstreamStatus, LATENCY_BUCKETS_SECS};

use super::{outcome, round, stats, sub, MINUTE, T0};

/// One sample line of the text format: name, labels, value.
pub type Sample = (String, Vec<(String, String)>, f64);

/// A strict little parser for Prometheus text format 0.0.4: every line must be a HELP, a TYPE,
/// or a sample of a declared family.
pub fn parse_exposition(text: &str) -> (HashMap<String, String>, Vec<Sample>) {
    let mut types = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(rest.split_once(' ').is_some(), "HELP without text: {line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "twice: {name}"
            );
        } else {
            let sample = parse_sample(line);
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    sample
                        .0
                        .strip_suffix(suffix)
                        .filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
                })
                .unwrap_or(&sample.0);
            assert!(types.contains_key(family), "sample before its TYPE: {line}");
            samples.push(sample);
        }
    }
    (types, samples)
}

fn parse_sample(line: &str) -> Sample {
    let (head, value) = line
        .rsplit_once(' ')
        .unwrap_or_else(|| panic!("no value: {line}"));
    let (name, labels) = match head.split_once('{') {
        None => (head, Vec::new()),
        Some((name, body)) => {
            let body = body
                .strip_suffix('}')
                .unwrap_or_else(|| panic!("unclosed: {line}"));
            (name, parse_labels(body, line))
        }
    };
    assert!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "{line}"
    );
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}")),
    };
    (name.to_string(), labels, value)
}

fn parse_labels(body: &str, line: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut chars = body.chars();
    loop {
        let label: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert!(
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        loop {
            match chars
                .next()
                .unwrap_or_else(|| panic!("unterminated value: {line}"))
            {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c @ ('\\' | '"')) => value.push(c),
                    other => panic!("bad escape {other:?}: {line}"),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((label, value));
        match chars.next() {
            None => return labels,
            Some(',') => {}
            Some(c) => panic!("unexpected {c:?}: {line}"),
        }
    }
}

#[test]
fn metrics_text_parses_line_by_line_and_matches_what_was_recorded() {
    let s = stats();
    s.on_new_round(&round(5, 36_650_387_592));
    for i in 0..7 {
        s.record_submission(&sub(5, "acc", &format!("rig-{}", i % 3), 100 + i));
    }
    let accepted = Outcome::Accepted {
        upstream_poc_time: Some(9),
    };
    s.record_outcome(&outcome(5, "acc", 100, accepted.clone(), 1));
    s.record_outcome(&outcome(5, "acc", 100, accepted, 3));
    let rejected = Outcome::Rejected {
        code: -32002,
        reason: "wrong height".into(),
    };
    s.record_outcome(&outcome(5, "acc", 101, rejected, 2));
    for _ in 0..2 {
        s.record_outcome(&outcome(
            5,
            "acc",
            102,
            Outcome::Dropped(DropReason::Superseded),
            0,
        ));
    }
    s.record_outcome(&outcome(
        5,
        "acc",
        103,
        Outcome::Dropped(DropReason::RetriesExhausted),
        5,
    ));
    s.set_upstream(UpstreamStatus {
        name: "pool \"one\"".into(),
        reachable: true,
        refresh_errors: 4,
        ..UpstreamStatus::default()
    });
    for _ in 0..10 {
        s.record_request("get_mining_info", Duration::from_micros(900));
    }
    for _ in 0..3 {
        s.record_request("submit_nonce", Duration::from_millis(30));
    }
    for _ in 0..2 {
        s.record_request("made\"up\nmethod", Duration::from_secs(2));
    }
    for _ in 0..4 {
        s.record_upstream_call("submit_nonce", Duration::from_millis(100));
    }
    let mut gauges = Gauges {
        queue_depth: 3,
        mining_info_age_ms: Some(1_500),
        ..Gauges::default()
    };
    gauges.store.failed_writes = 2;
    gauges.store.ok = true;

    let text = render_metrics(&s, T0 + 11 * MINUTE, &gauges);
    let (types, samples) = parse_exposition(&text);
    let get = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let name = format!("pocx_aggregator_{name}");
        let found: Vec<f64> = samples
            .iter()
            .filter(|(n, l, _)| {
                *n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?} in\n{text}");
        found[0]
    };
    assert_eq!(types["pocx_aggregator_submissions_total"], "counter");
    assert_eq!(get("submissions_total", &[]), 7.0);
    assert_eq!(get("forwards_total", &[("outcome", "accepted")]), 2.0);
    assert_eq!(get("forwards_total", &[("outcome", "rejected")]), 1.0);
    assert_eq!(get("forwards_total", &[("outcome", "dropped")]), 3.0);
    assert_eq!(get("forward_drops_total", &[("reason", "superseded")]), 2.0);
    assert_eq!(
        get("forward_drops_total", &[("reason", "retries_exhausted")]),
        1.0
    );
    assert_eq!(get("forward_drops_total", &[("reason", "queue_full")]), 0.0);
    assert_eq!(get("forward_rejections_total", &[("code", "-32002")]), 1.0);
    assert_eq!(get("forward_retries_total", &[]), 7.0); // 0 + 2 + 1 + 0 + 0 + 4
    assert_eq!(get("upstream_refresh_errors_total", &[]), 4.0);
    assert_eq!(get("store_failed_writes_total", &[]), 2.0);
    assert_eq!(get("upstream_up", &[]), 1.0);
    assert_eq!(get("forward_queue_depth", &[]), 3.0);
    assert_eq!(get("round_height", &[]), 5.0);
    assert_eq!(get("accounts", &[]), 1.0);
    assert_eq!(get("machines_active", &[]), 3.0);
    assert!(get("farm_capacity_bytes", &[]) > 0.0);
    // The genesis base target is one TiB of network capacity, here in bytes.
    let network_tib = get("network_capacity_bytes", &[]) / (1u64 << 40) as f64;
    assert!((network_tib - 1.0).abs() < 1e-9, "{network_tib}");
    for i in 0..3 {
        let machine = format!("rig-{i}");
        let last_seen = get(
            "machine_last_submission_timestamp_seconds",
            &[("machine", &machine)],
        );
        // Every submission of the round arrived one second into it (see `sub`).
        assert_eq!(last_seen, (T0 + 10 * MINUTE + 1_000) as f64 / 1000.0);
    }
    assert_eq!(get("uptime_seconds", &[]), 660.0);
    assert_eq!(get("mining_info_age_seconds", &[]), 1.5);

    let histogram = |name: &str, method: &str, count: f64| {
        let mut previous = 0.0;
        for bound in LATENCY_BUCKETS_SECS {
            let le = bound.to_string();
            let n = get(
                &format!("{name}_bucket"),
                &[("method", method), ("le", &le)],
            );
            assert!(n >= previous, "{name} buckets must be cumulative");
            previous = n;
        }
        assert_eq!(
            get(
                &format!("{name}_bucket"),
                &[("method", method), ("le", "+Inf")]
            ),
            count
        );
        assert_eq!(get(&format!("{name}_count"), &[("method", method)]), count);
    };
    histogram("request_duration_seconds", "get_mining_info", 10.0);
    histogram("request_duration_seconds", "submit_nonce", 3.0);
    histogram("request_duration_seconds", "other", 2.0);
    histogram("upstream_request_duration_seconds", "submit_nonce", 4.0);
    let le = [("method", "get_mining_info"), ("le", "0.001")];
    assert_eq!(get("request_duration_seconds_bucket", &le), 10.0);
    let le = [("method", "get_mining_info"), ("le", "0.0005")];
    assert_eq!(get("request_duration_seconds_bucket", &le), 0.0);
    let sum = get("request_duration_seconds_sum", &[("method", "other")]);
    assert!((sum - 4.0).abs() < 1e-9);
}
