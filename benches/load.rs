//! End-to-end load bench: the aggregator against a simulated upstream, on 127.0.0.1 only.
//!
//! 1. Throughput: N keep-alive connections (100 and 1000) driven by a few client threads, one
//!    request in flight per connection, for `get_mining_info` and a `submit_nonce` mix (mostly
//!    not better than the best so far, one in 20 improving). Requests per second, latency
//!    percentiles, the server's CPU time per request and its memory — and the same load on a
//!    bare tiny_http server answering a constant body with as many workers: the ceiling for this
//!    design, with the aggregator's ratio to it.
//! 2. Farm: 1,000 and 5,000 simulated miners polling once per second; the aggregator's CPU
//!    share of one core and its memory.
//! 3. The binary: size, start to first served request, idle memory.
//! 4. Attack: a request head that never ends, from one connection and from ten, against both
//!    servers; their peak memory growth and a polling miner's slowest answer meanwhile.
//!
//! Servers run in child processes (this binary again, see `servers`), so `/proc/<pid>` shows
//! their own memory and CPU time only. Figures are printed, never asserted. Arguments select
//! sections (`throughput`, `farm`, `binary`, `attack`) and narrow the rows (sizes such as `100` or
//! `5000`; `bare`, `gmi`, `submit`, `agg`); none runs everything, in well under two minutes.
//! For profiling: `POCX_LOAD_SERVER_WRAPPER="valgrind --tool=callgrind ..."` starts the server
//! children under that command (and prints how many requests each answered in all, to divide
//! by); `POCX_LOAD_FARM_SECS` lengthens the farm's measuring window; `POCX_LOAD_BATCH_MS` sets
//! the aggregator's history batch window (`database.batch_ms`).

#[path = "load/attack.rs"]
mod attack;
#[path = "load/binary.rs"]
mod binary;
#[path = "load/client.rs"]
mod client;
#[path = "load/farm.rs"]
mod farm;
#[path = "load/farm_client.rs"]
mod farm_client;
#[path = "load/procfs.rs"]
mod procfs;
#[path = "load/report.rs"]
mod report;
#[path = "load/requests.rs"]
mod requests;
#[path = "load/servers.rs"]
mod servers;
#[path = "../src/testkit.rs"]
mod testkit;
#[path = "load/wire.rs"]
mod wire;

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::Duration;

use pocx_aggregator::config::defaults;
use pocx_aggregator::sim::{SimUpstream, SimUpstreamConfig};

use client::LoadShape;
use report::{Row, Summary};
use requests::{Round, Workload};
use servers::ServerProcess;

const CLIENT_THREADS: usize = 4;
/// Throughput rows run this many times, interleaved; the best run of each is shown.
const ROUNDS: usize = 2;
const CONNECTIONS: [usize; 2] = [100, 1000];
const FARMS: [usize; 2] = [1_000, 5_000];
/// What the bare server answers to submissions: an answer of the aggregator's size.
const BARE_SUBMIT_ANSWER: &str =
    r#"{"jsonrpc":"2.0","id":1,"result":{"poc_time":37,"raw_quality":4999999999999999}}"#;
pub const GET_MINING_INFO: &str =
    r#"{"jsonrpc":"2.0","method":"get_mining_info","params":{},"id":1}"#;

/// The number in environment variable `name`, when it is set and reads as one.
pub fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.parse().ok()
}

fn main() {
    if let Ok(role) = std::env::var(servers::ROLE_VAR) {
        if let Err(e) = servers::run_role(&role) {
            eprintln!("load bench {role}: {e}");
            std::process::exit(1);
        }
        return;
    }
    let sections: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let sections_given = sections
        .iter()
        .any(|s| ["throughput", "farm", "binary", "attack"].contains(&s.as_str()));
    let wanted = |name: &str| !sections_given || sections.iter().any(|s| s == name);
    let rows = RowFilter::from_args(&sections);
    let workers = usize::try_from(defaults::WORKERS).unwrap_or(4);
    println!(
        "machine: {} CPUs, load average {} at start",
        procfs::cpus(),
        procfs::load_average().unwrap_or_default()
    );
    let mut summary = Summary::default();
    let outcome = (|| -> io::Result<()> {
        let upstream = SimUpstream::start(SimUpstreamConfig::default())?;
        if wanted("throughput") {
            throughput(&upstream, workers, &rows, &mut summary)?;
        }
        if wanted("farm") {
            farms(workers, &rows, &mut summary)?;
        }
        if wanted("binary") {
            binary_figures(&upstream, workers, &mut summary)?;
        }
        if wanted("attack") {
            attacks(&upstream, workers)?;
        }
        Ok(())
    })();
    summary.print();
    println!(
        "load average {} at end",
        procfs::load_average().unwrap_or_default()
    );
    if let Err(e) = outcome {
        eprintln!("load bench failed: {e}");
        std::process::exit(1);
    }
}

