//! The little HTTP/1.1 the simulated upstream speaks: reading one request (the head parsed by
//! `httparse`, then its `Content-Length` body) from a keep-alive connection and writing one
//! response.
//!
//! Just enough for JSON-RPC clients (the aggregator's ureq, the simulated miners, tests).
//! Bytes are untrusted: sizes are bounded, nothing panics, and anything unexpected ends in a
//! 4xx/5xx answer followed by closing the connection. Deliberately not supported: chunked
//! request bodies, pipelining beyond sequential reading, `Expect: 100-continue`, TLS.

use std::io::{BufRead, ErrorKind, Write};

use crate::server::reason_phrase;

/// Request head (request line and headers) limit.
const MAX_HEAD_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 100;
/// Request bodies above this are answered 413.
pub(super) const MAX_BODY_BYTES: usize = 1 << 20;

/// One request read from a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpCall {
    pub(crate) method: String,
    pub(crate) authorization: Option<String>,
    /// Whether the client lets the connection stay open after the answer.
    pub(crate) keep_alive: bool,
    pub(crate) body: Vec<u8>,
}

/// What reading the next request gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    Call(HttpCall),
    /// The client closed the connection (or it broke) between requests.
    Closed,
    /// Malformed or unsupported: answer this status, then close.
    Refused(u16),
}

/// Reads the next request from a keep-alive connection.
pub(crate) fn read_request(reader: &mut impl BufRead) -> Incoming {
    let mut head = Vec::new();
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Incoming::Closed,
        };
        if available.is_empty() {
            // Only empty lines so far (tolerated before a request, RFC 9112 §2.2): a close
            // between requests.
            let idle = head.iter().all(|byte| matches!(byte, b'\r' | b'\n'));
            return if idle {
                Incoming::Closed
            } else {
                Incoming::Refused(400)
            };
        }
        let room = MAX_HEAD_BYTES.saturating_sub(head.len());
        let taken = available.len().min(room);
        let before = head.len();
        head.extend_from_slice(available.get(..taken).unwrap_or_default());
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&head) {
            Ok(httparse::Status::Complete(head_len)) => {
                // Leave what follows the head (the body) in the reader.
                reader.consume(head_len.saturating_sub(before));
                return read_call(&request, reader);
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_HEAD_BYTES => reader.consume(taken),
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                return Incoming::Refused(431)
            }
            Err(httparse::Error::Version) => return Incoming::Refused(505),
            Err(_) => return Incoming::Refused(400),
        }
    }
}

/// The call a parsed head announces, with its `Content-Length` body read from `reader`.
fn read_call(request: &httparse::Request, reader: &mut impl BufRead) -> Incoming {
    let http_10 = request.version == Some(0);
    let mut call = HttpCall {
        method: request.method.unwrap_or_default().to_owned(),
        authorization: None,
        keep_alive: !http_10,
        body: Vec::new(),
    };
    let mut content_length: Option<usize> = None;
    for header in request.headers.iter() {
        let Ok(value) = std::str::from_utf8(header.value) else {
            return Incoming::Refused(400);
        };
        let (name, value) = (header.name, value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            let Ok(length) = value.parse::<usize>() else {
                return Incoming::Refused(400);
            };
            if content_length.is_some_and(|seen| seen != length) {
                return Incoming::Refused(400);
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Incoming::Refused(501);
        } else if name.eq_ignore_ascii_case("authorization") {
            call.authorization = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    call.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && http_10 {
                    call.keep_alive = true;
                }
            }
        }
    }
    let length = content_length.unwrap_or(0);
    if length > MAX_BODY_BYTES {
        return Incoming::Refused(413);
    }
    call.body = vec![0; length];
    match reader.read_exact(&mut call.body) {
        Ok(()) => Incoming::Call(call),
        Err(_) => Incoming::Closed,
    }
}

/// One response to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HttpAnswer {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
    pub(crate) extra_header: Option<(&'static str, &'static str)>,
}

impl HttpAnswer {
    pub(crate) fn new(
        status: u16,
        content_type: &'static str,
        body: impl Into<Vec<u8>>,
    ) -> HttpAnswer {
        HttpAnswer {
            status,
            content_type,
            body: body.into(),
            extra_header: None,
        }
    }
}

