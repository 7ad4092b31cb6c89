//! Simulated miners for the farm scenario, on raw keep-alive connections: each polls
//! `get_mining_info` once per `POLL`, and when the block hash it is served changes, submits
//! once at a moment drawn within the next ten polls (a plot scan).
//!
//! A few threads each drive a share of the miners from a timetable, one blocking call at a
//! time, so thousands of miners cost the bench little CPU and leave the machine to the server
//! being measured. Calls that start late are measured (`max_lag`), not hidden. Like real
//! miners, a rotated connection (`Connection: close`) is reopened; a fresh one left waiting in
//! tiny_http's queue is replaced. Everything stops at `until`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use super::wire::{is_timeout, open, read_answer, starved_after, CLIENT_TIMEOUT};

const POLL: Duration = Duration::from_secs(1);
const THREADS: usize = 4;
/// Submissions are spread over this many polls after a new round.
const SCAN_POLLS: u32 = 10;

/// What the miners did (summed over threads).
#[derive(Debug, Default, Clone, Copy)]
pub struct FarmCounts {
    pub polls: u64,
    pub submits: u64,
    pub errors: u64,
    pub reconnects: u64,
    pub max_lag: Duration,
    pub max_latency: Duration,
}

impl FarmCounts {
    fn add(&mut self, other: &FarmCounts) {
        self.polls += other.polls;
        self.submits += other.submits;
        self.errors += other.errors;
        self.reconnects += other.reconnects;
        self.max_lag = self.max_lag.max(other.max_lag);
        self.max_latency = self.max_latency.max(other.max_latency);
    }
}

/// Miners running until their end time.
pub struct RunningMiners(Vec<thread::JoinHandle<FarmCounts>>);

/// Starts `miners` miners against `addr`, running until `until` and counting only calls
/// started after `from`.
pub fn start_miners(
    addr: SocketAddr,
    miners: usize,
    from: Instant,
    until: Instant,
) -> io::Result<RunningMiners> {
    let start = Instant::now();
    let handles = (0..THREADS)
        .map(|t| {
            let mine: Vec<usize> = (t..miners).step_by(THREADS).collect();
            thread::Builder::new()
                .name(format!("farm-{t}"))
                .spawn(move || drive(addr, &mine, miners, start, from, until))
        })
        .collect::<io::Result<_>>()?;
    Ok(RunningMiners(handles))
}

impl RunningMiners {
    /// Waits for the end time; the counts of every miner.
    pub fn finish(self) -> io::Result<FarmCounts> {
        let mut total = FarmCounts::default();
        for handle in self.0 {
            let counts = handle
                .join()
                .map_err(|_| io::Error::other("a miner thread panicked"))?;
            total.add(&counts);
        }
        Ok(total)
    }
}

struct Miner {
    index: usize,
    stream: Option<TcpStream>,
    poll: Vec<u8>,
    block_hash: String,
    /// When this miner's submission for the current round is due, if one is.
    submit_at: Option<Instant>,
    round: Option<RoundFields>,
}

struct RoundFields {
    block_hash: String,
    height: String,
    generation_signature: String,
    base_target: String,
}

fn drive(
    addr: SocketAddr,
    mine: &[usize],
    miners: usize,
    start: Instant,
    from: Instant,
    until: Instant,
) -> FarmCounts {
    let mut counts = FarmCounts::default();
    let mut buffer = Vec::with_capacity(4096);
    let mut farm: Vec<Miner> = mine
        .iter()
        .map(|&index| Miner {
            index,
            stream: None,
            poll: poll_request(addr, index),
            block_hash: String::new(),
            submit_at: None,
            round: None,
        })
        .collect();
    // (due, miner slot, is a submission); first polls spread over one interval.
    let mut timetable: BinaryHeap<Reverse<(Instant, usize, bool)>> = (0..farm.len())
        .map(|slot| {
            let offset = POLL.mul_f64(farm[slot].index as f64 / miners.max(1) as f64);
            Reverse((start + offset, slot, false))
        })
        .collect();
    while let Some(Reverse((due, slot, submission))) = timetable.pop() {
        if due >= until {
            break;
        }
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        let began = Instant::now();
        let counted = began >= from;
        let miner = &mut farm[slot];
        let request = if submission {
            miner.submission(addr)
        } else {
            Some(miner.poll.clone())
        };
        let Some(request) = request else {
            continue;
        };
        let outcome = call(addr, miner, &request, &mut buffer, &mut counts, counted);
        let ended = Instant::now();
        if counted {
            counts.max_lag = counts.max_lag.max(began.saturating_duration_since(due));
            counts.max_latency = counts.max_latency.max(ended - began);
            match (&outcome, submission) {
                (Some(_), false) => counts.polls += 1,
                (Some(_), true) => counts.submits += 1,
                (None, _) => counts.errors += 1,
            }
        }
        if submission {
            continue;
        }
        if let Some(body) = outcome {
            if let Some(round) = RoundFields::read(&body) {
                if round.block_hash != miner.block_hash {
                    miner.block_hash.clone_from(&round.block_hash);
                    let scan = POLL * SCAN_POLLS;
                    let at = ended + scan.mul_f64(spread(miner.index, &round.block_hash));
                    miner.submit_at = Some(at);
                    timetable.push(Reverse((at, slot, true)));
                }
                miner.round = Some(round);
            }
        }
        timetable.push(Reverse((due + POLL, slot, false)));
    }
    counts
}

