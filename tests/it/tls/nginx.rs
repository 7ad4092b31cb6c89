//! The shipped nginx recipe (dist/nginx-pocx_aggregator.conf), run for real: miners → edge →
//! nginx (TLS, client certificate required) → core → simulated pool, all on 127.0.0.1.
//!
//! nginx runs as a child process in the foreground with a generated main configuration whose
//! pid, logs and temporary files are in the test's directory; the recipe is included with only
//! its addresses and file paths replaced. Skipped with a reason where nginx is not installed,
//! never where `POCX_REQUIRE_NGINX=1` (CI).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use pocx_aggregator::app::App;
use pocx_aggregator::config::{BasicCredentials, TrustedProxies, UpstreamAuth};
use pocx_aggregator::upstream::tls::tls_config;

use super::pki::Ca;
use super::{edge_config, wait_for_upstream_error, wait_reachable};
use crate::support::process::{skip_unless_required, wait_bounded};
use crate::support::{account, free_port, post, wait_until, Farm, TempDir};

const RECIPE: &str = include_str!("../../../dist/nginx-pocx_aggregator.conf");
const REQUIRE: &str = "POCX_REQUIRE_NGINX";

/// nginx in the foreground, stopped (gracefully, so its workers go too) when dropped.
struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            wait_bounded(&mut self.child, Duration::from_secs(10));
        }
    }
}

