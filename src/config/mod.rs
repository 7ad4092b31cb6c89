//! The one configuration model every other module reads, and how it is loaded.
//!
//! Two YAML layouts fill it: the seed's (`listen_address`, `upstream.url`, …) and the one existing
//! PoCX aggregator users already have (`server.listen_address`, `upstream.rpc_host`, …). The
//! submodules read the YAML (`load`, `upstream`), check every value with its key path
//! (`section`, `url`, `tls` with `x509`), report problems (`error`) and print the effective
//! settings (`summary`); [`defaults`] names every default. This file declares what the rest of the program may rely
//! on: every value here is already checked.
//!
//! No channels and no threads: loading is a function of the file's text and of the TLS
//! certificate and key files it names (`tls` reads them, so `--check` reports a bad one). It
//! deliberately does not touch the network, the database or the cookie file; those are checked
//! by the parts that use them, at run time.

pub mod defaults;
mod error;
mod limits;
mod load;
mod schema;
mod section;
mod summary;
mod tls;
mod upstream;
mod url;
mod x509;

#[cfg(test)]
mod tests;

pub use error::{ConfigError, Problem};
pub use load::{from_yaml_str, load_file};
pub use url::{mask_url, mask_webhook_url};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::server::HeadLimits;
pub use crate::server::TrustedProxies;

/// A fully validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where miners connect.
    pub listen_address: SocketAddr,
    /// Expected block time in seconds (T in the time-bending formula), > 0.
    pub block_time_secs: u64,
    pub server: ServerSettings,
    pub upstream: UpstreamSettings,
    pub cache: CacheSettings,
    pub database: DatabaseSettings,
    pub dashboard: DashboardSettings,
    pub logging: LoggingSettings,
    pub alerts: AlertSettings,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Request worker threads (default 4).
    pub workers: usize,
    /// Basic auth miners must present, when set.
    pub auth: Option<BasicCredentials>,
    /// Per-IP request rate limit; `None` = off (default).
    pub max_requests_per_second_per_ip: Option<u32>,
    /// Per-IP open-connection limit; `None` = off (default).
    pub max_connections_per_ip: Option<u32>,
    /// Serve `/stats` and `/metrics` on the miner port too. Default: only when the dashboard is off.
    pub stats_on_miner_port: bool,
    /// Peers whose `X-Forwarded-For` names the client (a TLS proxy in front); default none.
    pub trusted_proxies: TrustedProxies,
    /// Request-head limits of both ports (`max_request_line_bytes`, `max_header_field_bytes`,
    /// `max_header_fields`, `max_head_bytes`).
    pub head_limits: HeadLimits,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubmissionMode {
    /// Best per account per round, retries with backoff.
    #[default]
    Pool,
    /// Best over all accounts per round, fail fast.
    Wallet,
}

