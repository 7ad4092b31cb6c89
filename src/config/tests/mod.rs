//! Unit tests of configuration loading: defaults, both layouts, one test per error naming its key,
//! masking, and random input that must never panic.

mod alerts;
mod backups;
mod errors;
mod layouts;
mod masking;
mod random_input;
mod rules;

use super::{from_yaml_str, Config, ConfigError};

/// Loads YAML that must be valid.
fn load(yaml: &str) -> Config {
    match from_yaml_str(yaml) {
        Ok(config) => config,
        Err(error) => panic!("expected a valid config, got: {error}"),
    }
}

/// Loads YAML that must be rejected and returns the error.
fn reject(yaml: &str) -> ConfigError {
    match from_yaml_str(yaml) {
        Ok(config) => panic!("expected an error, got: {config:?}"),
        Err(error) => error,
    }
}

/// The message of a rejected YAML text.
fn message(yaml: &str) -> String {
    reject(yaml).to_string()
}

const MINIMAL: &str = "upstream:\n  url: http://pool.example.com:8080/pocx\n";

/// The minimal valid file with `extra` appended under the top level.
fn with(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}
