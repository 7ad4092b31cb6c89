//! Outside programs in tests: runs bounded in time with their output in files (no pipe can fill
//! and stall them), and the tools some tests need (a browser, Prometheus, systemd) found or the
//! test skipped loudly, unless the environment says the tool must be there.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::exit_within;

/// What a finished run left behind.
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Both outputs, for assertion messages.
    pub fn output(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }

    /// Panics unless the run succeeded without printing anything (a checker's "no remarks").
    pub fn assert_clean(&self, what: &str) {
        assert_eq!(self.code, Some(0), "{what} failed: {}", self.output());
        assert!(
            self.stdout.trim().is_empty() && self.stderr.trim().is_empty(),
            "{what} has remarks: {}",
            self.output()
        );
    }
}

/// Waits for `child` at most `limit`; kills it and panics when it does not end.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    match exit_within(child, limit) {
        Some(status) => status,
        None => panic!("process {} did not exit within {limit:?}", child.id()),
    }
}

/// Runs `command` in `dir` with `input` (if any) as its standard input; its output goes to files
/// in `dir`. Panics when it runs longer than `limit`.
pub fn run_in(dir: &Path, command: &mut Command, input: Option<&str>, limit: Duration) -> Finished {
    let out = dir.join("stdout.txt");
    let err = dir.join("stderr.txt");
    let stdin = match input {
        None => Stdio::null(),
        Some(text) => {
            let path = dir.join("stdin.txt");
            std::fs::write(&path, text).unwrap();
            Stdio::from(File::open(&path).unwrap())
        }
    };
    let mut child = command
        .current_dir(dir)
        .stdin(stdin)
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let status = wait_bounded(&mut child, limit);
    Finished {
        code: status.code(),
        stdout: std::fs::read_to_string(out).unwrap(),
        stderr: std::fs::read_to_string(err).unwrap(),
    }
}

/// `/usr/bin/<name>` when it is there, else the first `<name>` on `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let fixed = Path::new("/usr/bin").join(name);
    if fixed.is_file() {
        return Some(fixed);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether the environment variable `name` is set to 1 (CI sets the `POCX_REQUIRE_*` ones).
pub fn required(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// `program`'s path, or `None` after saying loudly why `test` is skipped. Panics instead of
/// skipping when `require_env` is 1. `packages` are the Debian packages that bring it.
pub fn program_or_skip(
    test: &str,
    program: &str,
    require_env: &str,
    packages: &str,
) -> Option<PathBuf> {
    if let Some(path) = find_program(program) {
        return Some(path);
    }
    skip_unless_required(
        test,
        &format!("{program} not found (/usr/bin or on PATH); install `{packages}` (apt-get install -y {packages})"),
        require_env,
    );
    None
}

/// Says loudly that `test` is skipped and why; panics instead when `require_env` is 1.
pub fn skip_unless_required(test: &str, reason: &str, require_env: &str) {
    if required(require_env) {
        panic!("{test}: {reason}, but {require_env}=1");
    }
    eprintln!("\n!!! SKIPPED {test}: {reason}. Set {require_env}=1 to make this a failure.\n");
}

#[test]
fn a_missing_tool_is_skipped_when_not_required() {
    let unset = "POCX_REQUIRE_NOTHING_THAT_IS_SET";
    assert!(!required(unset));
    assert_eq!(
        program_or_skip("this test", "no-such-program-here", unset, "none"),
        None
    );
    assert!(find_program("sh").is_some());
}
