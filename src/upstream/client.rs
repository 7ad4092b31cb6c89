//! The blocking JSON-RPC client for the upstream pool or wallet node.
//!
//! Owns one ureq agent (a small keep-alive pool) and the credentials. Used by the cache thread
//! (`get_mining_info`) and by the forwarder's threads (`submit_nonce`, through [`SubmitUpstream`]).
//! It makes exactly one HTTP call per method call, except that with cookie auth a 401 makes it
//! re-read the cookie file and try once more. It never retries anything else: retry policy
//! belongs to the forwarder. Upstream bytes are untrusted: bodies are size-limited and every
//! field is checked before use.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{json, Value};

use super::error::printable;
use super::resolver::QuickResolver;
use super::tls::{refusal, tls_config};
use super::{SubmitUpstream, UpstreamError};
use crate::auth::basic_header;
use crate::config::{UpstreamAuth, UpstreamEndpoint, UpstreamSettings};
use crate::protocol::{NonceSubmission, SubmitAnswer};

/// Upstream answers larger than this are refused (a mining-info answer is well under 1 KiB).
const MAX_RESPONSE_BYTES: u64 = 1 << 20;
/// Each pooled connection's read and write buffer. ureq's default (128 KiB each) is zeroed
/// again for every call; calls and answer heads are well under 1 KiB.
const CONNECTION_BUFFER_BYTES: usize = 16 * 1024;
/// The largest answer head (status line and headers) accepted; below the buffer, so a longer
/// one is reported as such rather than as a connection that stopped making progress.
const MAX_ANSWER_HEAD_BYTES: usize = 8 * 1024;

/// The upstream's current round, checked, plus its answer untouched for pass-through.
#[derive(Debug, Clone, PartialEq)]
pub struct MiningInfo {
    pub height: u64,
    pub base_target: u64,
    pub generation_signature: String,
    pub block_hash: String,
    /// The `result` object exactly as the upstream sent it (unknown fields included).
    pub raw: Value,
}

enum Credentials {
    None,
    Header(String),
    Cookie {
        path: PathBuf,
        header: Mutex<Option<String>>,
    },
}

/// A JSON-RPC request, written straight from its parts.
#[derive(Serialize)]
struct CallBody<'a, P: ?Sized> {
    jsonrpc: &'static str,
    method: &'a str,
    params: &'a P,
    id: u64,
}

pub struct UpstreamClient {
    agent: ureq::Agent,
    url: String,
    /// Bounds `get_mining_info` calls when shorter than the agent's timeout.
    poll_timeout: Option<Duration>,
    /// `X-Miner` of every call: this site's name as the upstream shows it.
    site_name: String,
    credentials: Credentials,
    next_id: AtomicU64,
}

impl UpstreamClient {
    /// The client of one endpoint, primary or backup, with the site name and TLS settings
    /// of `settings`; `timeout` bounds every call as a whole (connect, send, receive).
    pub fn for_endpoint(
        settings: &UpstreamSettings,
        endpoint: &UpstreamEndpoint,
        timeout: Duration,
        connections: usize,
    ) -> UpstreamClient {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_idle_connections(connections.max(1) + 2)
            .max_idle_connections_per_host(connections.max(1) + 2)
            .user_agent(concat!("pocx_aggregator/", env!("CARGO_PKG_VERSION")))
            .input_buffer_size(CONNECTION_BUFFER_BYTES)
            .output_buffer_size(CONNECTION_BUFFER_BYTES)
            .max_response_header_size(MAX_ANSWER_HEAD_BYTES)
            .tls_config(tls_config(&settings.tls))
            .build();
        let credentials = match &endpoint.auth {
            UpstreamAuth::None => Credentials::None,
            UpstreamAuth::Token(token) => Credentials::Header(token_header(token)),
            UpstreamAuth::UserPass(c) => {
                Credentials::Header(basic_header(&format!("{}:{}", c.username, c.password)))
            }
            UpstreamAuth::Cookie(path) => Credentials::Cookie {
                path: path.clone(),
                header: Mutex::new(None),
            },
        };
        UpstreamClient {
            agent: QuickResolver::agent(config),
            url: endpoint.url.clone(),
            poll_timeout: None,
            site_name: settings.site_name.clone(),
            credentials,
            next_id: AtomicU64::new(1),
        }
    }

    /// Mining-info polls give up after `timeout` (submissions keep the agent's timeout): with a
    /// backup at hand, an endpoint that hangs should count as failed within seconds.
    pub fn with_poll_timeout(mut self, timeout: Duration) -> UpstreamClient {
        self.poll_timeout = Some(timeout);
        self
    }

    /// Fetches and checks the current round.
    pub fn get_mining_info(&self) -> Result<MiningInfo, UpstreamError> {
        let result = self.call_within("get_mining_info", &json!({}), self.poll_timeout)?;
        parse_mining_info(result)
    }

    /// One JSON-RPC call; `Ok` is the `result` member.
    pub fn call<P: Serialize + ?Sized>(
        &self,
        method: &str,
        params: &P,
    ) -> Result<Value, UpstreamError> {
        self.call_within(method, params, None)
    }

    fn call_within<P: Serialize + ?Sized>(
        &self,
        method: &str,
        params: &P,
        timeout: Option<Duration>,
    ) -> Result<Value, UpstreamError> {
        let call = CallBody {
            jsonrpc: "2.0",
            method,
            params,
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
        };
        let body =
            serde_json::to_vec(&call).map_err(|e| UpstreamError::BadResponse(e.to_string()))?;
        match self.post(&body, false, timeout) {
            Err(UpstreamError::Unauthorized { .. }) if self.is_cookie() => {
                self.post(&body, true, timeout)
            }
            other => other,
        }
    }

