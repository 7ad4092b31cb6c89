//! The JSON-RPC 2.0 envelope: turning a request body into calls and answers back into bytes.
//!
//! Knows nothing of the PoCX methods: `handlers` gives it a dispatch function. It owns the
//! envelope rules of the protocol — ids echoed as sent (string, number or null), parse errors
//! (-32700, id null), invalid requests (-32600), batches (array in, array out; an empty batch is
//! one -32600), notifications (no `id`: no answer at all). Nesting depth is bounded by serde_json's
//! recursion limit and the body size by the server, so no input can exhaust the stack or memory.
//!
//! Two readings, one meaning: a body holding one plain call is read without building a JSON tree
//! (`single`), everything else (batches, unusual ids, every error) by the general reading into
//! `serde_json::Value`. A body the fast reading does not fully accept goes to the general one.

mod single;

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::protocol::code;

/// Most calls one batch may carry; a miner sends one at a time, so this only stops abuse.
pub const MAX_BATCH: usize = 64;

/// One well-formed call taken out of the envelope.
#[derive(Debug)]
pub struct Call<'a> {
    pub method: &'a str,
    pub params: Params<'a>,
    /// `None` for a notification (no `id` member).
    pub id: Option<CallId<'a>>,
}

/// A call's `params` (an object or an array when present; JSON `null` counts as absent).
#[derive(Debug, Clone, Copy)]
pub enum Params<'a> {
    Absent,
    /// From the general reading.
    Parsed(&'a Value),
    /// Still inside this single-call body, not read yet.
    InBody(&'a [u8]),
}

impl<'a> Params<'a> {
    /// The params as a JSON value (`None` when absent).
    pub fn value(&self) -> Option<Cow<'a, Value>> {
        match *self {
            Params::Absent => None,
            Params::Parsed(value) => Some(Cow::Borrowed(value)),
            Params::InBody(body) => single::params_value(body).map(Cow::Owned),
        }
    }

    /// The params read straight into `T` (borrowing from the body), when they are an object
    /// `T` accepts; `None` otherwise — then [`Params::value`] is the way to find out why.
    pub fn named<T: Deserialize<'a>>(&self) -> Option<T> {
        match *self {
            Params::Absent => None,
            Params::Parsed(value) => single::named_from_value(value),
            Params::InBody(body) => single::named_params(body),
        }
    }
}

/// A call's id, echoed as sent.
#[derive(Debug, Clone, Copy)]
pub enum CallId<'a> {
    /// From the general reading.
    Value(&'a Value),
    /// A string without escapes, as it appeared between its quotes.
    Text(&'a str),
    Unsigned(u64),
    Null,
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> RpcError {
        self.data = Some(data);
        self
    }

    pub fn invalid_params(details: impl Into<String>) -> RpcError {
        let details = details.into();
        RpcError::new(code::INVALID_PARAMS, format!("invalid params: {details}"))
            .with_data(json!({ "details": details }))
    }
}

/// What a dispatch function answers for one call: the `result` member, already serialised
/// (lets `get_mining_info` reuse one pre-built body), or an error.
pub type CallResult = Result<RawJson, RpcError>;

/// Bytes that are known to be one valid JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJson(pub std::sync::Arc<[u8]>);

impl RawJson {
    /// `{"name":number,...}` in the order given, written directly. Names must be plain JSON
    /// string content (no quotes or backslashes); give them in sorted order to match what
    /// serialising a `json!` object of the same members produces.
    pub fn from_unsigned_fields(fields: &[(&str, u64)]) -> RawJson {
        let mut out = Vec::with_capacity(2 + fields.len() * 32);
        out.push(b'{');
        for (i, (name, number)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            crate::http::push_decimal(&mut out, *number);
        }
        out.push(b'}');
        RawJson(out.into())
    }

    pub fn from_value(value: &Value) -> RawJson {
        // Serialising a Value cannot fail: its map keys are strings.
        RawJson(
            serde_json::to_vec(value)
                .unwrap_or_else(|_| b"null".to_vec())
                .into(),
        )
    }
}

/// Answers a whole request body. `None` means nothing to send back (only notifications).
pub fn answer_body(body: &[u8], dispatch: &mut dyn FnMut(&Call) -> CallResult) -> Option<Vec<u8>> {
    match single::parse(body) {
        Some(call) => answer_call(&call, dispatch),
        None => answer_general(body, dispatch),
    }
}

/// The general reading: any body, through a `serde_json::Value`.
fn answer_general(body: &[u8], dispatch: &mut dyn FnMut(&Call) -> CallResult) -> Option<Vec<u8>> {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            let err = RpcError::new(code::PARSE_ERROR, "parse error");
            return Some(error_response(&err, &Value::Null));
        }
    };
    match parsed {
        Value::Array(items) if items.is_empty() => {
            let err = RpcError::new(code::INVALID_REQUEST, "invalid request: empty batch");
            Some(error_response(&err, &Value::Null))
        }
        Value::Array(items) if items.len() > MAX_BATCH => {
            let err = RpcError::new(
                code::INVALID_REQUEST,
                format!("invalid request: batch of more than {MAX_BATCH} calls"),
            );
            Some(error_response(&err, &Value::Null))
        }
        Value::Array(items) => {
            let answers: Vec<Vec<u8>> = items
                .iter()
                .filter_map(|item| answer_one(item, dispatch))
                .collect();
            if answers.is_empty() {
                return None;
            }
            let mut out =
                Vec::with_capacity(answers.iter().map(|a| a.len() + 1).sum::<usize>() + 2);
            out.push(b'[');
            for (i, answer) in answers.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(answer);
            }
            out.push(b']');
            Some(out)
        }
        single => answer_one(&single, dispatch),
    }
}

