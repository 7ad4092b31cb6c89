//! The `alerts` section: defaults, ranges, the webhook pair, and masking of the webhook URL.

use std::time::Duration;

use super::{load, message, with, MINIMAL};
use crate::config::{mask_webhook_url, WebhookFormat};

#[test]
fn alert_defaults() {
    let alerts = load(MINIMAL).alerts;
    assert_eq!(alerts.machine_silent, Duration::from_secs(120));
    assert_eq!(alerts.idle_rounds, 10);
    assert_eq!(alerts.upstream_down, Duration::from_secs(60));
    assert_eq!(alerts.failed_forwards, 5);
    assert_eq!(alerts.repeat, Duration::from_secs(3600));
    assert_eq!(alerts.webhook, None);
}

#[test]
fn alert_settings_are_read() {
    let alerts = load(&with(
        "alerts:\n  machine_silent_secs: 2\n  idle_rounds: 3\n  upstream_down_secs: 4\n  \
         failed_forwards: 6\n  repeat_secs: 7\n  webhook_url: https://ntfy.example.com/farm\n  \
         webhook_format: ntfy\n",
    ))
    .alerts;
    assert_eq!(alerts.machine_silent, Duration::from_secs(2));
    assert_eq!(alerts.idle_rounds, 3);
    assert_eq!(alerts.upstream_down, Duration::from_secs(4));
    assert_eq!(alerts.failed_forwards, 6);
    assert_eq!(alerts.repeat, Duration::from_secs(7));
    let webhook = alerts.webhook.unwrap();
    assert_eq!(webhook.url, "https://ntfy.example.com/farm");
    assert_eq!(webhook.format, WebhookFormat::Ntfy);
}

#[test]
fn alert_errors_name_their_key() {
    for (extra, key) in [
        (
            "alerts:\n  machine_silent_secs: 0\n",
            "alerts.machine_silent_secs",
        ),
        ("alerts:\n  idle_rounds: 41\n", "alerts.idle_rounds"),
        (
            "alerts:\n  upstream_down_secs: -1\n",
            "alerts.upstream_down_secs",
        ),
        ("alerts:\n  failed_forwards: 0\n", "alerts.failed_forwards"),
        ("alerts:\n  repeat_secs: 999999999\n", "alerts.repeat_secs"),
        ("alerts:\n  webhook_url: ftp://h/x\n", "alerts.webhook_url"),
        (
            "alerts:\n  webhook_url: http://h/x\n  webhook_format: teams\n",
            "alerts.webhook_format",
        ),
        ("alerts:\n  webhook_format: slack\n", "alerts.webhook_url"),
    ] {
        let text = message(&with(extra));
        assert!(
            text.starts_with(&format!("config key `{key}`: ")),
            "{extra:?}: {text}"
        );
    }
    assert_eq!(
        message(&with("alerts:\n  idle_round: 3\n")),
        "config key `alerts.idle_round`: unknown key (did you mean `idle_rounds`?)"
    );
}

#[test]
fn webhook_urls_are_shown_without_their_secrets() {
    assert_eq!(
        mask_webhook_url("https://hooks.slack.com/services/T0/B0/secret-token"),
        "https://hooks.slack.com/***"
    );
    assert_eq!(
        mask_webhook_url("http://user:pw@127.0.0.1:9/hook?key=k"),
        "http://***@127.0.0.1:9/***"
    );
    assert_eq!(mask_webhook_url("http://h:1/"), "http://h:1");
    let summary = load(&with(
        "alerts:\n  webhook_url: https://discord.com/api/webhooks/1/tok-secret\n  \
         webhook_format: discord\n",
    ))
    .masked_summary();
    assert!(!summary.contains("tok-secret"), "{summary}");
    assert!(summary.contains("alerts.webhook_url: https://discord.com/***"));
    assert!(summary.contains("alerts.webhook_format: discord"));
}

#[test]
fn every_webhook_format_is_read_by_its_name() {
    let names: Vec<&str> = WebhookFormat::ALL.iter().map(|f| f.as_str()).collect();
    assert_eq!(names, WebhookFormat::NAMES);
    for format in WebhookFormat::ALL {
        assert_eq!(WebhookFormat::named(format.as_str()), Some(format));
    }
    assert_eq!(WebhookFormat::named("teams"), None);
}
