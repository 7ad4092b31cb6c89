//! The one integration-test binary: every area in its own module, all on 127.0.0.1 port 0.

mod support;

mod alerts;
mod browser;
mod cache;
mod chain;
mod cli;
mod config_file;
mod dashboard;
mod edge;
mod endpoints;
mod failover;
mod faults;
mod forwarding;
mod history;
mod hostile;
mod lifecycle;
mod rpc;
mod server;
mod service;
mod stats;
mod store;
mod submit;
mod tls;