impl Miner {
    fn submission(&mut self, addr: SocketAddr) -> Option<Vec<u8>> {
        self.submit_at.take()?;
        let round = self.round.as_ref()?;
        let body = format!(
            concat!(
                r#"{{"jsonrpc":"2.0","method":"submit_nonce","params":{{"block_hash":"{}","#,
                r#""height":{},"generation_signature":"{}","base_target":{},"#,
                r#""account_id":"{:040x}","seed":"{}","nonce":{},"compression":1,"#,
                r#""raw_quality":{}}},"id":1}}"#
            ),
            round.block_hash,
            round.height,
            round.generation_signature,
            round.base_target,
            self.index + 1,
            "ab".repeat(32),
            self.index,
            1_000_000_000 + (self.index as u64 * 7919) % 1_000_000_000,
        );
        Some(request(addr, self.index, &body))
    }
}

/// One call; the answer's body when it was a JSON-RPC result. Reconnects as a miner would.
fn call(
    addr: SocketAddr,
    miner: &mut Miner,
    request: &[u8],
    buffer: &mut Vec<u8>,
    counts: &mut FarmCounts,
    counted: bool,
) -> Option<String> {
    for _ in 0..20 {
        let fresh = miner.stream.is_none();
        if fresh {
            let stream = open(addr).ok()?;
            stream.set_read_timeout(Some(starved_after())).ok()?;
            miner.stream = Some(stream);
        }
        let stream = miner.stream.as_mut()?;
        let answer = stream
            .write_all(request)
            .and_then(|()| read_answer(stream, buffer));
        match answer {
            Ok(answer) => {
                if fresh {
                    let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
                }
                if answer.close {
                    miner.stream = None;
                    counts.reconnects += u64::from(counted);
                }
                let body = buffer.get(answer.body_at..).unwrap_or_default();
                return answer
                    .ok
                    .then(|| String::from_utf8_lossy(body).into_owned());
            }
            // Waiting in tiny_http's queue, or closed under us: a fresh connection.
            Err(e) if fresh && is_timeout(&e) => miner.stream = None,
            Err(_) if !fresh => miner.stream = None,
            Err(_) => return None,
        }
    }
    None
}

impl RoundFields {
    /// The four round fields of a `get_mining_info` answer (plain text search: the bench's
    /// own upstream writes them unescaped).
    fn read(body: &str) -> Option<RoundFields> {
        Some(RoundFields {
            block_hash: field(body, "block_hash")?.trim_matches('"').to_owned(),
            height: field(body, "height")?.to_owned(),
            generation_signature: field(body, "generation_signature")?
                .trim_matches('"')
                .to_owned(),
            base_target: field(body, "base_target")?.to_owned(),
        })
    }
}

/// The raw text of member `name`'s value (a string with its quotes, or a number).
fn field<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":");
    let at = body.find(&key)? + key.len();
    let rest = body.get(at..)?.trim_start();
    let end = if rest.starts_with('"') {
        rest.get(1..)?.find('"')? + 2
    } else {
        rest.find([',', '}'])?
    };
    rest.get(..end)
}

/// A fraction in [0, 1) fixed by the miner and the round.
fn spread(index: usize, block_hash: &str) -> f64 {
    let mut x = index as u64 ^ 0x9e37_79b9_7f4a_7c15;
    for b in block_hash.bytes() {
        x = (x ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn poll_request(addr: SocketAddr, index: usize) -> Vec<u8> {
    let body = r#"{"jsonrpc":"2.0","method":"get_mining_info","params":{},"id":1}"#;
    request(addr, index, body)
}

/// A miner's request: the headers a PoCX miner sends, naming the machine.
fn request(addr: SocketAddr, index: usize, body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: PoCX-Miner/bench\r\nAccept: */*\r\n\
         X-Miner: farm-miner-{index}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
