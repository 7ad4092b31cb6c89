//! Integration tests: the dashboard page in a real headless Chromium.
//!
//! [`check_dashboard`] takes the URL of any running dashboard plus what its `/stats` says, and
//! checks what a person would see: tables, chart, hostile names shown as text, no "undefined" or
//! "NaN", the stale banner once the data source stops answering. It runs against the dashboard
//! handler on a local tiny_http server with fixture data, and against a whole aggregator fed by
//! simulated miners (`live`).

mod history_chart;
mod live;

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pocx_aggregator::dashboard::{handle, Reports};
use pocx_aggregator::history::{answer, HistoryBook};
use pocx_aggregator::http::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::browser::{self, Browser};

const HOSTILE_IMG: &str = "<img src=x onerror=window.__xss=1>";
const HOSTILE_SCRIPT: &str = "<script>window.__xss=2</script>";
const RENDER_TIMEOUT: Duration = Duration::from_secs(20);
/// Refresh period (5 s) + fetch timeout (3 s) + slack for a busy host.
const STALE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the page must show, taken from the `/stats` document it is fed.
pub struct Expected {
    pub accounts: Vec<String>,
    pub machines: Vec<String>,
    pub simulation: bool,
    /// Messages of the firing alerts, which the banner above the cards must show.
    pub firing_alerts: Vec<String>,
}

impl Expected {
    pub fn from_stats(stats: &Value) -> Expected {
        let names = |list: &str, field: &str| -> Vec<String> {
            stats[list]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|entry| entry[field].as_str().map(str::to_owned))
                .collect()
        };
        Expected {
            accounts: names("accounts", "account"),
            machines: names("machines", "machine"),
            simulation: stats["simulation"] == json!(true),
            firing_alerts: stats["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["state"] == "firing")
                .filter_map(|a| a["message"].as_str().map(str::to_owned))
                .collect(),
        }
    }
}

/// What the page drew, for callers that know the exact figures.
#[derive(Debug)]
pub struct PageReport {
    pub chart_points: u64,
    pub accepted_points: u64,
    pub history: history_chart::HistoryReport,
    pub stale_text: String,
}

/// Drives a headless browser against the dashboard at `page_url`; `make_stale` must make the
/// page's `/stats` stop answering. Returns `None` (after a loud message) when no browser is
/// installed and `POCX_REQUIRE_BROWSER` is not 1.
pub fn check_dashboard(
    test: &str,
    page_url: &str,
    expected: &Expected,
    make_stale: impl FnOnce(),
) -> Option<PageReport> {
    let driver = browser::chromedriver_or_skip(test)?;
    let browser = Browser::launch(&driver, 1280, 1900).unwrap();
    browser.goto(page_url).unwrap();

    let want = json!({ "accounts": expected.accounts, "machines": expected.machines });
    browser
        .wait_until(
            "every account and machine in the tables",
            &format!(
                "var want = {want};
                 var titles = Array.from(document.querySelectorAll('#accounts tbody tr.row .name')).map(function (e) {{ return e.title; }});
                 var names = Array.from(document.querySelectorAll('#machines tbody tr.row .name')).map(function (e) {{ return e.textContent; }});
                 return want.accounts.every(function (a) {{ return titles.indexOf(a) >= 0; }}) &&
                        want.machines.every(function (m) {{ return names.indexOf(m) >= 0; }});"
            ),
            RENDER_TIMEOUT,
        )
        .unwrap();

    assert_no_script_ran(&browser);
    assert_clean_text(&browser, "after the first render");

    let badge = browser
        .execute("var b = document.getElementById('sim'); return !b.hidden && b.offsetHeight > 0;")
        .unwrap();
    assert_eq!(badge, json!(expected.simulation), "SIMULATION badge");

    let formats = browser
        .execute(
            "function t(id) { return document.getElementById(id).textContent; }
             return { poc: /^(\\d[\\d,]*:\\d\\d|\u{2014})$/.test(t('b-poc')),
                      cap: /^(\\d+(\\.\\d+)? (KiB|MiB|GiB|TiB|PiB|EiB)|< 1 KiB|0 B|\u{2014})$/.test(t('f-cap')),
                      texts: [t('b-poc'), t('f-cap')] };",
        )
        .unwrap();
    assert_eq!(formats["poc"], json!(true), "poc_time as m:ss: {formats}");
    assert_eq!(
        formats["cap"],
        json!(true),
        "binary capacity units: {formats}"
    );

    let chart = browser
        .execute(
            "return { points: document.querySelectorAll('#chart svg circle').length,
                      accepted: document.querySelectorAll('#chart svg circle.acc').length };",
        )
        .unwrap();
    let chart_points = chart["points"].as_u64().unwrap();
    let accepted_points = chart["accepted"].as_u64().unwrap();
    assert!(chart_points > 0, "chart has no points: {chart}");

    check_alert_banner(&browser, expected);
    let history = history_chart::check_history(&browser, page_url, expected.machines.len());
    check_sorting(&browser);
    check_expanding(&browser);
    assert_clean_text(&browser, "after sorting and expanding");
    save_screenshot(&browser, "dashboard-screenshot.png");

    browser.set_window_size(390, 2000).unwrap();
    let fit = browser
        .wait_until(
            "the phone-sized layout",
            "var chart = document.querySelector('#chart svg');
             var redrawn = !chart || chart.viewBox.baseVal.width <= window.innerWidth;
             return window.innerWidth <= 420 && redrawn ? { page: document.documentElement.scrollWidth, view: window.innerWidth } : null;",
            RENDER_TIMEOUT,
        )
        .unwrap();
    assert!(
        fit["page"].as_u64() <= fit["view"].as_u64(),
        "page scrolls sideways on a phone: {fit}"
    );
    save_screenshot(&browser, "dashboard-screenshot-phone.png");

    make_stale();
    let stale_text = browser
        .wait_until(
            "the stale banner",
            "var s = document.getElementById('stale');
             return !s.hidden && s.offsetHeight > 0 && s.textContent.indexOf('STALE') >= 0 ? s.textContent : '';",
            STALE_TIMEOUT,
        )
        .unwrap();
    save_screenshot(&browser, "dashboard-screenshot-stale.png");
    assert_no_script_ran(&browser);
    assert_clean_text(&browser, "while stale");

    Some(PageReport {
        chart_points,
        accepted_points,
        history,
        stale_text: stale_text.as_str().unwrap_or_default().to_owned(),
    })
}

