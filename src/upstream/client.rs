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
    /// The client of the primary endpoint; `timeout` bounds every call as a whole (connect,
    /// send, receive).
    pub fn new(
        settings: &UpstreamSettings,
        timeout: Duration,
        connections: usize,
    ) -> UpstreamClient {
        let primary = UpstreamEndpoint {
            url: settings.url.clone(),
            auth: settings.auth.clone(),
        };
        UpstreamClient::for_endpoint(settings, &primary, timeout, connections)
    }

    /// The client of one endpoint, primary or backup, with the site name and TLS settings
    /// of `settings`.
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
mod tests {
    use super::*;

    #[test]
    fn tokens_with_a_colon_are_basic_others_bearer() {
        assert_eq!(token_header("user:pass"), "Basic dXNlcjpwYXNz");
        assert_eq!(token_header("abc123"), "Bearer abc123");
    }

    #[test]
    fn rpc_errors_keep_code_and_data() {
        let err = parse_rpc_answer(br#"{"jsonrpc":"2.0","error":{"code":-32002,"message":"wrong height","data":{"reason":"wrong_height"}},"id":1}"#)
            .unwrap_err();
        assert_eq!(err.rpc_code(), Some(-32002));
        assert_eq!(err.reason(), "wrong_height");
    }

    #[test]
    fn html_and_garbage_are_bad_responses() {
        for body in [&b"<html>oops</html>"[..], b"", b"[1,2]", b"{\"id\":1}"] {
            assert!(matches!(
                parse_rpc_answer(body),
                Err(UpstreamError::BadResponse(_))
            ));
        }
    }

    #[test]
    fn mining_info_is_checked_and_kept_whole() {
        let raw = json!({"height": 7, "base_target": 5, "generation_signature": "ab", "block_hash": "cd", "future": [1]});
        let info = parse_mining_info(raw.clone()).unwrap();
        assert_eq!((info.height, info.base_target), (7, 5));
        assert_eq!(info.raw, raw);
        for broken in [
            json!({"height": 7, "base_target": 0, "generation_signature": "ab", "block_hash": "cd"}),
            json!({"height": -1, "base_target": 5, "generation_signature": "ab", "block_hash": "cd"}),
            json!({"height": 7, "base_target": 5, "generation_signature": "zz", "block_hash": "cd"}),
            json!("nope"),
        ] {
            assert!(parse_mining_info(broken).is_err());
        }
    }

    /// Answers one connection with `answer` (after reading the whole request) and closes it.
    fn one_answer_server(answer: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
        use crate::sim::http1::{read_request, Incoming};
        use std::io::{BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            // Unread bytes at close would reset the connection under the answer.
            assert!(matches!(read_request(&mut reader), Incoming::Call(_)));
            let _ = reader.get_mut().write_all(&answer);
        });
        (url, server)
    }

    fn client_for(url: String) -> UpstreamClient {
        let mut config = crate::config::Config::with_upstream_url(&url).unwrap();
        config.upstream.site_name = "test-site".into();
        UpstreamClient::new(&config.upstream, Duration::from_secs(5), 1)
    }

    #[test]
    fn every_call_names_the_site_in_x_miner() {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for answer in [
                r#"{"jsonrpc":"2.0","result":{"height":7,"base_target":5,"generation_signature":"ab","block_hash":"cd"},"id":1}"#,
                r#"{"jsonrpc":"2.0","result":{"raw_quality":9,"poc_time":3},"id":2}"#,
            ] {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream);
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = n.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line.to_ascii_lowercase());
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let _ = reader.get_mut().write_all(&http_answer("", answer));
                heads.push(head);
            }
            heads
        });
        let client = client_for(url);
        client.get_mining_info().unwrap();
        let submission = NonceSubmission {
            block_hash: "cd".into(),
            height: 7,
            generation_signature: "ab".into(),
            base_target: 5,
            account_id: "0".repeat(40),
            seed: "ab".repeat(32),
            nonce: 1,
            compression: 1,
            raw_quality: 9,
        };
        client.submit_nonce(&submission).unwrap();
        let heads = server.join().unwrap();
        assert_eq!(heads.len(), 2);
        for head in heads {
            assert!(head.contains("\r\nx-miner: test-site\r\n"), "{head}");
        }
    }

    fn http_answer(extra_head: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra_head}\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn an_answer_far_larger_than_the_connection_buffer_is_read_whole() {
        let padding = "x".repeat(20 * CONNECTION_BUFFER_BYTES);
        let body = format!(
            r#"{{"jsonrpc":"2.0","result":{{"height":7,"base_target":5,"generation_signature":"ab","block_hash":"cd","padding":"{padding}"}},"id":1}}"#
        );
        let (url, server) = one_answer_server(http_answer("", &body));
        let info = client_for(url).get_mining_info().unwrap();
        server.join().unwrap();
        assert_eq!(info.height, 7);
        assert_eq!(
            info.raw["padding"].as_str().map(str::len),
            Some(padding.len())
        );
    }

    #[test]
    fn an_answer_head_over_the_limit_is_an_error() {
        let header = format!("X-Filler: {}\r\n", "y".repeat(CONNECTION_BUFFER_BYTES));
        // Just under the limit is fine.
        let fits = format!("X-Filler: {}\r\n", "y".repeat(MAX_ANSWER_HEAD_BYTES - 200));
        let body = r#"{"jsonrpc":"2.0","result":{"height":7,"base_target":5,"generation_signature":"ab","block_hash":"cd"},"id":1}"#;
        let (url, server) = one_answer_server(http_answer(&fits, body));
        assert_eq!(client_for(url).get_mining_info().unwrap().height, 7);
        server.join().unwrap();
        let (url, server) = one_answer_server(http_answer(&header, body));
        let error = client_for(url).get_mining_info().unwrap_err();
        server.join().unwrap();
        assert_eq!(
            error.to_string(),
            format!(
                "upstream answered garbage: answer head larger than {MAX_ANSWER_HEAD_BYTES} bytes"
            )
        );
    }
}
