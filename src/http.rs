//! Plain request and response values that handlers work on.
//!
//! The server turns tiny_http's streaming request into an [`HttpRequest`] (body already read and
//! bounded) and writes an [`HttpResponse`] back. Handlers are `fn(&Context, HttpRequest) ->
//! HttpResponse` over these two types, so they are unit-testable without a socket.
//! This module does no I/O.

use std::net::SocketAddr;

/// One HTTP request, read in full (the server enforces the body limit before building it).
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// Path without the query string, e.g. `/stats`.
    pub path: String,
    /// Query string without `?` (empty when none).
    pub query: String,
    /// Header names lower-cased; values as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The peer, when known (tests may leave it out).
    pub remote: Option<SocketAddr>,
}

impl HttpRequest {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A request for tests and in-process callers.
    pub fn new(method: &str, path: &str) -> HttpRequest {
        HttpRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            ..HttpRequest::default()
        }
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> HttpRequest {
        self.body = body.into();
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> HttpRequest {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }
}

/// One HTTP response. A `None` body with status 204 means "nothing to send".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Extra headers (e.g. `WWW-Authenticate`, `Retry-After`, `Cache-Control`).
    pub headers: Vec<(&'static str, String)>,
}

impl HttpResponse {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse::new(status, "application/json", body)
    }

    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse::new(status, "text/plain; charset=utf-8", body)
    }

    pub fn no_content() -> HttpResponse {
        HttpResponse::new(204, "text/plain; charset=utf-8", Vec::new())
    }

    pub fn not_found() -> HttpResponse {
        HttpResponse::text(404, "not found\n")
    }

    pub fn method_not_allowed(allow: &'static str) -> HttpResponse {
        HttpResponse::text(405, "method not allowed\n").with_header("Allow", allow.to_owned())
    }

    /// 401 asking for Basic credentials.
    pub fn unauthorized(realm: &str) -> HttpResponse {
        HttpResponse::text(401, "authentication required\n")
            .with_header("WWW-Authenticate", format!("Basic realm=\"{realm}\""))
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> HttpResponse {
        self.headers.push((name, value));
        self
    }
}

/// Appends `number` in decimal (response bodies and headers are built without `fmt`).
pub fn push_decimal(out: &mut Vec<u8>, number: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = number;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}