impl Nginx {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

fn nginx_program() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// The recipe with one line replaced; panics when the line is gone, so the test follows the
/// shipped file.
fn replace(recipe: String, line: &str, with: &str) -> String {
    assert!(recipe.contains(line), "the recipe no longer has `{line}`");
    recipe.replace(line, with)
}

fn site(dir: &Path, port: u16, core_port: u16) -> String {
    let file = |name: &str| dir.join(name).display().to_string();
    let mut recipe = RECIPE.to_owned();
    recipe = replace(
        recipe,
        "server 127.0.0.1:8080;",
        &format!("server 127.0.0.1:{core_port};"),
    );
    recipe = replace(
        recipe,
        "listen 8443 ssl;",
        &format!("listen 127.0.0.1:{port} ssl;"),
    );
    recipe = replace(recipe, "listen [::]:8443 ssl;", "");
    for (shipped, name) in [
        ("/etc/pocx_aggregator/tls/core.crt", "core.crt"),
        ("/etc/pocx_aggregator/tls/core.key", "core.key"),
        ("/etc/pocx_aggregator/tls/farm-ca.crt", "farm-ca.crt"),
    ] {
        recipe = replace(recipe, shipped, &file(name));
    }
    recipe
}

/// Starts nginx with the recipe in front of the core at `core_port` (a taken port is retried).
fn start_nginx(program: &Path, dir: &Path, core_port: u16) -> Nginx {
    let file = |name: &str| dir.join(name).display().to_string();
    // As root nginx would hand its workers to an unprivileged user, who cannot enter the test's
    // directory.
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root;"
    } else {
        ""
    };
    for _ in 0..3 {
        let port = free_port().unwrap();
        std::fs::write(dir.join("site.conf"), site(dir, port, core_port)).unwrap();
        let main = format!(
            "daemon off;\n{user}\nworker_processes 1;\npid {pid};\nerror_log {log} info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {access};\n  client_body_temp_path {tmp}/body;\n\
             \x20 proxy_temp_path {tmp}/proxy;\n  fastcgi_temp_path {tmp}/fastcgi;\n\
             \x20 uwsgi_temp_path {tmp}/uwsgi;\n  scgi_temp_path {tmp}/scgi;\n\
             \x20 include {site};\n}}\n",
            pid = file("nginx.pid"),
            log = file("error.log"),
            access = file("access.log"),
            tmp = file("tmp"),
            site = file("site.conf"),
        );
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        let child = Command::new(program)
            .args([
                "-p",
                &file(""),
                "-c",
                &file("nginx.conf"),
                "-e",
                &file("error.log"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.txt")).unwrap())
            .spawn()
            .unwrap();
        let mut nginx = Nginx {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if nginx.child.try_wait().unwrap().is_some() {
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return nginx;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let stderr = std::fs::read_to_string(dir.join("stderr.txt")).unwrap_or_default();
        assert!(
            format!("{stderr}{}", nginx.log()).contains("Address already in use"),
            "nginx did not start:\n{stderr}\n{}",
            nginx.log()
        );
    }
    panic!("nginx found no free port in three tries");
}

/// A client of nginx as a site would be: trusts the farm CA, shows `client` when given.
fn https_agent(dir: &Path, url: &str, client: Option<&str>) -> ureq::Agent {
    let mut keys = format!(
        "  ca_cert_path: {}\n  ca_only: true\n",
        dir.join("farm-ca.crt").display()
    );
    if let Some(name) = client {
        keys.push_str(&format!(
            "  client_cert_path: {}\n  client_key_path: {}\n",
            dir.join(format!("{name}.crt")).display(),
            dir.join(format!("{name}.key")).display()
        ));
    }
    let tls = edge_config(url, dir, &keys).upstream.tls;
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .proxy(None)
        .tls_config(tls_config(&tls))
        .build()
        .into()
}

fn poll_body() -> String {
    json!({"jsonrpc": "2.0", "method": "get_mining_info", "params": {}, "id": 1}).to_string()
}

/// The machine names the core's `/stats` lists.
fn core_machines(core: &Farm, auth: &str) -> Vec<String> {
    let url = format!("{}stats", core.url);
    let mut response = crate::support::agent()
        .get(&url)
        .header("Authorization", auth)
        .call()
        .unwrap();
    let stats: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    stats["machines"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["machine"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_shipped_nginx_recipe_carries_an_edge_to_its_core() {
    let test = "tls::nginx::the_shipped_nginx_recipe_carries_an_edge_to_its_core";
    let Some(program) = nginx_program() else {
        let reason = "nginx not found in /usr/sbin or /usr/bin; install `nginx-light` (apt-get install -y nginx-light)";
        return skip_unless_required(test, reason, REQUIRE);
    };
    let dir = TempDir::new("nginx");
    let ca = Ca::new("farm CA");
    ca.write(dir.path(), "farm-ca.crt");
    ca.server().write(dir.path(), "core");
    ca.client("north").write(dir.path(), "north");

    // The core: Basic auth for its miners (the edges), nginx as its trusted proxy.
    let credentials = BasicCredentials {
        username: "edges".into(),
        password: "edge-pw-5".into(),
    };
    let core = Farm::start_with(Default::default(), |config| {
        config.server.auth = Some(credentials.clone());
        config.server.trusted_proxies = TrustedProxies::parse(["127.0.0.1"]).unwrap();
    });
    let auth = pocx_aggregator::auth::basic_header("edges:edge-pw-5");
    let nginx = start_nginx(
        &program,
        dir.path(),
        core.app().miner_addr().unwrap().port(),
    );
    let front = format!("https://127.0.0.1:{}/", nginx.port);

    // The edge: the core through nginx, trusting the farm CA only, with its client certificate.
    let keys = format!(
        "  ca_cert_path: {ca}\n  ca_only: true\n  client_cert_path: {crt}\n  client_key_path: {key}\n  site_name: north-site\n",
        ca = dir.path().join("farm-ca.crt").display(),
        crt = dir.path().join("north.crt").display(),
        key = dir.path().join("north.key").display(),
    );
    let edge_dir = TempDir::new("nginx-edge");
    let mut config = edge_config(&front, edge_dir.path(), &keys);
    config.upstream.auth = UpstreamAuth::Token("edges:edge-pw-5".into());
    let edge = App::start(&config, false).unwrap();
    let edge_url = format!("http://{}/", edge.miner_addr().unwrap());
    wait_reachable(&edge_url);

    // A miner's submission goes miners → edge → nginx → core → pool.
    let round = core.upstream.current_round();
    let miner = crate::support::agent();
    wait_until(Duration::from_secs(5), || {
        let text = post(&miner, &edge_url, &poll_body(), &[("X-Miner", "rig-7")]).1;
        serde_json::from_str::<Value>(&text).unwrap_or_default()["result"]["height"] == round.height
    });
    let submission = json!({"jsonrpc": "2.0", "method": "submit_nonce", "id": 2,
        "params": Farm::submission(&round, &account(3), 777)});
    let answer = post(
        &miner,
        &edge_url,
        &submission.to_string(),
        &[("X-Miner", "rig-7")],
    )
    .1;
    assert!(answer.contains("\"result\""), "{answer}");
    wait_until(Duration::from_secs(10), || {
        core.upstream.submissions().iter().any(|s| {
            s.submission
                .as_ref()
                .is_some_and(|n| n.raw_quality == 777 && n.account_id == account(3))
        })
    });
    // The core names the edge by its site name.
    wait_until(Duration::from_secs(5), || {
        core_machines(&core, &auth).contains(&"north-site".to_owned())
    });

    // X-Forwarded-For from nginx is believed: nginx appends the address it saw (127.0.0.1, which
    // on one loopback address is also the trusted proxy's, so a hop to skip) to what the client
    // sent; the core takes the right-most address that is not a trusted proxy.
    let site = https_agent(dir.path(), &front, Some("north"));
    let submission = json!({"jsonrpc": "2.0", "method": "submit_nonce", "id": 3,
        "params": Farm::submission(&round, &account(4), 555)})
    .to_string();
    let via = |headers: &[(&str, &str)]| post(&site, &front, &submission, headers);
    let (status, text) = via(&[
        ("Authorization", &auth),
        ("X-Forwarded-For", "198.51.100.4, 203.0.113.5"),
    ]);
    assert_eq!(status, 200, "{text}\n{}", nginx.log());
    assert!(text.contains("\"result\""), "{text}");
    let names = core_machines(&core, &auth);
    assert!(names.contains(&"203.0.113.5".to_owned()), "{names:?}");
    assert!(!names.contains(&"198.51.100.4".to_owned()), "{names:?}");

    // Basic auth passes through nginx to the core, which checks it.
    assert_eq!(via(&[]).0, 401);
    // Without a client certificate nginx lets nothing through.
    let stranger = https_agent(dir.path(), &front, None);
    let (status, _) = post(&stranger, &front, &poll_body(), &[("Authorization", &auth)]);
    assert_eq!(status, 400);
    // The recipe's body limit is the core's: 64 KiB.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    assert_eq!(
        post(&site, &front, &big, &[("Authorization", &auth)]).0,
        413
    );

    edge.shutdown();
    // An edge without its client certificate is refused, and says so.
    let keys = format!(
        "  ca_cert_path: {}\n  ca_only: true\n",
        dir.path().join("farm-ca.crt").display()
    );
    let mut config = edge_config(&front, edge_dir.path(), &keys);
    config.upstream.auth = UpstreamAuth::Token("edges:edge-pw-5".into());
    let bare = App::start(&config, false).unwrap();
    wait_for_upstream_error(
        &format!("http://{}/", bare.miner_addr().unwrap()),
        "http 400",
    );
    bare.shutdown();
    drop(nginx);
}
