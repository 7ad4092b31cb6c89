//! The guard: keeps request heads that are still arriving from growing the process without
//! bound, and cuts off connections whose remaining bytes must not be read.
//!
//! tiny_http buffers a request line or field until its line end, however long, so limits on
//! finished heads (see `framing`) cannot stop a client that never ends its line. The guard works
//! from the aggregator's side of the socket. Every 50 ms (10 ms while it grows) it reads the
//! process's resident size (`/proc/self/statm`, one read of an open file); when that has risen
//! above the peak it had when the guard last looked by the trigger (4 MiB, or 4 KiB a connection
//! on a large farm, doubled after looks that find nothing), and every
//! [`SWEEP`] regardless, it walks the port's connections
//! (`sockets::accepted_on`), every watched port in one walk: the process has one guard thread,
//! started with its first server and stopped with its last. A connection's bytes consumed since its last answer, minus what a
//! worker is reading as a body right now, can only be a head in progress; past the head budget
//! the guard answers 431 and shuts the socket down, and tiny_http's thread frees the line.
//!
//! It also keeps the connections being cut off after a refusal (`cut`): a request tiny_http
//! still parses from their buffered bytes is dropped unserved.
//!
//! It does not parse HTTP and never touches a connection that was answered or is being read
//! since it last looked. Linux only; elsewhere the thread idles (ARCHITECTURE, known limits).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::cut::CutConnections;
use super::refusals::{Refusal, RefusalCounts};
use super::sockets::{self, Connection, Traffic};
use crate::threads::Ticker;

/// How often the resident size is read: slowly while it holds still (each wake-up costs more
/// than the read), quickly for as long as it keeps growing by [`GROWING`] a read.
const POLL_SLOW: Duration = Duration::from_millis(50);
const POLL_FAST: Duration = Duration::from_millis(10);
const GROWING: u64 = 1 << 20;
/// Growth of the resident size that makes the guard look at the connections: at least 4 MiB,
/// or [`TRIGGER_PER_CONNECTION`] for each connection it saw last (a larger farm's memory moves in
/// larger steps, and each look costs it more). A look that finds nothing doubles it (four times
/// the least at most); a quiet spell or a look that cuts something brings it back down.
const TRIGGER_LEAST: u64 = 4 << 20;
const TRIGGER_PER_CONNECTION: u64 = 4 << 10;
/// A trigger that has not fired for this long is halved.
const RELAX: Duration = Duration::from_secs(10);
/// How often it looks anyway (finds heads growing into memory the allocator already holds).
const SWEEP: Duration = Duration::from_secs(30);

/// Requests a thread is reading or answering right now, by peer.
#[derive(Debug, Default)]
pub struct InFlight(Mutex<Vec<SocketAddr>>);

/// Removes its peer from [`InFlight`] when dropped.
pub struct Entered<'a> {
    in_flight: &'a InFlight,
    peer: Option<SocketAddr>,
}

impl InFlight {
    pub fn enter(&self, peer: Option<SocketAddr>) -> Entered<'_> {
        if let Some(peer) = peer {
            self.0.lock().push(peer);
        }
        Entered {
            in_flight: self,
            peer,
        }
    }

    fn contains(&self, peer: SocketAddr) -> bool {
        self.0.lock().contains(&peer)
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if let Some(peer) = self.peer {
            let mut peers = self.in_flight.0.lock();
            if let Some(at) = peers.iter().position(|p| *p == peer) {
                peers.swap_remove(at);
            }
        }
    }
}

/// What the guard and the workers share.
#[derive(Debug)]
pub struct Watch {
    pub port: &'static str,
    pub listener: SocketAddr,
    /// Bytes a head may occupy before it counts as unfinished (head limit plus read-ahead).
    pub budget: u64,
    pub in_flight: InFlight,
    pub counts: Arc<RefusalCounts>,
    cut: CutConnections,
}

impl Watch {
    pub fn new(
        port: &'static str,
        listener: SocketAddr,
        budget: u64,
        counts: Arc<RefusalCounts>,
    ) -> Watch {
        Watch {
            port,
            listener,
            budget,
            in_flight: InFlight::default(),
            counts,
            cut: CutConnections::default(),
        }
    }

