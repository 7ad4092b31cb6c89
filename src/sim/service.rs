//! What the simulated upstream answers: the scripted behaviour, the JSON-RPC envelope, the call
//! counters and the bounded history of received submissions.
//!
//! `serve` turns one HTTP request (method, Authorization header, body) into a [`Reply`]; the
//! listener in `upstream` writes the reply (or holds the request for a `Hang`). No sockets
//! here, so every behaviour is testable in-process. Bytes from clients are untrusted: nothing
//! in here can panic on them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use super::chain::{Chain, RpcFailure};
use crate::protocol::{code, NonceSubmission};

/// How many received submissions the history keeps (oldest forgotten first).
const SUBMISSION_HISTORY: usize = 100_000;

/// How the simulated upstream answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// A working upstream.
    Normal,
    /// Down: the listening socket is closed (new connections are refused) and open
    /// connections are closed. As a per-call answer (submit override or script) the
    /// connection is closed without an answer.
    Refuse,
    /// The request is held without an answer (at most `hang_limit`), then its connection is
    /// closed.
    Hang,
    /// HTTP 500 with a text body.
    Http500,
    /// HTTP 200 with an HTML page, as a misconfigured proxy would send.
    Html,
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// A JSON-RPC error with this code.
    RpcError(i64),
}

/// What the simulated upstream did with one received `submit_nonce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedAnswer {
    Accepted { raw_quality: u64, poc_time: u64 },
    RpcError(i64),
    HttpStatus(u16),
    NotJson,
    NoAnswer,
}

impl RecordedAnswer {
    pub fn is_accepted(&self) -> bool {
        matches!(self, RecordedAnswer::Accepted { .. })
    }
}

/// One `submit_nonce` the simulated upstream received.
#[derive(Debug, Clone)]
pub struct RecordedSubmission {
    /// The params exactly as received.
    pub params: Value,
    /// The params when they had the right shape (whatever the answer).
    pub submission: Option<NonceSubmission>,
    pub answer: RecordedAnswer,
    pub received_at: Instant,
}

/// What the listener should do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    Json(Vec<u8>),
    /// Nothing to answer (only notifications): HTTP 204.
    Empty,
    Status(u16, &'static str),
    Unauthorized,
    Html,
    Garbage,
    /// Hold the request unanswered for the hang limit, then close the connection.
    Hang,
    /// Close the connection without any answer.
    Close,
}

/// The behaviour settings, changed by the test or demo driving the simulation.
#[derive(Debug)]
struct Script {
    both: Behaviour,
    submit_override: Option<Behaviour>,
    submit_answers: VecDeque<Behaviour>,
}

/// State shared by the listener's workers and the controlling handle.
#[derive(Debug)]
pub(super) struct Service {
    pub(super) block_time_secs: u64,
    pub(super) extra_fields: Map<String, Value>,
    pub(super) require_auth: Option<String>,
    pub(super) chain: Mutex<Chain>,
    script: Mutex<Script>,
    submissions: Mutex<VecDeque<RecordedSubmission>>,
    pub(super) mining_info_calls: AtomicU64,
    pub(super) submit_calls: AtomicU64,
}

impl Service {
    pub(super) fn new(
        block_time_secs: u64,
        base_target: u64,
        extra_fields: Map<String, Value>,
        require_auth: Option<String>,
    ) -> Service {
        Service {
            block_time_secs,
            extra_fields,
            require_auth,
            chain: Mutex::new(Chain::new(base_target)),
            script: Mutex::new(Script {
                both: Behaviour::Normal,
                submit_override: None,
                submit_answers: VecDeque::new(),
            }),
            submissions: Mutex::new(VecDeque::new()),
            mining_info_calls: AtomicU64::new(0),
            submit_calls: AtomicU64::new(0),
        }
    }

    pub(super) fn set_behaviour(&self, behaviour: Behaviour) {
        self.script.lock().both = behaviour;
    }

