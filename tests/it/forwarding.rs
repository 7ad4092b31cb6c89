//! Integration tests: forwarding to the upstream. Which submissions go upstream in pool and
//! wallet mode, retries on transient failures and none on definitive ones, backoff timing, no
//! head-of-line blocking, rollback after a rejection, verification of real nonces, bounded
//! memory under an account flood, and the last attempt at shutdown. Every count in `/stats` is
//! checked against what the simulated upstream recorded.

pub(crate) mod kit;

mod flood;
mod modes;
mod retries;
mod rollback;
mod shutdown;
mod verification;
