//! Reading a configuration file and turning its YAML into a checked `Config`.
//!
//! The text is parsed into a generic YAML tree (anchors and `<<` merge keys resolved) and walked
//! section by section, so that every error names its full key path. All sections are opened
//! before any value is read: an unknown key, usually a typo, is reported before the problems it
//! causes. The `upstream` section has its own module, the server's limits and credentials and the
//! alert thresholds theirs (`limits`). Nothing here is kept after loading.

use std::fs::File;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use super::defaults;
use super::error::{printable, ConfigError, Problem};
use super::limits::{alert_settings, credentials, head_limits, trusted_proxies};
use super::schema;
use super::section::Section;
use super::upstream::upstream_settings;
use super::{
    CacheSettings, Config, DashboardSettings, DatabaseSettings, LoggingSettings, ServerSettings,
};

/// Reads and checks the configuration file at `path`.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = read_text(path)?;
    from_yaml_str(&text).map_err(|error| error.in_file(path))
}

/// Checks a configuration given as YAML text.
pub fn from_yaml_str(text: &str) -> Result<Config, ConfigError> {
    check_text_bounds(text)?;
    let mut document: Value = serde_yaml::from_str(text)?;
    document.apply_merge()?;
    from_document(&document)
}

impl Config {
    /// The configuration a file containing only `upstream.url` gives: every other setting at its
    /// default (dashboard off, as without a `dashboard` section).
    pub fn with_upstream_url(url: &str) -> Result<Config, ConfigError> {
        let mut upstream = Mapping::new();
        upstream.insert(Value::from("url"), Value::from(url));
        let mut document = Mapping::new();
        document.insert(Value::from("upstream"), Value::Mapping(upstream));
        from_document(&Value::Mapping(document))
    }
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    let read_error = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(defaults::MAX_FILE_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > defaults::MAX_FILE_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
            limit_bytes: defaults::MAX_FILE_BYTES,
        });
    }
    String::from_utf8(bytes)
        .map_err(|_| read_error(io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text")))
}

/// Every section of the document, opened (and so checked for unknown keys) up front.
struct Sections<'a> {
    top: Section<'a>,
    server: Section<'a>,
    server_auth: Section<'a>,
    server_basic_auth: Section<'a>,
    upstream: Section<'a>,
    rpc_auth: Section<'a>,
    cache: Section<'a>,
    database: Section<'a>,
    dashboard: Section<'a>,
    dashboard_auth: Section<'a>,
    logging: Section<'a>,
    alerts: Section<'a>,
}

impl<'a> Sections<'a> {
    fn open(document: &'a Value) -> Result<Sections<'a>, ConfigError> {
        let top = Section::root(document)?;
        let server = top.section("server", schema::SERVER)?;
        let server_auth = server.section("auth", schema::SERVER_AUTH)?;
        let server_basic_auth = server_auth.section("basic_auth", schema::CREDENTIALS)?;
        let upstream = top.section("upstream", schema::UPSTREAM)?;
        let rpc_auth = upstream.section("rpc_auth", schema::RPC_AUTH)?;
        let cache = top.section("cache", schema::CACHE)?;
        let database = top.section("database", schema::DATABASE)?;
        let dashboard = top.section("dashboard", schema::DASHBOARD)?;
        let dashboard_auth = dashboard.section("auth", schema::CREDENTIALS)?;
        let logging = top.section("logging", schema::LOGGING)?;
        let alerts = top.section("alerts", schema::ALERTS)?;
        Ok(Sections {
            top,
            server,
            server_auth,
            server_basic_auth,
            upstream,
            rpc_auth,
            cache,
            database,
            dashboard,
            dashboard_auth,
            logging,
            alerts,
        })
    }
}

fn from_document(document: &Value) -> Result<Config, ConfigError> {
    let sections = Sections::open(document)?;
    let listen_address = listen_address(&sections)?;
    let block_time_secs = block_time_secs(&sections)?;
    let upstream = upstream_settings(&sections.upstream, &sections.rpc_auth)?;
    let cache = cache_settings(&sections.cache)?;
    let database = database_settings(&sections.database)?;
    let dashboard = dashboard_settings(&sections, listen_address)?;
    let server = server_settings(&sections, dashboard.enabled)?;
    let logging = logging_settings(&sections.logging)?;
    let alerts = alert_settings(&sections.alerts)?;
    Ok(Config {
        listen_address,
        block_time_secs,
        server,
        upstream,
        cache,
        database,
        dashboard,
        logging,
        alerts,
    })
}

/// Whichever of two keys that set the same thing is given; an error when both are.
fn one_of<'s, 'a>(
    first: (&'s Section<'a>, &'static str),
    second: (&'s Section<'a>, &'static str),
    what: &'static str,
) -> Result<Option<(&'s Section<'a>, &'static str)>, ConfigError> {
    match (first.0.is_set(first.1), second.0.is_set(second.1)) {
        (true, true) => Err(ConfigError::Conflict {
            first: first.0.path_of(first.1),
            second: second.0.path_of(second.1),
            what,
        }),
        (true, false) => Ok(Some(first)),
        (false, true) => Ok(Some(second)),
        (false, false) => Ok(None),
    }
}

fn listen_address(sections: &Sections) -> Result<SocketAddr, ConfigError> {
    let given = one_of(
        (&sections.top, "listen_address"),
        (&sections.server, "listen_address"),
        "the miner listen address",
    )?;
    match given {
        Some((section, key)) => socket_address(section, key),
        None => Ok(default_address(defaults::LISTEN_ADDRESS)),
    }
}

fn block_time_secs(sections: &Sections) -> Result<u64, ConfigError> {
    let given = one_of(
        (&sections.top, "block_time_secs"),
        (&sections.upstream, "block_time_secs"),
        "the block time",
    )?;
    let Some((section, key)) = given else {
        return Ok(defaults::BLOCK_TIME_SECS);
    };
    let block_time = section.uint(key, 1, defaults::MAX_BLOCK_TIME_SECS)?;
    Ok(block_time.unwrap_or(defaults::BLOCK_TIME_SECS))
}

fn socket_address(section: &Section, key: &str) -> Result<SocketAddr, ConfigError> {
    let text = section.text(key)?.unwrap_or_default();
    text.parse().map_err(|_| {
        let rule = format!(
            "expected an IP address and port such as 0.0.0.0:8080, not `{}`",
            printable(text)
        );
        ConfigError::invalid(section.path_of(key), rule)
    })
}

fn default_address(text: &str) -> SocketAddr {
    text.parse()
        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 8080)))
}

