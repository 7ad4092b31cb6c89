//! The shipped binary as a user runs it: its size on disk, how long from `exec` until it has
//! served a miner its first `get_mining_info`, and how much memory it holds while idle.
//!
//! Cargo builds the binary for benches with the bench profile (thin LTO, symbols kept) into
//! the same path `cargo build --release` uses, so the size is also given after `strip`, which
//! is what the release profile ships. The binary gets a configuration file of its own pointing
//! at a simulated upstream, on a free loopback port, with its history in a temporary directory.

use std::fs;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::procfs;
use super::testkit::{exit_within, free_port, TempDir};
use super::wire::read_answer;

/// How long a started server is left idle before its memory is read.
pub const IDLE_SETTLE: Duration = Duration::from_secs(2);
const STARTS: usize = 3;

pub struct BinaryReport {
    pub path: PathBuf,
    pub size: u64,
    pub stripped_size: Option<u64>,
    /// Median over `STARTS` cold starts.
    pub start_to_first_answer: Duration,
    pub idle_rss_kib: u64,
    /// The process's own (anonymous) part of it; the rest is shared file pages (code, libc).
    pub idle_anon_kib: u64,
    pub idle_threads: u64,
}

pub fn measure(binary: &Path, upstream_url: &str) -> io::Result<BinaryReport> {
    let size = fs::metadata(binary)?.len();
    let dir = TempDir::new("load-bin");
    let stripped_size = stripped_size(binary, dir.path());
    let mut starts = Vec::with_capacity(STARTS);
    let mut idle = (0, 0, 0);
    for run in 0..STARTS {
        let run_dir = dir.join(&format!("run-{run}"));
        fs::create_dir_all(&run_dir)?;
        let port = free_port()?;
        let config = run_dir.join("aggregator_config.yaml");
        fs::write(&config, config_text(port, upstream_url, &run_dir))?;
        let started = Instant::now();
        let mut child = Command::new(binary)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let served = first_answer(SocketAddr::from(([127, 0, 0, 1], port)), started);
        if let Some(took) = served {
            starts.push(took);
        }
        if run == 0 {
            thread::sleep(IDLE_SETTLE);
            idle = (
                procfs::status_kib(child.id(), "VmRSS").unwrap_or(0),
                procfs::status_kib(child.id(), "RssAnon").unwrap_or(0),
                procfs::threads(child.id()).unwrap_or(0),
            );
        }
        stop(&mut child);
    }
    starts.sort();
    Ok(BinaryReport {
        path: binary.to_owned(),
        size,
        stripped_size,
        start_to_first_answer: starts.get(starts.len() / 2).copied().unwrap_or_default(),
        idle_rss_kib: idle.0,
        idle_anon_kib: idle.1,
        idle_threads: idle.2,
    })
}

fn config_text(port: u16, upstream_url: &str, dir: &Path) -> String {
    format!(
        "listen_address: \"127.0.0.1:{port}\"\nupstream:\n  url: \"{upstream_url}\"\n\
         database:\n  path: \"{}\"\nlogging:\n  level: \"info\"\n  file: \"\"\n",
        dir.join("aggregator.db").display()
    )
}

/// Polls until a `get_mining_info` is answered with a result; the time since `started`.
fn first_answer(addr: SocketAddr, started: Instant) -> Option<Duration> {
    let body = r#"{"jsonrpc":"2.0","method":"get_mining_info","params":{},"id":1}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut buffer = Vec::new();
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(mut stream) = TcpStream::connect(addr) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            if stream.write_all(request.as_bytes()).is_ok()
                && read_answer(&mut stream, &mut buffer).is_ok_and(|a| a.ok)
            {
                return Some(started.elapsed());
            }
        }
        thread::sleep(Duration::from_micros(500));
    }
    None
}

/// SIGTERM (the binary drains and exits), then SIGKILL if it takes too long.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = exit_within(child, Duration::from_secs(5));
}

fn stripped_size(binary: &Path, dir: &Path) -> Option<u64> {
    let copy = dir.join("stripped");
    let status = Command::new("strip")
        .arg("-o")
        .arg(&copy)
        .arg(binary)
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status
        .success()
        .then(|| fs::metadata(&copy).ok())?
        .map(|m| m.len())
}
