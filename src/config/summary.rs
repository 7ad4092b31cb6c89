//! Human-readable views of a loaded configuration: the multi-line effective settings printed by
//! `--check` and the one startup log line. Secrets never appear: passwords and tokens print as
//! `***`, URLs go through `mask_url`. Only formats; reads no files (a cookie file's path is shown,
//! never its contents).

use std::fmt::Write;
use std::time::Duration;

use super::url::{mask_url, mask_webhook_url};
use super::{BasicCredentials, Config, UpstreamAuth};

/// A file's path, or `none`.
fn shown(path: Option<&std::path::Path>) -> String {
    path.map_or_else(|| "none".to_string(), |p| p.display().to_string())
}

/// What every secret prints as.
const MASK: &str = "***";

impl Config {
    /// Every effective setting, one `key: value` line each under the seed layout's key names,
    /// with secrets masked.
    pub fn masked_summary(&self) -> String {
        let mut lines = Vec::new();
        let mut line = |key: &str, value: String| lines.push(format!("{key}: {value}"));
        line("listen_address", self.listen_address.to_string());
        line("block_time_secs", self.block_time_secs.to_string());

        let server = &self.server;
        line("server.workers", server.workers.to_string());
        line("server.auth", basic_auth(server.auth.as_ref()));
        line(
            "server.max_requests_per_second_per_ip",
            limit(server.max_requests_per_second_per_ip),
        );
        line(
            "server.max_connections_per_ip",
            limit(server.max_connections_per_ip),
        );
        line(
            "server.stats_on_miner_port",
            server.stats_on_miner_port.to_string(),
        );
        let head = &server.head_limits;
        line(
            "server.max_request_line_bytes",
            head.max_request_line.to_string(),
        );
        line(
            "server.max_header_field_bytes",
            head.max_field_line.to_string(),
        );
        line("server.max_header_fields", head.max_fields.to_string());
        line("server.max_head_bytes", head.max_head.to_string());
        let proxies = server.trusted_proxies.entries();
        line(
            "server.trusted_proxies",
            format!("[{}]", proxies.join(", ")),
        );

        let upstream = &self.upstream;
        line("upstream.name", upstream.name.clone());
        line("upstream.url", mask_url(&upstream.url));
        line("upstream.auth", upstream_auth(&upstream.auth));
        line(
            "upstream.submission_mode",
            upstream.submission_mode.as_str().to_string(),
        );
        line(
            "upstream.verify_submissions",
            upstream.verify_submissions.to_string(),
        );
        let backoff: Vec<String> = upstream.retry_backoff.iter().map(|d| secs(*d)).collect();
        line(
            "upstream.retry_backoff_secs",
            format!("[{}]", backoff.join(", ")),
        );
        line(
            "upstream.forward_connections",
            upstream.forward_connections.to_string(),
        );
        for (index, backup) in upstream.backups.iter().enumerate() {
            line(
                &format!("upstream.backup_urls[{index}]"),
                format!(
                    "{} ({})",
                    mask_url(&backup.url),
                    upstream_auth(&backup.auth)
                ),
            );
        }
        line(
            "upstream.failover_after",
            upstream.failover_after.to_string(),
        );
        line("upstream.failback_secs", secs(upstream.failback));
        line("upstream.site_name", upstream.site_name.clone());
        let tls = &upstream.tls;
        line("upstream.ca_cert_path", shown(tls.ca_cert_path.as_deref()));
        line("upstream.ca_only", tls.ca_only.to_string());
        let client = tls.client.as_ref();
        let cert = client.map(|c| c.cert_path.as_path());
        line("upstream.client_cert_path", shown(cert));
        line(
            "upstream.client_key_path",
            shown(client.map(|c| c.key_path.as_path())),
        );

        let cache = &self.cache;
        line("cache.mining_info_ttl_secs", secs(cache.mining_info_ttl));
        line("cache.pool_timeout_secs", secs(cache.pool_timeout));
        let refresh_ms = cache.refresh_interval.as_secs_f64() * 1000.0;
        line("cache.refresh_interval_ms", refresh_ms.to_string());

        let database = &self.database;
        line("database.path", database.path.display().to_string());
        let retention = match database.retention_days {
            0 => "0 (keep forever)".to_string(),
            days => days.to_string(),
        };
        line("database.retention_days", retention);
        let batch_ms = database.batch_window.as_millis();
        line("database.batch_ms", batch_ms.to_string());

        let dashboard = &self.dashboard;
        line("dashboard.enabled", dashboard.enabled.to_string());
        line(
            "dashboard.listen_address",
            dashboard.listen_address.to_string(),
        );
        line("dashboard.auth", basic_auth(dashboard.auth.as_ref()));

        let logging = &self.logging;
        line("logging.level", logging.level.as_str().to_ascii_lowercase());
        let file = match &logging.file {
            Some(path) => path.display().to_string(),
            None => "none".to_string(),
        };
        line("logging.file", file);

        let alerts = &self.alerts;
        line("alerts.machine_silent_secs", secs(alerts.machine_silent));
        line("alerts.idle_rounds", alerts.idle_rounds.to_string());
        line("alerts.upstream_down_secs", secs(alerts.upstream_down));
        line("alerts.failed_forwards", alerts.failed_forwards.to_string());
        let (url, format) = match &alerts.webhook {
            Some(webhook) => (mask_webhook_url(&webhook.url), webhook.format.as_str()),
            None => ("none".to_string(), "none"),
        };
        line("alerts.webhook_url", url);
        line("alerts.webhook_format", format.to_string());
        line("alerts.repeat_secs", secs(alerts.repeat));
        lines.join("\n")
    }

    /// One line for the start-up log: where miners connect, which upstream, which mode.
    pub fn startup_line(&self) -> String {
        let mut text = format!(
            "listening for miners on {}, upstream {} at {}, {} mode",
            self.listen_address,
            self.upstream.name,
            mask_url(&self.upstream.url),
            self.upstream.submission_mode.as_str()
        );
        if self.dashboard.enabled {
            let _ = write!(text, ", dashboard on {}", self.dashboard.listen_address);
        }
        text
    }
}

fn basic_auth(credentials: Option<&BasicCredentials>) -> String {
    match credentials {
        Some(credentials) => format!("username {}, password {MASK}", credentials.username),
        None => "off".to_string(),
    }
}

fn upstream_auth(auth: &UpstreamAuth) -> String {
    match auth {
        UpstreamAuth::None => "none".to_string(),
        UpstreamAuth::Token(_) => format!("token {MASK}"),
        UpstreamAuth::UserPass(credentials) => {
            format!("user_pass, {}", basic_auth(Some(credentials)))
        }
        UpstreamAuth::Cookie(path) => format!("cookie file {}", path.display()),
    }
}

fn limit(value: Option<u32>) -> String {
    value.map_or_else(|| "off".to_string(), |limit| limit.to_string())
}

/// Whole seconds as an integer, anything else with its fraction.
fn secs(value: Duration) -> String {
    value.as_secs_f64().to_string()
}
