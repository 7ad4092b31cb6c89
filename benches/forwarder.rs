//! Forwarder throughput: how many submissions per second the forwarding stage drains to an
//! upstream, with 1 and 4 connections, against an upstream that answers at once and one that
//! takes 1 ms per call. Also the CPU cost of verifying one claim per compression level, which
//! bounds what `verify_submissions` can keep up with.
//!
//! A closed-loop producer keeps at most `WINDOW` jobs outstanding (as request workers would
//! under a flood) so nothing is dropped for capacity; each row runs for about one second.
//! Plain `std::time`; run with `cargo bench --bench forwarder`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use pocx_aggregator::config::SubmissionMode;
use pocx_aggregator::events::{now_ms, DropReason, ForwardJob, Outcome, OutcomeSink};
use pocx_aggregator::forwarder::{ForwardGate, Forwarder, ForwarderConfig};
use pocx_aggregator::protocol::{NonceSubmission, SubmitAnswer};
use pocx_aggregator::upstream::{SubmitUpstream, UpstreamError};
use pocx_aggregator::verify::recompute_quality;

const RUN_FOR: Duration = Duration::from_secs(1);
/// Jobs the producer keeps outstanding.
const WINDOW: usize = 512;

/// An upstream that accepts everything after `latency`.
struct MemoryUpstream {
    latency: Duration,
}

impl SubmitUpstream for MemoryUpstream {
    fn submit_nonce(&self, submission: &NonceSubmission) -> Result<SubmitAnswer, UpstreamError> {
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
        Ok(SubmitAnswer {
            raw_quality: Some(submission.raw_quality),
            poc_time: Some(30),
        })
    }
}

/// A gate that lets everything through.
struct OpenGate;

impl ForwardGate for OpenGate {
    fn still_worth_forwarding(&self, _job: &ForwardJob) -> Result<(), DropReason> {
        Ok(())
    }
    fn accepted(&self, _job: &ForwardJob) {}
    fn rejected(&self, _job: &ForwardJob, _code: i64) -> Option<ForwardJob> {
        None
    }
}

fn template() -> ForwardJob {
    ForwardJob {
        submission: NonceSubmission {
            block_hash: "ab".repeat(32),
            height: 1000,
            generation_signature: "cd".repeat(32),
            base_target: 36_650_387_592,
            account_id: "11".repeat(20),
            seed: "5a".repeat(32),
            nonce: 0,
            compression: 1,
            raw_quality: 0,
        },
        machine: Arc::from("bench"),
        poc_time: 60,
        received_ms: now_ms(),
    }
}

struct Row {
    accepted: u64,
    other: u64,
    elapsed: Duration,
}

fn drain_rate(connections: usize, latency: Duration) -> Row {
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<bool>();
    let sink: OutcomeSink = Arc::new(move |record| {
        let _ = done_tx.send(matches!(record.outcome, Outcome::Accepted { .. }));
    });
    let cfg = ForwarderConfig {
        mode: SubmissionMode::Pool,
        connections,
        queue_capacity: 4 * WINDOW,
        ..ForwarderConfig::default()
    };
    let forwarder = Forwarder::spawn(
        cfg,
        Arc::new(MemoryUpstream { latency }),
        Arc::new(OpenGate),
        sink,
    )
    .expect("threads start");
    let base = template();
    let mut row = Row {
        accepted: 0,
        other: 0,
        elapsed: Duration::ZERO,
    };
    let started = Instant::now();
    let mut submitted = 0u64;
    while started.elapsed() < RUN_FOR {
        let finished = row.accepted + row.other;
        let outstanding = usize::try_from(submitted - finished).unwrap_or(usize::MAX);
        for _ in outstanding..WINDOW {
            let mut job = base.clone();
            submitted += 1;
            job.submission.nonce = submitted;
            job.submission.raw_quality = submitted;
            forwarder.submit(job);
        }
        collect(&done_rx, &mut row, WINDOW / 2);
    }
    // Let the tail finish so every submitted job is counted.
    while row.accepted + row.other < submitted {
        collect(&done_rx, &mut row, 1);
    }
    row.elapsed = started.elapsed();
    forwarder.shutdown();
    row
}

/// Waits for at least `at_least` outcomes (or a second, whichever comes first).
fn collect(done: &Receiver<bool>, row: &mut Row, at_least: usize) {
    let give_up = Instant::now() + Duration::from_secs(1);
    for _ in 0..at_least {
        match done.recv_deadline(give_up) {
            Ok(true) => row.accepted += 1,
            Ok(false) => row.other += 1,
            Err(_) => return,
        }
    }
    for accepted in done.try_iter() {
        if accepted {
            row.accepted += 1;
        } else {
            row.other += 1;
        }
    }
}

fn main() {
    println!(
        "forwarder drain rate ({} s per row, {WINDOW} outstanding)",
        RUN_FOR.as_secs()
    );
    println!(
        "{:<22} {:>11} {:>9} {:>8} {:>12}",
        "upstream", "connections", "accepted", "other", "forwards/s"
    );
    for (label, latency) in [
        ("answers at once", Duration::ZERO),
        ("1 ms per call", Duration::from_millis(1)),
    ] {
        for connections in [1, 4] {
            let row = drain_rate(connections, latency);
            let rate = row.accepted as f64 / row.elapsed.as_secs_f64();
            println!(
                "{label:<22} {connections:>11} {:>9} {:>8} {rate:>12.0}",
                row.accepted, row.other
            );
        }
    }

    println!();
    println!("verification cost per claim (one pocx_hashlib call)");
    println!("{:<12} {:>10}", "compression", "ms");
    let mut claim = template().submission;
    for compression in 0..=2u8 {
        claim.compression = compression;
        let started = Instant::now();
        let quality = recompute_quality(&claim, 6);
        let took = started.elapsed();
        assert!(quality.is_ok(), "verification failed: {quality:?}");
        println!("{compression:<12} {:>10.1}", took.as_secs_f64() * 1000.0);
    }
}
