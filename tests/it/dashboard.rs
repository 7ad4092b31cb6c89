//! Integration tests: the dashboard page in a real headless Chromium.
//!
//! [`check_dashboard`] takes the URL of any running dashboard plus what its `/stats` says, and
//! checks what a person would see: tables, chart, hostile names shown as text, no "undefined" or
//! "NaN", the stale banner once the data source stops answering. It runs against the dashboard
//! handler on a local tiny_http server with fixture data, and against a whole aggregator fed by
//! simulated miners (`live`).

mod fixture;
mod history_chart;
mod live;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use pocx_aggregator::events::now_ms;

use crate::browser::{self, Browser};
use fixture::{fixture_stats, FixtureReports, FixtureServer};

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
    /// The upstream card's endpoints row (text and hover title), `None` while it is hidden.
    pub endpoints: Option<(String, String)>,
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

    let endpoints = browser
        .execute(
            "var d = document.getElementById('u-eps'), t = document.getElementById('u-eps-t');
             return d.hidden || d.offsetHeight === 0 ? (t.hidden ? null : 'title without row') : [d.textContent, d.title];",
        )
        .unwrap();
    let endpoints = match endpoints {
        Value::Null => None,
        Value::Array(pair) => Some((
            pair[0].as_str().unwrap().to_owned(),
            pair[1].as_str().unwrap().to_owned(),
        )),
        other => panic!("endpoints row: {other}"),
    };

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
        endpoints,
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
    // The primary is down and the first backup serves the farm; the second one follows
    // another chain, and its hostile URL is only ever a hover title.
    let (text, title) = report.endpoints.expect("the endpoints row with backups");
    assert_eq!(
        text,
        "primary: down \u{b7} \u{25b6} backup 1: 42 ms \u{b7} backup 2: 1,250 ms, other chain"
    );
    assert_eq!(
        title,
        format!(
            "http://pool.example:8080/pocx\nhttp://backup-1.example:8080/pocx\n{HOSTILE_SCRIPT}"
        )
    );
}
