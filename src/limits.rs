//! Optional per-IP limits for the miner port, both off by default.
//!
//! - `server.max_requests_per_second_per_ip`: a token bucket per client IP, refilled
//!   continuously, holding at most one second's worth.
//! - `server.max_connections_per_ip`: connections are told apart by the peer's port. The HTTP
//!   layer does not report connections opening and closing, so a connection counts as open while
//!   it has sent a request within the I/O timeout (an idle connection is closed by then anyway).
//!
//! Both tables are bounded: when full, entries idle for a while are forgotten first, and a client
//! that still finds no room is let through (a full table must never lock honest miners out).
//! Farms behind one NAT address should leave these off or set them high.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const MAX_TRACKED_IPS: usize = 65_536;

pub struct RateLimiter {
    per_second: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_second.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip`; false when its bucket is empty.
    pub fn allow(&self, ip: IpAddr) -> bool {
        self.allow_at(ip, Instant::now())
    }

    fn allow_at(&self, ip: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_TRACKED_IPS && !buckets.contains_key(&ip) {
            buckets.retain(|_, b| now.saturating_duration_since(b.updated).as_secs() < 10);
            if buckets.len() >= MAX_TRACKED_IPS {
                return true;
            }
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: self.per_second,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.per_second);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub struct ConnectionLimiter {
    max: usize,
    idle_after: Duration,
    open: Mutex<HashMap<IpAddr, Vec<(u16, Instant)>>>,
}

impl ConnectionLimiter {
    /// `idle_after`: how long a silent connection still counts (the server's I/O timeout).
    pub fn new(max_per_ip: u32, idle_after: Duration) -> ConnectionLimiter {
        ConnectionLimiter {
            max: usize::try_from(max_per_ip.max(1)).unwrap_or(usize::MAX),
            idle_after,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// True when a request from `peer` may be served: its connection is already counted, or its
    /// IP has room for one more.
    pub fn allow(&self, peer: SocketAddr) -> bool {
        self.allow_at(peer, Instant::now())
    }

    fn allow_at(&self, peer: SocketAddr, now: Instant) -> bool {
        let idle_after = self.idle_after;
        let alive = |seen: &Instant| now.saturating_duration_since(*seen) < idle_after;
        let mut open = self.open.lock();
        if open.len() >= MAX_TRACKED_IPS && !open.contains_key(&peer.ip()) {
            open.retain(|_, conns| conns.iter().any(|(_, seen)| alive(seen)));
            if open.len() >= MAX_TRACKED_IPS {
                return true;
            }
        }
        let conns = open.entry(peer.ip()).or_default();
        conns.retain(|(_, seen)| alive(seen));
        if let Some(entry) = conns.iter_mut().find(|(port, _)| *port == peer.port()) {
            entry.1 = now;
            return true;
        }
        if conns.len() < self.max {
            conns.push((peer.port(), now));
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_beyond_the_limit_are_refused_until_one_goes_quiet() {
        let limiter = ConnectionLimiter::new(2, Duration::from_secs(5));
        let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let start = Instant::now();
        assert!(limiter.allow_at(at(1000), start));
        assert!(limiter.allow_at(at(1001), start));
        assert!(
            limiter.allow_at(at(1000), start),
            "a counted connection keeps going"
        );
        assert!(!limiter.allow_at(at(1002), start));
        let other_ip = SocketAddr::from(([127, 0, 0, 2], 1002));
        assert!(limiter.allow_at(other_ip, start));
        let later = start + Duration::from_secs(6);
        assert!(
            limiter.allow_at(at(1002), later),
            "quiet connections stop counting"
        );
    }

    #[test]
    fn a_burst_beyond_the_rate_is_refused_then_refilled() {
        let limiter = RateLimiter::new(5);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let start = Instant::now();
        let allowed = (0..10).filter(|_| limiter.allow_at(ip, start)).count();
        assert_eq!(allowed, 5);
        assert!(limiter.allow_at(ip, start + Duration::from_millis(250)));
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(limiter.allow_at(other, start));
    }
}
