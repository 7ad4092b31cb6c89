//! The board's decisions, driven with made-up inputs and times (no clock, no threads).

use std::sync::Arc;
use std::time::Duration;

use super::board::{AlertInput, Board, FinishedRound, FARM, RESOLVED_KEPT_MS};
use super::capacity::{ARM_ROUNDS, LAG_ROUNDS};
use super::polls::PollTracker;
use super::{Alert, AlertKind, AlertState};
use crate::config::AlertSettings;
use crate::sim::{round_best, SimRng};
use crate::upstream::failover::EndpointState;
use crate::upstream::UpstreamsView;

fn settings() -> AlertSettings {
    AlertSettings {
        machine_silent: Duration::from_secs(10),
        idle_rounds: 3,
        upstream_down: Duration::from_secs(5),
        failed_forwards: 4,
        webhook: None,
        repeat: Duration::from_secs(3600),
    }
}

/// An input with a reachable upstream and the given polls.
fn input(polls: &PollTracker) -> AlertInput {
    AlertInput {
        polls: polls.entries(),
        upstream_name: "pool".into(),
        upstream_reachable: true,
        upstream_last_success_ms: Some(0),
        ..AlertInput::default()
    }
}

fn kinds(changes: &[Alert]) -> Vec<(AlertKind, &str, AlertState)> {
    changes
        .iter()
        .map(|a| (a.kind, &*a.subject, a.state))
        .collect()
}

#[test]
fn a_regular_poller_that_goes_quiet_is_silent_until_it_polls_again() {
    let mut board = Board::new(settings(), 0);
    let mut polls = PollTracker::new(10);
    for s in 0..10 {
        polls.record("rig", s * 1_000);
        polls.record("rare", s * 60_000);
    }
    assert!(board.tick(10_000, &input(&polls)).is_empty());
    let changes = board.tick(19_000, &input(&polls));
    assert_eq!(
        kinds(&changes),
        [(AlertKind::MachineSilent, "rig", AlertState::Firing)],
        "only the regular poller is silent"
    );
    assert!(changes[0].message.contains("has not polled for 10 s"));
    assert!(board.tick(25_000, &input(&polls)).is_empty(), "fires once");
    polls.record("rig", 26_000);
    let changes = board.tick(26_500, &input(&polls));
    assert_eq!(
        kinds(&changes),
        [(AlertKind::MachineSilent, "rig", AlertState::Resolved)]
    );
    let listed = board.list();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].since_ms, 26_500);
    polls.record("rig", 26_000 + RESOLVED_KEPT_MS);
    polls.record("rare", 26_000 + RESOLVED_KEPT_MS);
    board.tick(26_500 + RESOLVED_KEPT_MS, &input(&polls));
    assert!(board.list().is_empty(), "resolved alerts leave the list");
}

fn round(height: u64, machines: &[(&str, Option<u64>)]) -> FinishedRound {
    FinishedRound {
        height,
        farm_best: machines.iter().filter_map(|(_, b)| *b).min(),
        machines: machines
            .iter()
            .map(|(n, b)| (Arc::<str>::from(*n), *b))
            .collect(),
        accounts: Vec::new(),
    }
}

#[test]
fn a_polling_machine_that_stops_submitting_is_flagged_and_cleared() {
    let mut board = Board::new(settings(), 0);
    let mut polls = PollTracker::new(10);
    let mut now = 0;
    let mut feed = |board: &mut Board, height: u64, rig: Option<u64>, now: u64| {
        polls.record("rig", now);
        polls.record("rare", now);
        let mut i = input(&polls);
        let rare = height.is_multiple_of(5).then_some(7);
        i.finished = vec![round(height, &[("rig", rig), ("rare", rare)])];
        board.tick(now, &i)
    };
    for h in 0..10 {
        now += 1_000;
        assert!(feed(&mut board, h, Some(5), now).is_empty());
    }
    for h in 10..12 {
        now += 1_000;
        assert!(
            feed(&mut board, h, None, now).is_empty(),
            "2 idle rounds are fine"
        );
    }
    now += 1_000;
    let changes = feed(&mut board, 12, None, now);
    assert_eq!(
        kinds(&changes),
        [(AlertKind::MachineNotSubmitting, "rig", AlertState::Firing)]
    );
    assert!(changes[0].message.contains("nothing in the last 3 rounds"));
    now += 1_000;
    let changes = feed(&mut board, 13, Some(5), now);
    assert_eq!(
        kinds(&changes),
        [(AlertKind::MachineNotSubmitting, "rig", AlertState::Resolved)]
    );
}

#[test]
fn a_silent_machine_is_not_also_flagged_as_not_submitting() {
    let mut board = Board::new(settings(), 0);
    let mut polls = PollTracker::new(10);
    for h in 0..10 {
        polls.record("rig", h * 1_000);
        let mut i = input(&polls);
        i.finished = vec![round(h, &[("rig", Some(5))])];
        board.tick(h * 1_000, &i);
    }
    let mut all = Vec::new();
    for h in 10..20 {
        let mut i = input(&polls);
        i.finished = vec![round(h, &[("rig", None)])];
        all.extend(board.tick(h * 1_000 + 20_000, &i));
    }
    assert_eq!(
        kinds(&all),
        [(AlertKind::MachineSilent, "rig", AlertState::Firing)]
    );
}

