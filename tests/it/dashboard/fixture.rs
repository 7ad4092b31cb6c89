//! The fixture the headless page is checked against: fixed statistics of a farm with hostile
//! machine names and a fixed history book, served by the dashboard handler on a local tiny_http
//! server as the application would run it.

use std::sync::Arc;
use std::thread::JoinHandle;

use pocx_aggregator::dashboard::{handle, Reports};
use pocx_aggregator::events::now_ms;
use pocx_aggregator::history::{answer, HistoryBook};
use pocx_aggregator::http::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{HOSTILE_IMG, HOSTILE_SCRIPT};

/// Fixed statistics (their clock running) and a fixed history book.
pub(super) struct FixtureReports {
    pub(super) stats: Value,
    pub(super) book: Arc<HistoryBook>,
}

impl Reports for FixtureReports {
    fn stats_json(&self) -> String {
        let mut live = self.stats.clone();
        live["now_ms"] = json!(now_ms());
        live.to_string()
    }

    fn metrics_text(&self) -> String {
        String::new()
    }

    fn health(&self) -> (u16, String) {
        (200, "{}".to_owned())
    }

    fn history(&self, query: &str) -> (u16, String) {
        answer(&self.book, query, now_ms())
    }
}

/// The dashboard handler on a local tiny_http server, as the application would run it.
pub(super) struct FixtureServer {
    server: Arc<tiny_http::Server>,
    worker: Option<JoinHandle<()>>,
}

impl FixtureServer {
    pub(super) fn start(reports: FixtureReports) -> FixtureServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let listener = Arc::clone(&server);
        let worker = std::thread::spawn(move || {
            // Ends when `stop` unblocks the queue.
            for request in listener.incoming_requests() {
                let response = handle(&reports, None, to_request(&request));
                let _ = request.respond(to_tiny(response));
            }
        });
        FixtureServer {
            server,
            worker: Some(worker),
        }
    }

    pub(super) fn url(&self) -> String {
        let addr = self.server.server_addr().to_ip().unwrap();
        format!("http://{addr}/")
    }

    /// Stops answering and closes the listening socket.
    pub(super) fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.server.unblock();
        if let Some(worker) = self.worker.take() {
            worker.join().unwrap();
        }
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn to_request(request: &tiny_http::Request) -> HttpRequest {
    let url = request.url();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut converted = HttpRequest::new(request.method().as_str(), path);
    converted.query = query.to_owned();
    for header in request.headers() {
        converted = converted.with_header(header.field.as_str().as_str(), header.value.as_str());
    }
    converted.remote = request.remote_addr().copied();
    converted
}

fn to_tiny(response: HttpResponse) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut out = tiny_http::Response::from_data(response.body).with_status_code(response.status);
    let content_type = tiny_http::Header::from_bytes("Content-Type", response.content_type);
    out.add_header(content_type.unwrap());
    for (name, value) in response.headers {
        out.add_header(tiny_http::Header::from_bytes(name, value).unwrap());
    }
    out
}

