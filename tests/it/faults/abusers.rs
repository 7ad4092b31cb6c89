//! A thousand connections that each send half a request and stall, against the whole aggregator:
//! real miners are still served within a second, and once the abusers go, the threads they cost
//! go too (tiny_http's spare threads end after about 5 s idle).
//!
//! The requests stop in the head or in a body of at most 1 KiB, which tiny_http reads on its own
//! per-connection threads. A body over 1 KiB is read by the server's slow lane, never by a
//! request worker: that case has a test of its own.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{census_growth, run_in_child, settled_census, total, wait_for_census};
use super::{in_child, is_child_for, lingering_allowance, own_thread_name, proc_status};
use crate::support::{account, agent, agent_with_timeout, post, Farm};

const CHILD_NAME: &str = "half-requests";
const ABUSERS: usize = 1_000;
/// How long the miners are watched while the abusers stall.
const WATCH: Duration = Duration::from_secs(3);

/// The request head cut off in the middle of a header.
const HALF_HEAD: &[u8] = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl";
/// A whole head announcing a body, and half the body.
const HALF_SMALL_BODY: &[u8] = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \
application/json\r\nContent-Length: 200\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"get_mi";

#[test]
fn a_thousand_half_requests_do_not_stop_miners_and_their_threads_go_away() {
    if in_child() {
        return;
    }
    run_in_child(
        "faults::abusers::half_requests_child",
        CHILD_NAME,
        Duration::from_secs(90),
    );
}

/// Not a test on its own: the body of the test above, run in a child process.
#[test]
fn half_requests_child() {
    if !is_child_for(CHILD_NAME) {
        return;
    }
    let farm = Farm::start();
    let round = farm.wait_for_round();
    for _ in 0..5 {
        farm.rpc("get_mining_info", json!({}));
    }
    let baseline = settled_census();

    let addr = farm.app().miner_addr().unwrap();
    let opened = Instant::now();
    let stalled: Vec<TcpStream> = (0..ABUSERS)
        .filter_map(|i| {
            let mut stream = TcpStream::connect(addr).ok()?;
            let half = if i % 2 == 0 {
                HALF_HEAD
            } else {
                HALF_SMALL_BODY
            };
            stream.write_all(half).ok()?;
            Some(stream)
        })
        .collect();
    let opened_in = opened.elapsed();
    assert!(
        stalled.len() >= ABUSERS * 95 / 100,
        "only {} connected",
        stalled.len()
    );

    // Miners meanwhile: one that stays connected, and new ones connecting for every call.
    let watch_until = Instant::now() + WATCH;
    let mut slowest = Duration::ZERO;
    let mut calls = 0u32;
    let mut submitted = 0u32;
    let mut timed = |call: &mut dyn FnMut()| {
        let started = Instant::now();
        call();
        slowest = slowest.max(started.elapsed());
        calls += 1;
    };
    while Instant::now() < watch_until {
        timed(&mut || {
            let info = farm.rpc("get_mining_info", json!({}));
            assert_eq!(info["result"]["height"], round.height, "{info}");
        });
        timed(&mut || {
            let quality = 10_000_000 + u64::from(submitted);
            let answer = farm.submit(&round, &account(submitted % 7 + 1), quality);
            assert!(answer["result"]["poc_time"].is_u64(), "{answer}");
            submitted += 1;
        });
        timed(&mut || {
            let body = json!({"jsonrpc": "2.0", "method": "get_mining_info", "id": 1});
            let (status, text) = post(&agent(), &farm.url, &body.to_string(), &[]);
            assert_eq!(status, 200, "{text}");
        });
    }
    let during = proc_status();
    println!(
        "{} stalled connections opened in {} ms; {calls} miner calls meanwhile, slowest {} ms; \
         threads {} at the start, {} with the abusers",
        stalled.len(),
        opened_in.as_millis(),
        slowest.as_millis(),
        total(&baseline),
        during.threads
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a miner waited {slowest:?}"
    );

    drop(stalled);
    let gone = Instant::now();
    let allowance = lingering_allowance(own_thread_name());
    let (now, excess) = wait_for_census(&baseline, &allowance, Duration::from_secs(15));
    println!(
        "after the abusers left: {} threads after {} ms ({} at the start; above it: {})",
        total(&now),
        gone.elapsed().as_millis(),
        total(&baseline),
        census_growth(&baseline, &now)
    );
    assert!(
        excess.is_empty(),
        "threads left over: {excess:?}; now {now:?}, at the start {baseline:?}"
    );
}