impl SubmissionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionMode::Pool => "pool",
            SubmissionMode::Wallet => "wallet",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamAuth {
    None,
    /// `auth_token`: sent as Basic when it looks like `user:password`, else as Bearer.
    Token(String),
    UserPass(BasicCredentials),
    /// Bitcoin-style `.cookie` file, re-read once after a 401.
    Cookie(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamSettings {
    pub name: String,
    /// `http://` or `https://` URL the JSON-RPC calls are POSTed to.
    pub url: String,
    pub auth: UpstreamAuth,
    pub submission_mode: SubmissionMode,
    /// Recompute raw quality with pocx_hashlib before a submission may become the best.
    pub verify_submissions: bool,
    /// Pool-mode retry delays (default 1, 2, 4, 8, 16 s); empty means no retries. Wallet mode
    /// never retries.
    pub retry_backoff: Vec<Duration>,
    /// Forwards that may be in flight at once (default 4).
    pub forward_connections: usize,
    /// Other endpoints of the same chain, in the order they are tried (default none).
    pub backups: Vec<UpstreamEndpoint>,
    /// Consecutive failed polls of the active endpoint before a live backup takes over.
    pub failover_after: u32,
    /// How long the primary must have answered before it is made active again.
    pub failback: Duration,
    /// Sent as `X-Miner` on every upstream call, so an upstream aggregator names this site
    /// (default: the host name).
    pub site_name: String,
    pub tls: EndpointTls,
}

impl UpstreamSettings {
    /// The primary endpoint: `url` with its credentials.
    pub fn primary(&self) -> UpstreamEndpoint {
        UpstreamEndpoint {
            url: self.url.clone(),
            auth: self.auth.clone(),
        }
    }
}

/// One backup endpoint: an address and its own credentials, like the primary's.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamEndpoint {
    pub url: String,
    pub auth: UpstreamAuth,
}

/// The TLS settings of one upstream endpoint, its files already read and checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointTls {
    /// `ca_cert_path`, when set.
    pub ca_cert_path: Option<PathBuf>,
    /// The certificates of `ca_cert_path` (DER, file order): roots trusted for this endpoint.
    pub ca_certs: Vec<Vec<u8>>,
    /// `ca_only`: trust `ca_certs` alone, not the public web roots.
    pub ca_only: bool,
    /// `client_cert_path` + `client_key_path`, for mutual TLS.
    pub client: Option<ClientIdentity>,
}

/// The certificate and key this aggregator shows an endpoint that asks for one.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// The certificate chain, leaf first (DER).
    pub chain: Vec<Vec<u8>>,
    /// The key file's PEM text: a private key rustls can sign with, the chain's leaf's key.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClientIdentity {
    /// The key never appears, only where it was read from.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    /// How stale served mining info may get while upstream fails before `/health` says so.
    pub mining_info_ttl: Duration,
    /// Timeout of every upstream call.
    pub pool_timeout: Duration,
    /// How often the cache thread polls upstream (default 1000 ms).
    pub refresh_interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    pub path: PathBuf,
    /// 0 keeps rows forever.
    pub retention_days: u32,
    /// How long rows gather before they are committed together.
    pub batch_window: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DashboardSettings {
    /// Default true when the file has a `dashboard` section, false when it has none.
    pub enabled: bool,
    pub listen_address: SocketAddr,
    pub auth: Option<BasicCredentials>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoggingSettings {
    pub level: log::LevelFilter,
    pub file: Option<PathBuf>,
}

/// When the alerts fire and where they are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// A machine that polled regularly and has not polled for this long is silent.
    pub machine_silent: Duration,
    /// Rounds without a submission after which a machine that used to submit is idle.
    pub idle_rounds: u32,
    /// How long the upstream may be unreachable before it is an alert.
    pub upstream_down: Duration,
    /// Forwards in a row rejected or dropped before it is an alert.
    pub failed_forwards: u32,
    pub webhook: Option<Webhook>,
    /// At most one message per subject this often while an alert keeps firing.
    pub repeat: Duration,
}

/// Where alert notifications are POSTed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `http://` or `https://`; may carry credentials (masked wherever it is shown).
    pub url: String,
    pub format: WebhookFormat,
}

/// The body a webhook receiver expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The structured alert.
    Json,
    /// Slack and Mattermost incoming webhooks (`{"text": …}`).
    Slack,
    /// Discord webhooks (`{"content": …}`).
    Discord,
    /// ntfy topics (plain text with a `Title` header).
    Ntfy,
}

impl WebhookFormat {
    pub const ALL: [WebhookFormat; 4] = [
        WebhookFormat::Json,
        WebhookFormat::Slack,
        WebhookFormat::Discord,
        WebhookFormat::Ntfy,
    ];
    pub const NAMES: [&'static str; 4] = ["json", "slack", "discord", "ntfy"];

    pub fn named(name: &str) -> Option<WebhookFormat> {
        WebhookFormat::ALL.into_iter().find(|f| f.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Discord => "discord",
            WebhookFormat::Ntfy => "ntfy",
        }
    }
}
