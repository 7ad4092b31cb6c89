//! The capacity history on the page: the farm's chart and one per machine draw a point per
//! hour with a capacity and a flagged line per alert change, as `/history` answers them, and
//! the range switch redraws them for seven days. Also the fixture history the page is fed.

use std::sync::Arc;

use serde_json::{json, Value};

use pocx_aggregator::alerts::{Alert, AlertKind, AlertState};
use pocx_aggregator::events::{HourlyRecord, SubjectKind};
use pocx_aggregator::history::{hour_of, HistoryBook, MS_PER_HOUR};
use pocx_aggregator::stats::CAPACITY_NUMERATOR;

use super::{HOSTILE_IMG, RENDER_TIMEOUT};
use crate::browser::Browser;
use crate::support::{agent, get};

/// What the farm's chart drew, per range.
#[derive(Debug)]
pub struct HistoryReport {
    pub day_points: u64,
    pub day_marks: u64,
    pub week_points: u64,
    /// Alert marks on the machines' charts together.
    pub machine_marks: u64,
}

/// `/history` for the farm as the page asks for it: (points with a capacity, alert changes).
fn farm_history(page_url: &str, range: &str) -> (u64, u64) {
    let url = format!("{page_url}history?subject=farm&kind=farm&range={range}");
    let (status, body) = get(&agent(), &url);
    assert_eq!(status, 200, "{url}: {body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    let points = doc["points"].as_array().unwrap();
    let with_capacity = points.iter().filter(|p| p["capacity_tib"].is_f64()).count();
    let alerts = doc["alerts"].as_array().unwrap().len();
    (with_capacity as u64, alerts as u64)
}

/// Waits until the farm's chart shows `want` (points, marks); returns what the page drew.
fn wait_for_farm_chart(browser: &Browser, what: &str, want: (u64, u64)) -> Value {
    browser
        .wait_until(
            what,
            &format!(
                "var svg = document.querySelector('#h-farm svg');
                 if (!svg) return null;
                 var got = {{ points: svg.querySelectorAll('circle.pt').length,
                              marks: svg.querySelectorAll('.alert-mark .aflag').length }};
                 return got.points === {} && got.marks === {} ? got : null;",
                want.0, want.1
            ),
            RENDER_TIMEOUT,
        )
        .unwrap()
}

pub fn check_history(browser: &Browser, page_url: &str, machines: usize) -> HistoryReport {
    let day = farm_history(page_url, "24h");
    assert!(day.0 > 0, "the farm has no hour with a capacity yet");
    wait_for_farm_chart(browser, "the farm's 24 h history", day);
    let boxes = browser
        .execute(
            "var boxes = Array.from(document.querySelectorAll('#h-machines .hbox'));
             return { charts: boxes.length,
                      titles: boxes.map(function (b) { return b.querySelector('h3').textContent; }),
                      same: boxes.every(function (b) { return b.querySelector('h3').textContent === b.getAttribute('data-subject'); }),
                      marks: document.querySelectorAll('#h-machines .alert-mark .aflag').length,
                      flagged: Array.from(document.querySelectorAll('#h-farm .alert-mark title')).map(function (t) { return t.textContent; }) };",
        )
        .unwrap();
    assert_eq!(
        boxes["charts"],
        json!(machines.min(12)),
        "one chart per machine: {boxes}"
    );
    assert_eq!(boxes["same"], json!(true), "machine names as text: {boxes}");
    let flagged = boxes["flagged"].as_array().unwrap();
    assert!(
        flagged
            .iter()
            .all(|t| t.as_str().is_some_and(|t| t.contains(": "))),
        "each mark says what happened: {boxes}"
    );

    browser
        .execute("document.querySelector('#history .switch button[data-range=\"7d\"]').click(); return true;")
        .unwrap();
    let week = farm_history(page_url, "7d");
    wait_for_farm_chart(browser, "the farm's 7 day history", week);
    let pressed = browser
        .execute("return document.querySelector('#history .switch button.on').getAttribute('data-range');")
        .unwrap();
    assert_eq!(pressed, json!("7d"));
    HistoryReport {
        day_points: day.0,
        day_marks: day.1,
        week_points: week.0,
        machine_marks: boxes["marks"].as_u64().unwrap(),
    }
}

/// Hours of the farm and three machines over the last [`HISTORY_HOURS`] (more than a day, less
/// than a week; a machine with a hostile name among them), and the fixture's alerts.
/// The 24 h charts show 25 of the hours: the current one and the 24 before.
pub fn fixture_history(now: u64, stats: &Value) -> Arc<HistoryBook> {
    let book = HistoryBook::new();
    let hour = hour_of(now);
    let subjects = [
        (SubjectKind::Farm, "farm", 1289.3),
        (SubjectKind::Machine, "rig-alpha", 30.1),
        (SubjectKind::Machine, HOSTILE_IMG, 8.5),
        (SubjectKind::Machine, "rig-beta", 1249.25),
    ];
    for back in 0..HISTORY_HOURS {
        for (kind, subject, tib) in subjects {
            // A dip ten hours ago, so the line is not flat.
            let tib = if back == 10 { tib / 2.0 } else { tib };
            book.add(&HourlyRecord {
                kind,
                subject: Arc::from(subject),
                hour_ms: hour - back * MS_PER_HOUR,
                rounds: 30,
                best_sum: 30.0 * CAPACITY_NUMERATOR / tib,
                submissions: 90,
            });
        }
    }
    for a in stats["alerts"].as_array().unwrap() {
        let state = if a["state"] == "firing" {
            AlertState::Firing
        } else {
            AlertState::Resolved
        };
        book.add_alert(&Alert {
            kind: AlertKind::named(a["kind"].as_str().unwrap()).unwrap(),
            subject: Arc::from(a["subject"].as_str().unwrap()),
            state,
            since_ms: a["since_ms"].as_u64().unwrap(),
            message: a["message"].as_str().unwrap().to_owned(),
        });
    }
    Arc::new(book)
}

pub const HISTORY_HOURS: u64 = 30;