#[test]
fn upstream_and_forward_alerts_follow_their_bounds() {
    let mut board = Board::new(settings(), 1_000);
    let polls = PollTracker::new(1);
    let mut down = input(&polls);
    down.upstream_reachable = false;
    down.upstream_last_success_ms = None;
    down.upstream_last_error = Some("connection refused\n".into());
    assert!(
        board.tick(5_999, &down).is_empty(),
        "down since start for < 5 s"
    );
    let changes = board.tick(6_000, &down);
    assert_eq!(
        kinds(&changes),
        [(AlertKind::UpstreamUnreachable, "pool", AlertState::Firing)]
    );
    assert_eq!(
        changes[0].message,
        "upstream pool unreachable for 5 s: connection refused "
    );
    let mut failing = input(&polls);
    failing.failed_streak = 3;
    let changes = board.tick(7_000, &failing);
    assert_eq!(
        kinds(&changes),
        [(AlertKind::UpstreamUnreachable, "pool", AlertState::Resolved)]
    );
    failing.failed_streak = 4;
    let changes = board.tick(8_000, &failing);
    assert_eq!(
        kinds(&changes),
        [(AlertKind::ForwardsFailing, "pool", AlertState::Firing)]
    );
    failing.failed_streak = 2;
    assert!(
        board.tick(9_000, &failing).is_empty(),
        "only an acceptance clears it"
    );
    failing.failed_streak = 0;
    let changes = board.tick(10_000, &failing);
    assert_eq!(
        kinds(&changes),
        [(AlertKind::ForwardsFailing, "pool", AlertState::Resolved)]
    );
}

/// An endpoint as the failover state holds it.
fn endpoint(label: &str, last_ok_ms: Option<u64>, reachable: bool) -> EndpointState {
    EndpointState {
        label: label.into(),
        reachable,
        last_ok_ms,
        last_error: (!reachable).then(|| "connection refused".into()),
        ..EndpointState::default()
    }
}

#[test]
fn an_endpoint_that_does_not_serve_the_farm_is_down_after_the_upstream_bound() {
    let mut board = Board::new(settings(), 1_000);
    let polls = PollTracker::new(1);
    let mut tick = input(&polls);
    // The primary stopped answering at 2 s; the backup took over.
    tick.endpoints = UpstreamsView {
        active: 1,
        switches: 1,
        endpoints: vec![
            endpoint("http://primary/", Some(2_000), false),
            endpoint("http://backup/", Some(6_000), true),
        ],
    };
    assert!(board.tick(6_999, &tick).is_empty(), "down for < 5 s");
    let changes = board.tick(7_000, &tick);
    assert_eq!(
        kinds(&changes),
        [(
            AlertKind::UpstreamEndpointDown,
            "http://primary/",
            AlertState::Firing
        )]
    );
    assert_eq!(
        changes[0].message,
        "upstream endpoint http://primary/ unreachable for 5 s: connection refused; \
         the farm is served by http://backup/"
    );
    assert!(
        board.tick(60_000, &tick).is_empty(),
        "one change, not one per tick"
    );

    // The active endpoint's own outage is upstream_unreachable's, never this alert's.
    let mut active_down = tick.clone();
    active_down.endpoints.endpoints[1] = endpoint("http://backup/", Some(6_000), false);
    active_down.endpoints.endpoints[0] = endpoint("http://primary/", Some(70_000), true);
    let changes = board.tick(70_000, &active_down);
    assert_eq!(
        kinds(&changes),
        [(
            AlertKind::UpstreamEndpointDown,
            "http://primary/",
            AlertState::Resolved
        )]
    );
    assert!(board.tick(90_000, &active_down).is_empty());

    // Without backups there is nothing to say beyond upstream_unreachable.
    let mut alone = input(&polls);
    alone.endpoints.endpoints = vec![endpoint("http://primary/", None, false)];
    let mut fresh = Board::new(settings(), 0);
    assert!(fresh
        .tick(3_600_000, &alone)
        .iter()
        .all(|a| a.kind != AlertKind::UpstreamEndpointDown));
}

#[test]
fn losing_half_a_machine_flags_the_machine_and_the_farm() {
    let mut board = Board::new(settings(), 0);
    let mut polls = PollTracker::new(10);
    let mut rng = SimRng::new(17);
    let mut changes = Vec::new();
    let warm = (ARM_ROUNDS as usize + LAG_ROUNDS + 200) as u64;
    for h in 0..warm + 300 {
        // "big" loses half its plots after the warm-up; "small" keeps its own.
        let big = if h < warm { 12.0 } else { 6.0 };
        let now = h * 120_000;
        polls.record("big", now);
        polls.record("small", now);
        let mut i = input(&polls);
        let q = |rng: &mut SimRng, c: f64| Some(round_best(rng, c).max(1.0) as u64);
        i.finished = vec![round(
            h,
            &[("big", q(&mut rng, big)), ("small", q(&mut rng, 1.0))],
        )];
        changes.extend(board.tick(now, &i));
    }
    let found = kinds(&changes);
    assert!(
        found.contains(&(AlertKind::CapacityDrop, "big", AlertState::Firing)),
        "{found:?}"
    );
    assert!(
        found.contains(&(AlertKind::CapacityDrop, FARM, AlertState::Firing)),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|(_, subject, _)| *subject == "small"),
        "{found:?}"
    );
}
