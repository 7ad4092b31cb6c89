//! `SimUpstream`: a scriptable PoCX upstream (pool or mock chain) on 127.0.0.1, speaking
//! JSON-RPC 2.0 over HTTP/1.1 with keep-alive.
//!
//! Threads: the listener's acceptor and connection threads (`listener`; `service` decides
//! every answer) and optionally a round timer starting a new round every `round_interval`.
//! Control comes from the owning handle's methods; nothing flows out but HTTP answers,
//! counters and the submission history. `Refuse` stops the listener (connections refused,
//! open connections closed) but keeps the port bound (`held_port`), and leaving `Refuse`
//! listens on it again.
//!
//! The sockets are handled here rather than by tiny_http because `Refuse` and `Hang` must act
//! on connections that are already open, which tiny_http does not expose: with it, a pooled
//! keep-alive connection would turn into a black hole after `Refuse` instead of ending.
//!
//! Deliberately not done: recomputing qualities (a real chain does; the simulation believes
//! the miner) and TLS.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use parking_lot::Mutex;
use serde_json::{Map, Value};

use super::chain::{SimRound, GENESIS_BASE_TARGET_120};
use super::held_port::HeldPort;
use super::listener::Listener;
use super::service::{Behaviour, RecordedSubmission, Service};

/// How long `Refuse` keeps trying to bind the address again once its listener is closed.
const REBIND_PATIENCE: Duration = Duration::from_secs(3);
const REBIND_RETRY: Duration = Duration::from_millis(10);

/// Settings of a simulated upstream.
#[derive(Debug, Clone)]
pub struct SimUpstreamConfig {
    /// Where to listen; port 0 picks a free port.
    pub bind: SocketAddr,
    pub block_time_secs: u64,
    pub base_target: u64,
    /// Start a new round this often (None: only when `new_round` is called).
    pub round_interval: Option<Duration>,
    /// Added to every `get_mining_info` result (and win over the standard fields).
    pub extra_fields: Map<String, Value>,
    /// The exact `Authorization` header value required; other requests get 401.
    pub require_auth: Option<String>,
    /// The longest a `Hang` holds a request.
    pub hang_limit: Duration,
}

impl Default for SimUpstreamConfig {
    fn default() -> SimUpstreamConfig {
        SimUpstreamConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            block_time_secs: 120,
            base_target: GENESIS_BASE_TARGET_120,
            round_interval: None,
            extra_fields: Map::new(),
            require_auth: None,
            hang_limit: Duration::from_secs(10),
        }
    }
}

/// A running simulated upstream. Dropping it stops every thread it started.
pub struct SimUpstream {
    addr: SocketAddr,
    service: Arc<Service>,
    hang_limit: Duration,
    port: Mutex<Port>,
    round_timer: Option<RoundTimer>,
}

impl SimUpstream {
    pub fn start(cfg: SimUpstreamConfig) -> std::io::Result<SimUpstream> {
        let service = Arc::new(Service::new(
            cfg.block_time_secs,
            cfg.base_target,
            cfg.extra_fields,
            cfg.require_auth,
        ));
        let socket = TcpListener::bind(cfg.bind)?;
        let addr = socket.local_addr()?;
        let listener = Listener::start(socket, Arc::clone(&service), cfg.hang_limit)?;
        let round_timer = match cfg.round_interval {
            Some(interval) => Some(RoundTimer::spawn(interval, Arc::clone(&service))?),
            None => None,
        };
        let round = service.chain.lock().current().clone();
        log::info!(
            "simulated upstream listening on {addr} (height {}, base target {}, block time {} s)",
            round.height,
            round.base_target,
            cfg.block_time_secs
        );
        Ok(SimUpstream {
            addr,
            service,
            hang_limit: cfg.hang_limit,
            port: Mutex::new(Port::Listening(listener)),
            round_timer,
        })
    }

