//! Log set-up: the terminal (stderr) plus `logging.file` when set, at `logging.level`, which the
//! `RUST_LOG` environment variable overrides with a plain level name (`RUST_LOG=debug`).
//! Only this crate's records are shown: the HTTP and TLS libraries underneath are chatty at debug.

use std::fmt;
use std::fs::OpenOptions;
use std::path::PathBuf;

use log::LevelFilter;
use simplelog::{
    ColorChoice, CombinedLogger, ConfigBuilder, SharedLogger, TermLogger, TerminalMode, WriteLogger,
};

use crate::config::LoggingSettings;

#[derive(Debug)]
pub enum LoggingError {
    /// `RUST_LOG` is set but is not a level name.
    BadLevel(String),
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    AlreadySet,
}

impl fmt::Display for LoggingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoggingError::BadLevel(v) => write!(
                f,
                "RUST_LOG={v:?} is not a level (off, error, warn, info, debug, trace)"
            ),
            LoggingError::File { path, .. } => write!(f, "cannot open log file {}", path.display()),
            LoggingError::AlreadySet => write!(f, "a logger is already installed"),
        }
    }
}

impl std::error::Error for LoggingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoggingError::File { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The level to use: `RUST_LOG` when set and non-empty, else the configured one.
pub fn effective_level(
    configured: LevelFilter,
    rust_log: Option<&str>,
) -> Result<LevelFilter, LoggingError> {
    match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(configured),
        Some(value) => value
            .parse::<LevelFilter>()
            .map_err(|_| LoggingError::BadLevel(value.to_owned())),
    }
}

pub fn init(settings: &LoggingSettings) -> Result<(), LoggingError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let level = effective_level(settings.level, rust_log.as_deref())?;
    let config = ConfigBuilder::new()
        .add_filter_allow_str("pocx_aggregator")
        .set_thread_level(LevelFilter::Off)
        .set_target_level(LevelFilter::Off)
        .build();
    let mut loggers: Vec<Box<dyn SharedLogger>> = vec![TermLogger::new(
        level,
        config.clone(),
        TerminalMode::Stderr,
        ColorChoice::Auto,
    )];
    if let Some(path) = &settings.file {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| LoggingError::File {
                path: path.clone(),
                source,
            })?;
        loggers.push(WriteLogger::new(level, config, file));
    }
    CombinedLogger::init(loggers).map_err(|_| LoggingError::AlreadySet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_overrides_with_a_level_name_only() {
        assert_eq!(
            effective_level(LevelFilter::Info, None).unwrap(),
            LevelFilter::Info
        );
        assert_eq!(
            effective_level(LevelFilter::Info, Some("debug")).unwrap(),
            LevelFilter::Debug
        );
        assert_eq!(
            effective_level(LevelFilter::Info, Some(" ")).unwrap(),
            LevelFilter::Info
        );
        assert!(effective_level(LevelFilter::Info, Some("pocx=debug")).is_err());
    }
}
