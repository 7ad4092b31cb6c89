//! Webhook notifications: one POST per alert change, from a thread of its own (`alert-webhook`).
//!
//! In: alert changes through a bounded channel ([`Notifier::offer`] never blocks; a change that
//! finds the queue full is dropped, counted and logged once). Out: HTTP POSTs with ureq (the
//! upstream client's resolver, its own agent), [`ATTEMPTS`] tries each with [`CALL_TIMEOUT`].
//! [`RepeatLimit`] keeps a flapping alert to one message per kind and subject per
//! `alerts.repeat_secs`. The URL is only ever shown through `mask_webhook_url`. A receiver that
//! hangs or fails delays nothing but this thread; at shutdown a thread still in a call is left
//! to its timeout rather than waited for.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, RecvTimeoutError, Sender, TrySendError};
use serde_json::json;

use super::{Alert, AlertKind, AlertState};
use crate::config::{mask_webhook_url, Webhook, WebhookFormat};
use crate::events::now_ms;
use crate::threads::{join_returned, wait_all_returned};
use crate::upstream::QuickResolver;

/// Changes waiting to be sent at most.
pub const QUEUE: usize = 64;
/// Tries per message.
pub const ATTEMPTS: u32 = 3;
/// Bound of one POST, connect to last byte.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed try (doubled after each).
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// How long shutdown waits for a call in flight.
const SHUTDOWN_WAIT: Duration = Duration::from_millis(200);

/// One message per kind and subject per `repeat`; a resolution is sent exactly when the firing
/// it ends was.
#[derive(Debug)]
pub struct RepeatLimit {
    repeat_ms: u64,
    /// (kind, subject) → when its last firing message went out, and whether the current
    /// firing was sent.
    sent: HashMap<(AlertKind, Arc<str>), (u64, bool)>,
}

impl RepeatLimit {
    pub fn new(repeat: Duration) -> RepeatLimit {
        RepeatLimit {
            repeat_ms: crate::events::millis(repeat),
            sent: HashMap::new(),
        }
    }

    /// Whether this change is to be sent.
    pub fn admit(&mut self, alert: &Alert, now_ms: u64) -> bool {
        let repeat = self.repeat_ms;
        self.sent
            .retain(|_, (at, current)| *current || at.saturating_add(repeat) > now_ms);
        let key = (alert.kind, Arc::clone(&alert.subject));
        match alert.state {
            AlertState::Firing => {
                let entry = self.sent.entry(key).or_insert((0, false));
                let due = entry.0 == 0 || entry.0.saturating_add(repeat) <= now_ms;
                *entry = if due {
                    (now_ms, true)
                } else {
                    (entry.0, false)
                };
                due
            }
            AlertState::Resolved => match self.sent.get_mut(&key) {
                Some((_, current)) => std::mem::replace(current, false),
                None => false,
            },
        }
    }
}

/// What is POSTed for one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The body (and headers) `format` asks for.
pub fn message(format: WebhookFormat, alert: &Alert) -> Message {
    let line = format!(
        "[{}] {} {}: {}",
        alert.state.as_str().to_ascii_uppercase(),
        alert.kind.as_str(),
        alert.subject,
        alert.message
    );
    let json_message = |body: serde_json::Value| Message {
        content_type: "application/json",
        headers: Vec::new(),
        body: body.to_string(),
    };
    match format {
        WebhookFormat::Json => json_message(alert.to_json()),
        WebhookFormat::Slack => json_message(json!({ "text": line })),
        WebhookFormat::Discord => json_message(json!({ "content": line })),
        WebhookFormat::Ntfy => {
            let firing = alert.state == AlertState::Firing;
            let title = format!(
                "pocx_aggregator: {} {} {}",
                alert.kind.as_str(),
                alert.subject,
                alert.state.as_str()
            );
            Message {
                content_type: "text/plain; charset=utf-8",
                headers: vec![
                    ("Title", header_safe(&title)),
                    ("Priority", if firing { "high" } else { "default" }.into()),
                    (
                        "Tags",
                        if firing {
                            "warning"
                        } else {
                            "white_check_mark"
                        }
                        .into(),
                    ),
                ],
                body: alert.message.clone(),
            }
        }
    }
}

/// Printable ASCII only (header values), bounded.
fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(200)
        .collect()
}

/// The running webhook thread and the way in.
pub struct Notifier {
    queue: Option<Sender<Alert>>,
    stop: Option<Sender<()>>,
    alive: Receiver<()>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
}

/// The alerts thread's end of the webhook queue.
#[derive(Clone)]
pub struct ChangeSender {
    queue: Option<Sender<Alert>>,
    dropped: Arc<AtomicU64>,
}

impl ChangeSender {
    /// Queues without waiting; a change that finds the queue full is dropped (logged once per
    /// run of drops).
    pub fn send(&self, alert: &Alert) {
        let Some(queue) = &self.queue else { return };
        match queue.try_send(alert.clone()) {
            Err(TrySendError::Full(_)) => {
                if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    log::warn!("alert webhook: the queue is full; changes are dropped");
                }
            }
            _ => self.dropped.store(0, Ordering::Relaxed),
        }
    }
}

