//! `--demo`: the aggregator between a simulated upstream and simulated miners, all in-process.
//!
//! Builds a configuration that needs nothing from the machine (miners on 127.0.0.1:8080,
//! dashboard on 127.0.0.1:8081, history in the system temp directory), starts the simulated
//! upstream before the aggregator and the miners after it. Everything it starts is labelled a
//! simulation. It does not touch the user's `aggregator_config.yaml`.

use std::io;
use std::net::SocketAddr;
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
