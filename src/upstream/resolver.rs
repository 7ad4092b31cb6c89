//! Name resolution for the upstream calls, without a thread per call.
//!
//! ureq's own resolver, when a call has a time limit (ours always do), starts a thread for every
//! lookup so the lookup can be abandoned — and it looks up on every call, even one that goes out
//! on a kept-alive connection. At a hundred forwards a second that is a hundred thread starts a
//! second, most of the forwarding CPU on a small host. This resolver answers an IP address in
//! the URL at once, and keeps a host name's addresses for [`NAME_TTL`], so a name is looked up
//! (on ureq's resolver, with its time limit) at most once per that long.
//!
//! It does not retry or reorder addresses, and it never caches a failed lookup.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a host name's addresses are used before they are looked up again.
pub const NAME_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct QuickResolver {
    lookup: DefaultResolver,
    /// The last name looked up (one upstream, so one entry): "host:port", when, what.
    last: Mutex<Option<(String, Instant, ResolvedSocketAddrs)>>,
}

impl QuickResolver {
    /// A ureq agent with this resolver and ureq's usual connector.
    pub fn agent(config: Config) -> ureq::Agent {
        ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::default(),
            QuickResolver::default(),
        )
    }
}

impl Resolver for QuickResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (Some(host), Some(port)) = (uri.host(), port_of(uri)) else {
            // Not a full http(s) URL: let ureq produce its own error.
            return self.lookup.resolve(uri, config, timeout);
        };
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let mut addrs = self.empty();
            addrs.truncate(0);
            addrs.push(SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let key = format!("{host}:{port}");
        if let Some((name, at, addrs)) = self.last.lock().as_ref() {
            if *name == key && at.elapsed() < NAME_TTL {
                return Ok(addrs.clone());
            }
        }
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        *self.last.lock() = Some((key, Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

fn port_of(uri: &Uri) -> Option<u16> {
    uri.port_u16().or(match uri.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(resolver: &QuickResolver, url: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        let uri: Uri = url.parse().expect("test url");
        let config = Config::default();
        let timeout = NextTimeout {
            after: Duration::from_secs(5).into(),
            reason: ureq::Timeout::Resolve,
            per_read: None,
            per_write: None,
        };
        resolver
            .resolve(&uri, &config, timeout)
            .map(|a| a.iter().copied().collect())
    }

    #[test]
    fn ip_addresses_are_answered_without_a_lookup() {
        let resolver = QuickResolver::default();
        let v4 = resolve(&resolver, "http://127.0.0.1:8080/pocx").expect("v4");
        assert_eq!(
            v4,
            vec!["127.0.0.1:8080".parse::<SocketAddr>().expect("addr")]
        );
        let v6 = resolve(&resolver, "https://[::1]/").expect("v6");
        assert_eq!(v6, vec!["[::1]:443".parse::<SocketAddr>().expect("addr")]);
        assert!(resolver.last.lock().is_none(), "nothing was looked up");
    }

    #[test]
    fn a_name_is_looked_up_once_and_kept() {
        let resolver = QuickResolver::default();
        let first = resolve(&resolver, "http://localhost:9/").expect("localhost resolves");
        assert!(first.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
        let kept = resolver.last.lock().clone().expect("kept");
        assert_eq!(kept.0, "localhost:9");
        // A second call answers from what was kept (same instant of lookup).
        let second = resolve(&resolver, "http://localhost:9/").expect("again");
        assert_eq!(first, second);
        assert_eq!(resolver.last.lock().as_ref().map(|k| k.1), Some(kept.1));
        // Another port is another key.
        resolve(&resolver, "http://localhost:10/").expect("other port");
        assert_eq!(
            resolver.last.lock().as_ref().map(|k| k.0.clone()),
            Some("localhost:10".to_owned())
        );
    }
}
