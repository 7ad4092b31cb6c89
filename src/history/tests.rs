use std::sync::Arc;

use serde_json::Value;

use super::query::{parse, Range};
use super::*;
use crate::alerts::{AlertKind, AlertState};

const H: u64 = MS_PER_HOUR;

fn record(kind: SubjectKind, subject: &str, hour: u64, rounds: u64, best_sum: f64) -> HourlyRecord {
    HourlyRecord {
        kind,
        subject: Arc::from(subject),
        hour_ms: hour * H,
        rounds,
        best_sum,
        submissions: rounds * 3,
    }
}

fn alert(kind: AlertKind, subject: &str, at_ms: u64) -> Alert {
    Alert {
        kind,
        subject: Arc::from(subject),
        state: AlertState::Firing,
        since_ms: at_ms,
        message: format!("{} {subject}", kind.as_str()),
    }
}

#[test]
fn parts_of_an_hour_add_up_and_hours_stay_in_order() {
    let book = HistoryBook::new();
    book.add(&record(
        SubjectKind::Machine,
        "rig",
        10,
        2,
        2.0 * CAPACITY_NUMERATOR,
    ));
    book.add(&record(
        SubjectKind::Machine,
        "rig",
        8,
        1,
        CAPACITY_NUMERATOR,
    ));
    book.add(&record(
        SubjectKind::Machine,
        "rig",
        10,
        2,
        6.0 * CAPACITY_NUMERATOR,
    ));
    let points = book.points(SubjectKind::Machine, "rig", 0);
    let hours: Vec<u64> = points.iter().map(|p| p.hour_ms / H).collect();
    assert_eq!(hours, [8, 10]);
    // Four rounds whose bests average 2^43: 0.5 TiB.
    assert_eq!(points[1].rounds, 4);
    assert_eq!(points[1].submissions, 12);
    assert_eq!(points[1].capacity_tib(), Some(0.5));
    assert_eq!(points[0].capacity_tib(), Some(1.0));
    assert!(book.points(SubjectKind::Account, "rig", 0).is_empty());
}

#[test]
fn an_hour_without_a_best_has_no_capacity() {
    let point = HourPoint {
        hour_ms: 0,
        rounds: 0,
        best_sum: 0.0,
        submissions: 5,
    };
    assert_eq!(point.capacity_tib(), None);
}

#[test]
fn a_series_keeps_one_week_and_prune_drops_old_subjects() {
    let book = HistoryBook::new();
    for hour in 0..=200 {
        book.add(&record(SubjectKind::Farm, "farm", hour, 1, 1.0));
    }
    book.add(&record(SubjectKind::Machine, "gone", 1, 1, 1.0));
    let farm = book.points(SubjectKind::Farm, "farm", 0);
    assert_eq!(farm.len() as u64, KEPT_HOURS + 1);
    assert_eq!(
        farm.first().map(|p| p.hour_ms),
        Some((200 - KEPT_HOURS) * H)
    );
    book.prune(200 * H);
    assert_eq!(book.kind_of("gone"), None);
    assert_eq!(book.points(SubjectKind::Farm, "farm", 0).len(), farm.len());
}

#[test]
fn subjects_are_found_as_the_farm_a_machine_or_an_account() {
    let book = HistoryBook::new();
    book.add(&record(SubjectKind::Account, "acc", 1, 1, 1.0));
    book.add(&record(SubjectKind::Machine, "rig", 1, 1, 1.0));
    assert_eq!(book.kind_of("farm"), Some(SubjectKind::Farm));
    assert_eq!(book.kind_of("rig"), Some(SubjectKind::Machine));
    assert_eq!(book.kind_of("acc"), Some(SubjectKind::Account));
    assert_eq!(book.kind_of("nobody"), None);
}

#[test]
fn alerts_mark_the_chart_of_their_subject_and_the_farm_gets_the_upstream() {
    let book = HistoryBook::new();
    book.add_alert(&alert(AlertKind::MachineSilent, "rig", 5 * H));
    book.add_alert(&alert(AlertKind::CapacityDrop, "farm", 6 * H));
    book.add_alert(&alert(AlertKind::UpstreamUnreachable, "pool", 7 * H));
    book.add_alert(&alert(AlertKind::MachineSilent, "rig", H));
    let kinds = |alerts: Vec<Alert>| -> Vec<&'static str> {
        alerts.iter().map(|a| a.kind.as_str()).collect()
    };
    assert_eq!(
        kinds(book.alerts(Some(SubjectKind::Machine), "rig", 2 * H)),
        ["machine_silent"]
    );
    assert_eq!(
        kinds(book.alerts(Some(SubjectKind::Farm), "farm", 0)),
        ["capacity_drop", "upstream_unreachable"]
    );
    assert!(book.alerts(None, "pool", 0).is_empty());
}

#[test]
fn queries_are_decoded_and_checked() {
    let q = parse("subject=%3Cimg%20src%3Dx%3E+rig&range=7d&_=123").unwrap();
    assert_eq!(q.subject, "<img src=x> rig");
    assert_eq!(q.range, Range::Week);
    assert_eq!(q.kind, None);
    assert_eq!(parse("subject=farm").unwrap().range, Range::Day);
    assert_eq!(
        parse("subject=a&kind=account").unwrap().kind,
        Some(SubjectKind::Account)
    );
    for (bad, says) in [
        ("", "subject is missing"),
        ("subject=", "subject is empty"),
        ("subject=farm&range=30d", "range must be 24h or 7d"),
        (
            "subject=farm&range=24h&range=7d",
            "range given more than once",
        ),
        ("subject=farm&kind=pool", "kind must be"),
        ("subject=%FF", "not UTF-8"),
    ] {
        let err = parse(bad).unwrap_err();
        assert!(err.contains(says), "{bad:?} gave {err:?}");
    }
    assert!(parse(&format!("subject={}", "x".repeat(300))).is_err());
}

#[test]
fn the_answer_lists_the_points_and_alerts_in_the_range() {
    let book = HistoryBook::new();
    let now = 100 * H + 5;
    book.add(&record(
        SubjectKind::Machine,
        "rig",
        50,
        1,
        CAPACITY_NUMERATOR,
    ));
    book.add(&record(
        SubjectKind::Machine,
        "rig",
        90,
        2,
        2.0 * CAPACITY_NUMERATOR,
    ));
    book.add_alert(&alert(AlertKind::MachineSilent, "rig", 95 * H));
    let (status, body) = answer(&book, "subject=rig", now);
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["kind"], "machine");
    assert_eq!(doc["range"], "24h");
    assert_eq!(doc["points"].as_array().unwrap().len(), 1);
    assert_eq!(doc["points"][0]["hour_ms"], 90 * H);
    assert_eq!(doc["points"][0]["capacity_tib"], 1.0);
    assert_eq!(doc["alerts"][0]["kind"], "machine_silent");
    let week: Value = serde_json::from_str(&answer(&book, "subject=rig&range=7d", now).1).unwrap();
    assert_eq!(week["points"].as_array().unwrap().len(), 2);
    let unknown: Value = serde_json::from_str(&answer(&book, "subject=nobody", now).1).unwrap();
    assert_eq!(unknown["points"], Value::Array(Vec::new()));
    assert_eq!(unknown["kind"], Value::Null);
    let (status, body) = answer(&book, "subject=rig&range=1y", now);
    assert_eq!(status, 400);
    assert!(body.contains("range must be 24h or 7d"), "{body}");
}
