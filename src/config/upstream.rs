//! The `upstream` section, in either layout: `url` + `auth_token` (the seed's) or
//! `rpc_transport` + `rpc_host` + `rpc_port` + `rpc_auth` (the PoCX aggregator's). Both fill the
//! same `UpstreamSettings`; giving the same thing both ways is an error naming both keys. Only
//! checks values: the cookie file is read by the upstream client, not here.

use std::path::PathBuf;
use std::time::Duration;

use super::defaults;
use super::error::{ConfigError, Problem};
use super::limits::credentials;
use super::section::Section;
use super::tls::endpoint_tls;
use super::url::{check_host, check_url, url_from_parts};
use super::{schema, SubmissionMode, UpstreamAuth, UpstreamEndpoint, UpstreamSettings};

/// The other layout's keys that together describe the upstream address.
const RPC_ADDRESS_KEYS: [&str; 3] = ["rpc_transport", "rpc_host", "rpc_port"];

/// Reads the `upstream` section; `rpc_auth` is its already opened `rpc_auth` subsection.
pub(crate) fn upstream_settings(
    upstream: &Section,
    rpc_auth: &Section,
) -> Result<UpstreamSettings, ConfigError> {
    let url = upstream_url(upstream)?;
    let auth = upstream_auth(upstream, rpc_auth)?;
    let name = upstream_name(upstream)?;
    let site_name = site_name(upstream)?;
    let submission_mode = match upstream.choice("submission_mode", &["pool", "wallet"])? {
        Some("wallet") => SubmissionMode::Wallet,
        _ => SubmissionMode::Pool,
    };
    let verify_submissions = upstream.bool("verify_submissions")?.unwrap_or(false);
    let delay_range = (1, defaults::MAX_RETRY_DELAY_SECS);
    let retry_backoff = upstream
        .uint_list("retry_backoff_secs", delay_range, defaults::MAX_RETRIES)?
        .unwrap_or_else(|| defaults::RETRY_BACKOFF_SECS.to_vec())
        .into_iter()
        .map(Duration::from_secs)
        .collect();
    let max_connections = defaults::MAX_FORWARD_CONNECTIONS;
    let forward_connections = upstream
        .uint("forward_connections", 1, max_connections)?
        .unwrap_or(defaults::FORWARD_CONNECTIONS);
    let backups = backup_endpoints(upstream, &url)?;
    // The TLS keys serve every https:// endpoint, the primary's or a backup's.
    let https = std::iter::once(url.as_str())
        .chain(backups.iter().map(|backup| backup.url.as_str()))
        .find(|url| {
            url.get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        });
    let tls = endpoint_tls(upstream, https.unwrap_or(&url))?;
    let failover_after = upstream
        .uint("failover_after", 1, defaults::MAX_FAILOVER_AFTER)?
        .unwrap_or(defaults::FAILOVER_AFTER);
    let failback_secs = upstream
        .uint("failback_secs", 1, defaults::MAX_FAILBACK_SECS)?
        .unwrap_or(defaults::FAILBACK_SECS);
    Ok(UpstreamSettings {
        name,
        url,
        auth,
        backups,
        failover_after: u32::try_from(failover_after).unwrap_or(u32::MAX),
        failback: Duration::from_secs(failback_secs),
        submission_mode,
        verify_submissions,
        retry_backoff,
        forward_connections: usize::try_from(forward_connections).unwrap_or(1),
        site_name,
        tls,
    })
}