/// Waits (at most 5 s) until `addr` answers `get_mining_info` with a result.
pub fn wait_until_serving(addr: SocketAddr) -> io::Result<()> {
    let patience = if servers::profiled() { 60 } else { 5 };
    let serving = testkit::eventually(Duration::from_secs(patience), || {
        wire::post(addr, GET_MINING_INFO).is_ok_and(|(answer, _)| answer.ok)
    });
    if serving {
        Ok(())
    } else {
        Err(io::Error::other(format!("{addr} serves no mining info")))
    }
}

/// Which throughput rows to run (all unless narrowed by arguments).
struct RowFilter {
    /// No size given: every connection count and farm size runs.
    any_size: bool,
    connections: Vec<usize>,
    kinds: Vec<String>,
}

impl RowFilter {
    fn from_args(args: &[String]) -> RowFilter {
        let connections: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
        let kinds: Vec<String> = args
            .iter()
            .filter(|a| ["bare", "gmi", "submit", "agg"].contains(&a.as_str()))
            .cloned()
            .collect();
        RowFilter {
            any_size: connections.is_empty(),
            connections: if connections.is_empty() {
                CONNECTIONS.to_vec()
            } else {
                connections
            },
            kinds,
        }
    }

    fn runs(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind)
    }
}

fn throughput(
    upstream: &SimUpstream,
    workers: usize,
    filter: &RowFilter,
    summary: &mut Summary,
) -> io::Result<()> {
    let sim = upstream.current_round();
    let round = Round {
        height: sim.height,
        block_hash: sim.block_hash,
        generation_signature: sim.generation_signature,
        base_target: sim.base_target,
    };
    // The bare server answers what the aggregator would: the upstream's mining info.
    let (_, bare_body) = wire::post(upstream.addr(), GET_MINING_INFO)?;
    report::throughput_header(workers, CLIENT_THREADS, ROUNDS, requests::IMPROVE_EVERY);
    for &connections in &filter.connections {
        let shape = LoadShape {
            connections,
            threads: CLIENT_THREADS,
            window_per_thread: connections.div_ceil(CLIENT_THREADS),
            warmup: Duration::from_secs(1),
            measure: Duration::from_millis(2500),
        };
        // Interleaved rounds, the best of each kept: other work on the machine only ever
        // slows a run down.
        let mut best: [Option<Row>; 4] = [None, None, None, None];
        for _ in 0..ROUNDS {
            for (slot, kind) in ["bare", "gmi", "submit", "bare-submit"]
                .into_iter()
                .enumerate()
            {
                if !kind.split('-').all(|part| filter.runs(part)) {
                    continue;
                }
                let submit = Workload::Submit(round.clone());
                let row = match kind {
                    "bare" => {
                        let bare = ServerProcess::bare(&bare_body, workers)?;
                        measure_row("bare", &Workload::MiningInfo, &shape, bare)?
                    }
                    // The same submissions to a server that does nothing with them: what
                    // tiny_http alone costs for requests of this size.
                    "bare-submit" => {
                        let bare = ServerProcess::bare(BARE_SUBMIT_ANSWER, workers)?;
                        measure_row("bare", &submit, &shape, bare)?
                    }
                    _ => {
                        let workload = if kind == "gmi" {
                            Workload::MiningInfo
                        } else {
                            submit
                        };
                        let server = ServerProcess::aggregator(&upstream.url(), workers)?;
                        wait_until_serving(server.addr)?;
                        measure_row("aggregator", &workload, &shape, server)?
                    }
                };
                let rate = |r: &Option<Row>| r.as_ref().map_or(-1.0, |r| r.report.per_second());
                if row.report.per_second() > rate(&best[slot]) {
                    best[slot] = Some(row);
                }
            }
        }
        report::throughput_rows(best, summary);
    }
    Ok(())
}

