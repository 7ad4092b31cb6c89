//! Between tiny_http's streaming request and our plain [`HttpRequest`]/[`HttpResponse`] values.
//!
//! Reads a body with a hard size limit and writes responses by hand, so we decide every header
//! (tiny_http drops a `Connection` header set through its own API, and we need `Connection:
//! close` after a body that did not arrive). No policy lives here: the worker loop decides what to
//! do.

use std::io::{self, Read, Write};

use crate::http::{Headers, HttpRequest, HttpResponse};

/// Why a request could not be turned into an [`HttpRequest`].
#[derive(Debug)]
pub enum ReadFailure {
    /// The body is larger than the limit (known from `Content-Length` or found while reading).
    TooLarge,
    /// The client stopped sending in the middle of the body, or the socket failed.
    Io(io::Error),
}

/// Copies the head of `request` and reads its body, at most `max_body` bytes.
pub fn read_request(
    request: &mut tiny_http::Request,
    max_body: usize,
) -> Result<HttpRequest, ReadFailure> {
    if request.body_length().is_some_and(|len| len > max_body) {
        return Err(ReadFailure::TooLarge);
    }
    let (path, query) = split_url(request.url());
    let (path, query) = (path.to_owned(), query.to_owned());
    let sent = request.headers().get(..64).unwrap_or(request.headers());
    let bytes = sent
        .iter()
        .map(|h| h.field.as_str().as_str().len() + h.value.as_str().len())
        .sum();
    let mut headers = Headers::with_capacity(sent.len(), bytes);
    for h in sent {
        headers.push(h.field.as_str().as_str(), h.value.as_str());
    }
    let mut body = Vec::with_capacity(request.body_length().unwrap_or(0).min(max_body));
    let limit = u64::try_from(max_body)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    request
        .as_reader()
        .take(limit)
        .read_to_end(&mut body)
        .map_err(ReadFailure::Io)?;
    if body.len() > max_body {
        return Err(ReadFailure::TooLarge);
    }
    Ok(HttpRequest {
        method: request.method().as_str().to_ascii_uppercase(),
        path,
        query,
        headers,
        body,
        remote: request.remote_addr().copied(),
    })
}

fn split_url(url: &str) -> (&str, &str) {
    match url.split_once('?') {
        Some((path, query)) => (path, query),
        None => (url, ""),
    }
}

/// True when the client asked to close the connection after this request.
pub fn client_wants_close(request: &tiny_http::Request) -> bool {
    let http10 = *request.http_version() == tiny_http::HTTPVersion(1, 0);
    let connection = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Connection"))
        .map(|h| h.value.as_str().to_ascii_lowercase());
    match connection {
        Some(v) if v.contains("close") => true,
        Some(v) => http10 && !v.contains("keep-alive"),
        None => http10,
    }
}

/// Writes `response` in full to the request's writer. `head_only` leaves the body out (HEAD).
pub fn write_response(
    writer: &mut dyn Write,
    response: &HttpResponse,
    close: bool,
    head_only: bool,
) -> io::Result<()> {
    let bytes = encode_response(response, close, head_only);
    match writer.write_all(&bytes).and_then(|()| writer.flush()) {
        Err(e) if is_client_gone(&e) => Ok(()),
        other => other,
    }
}

/// Head and body in one buffer of the right size (one write, no formatting machinery).
pub fn encode_response(response: &HttpResponse, close: bool, head_only: bool) -> Vec<u8> {
    let body: &[u8] = if head_only { &[] } else { &response.body };
    let extra: usize = response
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len() + 4)
        .sum();
    let mut out = Vec::with_capacity(128 + response.content_type.len() + extra + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(response.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(response.status).as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(response.content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    out.extend_from_slice(itoa::Buffer::new().format(response.body.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &response.headers {
        // Header values built by handlers never hold line breaks; refuse them all the same.
        if !value.contains(['\r', '\n']) {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn is_client_gone(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_encoded_byte_for_byte() {
        let response = HttpResponse::json(200, b"{\"a\":1}".to_vec())
            .with_header("Retry-After", "1".into())
            .with_header("X-Bad", "a\r\nInjected: yes".into());
        let text = String::from_utf8(encode_response(&response, true, false)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\
             Retry-After: 1\r\nConnection: close\r\n\r\n{\"a\":1}"
        );
        let head = encode_response(&HttpResponse::text(599, "gone\n"), false, true);
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "HTTP/1.1 599 Unknown\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 5\r\n\r\n"
        );
    }
}
