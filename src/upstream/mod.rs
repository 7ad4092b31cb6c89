//! Talking to the upstream pool or wallet node over JSON-RPC (blocking ureq calls): the primary
//! endpoint and, when configured, backups of the same chain.
//!
//! `error` says what can go wrong and whether a retry can help. The client of one endpoint
//! lives in `client`; `endpoints` puts the endpoints together and `failover` decides which one
//! is active; `resolver` keeps name lookups (and their threads) off the per-call path; `tls`
//! turns an endpoint's TLS settings into ureq's. Other
//! stages depend only on the [`SubmitUpstream`] trait so they can be tested against an
//! in-memory double.

pub mod client;
pub mod endpoints;
pub mod error;
pub mod failover;
pub mod resolver;
pub mod tls;

pub use client::{MiningInfo, UpstreamClient};
pub use endpoints::{Upstreams, UpstreamsView};
pub use error::UpstreamError;
pub use resolver::QuickResolver;

use crate::protocol::{NonceSubmission, SubmitAnswer};

/// Forwarding one submission upstream: one blocking call, no retries (the caller decides).
pub trait SubmitUpstream: Send + Sync + 'static {
    fn submit_nonce(&self, submission: &NonceSubmission) -> Result<SubmitAnswer, UpstreamError>;
}
