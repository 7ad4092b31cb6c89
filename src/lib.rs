//! pocx_aggregator: one mining-info cache and one filtered upstream link for a farm of PoCX
//! miners. See ARCHITECTURE.md for the map; `app` wires the stages together.

pub mod alerts;
pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod events;
pub mod filter;
pub mod forwarder;
pub mod handlers;
pub mod history;
pub mod http;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod observability;
pub mod protocol;
pub mod rpc;
pub mod server;
pub mod signals;
pub mod sim;
pub mod stats;
pub mod store;
pub mod submission;
pub mod threads;
pub mod timebend;
pub mod upstream;
pub mod verify;

#[cfg(test)]
mod testkit;
