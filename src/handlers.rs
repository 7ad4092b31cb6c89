//! The miner port's request handlers: plain functions from a shared [`Context`] and one
//! [`HttpRequest`] to one [`HttpResponse`].
//!
//! `POST /` is JSON-RPC (`get_mining_info` from the cache, `submit_nonce` through validation, the
//! round window, time bending and the filter into the verification stage or the forwarder);
//! `GET /health`; `GET /stats`, `/metrics` and `/history` when configured for this port. Every valid
//! submission is answered at once with its own `{raw_quality, poc_time}`, forwarded or not:
//! miners log any error as a rejection. Nothing here blocks on upstream, except that a
//! submission for a height above ours first waits (bounded) for one refresh.
//! Handlers never panic on miners' bytes; the server catches panics all the same.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::auth::AuthError;
use crate::cache::RefreshHandle;
use crate::config::BasicCredentials;
use crate::events::{now_ms, ForwardJob, MachineId};
use crate::filter::{Rounds, Verdict};
use crate::forwarder::Forwarder;
use crate::http::{HttpRequest, HttpResponse};
use crate::limits::{ConnectionLimiter, RateLimiter};
use crate::observability::{Observability, Reports};
use crate::protocol::{code, NonceSubmission};
use crate::rpc::{self, Call, CallResult, RawJson, RpcError};
use crate::stats::Stats;
use crate::store::{StoreRow, StoreSender};
use crate::submission::SubmitParams;
use crate::timebend::TimeBender;
use crate::verify::VerifyStage;

/// Longest `X-Miner` name kept; longer names are cut.
const MAX_MACHINE_NAME: usize = 64;
/// How long a submission for a future height waits for the refresh it triggers.
const FUTURE_HEIGHT_WAIT: Duration = Duration::from_millis(1500);

/// Everything a miner-port handler needs; built once by `app`, shared by all workers.
pub struct Context {
    /// The served round, the round window and the filter.
    pub rounds: Arc<Rounds>,
    pub refresh: RefreshHandle,
    pub forwarder: Forwarder,
    pub verifier: Option<VerifyStage>,
    pub stats: Arc<Stats>,
    pub store: StoreSender,
    pub bender: TimeBender,
    /// The Basic credentials miners must send, when auth is on.
    pub auth: Option<BasicCredentials>,
    pub rate_limiter: Option<RateLimiter>,
    pub connection_limiter: Option<ConnectionLimiter>,
    pub stats_on_miner_port: bool,
    /// What `/health`, `/stats`, `/metrics` and `/history` report.
    pub observe: Arc<Observability>,
}

/// The miner port's one entry point.
pub fn handle(ctx: &Context, request: HttpRequest) -> HttpResponse {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/") => handle_rpc(ctx, &request),
        ("GET" | "HEAD", "/health") => no_store(ctx.observe.health()),
        ("GET" | "HEAD", "/stats") if ctx.stats_on_miner_port => {
            no_store((200, ctx.observe.stats_json()))
        }
        ("GET" | "HEAD", "/metrics") if ctx.stats_on_miner_port => HttpResponse::new(
            200,
            crate::metrics::CONTENT_TYPE,
            ctx.observe.metrics_text(),
        ),
        ("GET" | "HEAD", "/history") if ctx.stats_on_miner_port => {
            no_store(ctx.observe.history(&request.query))
        }
        (_, "/") => HttpResponse::method_not_allowed("POST"),
        (_, "/health") => HttpResponse::method_not_allowed("GET, HEAD"),
        (_, "/stats" | "/metrics" | "/history") if ctx.stats_on_miner_port => {
            HttpResponse::method_not_allowed("GET, HEAD")
        }
        _ => HttpResponse::not_found(),
    }
}