/// The banner lists every firing alert (as text), above the cards; without one it is hidden.
fn check_alert_banner(browser: &Browser, expected: &Expected) {
    let banner = browser
        .execute(
            "var b = document.getElementById('alerts'), cards = document.querySelector('.cards');
             return { shown: !b.hidden && b.offsetHeight > 0,
                      above: b.hidden || b.getBoundingClientRect().bottom <= cards.getBoundingClientRect().top,
                      lines: Array.from(b.querySelectorAll('li')).map(function (li) { return li.textContent; }),
                      title: document.getElementById('alerts-title').textContent };",
        )
        .unwrap();
    let firing = &expected.firing_alerts;
    assert_eq!(
        banner["shown"],
        json!(!firing.is_empty()),
        "banner: {banner}"
    );
    assert_eq!(
        banner["above"],
        json!(true),
        "banner above the cards: {banner}"
    );
    let lines = banner["lines"].as_array().unwrap();
    assert_eq!(
        lines.len(),
        firing.len(),
        "one line per firing alert: {banner}"
    );
    for message in firing {
        assert!(
            lines
                .iter()
                .any(|l| l.as_str().is_some_and(|l| l.starts_with(message.as_str()))),
            "{message} not in the banner: {banner}"
        );
    }
    if !firing.is_empty() {
        let title = format!("{} ALERT", firing.len());
        assert!(
            banner["title"].as_str().unwrap().starts_with(&title),
            "{banner}"
        );
    }
}

fn assert_no_script_ran(browser: &Browser) {
    let found = browser
        .execute(
            "return { xss: typeof window.__xss, images: document.querySelectorAll('img').length,
                      scripts: document.scripts.length };",
        )
        .unwrap();
    assert_eq!(
        found,
        json!({ "xss": "undefined", "images": 0, "scripts": 1 }),
        "miner-supplied markup was interpreted"
    );
}

fn assert_clean_text(browser: &Browser, when: &str) {
    let bad = browser
        .execute(
            "var t = document.body.innerText;
             var bad = ['undefined', 'NaN', 'Infinity', '[object', '{\"'].filter(function (w) { return t.indexOf(w) >= 0; });
             if (/\\bnull\\b/.test(t)) bad.push('null');
             return bad;",
        )
        .unwrap();
    assert_eq!(bad, json!([]), "raw values shown to the user {when}");
}

