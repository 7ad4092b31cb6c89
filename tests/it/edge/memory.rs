//! A head that never ends must not grow the aggregator: the binary runs as a child process and
//! its peak resident size (`VmHWM`) is read before and after the attack, while a well-behaved
//! miner keeps polling and submitting. Linux only (that is where the guard works).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use pocx_aggregator::sim::{SimRound, SimUpstream, SimUpstreamConfig};

use crate::support::binary::Running;
use crate::support::{self, account, Farm};

const MIB: u64 = 1 << 20;

/// Peak resident size of process `pid`, in bytes.
fn peak_resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// Sends a head whose one field never ends, `total` bytes of it at full speed, and returns how
/// many bytes the server took before it cut the connection off (all of them if it never did).
fn endless_field(addr: SocketAddr, total: u64) -> u64 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nX-Endless: ");
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    while sent < total {
        match stream.write(&chunk) {
            Ok(n) if n > 0 => sent += n as u64,
            _ => break,
        }
    }
    sent
}

/// A miner that polls every 100 ms (and submits once) until told to stop; returns the slowest
/// answer and how many polls went unanswered.
fn miner(
    url: String,
    round: SimRound,
    stop: Arc<AtomicBool>,
    polls: Arc<AtomicU64>,
) -> thread::JoinHandle<(Duration, u32)> {
    thread::spawn(move || {
        let agent = support::agent();
        let poll = json!({"jsonrpc": "2.0", "method": "get_mining_info", "id": 1}).to_string();
        let (mut slowest, mut failed, mut n) = (Duration::ZERO, 0, 0u64);
        while !stop.load(Ordering::Acquire) {
            let started = Instant::now();
            let (status, text) = support::post(&agent, &url, &poll, &[]);
            slowest = slowest.max(started.elapsed());
            if status != 200 || !text.contains("block_hash") {
                failed += 1;
            }
            if n == 3 {
                let params = Farm::submission(&round, &account(77), 5_000_000);
                let submit =
                    json!({"jsonrpc": "2.0", "method": "submit_nonce", "params": params, "id": 2});
                let (status, _) = support::post(&agent, &url, &submit.to_string(), &[]);
                assert_eq!(status, 200);
            }
            n += 1;
            polls.store(n, Ordering::Release);
            // A real miner's pace: the point is a server busy with ordinary traffic meanwhile.
            thread::sleep(Duration::from_millis(100));
        }
        (slowest, failed)
    })
}

#[test]
fn endless_header_lines_leave_the_peak_resident_size_bounded() {
    if !cfg!(target_os = "linux") {
        eprintln!("skipped: the head guard works on Linux only");
        return;
    }
    let upstream = SimUpstream::start(SimUpstreamConfig::default()).unwrap();
    let url = upstream.url();
    let running = Running::start("edge-memory", |port, dir| {
        format!(
            "listen_address: \"127.0.0.1:{port}\"\nupstream:\n  url: \"{url}\"\ncache:\n  \
             refresh_interval_ms: 100\ndatabase:\n  path: \"{}\"\nlogging:\n  file: ~\n",
            dir.join("history.db").display()
        )
    });
    let addr: SocketAddr = format!("127.0.0.1:{}", running.port).parse().unwrap();
    let round = upstream.current_round();
    let pid = running.child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicU64::new(0));
    let polling = miner(running.url(""), round, stop.clone(), polls.clone());
    // The baseline is taken once the miner is under way, its one submission sent.
    support::wait_until(Duration::from_secs(10), || {
        polls.load(Ordering::Acquire) >= 5
    });
    let before = peak_resident(pid);

    let taken = endless_field(addr, 64 * MIB);
    let after_one = peak_resident(pid);
    eprintln!(
        "one endless line: server took {} MiB before cutting it off; peak grew {:.1} MiB",
        taken / MIB,
        (after_one.saturating_sub(before)) as f64 / MIB as f64
    );
    assert!(taken < 64 * MIB, "the connection was never cut off");
    assert!(
        after_one - before < 24 * MIB,
        "peak grew {} MiB",
        (after_one - before) / MIB
    );

    let attackers: Vec<_> = (0..10)
        .map(|_| thread::spawn(move || endless_field(addr, 64 * MIB)))
        .collect();
    let taken: Vec<u64> = attackers.into_iter().map(|a| a.join().unwrap()).collect();
    let after_ten = peak_resident(pid);
    eprintln!(
        "ten endless lines: largest taken {} MiB; peak grew {:.1} MiB",
        taken.iter().max().unwrap() / MIB,
        (after_ten.saturating_sub(before)) as f64 / MIB as f64
    );
    assert!(taken.iter().all(|t| *t < 64 * MIB), "{taken:?}");
    assert!(
        after_ten - before < 128 * MIB,
        "peak grew {} MiB",
        (after_ten - before) / MIB
    );

    stop.store(true, Ordering::Release);
    let (slowest, failed) = polling.join().unwrap();
    eprintln!("the miner's slowest answer during the attacks: {slowest:?}");
    assert_eq!(failed, 0, "polls unanswered during the attack");
    support::wait_until(Duration::from_secs(10), || {
        upstream
            .submissions()
            .iter()
            .any(|s| s.params["account_id"] == account(77))
    });
    let mut log = String::new();
    let _ = std::fs::File::open(running.dir.path().join("stderr.txt"))
        .and_then(|mut f| f.read_to_string(&mut log));
    assert!(log.contains("head_unfinished"), "no refusal logged:\n{log}");
}
