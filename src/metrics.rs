//! `/metrics`: the statistics in Prometheus text exposition format 0.0.4.
//!
//! In: a `Stats` (counters and the lock-free latency histograms) and the `Gauges` other stages
//! own. Out: one text document, with HELP and TYPE for every family and escaped label values.
//! It keeps no state and serves nothing itself (the server maps `GET /metrics` to
//! [`render_metrics`] with content type [`CONTENT_TYPE`]). A gauge with no value yet (no round,
//! no mining info) is left out rather than reported as a made-up number.

use std::fmt::Write;

use crate::stats::{Gauges, HistogramSnapshot, Stats, LATENCY_BUCKETS_SECS};

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const PREFIX: &str = "pocx_aggregator_";

/// Capacities are kept in TiB (the protocol's unit); Prometheus wants the base unit.
const BYTES_PER_TIB: f64 = (1u64 << 40) as f64;

/// Renders every metric.
pub fn render_metrics(stats: &Stats, now_ms: u64, gauges: &Gauges) -> String {
    let c = stats.counters(now_ms);
    let mut out = Exposition::default();

    out.counter(
        "submissions_total",
        "Valid submissions received from miners.",
        c.submissions,
    );
    out.family(
        "forwards_total",
        "counter",
        "Forwarded submissions by final outcome.",
    );
    for (outcome, n) in [
        ("accepted", c.forwards_accepted),
        ("rejected", c.forwards_rejected),
        ("dropped", c.forwards_dropped),
    ] {
        out.sample("forwards_total", &[("outcome", outcome)], n);
    }
    out.family(
        "forward_drops_total",
        "counter",
        "Forwards dropped before an upstream verdict, by reason.",
    );
    for (reason, n) in &c.dropped_by_reason {
        out.sample("forward_drops_total", &[("reason", reason.as_str())], *n);
    }
    out.family(
        "forward_rejections_total",
        "counter",
        "Definitive upstream rejections by error code.",
    );
    for (code, n) in &c.rejected_by_code {
        out.sample(
            "forward_rejections_total",
            &[("code", &code.to_string())],
            *n,
        );
    }
    if c.rejected_other_codes > 0 {
        out.sample(
            "forward_rejections_total",
            &[("code", "other")],
            c.rejected_other_codes,
        );
    }
    out.counter(
        "forward_retries_total",
        "Upstream submit attempts beyond the first.",
        c.forward_retries,
    );
    out.counter(
        "upstream_refresh_errors_total",
        "Failed mining-info refreshes from the upstream.",
        c.upstream_refresh_errors,
    );
    out.counter(
        "store_failed_writes_total",
        "History database write transactions that failed.",
        gauges.store.failed_writes,
    );
    out.counter(
        "store_rows_written_total",
        "Rows written to the history database.",
        gauges.store.rows_written,
    );
    out.counter(
        "store_dropped_rows_total",
        "Rows the history database lost.",
        gauges.store.dropped_rows,
    );
    out.counter(
        "filter_capped_total",
        "Submissions refused because a round's key cap was reached.",
        gauges.filter_capped,
    );
    out.family(
        "http_refused_total",
        "counter",
        "Requests refused by the HTTP layer before any handler, by reason.",
    );
    for (reason, count) in &gauges.http_refused {
        out.sample("http_refused_total", &[("reason", reason)], *count);
    }
    out.counter(
        "http_requests_total",
        "Requests that passed the HTTP layer's checks and reached a handler, on both ports.",
        gauges.http.requests,
    );
    out.counter(
        "http_handler_panics_total",
        "Request handlers that panicked (answered 500), on both ports.",
        gauges.http.handler_panics,
    );
    out.counter(
        "http_body_read_failures_total",
        "Request bodies not received within the I/O timeout (answered 408), on both ports.",
        gauges.http.body_read_failures,
    );

    out.gauge(
        "upstream_up",
        "1 when the upstream answered the last refresh.",
        u64::from(c.upstream_reachable),
    );
    out.family(
        "upstream_active",
        "gauge",
        "1 for the upstream endpoint miners are served from and submissions go to.",
    );
    let endpoints = &gauges.upstreams.endpoints;
    for (index, endpoint) in endpoints.iter().enumerate() {
        let active = u64::from(index == gauges.upstreams.active);
        out.sample("upstream_active", &[("endpoint", &endpoint.label)], active);
    }
    out.family(
        "upstream_endpoint_up",
        "gauge",
        "1 when the upstream endpoint answered its last poll.",
    );
    for endpoint in endpoints {
        let up = u64::from(endpoint.reachable);
        out.sample("upstream_endpoint_up", &[("endpoint", &endpoint.label)], up);
    }
    out.family(
        "upstream_endpoint_latency_seconds",
        "gauge",
        "How long the upstream endpoint took to answer its last successful poll.",
    );
    for endpoint in endpoints {
        if let Some(ms) = endpoint.latency_ms {
            let seconds = float(ms as f64 / 1000.0);
            out.sample_text(
                "upstream_endpoint_latency_seconds",
                &[("endpoint", &endpoint.label)],
                &seconds,
            );
        }
    }
    out.counter(
        "upstream_failovers_total",
        "Switches of the active upstream endpoint (failovers and failbacks).",
        gauges.upstreams.switches,
    );
    out.gauge(
        "store_up",
        "1 while history writes succeed.",
        u64::from(gauges.store.ok),
    );
    out.gauge(
        "forward_queue_depth",
        "Forwards waiting, in backoff or in flight.",
        gauges.queue_depth as u64,
    );
    out.gauge(
        "verify_queue_depth",
        "Submissions waiting for verification.",
        gauges.verify_queue_depth as u64,
    );
    if let Some(height) = c.round_height {
        out.gauge("round_height", "Height of the round being mined.", height);
    }
    out.gauge("accounts", "Accounts tracked.", c.accounts as u64);
    out.gauge("machines", "Machines tracked.", c.machines as u64);
    out.gauge(
        "machines_active",
        "Machines seen in the last 5 minutes.",
        c.active_machines as u64,
    );
    out.gauge_f64(
        "farm_capacity_bytes",
        "Estimated capacity of all accounts, in bytes.",
        c.farm_capacity_tib * BYTES_PER_TIB,
    );
    if let Some(network) = c.network_capacity_tib {
        out.gauge_f64(
            "network_capacity_bytes",
            "Network capacity from the base target, in bytes.",
            network * BYTES_PER_TIB,
        );
    }
    out.gauge("uptime_seconds", "Seconds since start.", c.uptime_secs);
    out.family(
        "alerts_firing",
        "gauge",
        "Alerts firing now, by kind (every kind listed, 0 when none fires).",
    );
    let alerts = stats.alerts();
    for kind in crate::alerts::AlertKind::ALL {
        let firing = alerts
            .iter()
            .filter(|a| a.kind == kind && a.state == crate::alerts::AlertState::Firing)
            .count();
        out.sample("alerts_firing", &[("kind", kind.as_str())], firing as u64);
    }
    if let Some(age_ms) = gauges.mining_info_age_ms {
        out.gauge_f64(
            "mining_info_age_seconds",
            "Age of the mining info served.",
            age_ms as f64 / 1000.0,
        );
    }

    machine_last_submission(&mut out, stats);

    out.histogram(
        "request_duration_seconds",
        "Miner request handling time by method.",
        &stats.request_latencies(),
    );
    out.histogram(
        "upstream_request_duration_seconds",
        "Upstream call time by method.",
        &stats.upstream_latencies(),
    );
    out.text
}

