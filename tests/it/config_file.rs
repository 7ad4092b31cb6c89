//! Integration tests: config_file. Loading configuration files from disk: the shipped example,
//! the smallest valid file, and files that cannot be read.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::TempDir;
use pocx_aggregator::config::{load_file, Config, ConfigError, SubmissionMode, UpstreamAuth};

/// A file in a fresh directory under the system temp dir, removed again on drop.
/// `contents` as `aggregator_config.yaml` in a fresh directory, removed on drop.
struct ScratchFile {
    dir: TempDir,
    path: PathBuf,
}

impl ScratchFile {
    fn new(test_name: &str, contents: &[u8]) -> ScratchFile {
        let dir = TempDir::new(test_name);
        let path = dir.join("aggregator_config.yaml");
        fs::write(&path, contents).unwrap();
        ScratchFile { dir, path }
    }
}

fn shipped_example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("aggregator_config.yaml")
}

#[test]
fn shipped_example_loads_with_the_seed_values() {
    let config = load_file(&shipped_example()).unwrap();
    assert_eq!(config.listen_address, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(config.block_time_secs, 120);
    assert_eq!(config.upstream.name, "primary-pool");
    assert_eq!(config.upstream.url, "http://pool.example.com:8080/pocx");
    assert_eq!(config.upstream.auth, UpstreamAuth::None);
    assert_eq!(config.upstream.submission_mode, SubmissionMode::Pool);
    assert_eq!(config.cache.mining_info_ttl.as_secs(), 5);
    assert_eq!(config.cache.pool_timeout.as_secs(), 30);
    assert_eq!(config.database.path, PathBuf::from("aggregator.db"));
    assert_eq!(config.database.retention_days, 7);
    assert!(config.dashboard.enabled);
    assert_eq!(
        config.dashboard.listen_address,
        "0.0.0.0:8081".parse().unwrap()
    );
    assert_eq!(config.logging.level, log::LevelFilter::Info);
    assert_eq!(config.logging.file, Some(PathBuf::from("aggregator.log")));
}

#[test]
fn shipped_example_documents_every_default_it_uses() {
    // Commented-out optional keys must equal what leaving them out gives.
    let text = fs::read_to_string(shipped_example()).unwrap();
    let config = load_file(&shipped_example()).unwrap();
    assert!(text.contains("# verify_submissions: false") && !config.upstream.verify_submissions);
    assert!(text.contains("# forward_connections: 4") && config.upstream.forward_connections == 4);
    assert!(text.contains("# refresh_interval_ms: 1000"));
    assert_eq!(config.cache.refresh_interval.as_millis(), 1000);
    assert!(text.contains("#   workers: 4") && config.server.workers == 4);
}

#[test]
fn file_with_only_upstream_url_loads() {
    let file = ScratchFile::new(
        "only_url",
        b"upstream:\n  url: \"http://127.0.0.1:9/pocx\"\n",
    );
    let config = load_file(&file.path).unwrap();
    assert_eq!(
        config,
        Config::with_upstream_url("http://127.0.0.1:9/pocx").unwrap()
    );
    assert_eq!(config.upstream.url, "http://127.0.0.1:9/pocx");
    assert_eq!(config.block_time_secs, 120);
}

#[test]
fn missing_file_names_the_path() {
    let path = std::env::temp_dir().join("pocx_aggregator_no_such_dir/aggregator_config.yaml");
    let error = load_file(&path).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }), "{error:?}");
    let text = error.to_string();
    assert_eq!(
        text,
        format!(
            "config file {}: cannot read: No such file or directory",
            path.display()
        )
    );
}

#[test]
fn directory_is_not_a_config_file() {
    let file = ScratchFile::new("directory", b"");
    let error = load_file(file.dir.path()).unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "config file {}: cannot read: ",
            file.dir.path().display()
        )),
        "{text}"
    );
    assert!(!text.contains('\n'));
}

#[test]
fn binary_file_is_reported_not_parsed() {
    let file = ScratchFile::new("binary", &[0xff, 0xfe, 0x00, 0x41]);
    let text = load_file(&file.path).unwrap_err().to_string();
    assert!(text.ends_with("cannot read: not UTF-8 text"), "{text}");
}

#[test]
fn oversized_file_is_refused() {
    let mut contents = b"upstream:\n  url: http://h\n".to_vec();
    contents.resize(2 * 1024 * 1024, b'#');
    let file = ScratchFile::new("oversized", &contents);
    let error = load_file(&file.path).unwrap_err();
    assert!(matches!(error, ConfigError::TooLarge { .. }), "{error:?}");
}

#[test]
fn syntax_error_names_the_file() {
    let file = ScratchFile::new("syntax", b"upstream:\n  url: [\n");
    let text = load_file(&file.path).unwrap_err().to_string();
    assert!(
        text.starts_with(&format!(
            "config file {}: invalid YAML: ",
            file.path.display()
        )),
        "{text}"
    );
}

#[test]
fn value_error_in_a_file_names_the_key() {
    let file = ScratchFile::new(
        "value",
        b"upstream:\n  url: http://h\ncache:\n  pool_timeout_secs: 0\n",
    );
    let text = load_file(&file.path).unwrap_err().to_string();
    assert_eq!(
        text,
        "config key `cache.pool_timeout_secs`: must be greater than 0"
    );
}