impl Notifier {
    pub fn spawn(webhook: Webhook, repeat: Duration) -> io::Result<Notifier> {
        let (queue, changes) = bounded::<Alert>(QUEUE);
        let (stop, stopped) = bounded::<()>(0);
        let (alive_tx, alive) = bounded::<()>(0);
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(CALL_TIMEOUT))
            .http_status_as_error(false)
            .user_agent(concat!("pocx_aggregator/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = QuickResolver::agent(config);
        let shown = mask_webhook_url(&webhook.url);
        log::info!(
            "alerts go to the {} webhook {shown}",
            webhook.format.as_str()
        );
        let thread = std::thread::Builder::new()
            .name("alert-webhook".into())
            .spawn(move || {
                let _alive = alive_tx;
                let mut limit = RepeatLimit::new(repeat);
                loop {
                    let alert = select! {
                        recv(changes) -> alert => match alert {
                            Ok(alert) => alert,
                            Err(_) => return,
                        },
                        recv(stopped) -> _ => return,
                    };
                    if limit.admit(&alert, now_ms()) {
                        let message = message(webhook.format, &alert);
                        send(&agent, &webhook.url, &shown, &message, &stopped);
                    }
                }
            })?;
        Ok(Notifier {
            queue: Some(queue),
            stop: Some(stop),
            alive,
            thread: Some(thread),
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Where the alerts thread hands its changes to this notifier.
    pub fn sender(&self) -> ChangeSender {
        ChangeSender {
            queue: self.queue.clone(),
            dropped: Arc::clone(&self.dropped),
        }
    }

    /// Stops the thread; one still in a call is left to finish within its timeout.
    pub fn shutdown(&mut self) {
        self.stop.take();
        self.queue.take();
        let returned = wait_all_returned(&self.alive, Instant::now() + SHUTDOWN_WAIT);
        let joined = join_returned(self.thread.take().into_iter().collect(), returned);
        if joined.left_behind > 0 {
            log::warn!("alert webhook: a call still in flight is left to its timeout");
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// POSTs one message, retrying a failure; a stop request ends the pauses.
fn send(agent: &ureq::Agent, url: &str, shown: &str, message: &Message, stopped: &Receiver<()>) {
    let mut pause = RETRY_PAUSE;
    for attempt in 1..=ATTEMPTS {
        let mut request = agent.post(url).header("Content-Type", message.content_type);
        for (name, value) in &message.headers {
            request = request.header(*name, value.as_str());
        }
        let failure = match request.send(message.body.as_str()) {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => format!("HTTP {}", response.status().as_u16()),
            Err(e) => e.to_string(),
        };
        if attempt == ATTEMPTS {
            log::warn!("alert webhook {shown}: not delivered after {ATTEMPTS} tries: {failure}");
            return;
        }
        if !matches!(stopped.recv_timeout(pause), Err(RecvTimeoutError::Timeout)) {
            return;
        }
        pause = pause.saturating_mul(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(state: AlertState, subject: &str) -> Alert {
        Alert {
            kind: AlertKind::MachineSilent,
            subject: Arc::from(subject),
            state,
            since_ms: 5,
            message: format!("{subject} has not polled for 130 s"),
        }
    }

    #[test]
    fn a_flapping_alert_sends_one_pair_per_repeat_period() {
        let mut limit = RepeatLimit::new(Duration::from_secs(60));
        let (fire, clear) = (
            alert(AlertState::Firing, "rig"),
            alert(AlertState::Resolved, "rig"),
        );
        assert!(limit.admit(&fire, 1_000));
        assert!(limit.admit(&clear, 2_000));
        assert!(!limit.admit(&fire, 3_000), "again within the minute");
        assert!(!limit.admit(&clear, 4_000), "its resolution neither");
        assert!(limit.admit(&alert(AlertState::Firing, "other"), 4_000));
        assert!(limit.admit(&fire, 61_000));
        assert!(limit.admit(&clear, 61_500));
        assert!(!limit.admit(&clear, 62_000), "one resolution per firing");
    }

    #[test]
    fn every_format_carries_the_alert() {
        let a = alert(AlertState::Firing, "rig-\u{e9}");
        let json: serde_json::Value =
            serde_json::from_str(&message(WebhookFormat::Json, &a).body).unwrap();
        assert_eq!(json["kind"], "machine_silent");
        assert_eq!(json["state"], "firing");
        let slack: serde_json::Value =
            serde_json::from_str(&message(WebhookFormat::Slack, &a).body).unwrap();
        assert_eq!(
            slack["text"],
            "[FIRING] machine_silent rig-\u{e9}: rig-\u{e9} has not polled for 130 s"
        );
        let discord: serde_json::Value =
            serde_json::from_str(&message(WebhookFormat::Discord, &a).body).unwrap();
        assert!(discord["content"]
            .as_str()
            .unwrap()
            .contains("has not polled"));
        let ntfy = message(WebhookFormat::Ntfy, &a);
        assert_eq!(ntfy.body, a.message);
        assert!(ntfy.headers.contains(&(
            "Title",
            "pocx_aggregator: machine_silent rig-? firing".into()
        )));
    }
}