/// Writes `answer` as one buffer; `keep_alive` says whether the connection stays open.
pub(super) fn write_response(
    out: &mut impl Write,
    answer: &HttpAnswer,
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(160 + answer.body.len());
    let reason = reason_phrase(answer.status);
    bytes.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", answer.status).as_bytes());
    if answer.status != 204 {
        bytes.extend_from_slice(format!("Content-Type: {}\r\n", answer.content_type).as_bytes());
        bytes.extend_from_slice(format!("Content-Length: {}\r\n", answer.body.len()).as_bytes());
    }
    if let Some((name, value)) = answer.extra_header {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    let connection = if keep_alive { "keep-alive" } else { "close" };
    bytes.extend_from_slice(format!("Connection: {connection}\r\n\r\n").as_bytes());
    if answer.status != 204 {
        bytes.extend_from_slice(&answer.body);
    }
    out.write_all(&bytes)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn read(bytes: &[u8]) -> Incoming {
        read_request(&mut BufReader::new(bytes))
    }

    #[test]
    fn reads_keep_alive_requests_one_after_another() {
        let two = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nAuthorization: Basic abc\r\n\r\n{}\
                    POST / HTTP/1.1\r\ncontent-length: 3\r\nConnection: close\r\n\r\n[1]";
        let mut reader = BufReader::new(&two[..]);
        let Incoming::Call(first) = read_request(&mut reader) else {
            panic!("first request");
        };
        assert_eq!(first.method, "POST");
        assert_eq!(first.body, b"{}");
        assert_eq!(first.authorization.as_deref(), Some("Basic abc"));
        assert!(first.keep_alive);
        let Incoming::Call(second) = read_request(&mut reader) else {
            panic!("second request");
        };
        assert_eq!(second.body, b"[1]");
        assert!(!second.keep_alive);
        assert_eq!(read_request(&mut reader), Incoming::Closed);
    }

    #[test]
    fn malformed_requests_are_refused_not_panicked_on() {
        assert_eq!(read(b""), Incoming::Closed);
        assert_eq!(read(b"GARBAGE\r\n\r\n"), Incoming::Refused(400));
        assert_eq!(read(b"POST / HTTP/2\r\n\r\n"), Incoming::Refused(505));
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nno colon\r\n\r\n"),
            Incoming::Refused(400)
        );
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Incoming::Refused(400)
        );
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Incoming::Refused(400)
        );
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Incoming::Refused(501)
        );
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"),
            Incoming::Refused(413)
        );
        let huge_header = format!("POST / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
        assert_eq!(read(huge_header.as_bytes()), Incoming::Refused(431));
        let many: String = (0..200).map(|i| format!("H{i}: v\r\n")).collect();
        let many_headers = format!("POST / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(read(many_headers.as_bytes()), Incoming::Refused(431));
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"),
            Incoming::Closed
        );
        assert_eq!(read(b"\xff\xfe / HTTP/1.1\r\n\r\n"), Incoming::Refused(400));
        let Incoming::Call(old) = read(b"\r\nPOST / HTTP/1.0\r\n\r\n") else {
            panic!("http/1.0 request");
        };
        assert!(!old.keep_alive);
        assert!(old.body.is_empty());
    }

    #[test]
    fn a_head_arriving_a_few_bytes_at_a_time_is_read_whole() {
        let two =
            b"\r\nPOST /x HTTP/1.1\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nabcd\
                    GET / HTTP/1.1\r\n\r\n";
        let mut reader = BufReader::with_capacity(3, &two[..]);
        let Incoming::Call(first) = read_request(&mut reader) else {
            panic!("first request");
        };
        assert_eq!(
            (first.method.as_str(), &first.body[..]),
            ("POST", &b"abcd"[..])
        );
        let Incoming::Call(second) = read_request(&mut reader) else {
            panic!("second request");
        };
        assert_eq!(second.method, "GET");
        assert!(second.body.is_empty());
        assert_eq!(read_request(&mut reader), Incoming::Closed);
    }

    #[test]
    fn an_end_inside_a_head_or_bytes_that_are_not_text_are_refused() {
        assert_eq!(read(b"\r\n\r\n"), Incoming::Closed);
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nHost: x\r\n"),
            Incoming::Refused(400)
        );
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nAuthorization: \xff\r\n\r\n"),
            Incoming::Refused(400)
        );
        let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(20_000));
        assert_eq!(read(long_target.as_bytes()), Incoming::Refused(431));
    }

    #[test]
    fn responses_carry_length_and_connection() {
        let mut out = Vec::new();
        let mut answer = HttpAnswer::new(401, "text/plain", "no\n");
        answer.extra_header = Some(("WWW-Authenticate", "Basic realm=\"pocx\""));
        write_response(&mut out, &answer, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
        assert!(text.contains("Content-Length: 3\r\n"));
        assert!(text.contains("WWW-Authenticate: Basic realm=\"pocx\"\r\n"));
        assert!(text.contains("Connection: close\r\n\r\nno\n"));
        let mut empty = Vec::new();
        write_response(&mut empty, &HttpAnswer::new(204, "text/plain", ""), true).unwrap();
        let text = String::from_utf8(empty).unwrap();
        assert!(!text.contains("Content-Length"));
        assert!(text.ends_with("Connection: keep-alive\r\n\r\n"));
    }
}
