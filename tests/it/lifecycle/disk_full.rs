//! The disk holding the history database fills up at run time: miners are still served, the
//! failure shows in `/health` and in the log, and the rows kept meanwhile are written once space
//! comes back.
//!
//! The database lives on a small tmpfs mounted for the test (this needs the privilege to mount;
//! without it the test says loudly that it was skipped). A filler file takes the rest of the
//! space; deleting it gives the space back.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pocx_aggregator::sim::{SimUpstream, SimUpstreamConfig};

use super::{call, integrity, stored_submissions, Aggregator};
use crate::support::{account, agent_with_timeout, eventually, Farm, TempDir};

/// Room for the schema and a first batch, not for what the test writes afterwards.
const DISK_SIZE: &str = "2m";
/// Distinct rows written while the disk is full: far more than the write-ahead log's size at
/// that point, so the writes cannot reuse space the log already holds.
const ROWS_WHILE_FULL: u64 = 3_000;

/// A tmpfs mounted on a directory, unmounted on drop.
struct TinyDisk {
    mount_point: PathBuf,
}

impl TinyDisk {
    fn mount(mount_point: &Path, size: &str) -> Result<TinyDisk, String> {
        fs::create_dir_all(mount_point).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(mount_point)
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        Ok(TinyDisk {
            mount_point: mount_point.to_path_buf(),
        })
    }

    /// Writes a file until the disk refuses more; returns its path and size.
    fn fill(&self) -> (PathBuf, u64) {
        let path = self.mount_point.join("filler");
        let mut file = fs::File::create(&path).unwrap();
        let mut written = 0u64;
        for chunk in [64 * 1024, 4 * 1024, 512] {
            let block = vec![0xa5u8; chunk];
            // Bounded: the disk is a few MiB.
            for _ in 0..100_000 {
                if file.write_all(&block).and_then(|()| file.flush()).is_err() {
                    break;
                }
                written += chunk as u64;
            }
        }
        (path, written)
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .status();
    }
}

fn health(aggregator: &Aggregator) -> serde_json::Value {
    aggregator.get("/health")
}

#[test]
fn disk_full_keeps_miners_served_shows_in_health_and_log_and_writes_resume() {
    let dir = TempDir::new("disk-full");
    let disk = match TinyDisk::mount(&dir.path().join("disk"), DISK_SIZE) {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!(
                "\n!!! SKIPPED disk_full test: cannot mount a tmpfs here ({}). The disk-full \
                 path is NOT exercised. !!!\n",
                why.trim()
            );
            return;
        }
    };
    let upstream = SimUpstream::start(SimUpstreamConfig::default()).unwrap();
    let db = disk.mount_point.join("aggregator.db");
    let (mut aggregator, _) = Aggregator::start(dir.path(), &upstream.url(), &db);
    let round = upstream.current_round();
    let agent = agent_with_timeout(Duration::from_secs(5));
    let submit = |n: u64| {
        // Distinct accounts and machines: every one is a new row.
        let index = u32::try_from(n % 50_000).unwrap() + 1;
        let params = Farm::submission(&round, &account(index), 9_000_000 + n);
        let machine = format!("rig-{n}");
        let started = Instant::now();
        let answer = call(
            &agent,
            &aggregator.url,
            "submit_nonce",
            params,
            Some(&machine),
        );
        let answer = answer.unwrap();
        assert!(answer["result"]["poc_time"].is_u64(), "{answer}");
        started.elapsed()
    };

    for n in 0..20 {
        submit(n);
    }
    assert!(eventually(Duration::from_secs(10), || stored_submissions(
        &db
    ) == 20));
    assert_eq!(health(&aggregator)["store_ok"], true);

    let (filler, filler_bytes) = disk.fill();
    let mut slowest = Duration::ZERO;
    for n in 20..20 + ROWS_WHILE_FULL {
        slowest = slowest.max(submit(n));
    }
    let total = 20 + ROWS_WHILE_FULL;
    // A miner gives up after 5 s: every answer came well within that.
    assert!(
        slowest < Duration::from_secs(5),
        "slowest answer {slowest:?}"
    );
    let mut seen_failing = serde_json::Value::Null;
    let failing = eventually(Duration::from_secs(10), || {
        seen_failing = health(&aggregator);
        seen_failing["store_ok"] == false
    });
    assert!(
        failing,
        "the store never reported the full disk: {seen_failing}"
    );
    let error = seen_failing["store_last_error"].as_str().unwrap_or("");
    assert!(error.contains("full"), "{seen_failing}");
    assert_eq!(seen_failing["status"], "degraded", "{seen_failing}");
    // Still serving while it fails.
    let info = call(
        &agent,
        &aggregator.url,
        "get_mining_info",
        serde_json::json!({}),
        None,
    );
    assert_eq!(info.unwrap()["result"]["height"], round.height);
    let log = aggregator.log_text();
    assert!(log.contains("history write failed"), "{log}");

    fs::remove_file(&filler).unwrap();
    let space_back = Instant::now();
    let recovered = eventually(Duration::from_secs(15), || {
        health(&aggregator)["store_ok"] == true
    });
    let resumed_after = space_back.elapsed();
    assert!(recovered, "writes did not resume: {}", health(&aggregator));
    let written = eventually(Duration::from_secs(5), || stored_submissions(&db) == total);
    let stored = stored_submissions(&db);
    println!(
        "disk full: filler {filler_bytes} bytes; {ROWS_WHILE_FULL} submissions answered while \
         full (slowest {} ms); store error {error:?}; writes resumed {} ms after space came \
         back; {stored} of {total} stored",
        slowest.as_millis(),
        resumed_after.as_millis()
    );
    assert!(written, "{stored} of {total} submissions stored");
    assert!(aggregator.log_text().contains("history writes recovered"));

    let (_, status) = aggregator.terminate();
    assert_eq!(status.code(), Some(0));
    assert_eq!(integrity(&db), "ok");
}
