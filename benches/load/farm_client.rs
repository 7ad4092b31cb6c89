//! Simulated miners for the farm scenario, on raw keep-alive connections: each polls
//! `get_mining_info` once per `POLL`, and when the block hash it is served changes, scans its
//! plots over the next ten polls, submitting `SUBMITS_PER_ROUND` times at moments drawn within
//! the scan, each quality better than its last (a miner sends only what improves on its own
//! best). The miners mine for a few accounts, as a farm's machines do for their owner's.
//!
//! A few threads each drive a share of the miners from a timetable, one blocking call at a
//! time, so thousands of miners cost the bench little CPU and leave the machine to the server
//! being measured. Calls that start late are measured (`max_lag`), not hidden. Like real
//! miners, a connection the server closes (`Connection: close`) is reopened; a fresh one left waiting in
//! tiny_http's queue is replaced. Everything stops at `until`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use super::wire::{is_timeout, open, read_answer, starved_after, CLIENT_TIMEOUT};

const POLL: Duration = Duration::from_secs(1);
const THREADS: usize = 4;
/// Submissions are spread over this many polls after a new round.
const SCAN_POLLS: u32 = 10;
/// Submissions of each miner per round.
pub const SUBMITS_PER_ROUND: usize = 3;

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

/// Who the miners are and when they run.
#[derive(Debug, Clone, Copy)]
pub struct Crowd {
    pub miners: usize,
    /// Miner `i` mines for account `i % accounts`.
    pub accounts: usize,
    /// Calls started before this are not counted.
    pub from: Instant,
    pub until: Instant,
}

/// Starts the crowd's miners against `addr`.
pub fn start_miners(addr: SocketAddr, crowd: Crowd) -> io::Result<RunningMiners> {
    let start = Instant::now();
    let handles = (0..THREADS)
        .map(|t| {
            let mine: Vec<usize> = (t..crowd.miners).step_by(THREADS).collect();
            thread::Builder::new()
                .name(format!("farm-{t}"))
                .spawn(move || drive(addr, &mine, crowd, start))
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
    account: usize,
    stream: Option<TcpStream>,
    poll: Vec<u8>,
    block_hash: String,
    /// Counts the rounds this miner has seen; a submission is due for one of them.
    round_number: u32,
    /// Raw qualities still to submit in the current round, in the order they are due.
    to_submit: VecDeque<u64>,
    round: Option<RoundFields>,
}

/// A timetable entry: a poll, or a submission for the miner's round of that number.
type Due = Reverse<(Instant, usize, Option<u32>)>;

struct RoundFields {
    block_hash: String,
    height: String,
    generation_signature: String,
    base_target: String,
}

fn drive(addr: SocketAddr, mine: &[usize], crowd: Crowd, start: Instant) -> FarmCounts {
    let Crowd {
        miners,
        accounts,
        from,
        until,
    } = crowd;
    let mut counts = FarmCounts::default();
    let mut buffer = Vec::with_capacity(4096);
    let mut farm: Vec<Miner> = mine
        .iter()
        .map(|&index| Miner {
            index,
            account: index % accounts.max(1),
            stream: None,
            poll: poll_request(addr, index),
            block_hash: String::new(),
            round_number: 0,
            to_submit: VecDeque::new(),
            round: None,
        })
        .collect();
    // First polls spread over one interval.
    let mut timetable: BinaryHeap<Due> = (0..farm.len())
        .map(|slot| {
            let offset = POLL.mul_f64(farm[slot].index as f64 / miners.max(1) as f64);
            Reverse((start + offset, slot, None))
        })
        .collect();
    while let Some(Reverse((due, slot, for_round))) = timetable.pop() {
        let submission = for_round.is_some();
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
        let request = match for_round {
            Some(number) => miner.submission(addr, number),
            None => Some(miner.poll.clone()),
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
                    for at in miner.plan_scan(ended, &round.block_hash) {
                        timetable.push(Reverse((at, slot, Some(miner.round_number))));
                    }
                }
                miner.round = Some(round);
            }
        }
        timetable.push(Reverse((due + POLL, slot, None)));
    }
    counts
}

impl Miner {
    /// A new round: when this miner's submissions fall within its scan, and their qualities,
    /// each better than the one before.
    fn plan_scan(&mut self, scan_start: Instant, block_hash: &str) -> Vec<Instant> {
        self.round_number = self.round_number.wrapping_add(1);
        let draw = |salt: usize| spread(self.index, salt, block_hash);
        let mut moments: Vec<f64> = (0..SUBMITS_PER_ROUND).map(draw).collect();
        moments.sort_by(f64::total_cmp);
        let mut qualities: Vec<u64> = (SUBMITS_PER_ROUND..2 * SUBMITS_PER_ROUND)
            .map(|salt| 1_000_000_000 + (draw(salt) * 1e9) as u64)
            .collect();
        qualities.sort_unstable_by(|a, b| b.cmp(a));
        self.to_submit = qualities.into();
        let scan = POLL * SCAN_POLLS;
        moments
            .iter()
            .map(|&m| scan_start + scan.mul_f64(m))
            .collect()
    }

    /// The next submission of round `number`; none when the miner has moved on since.
    fn submission(&mut self, addr: SocketAddr, number: u32) -> Option<Vec<u8>> {
        if number != self.round_number {
            return None;
        }
        let raw_quality = self.to_submit.pop_front()?;
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
            self.account + 1,
            "ab".repeat(32),
            self.index,
            raw_quality,
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

/// A fraction in [0, 1) fixed by the miner, the salt and the round.
fn spread(index: usize, salt: usize, block_hash: &str) -> f64 {
    let mut x = (index as u64 ^ 0x9e37_79b9_7f4a_7c15).wrapping_add((salt as u64) << 40);
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