/// A whole head announcing a body over 1 KiB (tiny_http leaves reading such a body to whoever
/// handles the request), and the first bytes of it.
const HALF_LARGE_BODY: &[u8] = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \
application/json\r\nContent-Length: 4000\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"get_mi";

#[test]
fn stalled_bodies_over_1_kib_do_not_stop_miners() {
    if in_child() {
        return;
    }
    let farm = Farm::start();
    let round = farm.wait_for_round();
    let addr = farm.app().miner_addr().unwrap();
    let stalled = stall(addr, 200);
    assert!(stalled.len() >= 190, "only {} connected", stalled.len());
    // A real miner: keep-alive, gives up after 5 s.
    let miner = agent_with_timeout(Duration::from_secs(5));
    let body = json!({"jsonrpc": "2.0", "method": "get_mining_info", "id": 1}).to_string();
    let mut slowest = Duration::ZERO;
    let mut timed_out = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let answer = miner
            .post(&farm.url)
            .header("Content-Type", "application/json")
            .send(&body)
            .and_then(|mut r| r.body_mut().read_to_string());
        slowest = slowest.max(started.elapsed());
        match answer {
            Ok(text) => assert!(
                text.contains(&format!("\"height\":{}", round.height)),
                "{text}"
            ),
            Err(_) => timed_out += 1,
        }
    }
    println!(
        "200 stalled bodies over 1 KiB: {timed_out} of 5 miner calls timed out, slowest {} ms",
        slowest.as_millis()
    );
    assert_eq!(timed_out, 0, "miners timed out");
    assert!(
        slowest < Duration::from_secs(1),
        "a miner waited {slowest:?}"
    );
}

/// Opens `count` connections that each send the head of a large body and half of it.
fn stall(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    (0..count)
        .filter_map(|_| {
            let mut stream = TcpStream::connect(addr).ok()?;
            stream.write_all(HALF_LARGE_BODY).ok()?;
            Some(stream)
        })
        .collect()
}

/// Eight clients open 60 stalled connections each at the same moment while a miner opens a
/// fresh connection for each of its calls. Such a burst outruns the idle threads of tiny_http's
/// pool, and connections it queues have no thread until a busy one ends — here, the stalled
/// clients' 5 s timeout. The miner must be served within 2 s every time (alone, this takes
/// well under 100 ms; the margin is for a host busy with every other test at once).
#[test]
fn a_burst_of_stalled_clients_leaves_no_miner_waiting() {
    if in_child() {
        return;
    }
    let farm = Farm::start();
    let round = farm.wait_for_round();
    let addr = farm.app().miner_addr().unwrap();
    let start = Arc::new(Barrier::new(9));
    let abusers: Vec<_> = (0..8)
        .map(|_| {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                stall(addr, 60)
            })
        })
        .collect();
    start.wait();
    let body = json!({"jsonrpc": "2.0", "method": "get_mining_info", "id": 1}).to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut slowest = Duration::ZERO;
    for _ in 0..40 {
        let started = Instant::now();
        let answer = one_call_on_a_new_connection(addr, &request);
        slowest = slowest.max(started.elapsed());
        let answer = answer.unwrap_or_else(|e| panic!("a miner call failed: {e}"));
        assert!(
            answer.contains(&format!("\"height\":{}", round.height)),
            "{answer}"
        );
    }
    let stalled: usize = abusers.into_iter().map(|t| t.join().unwrap().len()).sum();
    println!(
        "{stalled} stalled connections in a burst: slowest of 40 miner calls {} ms",
        slowest.as_millis()
    );
    assert!(stalled >= 400, "only {stalled} connected");
    assert!(
        slowest < Duration::from_secs(2),
        "a miner waited {slowest:?}"
    );
}

fn one_call_on_a_new_connection(addr: SocketAddr, request: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}
