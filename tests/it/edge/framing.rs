//! Each framing attack of RFC 9112 §6 is refused with its status and the connection is closed
//! after the answer, so the bytes behind it are never served as a request; valid framing keeps
//! working as before.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{converse, echo_server, read_all, Conversation};
use crate::support::{self, Farm};

const QUIET: Duration = Duration::from_secs(3);
/// What an attacker hides behind the head: if it were served, a second answer would show it.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

fn refused(conversation: &Conversation, status: u16) {
    assert_eq!(conversation.statuses(), vec![status], "{conversation:?}");
    assert!(
        conversation.closed,
        "connection left open: {conversation:?}"
    );
    assert!(!conversation
        .answers
        .iter()
        .any(|a| a.body.contains("smuggled")));
}

fn post_with(fields: &str, body: &str) -> String {
    format!("POST /rpc HTTP/1.1\r\nHost: x\r\n{fields}\r\n{body}{SMUGGLED}")
}

#[test]
fn invalid_or_conflicting_content_lengths_get_400_and_close() {
    let server = echo_server();
    for value in ["abc", "-5", "+5", "99999999999999999999999", "5, 5", ""] {
        let raw = post_with(&format!("Content-Length: {value}\r\n"), "hello");
        refused(&converse(server.local_addr(), raw.as_bytes(), QUIET), 400);
    }
    let two = post_with("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!");
    refused(&converse(server.local_addr(), two.as_bytes(), QUIET), 400);
    // Identical repeats agree on the framing and are served.
    let same =
        "POST /same HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello";
    let answered = converse(
        server.local_addr(),
        same.as_bytes(),
        Duration::from_millis(300),
    );
    assert_eq!(answered.statuses(), vec![200]);
    assert_eq!(answered.answers[0].body, "POST /same 5");
    server.shutdown();
}

#[test]
fn content_length_with_transfer_encoding_is_refused_and_nothing_behind_it_is_served() {
    let server = echo_server();
    let chunked = format!("{:x}\r\n{SMUGGLED}\r\n0\r\n\r\n", SMUGGLED.len());
    let raw = post_with(
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        &chunked,
    );
    refused(&converse(server.local_addr(), raw.as_bytes(), QUIET), 400);
    let reversed = post_with(
        "Transfer-Encoding: chunked\r\nContent-Length: 80\r\n",
        &chunked,
    );
    refused(
        &converse(server.local_addr(), reversed.as_bytes(), QUIET),
        400,
    );
    server.shutdown();
}

#[test]
fn transfer_codings_other_than_chunked_get_501() {
    let server = echo_server();
    for coding in ["gzip, chunked", "gzip", "chunked, chunked", "identity"] {
        let raw = post_with(&format!("Transfer-Encoding: {coding}\r\n"), "0\r\n\r\n");
        refused(&converse(server.local_addr(), raw.as_bytes(), QUIET), 501);
    }
    let http10 =
        format!("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}");
    refused(
        &converse(server.local_addr(), http10.as_bytes(), QUIET),
        400,
    );
    server.shutdown();
}

#[test]
fn missing_host_control_characters_and_bad_names_get_400() {
    let server = echo_server();
    let cases: [&[u8]; 6] = [
        b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Miner: rig\x00one\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Miner: rig\rone\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX(y): 1\r\n\r\n",
    ];
    for raw in cases {
        let mut raw = raw.to_vec();
        raw.extend_from_slice(SMUGGLED.as_bytes());
        let conversation = converse(server.local_addr(), &raw, QUIET);
        refused(&conversation, 400);
    }
    server.shutdown();
}