/// Clicking the Machine header sorts by name; clicking Capacity sorts largest first, unknown last.
fn check_sorting(browser: &Browser) {
    let sorted = browser
        .execute(
            "function rows() { return Array.from(document.querySelectorAll('#machines tbody tr.row')); }
             var units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
             function cap(text) {
               if (text === '0 B') return 0;
               if (text === '< 1 KiB') return 0.5;
               var m = /^([\\d.]+) (\\w+)$/.exec(text);
               return m && units.indexOf(m[2]) >= 0 ? parseFloat(m[1]) * Math.pow(1024, units.indexOf(m[2])) : null;
             }
             document.querySelector('#machines th[data-key=\"machine\"]').click();
             var names = rows().map(function (r) { return r.querySelector('.name').textContent.toLowerCase(); });
             document.querySelector('#machines th[data-key=\"capacity_tib\"]').click();
             var caps = rows().map(function (r) { return cap(r.cells[2].textContent); });
             var desc = true, sawNull = false;
             caps.forEach(function (c, i) {
               if (c === null) { sawNull = true; return; }
               if (sawNull || (i > 0 && c > caps[i - 1])) desc = false;
             });
             return { ascending: names.every(function (n, i) { return i === 0 || names[i - 1] <= n; }),
                      descending: desc, names: names, caps: caps };",
        )
        .unwrap();
    assert_eq!(sorted["ascending"], json!(true), "sort by name: {sorted}");
    assert_eq!(
        sorted["descending"],
        json!(true),
        "sort by capacity: {sorted}"
    );
}

/// Clicking an account row shows one chip per machine it lists.
fn check_expanding(browser: &Browser) {
    let opened = browser
        .execute(
            "var row = document.querySelector('#accounts tbody tr.row');
             var listed = parseInt(row.cells[1].textContent, 10);
             row.click();
             var again = document.querySelector('#accounts tbody tr.row'), sub = again.nextElementSibling;
             return { listed: listed, isSub: !!sub && sub.classList.contains('sub'),
                      chips: sub ? sub.querySelectorAll('.chip').length : -1 };",
        )
        .unwrap();
    assert_eq!(opened["isSub"], json!(true), "expanded row: {opened}");
    assert_eq!(opened["chips"], opened["listed"], "expanded row: {opened}");
}

fn save_screenshot(browser: &Browser, name: &str) {
    let png = browser.screenshot_png().unwrap();
    assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
    // CARGO_TARGET_TMPDIR is target/tmp: the picture goes next to it, never into the sources.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap();
    let path = dir.join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

#[test]
fn dashboard_renders_fixture_in_headless_chromium() {
    let now = now_ms();
    let stats = fixture_stats(now);
    let fixture = stats.clone();
    let book = history_chart::fixture_history(now, &stats);
    let server = FixtureServer::start(FixtureReports {
        stats: fixture,
        book,
    });
    let expected = Expected::from_stats(&stats);
    assert!(expected.machines.iter().any(|m| m == HOSTILE_IMG));
    assert!(expected.machines.iter().any(|m| m == HOSTILE_SCRIPT));
    assert_eq!(expected.firing_alerts.len(), 2);

    let url = server.url();
    let Some(report) = check_dashboard(
        "dashboard_renders_fixture_in_headless_chromium",
        &url,
        &expected,
        move || server.stop(),
    ) else {
        return;
    };
    let rounds = stats["rounds"].as_array().unwrap();
    let with_best = rounds.iter().filter(|r| r["best_poc_time"].is_u64());
    assert_eq!(report.chart_points, with_best.clone().count() as u64);
    let accepted = with_best.filter(|r| r["accepted"] == json!(true)).count() as u64;
    assert_eq!(report.accepted_points, accepted);
    let h = &report.history;
    // 25 of the 30 hours reach into the last day; the farm's marks: its capacity drop and the
    // upstream's outage; the machine with the hostile name has its silence marked.
    assert_eq!(
        (h.day_points, h.week_points),
        (25, history_chart::HISTORY_HOURS),
        "{h:?}"
    );
    assert_eq!(h.day_marks, 2, "{h:?}");
    assert_eq!(h.machine_marks, 1, "{h:?}");
    assert!(report.stale_text.contains("not answering"), "{report:?}");
}

fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

/// Fixed statistics (their clock running) and a fixed history book.
struct FixtureReports {
    stats: Value,
    book: Arc<HistoryBook>,
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
struct FixtureServer {
    server: Arc<tiny_http::Server>,
    worker: Option<JoinHandle<()>>,
}

impl FixtureServer {
    fn start(reports: FixtureReports) -> FixtureServer {
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

    fn url(&self) -> String {
        let addr = self.server.server_addr().to_ip().unwrap();
        format!("http://{addr}/")
    }

    /// Stops answering and closes the listening socket.
    fn stop(mut self) {
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
fn fixture_stats(now: u64) -> Value {
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
            "queue_depth": 1, "verify_queue_depth": 0,
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
