//! The printed tables, and the closing comparison of the figures with their targets.
//!
//! Targets are reported, never asserted: a shared machine makes any single run noisy. The
//! CPU time per request (`cpu us`) is the steadiest throughput figure; requests per second
//! and latencies move with whatever else the machine is doing.

use std::time::Duration;

use super::attack::AttackReport;
use super::binary::BinaryReport;
use super::client::LoadReport;
use super::farm::FarmReport;

/// One throughput row (the best of its interleaved runs).
pub struct Row {
    pub server: &'static str,
    pub method: &'static str,
    pub connections: usize,
    pub report: LoadReport,
    pub cpu_us_per_request: f64,
    /// The CPU time per request split by kind of thread, largest first.
    pub cpu_us_by_kind: Vec<(&'static str, f64)>,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub threads: u64,
}

/// The figures the targets speak of, as far as the sections run produced them.
#[derive(Default)]
pub struct Summary {
    /// (by requests per second, by CPU time per request)
    mining_info_of_bare_100: Option<(f64, f64)>,
    submit_of_mining_info_100: Option<(f64, f64)>,
    /// What the bigger requests alone cost tiny_http: bare with submissions / bare.
    bare_submit_of_bare_100: Option<(f64, f64)>,
    p99_ms_100: Option<(f64, f64)>,
    hwm_1000: Option<(u64, u64)>,
    farm_1000_share: Option<f64>,
    farm_largest: usize,
    miners_per_core: Option<f64>,
    mib_per_1000_miners: Option<f64>,
    idle_rss_kib: Option<u64>,
    stripped_size: Option<u64>,
    start: Option<Duration>,
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub fn throughput_header(workers: usize, clients: usize, rounds: usize, improve_every: u64) {
    println!(
        "\nthroughput: {workers} workers, {clients} client threads, one request in flight per \
         connection, 2.5 s measured, best of {rounds}; submit_nonce mix: 1 in {improve_every} \
         improving"
    );
    println!(
        "{:<10} {:<15} {:>5} {:>8} {:>6} {:>7} {:>7} {:>7} {:>6} {:>6} {:>7} {:>7} {:>7} {:>6}  ratio",
        "server",
        "method",
        "conns",
        "req/s",
        "errors",
        "p50 ms",
        "p99 ms",
        "max ms",
        "closed",
        "starve",
        "cpu us",
        "RSS MiB",
        "HWM MiB",
        "thrds"
    );
}

/// Prints the bare, get_mining_info and submit_nonce rows of one connection count.
pub fn throughput_rows(rows: [Option<Row>; 4], summary: &mut Summary) {
    let rate = |r: &Option<Row>| r.as_ref().map_or(f64::NAN, |r| r.report.per_second());
    let (ceiling, mining_info) = (rate(&rows[0]), rate(&rows[1]));
    let submit_ceiling = rate(&rows[3]);
    let [bare, gmi, submit, bare_submit] = rows;
    let connections = [&bare, &gmi, &submit, &bare_submit]
        .into_iter()
        .flatten()
        .map(|r| r.connections)
        .next();
    if let Some(row) = &bare {
        print_row(row, None);
    }
    if let Some(row) = &gmi {
        print_row(row, Some((mining_info / ceiling, "of bare")));
    }
    if let Some(row) = &bare_submit {
        print_row(row, None);
    }
    if let Some(row) = &submit {
        let of_bare = row.report.per_second() / submit_ceiling;
        let of = format!("of gmi, {of_bare:.3} of bare");
        print_row(row, Some((row.report.per_second() / mining_info, &of)));
    }
    match connections {
        Some(100) => {
            // Rate ratio, and the inverse ratio of CPU time per request (steadier).
            let ratios = |a: &Option<Row>, b: &Option<Row>| match (a, b) {
                (Some(a), Some(b)) => Some((
                    a.report.per_second() / b.report.per_second(),
                    b.cpu_us_per_request / a.cpu_us_per_request,
                )),
                _ => None,
            };
            summary.mining_info_of_bare_100 = ratios(&gmi, &bare);
            summary.submit_of_mining_info_100 = ratios(&submit, &gmi);
            summary.bare_submit_of_bare_100 = ratios(&bare_submit, &bare);
            if let (Some(g), Some(s)) = (&gmi, &submit) {
                summary.p99_ms_100 = Some((g.report.latency_ms(0.99), s.report.latency_ms(0.99)));
            }
        }
        Some(1000) => {
            if let (Some(b), Some(g)) = (&bare, &gmi) {
                summary.hwm_1000 = Some((g.hwm_kib, b.hwm_kib));
            }
        }
        _ => {}
    }
}

fn print_row(row: &Row, ratio: Option<(f64, &str)>) {
    let r = &row.report;
    println!(
        "{:<10} {:<15} {:>5} {:>8.0} {:>6} {:>7.2} {:>7.2} {:>7.1} {:>6} {:>6} {:>7.1} {:>7.1} {:>7.1} {:>6}  {}",
        row.server,
        row.method,
        row.connections,
        r.per_second(),
        r.errors,
        r.latency_ms(0.5),
        r.latency_ms(0.99),
        r.latency_ms(1.0),
        r.reconnects,
        format!("{}+{}", r.starved_at_start, r.starved),
        row.cpu_us_per_request,
        mib(row.rss_kib),
        mib(row.hwm_kib),
        row.threads,
        ratio.map_or(String::new(), |(value, of)| format!("{value:.3} {of}")),
    );
    println!(
        "{:<10} CPU us per request by thread: {}",
        "",
        by_kind(&row.cpu_us_by_kind, 1.0)
    );
}

/// "kind figure, kind figure, …" for a split by kind of thread, figures times `scale`;
/// kinds too small to show are left out.
fn by_kind(split: &[(&str, f64)], scale: f64) -> String {
    let shown: Vec<String> = split
        .iter()
        .map(|(kind, figure)| (kind, figure * scale))
        .filter(|(_, figure)| *figure >= 0.05)
        .map(|(kind, figure)| format!("{kind} {figure:.1}"))
        .collect();
    shown.join(", ")
}

pub fn farm_header(accounts: usize, submits_per_round: usize, measured: Duration) {
    println!(
        "\nfarm: miners poll every 1 s and submit {submits_per_round} improving qualities per \
         10 s round, for {accounts} accounts; {} s measured",
        measured.as_secs()
    );
    println!(
        "{:<10} {:>6} {:>8} {:>9} {:>6} {:>11} {:>7} {:>7} {:>6} {:>6} {:>6} {:>8} {:>8}",
        "server",
        "miners",
        "polls/s",
        "submits/s",
        "fwd/s",
        "CPU % core",
        "RSS MiB",
        "HWM MiB",
        "thrds",
        "errors",
        "closed",
        "max lag",
        "max lat"
    );
}

pub fn farm_row(f: &FarmReport, summary: &mut Summary) {
    println!(
        "{:<10} {:>6} {:>8.0} {:>9.1} {:>6.1} {:>11.1} {:>7.1} {:>7.1} {:>6} {:>6} {:>6} {:>6}ms {:>6}ms",
        f.server,
        f.miners,
        f.polls_per_second,
        f.submits_per_second,
        f.forwards_per_second,
        f.cpu_share * 100.0,
        mib(f.rss_kib),
        mib(f.hwm_kib),
        f.threads,
        f.errors,
        f.reconnects,
        f.max_lag.as_millis(),
        f.max_latency.as_millis()
    );
    println!(
        "{:<10} {:>6}   CPU % core by thread: {}; storage writes {:.0} KiB/s",
        "",
        "",
        by_kind(&f.cpu_split, 100.0),
        f.storage_bytes_per_second / 1024.0
    );
    if f.server == "aggregator" && f.miners == 1000 {
        summary.farm_1000_share = Some(f.cpu_share);
    }
    if f.server == "aggregator" && f.cpu_share > 0.0 && f.miners >= summary.farm_largest {
        summary.farm_largest = f.miners;
        summary.miners_per_core = Some(f.miners as f64 / f.cpu_share);
        summary.mib_per_1000_miners = Some(mib(f.hwm_kib) * 1000.0 / f.miners as f64);
    }
}

pub fn attack_header(line_bytes: u64) {
    println!(
        "\nattack: connections each sending one {} MiB header line that never ends, at full speed",
        line_bytes >> 20
    );
    println!(
        "{:<10} {:>9} {:>15} {:>14} {:>13} {:>10}",
        "server", "attackers", "HWM growth MiB", "most taken MiB", "slowest poll", "unanswered"
    );
}

pub fn attack_row(server: &str, r: &AttackReport) {
    println!(
        "{:<10} {:>9} {:>15.1} {:>14.1} {:>11}ms {:>10}",
        server,
        r.attackers,
        mib(r.peak_growth_kib),
        r.most_taken as f64 / (1u64 << 20) as f64,
        r.slowest_poll.as_millis(),
        r.unanswered_polls
    );
}

/// "How many miners can this machine take?", from the largest farm measured.
pub fn farm_capacity(summary: &Summary) {
    if let (Some(per_core), Some(per_1000)) = (summary.miners_per_core, summary.mib_per_1000_miners)
    {
        println!(
            "this machine: about {:.0} miners per core of CPU and {per_1000:.0} MiB per 1,000 \
             miners (from the {}-miner farm, polling once a second)",
            per_core, summary.farm_largest
        );
    }
}

pub fn binary(b: &BinaryReport, summary: &mut Summary) {
    println!("\nbinary: {}", b.path.display());
    println!(
        "size {:.2} MiB as built for benches, {} stripped",
        b.size as f64 / 1048576.0,
        b.stripped_size
            .map_or("(strip not found)".to_owned(), |s| format!(
                "{:.2} MiB",
                s as f64 / 1048576.0
            ))
    );
    println!(
        "start to first served get_mining_info: {:.1} ms (median of 3 cold starts)",
        b.start_to_first_answer.as_secs_f64() * 1000.0
    );
    println!(
        "idle RSS {:.2} MiB ({:.2} MiB of it anonymous, the rest shared code and libraries) \
         with {} threads",
        mib(b.idle_rss_kib),
        mib(b.idle_anon_kib),
        b.idle_threads
    );
    summary.idle_rss_kib = Some(b.idle_rss_kib);
    summary.stripped_size = b.stripped_size;
    summary.start = Some(b.start_to_first_answer);
}

impl Summary {
    pub fn print(&self) {
        let lines = [
            self.mining_info_of_bare_100.map(|(r, c)| {
                let line =
                    format!("gmi at 100 connections: {r:.3} of bare ({c:.3} by CPU/request)");
                (line, "at least 0.95", Some(r >= 0.95))
            }),
            self.submit_of_mining_info_100.map(|(r, c)| {
                let line =
                    format!("submit at 100 connections: {r:.3} of gmi ({c:.3} by CPU/request)");
                (line, "at least 0.8", Some(r >= 0.8))
            }),
            // Not a target: how far the bare server itself falls with the submissions' bigger
            // requests, the part of the submit ratio that is tiny_http's.
            self.bare_submit_of_bare_100.map(|(r, c)| {
                let line = format!("  bare, submissions vs gmi: {r:.3} ({c:.3} by CPU/request)");
                (line, "", None)
            }),
            self.p99_ms_100.map(|(g, _)| {
                let line = format!("p99 get_mining_info at 100 connections: {g:.2} ms");
                (line, "under 5 ms", Some(g < 5.0))
            }),
            self.p99_ms_100.map(|(_, s)| {
                let line = format!("p99 submit_nonce at 100 connections: {s:.2} ms");
                (line, "under 5 ms", Some(s < 5.0))
            }),
            self.hwm_1000.map(|(a, b)| {
                let line = format!(
                    "peak RSS at 1000 connections: {:.1} MiB, bare {:.1} MiB",
                    mib(a),
                    mib(b)
                );
                (line, "at most bare's", Some(a <= b))
            }),
            self.farm_1000_share.map(|c| {
                let line = format!("farm of 1000 miners: {:.1} % of one core", c * 100.0);
                (line, "under 10 %", Some(c < 0.10))
            }),
            self.idle_rss_kib.map(|k| {
                let line = format!("idle RSS: {:.2} MiB", mib(k));
                (line, "under 4 MiB", Some(k < 4 * 1024))
            }),
            self.stripped_size.map(|s| {
                let line = format!("stripped binary: {:.2} MiB", s as f64 / 1048576.0);
                (line, "under 6 MiB", Some(s < 6 * 1024 * 1024))
            }),
            self.start.map(|d| {
                let line = format!("start to first answer: {:.1} ms", d.as_secs_f64() * 1e3);
                (line, "under 100 ms", Some(d < Duration::from_millis(100)))
            }),
        ];
        let lines: Vec<_> = lines.into_iter().flatten().collect();
        if lines.is_empty() {
            return;
        }
        println!("\ntargets (reported, not asserted)");
        for (line, target, met) in lines {
            match met {
                Some(met) => {
                    let verdict = if met { "met" } else { "NOT met" };
                    println!("  {line:<64} target {target:<15} {verdict}");
                }
                None => println!("  {line}"),
            }
        }
    }
}