fn server_settings(
    sections: &Sections,
    dashboard_enabled: bool,
) -> Result<ServerSettings, ConfigError> {
    let server = &sections.server;
    let workers = server
        .uint("workers", 1, defaults::MAX_WORKERS)?
        .unwrap_or(defaults::WORKERS);
    let auth_enabled = sections.server_auth.bool("enabled")?.unwrap_or(false);
    let credentials = if sections.server_auth.is_set("basic_auth") {
        Some(credentials(&sections.server_basic_auth)?)
    } else if auth_enabled {
        let hint = Some("when `server.auth.enabled` is true");
        let path = sections.server_auth.path_of("basic_auth");
        return Err(ConfigError::key(path, Problem::Required { hint }));
    } else {
        None
    };
    let per_ip_limit = |key| -> Result<Option<u32>, ConfigError> {
        let limit = server.uint(key, 1, u64::from(u32::MAX))?;
        Ok(limit.and_then(|limit| u32::try_from(limit).ok()))
    };
    Ok(ServerSettings {
        workers: usize::try_from(workers).unwrap_or(1),
        auth: credentials.filter(|_| auth_enabled),
        max_requests_per_second_per_ip: per_ip_limit("max_requests_per_second_per_ip")?,
        max_connections_per_ip: per_ip_limit("max_connections_per_ip")?,
        stats_on_miner_port: server
            .bool("stats_on_miner_port")?
            .unwrap_or(!dashboard_enabled),
        trusted_proxies: trusted_proxies(server)?,
        head_limits: head_limits(server)?,
    })
}

fn cache_settings(cache: &Section) -> Result<CacheSettings, ConfigError> {
    let secs = |key, default| -> Result<Duration, ConfigError> {
        let value = cache.uint(key, 1, defaults::MAX_CACHE_SECS)?;
        Ok(Duration::from_secs(value.unwrap_or(default)))
    };
    let refresh_ms = cache
        .uint(
            "refresh_interval_ms",
            defaults::MIN_REFRESH_INTERVAL_MS,
            defaults::MAX_REFRESH_INTERVAL_MS,
        )?
        .unwrap_or(defaults::REFRESH_INTERVAL_MS);
    Ok(CacheSettings {
        mining_info_ttl: secs("mining_info_ttl_secs", defaults::MINING_INFO_TTL_SECS)?,
        pool_timeout: secs("pool_timeout_secs", defaults::POOL_TIMEOUT_SECS)?,
        refresh_interval: Duration::from_millis(refresh_ms),
    })
}

