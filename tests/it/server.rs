//! The HTTP front on its own: limits, timeouts, panics, pipelining and abusive clients.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pocx_aggregator::http::{HttpRequest, HttpResponse};
use pocx_aggregator::server::{HttpServer, ServerConfig, ServerCounters};

use crate::support::{content_length, eventually};

/// A server that answers `/panic` by panicking and every other request it is handed with
/// `200 <method> <path> <body length>`.
pub(crate) fn echo_server(workers: usize, io_timeout: Duration) -> HttpServer {
    let mut config = ServerConfig::new("test", "127.0.0.1:0".parse().unwrap(), workers);
    config.io_timeout = io_timeout;
    HttpServer::start(
        config,
        Arc::new(|request: HttpRequest| {
            if request.path == "/panic" {
                panic!("handler panic on purpose");
            }
            HttpResponse::text(
                200,
                format!("{} {} {}", request.method, request.path, request.body.len()),
            )
        }),
    )
    .unwrap()
}

/// Sends raw bytes and reads one response (headers + Content-Length body).
fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(raw).unwrap();
    read_response(&mut stream)
}

fn read_response(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    while !data.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => data.push(byte[0]),
            _ => return String::from_utf8_lossy(&data).into_owned(),
        }
    }
    let head = String::from_utf8_lossy(&data).into_owned();
    let mut body = vec![0; content_length(&head)];
    stream.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}

fn get(addr: SocketAddr, path: &str) -> String {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

#[test]
fn a_panicking_handler_costs_one_500_not_a_worker() {
    let server = echo_server(1, Duration::from_secs(5));
    let addr = server.local_addr();
    for _ in 0..3 {
        assert!(get(addr, "/panic").starts_with("HTTP/1.1 500"));
        assert!(get(addr, "/fine").contains("GET /fine 0"));
    }
    assert_eq!(server.counters().panics.load(Ordering::Relaxed), 3);
    server.shutdown();
}

#[test]
fn two_servers_count_requests_panics_and_unread_bodies_into_one_place() {
    let counters = Arc::new(ServerCounters::default());
    let start = || {
        let mut config = ServerConfig::new("test", "127.0.0.1:0".parse().unwrap(), 1);
        config.io_timeout = Duration::from_millis(300);
        config.counters = counters.clone();
        HttpServer::start(
            config,
            Arc::new(|request: HttpRequest| {
                if request.path == "/panic" {
                    panic!("handler panic on purpose");
                }
                HttpResponse::text(200, "ok")
            }),
        )
        .unwrap()
    };
    let (one, two) = (start(), start());
    assert!(get(one.local_addr(), "/a").contains("200 OK"));
    assert!(get(two.local_addr(), "/b").contains("200 OK"));
    assert!(get(two.local_addr(), "/panic").starts_with("HTTP/1.1 500"));
    // A body that stops short of its Content-Length: 408 at the I/O timeout. (Over 1 KiB, so
    // the server reads it; tiny_http reads smaller ones itself before handing them over.)
    let answer = exchange(
        one.local_addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"a\":",
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
    assert_eq!(load(&counters.requests), 4);
    assert_eq!(load(&counters.panics), 1);
    assert_eq!(load(&counters.read_failures), 1);
    assert_eq!(load(&one.counters().requests), 4, "one struct for both");
    one.shutdown();
    two.shutdown();
}

#[test]
fn a_huge_content_length_gets_413_without_reading_the_body() {
    let server = echo_server(2, Duration::from_secs(5));
    let addr = server.local_addr();
    let started = Instant::now();
    let answer = exchange(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n{\"partial\":",
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(get(addr, "/still-serving").contains("200 OK"));
    // Just over the limit, announced honestly: still 413.
    let body = vec![b'x'; 64 * 1024 + 1];
    let mut raw = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let answer = exchange(addr, &raw);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    server.shutdown();
}

#[test]
fn an_endless_chunked_body_is_cut_off_at_the_limit() {
    let server = echo_server(2, Duration::from_secs(5));
    let addr = server.local_addr();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 4096, "y".repeat(4096));
    let mut answered = String::new();
    for _ in 0..64 {
        if stream.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    answered.push_str(&read_response(&mut stream));
    assert!(answered.starts_with("HTTP/1.1 413"), "{answered}");
    assert!(get(addr, "/ok").contains("200 OK"));
    server.shutdown();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = echo_server(2, Duration::from_secs(5));
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nPOST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    assert!(read_response(&mut stream).ends_with("GET /a 0"));
    assert!(read_response(&mut stream).ends_with("GET /b 0"));
    assert!(read_response(&mut stream).ends_with("POST /c 3"));
    server.shutdown();
}

#[test]
fn stalled_and_slow_clients_do_not_stop_real_ones() {
    let server = echo_server(2, Duration::from_secs(2));
    let addr = server.local_addr();
    // 300 connections that send half a request head and stall.
    let stalled: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .inspect(|mut s| {
            let _ = s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Le");
        })
        .collect();
    assert!(stalled.len() > 250);
    // A body that starts and then stalls, holding a worker until the read timeout at most.
    let mut half_body = TcpStream::connect(addr).unwrap();
    half_body
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"a\":")
        .unwrap();
    // A client that reads its answer one byte at a time, slowly.
    let slow = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut byte = [0u8; 1];
        let mut got = 0;
        while got < 20 && s.read(&mut byte).unwrap_or(0) == 1 {
            got += 1;
            // Reading slowly is the point: this client must not hold the others up.
            thread::sleep(Duration::from_millis(50));
        }
        got
    });
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut served = 0;
    while Instant::now() < deadline {
        let started = Instant::now();
        assert!(get(addr, "/miner").contains("200 OK"));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a real client waited {:?}",
            started.elapsed()
        );
        served += 1;
        // A real client's pace over the whole window the slow ones are connected.
        thread::sleep(Duration::from_millis(100));
    }
    assert!(served > 10);
    assert_eq!(slow.join().unwrap(), 20);
    drop(stalled);
    drop(half_body);
    assert!(get(addr, "/after").contains("200 OK"));
    server.shutdown();
}

#[test]
fn idle_connections_are_closed_after_the_io_timeout_and_accepting_goes_on() {
    let server = echo_server(1, Duration::from_millis(400));
    let addr = server.local_addr();
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 64];
    let started = Instant::now();
    // The server gives up on a silent connection (tiny_http answers 408 and closes).
    let _ = idle.read(&mut buf);
    assert!(started.elapsed() < Duration::from_secs(3));
    // Well past several accept timeouts the listener still accepts: time passing is the point.
    thread::sleep(Duration::from_millis(1500));
    assert!(get(addr, "/alive").contains("200 OK"));
    server.shutdown();
}

#[test]
fn shutdown_is_prompt_and_closes_the_port() {
    let server = echo_server(4, Duration::from_secs(5));
    let addr = server.local_addr();
    assert!(get(addr, "/").contains("200 OK"));
    let started = Instant::now();
    server.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let closed = eventually(Duration::from_secs(1), || TcpStream::connect(addr).is_err());
    assert!(closed, "the port still accepts after shutdown");
}