fn answer_one(request: &Value, dispatch: &mut dyn FnMut(&Call) -> CallResult) -> Option<Vec<u8>> {
    match parse_call(request) {
        Ok(call) => answer_call(&call, dispatch),
        Err((err, id)) => Some(error_response(&err, id)),
    }
}

fn answer_call(call: &Call, dispatch: &mut dyn FnMut(&Call) -> CallResult) -> Option<Vec<u8>> {
    answer_for(call.id.as_ref(), dispatch(call))
}

/// The answer to a call with `id`; `None` for a notification (no id), which gets none.
pub fn answer_for(id: Option<&CallId>, result: CallResult) -> Option<Vec<u8>> {
    let id = id?;
    Some(match result {
        Ok(raw) => result_with_id(&raw, id),
        Err(err) => error_response(&err, &id.as_value()),
    })
}

fn parse_call(request: &Value) -> Result<Call<'_>, (RpcError, &Value)> {
    const NULL: &Value = &Value::Null;
    let invalid =
        |why: &str| RpcError::new(code::INVALID_REQUEST, format!("invalid request: {why}"));
    let Value::Object(object) = request else {
        return Err((invalid("not an object"), NULL));
    };
    let id = object.get("id");
    let echo = match id {
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Null)) => v,
        Some(_) => return Err((invalid("id must be a string, a number or null"), NULL)),
        None => NULL,
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((invalid("jsonrpc must be \"2.0\""), echo));
    }
    let Some(method) = object.get("method").and_then(Value::as_str) else {
        return Err((invalid("method must be a string"), echo));
    };
    let params = object.get("params");
    if matches!(params, Some(p) if !(p.is_object() || p.is_array() || p.is_null())) {
        return Err((invalid("params must be an object or an array"), echo));
    }
    Ok(Call {
        method,
        params: params
            .filter(|p| !p.is_null())
            .map_or(Params::Absent, Params::Parsed),
        id: id.map(CallId::Value),
    })
}

/// `{"jsonrpc":"2.0","result":<raw>,"id":<id>}` without re-serialising the result.
pub fn result_response(result: &RawJson, id: &Value) -> Vec<u8> {
    result_with_id(result, &CallId::Value(id))
}

fn result_with_id(result: &RawJson, id: &CallId) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"jsonrpc":"2.0","result":"#;
    const ID: &[u8] = br#","id":"#;
    // Room for any number or a short string id without growing.
    let mut out = Vec::with_capacity(HEAD.len() + result.0.len() + ID.len() + 48);
    out.extend_from_slice(HEAD);
    out.extend_from_slice(&result.0);
    out.extend_from_slice(ID);
    id.write_json(&mut out);
    out.push(b'}');
    out
}

pub fn error_response(err: &RpcError, id: &Value) -> Vec<u8> {
    let mut error = Map::new();
    error.insert("code".into(), err.code.into());
    error.insert("message".into(), err.message.clone().into());
    if let Some(data) = &err.data {
        error.insert("data".into(), data.clone());
    }
    let body = json!({"jsonrpc": "2.0", "error": error, "id": id});
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests;
