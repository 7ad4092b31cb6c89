//! The simulation: a scriptable PoCX upstream and a crowd of simulated miners.
//!
//! `pocx_aggregator --demo` runs the aggregator between the two; the integration tests and the
//! benchmarks use [`SimUpstream`] as the fake upstream they can make fail on cue and
//! [`SimMiners`] as the load. The re-exports below are its whole public surface (the modules
//! are private), and no stage of the aggregator uses it. Everything listens on or talks to
//! 127.0.0.1 only unless given another address, and says "simulated"/"simulation" in its log
//! lines.
//!
//! - `upstream`: the control handle, the listener's lifecycle (`Refuse` stops it and keeps
//!   the port with `held_port`) and the round timer; `listener` owns the sockets and their
//!   threads; `http1` reads and writes the HTTP; `service` decides each answer; `chain` is the
//!   round state and the submission checks.
//! - `miners`: simulated miners polling and submitting over keep-alive connections, many
//!   miners per thread (`driver`); `farm` generates their accounts and qualities.
//! - `rng`: the deterministic generator behind every simulated value.
//!
//! It does not verify nonces (no plots exist): qualities are drawn, and the upstream believes
//! them.

mod chain;
mod driver;
mod farm;
mod held_port;
// The upstream client's unit tests read requests the way the simulated upstream does.
#[cfg(not(test))]
mod http1;
#[cfg(test)]
pub(crate) mod http1;
mod listener;
mod miners;
mod rng;
mod service;
mod upstream;

#[cfg(test)]
mod behaviour_tests;
#[cfg(test)]
mod miners_tests;
#[cfg(test)]
mod upstream_tests;

// The facade: everything `--demo`, the integration tests and the benches use.
pub use chain::{SimRound, GENESIS_BASE_TARGET_120};
pub use miners::{MinerStats, SimMiners, SimMinersConfig};
pub use service::{Behaviour, RecordedAnswer, RecordedSubmission};
pub use upstream::{SimUpstream, SimUpstreamConfig};

// Simulated qualities for the alert estimators' unit tests.
#[cfg(test)]
pub(crate) use farm::round_best;
#[cfg(test)]
pub(crate) use rng::SimRng;
