//! The `pocx_aggregator` binary as a child process: run until it ends by itself, or started on a
//! free port with a configuration the test writes, stopped by a signal or killed when dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::process::{run_in, wait_bounded, Finished};
use super::{free_port, TempDir};

pub const BIN: &str = env!("CARGO_BIN_EXE_pocx_aggregator");

/// What every run of the binary that should end by itself gets at most.
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// Runs the binary in `dir` with `args` until it ends (at most `RUN_LIMIT`); stdout and stderr
/// go to files there (no pipe to fill).
pub fn run(dir: &Path, args: &[&str]) -> Finished {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("RUST_LOG");
    run_in(dir, &mut command, None, RUN_LIMIT)
}

/// The binary serving on 127.0.0.1:`port`, killed on drop if still running.
pub struct Running {
    pub child: Child,
    pub port: u16,
    stderr: PathBuf,
    pub dir: TempDir,
}

impl Running {
    /// Starts the binary with the configuration `make_config(port, dir)` and waits until its
    /// `/health` answers. A port taken in between is retried with another one.
    pub fn start(label: &str, make_config: impl Fn(u16, &Path) -> String) -> Running {
        for _ in 0..3 {
            let dir = TempDir::new(label);
            let port = free_port().unwrap();
            let config = dir.path().join("config.yaml");
            std::fs::write(&config, make_config(port, dir.path())).unwrap();
            let stderr = dir.path().join("stderr.txt");
            let child = Command::new(BIN)
                .args(["--config", config.to_str().unwrap()])
                .current_dir(dir.path())
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(File::create(dir.path().join("stdout.txt")).unwrap())
                .stderr(File::create(&stderr).unwrap())
                .spawn()
                .unwrap();
            let mut running = Running {
                child,
                port,
                stderr,
                dir,
            };
            if running.wait_until_listening() {
                return running;
            }
            let log = running.log();
            assert!(
                log.contains("cannot start the server"),
                "the binary exited: {log}"
            );
        }
        panic!("no free port found in three tries");
    }

    /// True once `/health` answers; false when the process exited first.
    fn wait_until_listening(&mut self) -> bool {
        let (agent, health) = (super::agent(), self.url("health"));
        let mut exited = false;
        let child = &mut self.child;
        let answered = super::eventually(Duration::from_secs(15), || {
            exited = child.try_wait().unwrap().is_some();
            exited || agent.get(&health).call().is_ok()
        });
        assert!(
            answered,
            "the binary did not listen within 15 s: {}",
            self.log()
        );
        !exited
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends `signal` (INT or TERM) and returns the exit status and how long the exit took.
    pub fn stop_with(&mut self, signal: &str) -> (ExitStatus, Duration) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} failed");
        let started = Instant::now();
        let status = wait_bounded(&mut self.child, Duration::from_secs(10));
        (status, started.elapsed())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
