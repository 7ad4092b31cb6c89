//! Integration tests: TLS between sites. An edge whose upstream is an HTTPS endpoint signed by a
//! farm's own CA (made in the test), mutual TLS, certificate files checked with the
//! configuration, `X-Forwarded-For` from trusted proxies, and the shipped nginx recipe in front
//! of a core aggregator.

mod config;
mod forwarded;
mod nginx;
mod pki;
mod relay;
mod upstream;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use pocx_aggregator::config::{from_yaml_str, Config};

use crate::support::{agent, eventually, get, test_config, wait_until};

/// The test configuration for an upstream at `url`, with the `upstream` keys `upstream_keys`
/// (indented YAML lines) read the way a file's are.
fn edge_config(url: &str, dir: &Path, upstream_keys: &str) -> Config {
    let yaml = format!("upstream:\n  url: {url}\n{upstream_keys}");
    let loaded = from_yaml_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let mut config = test_config(url, dir);
    config.upstream.tls = loaded.upstream.tls;
    config.upstream.site_name = loaded.upstream.site_name;
    config
}

/// `/health` of the aggregator at `base` (ends with `/`).
fn health(base: &str) -> Value {
    serde_json::from_str(&get(&agent(), &format!("{base}health")).1).unwrap()
}

/// Waits until `/health` reports an upstream error containing `words`; returns the error.
fn wait_for_upstream_error(base: &str, words: &str) -> String {
    let mut last = Value::Null;
    let found = eventually(Duration::from_secs(5), || {
        last = health(base);
        let error = last["last_error"].as_str().unwrap_or("");
        error.contains(words) && last["upstream_reachable"] == false
    });
    assert!(found, "no upstream error with {words:?}; /health: {last}");
    last["last_error"].as_str().unwrap_or("").to_owned()
}

/// Waits until `/health` says the upstream is reachable.
fn wait_reachable(base: &str) {
    wait_until(Duration::from_secs(5), || {
        health(base)["upstream_reachable"] == true
    });
}