    pub(super) fn set_submit_behaviour(&self, behaviour: Option<Behaviour>) {
        self.script.lock().submit_override = behaviour;
    }

    pub(super) fn script_submit_answers(&self, answers: Vec<Behaviour>) {
        self.script.lock().submit_answers = answers.into();
    }

    pub(super) fn submissions(&self) -> Vec<RecordedSubmission> {
        self.submissions.lock().iter().cloned().collect()
    }

    fn record(&self, params: Option<&Value>, answer: RecordedAnswer, received_at: Instant) {
        let params = params.cloned().unwrap_or(Value::Null);
        let submission = super::chain::read_params(Some(&params)).ok();
        let mut history = self.submissions.lock();
        if history.len() >= SUBMISSION_HISTORY {
            history.pop_front();
        }
        history.push_back(RecordedSubmission {
            params,
            submission,
            answer,
            received_at,
        });
    }

    /// Answers one HTTP request.
    pub(super) fn serve(
        &self,
        http_method: &str,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let received_at = Instant::now();
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let single = parsed.as_ref().filter(|v| v.is_object());
        let single_method = single
            .and_then(|call| call.get("method"))
            .and_then(Value::as_str);
        let is_submit = single_method == Some("submit_nonce");
        match single_method {
            Some("get_mining_info") => {
                self.mining_info_calls.fetch_add(1, Ordering::Relaxed);
            }
            Some("submit_nonce") => {
                self.submit_calls.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        let behaviour = self.behaviour_for(is_submit);
        let params = single.and_then(|call| call.get("params"));
        let answer_early = |answer: RecordedAnswer| {
            if is_submit {
                self.record(params, answer, received_at);
            }
        };
        match behaviour {
            Behaviour::Normal => {}
            Behaviour::Refuse => {
                answer_early(RecordedAnswer::NoAnswer);
                return Reply::Close;
            }
            Behaviour::Hang => {
                answer_early(RecordedAnswer::NoAnswer);
                return Reply::Hang;
            }
            Behaviour::Http500 => {
                answer_early(RecordedAnswer::HttpStatus(500));
                return Reply::Status(500, "internal server error\n");
            }
            Behaviour::Html => {
                answer_early(RecordedAnswer::NotJson);
                return Reply::Html;
            }
            Behaviour::Garbage => {
                answer_early(RecordedAnswer::NotJson);
                return Reply::Garbage;
            }
            Behaviour::RpcError(_) => {}
        }
        if http_method != "POST" {
            answer_early(RecordedAnswer::HttpStatus(405));
            return Reply::Status(405, "method not allowed\n");
        }
        if let Some(expected) = &self.require_auth {
            if authorization != Some(expected.as_str()) {
                answer_early(RecordedAnswer::HttpStatus(401));
                return Reply::Unauthorized;
            }
        }
        let forced_error = match behaviour {
            Behaviour::RpcError(code) => Some(code),
            _ => None,
        };
        let Some(parsed) = parsed else {
            let failure = failure(code::PARSE_ERROR, "parse error", None);
            return json_reply(&error_object(&Value::Null, &failure));
        };
        match parsed {
            Value::Array(calls) if calls.is_empty() => {
                let failure = failure(code::INVALID_REQUEST, "empty batch", None);
                json_reply(&error_object(&Value::Null, &failure))
            }
            Value::Array(calls) => {
                let answers: Vec<Value> = calls
                    .iter()
                    .filter_map(|call| self.answer_call(call, forced_error, received_at, true))
                    .collect();
                if answers.is_empty() {
                    Reply::Empty
                } else {
                    json_reply(&Value::Array(answers))
                }
            }
            call => match self.answer_call(&call, forced_error, received_at, false) {
                Some(answer) => json_reply(&answer),
                None => Reply::Empty,
            },
        }
    }

    /// The behaviour for this call: a scripted answer, then the submit override, then the
    /// behaviour for both methods.
    fn behaviour_for(&self, is_submit: bool) -> Behaviour {
        let mut script = self.script.lock();
        if is_submit {
            if let Some(next) = script.submit_answers.pop_front() {
                return next;
            }
            if let Some(behaviour) = &script.submit_override {
                return behaviour.clone();
            }
        }
        script.both.clone()
    }

    /// One JSON-RPC call; `None` for a notification. Calls inside a batch are counted here
    /// (single calls were counted by `serve`).
    fn answer_call(
        &self,
        call: &Value,
        forced_error: Option<i64>,
        received_at: Instant,
        in_batch: bool,
    ) -> Option<Value> {
        let Some(object) = call.as_object() else {
            let failure = failure(code::INVALID_REQUEST, "invalid request", None);
            return Some(error_object(&Value::Null, &failure));
        };
        let id = object.get("id").cloned();
        let reply_id = id.clone().unwrap_or(Value::Null);
        let method = object.get("method").and_then(Value::as_str);
        let params = object.get("params");
        if in_batch {
            match method {
                Some("get_mining_info") => self.mining_info_calls.fetch_add(1, Ordering::Relaxed),
                Some("submit_nonce") => self.submit_calls.fetch_add(1, Ordering::Relaxed),
                _ => 0,
            };
        }
        let outcome: Result<Value, RpcFailure> = match (object.get("jsonrpc"), method) {
            (Some(Value::String(version)), Some(method)) if version == "2.0" => {
                match (forced_error, method) {
                    (Some(code), "submit_nonce") => {
                        self.record(params, RecordedAnswer::RpcError(code), received_at);
                        Err(failure(code, "simulated error", None))
                    }
                    (Some(code), _) => Err(failure(code, "simulated error", None)),
                    (None, method) => self.answer_method(method, params, received_at),
                }
            }
            (_, method) => {
                if method == Some("submit_nonce") {
                    let answer = RecordedAnswer::RpcError(code::INVALID_REQUEST);
                    self.record(params, answer, received_at);
                }
                Err(failure(code::INVALID_REQUEST, "invalid request", None))
            }
        };
        // A call without an id is a notification: processed, never answered.
        id.as_ref()?;
        Some(match outcome {
            Ok(result) => json!({ "jsonrpc": "2.0", "result": result, "id": reply_id }),
            Err(failure) => error_object(&reply_id, &failure),
        })
    }

    fn answer_method(
        &self,
        method: &str,
        params: Option<&Value>,
        received_at: Instant,
    ) -> Result<Value, RpcFailure> {
        match method {
            "get_mining_info" => Ok(self.chain.lock().mining_info(&self.extra_fields)),
            "submit_nonce" => {
                let judged = self
                    .chain
                    .lock()
                    .judge_submission(params, self.block_time_secs);
                let answer = match &judged {
                    Ok((submission, result)) => RecordedAnswer::Accepted {
                        raw_quality: submission.raw_quality,
                        poc_time: result
                            .get("poc_time")
                            .and_then(Value::as_u64)
                            .unwrap_or(u64::MAX),
                    },
                    Err(failure) => RecordedAnswer::RpcError(failure.code),
                };
                self.record(params, answer, received_at);
                judged.map(|(_, result)| result)
            }
            other => Err(failure(
                code::METHOD_NOT_FOUND,
                "method not found",
                Some(json!({ "method": other })),
            )),
        }
    }
}

fn failure(code: i64, message: &str, data: Option<Value>) -> RpcFailure {
    RpcFailure {
        code,
        message: message.to_owned(),
        data,
    }
}

fn error_object(id: &Value, failure: &RpcFailure) -> Value {
    let mut error = json!({ "code": failure.code, "message": failure.message });
    if let (Some(data), Some(object)) = (&failure.data, error.as_object_mut()) {
        object.insert("data".into(), data.clone());
    }
    json!({ "jsonrpc": "2.0", "error": error, "id": id })
}

fn json_reply(value: &Value) -> Reply {
    Reply::Json(serde_json::to_vec(value).unwrap_or_default())
}
