//! What every test needs whatever it tests: a temporary directory removed on drop, waiting for
//! a condition (or a child process's exit) with a deadline, a free loopback port, and an HTTP
//! agent for loopback servers.
//!
//! One file for all test code: the unit tests compile it as `crate::testkit`, the integration
//! tests (`tests/it/support`) and the benches include it by path. So it uses std and ureq
//! only, nothing of the crate. Deliberately no fixed pauses: waiting is always for a condition.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a waited-for condition is checked.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// A fresh directory under the system temp dir, unique per process and call, removed (with
/// everything in it) when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("pocx-test-{}-{label}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        if let Err(err) = std::fs::create_dir_all(&path) {
            panic!("creating {}: {err}", path.display());
        }
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks `condition` until it holds or `limit` has passed; whether it held. It is checked
/// once more at the deadline, so a slow host costs a late answer, never a wrong one.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(POLL_EVERY.min(deadline - now));
    }
}

/// As [`eventually`], and panics when the condition still does not hold after `limit`.
#[track_caller]
pub fn wait_until(limit: Duration, condition: impl FnMut() -> bool) {
    assert!(
        eventually(limit, condition),
        "condition not met within {limit:?}"
    );
}

/// Waits at most `limit` for `child` to exit: its status, or `None` once it has been killed
/// (and reaped) for taking longer.
pub fn exit_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let mut status = None;
    let exited = eventually(limit, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

/// A port on 127.0.0.1 no listener holds right now, for programs that must be told their port
/// (they cannot bind port 0 and say which one they got). Another program may take it before
/// them: callers that see the bind fail try again with a new one.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// An agent for servers on 127.0.0.1: every call ends within `timeout`, HTTP error statuses
/// are answers (not errors), and no proxy from the environment is used.
pub fn agent_with_timeout(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .new_agent()
}
