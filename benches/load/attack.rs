//! Hostile heads: a header line that never ends, 64 MiB of it at full speed on loopback, from
//! one connection and then from ten at once, against the bare tiny_http server and against the
//! aggregator. What each server's peak resident size (`VmHWM`) grew by, how much of the line it
//! took before cutting the connection off, and the slowest answer a miner polling every 50 ms
//! got meanwhile.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::servers::ServerProcess;
use super::{wire, GET_MINING_INFO};

/// Bytes of the endless line each attacking connection sends at most.
pub const LINE_BYTES: u64 = 64 << 20;

pub struct AttackReport {
    pub attackers: usize,
    /// Growth of the peak resident size, KiB.
    pub peak_growth_kib: u64,
    /// The most any attacker got to send before the server cut it off, bytes.
    pub most_taken: u64,
    pub slowest_poll: Duration,
    pub unanswered_polls: u32,
}

/// Runs `attackers` endless lines at once against `server`, with a miner polling meanwhile.
pub fn run_attack(server: &ServerProcess, attackers: usize) -> io::Result<AttackReport> {
    let addr = server.addr;
    let before = server.memory().1;
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let stop = stop.clone();
        thread::spawn(move || poll(addr, &stop))
    };
    let senders: Vec<_> = (0..attackers)
        .map(|_| thread::spawn(move || endless_line(addr)))
        .collect();
    let mut most_taken = 0;
    for sender in senders {
        let taken = sender
            .join()
            .map_err(|_| io::Error::other("an attacker panicked"))??;
        most_taken = most_taken.max(taken);
    }
    // Let the server free what it read, and the miner see a settled server.
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Release);
    let (slowest_poll, unanswered_polls) = poller
        .join()
        .map_err(|_| io::Error::other("the poller panicked"))?;
    Ok(AttackReport {
        attackers,
        peak_growth_kib: server.memory().1.saturating_sub(before),
        most_taken,
        slowest_poll,
        unanswered_polls,
    })
}

/// Sends a head whose one field never ends; returns the bytes sent before the server closed.
fn endless_line(addr: SocketAddr) -> io::Result<u64> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(b"POST / HTTP/1.1\r\nHost: bench\r\nX-Endless: ")?;
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    while sent < LINE_BYTES {
        match stream.write(&chunk) {
            Ok(n) if n > 0 => sent += n as u64,
            _ => break,
        }
    }
    Ok(sent)
}

/// A miner's `get_mining_info` every 50 ms until `stop`: the slowest answer, and how many
/// polls got none (an error or a timeout of `wire::CLIENT_TIMEOUT`).
fn poll(addr: SocketAddr, stop: &AtomicBool) -> (Duration, u32) {
    let (mut slowest, mut unanswered) = (Duration::ZERO, 0);
    while !stop.load(Ordering::Acquire) {
        let started = Instant::now();
        if !wire::post(addr, GET_MINING_INFO).is_ok_and(|(answer, _)| answer.ok) {
            unanswered += 1;
        }
        slowest = slowest.max(started.elapsed());
        thread::sleep(Duration::from_millis(50));
    }
    (slowest, unanswered)
}
