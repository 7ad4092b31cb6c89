//! Alerts: noticing that the farm lost a machine, a disk or its upstream.
//!
//! A thread of its own (`alerts`) wakes every [`TICK`], reads what the statistics hold
//! ([`Stats::alert_input`]: polls, rounds finished since the last tick, upstream state, the
//! forward failure streak), lets the [`board::Board`] decide every alert's state, publishes
//! the list back to the statistics (for `/stats`, `/metrics` and the dashboard), logs each
//! change and hands it to the webhook notifier's queue, when there is one. The same tick feeds the
//! hourly history ([`HistoryFeed`]: finished rounds, submission counts and alert changes, to the
//! history book and the store's queue). Nothing here is on a miner's request path: workers only
//! record polls, as they record submissions.
//!
//! Kinds: `machine_silent`, `machine_not_submitting`, `capacity_drop` (statistical, see
//! `capacity`), `upstream_unreachable`, `upstream_endpoint_down` (with backups, from the
//! endpoints' state the upstream module keeps), `forwards_failing`. It does not send anything
//! over the network itself (see `notify`) and never opens the database (rows go to the store's
//! queue).

pub mod board;
pub mod capacity;
pub mod notify;
pub mod polls;
pub mod rounds;

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};

use crate::config::AlertSettings;
use crate::events::now_ms;
use crate::history::HistoryFeed;
use crate::stats::Stats;
use crate::upstream::Upstreams;
use board::Board;

/// How often the alerts are recomputed.
pub const TICK: Duration = Duration::from_millis(500);

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    MachineSilent,
    MachineNotSubmitting,
    CapacityDrop,
    UpstreamUnreachable,
    UpstreamEndpointDown,
    ForwardsFailing,
}

impl AlertKind {
    pub const ALL: [AlertKind; 6] = [
        AlertKind::MachineSilent,
        AlertKind::MachineNotSubmitting,
        AlertKind::CapacityDrop,
        AlertKind::UpstreamUnreachable,
        AlertKind::UpstreamEndpointDown,
        AlertKind::ForwardsFailing,
    ];

    /// Stable snake_case name for JSON, metrics labels, logs and webhooks.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::MachineSilent => "machine_silent",
            AlertKind::MachineNotSubmitting => "machine_not_submitting",
            AlertKind::CapacityDrop => "capacity_drop",
            AlertKind::UpstreamUnreachable => "upstream_unreachable",
            AlertKind::UpstreamEndpointDown => "upstream_endpoint_down",
            AlertKind::ForwardsFailing => "forwards_failing",
        }
    }

    pub fn named(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the subject of this kind is a machine (or the farm), not the upstream.
    pub fn about_capacity_holder(self) -> bool {
        !matches!(
            self,
            AlertKind::UpstreamUnreachable
                | AlertKind::UpstreamEndpointDown
                | AlertKind::ForwardsFailing
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn named(name: &str) -> Option<AlertState> {
        [AlertState::Firing, AlertState::Resolved]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// One alert as listed and notified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub kind: AlertKind,
    /// A machine name, `farm`, or the upstream's name.
    pub subject: Arc<str>,
    pub state: AlertState,
    /// When it entered its state (ms since the epoch).
    pub since_ms: u64,
    /// One line for people.
    pub message: String,
}

impl Alert {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind.as_str(),
            "subject": &*self.subject,
            "state": self.state.as_str(),
            "since_ms": self.since_ms,
            "message": self.message,
        })
    }
}

/// The running alerts thread.
pub struct AlertStage {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl AlertStage {
    pub fn spawn(
        settings: AlertSettings,
        stats: Arc<Stats>,
        upstreams: Arc<Upstreams>,
        notify: Option<notify::ChangeSender>,
        mut history: HistoryFeed,
    ) -> io::Result<AlertStage> {
        let (stop, stopped) = bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("alerts".into())
            .spawn(move || {
                let mut board = Board::new(settings, now_ms());
                // Rounds that finish before the first tick count too (the history needs them).
                let mut after_height = Some(history.first_new_height());
                loop {
                    match stopped.recv_timeout(TICK) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                            history.flush(now_ms(), &stats);
                            return;
                        }
                    }
                    let now = now_ms();
                    let (mut input, current) = stats.alert_input(now, after_height);
                    input.endpoints = upstreams.view();
                    after_height = current.or(after_height);
                    for change in board.tick(now, &input) {
                        log_change(&change);
                        history.alert_changed(&change);
                        if let Some(notify) = &notify {
                            notify.send(&change);
                        }
                    }
                    stats.set_alerts(board.list());
                    history.tick(now, &input.finished, &stats);
                }
            })?;
        Ok(AlertStage {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the thread (it is never in a blocking call but its tick wait) and joins it.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("alerts: the thread panicked");
            }
        }
    }
}

impl Drop for AlertStage {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn log_change(alert: &Alert) {
    match alert.state {
        AlertState::Firing => log::warn!(
            "alert firing: {} {}: {}",
            alert.kind.as_str(),
            alert.subject,
            alert.message
        ),
        AlertState::Resolved => log::info!(
            "alert resolved: {} {}: {}",
            alert.kind.as_str(),
            alert.subject,
            alert.message
        ),
    }
}

#[cfg(test)]
mod board_tests;