/// `backup_urls`: each entry a URL, or a mapping with `url` and the primary's credential keys
/// (`auth_token`, or `rpc_auth`). An endpoint listed twice would only be polled twice.
fn backup_endpoints(
    upstream: &Section,
    primary: &str,
) -> Result<Vec<UpstreamEndpoint>, ConfigError> {
    let read = |path: &str, value| backup_endpoint(path, value);
    let backups = upstream
        .list("backup_urls", defaults::MAX_BACKUPS, "a list", read)?
        .unwrap_or_default();
    for (index, (url_path, endpoint)) in backups.iter().enumerate() {
        let earlier = backups.get(..index).unwrap_or_default();
        if endpoint.url == primary || earlier.iter().any(|(_, b)| b.url == endpoint.url) {
            let rule = "repeats an endpoint listed before it";
            return Err(ConfigError::invalid(url_path.clone(), rule));
        }
    }
    Ok(backups.into_iter().map(|(_, endpoint)| endpoint).collect())
}

/// One `backup_urls` entry and the path of its URL.
fn backup_endpoint(
    path: &str,
    value: &serde_yaml::Value,
) -> Result<(String, UpstreamEndpoint), ConfigError> {
    if let serde_yaml::Value::String(url) = value {
        check_url(url).map_err(|rule| ConfigError::invalid(path, rule))?;
        let auth = UpstreamAuth::None;
        return Ok((
            path.to_owned(),
            UpstreamEndpoint {
                url: url.clone(),
                auth,
            },
        ));
    }
    let entry = Section::entry(path.to_owned(), value, schema::BACKUP)?;
    let rpc_auth = entry.section("rpc_auth", schema::RPC_AUTH)?;
    let url_path = entry.path_of("url");
    let url = entry
        .text("url")?
        .ok_or_else(|| ConfigError::key(url_path.clone(), Problem::Required { hint: None }))?;
    check_url(url).map_err(|rule| ConfigError::invalid(url_path.clone(), rule))?;
    let auth = upstream_auth(&entry, &rpc_auth)?;
    let url = url.to_owned();
    Ok((url_path, UpstreamEndpoint { url, auth }))
}

/// `site_name`, or the host name: it travels as an HTTP header value, so it must be one.
fn site_name(upstream: &Section) -> Result<String, ConfigError> {
    let Some(name) = upstream.text("site_name")? else {
        return Ok(host_name()
            .filter(|name| is_site_name(name))
            .unwrap_or_else(|| defaults::SITE_NAME.to_owned()));
    };
    if !is_site_name(name) {
        let rule = format!(
            "must be 1 to {} printable ASCII characters (it is sent as the `X-Miner` header)",
            defaults::MAX_SITE_NAME_CHARS
        );
        return Err(ConfigError::invalid(upstream.path_of("site_name"), rule));
    }
    Ok(name.to_owned())
}

/// Printable ASCII, no edge spaces, short enough for the upstream to keep it whole.
fn is_site_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= defaults::MAX_SITE_NAME_CHARS
        && name.trim() == name
        && name.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// This machine's host name, when the system gives one as UTF-8.
fn host_name() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length, which is what is passed.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if rc != 0 {
        return None;
    }
    let end = buffer.iter().position(|b| *b == 0)?;
    let name = std::str::from_utf8(buffer.get(..end)?).ok()?;
    Some(name.to_owned())
}

fn upstream_name(upstream: &Section) -> Result<String, ConfigError> {
    let name = upstream.text("name")?.unwrap_or(defaults::UPSTREAM_NAME);
    if name.chars().any(char::is_control) {
        let rule = "must not contain control characters";
        return Err(ConfigError::invalid(upstream.path_of("name"), rule));
    }
    if name.chars().count() > defaults::MAX_UPSTREAM_NAME_CHARS {
        let rule = format!(
            "must be at most {} characters long",
            defaults::MAX_UPSTREAM_NAME_CHARS
        );
        return Err(ConfigError::invalid(upstream.path_of("name"), rule));
    }
    Ok(name.to_string())
}

