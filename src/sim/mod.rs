//! The simulation: a scriptable PoCX upstream and a crowd of simulated miners.
//!
//! `pocx_aggregator --demo` runs the aggregator between the two; the integration tests and the
//! benchmarks use [`SimUpstream`] as the fake upstream they can make fail on cue and
//! [`SimMiners`] as the load. Everything listens on or talks to 127.0.0.1 only unless given
//! another address, and says "simulated"/"simulation" in its log lines.
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
pub(crate) mod farm;
mod held_port;
pub(crate) mod http1;
mod listener;
mod miners;
pub(crate) mod rng;
mod service;
mod upstream;

#[cfg(test)]
mod behaviour_tests;
#[cfg(test)]
mod miners_tests;
#[cfg(test)]
mod upstream_tests;

pub use chain::{SimRound, GENESIS_BASE_TARGET_120};
pub use miners::{MinerStats, SimMiners, SimMinersConfig};
pub use service::{Behaviour, RecordedAnswer, RecordedSubmission, SUBMISSION_HISTORY};
pub use upstream::{SimUpstream, SimUpstreamConfig};
