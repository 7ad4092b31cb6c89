//! The servers under test, each in a child process of its own so its memory and CPU time can
//! be read from `/proc/<pid>` without the load client's threads mixed in.
//!
//! The bench binary runs itself again with `POCX_LOAD_ROLE` set: `aggregator` starts the
//! aggregator (`App::start`) against the upstream named in the environment; `bare` starts a
//! bare tiny_http server answering one constant body with the same number of workers — the
//! ceiling for a tiny_http worker-pool design. Either prints `ADDR <addr>` on stdout and runs
//! until its stdin closes, then shuts down and exits. The parent side is [`ServerProcess`].
//! `POCX_LOAD_SERVER_WRAPPER` (e.g. `valgrind --tool=callgrind`) runs the children under a
//! profiler; `POCX_LOAD_BATCH_MS` sets the aggregator's history batch window.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use pocx_aggregator::app::App;
use pocx_aggregator::config::Config;

use super::testkit::{exit_within, TempDir};
use super::{env_number, procfs};

pub const ROLE_VAR: &str = "POCX_LOAD_ROLE";
const UPSTREAM_VAR: &str = "POCX_LOAD_UPSTREAM";
const DIR_VAR: &str = "POCX_LOAD_DIR";
const WORKERS_VAR: &str = "POCX_LOAD_WORKERS";
const BODY_VAR: &str = "POCX_LOAD_BODY";
/// Optional command the server children are started under (a profiler).
const WRAPPER_VAR: &str = "POCX_LOAD_SERVER_WRAPPER";
/// Optional history batch window of the aggregator child, in ms (`database.batch_ms`).
const BATCH_MS_VAR: &str = "POCX_LOAD_BATCH_MS";

/// A server running in a child process.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// The aggregator's history, removed once the process is gone.
    dir: Option<TempDir>,
}

impl ServerProcess {
    /// The aggregator with `workers` request workers, its history in a fresh temporary
    /// directory, polling `upstream_url`.
    pub fn aggregator(upstream_url: &str, workers: usize) -> io::Result<ServerProcess> {
        let dir = TempDir::new("load");
        let mut process = ServerProcess::spawn(&[
            (ROLE_VAR, "aggregator".to_owned()),
            (UPSTREAM_VAR, upstream_url.to_owned()),
            (DIR_VAR, dir.path().display().to_string()),
            (WORKERS_VAR, workers.to_string()),
        ])?;
        process.dir = Some(dir);
        Ok(process)
    }

    /// A bare tiny_http server answering `body` to everything.
    pub fn bare(body: &str, workers: usize) -> io::Result<ServerProcess> {
        ServerProcess::spawn(&[
            (ROLE_VAR, "bare".to_owned()),
            (BODY_VAR, body.to_owned()),
            (WORKERS_VAR, workers.to_string()),
        ])
    }

    fn spawn(vars: &[(&str, String)]) -> io::Result<ServerProcess> {
        let exe = std::env::current_exe()?;
        // A profiler to run the server under, e.g. `valgrind --tool=callgrind`.
        let wrapper = std::env::var(WRAPPER_VAR).unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut command = Command::new(program);
                command.args(words).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut child = command.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("ADDR ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("server did not start: {line:?}")))?;
        Ok(ServerProcess {
            child,
            addr,
            dir: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn cpu_time(&self) -> Duration {
        procfs::cpu_time(self.pid()).unwrap_or_default()
    }

    /// (VmRSS, VmHWM, threads) right now.
    pub fn memory(&self) -> (u64, u64, u64) {
        let pid = self.pid();
        (
            procfs::status_kib(pid, "VmRSS").unwrap_or(0),
            procfs::status_kib(pid, "VmHWM").unwrap_or(0),
            procfs::threads(pid).unwrap_or(0),
        )
    }

    /// Closes its stdin (the signal to shut down) and waits for it to exit.
    pub fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = exit_within(&mut self.child, Duration::from_secs(10));
    }
}

/// True when the servers run under a profiler (and are much slower).
pub fn profiled() -> bool {
    std::env::var(WRAPPER_VAR).is_ok_and(|w| !w.trim().is_empty())
}

/// Runs the child role named by `role`; returns when told to stop.
pub fn run_role(role: &str) -> Result<(), String> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let workers: usize = env(WORKERS_VAR)?.parse().map_err(|_| "bad worker count")?;
    match role {
        "aggregator" => run_aggregator(&env(UPSTREAM_VAR)?, &env(DIR_VAR)?, workers),
        "bare" => run_bare(env(BODY_VAR)?, workers),
        other => Err(format!("unknown role {other}")),
    }
}

fn announce(addr: SocketAddr) -> Result<(), String> {
    let mut out = io::stdout().lock();
    writeln!(out, "ADDR {addr}")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())
}

/// Blocks until the parent closes our stdin.
fn wait_for_stdin_to_close() {
    let mut sink = [0u8; 64];
    let mut stdin = io::stdin().lock();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
}

fn run_aggregator(upstream_url: &str, dir: &str, workers: usize) -> Result<(), String> {
    let mut config = Config::with_upstream_url(upstream_url).map_err(|e| e.to_string())?;
    config.listen_address = SocketAddr::from(([127, 0, 0, 1], 0));
    config.dashboard.enabled = false;
    config.server.workers = workers;
    config.database.path = PathBuf::from(dir).join("aggregator.db");
    config.logging.file = None;
    if let Some(ms) = env_number(BATCH_MS_VAR) {
        config.database.batch_window = Duration::from_millis(ms);
    }
    let app = App::start(&config, true).map_err(|e| e.to_string())?;
    let addr = app.miner_addr().ok_or("no miner address")?;
    announce(addr)?;
    wait_for_stdin_to_close();
    app.shutdown();
    Ok(())
}

fn run_bare(body: String, workers: usize) -> Result<(), String> {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").map_err(|e| e.to_string())?);
    let addr = server.server_addr().to_ip().ok_or("no address")?;
    let body: Arc<[u8]> = body.into_bytes().into();
    let content_type = tiny_http::Header::from_bytes("Content-Type", "application/json")
        .map_err(|()| "bad header")?;
    let handles = (0..workers)
        .map(|index| {
            let (server, body, content_type) = (server.clone(), body.clone(), content_type.clone());
            thread::Builder::new()
                .name(format!("bare-worker-{index}"))
                .spawn(move || {
                    while let Ok(request) = server.recv() {
                        let response = tiny_http::Response::from_data(body.to_vec())
                            .with_header(content_type.clone());
                        let _ = request.respond(response);
                    }
                })
        })
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| e.to_string())?;
    announce(addr)?;
    wait_for_stdin_to_close();
    for _ in 0..workers {
        server.unblock();
    }
    for handle in handles {
        let _ = handle.join();
    }
    Ok(())
}
