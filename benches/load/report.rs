//! The printed tables, and the closing summary: each of the aggregator's figures next to the bare
//! tiny_http server's of the same run, with their ratio.
//!
//! Nothing is asserted: a shared machine makes any single run noisy, and only the ratio to the
//! bare server measured alongside says something about the aggregator. The CPU time per request
//! (`cpu us`) is the steadiest throughput figure; requests per second and latencies move with
//! whatever else the machine is doing.

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

/// One figure of the aggregator and the bare server's, measured in the same run.
#[derive(Clone, Copy)]
struct Pair {
    aggregator: f64,
    bare: f64,
}

/// The figures the closing summary compares, as far as the sections run produced them.
#[derive(Default)]
pub struct Summary {
    /// At 100 connections: requests per second, CPU time per request, p99 latency.
    mining_info_rate_100: Option<Pair>,
    mining_info_cpu_100: Option<Pair>,
    mining_info_p99_100: Option<Pair>,
    /// The submission mix, against the bare server fed the same requests.
    submit_rate_100: Option<Pair>,
    submit_cpu_100: Option<Pair>,
    submit_p99_100: Option<Pair>,
    /// Peak RSS at 1,000 connections, KiB.
    hwm_1000: Option<Pair>,
    /// Share of one core taken by a farm of 1,000 miners.
    farm_1000_aggregator: Option<f64>,
    farm_1000_bare: Option<f64>,
    farm_largest: usize,
    miners_per_core: Option<f64>,
    mib_per_1000_miners: Option<f64>,
    /// Idle RSS, KiB: the aggregator's binary and a bare server process.
    idle_rss_kib: Option<Pair>,
    /// The aggregator's alone: the bare server is no binary of its own.
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
    let pair = |aggregator: &Option<Row>, bare: &Option<Row>, figure: fn(&Row) -> f64| match (
        aggregator, bare,
    ) {
        (Some(a), Some(b)) => Some(Pair {
            aggregator: figure(a),
            bare: figure(b),
        }),
        _ => None,
    };
    let rate: fn(&Row) -> f64 = |r| r.report.per_second();
    let cpu: fn(&Row) -> f64 = |r| r.cpu_us_per_request;
    let p99: fn(&Row) -> f64 = |r| r.report.latency_ms(0.99);
    match connections {
        Some(100) => {
            summary.mining_info_rate_100 = pair(&gmi, &bare, rate);
            summary.mining_info_cpu_100 = pair(&gmi, &bare, cpu);
            summary.mining_info_p99_100 = pair(&gmi, &bare, p99);
            summary.submit_rate_100 = pair(&submit, &bare_submit, rate);
            summary.submit_cpu_100 = pair(&submit, &bare_submit, cpu);
            summary.submit_p99_100 = pair(&submit, &bare_submit, p99);
        }
        Some(1000) => summary.hwm_1000 = pair(&gmi, &bare, |r| mib(r.hwm_kib)),
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
    if f.miners == 1000 {
        match f.server {
            "aggregator" => summary.farm_1000_aggregator = Some(f.cpu_share),
            _ => summary.farm_1000_bare = Some(f.cpu_share),
        }
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

/// `bare_idle_rss_kib`: a bare server process's, measured after the same settling time.
pub fn binary(b: &BinaryReport, bare_idle_rss_kib: u64, summary: &mut Summary) {
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
    println!(
        "idle RSS of a bare tiny_http server process: {:.2} MiB",
        mib(bare_idle_rss_kib)
    );
    summary.idle_rss_kib = Some(Pair {
        aggregator: mib(b.idle_rss_kib),
        bare: mib(bare_idle_rss_kib),
    });
    summary.stripped_size = b.stripped_size;
    summary.start = Some(b.start_to_first_answer);
}

impl Summary {
    pub fn print(&self) {
        let farm_1000 = match (self.farm_1000_aggregator, self.farm_1000_bare) {
            (Some(a), Some(b)) => Some(Pair {
                aggregator: a * 100.0,
                bare: b * 100.0,
            }),
            _ => None,
        };
        let pairs = [
            (
                "get_mining_info, 100 connections: req/s",
                self.mining_info_rate_100,
                0,
            ),
            ("  CPU us per request", self.mining_info_cpu_100, 1),
            ("  p99 latency, ms", self.mining_info_p99_100, 2),
            (
                "submit_nonce mix, 100 connections: req/s",
                self.submit_rate_100,
                0,
            ),
            ("  CPU us per request", self.submit_cpu_100, 1),
            ("  p99 latency, ms", self.submit_p99_100, 2),
            (
                "get_mining_info, 1,000 connections: peak RSS, MiB",
                self.hwm_1000,
                1,
            ),
            ("farm of 1,000 miners: % of one core", farm_1000, 1),
            ("idle RSS, MiB", self.idle_rss_kib, 2),
        ];
        let alone = [
            self.stripped_size.map(|s| {
                (
                    "stripped binary, MiB",
                    format!("{:.2}", s as f64 / 1048576.0),
                )
            }),
            self.start.map(|d| {
                let ms = d.as_secs_f64() * 1e3;
                ("start to first answer, ms", format!("{ms:.1}"))
            }),
        ];
        let pairs: Vec<_> = pairs
            .into_iter()
            .filter_map(|(label, pair, decimals)| pair.map(|p| (label, p, decimals)))
            .collect();
        let alone: Vec<_> = alone.into_iter().flatten().collect();
        if pairs.is_empty() && alone.is_empty() {
            return;
        }
        println!(
            "\nsummary: the aggregator against the bare tiny_http server of this run \
             (ratio = aggregator / bare)"
        );
        println!(
            "  {:<52} {:>10} {:>10} {:>8}",
            "", "aggregator", "bare", "ratio"
        );
        for (label, p, decimals) in pairs {
            println!(
                "  {label:<52} {:>10.decimals$} {:>10.decimals$} {:>8.3}",
                p.aggregator,
                p.bare,
                p.aggregator / p.bare
            );
        }
        for (label, figure) in alone {
            println!("  {label:<52} {figure:>10} {:>10} {:>8}", "-", "-");
        }
    }
}
