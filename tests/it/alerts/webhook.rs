//! Alert changes reach a webhook receiver on 127.0.0.1 in each format; one that never answers
//! slows nothing else.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pocx_aggregator::config::{Webhook, WebhookFormat};
use pocx_aggregator::sim::{Behaviour, SimUpstreamConfig};
use serde_json::{json, Value};

use super::{wait_for_alert, SLACK};
use crate::support::{wait_until, Farm};

/// One received POST: its headers (lowercase names) and body.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on 127.0.0.1 port 0 that answers 200, or (`hang`) never answers.
struct Receiver {
    server: Arc<tiny_http::Server>,
    got: Arc<Mutex<Vec<Received>>>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    fn start(hang: bool) -> Receiver {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let (s, g) = (server.clone(), got.clone());
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while let Ok(mut request) = s.recv() {
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                let headers = request
                    .headers()
                    .iter()
                    .map(|h| {
                        (
                            h.field.as_str().as_str().to_ascii_lowercase(),
                            h.value.to_string(),
                        )
                    })
                    .collect();
                g.lock().push(Received { headers, body });
                if hang {
                    held.push(request);
                } else {
                    let _ = request.respond(tiny_http::Response::empty(200));
                }
            }
        });
        Receiver {
            server,
            got,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!(
            "http://hook:secret@{}/hooks/token-1",
            self.server.server_addr()
        )
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn farm_with_webhook(url: String, format: WebhookFormat) -> Farm {
    Farm::start_with(SimUpstreamConfig::default(), |cfg| {
        cfg.alerts.upstream_down = Duration::from_secs(1);
        cfg.alerts.webhook = Some(Webhook { url, format });
    })
}

/// Takes the upstream away until the alert fires, then brings it back until it resolves.
fn flap_upstream(farm: &Farm) {
    farm.upstream.set_behaviour(Behaviour::Refuse);
    wait_for_alert(farm, "upstream_unreachable", "primary-pool", "firing");
    farm.upstream.set_behaviour(Behaviour::Normal);
    wait_for_alert(farm, "upstream_unreachable", "primary-pool", "resolved");
}

#[test]
fn each_format_reaches_the_receiver_once_per_change() {
    for format in [
        WebhookFormat::Json,
        WebhookFormat::Slack,
        WebhookFormat::Discord,
        WebhookFormat::Ntfy,
    ] {
        let receiver = Receiver::start(false);
        let farm = farm_with_webhook(receiver.url(), format);
        farm.wait_for_round();
        flap_upstream(&farm);
        wait_until(SLACK, || receiver.got().len() >= 2);
        let got = receiver.got();
        assert_eq!(got.len(), 2, "{format:?}: {got:?}");
        let (firing, resolved) = (&got[0], &got[1]);
        let text_of = |r: &Received| -> String {
            let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            match format {
                WebhookFormat::Json => body["message"].as_str().unwrap_or_default().into(),
                WebhookFormat::Slack => body["text"].as_str().unwrap_or_default().into(),
                WebhookFormat::Discord => body["content"].as_str().unwrap_or_default().into(),
                WebhookFormat::Ntfy => r.body.clone(),
            }
        };
        assert!(
            text_of(firing).contains("unreachable"),
            "{format:?}: {firing:?}"
        );
        assert!(
            text_of(resolved).contains("reachable again"),
            "{format:?}: {resolved:?}"
        );
        match format {
            WebhookFormat::Json => {
                let body: Value = serde_json::from_str(&firing.body).unwrap();
                assert_eq!(body["kind"], json!("upstream_unreachable"));
                assert_eq!(body["subject"], json!("primary-pool"));
                assert_eq!(body["state"], json!("firing"));
                assert!(body["since_ms"].is_u64());
            }
            WebhookFormat::Slack | WebhookFormat::Discord => {
                assert!(text_of(firing).starts_with("[FIRING] upstream_unreachable"));
                assert!(text_of(resolved).starts_with("[RESOLVED] upstream_unreachable"));
            }
            WebhookFormat::Ntfy => {
                assert_eq!(
                    firing.header("title"),
                    Some("pocx_aggregator: upstream_unreachable primary-pool firing")
                );
                assert_eq!(firing.header("priority"), Some("high"));
            }
        }
        // The credentials in the URL are sent as Basic auth, and never shown.
        assert!(firing
            .header("authorization")
            .is_some_and(|a| a.starts_with("Basic ")));
        let stats = farm.get("/stats").1;
        assert!(
            !stats.contains("secret") && !stats.contains("token-1"),
            "{stats}"
        );
    }
}

#[test]
fn a_receiver_that_never_answers_slows_no_miner_and_no_shutdown() {
    let receiver = Receiver::start(true);
    let mut farm = farm_with_webhook(receiver.url(), WebhookFormat::Json);
    farm.wait_for_round();
    flap_upstream(&farm);
    // The notifier is now stuck in its first POST (10 s timeout) with the resolution queued.
    wait_until(SLACK, || !receiver.got().is_empty());
    for _ in 0..20 {
        let started = Instant::now();
        let info = farm.rpc("get_mining_info", json!({}));
        assert!(info["result"]["height"].is_u64(), "{info}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a poll waited {:?} behind the webhook",
            started.elapsed()
        );
    }
    assert_eq!(receiver.got().len(), 1, "still stuck in the first call");
    let took = farm.stop_app();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
}
