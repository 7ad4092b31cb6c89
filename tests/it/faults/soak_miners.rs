//! The miners of the fault soak: client threads, each a machine with accounts of its own, that
//! poll mining info and submit drawn qualities through the aggregator, and log every answer.
//!
//! A pause gate lets the soak move the upstream to a new round with no submission in flight:
//! `pause` returns once every submission already started has been answered, and a miner reads
//! the round it submits for only while holding the gate, so nothing is sent for a round it read
//! before a pause. Polling goes on while paused. Threads stop when the handle says so (a channel)
//! and are joined by `finish`.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use parking_lot::RwLock;
use serde_json::{json, Value};

use pocx_aggregator::sim::SimRound;
use pocx_aggregator::timebend::poc_time;

use crate::support::{account, agent_with_timeout, Farm};

/// A real miner gives up on a request after this long.
pub const MINER_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between a miner's rounds of one poll and its submissions.
const PACE: Duration = Duration::from_millis(80);
const SUBMISSIONS_PER_POLL: usize = 2;

/// One submission the aggregator answered with a result.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub height: u64,
    pub block_hash: String,
    pub account: String,
    pub quality: u64,
    /// What the aggregator answered.
    pub poc_time: u64,
}

/// What one miner saw.
#[derive(Debug, Default)]
pub struct MinerReport {
    /// In the order they were made.
    pub submitted: Vec<Submitted>,
    pub polls: u64,
    pub slowest: Duration,
    /// Requests without a proper answer in time (should stay empty).
    pub failures: Vec<String>,
}

pub struct SoakMiners {
    /// True while paused.
    gate: Arc<RwLock<bool>>,
    stop: Option<Sender<()>>,
    threads: Vec<JoinHandle<MinerReport>>,
}

impl SoakMiners {
    /// `miners` threads; miner `m` submits for accounts `10·m + 1 ..= 10·m + accounts`.
    pub fn start(url: &str, miners: u32, accounts: u32) -> SoakMiners {
        let gate = Arc::new(RwLock::new(false));
        let (stop, stopped) = bounded::<()>(0);
        let threads = (0..miners)
            .map(|m| {
                let gate = Arc::clone(&gate);
                let stopped = stopped.clone();
                let url = url.to_owned();
                let accounts: Vec<String> = (1..=accounts).map(|a| account(10 * m + a)).collect();
                std::thread::Builder::new()
                    .name(format!("soak-miner-{m}"))
                    .spawn(move || {
                        let mut miner = Miner::new(&url, m, accounts);
                        // Anything but a timeout (a stop, a dropped handle) ends the miner.
                        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(PACE) {
                            miner.one_turn(&gate);
                        }
                        miner.report
                    })
                    .unwrap()
            })
            .collect();
        SoakMiners {
            gate,
            stop: Some(stop),
            threads,
        }
    }

    /// Returns once no submission is in flight; none starts until `resume`.
    pub fn pause(&self) {
        *self.gate.write() = true;
    }

    pub fn resume(&self) {
        *self.gate.write() = false;
    }

    pub fn finish(mut self) -> Vec<MinerReport> {
        drop(self.stop.take());
        self.threads
            .drain(..)
            .map(|thread| thread.join().unwrap())
            .collect()
    }
}

struct Miner {
    agent: ureq::Agent,
    url: String,
    machine: String,
    accounts: Vec<String>,
    rng: u64,
    report: MinerReport,
}

impl Miner {
    fn new(url: &str, index: u32, accounts: Vec<String>) -> Miner {
        Miner {
            agent: agent_with_timeout(MINER_TIMEOUT),
            url: url.to_owned(),
            machine: format!("soak-rig-{index}"),
            accounts,
            rng: 0x9e37_79b9_7f4a_7c15 ^ u64::from(index + 1).wrapping_mul(0xff51_afd7_ed55_8ccd),
            report: MinerReport::default(),
        }
    }

    /// One poll and, unless paused, a few submissions for the round just read.
    fn one_turn(&mut self, gate: &RwLock<bool>) {
        let paused = gate.read();
        let info = self.call("get_mining_info", json!({}));
        self.report.polls += 1;
        if *paused {
            return;
        }
        let Some(info) = info else {
            return;
        };
        let round = SimRound {
            height: info["height"].as_u64().unwrap_or(0),
            generation_signature: info["generation_signature"].as_str().unwrap_or("").into(),
            block_hash: info["block_hash"].as_str().unwrap_or("").into(),
            base_target: info["base_target"].as_u64().unwrap_or(1),
        };
        for _ in 0..SUBMISSIONS_PER_POLL {
            let pick = self.next() % self.accounts.len() as u64;
            let account = self.accounts[pick as usize].clone();
            // 2^30 ..= 2^46: wide enough that improvements keep coming, now and then.
            let quality = (1 << 30) + self.next() % (1 << 46);
            let params = Farm::submission(&round, &account, quality);
            let Some(result) = self.call("submit_nonce", params) else {
                continue;
            };
            let expected = poc_time(quality, round.base_target, 120);
            if result["raw_quality"] != quality || result["poc_time"].as_u64() != expected {
                let what = format!("submission of {quality} answered {result}");
                self.report.failures.push(what);
                continue;
            }
            self.report.submitted.push(Submitted {
                height: round.height,
                block_hash: round.block_hash.clone(),
                account,
                quality,
                poc_time: expected.unwrap_or(u64::MAX),
            });
        }
    }

    /// One call; the `result`, or `None` with the failure logged.
    fn call(&mut self, method: &str, params: Value) -> Option<Value> {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": "soak"});
        let started = Instant::now();
        let answer = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Miner", &self.machine)
            .send(body.to_string())
            .map_err(|e| e.to_string())
            .and_then(|mut r| r.body_mut().read_to_string().map_err(|e| e.to_string()));
        let took = started.elapsed();
        self.report.slowest = self.report.slowest.max(took);
        let parsed: Option<Value> = answer
            .as_ref()
            .ok()
            .and_then(|text| serde_json::from_str(text).ok());
        match parsed {
            Some(mut value) if value.get("result").is_some() && took < MINER_TIMEOUT => {
                Some(value["result"].take())
            }
            _ => {
                let what = format!("{method} after {} ms: {answer:?}", took.as_millis());
                self.report.failures.push(what);
                None
            }
        }
    }

    /// xorshift64*: deterministic per miner.
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
