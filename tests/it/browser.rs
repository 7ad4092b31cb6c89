//! A small W3C WebDriver client for browser tests: starts chromedriver on a free 127.0.0.1 port,
//! opens one headless Chromium session with a throw-away profile, and tears both down on drop.
//!
//! Every HTTP call to chromedriver has a timeout, every wait has a deadline, and chromedriver is
//! killed when the [`Browser`] goes away, so a hung browser fails the test instead of hanging it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{agent_with_timeout, free_port, process, TempDir};

/// Set to 1 (CI does) to turn a missing browser into a failure instead of a skip.
pub const REQUIRE_ENV: &str = "POCX_REQUIRE_BROWSER";

/// Upper bound of any single WebDriver call (a new session on a busy host is the slowest).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// chromedriver's path, or `None` after saying loudly why the calling test is skipped.
/// Panics instead of skipping when [`REQUIRE_ENV`] is 1.
pub fn chromedriver_or_skip(test: &str) -> Option<PathBuf> {
    process::program_or_skip(
        test,
        "chromedriver",
        REQUIRE_ENV,
        "chromium chromium-driver",
    )
}

/// The Chromium binary to hand to chromedriver; `None` lets chromedriver search itself.
fn chromium_binary() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("CHROME_BIN") {
        return Some(PathBuf::from(explicit));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// One chromedriver process with one open browser session.
pub struct Browser {
    driver: Child,
    client: ureq::Agent,
    session_url: String,
    /// Removed after `drop` has ended the session and the driver.
    profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with the given window size.
    pub fn launch(chromedriver: &Path, width: u32, height: u32) -> Result<Browser, String> {
        let client = agent_with_timeout(CALL_TIMEOUT);
        let profile = TempDir::new("browser-profile");
        let (driver, base) = start_driver(chromedriver, &client)?;
        let mut browser = Browser {
            driver,
            client,
            session_url: String::new(),
            profile,
        };
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-proxy-server".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", browser.profile.path().display()),
        ];
        let mut chrome_options = json!({ "args": args });
        if let Some(binary) = chromium_binary() {
            chrome_options["binary"] = json!(binary.display().to_string());
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": chrome_options,
            "timeouts": { "script": 10_000, "pageLoad": 30_000, "implicit": 0 }
        }}});
        let answer = browser.call("POST", &format!("{base}/session"), Some(capabilities))?;
        let session = answer["sessionId"]
            .as_str()
            .ok_or_else(|| format!("new session answer without sessionId: {answer}"))?;
        browser.session_url = format!("{base}/session/{session}");
        Ok(browser)
    }

    pub fn goto(&self, url: &str) -> Result<(), String> {
        self.session_call("POST", "/url", json!({ "url": url }))
            .map(drop)
    }

    /// Runs `script` as a function body in the page and returns what it returns.
    pub fn execute(&self, script: &str) -> Result<Value, String> {
        self.session_call(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
    }

    /// Re-runs `script` until it returns something truthy, for at most `timeout`.
    pub fn wait_until(&self, what: &str, script: &str, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        let mut attempts = 0u32;
        loop {
            let value = self.execute(script)?;
            attempts += 1;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(_) | Value::Object(_) => true,
            };
            if truthy {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "timed out after {timeout:?} ({attempts} checks) waiting for {what}; last: {value}"
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    pub fn set_window_size(&self, width: u32, height: u32) -> Result<(), String> {
        self.session_call(
            "POST",
            "/window/rect",
            json!({ "width": width, "height": height }),
        )
        .map(drop)
    }

    /// PNG of the current viewport.
    pub fn screenshot_png(&self) -> Result<Vec<u8>, String> {
        let value = self.call("GET", &format!("{}/screenshot", self.session_url), None)?;
        let encoded = value
            .as_str()
            .ok_or_else(|| format!("screenshot answer is not a string: {value}"))?;
        use base64::Engine;
        base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
            .decode(encoded)
            .map_err(|e| format!("screenshot is not valid base64: {e}"))
    }

    fn session_call(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        self.call(method, &format!("{}{path}", self.session_url), Some(body))
    }

    /// One WebDriver command; returns its `value` or the WebDriver error as text.
    fn call(&self, method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
        let sent = match (method, body) {
            ("GET", _) => self.client.get(url).call(),
            ("DELETE", _) => self.client.delete(url).call(),
            (_, body) => self
                .client
                .post(url)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let mut response = sent.map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| format!("{method} {url}: reading answer: {e}"))?;
        let mut parsed: Value =
            serde_json::from_str(&text).map_err(|e| format!("{method} {url}: {e}: {text}"))?;
        let value = parsed["value"].take();
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(format!(
                "{method} {url}: HTTP {status}: {} {}",
                value["error"], value["message"]
            ))
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session_url.is_empty() {
            // Closing the session makes chromedriver quit Chromium; killing the driver alone could
            // leave the browser behind.
            let _ = self.call("DELETE", &self.session_url.clone(), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Spawns chromedriver on a free port and waits until it reports ready. A port taken between
/// probing and binding makes chromedriver exit at once; then another port is tried.
fn start_driver(chromedriver: &Path, client: &ureq::Agent) -> Result<(Child, String), String> {
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port().map_err(|e| format!("probing a port: {e}"))?;
        let mut child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", chromedriver.display()))?;
        let base = format!("http://127.0.0.1:{port}");
        match wait_ready(&mut child, client, &base) {
            Ok(()) => return Ok((child, base)),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                last_error = err;
            }
        }
    }
    Err(format!("chromedriver did not start: {last_error}"))
}

fn wait_ready(child: &mut Child, client: &ureq::Agent, base: &str) -> Result<(), String> {
    let deadline = Instant::now() + DRIVER_START_TIMEOUT;
    let status_url = format!("{base}/status");
    loop {
        if let Ok(Some(exit)) = child.try_wait() {
            return Err(format!("chromedriver exited: {exit}"));
        }
        let ready = client
            .get(&status_url)
            .config()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .is_some_and(|v| v["value"]["ready"] == json!(true));
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("not ready within {DRIVER_START_TIMEOUT:?}"));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
