//! What the kernel says about a process: resident memory and CPU time, from `/proc`.
//!
//! Linux only. CPU times in `/proc/<pid>/stat` are in clock ticks; USER_HZ is 100 on every
//! Linux architecture the aggregator targets, so no libc call is needed to learn it.

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

const TICKS_PER_SECOND: u64 = 100;

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`…), in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
}

/// User plus system CPU time the process has used so far (all threads, living or gone).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields are counted after the last ')'.
    let (_, after_name) = text.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace();
    // Fields 3.. follow the name; utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime.checked_add(stime)?;
    Some(Duration::from_millis(
        ticks.checked_mul(1000 / TICKS_PER_SECOND)?,
    ))
}

/// Threads the process has right now.
pub fn threads(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|rest| rest.trim().parse().ok())
}

/// Load average over the last minute, to say how busy the machine was.
pub fn load_average() -> Option<String> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Processors the kernel runs this process on.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU time of each living thread as (thread id, name, time run), from
/// `/proc/<pid>/task/*/schedstat`: its first field is the nanoseconds run — exact, where the
/// tick counts of `stat` miss threads that only ever run for slices shorter than a tick.
pub fn thread_cpu(pid: u32) -> Vec<(u32, String, Duration)> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let tid = task.file_name().to_str()?.parse().ok()?;
            let dir = task.path();
            let name = fs::read_to_string(dir.join("comm")).ok()?;
            let schedstat = fs::read_to_string(dir.join("schedstat")).ok()?;
            let nanos: u64 = schedstat.split_whitespace().next()?.parse().ok()?;
            Some((tid, name.trim().to_owned(), Duration::from_nanos(nanos)))
        })
        .collect()
}

/// Bytes the process has caused to be written to storage so far (`write_bytes` of
/// `/proc/<pid>/io`): what its files cost an SD card, sockets not included.
pub fn storage_writes(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))
        .and_then(|rest| rest.trim().parse().ok())
}

/// CPU time per kind of thread between two [`thread_cpu`] readings, largest first (threads
/// alive at both). Kinds follow the thread names the servers give (`*-worker-N`, `forward-*`,
/// `store-writer`); tiny_http's connection threads carry no name of their own, so they are the
/// unnamed rest (with the idle main thread).
pub fn cpu_by_kind(
    before: &[(u32, String, Duration)],
    after: &[(u32, String, Duration)],
) -> Vec<(&'static str, Duration)> {
    let started: HashMap<u32, Duration> = before.iter().map(|(tid, _, t)| (*tid, *t)).collect();
    let mut kinds: Vec<(&'static str, Duration)> = Vec::new();
    for (tid, name, ran) in after {
        let Some(earlier) = started.get(tid) else {
            continue;
        };
        let ran = ran.saturating_sub(*earlier);
        let kind = thread_kind(name);
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, total)) => *total += ran,
            None => kinds.push((kind, ran)),
        }
    }
    kinds.sort_by_key(|(_, ran)| std::cmp::Reverse(*ran));
    kinds
}

fn thread_kind(name: &str) -> &'static str {
    if name.contains("-worker-") {
        "request workers"
    } else if name.starts_with("forward") {
        "forwarding"
    } else if name == "store-writer" {
        "history writer"
    } else if name.ends_with("-guard") {
        "head guard"
    } else if ["miner-", "cache-", "verify-"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
    {
        "other"
    } else {
        "connections"
    }
}