/// One series per tracked machine (at most `DEFAULT_KEY_CAP`, each name at most 64 printable
/// characters, idle machines forgotten after a day), sorted by name so scrapes are stable. The
/// family is declared even with no machine yet, so a rule can tell "none" from "not exported".
fn machine_last_submission(out: &mut Exposition, stats: &Stats) {
    const NAME: &str = "machine_last_submission_timestamp_seconds";
    out.family(
        NAME,
        "gauge",
        "Unix time of the last submission from each machine tracked (seen within a day).",
    );
    let mut machines = stats.machines_last_seen();
    machines.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (machine, last_seen_ms) in machines {
        out.sample_text(
            NAME,
            &[("machine", &machine)],
            &float(last_seen_ms as f64 / 1000.0),
        );
    }
}

#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {PREFIX}{name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {PREFIX}{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.sample_text(name, labels, &value.to_string());
    }

    fn sample_text(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        let _ = write!(self.text, "{PREFIX}{name}");
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, label_value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(label_value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "counter", help);
        self.sample(name, &[], value);
    }

    fn gauge(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }

    fn gauge_f64(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, "gauge", help);
        self.sample_text(name, &[], &float(value));
    }

    fn histogram(&mut self, name: &str, help: &str, histograms: &[HistogramSnapshot]) {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for h in histograms {
            for (bound, count) in LATENCY_BUCKETS_SECS.iter().zip(h.cumulative.iter()) {
                self.sample(
                    &bucket,
                    &[("method", h.method), ("le", &float(*bound))],
                    *count,
                );
            }
            self.sample(&bucket, &[("method", h.method), ("le", "+Inf")], h.count);
            self.sample_text(
                &format!("{name}_sum"),
                &[("method", h.method)],
                &float(h.sum_secs),
            );
            self.sample(&format!("{name}_count"), &[("method", h.method)], h.count);
        }
    }
}

/// Go-style float text: Prometheus spells the specials `NaN`, `+Inf`, `-Inf`.
fn float(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        value.to_string()
    }
}

fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out
}

fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn floats_use_prometheus_spelling() {
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(0.0005), "0.0005");
        assert_eq!(float(1.0), "1");
    }
}
