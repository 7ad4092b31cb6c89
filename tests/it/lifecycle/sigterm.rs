//! SIGTERM in the middle of a burst: a prompt, clean exit that keeps every answered submission.

use std::time::Duration;

use pocx_aggregator::sim::{SimUpstream, SimUpstreamConfig};

use super::{integrity, stored_submissions, Aggregator, Burst};
use crate::support::TempDir;

#[test]
fn sigterm_mid_burst_exits_cleanly_within_2_s_and_keeps_answered_submissions() {
    let upstream = SimUpstream::start(SimUpstreamConfig::default()).unwrap();
    let dir = TempDir::new("sigterm");
    let db = dir.path().join("aggregator.db");
    let (mut aggregator, ready_after) = Aggregator::start(dir.path(), &upstream.url(), &db);

    let burst = Burst::start(&aggregator.url, &upstream.current_round(), 4, 5);
    let warmed_up = super::eventually(Duration::from_secs(20), || burst.answered() >= 300);
    assert!(warmed_up, "the burst got only {} answers", burst.answered());
    let answered_before_signal = burst.answered();
    let (exit_after, status) = aggregator.terminate();
    let (answered, sent) = burst.finish();

    let stored = stored_submissions(&db);
    println!(
        "SIGTERM: ready after {} ms; {answered_before_signal} submissions answered before the \
         signal, {answered} in all ({sent} sent); exit after {} ms with {status}; {stored} in the \
         database",
        ready_after.as_millis(),
        exit_after.as_millis()
    );
    assert_eq!(status.code(), Some(0), "{}", aggregator.log_text());
    assert!(
        exit_after < Duration::from_secs(2),
        "exit took {exit_after:?}"
    );
    assert_eq!(integrity(&db), "ok");
    // Every answered submission was recorded before its answer was written, and shutdown
    // flushes the store: all of them are in the file, and nothing that was never sent.
    assert!(
        stored >= answered,
        "{stored} stored, {answered} answered ({answered_before_signal} before the signal)"
    );
    assert!(stored <= sent, "{stored} stored, only {sent} sent");
    let log = aggregator.log_text();
    assert!(log.contains("stop requested"), "{log}");
    assert!(log.contains("stopped in"), "{log}");
}
