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

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::auth::AuthError;
use crate::cache::{MiningInfoCache, RefreshHandle};
use crate::config::{BasicCredentials, SubmissionMode};
use crate::events::{now_ms, ForwardJob, MachineId, RoundInfo, SubmissionRecord};
use crate::filter::{Filter, HeldBack, Offer};
use crate::forwarder::Forwarder;
use crate::history::HistoryBook;
use crate::http::{HttpRequest, HttpResponse};
use crate::limits::{ConnectionLimiter, RateLimiter};
use crate::protocol::{code, NonceSubmission};
use crate::rpc::{self, Call, CallResult, RawJson, RpcError};
use crate::stats::{Gauges, Stats};
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
    pub cache: Arc<MiningInfoCache>,
    pub refresh: RefreshHandle,
    pub filter: Arc<Mutex<Filter>>,
    /// Submissions held back behind an undecided better one (see `filter::held`).
    pub held: Arc<HeldBack>,
    pub forwarder: Forwarder,
    pub verifier: Option<VerifyStage>,
    pub stats: Arc<Stats>,
    /// The hourly history `/history` answers from.
    pub history: Arc<HistoryBook>,
    pub store: Option<StoreSender>,
    pub bender: TimeBender,
    pub mode: SubmissionMode,
    /// The Basic credentials miners must send, when auth is on.
    pub auth: Option<BasicCredentials>,
    pub rate_limiter: Option<RateLimiter>,
    pub connection_limiter: Option<ConnectionLimiter>,
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
        ("GET" | "HEAD", "/history") if ctx.stats_on_miner_port => {
            let (status, body) = crate::history::answer(&ctx.history, &request.query, now_ms());
            HttpResponse::json(status, body).with_header("Cache-Control", "no-store".into())
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
            let err = RpcError::new(code::RATE_LIMITED, "rate limited: too many connections");
            return HttpResponse::json(429, rpc::error_response(&err, &Value::Null))
                .with_header("Retry-After", "1".into());
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
    if !round.same_signature {
        return Err(
            RpcError::new(code::INVALID_SUBMISSION, "invalid submission")
                .with_data(json!({"reason": "generation signature does not match the round"})),
        );
    }
    // Upstreams check the claim against the round and refuse a mismatch (-32001 on the mock
    // chain): refusing it here tells the miner, instead of letting it take the key's best slot
    // until the upstream's refusal rolls it back.
    if submission.base_target != round.base_target {
        return Err(
            RpcError::new(code::INVALID_SUBMISSION, "invalid submission").with_data(json!({
                "reason": "base target does not match the round",
                "expected": round.base_target,
                "submitted": submission.base_target,
            })),
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
    let forwarded = improves(ctx, &job);
    let raw_quality = job.submission.raw_quality;
    let record = SubmissionRecord {
        account_id: job.submission.account_id.clone(),
        machine: machine.clone(),
        height: job.submission.height,
        raw_quality: job.submission.raw_quality,
        poc_time,
        received_ms,
        forwarded,
    };
    // Recorded before it is handed on: a fast upstream answer must find the account and the
    // machine in the statistics (and the submission row ahead of its outcome in the store).
    if forwarded && ctx.verifier.is_some() {
        // Its quality becomes a best (statistics and store) only once verified, by the
        // verification gate: a forged claim must never show up as the farm's best.
        ctx.stats.record_unverified(&record);
    } else {
        ctx.stats.record_submission(&record);
        if let Some(store) = &ctx.store {
            store.send(StoreRow::Submission(record));
        }
    }
    if forwarded {
        route(ctx, job);
    }
    // What `json!({"raw_quality": .., "poc_time": ..})` serialises to (members sorted).
    Ok(RawJson::from_unsigned_fields(&[
        ("poc_time", poc_time),
        ("raw_quality", raw_quality),
    ]))
}

/// Whether the submission improves on its key's best; without verification it becomes the
/// key's best at once (with verification, only once the claim is proven).
fn improves(ctx: &Context, job: &ForwardJob) -> bool {
    let mut filter = ctx.filter.lock();
    let commit = ctx.verifier.is_none();
    match judge(ctx, &mut filter, job, commit) {
        Offer::Improves { .. } => true,
        Offer::NotBetter { accepted, .. } if commit => {
            // Beaten only by a best the upstream has not accepted yet: keep it in case that
            // one is refused.
            ctx.held.hold(job, accepted);
            false
        }
        _ => false,
    }
}

/// Sends an improving submission on its way: to verification when it is on, else upstream.
fn route(ctx: &Context, job: ForwardJob) {
    match &ctx.verifier {
        Some(verifier) => verifier.submit(job),
        None => ctx.forwarder.submit(job),
    }
}

/// The filter's verdict (committed as the key's best when `commit`). The refresh thread
/// publishes a new round before it tells the filter, so a submission for the round being
/// served may find it untracked for a moment: the filter then starts tracking it rather than
/// losing the submission.
fn judge(ctx: &Context, filter: &mut Filter, job: &ForwardJob, commit: bool) -> Offer {
    let s = &job.submission;
    let ask = |filter: &mut Filter| {
        if commit {
            filter.offer(s.height, &s.block_hash, &s.account_id, s.raw_quality)
        } else {
            filter.would_improve(s.height, &s.block_hash, &s.account_id, s.raw_quality)
        }
    };
    match ask(filter) {
        Offer::RoundNotTracked if is_current_round(ctx, s.height, &s.block_hash) => {
            filter.start_round(s.height, &s.block_hash);
            ask(filter)
        }
        verdict => verdict,
    }
}

fn is_current_round(ctx: &Context, height: u64, block_hash: &str) -> bool {
    ctx.cache.snapshot().is_some_and(|snap| {
        snap.round.height == height && snap.round.block_hash.eq_ignore_ascii_case(block_hash)
    })
}

/// The served round the submission belongs to, refreshing once if it names a future height.
/// A height above ours that upstream does not confirm is a wrong height; a lower or equal
/// height that is not one of the served rounds (another block hash, or older than the window)
/// is stale.
fn served_round(ctx: &Context, s: &NonceSubmission) -> Result<RoundCheck, RpcError> {
    if let Some(round) = find_served_round(ctx, s) {
        return Ok(round);
    }
    let current = ctx.cache.snapshot().map(|snap| snap.round.height);
    if current.is_none_or(|h| s.height > h) {
        ctx.refresh.refresh_now(FUTURE_HEIGHT_WAIT);
        if let Some(round) = find_served_round(ctx, s) {
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
    if s.height <= expected {
        Err(RpcError::new(code::STALE, "stale submission").with_data(json!({"reason": "stale"})))
    } else {
        Err(
            RpcError::new(code::WRONG_HEIGHT, "wrong height").with_data(json!({
                "reason": "wrong_height", "expected": expected, "submitted": s.height
            })),
        )
    }
}

/// What a submission is checked against in its round.
#[derive(Debug, Clone, Copy)]
struct RoundCheck {
    base_target: u64,
    /// The submission names the round's generation signature (hex case aside).
    same_signature: bool,
}

/// One of the last three rounds, or the round being served right now (the refresh thread
/// publishes it a moment before it joins the recent rounds).
fn find_served_round(ctx: &Context, s: &NonceSubmission) -> Option<RoundCheck> {
    let check = |round: &RoundInfo| RoundCheck {
        base_target: round.base_target,
        same_signature: round
            .generation_signature
            .eq_ignore_ascii_case(&s.generation_signature),
    };
    ctx.cache
        .read_served_round(s.height, &s.block_hash, check)
        .or_else(|| {
            let snapshot = ctx.cache.snapshot()?;
            let round = &snapshot.round;
            (round.height == s.height && round.block_hash.eq_ignore_ascii_case(&s.block_hash))
                .then(|| check(round))
        })
}

/// `X-Miner` (or the older `X-Minername`) when sent, cleaned and bounded; else the client IP.
pub fn machine_id(request: &HttpRequest) -> MachineId {
    match machine_key(request) {
        Cow::Borrowed(name) => name.into(),
        Cow::Owned(name) => name.into(),
    }
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

fn health(ctx: &Context) -> HttpResponse {
    let (code, body) = health_report(&ctx.cache, &(ctx.gauges)(), ctx.mining_info_ttl);
    HttpResponse::json(code, body).with_header("Cache-Control", "no-store".into())
}

/// The `/health` answer (status code and JSON body), shared by the miner and dashboard ports:
/// 503 until the first mining info; "degraded" when the info is older than the TTL or the
/// database cannot be written.
pub fn health_report(cache: &MiningInfoCache, gauges: &Gauges, ttl: Duration) -> (u16, String) {
    let upstream = cache.health();
    let snapshot = cache.snapshot();
    let age_ms = cache.age_ms(now_ms());
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
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
        "upstream_active": gauges.upstreams.active_label(),
        "upstream_endpoints": gauges.upstreams.endpoints_json(),
    });
    let code = if snapshot.is_some() { 200 } else { 503 };
    (code, body.to_string())
}

fn stats_json(ctx: &Context) -> HttpResponse {
    let body = ctx.stats.snapshot_json(now_ms(), &(ctx.gauges)());
    HttpResponse::json(200, body.to_string()).with_header("Cache-Control", "no-store".into())
}

fn metrics_text(ctx: &Context) -> HttpResponse {
    let text = crate::metrics::render_metrics(&ctx.stats, now_ms(), &(ctx.gauges)());
    HttpResponse::new(200, "text/plain; version=0.0.4; charset=utf-8", text)
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
