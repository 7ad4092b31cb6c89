//! Upstream URL checks and masking.
//!
//! The checks cover what the upstream client relies on: an `http` or `https` scheme, a host, a
//! valid port. Masking hides what may be secret in a URL (user info and query values) before it
//! is logged, printed or shown on the dashboard. Pure string functions; they never panic,
//! whatever the input.

use std::net::Ipv6Addr;

/// A URL split into the parts the checks and the masking look at.
struct UrlParts<'a> {
    scheme: &'a str,
    user_info: Option<&'a str>,
    /// Host as written, including the brackets of an IPv6 literal.
    host: &'a str,
    port: Option<&'a str>,
    /// Path, query and fragment, starting with `/`, `?` or `#` (or empty).
    rest: &'a str,
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, after_scheme) = url.split_once("://")?;
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at_checked(authority_end)?;
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((user_info, host_port)) => (Some(user_info), host_port),
        None => (None, authority),
    };
    let (host, port) = if host_port.starts_with('[') {
        match host_port.split_once(']') {
            Some((inside, "")) => (host_port.get(..inside.len() + 1)?, None),
            Some((inside, after)) => (
                host_port.get(..inside.len() + 1)?,
                Some(after.strip_prefix(':')?),
            ),
            None => return None,
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    Some(UrlParts {
        scheme,
        user_info,
        host,
        port,
        rest,
    })
}

/// Checks an upstream URL; the error is the rule it breaks.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("must not be empty".to_string());
    }
    if url.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return Err("must not contain spaces or control characters".to_string());
    }
    let Some(parts) = split_url(url) else {
        return Err("expected a URL such as http://pool.example.com:8080/pocx".to_string());
    };
    if !parts.scheme.eq_ignore_ascii_case("http") && !parts.scheme.eq_ignore_ascii_case("https") {
        return Err("must start with http:// or https://".to_string());
    }
    if let Some(inside) = parts
        .host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
    {
        if inside.parse::<Ipv6Addr>().is_err() {
            return Err("has an invalid IPv6 address in brackets".to_string());
        }
    } else {
        check_host_name(parts.host)?;
    }
    if let Some(port) = parts.port {
        check_port(port)?;
    }
    Ok(())
}

/// Checks a host given on its own (`upstream.rpc_host`): a name, an IPv4 or an IPv6 address.
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    if host.contains("://") || host.contains('/') {
        return Err("expected a host name or IP address, without scheme or path".to_string());
    }
    if bare_ipv6(host).is_some() {
        return Ok(());
    }
    check_host_name(host)
}

/// The URL the other layout's `rpc_transport`, `rpc_host` and `rpc_port` describe.
pub(crate) fn url_from_parts(scheme: &str, host: &str, port: u64) -> String {
    match bare_ipv6(host) {
        Some(address) => format!("{scheme}://[{address}]:{port}"),
        None => format!("{scheme}://{host}:{port}"),
    }
}

fn bare_ipv6(host: &str) -> Option<Ipv6Addr> {
    let inside = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    inside.parse().ok()
}

fn check_host_name(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("must name a host".to_string());
    }
    if host.len() > 253 {
        return Err("has a host name longer than 253 characters".to_string());
    }
    let allowed = |ch: char| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '.' | '_');
    if !host.chars().all(allowed) {
        return Err(
            "has a host name with characters other than letters, digits, - . _".to_string(),
        );
    }
    Ok(())
}

fn check_port(port: &str) -> Result<(), String> {
    match port.parse::<u16>() {
        Ok(number) if number > 0 && port.bytes().all(|byte| byte.is_ascii_digit()) => Ok(()),
        _ => Err("has a port that is not a number from 1 to 65535".to_string()),
    }
}

/// A webhook URL as it may be shown: [`mask_url`] with the path replaced by `***` too. Slack,
/// Discord and ntfy put the secret that lets anyone post in the path, not in the user info.
pub fn mask_webhook_url(url: &str) -> String {
    let masked = mask_url(url);
    let Some(parts) = split_url(&masked) else {
        return masked;
    };
    let kept = masked.len().saturating_sub(parts.rest.len());
    let origin = masked.get(..kept).unwrap_or("");
    if parts.rest.is_empty() || parts.rest == "/" {
        origin.to_string()
    } else {
        format!("{origin}/***")
    }
}

/// The URL with user info and query values replaced by `***`, safe to log and display.
///
/// `http://user:secret@pool.example.com/pocx?key=abc` becomes
/// `http://***@pool.example.com/pocx?key=***`. Text that is not a URL is masked up to its last
/// `@` if it has one, and returned unchanged otherwise.
pub fn mask_url(url: &str) -> String {
    let Some(parts) = split_url(url) else {
        return match url.rsplit_once('@') {
            Some((_, after)) => format!("***@{after}"),
            None => url.to_string(),
        };
    };
    let mut masked = format!("{}://", parts.scheme);
    if parts.user_info.is_some() {
        masked.push_str("***@");
    }
    masked.push_str(parts.host);
    if let Some(port) = parts.port {
        masked.push(':');
        masked.push_str(port);
    }
    let (before_fragment, fragment) = match parts.rest.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (parts.rest, None),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            masked.push_str(path);
            masked.push('?');
            masked.push_str(&mask_query(query));
        }
        None => masked.push_str(before_fragment),
    }
    if let Some(fragment) = fragment {
        masked.push('#');
        masked.push_str(fragment);
    }
    masked
}

fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}=***"),
            None => pair.to_string(),
        })
        .collect::<Vec<String>>()
        .join("&")
}
