//! The miner port's request handlers: plain functions from a shared [`Context`] and one
//! [`HttpRequest`] to one [`HttpResponse`].
//!
//! `POST /` is JSON-RPC (`get_mining_info` from the cache, `submit_nonce` through validation, the
//! round window, time bending and the filter into the verification stage or the forwarder);
//! `GET /health`; `GET /stats` and `/metrics` when configured for this port. Every valid
//! submission is answered at once with its own `{raw_quality, poc_time}`, forwarded or not:
//! miners log any error as a rejection. Nothing here blocks on upstream, except that a
//! submission for a height above ours first waits (bounded) for one refresh.
//! Handlers never panic on miners' bytes; the server catches panics all the same.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::cache::{MiningInfoCache, RefreshHandle};
use crate::config::{BasicCredentials, SubmissionMode};
use crate::events::{now_ms, ForwardJob, MachineId, SubmissionRecord};
use crate::filter::{Filter, Offer};
use crate::forwarder::Forwarder;
use crate::http::{HttpRequest, HttpResponse};
use crate::limits::RateLimiter;
use crate::protocol::{code, NonceSubmission};
use crate::rpc::{self, Call, CallResult, RawJson, RpcError};
use crate::stats::{Gauges, Stats};
use crate::store::{StoreRow, StoreSender};
use crate::timebend::TimeBender;
use crate::verify::VerifyStage;

mod submit_params;

/// Longest `X-Miner` name kept; longer names are cut.
const MAX_MACHINE_NAME: usize = 64;
/// How long a submission for a future height waits for the refresh it triggers.
const FUTURE_HEIGHT_WAIT: Duration = Duration::from_millis(1500);

/// Everything a miner-port handler needs; built once by `app`, shared by all workers.
pub struct Context {
    pub cache: Arc<MiningInfoCache>,
    pub refresh: RefreshHandle,
    pub filter: Arc<Mutex<Filter>>,
    pub forwarder: Forwarder,
    pub verifier: Option<VerifyStage>,
    pub stats: Arc<Stats>,
    pub store: Option<StoreSender>,
    pub bender: TimeBender,
    pub mode: SubmissionMode,
    /// The exact `Authorization` value miners must send, when auth is on.
    pub expected_auth: Option<String>,
    pub rate_limiter: Option<RateLimiter>,
    pub stats_on_miner_port: bool,
    pub mining_info_ttl: Duration,
    /// Live gauges for `/stats`, `/metrics` and `/health` (queue depths, store health…).
    pub gauges: Arc<dyn Fn() -> Gauges + Send + Sync>,
}

/// The miner port's one entry point.
pub fn handle(ctx: &Context, request: HttpRequest) -> HttpResponse {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/") => handle_rpc(ctx, &request),
        ("GET" | "HEAD", "/health") => health(ctx),
        ("GET" | "HEAD", "/stats") if ctx.stats_on_miner_port => stats_json(ctx),
        ("GET" | "HEAD", "/metrics") if ctx.stats_on_miner_port => metrics_text(ctx),
        (_, "/") => HttpResponse::method_not_allowed("POST"),
        (_, "/health") => HttpResponse::method_not_allowed("GET, HEAD"),
        (_, "/stats" | "/metrics") if ctx.stats_on_miner_port => {
            HttpResponse::method_not_allowed("GET, HEAD")
        }
        _ => HttpResponse::not_found(),
    }
}