fn database_settings(database: &Section) -> Result<DatabaseSettings, ConfigError> {
    let path = database.text("path")?.unwrap_or(defaults::DATABASE_PATH);
    let retention_days = database
        .uint("retention_days", 0, u64::from(u32::MAX))?
        .and_then(|days| u32::try_from(days).ok())
        .unwrap_or(defaults::RETENTION_DAYS);
    let batch_ms = database
        .uint("batch_ms", defaults::MIN_BATCH_MS, defaults::MAX_BATCH_MS)?
        .unwrap_or(defaults::BATCH_MS);
    Ok(DatabaseSettings {
        path: PathBuf::from(path),
        retention_days,
        batch_window: Duration::from_millis(batch_ms),
    })
}

fn dashboard_settings(
    sections: &Sections,
    miner_address: SocketAddr,
) -> Result<DashboardSettings, ConfigError> {
    let dashboard = &sections.dashboard;
    let section_given = sections.top.is_set("dashboard");
    let enabled = dashboard
        .bool("enabled")?
        .unwrap_or(section_given && defaults::DASHBOARD_ENABLED);
    let listen_address = if dashboard.is_set("listen_address") {
        socket_address(dashboard, "listen_address")?
    } else {
        default_address(defaults::DASHBOARD_LISTEN_ADDRESS)
    };
    if enabled && same_port(listen_address, miner_address) {
        let rule = format!("must differ from the miner listen address {miner_address}");
        return Err(ConfigError::invalid(
            dashboard.path_of("listen_address"),
            rule,
        ));
    }
    let auth = if dashboard.is_set("auth") {
        Some(credentials(&sections.dashboard_auth)?)
    } else {
        None
    };
    Ok(DashboardSettings {
        enabled,
        listen_address,
        auth,
    })
}

/// Whether two listeners would fight over one port. Port 0 lets the system choose, never clashes.
fn same_port(first: SocketAddr, second: SocketAddr) -> bool {
    let overlapping_ip =
        first.ip() == second.ip() || first.ip().is_unspecified() || second.ip().is_unspecified();
    first.port() != 0 && first.port() == second.port() && overlapping_ip
}

fn logging_settings(logging: &Section) -> Result<LoggingSettings, ConfigError> {
    let levels = ["off", "error", "warn", "info", "debug", "trace"];
    let level = match logging
        .choice("level", &levels)?
        .unwrap_or(defaults::LOG_LEVEL)
    {
        "off" => log::LevelFilter::Off,
        "error" => log::LevelFilter::Error,
        "warn" => log::LevelFilter::Warn,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        _ => log::LevelFilter::Info,
    };
    // An explicit `file: ~` or `file: ""` turns file logging off; leaving the key out keeps the
    // default file.
    let file = match logging.raw("file") {
        None => Some(PathBuf::from(defaults::LOG_FILE)),
        Some(_) => logging
            .string("file")?
            .filter(|file| !file.is_empty())
            .map(PathBuf::from),
    };
    Ok(LoggingSettings { level, file })
}

/// Most aliases (`*name`) a configuration may use. YAML aliases can expand a small text into a
/// huge document before any key is checked; a configuration needs a handful at most.
const MAX_ALIASES: usize = 16;

/// Refuses texts whose parsing alone could cost more memory or time than a configuration
/// deserves: over the size limit, or with more aliases than [`MAX_ALIASES`].
fn check_text_bounds(text: &str) -> Result<(), ConfigError> {
    let too_large = u64::try_from(text.len()).unwrap_or(u64::MAX) > defaults::MAX_FILE_BYTES;
    if too_large {
        return Err(ConfigError::invalid(
            "",
            format!(
                "the configuration is larger than {} bytes",
                defaults::MAX_FILE_BYTES
            ),
        ));
    }
    if count_aliases(text) > MAX_ALIASES {
        return Err(ConfigError::invalid(
            "",
            format!("more than {MAX_ALIASES} YAML aliases (*name); write the values out instead"),
        ));
    }
    Ok(())
}

/// Counts `*name` alias tokens outside quotes and comments. It may over-count in odd plain
/// scalars (a value starting with `*` is an alias in YAML anyway), never under-count.
fn count_aliases(text: &str) -> usize {
    let mut count = 0;
    for line in text.lines() {
        let mut quote: Option<char> = None;
        let mut previous = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == '#' && previous.is_whitespace() => break,
                None if c == '*'
                    && matches!(previous, ' ' | '\t' | '[' | '{' | ',' | '-' | ':')
                    && chars.peek().is_some_and(|next| !next.is_whitespace()) =>
                {
                    count += 1;
                }
                None => {}
            }
            previous = c;
        }
    }
    count
}
