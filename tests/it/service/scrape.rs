//! A real Prometheus (Debian's `prometheus`) scrapes a running aggregator on 127.0.0.1 every
//! second; a query through its HTTP API must return the aggregator's submission counter.
//!
//! Prometheus listens on 127.0.0.1 at a port picked free (it must be told one; a port taken
//! meanwhile makes it exit, and another is tried), keeps its storage in a temporary directory and
//! is killed when the test ends, however it ends.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{self, account, process, Farm, TempDir};

use super::{PROMETHEUS_PACKAGE, REQUIRE_PROMETHEUS};

/// Starting and the first scrapes; Prometheus opens its storage and web server in a second or two.
const READY_LIMIT: Duration = Duration::from_secs(60);
const PORT_ATTEMPTS: usize = 3;

/// A running Prometheus, killed on drop.
struct Prometheus {
    child: Child,
    base: String,
    dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts one scraping `target` (host:port) every second.
    fn start(binary: &Path, target: &str) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: pocx_aggregator\n    static_configs:\n      \
                 - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let log = dir.path().join("prometheus.log");
        for _ in 0..PORT_ATTEMPTS {
            let port = support::free_port().unwrap();
            let mut child = Command::new(binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            let base = format!("http://127.0.0.1:{port}");
            if wait_ready(&mut child, &base, &log) {
                return Prometheus { child, base, dir };
            }
        }
        panic!(
            "prometheus did not start on {PORT_ATTEMPTS} ports: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// One instant query through the HTTP API; the `data.result` array.
    fn query(&self, promql: &str) -> Vec<Value> {
        let mut response = support::agent()
            .get(format!("{}/api/v1/query", self.base))
            .query("query", promql)
            .call()
            .unwrap();
        let body: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(body["status"], "success", "{promql}: {body}");
        body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// What Prometheus says about its scrape targets, for failure messages.
    fn targets(&self) -> String {
        let (_, text) = support::get(&support::agent(), &format!("{}/api/v1/targets", self.base));
        text
    }
}

#[test]
fn prometheus_scrapes_the_aggregator_and_returns_its_submission_counter() {
    let Some(binary) = process::program_or_skip(
        "prometheus_scrapes_the_aggregator",
        "prometheus",
        REQUIRE_PROMETHEUS,
        PROMETHEUS_PACKAGE,
    ) else {
        return;
    };
    let farm = Farm::start();
    let round = farm.wait_for_round();
    for n in 0..3 {
        farm.submit(&round, &account(n), 1_000_000 + u64::from(n));
    }
    let submissions = farm.stats()["totals"]["submissions"].as_u64().unwrap();
    assert_eq!(submissions, 3);

    let target = farm.url.trim_start_matches("http://").trim_end_matches('/');
    let prometheus = Prometheus::start(&binary, target);
    let query = "pocx_aggregator_submissions_total{job=\"pocx_aggregator\"}";
    let deadline = Instant::now() + READY_LIMIT;
    let sample = loop {
        let result = prometheus.query(query);
        if let Some(sample) = result.first() {
            break sample.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no sample of {query} within {READY_LIMIT:?}; targets: {}; log: {}",
            prometheus.targets(),
            prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(sample["metric"]["instance"], target, "{sample}");
    assert_eq!(sample["value"][1], submissions.to_string(), "{sample}");

    // The whole exposition was taken in: a histogram reads back as quantiles.
    let quantile = prometheus.query(
        "histogram_quantile(0.5, sum by (le) (pocx_aggregator_request_duration_seconds_bucket))",
    );
    assert_eq!(quantile.len(), 1, "{quantile:?}");
}

/// True once `/-/ready` answers 200; false when the process exits first (its port was taken).
fn wait_ready(child: &mut Child, base: &str, log: &Path) -> bool {
    let agent = support::agent();
    let deadline = Instant::now() + READY_LIMIT;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if let Ok(response) = agent.get(format!("{base}/-/ready")).call() {
            if response.status() == 200 {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "prometheus not ready within {READY_LIMIT:?}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}
