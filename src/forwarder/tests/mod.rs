//! Unit tests of the forwarder against the in-memory stand-ins of `testkit`.

mod ordering;
mod retries;
mod shutdown;

use std::time::Duration;

use crate::events::{Outcome, OutcomeRecord};

/// Generous bound for things that should happen "at once"; only a hang would exceed it.
const SOON: Duration = Duration::from_secs(3);

/// No further outcome turns up (each job has exactly one).
fn assert_no_more(rx: &crossbeam_channel::Receiver<OutcomeRecord>) {
    if let Ok(extra) = rx.recv_timeout(Duration::from_millis(100)) {
        panic!("unexpected extra outcome: {extra:?}");
    }
}

/// The record for the job with this raw quality.
fn outcome_of(records: &[OutcomeRecord], raw_quality: u64) -> &OutcomeRecord {
    let mut matching = records.iter().filter(|r| r.raw_quality == raw_quality);
    let record = matching
        .next()
        .unwrap_or_else(|| panic!("no outcome for quality {raw_quality}: {records:?}"));
    assert!(matching.next().is_none(), "two outcomes for {raw_quality}");
    record
}

fn dropped(reason: crate::events::DropReason) -> Outcome {
    Outcome::Dropped(reason)
}
