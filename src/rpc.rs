//! The JSON-RPC 2.0 envelope: turning a request body into calls and answers back into bytes.
//!
//! Knows nothing of the PoCX methods: `handlers` gives it a dispatch function. It owns the
//! envelope rules of the protocol — ids echoed as sent (string, number or null), parse errors
//! (-32700, id null), invalid requests (-32600), batches (array in, array out; an empty batch is
//! one -32600), notifications (no `id`: no answer at all). Nesting depth is bounded by serde_json's
//! recursion limit and the body size by the server, so no input can exhaust the stack or memory.

use serde_json::{json, Map, Value};

use crate::protocol::code;

/// Most calls one batch may carry; a miner sends one at a time, so this only stops abuse.
pub const MAX_BATCH: usize = 64;

/// One well-formed call taken out of the envelope.
#[derive(Debug)]
pub struct Call<'a> {
    pub method: &'a str,
    pub params: Option<&'a Value>,
    /// `None` for a notification (no `id` member).
    pub id: Option<&'a Value>,
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
    let call = match parse_call(request) {
        Ok(call) => call,
        Err((err, id)) => return Some(error_response(&err, id)),
    };
    let result = dispatch(&call);
    let id = call.id?;
    Some(match result {
        Ok(raw) => result_response(&raw, id),
        Err(err) => error_response(&err, id),
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
        params: params.filter(|p| !p.is_null()),
        id,
    })
}

/// `{"jsonrpc":"2.0","result":<raw>,"id":<id>}` without re-serialising the result.
pub fn result_response(result: &RawJson, id: &Value) -> Vec<u8> {
    let id = serde_json::to_vec(id).unwrap_or_else(|_| b"null".to_vec());
    let mut out = Vec::with_capacity(result.0.len() + id.len() + 32);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","result":"#);
    out.extend_from_slice(&result.0);
    out.extend_from_slice(br#","id":"#);
    out.extend_from_slice(&id);
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
mod tests {
    use super::*;

    fn echo_method(call: &Call) -> CallResult {
        match call.method {
            "ping" => Ok(RawJson::from_value(&json!("pong"))),
            other => Err(RpcError::new(code::METHOD_NOT_FOUND, "method not found")
                .with_data(json!({ "method": other }))),
        }
    }

    fn answer(body: &str) -> Option<Value> {
        answer_body(body.as_bytes(), &mut echo_method).map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn ids_are_echoed_as_sent() {
        for id in [json!("a-uuid"), json!(7), json!(-1.5), Value::Null] {
            let body = json!({"jsonrpc": "2.0", "method": "ping", "id": id}).to_string();
            let got = answer(&body).unwrap();
            assert_eq!(got["id"], id);
            assert_eq!(got["result"], "pong");
        }
    }

    #[test]
    fn envelope_errors_have_their_codes() {
        assert_eq!(answer("{not json").unwrap()["error"]["code"], -32700);
        assert_eq!(answer("{not json").unwrap()["id"], Value::Null);
        assert_eq!(answer("42").unwrap()["error"]["code"], -32600);
        assert_eq!(
            answer(r#"{"jsonrpc":"1.0","method":"ping","id":1}"#).unwrap()["id"],
            1
        );
        assert_eq!(
            answer(r#"{"jsonrpc":"2.0","id":1}"#).unwrap()["error"]["code"],
            -32600
        );
        assert_eq!(
            answer(r#"{"jsonrpc":"2.0","method":"ping","id":{}}"#).unwrap()["error"]["code"],
            -32600
        );
        assert_eq!(
            answer(r#"{"jsonrpc":"2.0","method":"ping","params":3,"id":1}"#).unwrap()["error"]
                ["code"],
            -32600
        );
        let missing = answer(r#"{"jsonrpc":"2.0","method":"nope","id":1}"#).unwrap();
        assert_eq!(missing["error"]["code"], -32601);
        assert_eq!(missing["error"]["data"]["method"], "nope");
    }

    #[test]
    fn batches_answer_in_order_and_skip_notifications() {
        let got = answer(r#"[{"jsonrpc":"2.0","method":"ping","id":1},{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method":"x","id":"b"}]"#).unwrap();
        let items = got.as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["id"], 1);
        assert_eq!(items[1]["error"]["code"], -32601);
        assert_eq!(answer("[]").unwrap()["error"]["code"], -32600);
        assert!(answer(r#"[{"jsonrpc":"2.0","method":"ping"}]"#).is_none());
        assert!(answer(r#"{"jsonrpc":"2.0","method":"ping"}"#).is_none());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let body = "[".repeat(100_000);
        assert_eq!(answer(&body).unwrap()["error"]["code"], -32700);
    }
}
