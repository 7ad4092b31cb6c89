//! The client's side of the wire: opening connections, reading one answer, a one-off `POST`.
//!
//! Answers are read by `Content-Length` (both servers under test send it); only the status,
//! `Connection: close` and whether the body holds a JSON-RPC `result` are looked at.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A client socket never waits longer than this for an answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer head or body the client accepts.
const MAX_ANSWER: usize = 1 << 20;

/// A fresh connection unanswered this long is taken to be stuck in tiny_http's queue.
/// (tiny_http's pool can queue a new connection behind a keep-alive one when two arrive while
/// one of its threads is waking up; such a connection waits until another one closes.)
/// Under a profiler (see `servers`) answers are slow, so the patience is longer there.
pub fn starved_after() -> Duration {
    if super::servers::profiled() {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(250)
    }
}

pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Opens one connection and makes one request on it, so it is known to be served by a
/// thread of its own; a connection left waiting is replaced. Returns the connection and how
/// many attempts were left waiting.
pub fn open_served(addr: SocketAddr, request: &[u8]) -> io::Result<(TcpStream, u64)> {
    let mut buffer = Vec::new();
    let mut starved = 0;
    for _ in 0..40 {
        let mut stream = open(addr)?;
        stream.set_read_timeout(Some(starved_after()))?;
        stream.write_all(request)?;
        match read_answer(&mut stream, &mut buffer) {
            Ok(Answer { close: false, .. }) => {
                stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
                return Ok((stream, starved));
            }
            Ok(_) => {}
            Err(e) if is_timeout(&e) => starved += 1,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no connection got served"))
}

pub fn open(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    Ok(stream)
}

/// What the client needs to know about one answer.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// Status 200 and a JSON-RPC `result` in the body.
    pub ok: bool,
    /// The server will close the connection after this answer.
    pub close: bool,
    /// Where the body starts in the buffer `read_answer` filled (it runs to the end).
    pub body_at: usize,
}

/// Reads exactly one answer (head and `Content-Length` body) from `stream`.
pub fn read_answer(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<Answer> {
    buffer.clear();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            break end + 4;
        }
        if buffer.len() > MAX_ANSWER {
            return Err(io::Error::other("answer head too large"));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buffer[..head_end])
        .map_err(|_| io::Error::other("answer head is not text"))?;
    let status = head.split(' ').nth(1).unwrap_or("");
    let mut length = 0usize;
    let mut close = false;
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value
                .trim()
                .parse()
                .map_err(|_| io::Error::other("bad length"))?;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.to_ascii_lowercase().contains("close");
        }
    }
    if length > MAX_ANSWER {
        return Err(io::Error::other("answer body too large"));
    }
    let ok_status = status == "200";
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    buffer.truncate(head_end + length);
    let body = &buffer[head_end..];
    Ok(Answer {
        ok: ok_status && find(body, b"\"result\"").is_some(),
        close,
        body_at: head_end,
    })
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One `POST /` on a fresh connection; the answer and its body.
pub fn post(addr: SocketAddr, body: &str) -> io::Result<(Answer, String)> {
    let mut stream = open(addr)?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut buffer = Vec::new();
    let answer = read_answer(&mut stream, &mut buffer)?;
    let body = String::from_utf8_lossy(&buffer[answer.body_at..]).into_owned();
    Ok((answer, body))
}
