//! Which keep-alive connections to close after their next answer (connection rotation), for
//! servers configured with `rotate_after` (none are by default: the keeper's pokes now give
//! queued connections a thread, see `listener`).
//!
//! Why: tiny_http serves each connection on a thread of its own pool, and a burst of new
//! connections can wait in that pool's queue behind connections that never close. Closing a
//! connection (`Connection: close`; the client reconnects at once) frees a pool thread for a
//! queued one. A connection is due once it is older than the configured age plus a jitter of up
//! to two thirds of it (taken from its port, so connections opened together do not all close
//! together) — and only while the rotation budget allows: every rotation costs a reconnect, so
//! a farm of thousands would otherwise spend more on reconnecting than on being served. The
//! budget refills at [`MAX_ROTATIONS_PER_SECOND`]; a queue of K waiting connections drains in
//! K / that many seconds at most. Connections are known by peer address (tiny_http has no
//! connection ids); the record of one not seen for a while is forgotten.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Rotations allowed per second, whatever the number of connections.
pub const MAX_ROTATIONS_PER_SECOND: u64 = 100;
/// A connection not seen for this long is forgotten (an idle one is closed by the I/O timeout
/// well before).
const FORGET_AFTER_MS: u64 = 30_000;
/// How often forgotten connections are swept out.
const SWEEP_EVERY_MS: u64 = 5_000;
/// Most connections remembered. When full (a flood of short connections) the sweep runs every
/// second and forgets sooner, and a connection that finds no room is not rotated.
const MAX_KNOWN: usize = 100_000;
const SWEEP_WHEN_FULL_EVERY_MS: u64 = 1_000;
/// When full: anything not seen for this long goes (the I/O timeout has closed it by then).
const FORGET_WHEN_FULL_MS: u64 = 5_000;

pub struct Rotation {
    after: Option<Duration>,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Per peer: first and last time seen (ms since `started`).
    seen: HashMap<SocketAddr, (u64, u64)>,
    /// Rotations that may happen now (refilled with time, at most a second's worth).
    tokens: u64,
    refilled_ms: u64,
    swept_ms: u64,
}

impl Rotation {
    /// `after`: the youngest age at which a connection is rotated; `None` never rotates.
    pub fn new(after: Option<Duration>) -> Rotation {
        Rotation {
            after,
            started: Instant::now(),
            state: Mutex::new(State {
                tokens: MAX_ROTATIONS_PER_SECOND,
                ..State::default()
            }),
        }
    }

    /// Called once per request: should this answer close the connection?
    pub fn is_due(&self, peer: SocketAddr) -> bool {
        // Off (the default): no clock reading on the request path.
        if self.after.is_none() {
            return false;
        }
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.is_due_at(peer, now)
    }

    fn is_due_at(&self, peer: SocketAddr, now: u64) -> bool {
        let Some(after) = self.after else {
            return false;
        };
        let age_limit = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        let jitter = age_limit.saturating_mul(u64::from(peer.port()) % 1024) / 1536;
        let limit = age_limit.saturating_add(jitter);
        let mut state = self.state.lock();
        state.sweep(now);
        state.refill(now);
        if state.seen.len() >= MAX_KNOWN && !state.seen.contains_key(&peer) {
            return false;
        }
        let first = {
            let entry = state.seen.entry(peer).or_insert((now, now));
            entry.1 = now;
            entry.0
        };
        if now.saturating_sub(first) < limit || state.tokens == 0 {
            return false;
        }
        state.tokens -= 1;
        state.seen.remove(&peer);
        true
    }

    /// Connections currently known.
    #[cfg(test)]
    fn known(&self) -> usize {
        self.state.lock().seen.len()
    }
}

impl State {
    fn refill(&mut self, now: u64) {
        let earned = now
            .saturating_sub(self.refilled_ms)
            .saturating_mul(MAX_ROTATIONS_PER_SECOND)
            / 1000;
        if earned > 0 {
            self.tokens = self
                .tokens
                .saturating_add(earned)
                .min(MAX_ROTATIONS_PER_SECOND);
            // Keep the unspent fraction of a token unless the budget is full anyway.
            self.refilled_ms = if self.tokens == MAX_ROTATIONS_PER_SECOND {
                now
            } else {
                self.refilled_ms
                    .saturating_add(earned.saturating_mul(1000) / MAX_ROTATIONS_PER_SECOND)
            };
        }
    }

