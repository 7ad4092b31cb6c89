//! The HTTP front: a fixed pool of worker threads taking requests from tiny_http.
//!
//! Owns the listening socket (see `listener`), the workers and the guard (`guard`: heads still
//! arriving stay within budget). Each worker first checks the head (`framing`; a refused request
//! is answered and its connection cut off by `refuse`), then turns the request
//! into an [`HttpRequest`], calls the handler — a plain `Fn(HttpRequest) -> HttpResponse` that
//! never sees a socket — under `catch_unwind`, and writes the answer. One panicking request
//! costs that request a 500, never a worker. Behind a trusted reverse proxy the request's client
//! is the one its `X-Forwarded-For` names (`forwarded`). Used twice: for miners (`handlers`) and
//! for the dashboard (`dashboard`).
//!
//! It does not know JSON-RPC, authentication or statistics: that is the handler's business.

mod cut;
mod forwarded;
mod framing;
mod guard;
mod listener;
mod refusals;
mod refuse;
mod slow_lane;
mod sockets;
mod wire;

pub use forwarded::TrustedProxies;
pub use framing::HeadLimits;
pub use refusals::{Refusal, RefusalCounts};

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::RwLock;

use crate::http::{HttpRequest, HttpResponse};
use framing::Head;
use guard::{Guard, Watch};
use listener::{CurrentServer, Keeper};
use slow_lane::SlowLane;
pub(crate) use wire::reason_phrase;
use wire::ReadFailure;

/// Header fields searched for `X-Forwarded-For` (as many as a request is turned into).
const MAX_FORWARDED_HEADERS: usize = 64;

/// What a server runs for each request.
pub type Handler = Arc<dyn Fn(HttpRequest) -> HttpResponse + Send + Sync>;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Used in thread names and log lines ("miner", "dashboard").
    pub name: &'static str,
    pub addr: SocketAddr,
    pub workers: usize,
    /// Largest body read; larger ones get 413 without being read.
    pub max_body: usize,
    /// Read/write timeout of every connection: a stalled client holds nothing longer.
    pub io_timeout: Duration,
    pub head_limits: HeadLimits,
    /// Where refusals are counted (shared by the ports of one aggregator).
    pub refusals: Arc<RefusalCounts>,
    /// Where requests, panics and body read failures are counted (shared likewise).
    pub counters: Arc<ServerCounters>,
    /// Peers whose `X-Forwarded-For` names the request's client.
    pub trusted_proxies: TrustedProxies,
}

impl ServerConfig {
    pub fn new(name: &'static str, addr: SocketAddr, workers: usize) -> ServerConfig {
        ServerConfig {
            name,
            addr,
            workers: workers.max(1),
            max_body: 64 * 1024,
            io_timeout: Duration::from_secs(5),
            head_limits: HeadLimits::default(),
            refusals: Arc::default(),
            counters: Arc::default(),
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

/// Counters the server keeps about itself (exposed through `/metrics`).
#[derive(Debug, Default)]
pub struct ServerCounters {
    /// Requests whose head passed the checks and reached a worker.
    pub requests: AtomicU64,
    /// Handler calls that panicked (answered 500).
    pub panics: AtomicU64,
    /// Bodies not received within the I/O timeout (answered 408).
    pub read_failures: AtomicU64,
}

pub struct HttpServer {
    name: &'static str,
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    keeper: Option<Keeper>,
    slow_lane: Option<SlowLane>,
    guard: Option<Guard>,
    current: CurrentServer,
    counters: Arc<ServerCounters>,
}

impl HttpServer {
    /// Binds and starts serving. The error says which address could not be bound.
    pub fn start(config: ServerConfig, handler: Handler) -> io::Result<HttpServer> {
        let server = listener::bind(config.addr, config.io_timeout).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.addr))
        })?;
        let local_addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("listener has no IP address"))?;
        let current: CurrentServer = Arc::new(RwLock::new(Some(Arc::new(server))));
        let stop = Arc::new(AtomicBool::new(false));
        let accept_died = Arc::new(AtomicBool::new(false));
        let counters = config.counters.clone();
        let watch = Arc::new(Watch::new(
            config.name,
            local_addr,
            guard::head_budget(&config.head_limits),
            config.refusals.clone(),
        ));
        let guard = Guard::start(watch.clone())?;
        let template = Worker {
            config: config.clone(),
            handler: handler.clone(),
            current: current.clone(),
            stop: stop.clone(),
            accept_died: accept_died.clone(),
            watch,
            slow_lane: None,
        };
        let slow_lane = SlowLane::start(&template)?;
        let mut workers = Vec::with_capacity(config.workers);
        for index in 0..config.workers {
            let worker = Worker {
                slow_lane: Some(slow_lane.sender.clone()),
                ..template.clone()
            };
            workers.push(
                thread::Builder::new()
                    .name(format!("{}-worker-{index}", config.name))
                    .spawn(move || worker.run())?,
            );
        }
        let keeper = Keeper::start(
            config.name,
            reachable(local_addr),
            config.io_timeout,
            current.clone(),
            accept_died,
        )?;
        Ok(HttpServer {
            name: config.name,
            local_addr,
            stop,
            workers,
            keeper: Some(keeper),
            slow_lane: Some(slow_lane),
            guard: Some(guard),
            current,
            counters,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn counters(&self) -> Arc<ServerCounters> {
        self.counters.clone()
    }

    /// Stops accepting, lets every worker finish the request in hand, joins them.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(keeper) = self.keeper.take() {
            keeper.shutdown();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        if let Some(lane) = self.slow_lane.take() {
            lane.shutdown(self.name);
        }
        if let Some(guard) = self.guard.take() {
            guard.shutdown();
        }
        // Dropping the last tiny_http handle closes the listening socket.
        self.current.write().take();
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if !self.workers.is_empty() {
            self.stop_all();
        }
    }
}

