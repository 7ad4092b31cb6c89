//! Optional per-IP request rate limit for the miner port (`server.max_requests_per_second_per_ip`).
//!
//! A token bucket per client IP, refilled continuously, holding at most one second's worth. The
//! table is bounded: when it is full, buckets idle for a while are forgotten first, and a client
//! that still finds no room is let through (a full table must never lock honest miners out).
//! Off by default; farms behind one NAT address should leave it off or set it high.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
