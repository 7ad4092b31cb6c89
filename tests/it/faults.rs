//! Integration tests: faults. The whole aggregator against an upstream that fails in every way
//! the simulation offers (a soak with miners submitting throughout), and against a thousand
//! connections that send half a request and stall.
//!
//! Both measure this process's memory and threads (`/proc/self/status`, `/proc/self/task`),
//! which other tests
//! running in parallel would disturb; so the body of each runs in a child copy of this test
//! binary (re-executed with its own test name and an environment variable saying which body to
//! run), and the test in the parent only waits for it and reports its verdict and figures.

mod abusers;
mod soak;
mod soak_miners;

use std::collections::BTreeMap;
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{eventually, exit_within, TempDir};

/// Set in a child copy of this binary; names the body it runs.
const CHILD_ENV: &str = "POCX_FAULTS_CHILD";

/// True in the child process started for the body `name`.
fn is_child_for(name: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == name)
}

/// True in any child process (the parent-side tests then do nothing).
fn in_child() -> bool {
    std::env::var(CHILD_ENV).is_ok()
}

/// Runs the test `test_path` in a child copy of this binary with the child variable set to
/// `name`, waits at most `limit`, prints what it printed and fails when it failed.
fn run_in_child(test_path: &str, name: &str, limit: Duration) {
    let dir = TempDir::new(name);
    let out_path = dir.path().join("output.txt");
    let out = fs::File::create(&out_path).unwrap();
    let err = out.try_clone().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test_path, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    let status = exit_within(&mut child, limit);
    let output = fs::read_to_string(&out_path).unwrap_or_default();
    println!("--- child {name} ---\n{output}--- end of child {name} ---");
    match status {
        Some(status) => assert!(status.success(), "child {name} failed ({status})"),
        None => panic!("child {name} did not finish within {limit:?}"),
    }
    // An empty filter match would "pass" without running anything.
    assert!(
        output.contains("1 passed"),
        "child {name} did not run its test"
    );
}

/// This process's resident memory and thread count.
#[derive(Debug, Clone, Copy)]
struct ProcStatus {
    rss_kib: u64,
    threads: u64,
}

fn proc_status() -> ProcStatus {
    let text = fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /proc/self/status"))
    };
    ProcStatus {
        rss_kib: field("VmRSS:"),
        threads: field("Threads:"),
    }
}

/// Threads of this process by name (Linux keeps 15 bytes of a name; a thread started without
/// one carries the name of the thread that started it).
type Census = BTreeMap<String, u64>;

fn thread_census() -> Census {
    let mut census = Census::new();
    for task in fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(Result::ok)
    {
        if let Ok(name) = fs::read_to_string(task.path().join("comm")) {
            *census.entry(name.trim().to_owned()).or_default() += 1;
        }
    }
    census
}

/// The calling thread's name as the census shows it.
fn own_thread_name() -> String {
    fs::read_to_string("/proc/thread-self/comm")
        .unwrap()
        .trim()
        .to_owned()
}

/// Names with more threads than at `baseline` plus what `allowance` grants them.
fn census_excess(baseline: &Census, now: &Census, allowance: &dyn Fn(&str) -> u64) -> Vec<String> {
    now.iter()
        .filter_map(|(name, count)| {
            let allowed = baseline.get(name).copied().unwrap_or(0) + allowance(name);
            (*count > allowed).then(|| format!("{name}: {count} (at most {allowed})"))
        })
        .collect()
}

/// Waits (bounded) until no name has more threads than allowed; returns the last census and
/// what was still in excess (empty when it came back in time).
fn wait_for_census(
    baseline: &Census,
    allowance: &dyn Fn(&str) -> u64,
    patience: Duration,
) -> (Census, Vec<String>) {
    let mut now = Census::new();
    let mut excess = Vec::new();
    eventually(patience, || {
        now = thread_census();
        excess = census_excess(baseline, &now, allowance);
        excess.is_empty()
    });
    (now, excess)
}

/// The census once it holds still for `SETTLE` (bounded): threads a warm-up started, or that
/// are still ending, are not mistaken for the baseline.
fn settled_census() -> Census {
    const SETTLE: Duration = Duration::from_millis(200);
    let mut last = thread_census();
    let mut since = Instant::now();
    let settled = eventually(Duration::from_secs(10), || {
        let now = thread_census();
        if now != last {
            (last, since) = (now, Instant::now());
        }
        since.elapsed() >= SETTLE
    });
    assert!(settled, "threads never held still: {last:?}");
    last
}

/// Names with more threads than at `baseline`, and how many more: what a load left behind.
fn census_growth(baseline: &Census, now: &Census) -> String {
    let grown: Vec<String> = now
        .iter()
        .filter_map(|(name, count)| {
            let before = baseline.get(name).copied().unwrap_or(0);
            (*count > before).then(|| format!("{name} +{}", count - before))
        })
        .collect();
    if grown.is_empty() {
        "none".to_owned()
    } else {
        grown.join(", ")
    }
}

fn total(census: &Census) -> u64 {
    census.values().sum()
}

/// tiny_http ends a spare thread after 5 s without work, but the server's keeper connects every
/// 500 ms and each of those connections wakes one waiting spare and restarts its 5 s: up to
/// 5 s / 500 ms spares can stay alive indefinitely.
const SPARE_THREADS_KEPT: u64 = 10;
/// Idle keep-alive connections the aggregator's upstream client keeps (forward connections + 2),
/// each served by a connection thread of the simulated upstream.
const UPSTREAM_IDLE_CONNECTIONS: u64 = 6;

/// What may stay above the baseline once a load is gone: tiny_http's spares (they carry
/// `spares`, the name of the thread that started the server) and the simulated upstream's
/// threads for idle connections. Every other thread must be back to its baseline count.
fn lingering_allowance(spares: String) -> impl Fn(&str) -> u64 {
    move |name| {
        if name == spares {
            SPARE_THREADS_KEPT
        } else if name.starts_with("sim-upstream-co") {
            UPSTREAM_IDLE_CONNECTIONS
        } else {
            0
        }
    }
}