/// An address the keeper can connect to: the unspecified address means loopback.
pub(crate) fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

#[derive(Clone)]
struct Worker {
    config: ServerConfig,
    handler: Handler,
    current: CurrentServer,
    stop: Arc<AtomicBool>,
    accept_died: Arc<AtomicBool>,
    watch: Arc<Watch>,
    /// Where requests whose body is still on the wire go (`None` on the slow lane itself).
    slow_lane: Option<Sender<tiny_http::Request>>,
}

impl Worker {
    fn run(self) {
        while !self.stop.load(Ordering::Acquire) {
            let Some(server) = self.current.read().clone() else {
                return;
            };
            match server.recv_timeout(Duration::from_millis(200)) {
                Ok(Some(request)) => self.serve(request),
                Ok(None) => {}
                Err(e) => {
                    // tiny_http's accept loop ended; the keeper binds again.
                    if !self.accept_died.swap(true, Ordering::AcqRel) {
                        log::warn!("{}: accept loop stopped: {e}", self.config.name);
                    }
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn serve(&self, request: tiny_http::Request) {
        let peer = request.remote_addr().copied();
        if self.watch.is_cut(peer) {
            // Parsed from what a refused client had already sent; its connection is being cut.
            return;
        }
        if let Err(refusal) = framing::check(head_of(&request), &self.config.head_limits) {
            return self.refuse(request, refusal);
        }
        if let Some(lane) = &self.slow_lane {
            if slow_lane::body_still_on_the_wire(&request) {
                if let Err(TrySendError::Full(r) | TrySendError::Disconnected(r)) =
                    lane.try_send(request)
                {
                    self.refuse(r, Refusal::Busy);
                }
                return;
            }
        }
        self.serve_now(request);
    }

    fn serve_now(&self, mut request: tiny_http::Request) {
        let peer = request.remote_addr().copied();
        // Only the slow lane reads bodies off the wire (a worker's request came with its body
        // read ahead); the guard must not take those bytes for a head.
        let _reading = self
            .slow_lane
            .is_none()
            .then(|| self.watch.in_flight.enter(peer));
        self.config
            .counters
            .requests
            .fetch_add(1, Ordering::Relaxed);
        let head_only = *request.method() == tiny_http::Method::Head;
        let mut close = wire::client_wants_close(&request);
        let read = wire::read_request(&mut request, self.config.max_body);
        if let Err(ReadFailure::TooLarge) = read {
            return self.refuse(request, Refusal::BodyTooLarge);
        }
        // tiny_http answers a connection's requests in order: once this flush returns, every
        // earlier request on it is answered, and a refusal among them has marked it cut.
        let mut writer = request.into_writer();
        let _ = writer.flush();
        if self.watch.is_cut(peer) {
            return;
        }
        let response = match read {
            Ok(mut plain) => {
                plain.remote = self.client_of(plain.remote, plain.headers.iter());
                self.call_handler(plain)
            }
            Err(ReadFailure::TooLarge) => return,
            Err(ReadFailure::Io(e)) => {
                self.config
                    .counters
                    .read_failures
                    .fetch_add(1, Ordering::Relaxed);
                log::debug!("{}: request body not read: {e}", self.config.name);
                close = true;
                HttpResponse::text(408, "request body not received in time\n")
            }
        };
        if let Err(e) = wire::write_response(&mut writer, &response, close, head_only) {
            log::debug!("{}: answer not delivered: {e}", self.config.name);
        }
    }

    fn call_handler(&self, request: HttpRequest) -> HttpResponse {
        match catch_unwind(AssertUnwindSafe(|| (self.handler)(request))) {
            Ok(response) => response,
            Err(_) => {
                self.config.counters.panics.fetch_add(1, Ordering::Relaxed);
                log::error!(
                    "{}: a request handler panicked; answered 500",
                    self.config.name
                );
                HttpResponse::text(500, "internal error\n")
            }
        }
    }

    fn refuse(&self, request: tiny_http::Request, refusal: Refusal) {
        let headers = request.headers().iter();
        let sent = headers.map(|h| (h.field.as_str().as_str(), h.value.as_str()));
        let client = self.client_of(request.remote_addr().copied(), sent);
        refuse::refuse(&self.watch, request, refusal, client);
    }

    /// The request's client: the peer, or whom a trusted proxy names in `X-Forwarded-For`.
    fn client_of<'a>(
        &self,
        peer: Option<SocketAddr>,
        headers: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Option<SocketAddr> {
        let proxies = &self.config.trusted_proxies;
        if proxies.is_empty() {
            return peer;
        }
        let forwarded = headers
            .take(MAX_FORWARDED_HEADERS)
            .filter(|(name, _)| name.eq_ignore_ascii_case("x-forwarded-for"))
            .map(|(_, value)| value);
        proxies.client(peer, forwarded)
    }
}

/// The parts of tiny_http's request the head rules look at.
fn head_of(request: &tiny_http::Request) -> Head<'_, impl Iterator<Item = (&str, &str)>> {
    let version = request.http_version();
    Head {
        version: (version.0, version.1),
        method: request.method().as_str(),
        target: request.url(),
        fields: request
            .headers()
            .iter()
            .map(|h| (h.field.as_str().as_str(), h.value.as_str())),
    }
}
