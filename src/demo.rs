//! `--demo`: the aggregator between a simulated upstream and simulated miners, all in-process.
//!
//! Builds a configuration that needs nothing from the machine (miners on 127.0.0.1:8080,
//! dashboard on 127.0.0.1:8081, history in the system temp directory), starts the simulated
//! upstream before the aggregator and the miners after it. Everything it starts is labelled a
//! simulation. It does not touch the user's `aggregator_config.yaml`.
//!
//! Each run starts on a fresh history: the simulated chain walks the same rounds from height 1
//! every time, so an earlier run's history would hold the very heights and block hashes this
//! run is about to mine, with bests no miner of this run submitted (the store keys its rows by
//! height). Going on with the chain instead would need the simulator to keep its state.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::config::{Config, DashboardSettings};
use crate::sim::{
    SimMiners, SimMinersConfig, SimUpstream, SimUpstreamConfig, GENESIS_BASE_TARGET_120,
};

/// A new simulated round this often.
const ROUND_INTERVAL: Duration = Duration::from_secs(20);
const MINERS: usize = 6;

pub struct Demo {
    pub config: Config,
    upstream: SimUpstream,
}

impl Demo {
    /// Starts the simulated upstream and builds the aggregator's configuration around it.
    pub fn prepare() -> io::Result<Demo> {
        let upstream = SimUpstream::start(SimUpstreamConfig {
            round_interval: Some(ROUND_INTERVAL),
            // A network of about 500 TiB, so the simulated farm's share looks plausible.
            base_target: GENESIS_BASE_TARGET_120 / 500,
            ..SimUpstreamConfig::default()
        })?;
        let mut config = Config::with_upstream_url(&upstream.url())
            .map_err(|e| io::Error::other(e.to_string()))?;
        config.upstream.name = "simulated-upstream".into();
        config.listen_address = SocketAddr::from(([127, 0, 0, 1], 8080));
        config.dashboard = DashboardSettings {
            enabled: true,
            listen_address: SocketAddr::from(([127, 0, 0, 1], 8081)),
            auth: None,
        };
        config.server.stats_on_miner_port = false;
        config.database.path = std::env::temp_dir().join("pocx_aggregator-demo.db");
        fresh_history(&config.database.path)?;
        config.logging.file = None;
        Ok(Demo { config, upstream })
    }

    /// Starts the simulated miners against the running aggregator at `miner_addr`.
    pub fn start_miners(&self, miner_addr: SocketAddr) -> SimMiners {
        SimMiners::start(SimMinersConfig {
            aggregator_url: format!("http://{miner_addr}/"),
            miners: MINERS,
            accounts_per_miner: 2,
            poll_interval: Duration::from_secs(1),
            submits_per_round: 4,
            machine_names: Some("sim-miner".into()),
            seed: 7,
        })
    }

    pub fn shutdown(self) {
        self.upstream.shutdown();
    }
}

/// Removes the database at `path` with its write-ahead log and shared-memory files.
fn fresh_history(path: &Path) -> io::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_starts_on_a_fresh_history() {
        let dir = std::env::temp_dir().join(format!("pocx-demo-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("demo.db");
        let writer = crate::store::StoreWriter::spawn(&db, 0, 100).unwrap();
        writer.shutdown();
        std::fs::write(dir.join("demo.db-wal"), b"x").unwrap();
        let kept = dir.join("other.db");
        std::fs::write(&kept, b"x").unwrap();
        fresh_history(&db).unwrap();
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(left, ["other.db"]);
        fresh_history(&db).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
