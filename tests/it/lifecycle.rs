//! Integration tests: lifecycle. The real binary stopped by SIGTERM and killed with `kill -9` in
//! the middle of a burst of submissions, and its history database running out of disk space
//! while miners are being served.
//!
//! Every test writes a YAML configuration into its own temporary directory (miner port on
//! 127.0.0.1, dashboard off, database and log file in the directory) and points the binary at a
//! simulated upstream running in this test process. Signals go through the `kill` command.

mod disk_full;
mod kill9;
mod sigterm;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};

use crate::support::{account, agent_with_timeout, eventually, free_port, process, Farm};
use pocx_aggregator::sim::SimRound;

/// Ports tried before giving up when another process takes the free port first.
const PORT_ATTEMPTS: usize = 5;
/// How long a start may take before the test gives up on it (the claim tested is far shorter).
const START_PATIENCE: Duration = Duration::from_secs(15);

/// The aggregator binary running as a child process.
struct Aggregator {
    child: Child,
    url: String,
    dir: PathBuf,
    db: PathBuf,
    log: PathBuf,
    upstream_url: String,
}

impl Aggregator {
    /// Starts the binary with a configuration in `dir`, the database at `db`; returns it once it
    /// serves mining info, with the time from spawn to the first successful `get_mining_info`.
    fn start(dir: &Path, upstream_url: &str, db: &Path) -> (Aggregator, Duration) {
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port().unwrap();
            let config = write_config(dir, port, upstream_url, db);
            let stderr = fs::File::create(dir.join("stderr.txt")).unwrap();
            let started = Instant::now();
            let child = Command::new(env!("CARGO_BIN_EXE_pocx_aggregator"))
                .arg("--config")
                .arg(&config)
                .env_remove("RUST_LOG")
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap();
            let mut aggregator = Aggregator {
                child,
                url: format!("http://127.0.0.1:{port}/"),
                dir: dir.to_path_buf(),
                db: db.to_path_buf(),
                log: dir.join("aggregator.log"),
                upstream_url: upstream_url.to_owned(),
            };
            if let Some(ready_after) = aggregator.wait_until_serving(started) {
                return (aggregator, ready_after);
            }
            let stderr = fs::read_to_string(dir.join("stderr.txt")).unwrap_or_default();
            assert!(
                stderr.contains("cannot listen"),
                "the aggregator did not start: {stderr}"
            );
            // Someone else took the port between our probe and the bind: try another.
        }
        panic!("no free port found in {PORT_ATTEMPTS} attempts");
    }

    /// Starts the binary again on the same directory and database (a new port).
    fn restart(&self) -> (Aggregator, Duration) {
        Aggregator::start(&self.dir, &self.upstream_url, &self.db)
    }

    /// Polls `get_mining_info` until it answers with a round; `None` if the process exits.
    fn wait_until_serving(&mut self, started: Instant) -> Option<Duration> {
        let agent = agent_with_timeout(Duration::from_millis(500));
        while started.elapsed() < START_PATIENCE {
            if let Ok(answer) = call(&agent, &self.url, "get_mining_info", json!({}), None) {
                if answer["result"]["height"].is_u64() {
                    return Some(started.elapsed());
                }
            }
            if self.child.try_wait().unwrap().is_some() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the aggregator did not serve mining info within {START_PATIENCE:?}");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM; returns how long the process took to exit, and how it exited.
    fn terminate(&mut self) -> (Duration, ExitStatus) {
        let sent = Instant::now();
        send_signal("TERM", self.pid());
        let status = self.wait_exit(Duration::from_secs(10));
        (sent.elapsed(), status)
    }

    /// `kill -9`, then reaps the process.
    fn kill9(&mut self) {
        send_signal("KILL", self.pid());
        self.wait_exit(Duration::from_secs(10));
    }

    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        process::wait_bounded(&mut self.child, limit)
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> Value {
        let url = format!("{}{}", self.url, path.trim_start_matches('/'));
        let mut response = agent_with_timeout(Duration::from_secs(5))
            .get(&url)
            .call()
            .unwrap();
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    }
}

impl Drop for Aggregator {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn send_signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// A configuration file with the miner port on 127.0.0.1 and no dashboard section (so the
/// dashboard is off and `/stats` is served on the miner port).
fn write_config(dir: &Path, port: u16, upstream_url: &str, db: &Path) -> PathBuf {
    let text = format!(
        "listen_address: \"127.0.0.1:{port}\"\n\
         upstream:\n  url: \"{upstream_url}\"\n  retry_backoff_secs: [1, 1]\n\
         cache:\n  refresh_interval_ms: 100\n  pool_timeout_secs: 1\n\
         database:\n  path: \"{}\"\n\
         logging:\n  level: info\n  file: \"{}\"\n",
        db.display(),
        dir.join("aggregator.log").display()
    );
    let path = dir.join("aggregator_config.yaml");
    fs::write(&path, text).unwrap();
    path
}

/// One JSON-RPC call; transport failures are errors, not panics (the process may be going).
fn call(
    agent: &ureq::Agent,
    url: &str,
    method: &str,
    params: Value,
    machine: Option<&str>,
) -> Result<Value, String> {
    let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    let mut request = agent.post(url).header("Content-Type", "application/json");
    if let Some(machine) = machine {
        request = request.header("X-Miner", machine);
    }
    let mut response = request.send(body.to_string()).map_err(|e| e.to_string())?;
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// Threads submitting as fast as answers come, each as its own machine with its own accounts,
/// counting the submissions answered with a result.
struct Burst {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Burst {
    /// `threads` machines named `burst-<n>`, each cycling over `accounts_per_thread` accounts.
    fn start(url: &str, round: &SimRound, threads: u32, accounts_per_thread: u32) -> Burst {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let sent = Arc::new(AtomicU64::new(0));
        let handles = (0..threads)
            .map(|t| {
                let (stop, answered, sent) = (stop.clone(), answered.clone(), sent.clone());
                let (url, round) = (url.to_owned(), round.clone());
                std::thread::spawn(move || {
                    let agent = agent_with_timeout(Duration::from_secs(5));
                    let machine = format!("burst-{t}");
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) && n < 1_000_000 {
                        let index = t * accounts_per_thread + (n as u32 % accounts_per_thread);
                        let quality = 1_000_000_000u64.saturating_sub(n);
                        let params = Farm::submission(&round, &account(100 + index), quality);
                        sent.fetch_add(1, Ordering::SeqCst);
                        match call(&agent, &url, "submit_nonce", params, Some(&machine)) {
                            Ok(answer) if answer["result"]["poc_time"].is_u64() => {
                                answered.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(answer) => panic!("submission refused: {answer}"),
                            // The server went away: the burst is over for this thread.
                            Err(_) => break,
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        Burst {
            stop,
            answered,
            sent,
            threads: handles,
        }
    }

    fn answered(&self) -> u64 {
        self.answered.load(Ordering::SeqCst)
    }

    /// Stops the threads and joins them; returns (answered, sent).
    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        (
            self.answered.load(Ordering::SeqCst),
            self.sent.load(Ordering::SeqCst),
        )
    }
}

/// Opens the database read-only (the WAL is read too).
fn open_db(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn integrity(db: &Path) -> String {
    open_db(db)
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// Submissions the database holds: the sum of the per-(height, account, machine) counts.
fn stored_submissions(db: &Path) -> u64 {
    let total: i64 = open_db(db)
        .query_row(
            "SELECT COALESCE(SUM(submissions), 0) FROM submissions",
            [],
            |row| row.get(0),
        )
        .unwrap();
    u64::try_from(total).unwrap()
}