    fn is_cookie(&self) -> bool {
        matches!(self.credentials, Credentials::Cookie { .. })
    }

    fn authorization(&self, reread_cookie: bool) -> Result<Option<String>, UpstreamError> {
        match &self.credentials {
            Credentials::None => Ok(None),
            Credentials::Header(h) => Ok(Some(h.clone())),
            Credentials::Cookie { path, header } => {
                let mut cached = header.lock();
                if reread_cookie || cached.is_none() {
                    let text = std::fs::read_to_string(path).map_err(UpstreamError::Cookie)?;
                    *cached = Some(basic_header(text.trim()));
                }
                Ok(cached.clone())
            }
        }
    }

    fn post(
        &self,
        body: &[u8],
        reread_cookie: bool,
        timeout: Option<Duration>,
    ) -> Result<Value, UpstreamError> {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Miner", &self.site_name);
        if let Some(timeout) = timeout {
            request = request.config().timeout_global(Some(timeout)).build();
        }
        if let Some(auth) = self.authorization(reread_cookie)? {
            request = request.header("Authorization", auth);
        }
        let mut response = request.send(body).map_err(transport_error)?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(transport_error)?;
        if status == 401 || status == 403 {
            return Err(UpstreamError::Unauthorized { status });
        }
        // Bitcoin Core style nodes send JSON-RPC errors with HTTP 500: the body says more than
        // the status, so look at it first.
        match parse_rpc_answer(&bytes) {
            Ok(result) if (200..300).contains(&status) => Ok(result),
            Ok(_) => Err(UpstreamError::Http { status }),
            Err(e @ UpstreamError::Rpc { .. }) => Err(e),
            Err(_) if !(200..300).contains(&status) => Err(UpstreamError::Http { status }),
            Err(e) => Err(e),
        }
    }
}

impl SubmitUpstream for UpstreamClient {
    fn submit_nonce(&self, submission: &NonceSubmission) -> Result<SubmitAnswer, UpstreamError> {
        let result = self.call("submit_nonce", submission)?;
        parse_submit_answer(&result)
    }
}

fn transport_error(error: ureq::Error) -> UpstreamError {
    match error {
        ureq::Error::Timeout(_) => UpstreamError::Timeout,
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            UpstreamError::Timeout
        }
        ureq::Error::BodyExceedsLimit(limit) => {
            UpstreamError::BadResponse(format!("answer larger than {limit} bytes"))
        }
        ureq::Error::LargeResponseHeader(_, limit) => {
            UpstreamError::BadResponse(format!("answer head larger than {limit} bytes"))
        }
        other => match refusal(&other) {
            Some(meaning) => UpstreamError::Tls {
                meaning,
                detail: printable(&other.to_string()),
            },
            None => UpstreamError::Connect(other.to_string()),
        },
    }
}

/// The `result` of a JSON-RPC 2.0 answer, or its error object as [`UpstreamError::Rpc`].
pub fn parse_rpc_answer(bytes: &[u8]) -> Result<Value, UpstreamError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|_| {
        let start = String::from_utf8_lossy(bytes.get(..40).unwrap_or(bytes)).into_owned();
        UpstreamError::BadResponse(format!("not JSON (starts with {start:?})"))
    })?;
    let Value::Object(mut object) = value else {
        return Err(UpstreamError::BadResponse(
            "answer is not a JSON object".into(),
        ));
    };
    if let Some(error) = object.remove("error").filter(|e| !e.is_null()) {
        let code = error.get("code").and_then(Value::as_i64);
        let Some(code) = code else {
            return Err(UpstreamError::BadResponse(
                "error without an integer code".into(),
            ));
        };
        let message = printable(error.get("message").and_then(Value::as_str).unwrap_or(""));
        return Err(UpstreamError::Rpc {
            code,
            message,
            data: error.get("data").cloned(),
        });
    }
    object
        .remove("result")
        .ok_or_else(|| UpstreamError::BadResponse("answer has neither result nor error".into()))
}

pub fn parse_mining_info(result: Value) -> Result<MiningInfo, UpstreamError> {
    let bad = |what: &str| UpstreamError::BadResponse(format!("mining info: {what}"));
    let text = |name: &str| -> Result<String, UpstreamError> {
        match result.get(name).and_then(Value::as_str) {
            Some(s)
                if !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Ok(s.to_owned())
            }
            _ => Err(bad(&format!("`{name}` missing or not hex"))),
        }
    };
    let height = result
        .get("height")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("`height` missing or not an unsigned integer"))?;
    let base_target = result
        .get("base_target")
        .and_then(Value::as_u64)
        .filter(|bt| *bt > 0)
        .ok_or_else(|| bad("`base_target` missing or not a positive integer"))?;
    Ok(MiningInfo {
        height,
        base_target,
        generation_signature: text("generation_signature")?,
        block_hash: text("block_hash")?,
        raw: result,
    })
}

fn parse_submit_answer(result: &Value) -> Result<SubmitAnswer, UpstreamError> {
    if !result.is_object() {
        return Err(UpstreamError::BadResponse(
            "submit answer is not an object".into(),
        ));
    }
    Ok(SubmitAnswer {
        raw_quality: result.get("raw_quality").and_then(Value::as_u64),
        poc_time: result.get("poc_time").and_then(Value::as_u64),
    })
}

/// `user:password` tokens travel as Basic (what PoCX clients do); anything else as Bearer.
fn token_header(token: &str) -> String {
    if token.contains(':') {
        basic_header(token)
    } else {
        format!("Bearer {token}")
    }
}

#[cfg(test)]
mod tests;
