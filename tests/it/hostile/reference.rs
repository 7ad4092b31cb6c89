//! The JSON-RPC envelope worked out from a `serde_json::Value` reading of the body, the
//! straightforward way: what the aggregator's one-pass reading must answer byte for byte.

use serde_json::{json, Value};

use pocx_aggregator::protocol::code;
use pocx_aggregator::rpc::{error_response, CallResult, RpcError, MAX_BATCH};

/// A call as read from its `Value`.
pub struct Call<'a> {
    pub method: &'a str,
    /// Named or positional; `None` when absent or null.
    pub params: Option<&'a Value>,
    pub id: Option<&'a Value>,
}

/// The answer to `body` (`None`: notifications only).
pub fn answer(body: &[u8], dispatch: &mut dyn FnMut(&Call) -> CallResult) -> Option<Vec<u8>> {
    let whole_body = |err: RpcError| Some(error_response(&err, &Value::Null));
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return whole_body(RpcError::new(code::PARSE_ERROR, "parse error"));
    };
    let Value::Array(items) = parsed else {
        return answer_one(&parsed, dispatch);
    };
    if items.is_empty() {
        let err = RpcError::new(code::INVALID_REQUEST, "invalid request: empty batch");
        return whole_body(err);
    }
    if items.len() > MAX_BATCH {
        let why = format!("invalid request: batch of more than {MAX_BATCH} calls");
        return whole_body(RpcError::new(code::INVALID_REQUEST, why));
    }
    let answers: Vec<String> = items
        .iter()
        .filter_map(|item| answer_one(item, dispatch))
        .map(|answer| String::from_utf8(answer).expect("answers are UTF-8"))
        .collect();
    (!answers.is_empty()).then(|| format!("[{}]", answers.join(",")).into_bytes())
}

fn answer_one(request: &Value, dispatch: &mut dyn FnMut(&Call) -> CallResult) -> Option<Vec<u8>> {
    match read_call(request) {
        Ok(call) => {
            let result = dispatch(&call);
            let id = call.id?;
            Some(match result {
                Ok(raw) => {
                    let result = String::from_utf8(raw.0.to_vec()).expect("results are UTF-8");
                    format!(r#"{{"jsonrpc":"2.0","result":{result},"id":{id}}}"#).into_bytes()
                }
                Err(err) => error_response(&err, id),
            })
        }
        Err((err, id)) => Some(error_response(&err, &id)),
    }
}

fn read_call(request: &Value) -> Result<Call<'_>, (RpcError, Value)> {
    let invalid =
        |why: &str| RpcError::new(code::INVALID_REQUEST, format!("invalid request: {why}"));
    let Value::Object(members) = request else {
        return Err((invalid("not an object"), Value::Null));
    };
    let id = members.get("id");
    let echo = match id {
        Some(id @ (Value::String(_) | Value::Number(_) | Value::Null)) => id.clone(),
        Some(_) => {
            return Err((
                invalid("id must be a string, a number or null"),
                json!(null),
            ))
        }
        None => Value::Null,
    };
    if members.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((invalid("jsonrpc must be \"2.0\""), echo));
    }
    let Some(method) = members.get("method").and_then(Value::as_str) else {
        return Err((invalid("method must be a string"), echo));
    };
    let params = members.get("params").filter(|params| !params.is_null());
    if params.is_some_and(|params| !(params.is_object() || params.is_array())) {
        return Err((invalid("params must be an object or an array"), echo));
    }
    Ok(Call { method, params, id })
}