fn handle_rpc(ctx: &Context, request: &HttpRequest) -> HttpResponse {
    let started = Instant::now();
    if let Some(expected) = &ctx.expected_auth {
        let sent = request.header("authorization");
        if !sent.is_some_and(|s| constant_time_eq(s.as_bytes(), expected.as_bytes())) {
            let (code, message) = match sent {
                None => (code::AUTH_REQUIRED, "authentication required"),
                Some(_) => (code::AUTH_INVALID, "authentication invalid"),
            };
            let body = rpc::error_response(&RpcError::new(code, message), &Value::Null);
            return HttpResponse::json(401, body)
                .with_header("WWW-Authenticate", "Basic realm=\"pocx_aggregator\"".into());
        }
    }
    if let (Some(limiter), Some(peer)) = (&ctx.rate_limiter, request.remote) {
        if !limiter.allow(peer.ip()) {
            let err = RpcError::new(code::RATE_LIMITED, "rate limited: too many requests");
            return HttpResponse::json(429, rpc::error_response(&err, &Value::Null))
                .with_header("Retry-After", "1".into());
        }
    }
    let mut method_seen = "invalid";
    let answer = rpc::answer_body(&request.body, &mut |call: &Call| {
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
fn dispatch(ctx: &Context, call: &Call, request: &HttpRequest) -> CallResult {
    match call.method {
        "get_mining_info" => get_mining_info(ctx),
        "submit_nonce" => {
            let submission = submit_params::submission(&call.params)?;
            submit_nonce(ctx, submission, &machine_id(request))
        }
        other => Err(RpcError::new(code::METHOD_NOT_FOUND, "method not found")
            .with_data(json!({ "method": truncate(other, 64) }))),
    }
}

fn get_mining_info(ctx: &Context) -> CallResult {
    match ctx.cache.snapshot() {
        Some(snapshot) => Ok(snapshot.body.clone()),
        None => Err(RpcError::new(
            code::UPSTREAM_UNAVAILABLE,
            "upstream unavailable",
        )),
    }
}

fn submit_nonce(ctx: &Context, submission: NonceSubmission, machine: &MachineId) -> CallResult {
    let round = served_round(ctx, &submission)?;
    if !round
        .generation_signature
        .eq_ignore_ascii_case(&submission.generation_signature)
    {
        return Err(
            RpcError::new(code::INVALID_SUBMISSION, "invalid submission")
                .with_data(json!({"reason": "generation signature does not match the round"})),
        );
    }
    // The round's base target as upstream gave it, never the miner's claim.
    let poc_time = ctx
        .bender
        .poc_time(submission.raw_quality, round.base_target)
        .unwrap_or(u64::MAX);
    let received_ms = now_ms();
    let job = ForwardJob {
        submission,
        machine: machine.clone(),
        poc_time,
        received_ms,
    };
    let forwarded = route(ctx, &job);
    let record = SubmissionRecord {
        account_id: job.submission.account_id.clone(),
        machine: machine.clone(),
        height: job.submission.height,
        raw_quality: job.submission.raw_quality,
        poc_time,
        received_ms,
        forwarded,
    };
    ctx.stats.record_submission(&record);
    if let Some(store) = &ctx.store {
        store.send(StoreRow::Submission(record));
    }
    // What `json!({"raw_quality": .., "poc_time": ..})` serialises to (members sorted).
    Ok(RawJson::from_unsigned_fields(&[
        ("poc_time", poc_time),
        ("raw_quality", job.submission.raw_quality),
    ]))
}

/// Sends an improving submission on its way; true when it was handed on.
fn route(ctx: &Context, job: &ForwardJob) -> bool {
    let s = &job.submission;
    let mut filter = ctx.filter.lock();
    match &ctx.verifier {
        Some(verifier) => {
            let improves = matches!(
                filter.would_improve(s.height, &s.block_hash, &s.account_id, s.raw_quality),
                Offer::Improves { .. }
            );
            drop(filter);
            if improves {
                verifier.submit(job.clone());
            }
            improves
        }
        None => {
            let improves = matches!(
                filter.offer(s.height, &s.block_hash, &s.account_id, s.raw_quality),
                Offer::Improves { .. }
            );
            drop(filter);
            if improves {
                ctx.forwarder.submit(job.clone());
            }
            improves
        }
    }
}

/// The served round the submission belongs to, refreshing once if it names a future height.
fn served_round(ctx: &Context, s: &NonceSubmission) -> Result<crate::events::RoundInfo, RpcError> {
    if let Some(round) = ctx.cache.served_round(s.height, &s.block_hash) {
        return Ok(round);
    }
    let current = ctx.cache.snapshot().map(|snap| snap.round.height);
    if current.is_none_or(|h| s.height > h) {
        ctx.refresh.refresh_now(FUTURE_HEIGHT_WAIT);
        if let Some(round) = ctx.cache.served_round(s.height, &s.block_hash) {
            return Ok(round);
        }
    }
    let Some(snapshot) = ctx.cache.snapshot() else {
        return Err(RpcError::new(
            code::UPSTREAM_UNAVAILABLE,
            "upstream unavailable",
        ));
    };
    let expected = snapshot.round.height;
    let known_height =
        s.height <= expected && expected - s.height < crate::cache::ROUND_WINDOW as u64;
    if known_height {
        Err(RpcError::new(code::STALE, "stale submission").with_data(json!({"reason": "stale"})))
    } else {
        Err(
            RpcError::new(code::WRONG_HEIGHT, "wrong height").with_data(json!({
                "reason": "wrong_height", "expected": expected, "submitted": s.height
            })),
        )
    }
}

/// `X-Miner` (or the older `X-Minername`) when sent, cleaned and bounded; else the client IP.
pub fn machine_id(request: &HttpRequest) -> MachineId {
    let sent = request
        .header("x-miner")
        .or_else(|| request.header("x-minername"));
    // The usual name — short printable ASCII — needs no cleaning: one allocation, not three.
    if let Some(name) = sent.filter(|n| n.len() <= MAX_MACHINE_NAME && is_printable_ascii(n)) {
        let name = name.trim();
        if !name.is_empty() {
            return name.into();
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
        (Some(name), _) => name.into(),
        (None, Some(peer)) => peer.ip().to_string().into(),
        (None, None) => "unknown".into(),
    }
}

fn is_printable_ascii(text: &str) -> bool {
    text.bytes().all(|b| (b' '..=b'~').contains(&b))
}

fn health(ctx: &Context) -> HttpResponse {
    let now = now_ms();
    let upstream = ctx.cache.health();
    let gauges = (ctx.gauges)();
    let snapshot = ctx.cache.snapshot();
    let age_ms = ctx.cache.age_ms(now);
    let ttl_ms = u64::try_from(ctx.mining_info_ttl.as_millis()).unwrap_or(u64::MAX);
    let stale = age_ms.is_none_or(|age| age > ttl_ms);
    let status = match (&snapshot, stale, gauges.store.ok) {
        (None, _, _) => "unavailable",
        (Some(_), false, true) => "ok",
        _ => "degraded",
    };
    let body = json!({
        "status": status,
        "upstream_reachable": upstream.reachable,
        "mining_info_age_ms": age_ms,
        "mining_info_stale": stale,
        "height": snapshot.as_ref().map(|s| s.round.height),
        "queue_depth": gauges.queue_depth,
        "verify_queue_depth": gauges.verify_queue_depth,
        "store_ok": gauges.store.ok,
        "store_last_error": gauges.store.last_error,
        "last_error": upstream.last_error,
    });
    let code = if snapshot.is_some() { 200 } else { 503 };
    HttpResponse::json(code, body.to_string()).with_header("Cache-Control", "no-store".into())
}

fn stats_json(ctx: &Context) -> HttpResponse {
    let body = ctx.stats.snapshot_json(now_ms(), &(ctx.gauges)());
    HttpResponse::json(200, body.to_string()).with_header("Cache-Control", "no-store".into())
}

fn metrics_text(ctx: &Context) -> HttpResponse {
    let text = crate::metrics::render_metrics(&ctx.stats, now_ms(), &(ctx.gauges)());
    HttpResponse::new(200, "text/plain; version=0.0.4; charset=utf-8", text)
}

/// Expected `Authorization` header value for Basic credentials.
pub fn basic_auth_header(credentials: &BasicCredentials) -> String {
    let pair = format!("{}:{}", credentials.username, credentials.password);
    format!(
        "Basic {}",
        crate::upstream::client::base64_encode(pair.as_bytes())
    )
}

/// Compares without an early exit, so timing does not reveal how much of a secret matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