fn handle_rpc(ctx: &Context, request: &HttpRequest) -> HttpResponse {
    let started = Instant::now();
    if let Some(expected) = &ctx.auth {
        if let Err(err) = crate::auth::check(request.header("authorization"), expected) {
            let (code, message) = match err {
                AuthError::Missing => (code::AUTH_REQUIRED, "authentication required"),
                _ => (code::AUTH_INVALID, "authentication invalid"),
            };
            let body = rpc::error_response(&RpcError::new(code, message), &Value::Null);
            return HttpResponse::json(401, body)
                .with_header("WWW-Authenticate", "Basic realm=\"pocx_aggregator\"".into());
        }
    }
    if let (Some(limiter), Some(peer)) = (&ctx.connection_limiter, request.remote) {
        if !limiter.allow(peer) {
            return rate_limited("rate limited: too many connections");
        }
    }
    if let (Some(limiter), Some(peer)) = (&ctx.rate_limiter, request.remote) {
        if !limiter.allow(peer.ip()) {
            return rate_limited("rate limited: too many requests");
        }
    }
    let mut method_seen = "invalid";
    // Named params are read as `submit_nonce`'s; the other methods ignore theirs.
    let answer = rpc::answer_body::<SubmitParams>(&request.body, &mut |call| {
        method_seen = known_method(call.method);
        dispatch(ctx, call, request)
    });
    ctx.stats.record_request(method_seen, started.elapsed());
    match answer {
        Some(body) => HttpResponse::json(200, body),
        None => HttpResponse::no_content(),
    }
}

fn known_method(method: &str) -> &'static str {
    match method {
        "get_mining_info" => "get_mining_info",
        "submit_nonce" => "submit_nonce",
        _ => "other",
    }
}

/// `request` names the submitting machine; only submissions need it, so it is read there.
fn dispatch(ctx: &Context, call: &Call<SubmitParams>, request: &HttpRequest) -> CallResult {
    match call.method {
        "get_mining_info" => {
            ctx.stats.record_poll(&machine_key(request), now_ms());
            get_mining_info(ctx)
        }
        "submit_nonce" => {
            let submission = crate::submission::validate(call.params.named())
                .map_err(|e| RpcError::invalid_params(e.to_string()))?;
            submit_nonce(ctx, submission, &machine_id(request))
        }
        other => Err(RpcError::new(code::METHOD_NOT_FOUND, "method not found")
            .with_data(json!({ "method": truncate(other, 64) }))),
    }
}

fn get_mining_info(ctx: &Context) -> CallResult {
    match ctx.rounds.served() {
        Some(snapshot) => Ok(snapshot.body.clone()),
        None => Err(RpcError::new(
            code::UPSTREAM_UNAVAILABLE,
            "upstream unavailable",
        )),
    }
}

fn submit_nonce(ctx: &Context, submission: NonceSubmission, machine: &MachineId) -> CallResult {
    // `offer` refuses a claim whose base target is not its round's, so this is the round's
    // base target as the upstream gave it, never the miner's alone.
    let poc_time = ctx
        .bender
        .poc_time(submission.raw_quality, submission.base_target)
        .unwrap_or(u64::MAX);
    let received_ms = now_ms();
    let job = ForwardJob {
        submission,
        machine: machine.clone(),
        poc_time,
        received_ms,
    };
    // Without verification an improving submission becomes its key's best at once; with it,
    // only once the claim is proven.
    let commit = ctx.verifier.is_none();
    let mut verdict = ctx.rounds.offer(&job, commit);
    if verdict == Verdict::UnknownRound && above_served(ctx, job.submission.height) {
        ctx.refresh.refresh_now(FUTURE_HEIGHT_WAIT);
        verdict = ctx.rounds.offer(&job, commit);
    }
    let forwarded = match verdict {
        Verdict::Forward => true,
        Verdict::Filtered => false,
        Verdict::UnknownRound => return Err(not_served(ctx, job.submission.height)),
        Verdict::WrongSignature => {
            return Err(
                RpcError::new(code::INVALID_SUBMISSION, "invalid submission")
                    .with_data(json!({"reason": "generation signature does not match the round"})),
            )
        }
        // Upstreams check the claim against the round and refuse a mismatch (-32001 on the
        // mock chain): refusing it here tells the miner, instead of letting it take the key's
        // best slot until the upstream's refusal rolls it back.
        Verdict::WrongBaseTarget { expected } => {
            return Err(
                RpcError::new(code::INVALID_SUBMISSION, "invalid submission").with_data(json!({
                    "reason": "base target does not match the round",
                    "expected": expected,
                    "submitted": job.submission.base_target,
                })),
            )
        }
    };
    let raw_quality = job.submission.raw_quality;
    let record = job.record(forwarded);
    // Recorded before it is handed on: a fast upstream answer must find the account and the
    // machine in the statistics (and the submission row ahead of its outcome in the store).
    if forwarded && ctx.verifier.is_some() {
        // Its quality becomes a best (statistics and store) only once verified, by the
        // verification gate: a forged claim must never show up as the farm's best.
        ctx.stats.record_unverified(&record);
    } else {
        ctx.stats.record_submission(&record);
        ctx.store.send(StoreRow::Submission(record));
    }
    if forwarded {
        match &ctx.verifier {
            Some(verifier) => verifier.submit(job),
            None => ctx.forwarder.submit(job),
        }
    }
    // What `json!({"raw_quality": .., "poc_time": ..})` serialises to (members sorted).
    Ok(RawJson::from_unsigned_fields(&[
        ("poc_time", poc_time),
        ("raw_quality", raw_quality),
    ]))
}