    /// `http://127.0.0.1:<port>/`
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The behaviour for both methods. Entering `Refuse` returns once the port refuses
    /// connections and open connections are closed; leaving it returns once the same address
    /// listens again.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        let refuse = behaviour == Behaviour::Refuse;
        // Under the port lock, so concurrent callers cannot split behaviour and socket.
        let mut port = self.port.lock();
        self.service.set_behaviour(behaviour);
        let next = match (refuse, std::mem::replace(&mut *port, Port::Refusing(None))) {
            (true, Port::Listening(running)) => {
                running.stop();
                log::info!(
                    "simulated upstream on {} is refusing connections",
                    self.addr
                );
                Port::Refusing(self.hold())
            }
            (false, Port::Refusing(held)) => match self.listen_again(held) {
                Ok(running) => {
                    log::info!("simulated upstream on {} is listening again", self.addr);
                    Port::Listening(running)
                }
                Err(err) => {
                    log::error!(
                        "simulated upstream could not listen on {} again: {err}",
                        self.addr
                    );
                    Port::Refusing(None)
                }
            },
            (_, unchanged) => unchanged,
        };
        *port = next;
    }

    /// Binds the just-closed address without listening, so nothing else takes it meanwhile.
    fn hold(&self) -> Option<HeldPort> {
        let deadline = Instant::now() + REBIND_PATIENCE;
        loop {
            match HeldPort::bind(self.addr) {
                Ok(held) => return Some(held),
                Err(err) if Instant::now() >= deadline => {
                    log::warn!(
                        "simulated upstream could not keep {} while refusing: {err}",
                        self.addr
                    );
                    return None;
                }
                Err(_) => std::thread::sleep(REBIND_RETRY),
            }
        }
    }

    fn listen_again(&self, held: Option<HeldPort>) -> std::io::Result<Listener> {
        let held = match held.or_else(|| self.hold()) {
            Some(held) => held,
            None => return Err(std::io::ErrorKind::AddrInUse.into()),
        };
        let socket = held.listen()?;
        Listener::start(socket, Arc::clone(&self.service), self.hang_limit)
    }

    /// A behaviour for `submit_nonce` only (None: follow `set_behaviour`).
    pub fn set_submit_behaviour(&self, behaviour: Option<Behaviour>) {
        self.service.set_submit_behaviour(behaviour);
    }

    /// The next `answers.len()` submit calls are answered with these, in order.
    pub fn script_submit_answers(&self, answers: Vec<Behaviour>) {
        self.service.script_submit_answers(answers);
    }

    /// Starts the next round: height + 1, fresh generation signature and block hash.
    pub fn new_round(&self) -> SimRound {
        let round = self.service.chain.lock().advance();
        log::info!(
            "simulated upstream: new round at height {} (base target {})",
            round.height,
            round.base_target
        );
        round
    }

    pub fn current_round(&self) -> SimRound {
        self.service.chain.lock().current().clone()
    }

    /// Every `submit_nonce` received (the most recent 100 000), oldest first.
    pub fn submissions(&self) -> Vec<RecordedSubmission> {
        self.service.submissions()
    }

    pub fn mining_info_calls(&self) -> u64 {
        self.service.mining_info_calls.load(Ordering::Relaxed)
    }

    pub fn submit_calls(&self) -> u64 {
        self.service.submit_calls.load(Ordering::Relaxed)
    }

    /// Stops listening and joins every thread (also done on drop).
    pub fn shutdown(self) {}

    fn stop_all(&mut self) {
        if let Some(timer) = self.round_timer.take() {
            timer.stop();
        }
        if let Port::Listening(running) =
            std::mem::replace(&mut *self.port.lock(), Port::Refusing(None))
        {
            running.stop();
        }
    }
}

impl Drop for SimUpstream {
    fn drop(&mut self) {
        self.stop_all();
        log::debug!("simulated upstream on {} stopped", self.addr);
    }
}

/// The listening socket, or while refusing the port held without listening (None if it
/// could not be held: then leaving `Refuse` binds the address afresh).
enum Port {
    Listening(Listener),
    Refusing(Option<HeldPort>),
}

/// Starts a new round every interval until stopped.
struct RoundTimer {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl RoundTimer {
    fn spawn(interval: Duration, service: Arc<Service>) -> std::io::Result<RoundTimer> {
        let (stop, stopped) = bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("sim-upstream-rounds".into())
            .spawn(move || {
                // Anything but a timeout (a stop message or a dropped handle) ends the timer.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    let round = service.chain.lock().advance();
                    log::info!(
                        "simulation: round {} started (base target {})",
                        round.height,
                        round.base_target
                    );
                }
            })?;
        Ok(RoundTimer { stop, thread })
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}