fn measure_row(
    label: &'static str,
    workload: &Workload,
    shape: &LoadShape,
    server: ServerProcess,
) -> io::Result<Row> {
    let (mut cpu_start, mut threads_start) = (Duration::ZERO, Vec::new());
    let (mut cpu_end, mut threads_end) = (Duration::ZERO, Vec::new());
    let report = client::run_load(
        server.addr,
        workload,
        shape,
        || (cpu_start, threads_start) = (server.cpu_time(), procfs::thread_cpu(server.pid())),
        || (cpu_end, threads_end) = (server.cpu_time(), procfs::thread_cpu(server.pid())),
    );
    let (rss_kib, hwm_kib, threads) = server.memory();
    server.stop();
    let report = report?;
    if servers::profiled() {
        println!("({label}: {} answers in all)", report.all_answers);
    }
    let cpu = cpu_end.saturating_sub(cpu_start).as_secs_f64();
    let per_request = |ran: Duration| ran.as_secs_f64() * 1e6 / report.requests.max(1) as f64;
    Ok(Row {
        server: label,
        method: workload.label(),
        connections: shape.connections,
        cpu_us_per_request: cpu * 1e6 / report.requests.max(1) as f64,
        cpu_us_by_kind: procfs::cpu_by_kind(&threads_start, &threads_end)
            .into_iter()
            .map(|(kind, ran)| (kind, per_request(ran)))
            .collect(),
        report,
        rss_kib,
        hwm_kib,
        threads,
    })
}

fn farms(workers: usize, filter: &RowFilter, summary: &mut Summary) -> io::Result<()> {
    report::farm_header(
        farm::farm_accounts(),
        farm_client::SUBMITS_PER_ROUND,
        farm::measure_window(),
    );
    let runs = FARMS.into_iter().flat_map(|m| [(m, true), (m, false)]);
    for (miners, bare) in runs {
        let kind = if bare { "bare" } else { "agg" };
        if !filter.runs(kind) || !(filter.any_size || filter.connections.contains(&miners)) {
            continue;
        }
        let f = farm::run_farm(miners, workers, bare)?;
        report::farm_row(&f, summary);
    }
    report::farm_capacity(summary);
    Ok(())
}

fn attacks(upstream: &SimUpstream, workers: usize) -> io::Result<()> {
    report::attack_header(attack::LINE_BYTES);
    let (_, bare_body) = wire::post(upstream.addr(), GET_MINING_INFO)?;
    for kind in ["bare", "aggregator"] {
        for attackers in [1, 10] {
            // A fresh server for each, so its peak is its own.
            let server = if kind == "bare" {
                ServerProcess::bare(&bare_body, workers)?
            } else {
                ServerProcess::aggregator(&upstream.url(), workers)?
            };
            wait_until_serving(server.addr)?;
            thread::sleep(Duration::from_millis(500));
            let report = attack::run_attack(&server, attackers)?;
            report::attack_row(kind, &report);
            server.stop();
        }
    }
    Ok(())
}

fn binary_figures(upstream: &SimUpstream, workers: usize, summary: &mut Summary) -> io::Result<()> {
    let path = Path::new(env!("CARGO_BIN_EXE_pocx_aggregator"));
    let b = binary::measure(path, &upstream.url())?;
    // The bare server answering the upstream's mining info, idle as long as the binary was.
    let (_, bare_body) = wire::post(upstream.addr(), GET_MINING_INFO)?;
    let bare = ServerProcess::bare(&bare_body, workers)?;
    wait_until_serving(bare.addr)?;
    thread::sleep(binary::IDLE_SETTLE);
    let (bare_idle_rss_kib, _, _) = bare.memory();
    bare.stop();
    report::binary(&b, bare_idle_rss_kib, summary);
    Ok(())
}
