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
    pub headers: Headers,
    pub body: Vec<u8>,
    /// The peer, when known (tests may leave it out).
    pub remote: Option<SocketAddr>,
}

impl HttpRequest {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// A request for tests and in-process callers.
    pub fn new(method: &str, path: &str) -> HttpRequest {
        HttpRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            ..HttpRequest::default()
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> HttpRequest {
        self.headers.push(name, value);
        self
    }
}

/// A request's headers in one buffer — two allocations however many a client sends, where a
/// pair of strings per header made every request a dozen or more.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    /// Names (lower-cased) and values, one after the other.
    text: String,
    /// Per header, where its name ends and where its value ends in `text`; a name starts
    /// where the previous value ended.
    ends: Vec<(usize, usize)>,
}

impl Headers {
    /// Room for `count` headers of `bytes` name and value bytes in all.
    pub fn with_capacity(count: usize, bytes: usize) -> Headers {
        Headers {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(count),
        }
    }

    /// Adds a header; the name is kept lower-cased.
    pub fn push(&mut self, name: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        if let Some(added) = self.text.get_mut(start..) {
            added.make_ascii_lowercase();
        }
        let name_end = self.text.len();
        self.text.push_str(value);
        self.ends.push((name_end, self.text.len()));
    }

    /// Every header in the order sent: (lower-cased name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|&(_, value_end)| value_end));
        starts
            .zip(&self.ends)
            .map(|(start, &(name_end, value_end))| {
                (
                    self.text.get(start..name_end).unwrap_or(""),
                    self.text.get(name_end..value_end).unwrap_or(""),
                )
            })
    }

    /// The first value of `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_order_lower_case_names_and_values_as_sent() {
        let mut headers = Headers::default();
        headers.push("X-Miner", "Rig North");
        headers.push("Authorization", "Basic YQ==");
        headers.push("x-miner", "second");
        headers.push("Empty", "");
        let all: Vec<(&str, &str)> = headers.iter().collect();
        assert_eq!(
            all,
            [
                ("x-miner", "Rig North"),
                ("authorization", "Basic YQ=="),
                ("x-miner", "second"),
                ("empty", ""),
            ]
        );
        assert_eq!(headers.get("X-MINER"), Some("Rig North"), "first one wins");
        assert_eq!(headers.get("empty"), Some(""));
        assert_eq!(headers.get("missing"), None);
        assert_eq!(headers.len(), 4);
        assert!(Headers::default().is_empty());
    }

    #[test]
    fn requests_read_headers_in_any_case() {
        let request = HttpRequest::new("POST", "/").with_header("Content-Type", "application/json");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("CONTENT-TYPE"), Some("application/json"));
    }
}