    /// Marks the connection from `peer` as cut off: what tiny_http still parses from it is not
    /// served.
    pub fn mark_cut(&self, peer: SocketAddr, socket: Option<u64>) {
        self.cut.mark(peer, socket);
    }

    /// True for a request that may come from a connection cut off moments ago.
    pub fn is_cut(&self, peer: Option<SocketAddr>) -> bool {
        self.cut.holds(self.listener, peer)
    }
}

/// Bytes a connection may consume between answers before its head counts as unfinished: the
/// largest head, tiny_http's 1 KiB read-ahead and a body of up to 1 KiB it reads with the head.
pub fn head_budget(limits: &super::HeadLimits) -> u64 {
    u64::try_from(limits.max_head)
        .unwrap_or(u64::MAX)
        .saturating_add(4 * 1024)
}

/// What the guard remembers of a connection between two looks.
#[derive(Debug, Clone, Copy)]
struct Seen {
    sent: u64,
    /// Bytes consumed when it was last answered or read from (the start of a head in progress).
    since: u64,
}

/// One server's place under the guard: while it is held, the server's port is watched.
/// The process has one guard thread for all its servers (one walk over the descriptors serves
/// every port); it starts with the first server and stops with the last.
pub struct Guard {
    watch: Arc<Watch>,
}

/// Every watched port, and the guard thread while there is one.
struct Watched {
    watches: Vec<Arc<Watch>>,
    thread: Option<Ticker>,
}

static WATCHED: Mutex<Watched> = Mutex::new(Watched {
    watches: Vec::new(),
    thread: None,
});

impl Guard {
    pub fn start(watch: Arc<Watch>) -> io::Result<Guard> {
        let mut watched = WATCHED.lock();
        if watched.thread.is_none() {
            watched.thread = Some(Ticker::spawn("http-guard".into(), run)?);
        }
        watched.watches.push(watch.clone());
        Ok(Guard { watch })
    }

    pub fn shutdown(self) {}
}

impl Drop for Guard {
    fn drop(&mut self) {
        let last = {
            let mut watched = WATCHED.lock();
            watched.watches.retain(|w| !Arc::ptr_eq(w, &self.watch));
            if watched.watches.is_empty() {
                watched.thread.take()
            } else {
                None
            }
        };
        // Joined outside the lock: the thread takes it to see what to watch.
        if let Some(thread) = last {
            thread.shutdown();
        }
    }
}

fn watched() -> Vec<Arc<Watch>> {
    WATCHED.lock().watches.clone()
}

fn run(stop: &AtomicBool) {
    let Ok(statm) = File::open("/proc/self/statm") else {
        log::debug!("no /proc/self/statm: request heads are bounded only when they end");
        return;
    };
    let mut seen: HashMap<(SocketAddr, SocketAddr), Seen> = HashMap::new();
    // The highest resident size seen when the guard last looked: memory that breathes below it
    // costs no look, and a head can only raise the peak by the trigger before it is found.
    let mut peak = resident_bytes(&statm).unwrap_or(0);
    let mut least = TRIGGER_LEAST;
    let mut trigger = least;
    let (mut swept, mut triggered) = (Instant::now(), Instant::now());
    let (mut poll, mut last) = (POLL_SLOW, peak);
    while !stop.load(Ordering::Acquire) {
        thread::park_timeout(poll);
        let resident = resident_bytes(&statm).unwrap_or(0);
        poll = if resident >= last.saturating_add(GROWING) {
            POLL_FAST
        } else {
            POLL_SLOW
        };
        last = resident;
        let grew = resident >= peak.saturating_add(trigger);
        if grew || swept.elapsed() >= SWEEP {
            let cut;
            (seen, cut) = look(&watched(), &seen);
            swept = Instant::now();
            peak = peak.max(resident_bytes(&statm).unwrap_or(resident));
            let connections = u64::try_from(seen.len()).unwrap_or(u64::MAX);
            least = TRIGGER_LEAST.max(connections.saturating_mul(TRIGGER_PER_CONNECTION));
            if grew {
                triggered = swept;
                trigger = if cut > 0 {
                    least
                } else {
                    trigger.saturating_mul(2).min(least.saturating_mul(4))
                };
            }
            trigger = trigger.clamp(least, least.saturating_mul(4));
        } else if triggered.elapsed() >= RELAX && trigger > least {
            trigger = (trigger / 2).max(least);
            triggered = Instant::now();
        }
    }
}

