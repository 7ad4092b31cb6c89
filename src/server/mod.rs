//! The HTTP front: a fixed pool of worker threads taking requests from tiny_http.
//!
//! Owns the listening socket (see `listener`), the workers, and a reaper thread for requests
//! whose body is too large to read. Each worker turns a request into an [`HttpRequest`], calls the
//! handler — a plain `Fn(HttpRequest) -> HttpResponse` that never sees a socket — under
//! `catch_unwind`, and writes the answer. One panicking request costs that request a 500, never a
//! worker. Used twice: for miners (`handlers`) and for the dashboard (`dashboard`).
//!
//! Connection rotation (`rotation`, off unless `rotate_after` is set): a connection older than
//! `rotate_after` (plus a jitter), as far as a per-second budget allows, is answered with
//! `Connection: close` and the client reconnects. It was the first answer to connections left
//! queued in tiny_http's pool; the keeper (`listener`) now gives those a thread within one of
//! its rounds, without making every miner reconnect, so servers start with rotation off.
//!
//! It does not know JSON-RPC, authentication or statistics: that is the handler's business.

mod listener;
mod rotation;
mod slow_lane;
mod wire;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{bounded, Sender, TrySendError};
use parking_lot::RwLock;

use crate::http::{HttpRequest, HttpResponse};
use listener::{CurrentServer, Keeper};
use rotation::Rotation;
use slow_lane::SlowLane;
use wire::ReadFailure;

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
    /// Age after which a keep-alive connection is closed after its next answer (`None`: never).
    pub rotate_after: Option<Duration>,
}

impl ServerConfig {
    pub fn new(name: &'static str, addr: SocketAddr, workers: usize) -> ServerConfig {
        ServerConfig {
            name,
            addr,
            workers: workers.max(1),
            max_body: 64 * 1024,
            io_timeout: Duration::from_secs(5),
            // The keeper serves queued connections; reconnecting miners would only cost CPU.
            rotate_after: None,
        }
    }
}

/// Counters the server keeps about itself (exposed through `/metrics`).
#[derive(Debug, Default)]
pub struct ServerCounters {
    pub requests: AtomicU64,
    pub panics: AtomicU64,
    pub too_large: AtomicU64,
    pub read_failures: AtomicU64,
    pub rotated: AtomicU64,
    /// Requests with a large body refused because the slow lane was full.
    pub busy: AtomicU64,
}

pub struct HttpServer {
    name: &'static str,
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    keeper: Option<Keeper>,
    slow_lane: Option<SlowLane>,
    reaper: Option<Reaper>,
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
        let counters = Arc::new(ServerCounters::default());
        let reaper = Reaper::start(config.name)?;
        let rotation = Arc::new(Rotation::new(config.rotate_after));
        let template = Worker {
            config: config.clone(),
            handler: handler.clone(),
            current: current.clone(),
            stop: stop.clone(),
            accept_died: accept_died.clone(),
            reaper: reaper.sender.clone(),
            rotation: rotation.clone(),
            counters: counters.clone(),
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
            reaper: Some(reaper),
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
        if let Some(reaper) = self.reaper.take() {
            reaper.shutdown();
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
fn reachable(addr: SocketAddr) -> SocketAddr {
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
    reaper: Sender<(tiny_http::Request, u16)>,
    rotation: Arc<Rotation>,
    counters: Arc<ServerCounters>,
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
        if let Some(lane) = &self.slow_lane {
            if slow_lane::body_still_on_the_wire(&request) {
                if let Err(TrySendError::Full(r) | TrySendError::Disconnected(r)) =
                    lane.try_send(request)
                {
                    self.counters.busy.fetch_add(1, Ordering::Relaxed);
                    self.hand_to_reaper(r, 503);
                }
                return;
            }
        }
        self.serve_now(request);
    }

    fn serve_now(&self, mut request: tiny_http::Request) {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let head_only = *request.method() == tiny_http::Method::Head;
        let rotate = request
            .remote_addr()
            .is_some_and(|peer| self.rotation.is_due(*peer));
        let close = rotate || wire::client_wants_close(&request);
        let response = match wire::read_request(&mut request, self.config.max_body) {
            Ok(plain) => self.call_handler(plain),
            Err(ReadFailure::TooLarge) => {
                self.counters.too_large.fetch_add(1, Ordering::Relaxed);
                return self.hand_to_reaper(request, 413);
            }
            Err(ReadFailure::Io(e)) => {
                self.counters.read_failures.fetch_add(1, Ordering::Relaxed);
                log::debug!("{}: request body not read: {e}", self.config.name);
                HttpResponse::text(408, "request body not received in time\n")
            }
        };
        if rotate {
            self.counters.rotated.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(e) = wire::write_response(request, &response, close, head_only) {
            log::debug!("{}: answer not delivered: {e}", self.config.name);
        }
    }

    fn call_handler(&self, request: HttpRequest) -> HttpResponse {
        match catch_unwind(AssertUnwindSafe(|| (self.handler)(request))) {
            Ok(response) => response,
            Err(_) => {
                self.counters.panics.fetch_add(1, Ordering::Relaxed);
                log::error!(
                    "{}: a request handler panicked; answered 500",
                    self.config.name
                );
                HttpResponse::text(500, "internal error\n")
            }
        }
    }

    /// The reaper answers `status` and then lets tiny_http discard the unread body.
    fn hand_to_reaper(&self, request: tiny_http::Request, status: u16) {
        if let Err(TrySendError::Full((request, _)) | TrySendError::Disconnected((request, _))) =
            self.reaper.try_send((request, status))
        {
            // Never drain in a worker: abandon the request (its connection times out).
            std::mem::forget(request);
        }
    }
}

/// Oversized bodies: tiny_http reads and discards an unread body when a request is dropped,
/// with a buffer as large as what is left. Doing that in a worker would pin it for as long as
/// the client keeps sending, so a separate thread answers 413 and does the dropping.
struct Reaper {
    sender: Sender<(tiny_http::Request, u16)>,
    thread: JoinHandle<()>,
}

/// Bodies above this are never drained: the buffer tiny_http would allocate for them is larger
/// than a small host can map. Such a request is answered by nothing and its connection is left
/// to the client's timeout (counted as too_large).
const MAX_DRAINED_BODY: usize = 1 << 31;

impl Reaper {
    fn start(name: &str) -> io::Result<Reaper> {
        let (sender, receiver) = bounded::<(tiny_http::Request, u16)>(64);
        let thread = thread::Builder::new()
            .name(format!("{name}-reaper"))
            .spawn(move || {
                for (request, status) in receiver {
                    answer_and_discard(request, status);
                }
            })?;
        Ok(Reaper { sender, thread })
    }

    fn shutdown(self) {
        drop(self.sender);
        let _ = self.thread.join();
    }
}

fn answer_and_discard(request: tiny_http::Request, status: u16) {
    if request.body_length().unwrap_or(0) > MAX_DRAINED_BODY {
        std::mem::forget(request);
        return;
    }
    let text = match status {
        413 => "request body larger than 64 KiB\n",
        _ => "busy, try again\n",
    };
    // `respond` writes first and drops (drains) afterwards; building our own answer through
    // `into_writer` would drain first.
    let response = tiny_http::Response::from_string(text).with_status_code(status);
    let _ = catch_unwind(AssertUnwindSafe(|| request.respond(response)));
}
