//! The JSON-RPC 2.0 envelope: turning a request body into calls and answers back into bytes.
//!
//! Knows nothing of the PoCX methods: `handlers` gives it a dispatch function and the type named
//! params are read into (`submission::SubmitParams`). It owns the envelope rules of the
//! protocol — ids echoed as sent (string, number or null), parse errors (-32700, id null),
//! invalid requests (-32600), batches (array in, array out; an empty batch is one -32600),
//! notifications (no `id`: no answer at all). Nesting depth is bounded by serde_json's recursion
//! limit and the body size by the server, so no input can exhaust the stack or memory.
//!
//! One reading (`read`): the body is read once, with serde, into the envelope's members and
//! the method's params type, checked exactly as reading it into a `serde_json::Value` would be.

mod read;

pub use read::{Checked, Params, Scalar};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::protocol::code;
use read::{Body, Members, Request};

/// Most calls one batch may carry; a miner sends one at a time, so this only stops abuse.
pub const MAX_BATCH: usize = 64;

/// One well-formed call taken out of the envelope (borrowed from its reading), its params
/// read into `P`.
#[derive(Debug)]
pub struct Call<'a, P> {
    pub method: &'a str,
    pub params: &'a Params<P>,
    /// `None` for a notification (no `id` member); else a string, a number or null.
    pub id: Option<&'a Scalar<'a>>,
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
            out.extend_from_slice(itoa::Buffer::new().format(*number).as_bytes());
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

/// Answers a whole request body, each call's named params read into `P` (a type that reads any
/// JSON object). `None` means nothing to send back (only notifications).
pub fn answer_body<'a, P: Deserialize<'a>>(
    body: &'a [u8],
    dispatch: &mut dyn FnMut(&Call<P>) -> CallResult,
) -> Option<Vec<u8>> {
    // Checking the whole body as UTF-8 once is cheaper than serde_json checking each of its
    // strings; a body that is not UTF-8 is not JSON either.
    let read = std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str::<Body<P>>(text).ok());
    // Matched by reference: a call's reading is a few hundred bytes, not worth moving.
    let calls = match &read {
        None => {
            let err = RpcError::new(code::PARSE_ERROR, "parse error");
            return Some(error_response(&err, &Value::Null));
        }
        Some(Body::One(request)) => return answer_one(request, dispatch),
        Some(Body::Batch(calls)) if calls.is_empty() => {
            let err = RpcError::new(code::INVALID_REQUEST, "invalid request: empty batch");
            return Some(error_response(&err, &Value::Null));
        }
        Some(Body::TooLong) => {
            let err = RpcError::new(
                code::INVALID_REQUEST,
                format!("invalid request: batch of more than {MAX_BATCH} calls"),
            );
            return Some(error_response(&err, &Value::Null));
        }
        Some(Body::Batch(calls)) => calls,
    };
    let answers: Vec<Vec<u8>> = calls
        .iter()
        .filter_map(|request| answer_one(request, dispatch))
        .collect();
    if answers.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(answers.iter().map(|a| a.len() + 1).sum::<usize>() + 2);
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

fn answer_one<P>(
    request: &Request<P>,
    dispatch: &mut dyn FnMut(&Call<P>) -> CallResult,
) -> Option<Vec<u8>> {
    match as_call(request) {
        Ok(call) => {
            let result = dispatch(&call);
            let id = call.id?;
            Some(match result {
                Ok(raw) => result_with_id(&raw, id),
                Err(err) => error_response(&err, &id.to_value()),
            })
        }
        Err((err, id)) => Some(error_response(&err, &id)),
    }
}

/// The envelope rules, in order; a broken rule answers with the id when it is usable.
fn as_call<'a, P>(request: &'a Request<P>) -> Result<Call<'a, P>, (RpcError, Value)> {
    let invalid =
        |why: &str| RpcError::new(code::INVALID_REQUEST, format!("invalid request: {why}"));
    let Request::Object(Members {
        jsonrpc,
        method,
        params,
        id,
    }) = request
    else {
        return Err((invalid("not an object"), Value::Null));
    };
    if matches!(id, Some(Scalar::Bool(_) | Scalar::Container)) {
        return Err((
            invalid("id must be a string, a number or null"),
            Value::Null,
        ));
    }
    let echo = |err| (err, id.as_ref().map_or(Value::Null, Scalar::to_value));
    if jsonrpc.as_ref().and_then(Scalar::as_str) != Some("2.0") {
        return Err(echo(invalid("jsonrpc must be \"2.0\"")));
    }
    let Some(Scalar::Text(method)) = method else {
        return Err(echo(invalid("method must be a string")));
    };
    if matches!(params, Params::Other) {
        return Err(echo(invalid("params must be an object or an array")));
    }
    Ok(Call {
        method: method.as_ref(),
        params,
        id: id.as_ref(),
    })
}

/// `{"jsonrpc":"2.0","result":<raw>,"id":<id>}` without re-serialising the result.
fn result_with_id(result: &RawJson, id: &Scalar) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"jsonrpc":"2.0","result":"#;
    const ID: &[u8] = br#","id":"#;
    // Room for any number or a short string id without growing.
    let mut out = Vec::with_capacity(HEAD.len() + result.0.len() + ID.len() + 48);
    out.extend_from_slice(HEAD);
    out.extend_from_slice(&result.0);
    out.extend_from_slice(ID);
    // Byte for byte what serialising the id as a `Value` gives; the usual ids without one.
    let written = match id {
        Scalar::Text(text) => serde_json::to_writer(&mut out, text.as_ref()),
        Scalar::Unsigned(number) => {
            out.extend_from_slice(itoa::Buffer::new().format(*number).as_bytes());
            Ok(())
        }
        other => serde_json::to_writer(&mut out, &other.to_value()),
    };
    if written.is_err() {
        out.extend_from_slice(b"null");
    }
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
