//! What can go wrong talking to the upstream, and whether trying again can help.

use std::fmt;

use crate::protocol::is_transient_code;

#[derive(Debug)]
pub enum UpstreamError {
    /// Could not connect, or the connection broke.
    Connect(String),
    /// The TLS handshake failed over a certificate (theirs or ours): what it means to an
    /// operator, and rustls's own words.
    Tls {
        meaning: &'static str,
        detail: String,
    },
    /// No answer within `cache.pool_timeout_secs`.
    Timeout,
    /// A non-success HTTP status other than 401/403.
    Http { status: u16 },
    /// HTTP 401 or 403: credentials missing or wrong.
    Unauthorized { status: u16 },
    /// The body was not the JSON-RPC answer expected (HTML, garbage, missing fields).
    BadResponse(String),
    /// A JSON-RPC error object.
    Rpc {
        code: i64,
        message: String,
        data: Option<serde_json::Value>,
    },
    /// The cookie file for cookie auth could not be read.
    Cookie(std::io::Error),
}

impl UpstreamError {
    /// True when the same request may succeed later (connect errors, timeouts, 5xx, garbage,
    /// "busy" codes). Definitive answers (a rejection, bad credentials) are false.
    pub fn is_transient(&self) -> bool {
        match self {
            // A certificate can be fixed on the other side while a submission waits.
            UpstreamError::Connect(_)
            | UpstreamError::Tls { .. }
            | UpstreamError::Timeout
            | UpstreamError::BadResponse(_) => true,
            UpstreamError::Http { status } => *status >= 500 || *status == 429,
            UpstreamError::Rpc { code, .. } => is_transient_code(*code),
            UpstreamError::Unauthorized { .. } | UpstreamError::Cookie(_) => false,
        }
    }

    /// The JSON-RPC code when the upstream answered with one.
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            UpstreamError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A short reason for logs and the store: the upstream's `data.reason` or message.
    pub fn reason(&self) -> String {
        match self {
            UpstreamError::Rpc { message, data, .. } => data
                .as_ref()
                .and_then(|d| d.get("reason"))
                .and_then(|r| r.as_str())
                .map(printable)
                .unwrap_or_else(|| message.clone()),
            other => other.to_string(),
        }
    }
}

/// Longest piece of upstream text kept in a message.
pub const MAX_UPSTREAM_TEXT: usize = 200;

/// Upstream text made safe for one log line: control characters (newlines, terminal escapes)
/// become spaces, and the length is bounded.
pub fn printable(text: &str) -> String {
    text.chars()
        .take(MAX_UPSTREAM_TEXT)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::Connect(e) => write!(f, "cannot reach upstream: {e}"),
            UpstreamError::Tls { meaning, detail } => {
                write!(f, "upstream refused over TLS: {meaning} ({detail})")
            }
            UpstreamError::Timeout => write!(f, "upstream timed out"),
            UpstreamError::Http { status } => write!(f, "upstream answered http {status}"),
            UpstreamError::Unauthorized { status } => {
                write!(f, "upstream refused our credentials (http {status})")
            }
            UpstreamError::BadResponse(e) => write!(f, "upstream answered garbage: {e}"),
            UpstreamError::Rpc { code, message, .. } => {
                write!(f, "upstream error {code}: {message}")
            }
            UpstreamError::Cookie(_) => write!(f, "cannot read the upstream cookie file"),
        }
    }
}

impl std::error::Error for UpstreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UpstreamError::Cookie(e) => Some(e),
            _ => None,
        }
    }
}