#[test]
fn heads_over_the_limits_get_431_or_414_and_close() {
    let server = echo_server();
    let many: String = (0..5_000).map(|i| format!("X-{i}: 1\r\n")).collect();
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n{SMUGGLED}");
    refused(&converse(server.local_addr(), raw.as_bytes(), QUIET), 431);

    let long_field = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "v".repeat(9_000)
    );
    refused(
        &converse(server.local_addr(), long_field.as_bytes(), QUIET),
        431,
    );

    let heavy: String = (0..10)
        .map(|i| format!("X-{i}: {}\r\n", "v".repeat(8_000)))
        .collect();
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{heavy}\r\n");
    refused(&converse(server.local_addr(), raw.as_bytes(), QUIET), 431);

    let long_line = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9_000));
    refused(
        &converse(server.local_addr(), long_line.as_bytes(), QUIET),
        414,
    );

    // Just inside every limit: served.
    let fields: String = (0..98).map(|i| format!("X-{i}: 1\r\n")).collect();
    let raw = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\n{fields}\r\n",
        "a".repeat(8_000)
    );
    let answered = converse(
        server.local_addr(),
        raw.as_bytes(),
        Duration::from_millis(300),
    );
    assert_eq!(answered.statuses(), vec![200], "{answered:?}");
    server.shutdown();
}

#[test]
fn valid_framing_keeps_working() {
    let server = echo_server();
    let addr = server.local_addr();
    let quiet = Duration::from_millis(300);
    // Keep-alive and pipelining: two requests in one write, two answers, connection open.
    let two = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    let conversation = converse(addr, two.as_bytes(), quiet);
    assert_eq!(conversation.statuses(), vec![200, 200], "{conversation:?}");
    assert_eq!(conversation.answers[1].body, "GET /b 0");
    assert!(!conversation.closed);
    // A chunked body.
    let chunked = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let conversation = converse(addr, chunked.as_bytes(), quiet);
    assert_eq!(
        conversation.answers[0].body, "POST /c 5",
        "{conversation:?}"
    );
    // HTTP/1.0 without Host, answered and closed as 1.0 asks.
    let old = converse(addr, b"GET /old HTTP/1.0\r\n\r\n", quiet);
    assert_eq!(old.statuses(), vec![200]);
    assert!(old.closed);
    // Expect: 100-continue, the body sent once the interim answer has come.
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(quiet)).unwrap();
    let head = "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let interim = read_head(&mut stream);
    assert!(interim.starts_with("HTTP/1.1 100 "), "{interim:?}");
    stream.write_all(b"body").unwrap();
    let conversation = read_all(&mut stream);
    assert_eq!(conversation.statuses(), vec![200], "{conversation:?}");
    assert_eq!(conversation.answers[0].body, "POST /e 4");
    server.shutdown();
}

/// Reads one answer head, through its blank line, and nothing after it (empty when the
/// server stays quiet past the stream's read timeout).
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[test]
fn the_miner_port_refuses_counts_by_reason_and_keeps_json_errors_on_an_open_connection() {
    let farm = Farm::start();
    farm.wait_for_round();
    let addr = farm.app.as_ref().unwrap().miner_addr().unwrap();
    let raw = post_with("Content-Length: abc\r\n", "");
    refused(&converse(addr, raw.as_bytes(), QUIET), 400);
    let raw = post_with("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n");
    refused(&converse(addr, raw.as_bytes(), QUIET), 501);

    // A JSON-level error is an answer like any other: the connection stays open.
    let body = "{\"jsonrpc\":\"2.0\",\"method\":\"no_such\",\"id\":1}";
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let conversation = converse(addr, raw.as_bytes(), Duration::from_millis(300));
    assert_eq!(conversation.statuses(), vec![200]);
    assert!(conversation.answers[0].body.contains("\"error\""));
    assert!(!conversation.closed);

    let agent = support::agent();
    let (_, metrics) = support::get(&agent, &format!("http://{addr}/metrics"));
    for line in [
        "pocx_aggregator_http_refused_total{reason=\"bad_content_length\"} 1",
        "pocx_aggregator_http_refused_total{reason=\"unsupported_transfer_coding\"} 1",
        "pocx_aggregator_http_refused_total{reason=\"head_unfinished\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
    let stats = farm.stats();
    assert_eq!(stats["http"]["refused"]["bad_content_length"], 1, "{stats}");
    assert_eq!(stats["http"]["refused_total"], 2, "{stats}");
}
