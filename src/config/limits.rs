//! The values of the configuration that are limits and thresholds rather than addresses: the
//! `server` section's head limits, trusted proxies and Basic credentials, and the `alerts`
//! section. Pure checks of values already opened as sections; every error names its key.

use std::time::Duration;

use super::defaults;
use super::error::{printable, ConfigError, Problem};
use super::section::Section;
use super::url::check_url;
use super::{AlertSettings, BasicCredentials, HeadLimits, TrustedProxies, Webhook, WebhookFormat};

/// `server.trusted_proxies`: a list of IP addresses and CIDR networks.
pub(super) fn trusted_proxies(server: &Section) -> Result<TrustedProxies, ConfigError> {
    let key = "trusted_proxies";
    let entries = server.string_list(key, defaults::MAX_TRUSTED_PROXIES)?;
    TrustedProxies::parse(entries.unwrap_or_default()).map_err(|(index, rule): (usize, String)| {
        let path = format!("{}[{index}]", server.path_of(key));
        ConfigError::invalid(path, printable(&rule))
    })
}

/// `server.max_*` head limits; a line or field limit above the whole head's is an error.
pub(super) fn head_limits(server: &Section) -> Result<HeadLimits, ConfigError> {
    let read = |key: &str, (min, max): (u64, u64), default: u64| -> Result<usize, ConfigError> {
        let value = server.uint(key, min, max)?.unwrap_or(default);
        Ok(usize::try_from(value).unwrap_or(usize::MAX))
    };
    let limits = HeadLimits {
        max_request_line: read(
            "max_request_line_bytes",
            defaults::HEAD_LINE_RANGE,
            defaults::MAX_REQUEST_LINE_BYTES,
        )?,
        max_field_line: read(
            "max_header_field_bytes",
            defaults::HEAD_LINE_RANGE,
            defaults::MAX_HEADER_FIELD_BYTES,
        )?,
        max_fields: read(
            "max_header_fields",
            defaults::HEADER_FIELDS_RANGE,
            defaults::MAX_HEADER_FIELDS,
        )?,
        max_head: read(
            "max_head_bytes",
            defaults::HEAD_BYTES_RANGE,
            defaults::MAX_HEAD_BYTES,
        )?,
    };
    for (key, value) in [
        ("max_request_line_bytes", limits.max_request_line),
        ("max_header_field_bytes", limits.max_field_line),
    ] {
        if value > limits.max_head {
            let rule = format!(
                "must not be larger than `server.max_head_bytes` ({})",
                limits.max_head
            );
            return Err(ConfigError::invalid(server.path_of(key), rule));
        }
    }
    Ok(limits)
}

/// `username` and `password` of a Basic-auth section, both required and non-empty.
pub(super) fn credentials(section: &Section) -> Result<BasicCredentials, ConfigError> {
    let required =
        |key: &str| ConfigError::key(section.path_of(key), Problem::Required { hint: None });
    let username = section
        .text("username")?
        .ok_or_else(|| required("username"))?;
    if username.contains(':') {
        let rule = "must not contain `:` (Basic auth splits user and password there)";
        return Err(ConfigError::invalid(section.path_of("username"), rule));
    }
    let password = section
        .text("password")?
        .ok_or_else(|| required("password"))?;
    for (key, value) in [("username", username), ("password", password)] {
        if value.chars().any(char::is_control) {
            let rule = "must not contain control characters";
            return Err(ConfigError::invalid(section.path_of(key), rule));
        }
    }
    Ok(BasicCredentials {
        username: username.to_string(),
        password: password.to_string(),
    })
}

pub(super) fn alert_settings(alerts: &Section) -> Result<AlertSettings, ConfigError> {
    let secs = |key, default| -> Result<Duration, ConfigError> {
        let value = alerts.uint(key, 1, defaults::MAX_ALERT_SECS)?;
        Ok(Duration::from_secs(value.unwrap_or(default)))
    };
    let count = |key, max, default| -> Result<u32, ConfigError> {
        let value = alerts.uint(key, 1, max)?.unwrap_or(default);
        Ok(u32::try_from(value).unwrap_or(u32::MAX))
    };
    let name = alerts
        .choice("webhook_format", &WebhookFormat::NAMES)?
        .unwrap_or(defaults::WEBHOOK_FORMAT);
    // `choice` admits only the names, so the fallback is never taken.
    let format = WebhookFormat::named(name).unwrap_or(WebhookFormat::Json);
    let webhook = match alerts.text("webhook_url")? {
        Some(url) => {
            check_url(url)
                .map_err(|rule| ConfigError::invalid(alerts.path_of("webhook_url"), rule))?;
            Some(Webhook {
                url: url.to_string(),
                format,
            })
        }
        None if alerts.is_set("webhook_format") => {
            let hint = Some("when `alerts.webhook_format` is given");
            return Err(ConfigError::key(
                alerts.path_of("webhook_url"),
                Problem::Required { hint },
            ));
        }
        None => None,
    };
    Ok(AlertSettings {
        machine_silent: secs("machine_silent_secs", defaults::MACHINE_SILENT_SECS)?,
        idle_rounds: count(
            "idle_rounds",
            defaults::MAX_IDLE_ROUNDS,
            defaults::IDLE_ROUNDS,
        )?,
        upstream_down: secs("upstream_down_secs", defaults::UPSTREAM_DOWN_SECS)?,
        failed_forwards: count(
            "failed_forwards",
            defaults::MAX_FAILED_FORWARDS,
            defaults::FAILED_FORWARDS,
        )?,
        webhook,
        repeat: secs("repeat_secs", defaults::REPEAT_SECS)?,
    })
}
