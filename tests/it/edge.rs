//! The network edge against hostile clients: strict HTTP/1.1 framing, bounded heads, and memory
//! that stays bounded while a head is still arriving. Raw sockets on 127.0.0.1.

mod framing;
mod memory;
mod model;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use pocx_aggregator::server::HttpServer;

/// The server of `server`'s tests with two workers and the default I/O timeout.
fn echo_server() -> HttpServer {
    crate::server::echo_server(2, Duration::from_secs(5))
}

/// One answer as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Everything the server said after `raw`, and whether it closed the connection.
#[derive(Debug)]
struct Conversation {
    answers: Vec<Answer>,
    closed: bool,
}

impl Conversation {
    fn statuses(&self) -> Vec<u16> {
        self.answers.iter().map(|a| a.status).collect()
    }
}

/// Sends `raw` and reads answers until the server closes or is quiet for `quiet`.
/// How long a conversation waits for the first byte of an answer.
const FIRST_BYTE_PATIENCE: Duration = Duration::from_secs(5);

fn converse(addr: SocketAddr, raw: &[u8], quiet: Duration) -> Conversation {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(quiet)).unwrap();
    // A server that closes early may reset the rest of a long write; what it said still counts.
    let _ = stream.write_all(raw);
    read_all(&mut stream)
}

/// Everything the server sends until it closes or falls quiet for the stream's read timeout;
/// before the first byte, a loaded host gets up to [`FIRST_BYTE_PATIENCE`] to answer at all.
fn read_all(stream: &mut TcpStream) -> Conversation {
    let started = std::time::Instant::now();
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if data.is_empty() && started.elapsed() < FIRST_BYTE_PATIENCE {
                    continue;
                }
                break false;
            }
            Err(_) => break true,
        }
    };
    Conversation {
        answers: parse_answers(&data),
        closed,
    }
}

/// Splits a byte stream into answers (head, then a `Content-Length` body).
fn parse_answers(mut data: &[u8]) -> Vec<Answer> {
    let mut answers = Vec::new();
    while let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&data[..end]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let length = crate::support::content_length(&head);
        let rest = &data[end + 4..];
        let body_end = length.min(rest.len());
        let body = String::from_utf8_lossy(&rest[..body_end]).into_owned();
        answers.push(Answer { status, head, body });
        data = &rest[body_end..];
    }
    answers
}