fn upstream_url(upstream: &Section) -> Result<String, ConfigError> {
    let rpc_key = RPC_ADDRESS_KEYS
        .iter()
        .find(|key| upstream.is_set(key))
        .copied();
    match (upstream.string("url")?, rpc_key) {
        (Some(_), Some(rpc_key)) => Err(ConfigError::Conflict {
            first: upstream.path_of("url"),
            second: upstream.path_of(rpc_key),
            what: "the upstream address",
        }),
        (Some(url), None) => {
            check_url(url).map_err(|rule| ConfigError::invalid(upstream.path_of("url"), rule))?;
            Ok(url.to_string())
        }
        (None, Some(_)) => rpc_url(upstream),
        (None, None) => Err(ConfigError::key(
            upstream.path_of("url"),
            Problem::Required {
                hint: Some(
                    "(or describe the upstream with `upstream.rpc_host` and `upstream.rpc_port`)",
                ),
            },
        )),
    }
}

/// The URL described by `rpc_transport`, `rpc_host` and `rpc_port`, each with its default.
fn rpc_url(upstream: &Section) -> Result<String, ConfigError> {
    let scheme = upstream
        .choice("rpc_transport", &["http", "https"])?
        .unwrap_or("http");
    let host = upstream.text("rpc_host")?.unwrap_or(defaults::RPC_HOST);
    let host_error = |rule| ConfigError::invalid(upstream.path_of("rpc_host"), rule);
    check_host(host).map_err(host_error)?;
    let port = upstream
        .uint("rpc_port", 1, u64::from(u16::MAX))?
        .unwrap_or(defaults::RPC_PORT);
    let url = url_from_parts(scheme, host, port);
    check_url(&url).map_err(host_error)?;
    Ok(url)
}

fn upstream_auth(upstream: &Section, rpc_auth: &Section) -> Result<UpstreamAuth, ConfigError> {
    match (upstream.is_set("auth_token"), upstream.is_set("rpc_auth")) {
        (true, true) => Err(ConfigError::Conflict {
            first: upstream.path_of("auth_token"),
            second: upstream.path_of("rpc_auth"),
            what: "the upstream credentials",
        }),
        (true, false) => {
            let token = upstream.text("auth_token")?.unwrap_or_default();
            if token.chars().any(char::is_control) {
                let rule = "must not contain control characters";
                return Err(ConfigError::invalid(upstream.path_of("auth_token"), rule));
            }
            Ok(UpstreamAuth::Token(token.to_string()))
        }
        (false, true) => typed_rpc_auth(rpc_auth),
        (false, false) => Ok(UpstreamAuth::None),
    }
}

/// `rpc_auth: {type: none | user_pass | cookie, …}`; keys that the type does not use are errors,
/// so a half-edited section is not silently ignored.
fn typed_rpc_auth(rpc_auth: &Section) -> Result<UpstreamAuth, ConfigError> {
    let kind = rpc_auth
        .choice("type", &["none", "user_pass", "cookie"])?
        .ok_or_else(|| {
            let hint = Some("(none, user_pass or cookie)");
            ConfigError::key(rpc_auth.path_of("type"), Problem::Required { hint })
        })?;
    let used: &[&str] = match kind {
        "user_pass" => &["username", "password"],
        "cookie" => &["cookie_path"],
        _ => &[],
    };
    let unused = ["username", "password", "cookie_path"]
        .into_iter()
        .find(|key| rpc_auth.is_set(key) && !used.contains(key));
    if let Some(key) = unused {
        let rule = format!("not used with `type: {kind}`");
        return Err(ConfigError::invalid(rpc_auth.path_of(key), rule));
    }
    match kind {
        "user_pass" => Ok(UpstreamAuth::UserPass(credentials(rpc_auth)?)),
        "cookie" => {
            let path = rpc_auth.text("cookie_path")?.ok_or_else(|| {
                let hint = Some("when `type` is cookie");
                ConfigError::key(rpc_auth.path_of("cookie_path"), Problem::Required { hint })
            })?;
            Ok(UpstreamAuth::Cookie(PathBuf::from(path)))
        }
        _ => Ok(UpstreamAuth::None),
    }
}
