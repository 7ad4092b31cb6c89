//! The keys each configuration section may contain, for both layouts at once. Unknown-key errors
//! and their "did you mean" suggestions come from these lists; the values themselves are read
//! and checked in `load` and `upstream`.

/// Top level. `listen_address` and `block_time_secs` are the seed's layout; `server` holds the
/// other layout's listen address.
pub(crate) const TOP: &[&str] = &[
    "listen_address",
    "block_time_secs",
    "server",
    "upstream",
    "cache",
    "database",
    "dashboard",
    "logging",
    "alerts",
];

pub(crate) const SERVER: &[&str] = &[
    "listen_address",
    "workers",
    "auth",
    "max_requests_per_second_per_ip",
    "max_connections_per_ip",
    "stats_on_miner_port",
    "max_request_line_bytes",
    "max_header_field_bytes",
    "max_header_fields",
    "max_head_bytes",
    "trusted_proxies",
];

pub(crate) const SERVER_AUTH: &[&str] = &["enabled", "basic_auth"];

pub(crate) const CREDENTIALS: &[&str] = &["username", "password"];

/// `url` and `auth_token` are the seed's layout; `rpc_*` and `block_time_secs` the other one's.
pub(crate) const UPSTREAM: &[&str] = &[
    "name",
    "url",
    "auth_token",
    "submission_mode",
    "verify_submissions",
    "retry_backoff_secs",
    "forward_connections",
    "site_name",
    "ca_cert_path",
    "ca_only",
    "client_cert_path",
    "client_key_path",
    "rpc_transport",
    "rpc_host",
    "rpc_port",
    "rpc_auth",
    "block_time_secs",
    "backup_urls",
    "failover_after",
    "failback_secs",
];

/// The keys of one `upstream.backup_urls` entry given as a mapping.
pub(crate) const BACKUP: &[&str] = &["url", "auth_token", "rpc_auth"];

pub(crate) const RPC_AUTH: &[&str] = &["type", "username", "password", "cookie_path"];

pub(crate) const CACHE: &[&str] = &[
    "mining_info_ttl_secs",
    "pool_timeout_secs",
    "refresh_interval_ms",
];

pub(crate) const DATABASE: &[&str] = &["path", "retention_days", "batch_ms"];

pub(crate) const DASHBOARD: &[&str] = &["enabled", "listen_address", "auth"];

pub(crate) const LOGGING: &[&str] = &["level", "file"];

pub(crate) const ALERTS: &[&str] = &[
    "machine_silent_secs",
    "idle_rounds",
    "upstream_down_secs",
    "failed_forwards",
    "webhook_url",
    "webhook_format",
    "repeat_secs",
];

/// Every section by its path, for suggesting a key that belongs somewhere else.
pub(crate) const SECTIONS: &[(&str, &[&str])] = &[
    ("", TOP),
    ("server", SERVER),
    ("server.auth", SERVER_AUTH),
    ("server.auth.basic_auth", CREDENTIALS),
    ("upstream", UPSTREAM),
    ("upstream.rpc_auth", RPC_AUTH),
    ("cache", CACHE),
    ("database", DATABASE),
    ("dashboard", DASHBOARD),
    ("dashboard.auth", CREDENTIALS),
    ("logging", LOGGING),
    ("alerts", ALERTS),
];