    /// Forgets connections not seen for a while; at most once per its pace, so a flood cannot
    /// make every request pay for a sweep.
    fn sweep(&mut self, now: u64) {
        let (every, forget_after) = if self.seen.len() >= MAX_KNOWN {
            (SWEEP_WHEN_FULL_EVERY_MS, FORGET_WHEN_FULL_MS)
        } else {
            (SWEEP_EVERY_MS, FORGET_AFTER_MS)
        };
        if now.saturating_sub(self.swept_ms) < every {
            return;
        }
        self.swept_ms = now;
        self.seen
            .retain(|_, (_, last)| now.saturating_sub(*last) < forget_after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_connection_is_rotated_once_older_than_its_limit() {
        let rotation = Rotation::new(Some(Duration::from_secs(3)));
        // Port 1024 has no jitter: due at exactly 3 s.
        assert!(!rotation.is_due_at(peer(1024), 0));
        assert!(!rotation.is_due_at(peer(1024), 2_999));
        assert!(rotation.is_due_at(peer(1024), 3_000));
        // Its reconnection (same address here) starts a new life.
        assert!(!rotation.is_due_at(peer(1024), 3_001));
        // The most jittered port waits up to two thirds longer.
        assert!(!rotation.is_due_at(peer(1023), 0));
        assert!(!rotation.is_due_at(peer(1023), 4_990));
        assert!(rotation.is_due_at(peer(1023), 4_999));
    }

    #[test]
    fn no_age_means_no_rotation() {
        let rotation = Rotation::new(None);
        assert!(!rotation.is_due_at(peer(1024), 0));
        assert!(!rotation.is_due_at(peer(1024), 1_000_000));
    }

    #[test]
    fn rotations_are_limited_per_second_whatever_the_number_of_connections() {
        let rotation = Rotation::new(Some(Duration::from_secs(1)));
        let ports: Vec<u16> = (0..1000u16).map(|i| 2048 + i).collect();
        for &port in &ports {
            assert!(!rotation.is_due_at(peer(port), 0));
        }
        let due_at = |now: u64| {
            ports
                .iter()
                .filter(|&&p| rotation.is_due_at(peer(p), now))
                .count()
        };
        // All are old enough at 5 s, but only a second's budget goes (it accrued meanwhile).
        assert_eq!(due_at(5_000), MAX_ROTATIONS_PER_SECOND as usize);
        // Then the budget refills with time: 100 ms later, a tenth of a second's worth, also
        // when it is asked for in steps shorter than one token's worth.
        assert_eq!(due_at(5_100), MAX_ROTATIONS_PER_SECOND as usize / 10);
        let stepped: usize = (1..=20).map(|step| due_at(5_100 + step * 15)).sum();
        assert_eq!(stepped, 30, "300 ms at 100 a second");
    }

    #[test]
    fn the_record_of_connections_is_bounded() {
        let rotation = Rotation::new(Some(Duration::from_secs(3)));
        let peers = (0..MAX_KNOWN as u32).map(|i| SocketAddr::from((i.to_be_bytes(), 1)));
        for peer in peers {
            rotation.is_due_at(peer, 0);
        }
        assert_eq!(rotation.known(), MAX_KNOWN);
        // Full, and everyone seen just now: a newcomer finds no room (and is not rotated).
        assert!(!rotation.is_due_at(peer(7), 10));
        assert_eq!(rotation.known(), MAX_KNOWN);
        // Later the silent ones make way.
        rotation.is_due_at(peer(7), FORGET_WHEN_FULL_MS + 1);
        assert_eq!(rotation.known(), 1);
    }

    #[test]
    fn connections_not_seen_for_a_while_are_forgotten() {
        let rotation = Rotation::new(Some(Duration::from_secs(3)));
        for port in 0..100 {
            rotation.is_due_at(peer(3000 + port), 0);
        }
        assert_eq!(rotation.known(), 100);
        rotation.is_due_at(peer(9), FORGET_AFTER_MS + SWEEP_EVERY_MS);
        assert_eq!(rotation.known(), 1);
    }
}