/// True when `height` is above the served round's (or nothing is served yet): the upstream
/// may have moved on since the last poll.
fn above_served(ctx: &Context, height: u64) -> bool {
    ctx.rounds
        .served()
        .is_none_or(|snapshot| height > snapshot.round.height)
}

/// Why a submission for a round that is not tracked is refused: a height above the served
/// one that the upstream did not confirm is a wrong height; any other is stale (another block
/// hash, or older than the window).
fn not_served(ctx: &Context, height: u64) -> RpcError {
    let Some(snapshot) = ctx.rounds.served() else {
        return RpcError::new(code::UPSTREAM_UNAVAILABLE, "upstream unavailable");
    };
    let expected = snapshot.round.height;
    if height <= expected {
        RpcError::new(code::STALE, "stale submission").with_data(json!({"reason": "stale"}))
    } else {
        RpcError::new(code::WRONG_HEIGHT, "wrong height").with_data(json!({
            "reason": "wrong_height", "expected": expected, "submitted": height
        }))
    }
}

/// A 429 with `Retry-After: 1` and the JSON-RPC error `message`.
fn rate_limited(message: &'static str) -> HttpResponse {
    let err = RpcError::new(code::RATE_LIMITED, message);
    HttpResponse::json(429, rpc::error_response(&err, &Value::Null))
        .with_header("Retry-After", "1".into())
}

/// `X-Miner` (or the older `X-Minername`) when sent, cleaned and bounded; else the client IP.
fn machine_id(request: &HttpRequest) -> MachineId {
    MachineId::from(&*machine_key(request))
}

/// The machine's name as [`machine_id`] gives it, borrowed from the request when it needs no
/// cleaning (the usual short printable `X-Miner`), so a poll costs no allocation.
fn machine_key(request: &HttpRequest) -> Cow<'_, str> {
    let sent = request
        .header("x-miner")
        .or_else(|| request.header("x-minername"));
    if let Some(name) = sent.filter(|n| n.len() <= MAX_MACHINE_NAME && is_printable_ascii(n)) {
        let name = name.trim();
        if !name.is_empty() {
            return Cow::Borrowed(name);
        }
    }
    let named = sent
        .map(|name| {
            name.chars()
                .filter(|c| !c.is_control())
                .take(MAX_MACHINE_NAME)
                .collect::<String>()
        })
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    match (named, request.remote) {
        (Some(name), _) => Cow::Owned(name),
        (None, Some(peer)) => Cow::Owned(peer.ip().to_string()),
        (None, None) => Cow::Borrowed("unknown"),
    }
}

fn is_printable_ascii(text: &str) -> bool {
    text.bytes().all(|b| (b' '..=b'~').contains(&b))
}

fn no_store((status, body): (u16, String)) -> HttpResponse {
    HttpResponse::json(status, body).with_header("Cache-Control", "no-store".into())
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
