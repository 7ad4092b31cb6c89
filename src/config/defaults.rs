//! Every default value and every accepted range of the configuration, in one place.
//!
//! The defaults of the seed's keys are those of the PoCX aggregator's shipped example; the
//! documented `aggregator_config.yaml` repeats them. The ranges exist so that no later arithmetic
//! on a configured duration or count can overflow (`Instant + Duration` panics on overflow) and so
//! that an obviously mistyped value is reported instead of obeyed. No channels, no state.

/// `listen_address` / `server.listen_address`.
pub const LISTEN_ADDRESS: &str = "0.0.0.0:8080";
/// `block_time_secs` / `upstream.block_time_secs` (PoCX: 120; Burst-style chains: 240).
pub const BLOCK_TIME_SECS: u64 = 120;
/// Longest accepted block time: one day.
pub const MAX_BLOCK_TIME_SECS: u64 = 86_400;

/// `server.workers`.
pub const WORKERS: u64 = 4;
/// Largest accepted `server.workers`.
pub const MAX_WORKERS: u64 = 256;

/// `server.max_request_line_bytes`, `server.max_header_field_bytes`, `server.max_header_fields`
/// and `server.max_head_bytes`: the limits of the common HTTP servers.
pub const MAX_REQUEST_LINE_BYTES: u64 = 8 * 1024;
pub const MAX_HEADER_FIELD_BYTES: u64 = 8 * 1024;
pub const MAX_HEADER_FIELDS: u64 = 100;
pub const MAX_HEAD_BYTES: u64 = 64 * 1024;
/// Accepted range of the line and field limits (a real miner's longest line is under 200 bytes).
pub const HEAD_LINE_RANGE: (u64, u64) = (256, 1 << 20);
/// Accepted range of `server.max_header_fields`.
pub const HEADER_FIELDS_RANGE: (u64, u64) = (8, 10_000);
/// Accepted range of `server.max_head_bytes`.
pub const HEAD_BYTES_RANGE: (u64, u64) = (1024, 4 << 20);

/// Most entries `server.trusted_proxies` may list (empty by default: no header is believed).
pub const MAX_TRUSTED_PROXIES: usize = 64;

/// `upstream.name`.
pub const UPSTREAM_NAME: &str = "primary-pool";
/// Longest accepted `upstream.name`, in characters.
pub const MAX_UPSTREAM_NAME_CHARS: usize = 100;
/// `upstream.site_name` when the host name is not usable as one.
pub const SITE_NAME: &str = "pocx_aggregator";
/// Longest accepted `upstream.site_name`: what an upstream aggregator keeps of an `X-Miner`.
pub const MAX_SITE_NAME_CHARS: usize = 64;
/// `upstream.rpc_host` when only `rpc_port` or `rpc_transport` is given.
pub const RPC_HOST: &str = "127.0.0.1";
/// `upstream.rpc_port` when only `rpc_host` or `rpc_transport` is given.
pub const RPC_PORT: u64 = 8080;
/// `upstream.retry_backoff_secs`: the delays before the 1st, 2nd, … retry in pool mode.
pub const RETRY_BACKOFF_SECS: [u64; 5] = [1, 2, 4, 8, 16];
/// Most retries `upstream.retry_backoff_secs` may list.
pub const MAX_RETRIES: usize = 32;
/// Longest accepted single retry delay: one hour (a round is long over by then).
pub const MAX_RETRY_DELAY_SECS: u64 = 3_600;
/// `upstream.forward_connections`.
pub const FORWARD_CONNECTIONS: u64 = 4;
/// Largest accepted `upstream.forward_connections`.
pub const MAX_FORWARD_CONNECTIONS: u64 = 64;
/// `upstream.backup_urls`: at most this many.
pub const MAX_BACKUPS: usize = 8;
/// `upstream.failover_after`: consecutive failed polls of the active endpoint.
pub const FAILOVER_AFTER: u64 = 3;
pub const MAX_FAILOVER_AFTER: u64 = 100;
/// `upstream.failback_secs`: how long the primary must answer before it is active again.
pub const FAILBACK_SECS: u64 = 60;
pub const MAX_FAILBACK_SECS: u64 = 86_400;

/// `cache.mining_info_ttl_secs`.
pub const MINING_INFO_TTL_SECS: u64 = 5;
/// `cache.pool_timeout_secs`.
pub const POOL_TIMEOUT_SECS: u64 = 30;
/// Longest accepted TTL or upstream timeout: one day.
pub const MAX_CACHE_SECS: u64 = 86_400;
/// `cache.refresh_interval_ms`.
pub const REFRESH_INTERVAL_MS: u64 = 1_000;
/// Shortest accepted refresh interval; anything faster only hammers the upstream.
pub const MIN_REFRESH_INTERVAL_MS: u64 = 10;
/// Longest accepted refresh interval: one hour.
pub const MAX_REFRESH_INTERVAL_MS: u64 = 3_600_000;

/// `database.path`.
pub const DATABASE_PATH: &str = "aggregator.db";
/// `database.retention_days` (0 keeps rows forever).
pub const RETENTION_DAYS: u32 = 7;
/// `database.batch_ms`: how long rows gather before one commit; also the most history a
/// `kill -9` can lose. Longer means fewer writes (an SD card's wear) and less CPU.
pub const BATCH_MS: u64 = 1_000;
pub const MIN_BATCH_MS: u64 = 10;
pub const MAX_BATCH_MS: u64 = 10_000;

/// `dashboard.enabled` when a `dashboard` section is present. Without the section the dashboard
/// is off, as in the PoCX aggregator, so no port opens that the file does not mention.
pub const DASHBOARD_ENABLED: bool = true;
/// `dashboard.listen_address`.
pub const DASHBOARD_LISTEN_ADDRESS: &str = "0.0.0.0:8081";

/// `logging.level`.
pub const LOG_LEVEL: &str = "info";
/// `logging.file` (`""` or `~` turns file logging off).
pub const LOG_FILE: &str = "aggregator.log";

/// Largest configuration file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// `alerts.machine_silent_secs`.
pub const MACHINE_SILENT_SECS: u64 = 120;
/// `alerts.idle_rounds`.
pub const IDLE_ROUNDS: u64 = 10;
/// Largest accepted `alerts.idle_rounds`: the per-machine round history holds 64 rounds, and
/// the rounds before the idle ones say whether the machine used to submit.
pub const MAX_IDLE_ROUNDS: u64 = 40;
/// `alerts.upstream_down_secs`.
pub const UPSTREAM_DOWN_SECS: u64 = 60;
/// `alerts.failed_forwards`.
pub const FAILED_FORWARDS: u64 = 5;
/// Largest accepted `alerts.failed_forwards`.
pub const MAX_FAILED_FORWARDS: u64 = 10_000;
/// `alerts.webhook_format`.
pub const WEBHOOK_FORMAT: &str = "json";
/// `alerts.repeat_secs`.
pub const REPEAT_SECS: u64 = 3_600;
/// Longest accepted alert duration setting: one week.
pub const MAX_ALERT_SECS: u64 = 7 * 86_400;