/// A farm of four accounts and six machines (two with hostile names) over twelve rounds.
pub(super) fn fixture_stats(now: u64) -> Value {
    let acc = [
        "7f3a9c0e5b1d2f4a6c8e0b2d4f6a8c0e1b3d5f70",
        "0c1d2e3f405162738495a6b7c8d9eaf0b1c2d3e4",
        "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9",
        "ffffeeeeddddccccbbbbaaaa9999888877776666",
    ];
    let account = |id: &str, machines: &[&str], cap: Value, best: Value, rounds: u64, ago: u64| {
        json!({ "account": id, "submissions": rounds * 3, "best_raw_quality": best.as_u64().map(|p| p * 2_000_000_000_000),
                "best_poc_time": best, "capacity_tib": cap, "rounds_24h": rounds, "round_share_24h": rounds as f64 / 720.0,
                "last_seen_ms": now - ago, "active": ago < 600_000, "rejected": 0, "machines": machines })
    };
    let machine = |name: &str,
                   accounts: &[&str],
                   cap: Value,
                   best: Value,
                   rounds: u64,
                   ago: u64| {
        json!({ "machine": name, "submissions": rounds * 2, "best_raw_quality": best.as_u64().map(|p| p * 2_000_000_000_000),
                "best_poc_time": best, "capacity_tib": cap, "rounds_24h": rounds, "round_share_24h": rounds as f64 / 720.0,
                "last_seen_ms": now - ago, "active": ago < 600_000, "rejected": 1, "accounts": accounts })
    };
    let poc_times: [Option<u64>; 12] = [
        Some(1096),
        Some(87),
        Some(240),
        None,
        Some(45),
        Some(610),
        Some(133),
        Some(19),
        Some(302),
        Some(75),
        Some(1500),
        Some(260),
    ];
    let rounds: Vec<Value> = poc_times
        .iter()
        .enumerate()
        .map(|(i, poc)| {
            let height = 41_200 - i as u64;
            json!({ "height": height, "block_hash": format!("{height:064x}"), "base_target": 2_982_616 + i as u64 * 1000,
                    "started_ms": now - 40_000 - i as u64 * 120_000, "best_raw_quality": poc.map(|p| p * 2_000_000_000_000),
                    "best_poc_time": poc, "best_account": poc.map(|_| acc[i % 3]),
                    "best_machine": poc.map(|_| ["rig-alpha", HOSTILE_IMG, "rig-beta"][i % 3]),
                    "accepted": i > 0 && poc.is_some() && i % 3 != 2 })
        })
        .collect();
    json!({
        "version": "0.1.0", "simulation": true, "uptime_secs": 93_784, "now_ms": now, "mode": "pool",
        "upstream": { "name": "main-pool", "url": "http://pool.example:8080/pocx", "reachable": true,
            "last_success_ms": now - 900, "latency_ms": 42, "refresh_errors": 3, "last_error": "timed out after 5 s",
            "queue_depth": 1, "verify_queue_depth": 0, "active": "http://backup-1.example:8080/pocx", "failovers": 1,
            "endpoints": [
                { "url": "http://pool.example:8080/pocx", "role": "primary", "active": false, "reachable": false,
                  "latency_ms": null, "failed_polls": 4, "last_error": "connection refused", "same_chain": null },
                { "url": "http://backup-1.example:8080/pocx", "role": "backup", "active": true, "reachable": true,
                  "latency_ms": 42, "failed_polls": 0, "last_error": null, "same_chain": true },
                { "url": HOSTILE_SCRIPT, "role": "backup", "active": false, "reachable": true,
                  "latency_ms": 1250, "failed_polls": 0, "last_error": null, "same_chain": false } ],
            "forwards": { "accepted": 3412, "rejected": 7, "dropped": 55, "retries": 12,
                "dropped_by_reason": { "superseded": 50, "round_expired": 5 }, "rejected_by_code": { "-32001": 7 } } },
        "store": { "ok": true, "rows_written": 120_455, "failed_writes": 0, "dropped_rows": 0, "last_error": null },
        "round": { "height": 41_200, "base_target": 2_982_616, "generation_signature": "ab".repeat(32),
            "block_hash": format!("{:064x}", 41_200), "started_ms": now - 40_000, "network_capacity_tib": 12_288.4 },
        "best": { "account": acc[0], "machine": "rig-alpha", "raw_quality": 2_387_302_541_580_475u64, "poc_time": 1096 },
        "totals": { "accounts": 4, "machines": 6, "active_machines": 4, "farm_capacity_tib": 1289.3,
            "submissions": 91_234, "rejected": 7, "failed_verification": 0 },
        "accounts": [
            account(acc[0], &["rig-alpha", HOSTILE_IMG], json!(38.6), json!(1096), 640, 4_000),
            account(acc[1], &["rig-beta", HOSTILE_SCRIPT], json!(1250.0), json!(1300), 702, 9_000),
            account(acc[2], &["pi-garage", "new-node"], json!(0.45), Value::Null, 120, 3 * 3_600_000),
            account(acc[3], &[], Value::Null, Value::Null, 0, 2 * 86_400_000),
        ],
        "machines": [
            machine("rig-alpha", &[acc[0]], json!(30.1), json!(1096), 640, 4_000),
            machine(HOSTILE_IMG, &[acc[0]], json!(8.5), json!(2210), 600, 5_000),
            machine("rig-beta", &[acc[1]], json!(1249.25), json!(1300), 702, 9_000),
            machine(HOSTILE_SCRIPT, &[acc[1]], json!(0.75), Value::Null, 310, 30_000),
            machine("pi-garage", &[acc[2]], json!(0.45), Value::Null, 120, 3 * 3_600_000),
            machine("new-node", &[acc[2], acc[0]], Value::Null, Value::Null, 0, 50_000),
        ],
        "rounds": rounds,
        "alerts": [
            { "kind": "machine_silent", "subject": HOSTILE_IMG, "state": "firing", "since_ms": now - 300_000,
              "message": format!("{HOSTILE_IMG} has not polled for 300 s") },
            { "kind": "capacity_drop", "subject": "farm", "state": "firing", "since_ms": now - 7_200_000,
              "message": "capacity of farm fell to about 640.2 TiB from a baseline of 1289.3 TiB" },
            { "kind": "upstream_unreachable", "subject": "main-pool", "state": "resolved", "since_ms": now - 60_000,
              "message": "upstream main-pool is reachable again" },
        ],
    })
}