/// One look at every connection of every watched port; cuts off those over budget. Returns
/// what to remember (by listener and peer) and how many were cut.
fn look(
    watches: &[Arc<Watch>],
    before: &HashMap<(SocketAddr, SocketAddr), Seen>,
) -> (HashMap<(SocketAddr, SocketAddr), Seen>, usize) {
    let started = Instant::now();
    let listeners: Vec<SocketAddr> = watches.iter().map(|w| w.listener).collect();
    let mut now = HashMap::with_capacity(before.len());
    let mut cut = 0;
    for (at, connection) in sockets::accepted_on(&listeners) {
        let (Some(watch), Some(traffic)) = (watches.get(at), sockets::traffic(connection.fd))
        else {
            continue;
        };
        let key = (watch.listener, connection.peer);
        let reading = watch.in_flight.contains(connection.peer);
        let seen = next_seen(before.get(&key).copied(), traffic, reading);
        if traffic.consumed.saturating_sub(seen.since) > watch.budget {
            cut_unfinished_head(watch, connection);
            cut += 1;
        } else {
            now.insert(key, seen);
        }
    }
    log::trace!(
        "looked at {} connections on {} ports in {} µs, cut {cut}",
        now.len() + cut,
        watches.len(),
        started.elapsed().as_micros()
    );
    (now, cut)
}

/// Where a head in progress can have started: the bytes consumed when the connection was last
/// answered or read from by a worker, as far as the guard can tell.
fn next_seen(before: Option<Seen>, traffic: Traffic, reading: bool) -> Seen {
    let since = match before {
        // Never answered: everything it sent is its first head.
        None if traffic.sent == 0 && !reading => 0,
        Some(seen) if seen.sent == traffic.sent && !reading => seen.since,
        // Answered or being read since the last look (or first seen after answers).
        _ => traffic.consumed,
    };
    Seen {
        sent: traffic.sent,
        since,
    }
}

fn cut_unfinished_head(watch: &Watch, connection: Connection) {
    let refusal = Refusal::HeadUnfinished;
    let answer = super::refuse::answer(refusal, false);
    watch.mark_cut(connection.peer, sockets::inode(connection.fd));
    if sockets::shut(connection, Shutdown::Both, Some(&answer)) {
        watch
            .counts
            .record(watch.port, refusal, Some(connection.peer));
    }
}

/// The second field of `statm` (resident pages), in bytes.
fn resident_bytes(statm: &File) -> Option<u64> {
    let mut buf = [0u8; 128];
    let read = statm.read_at(&mut buf, 0).ok()?;
    let text = std::str::from_utf8(buf.get(..read)?).ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages.saturating_mul(page_size()))
}

fn page_size() -> u64 {
    // SAFETY: sysconf reads a constant of the system and has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic(consumed: u64, sent: u64) -> Traffic {
        Traffic { consumed, sent }
    }

    #[test]
    fn a_head_is_counted_from_the_last_answer_or_read() {
        // A new connection that was never answered: all it sent is one head.
        let first = next_seen(None, traffic(70_000, 0), false);
        assert_eq!(first.since, 0);
        // First seen after it was answered: only what comes next counts.
        assert_eq!(next_seen(None, traffic(5_000, 900), false).since, 5_000);
        // Not answered since the last look: the head goes on from where it was.
        let later = next_seen(Some(first), traffic(90_000, 0), false);
        assert_eq!(later.since, 0);
        // Answered since: a new head starts.
        assert_eq!(
            next_seen(Some(first), traffic(90_000, 120), false).since,
            90_000
        );
        // A worker reading a body: those bytes are not a head.
        assert_eq!(
            next_seen(Some(first), traffic(90_000, 0), true).since,
            90_000
        );
        assert_eq!(next_seen(None, traffic(10, 0), true).since, 10);
    }

    #[test]
    fn in_flight_peers_leave_when_their_request_ends() {
        let in_flight = InFlight::default();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        {
            let _a = in_flight.enter(Some(peer));
            let _b = in_flight.enter(Some(peer));
            assert!(in_flight.contains(peer));
        }
        assert!(!in_flight.contains(peer));
        assert!(resident_bytes(&File::open("/proc/self/statm").unwrap()).unwrap() > 0);
    }
}
