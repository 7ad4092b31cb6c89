//! The simulated upstream's sockets: one accepting thread and one thread per open connection,
//! each reading requests with `http1`, asking `service` for the answer and writing it.
//!
//! It owns every socket it accepted, which is what lets `Refuse` behave like a process that
//! went down: `stop` closes the listening socket (new connections are refused) and closes
//! every open connection (pooled keep-alive connections see the end at once instead of
//! waiting on a request nobody reads). `Hang` holds a request on its connection thread until
//! the hang limit or `stop`, whichever comes first, then closes that connection.
//! Connections are bounded (`MAX_CONNECTIONS`); beyond that new ones are closed at once.
//! Every thread started here is joined by `stop`.

use std::io::BufReader;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::http1::{read_request, write_response, HttpAnswer, Incoming};
use super::service::{Reply, Service};
use crate::server::reachable;

/// Open connections served at once; more are closed on arrival.
const MAX_CONNECTIONS: usize = 1024;
/// Connection threads only parse small JSON bodies.
const CONNECTION_STACK_BYTES: usize = 256 * 1024;
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(20);

const HTML_PAGE: &[u8] =
    b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1><p>simulated proxy page</p></body></html>\n";
/// A JSON answer cut off in the middle.
const GARBAGE: &[u8] = b"{\"jsonrpc\":\"2.0\",\"resu";

struct OpenConnection {
    /// A second handle on the socket, to close it from outside its thread.
    socket: TcpStream,
    thread: JoinHandle<()>,
}

/// A listening socket and the threads serving it.
pub(super) struct Listener {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    /// Dropped to wake hung requests and a pausing acceptor.
    closing: Option<Sender<()>>,
    acceptor: Option<JoinHandle<()>>,
    /// A second handle on the listening socket, to wake the acceptor out of `accept`.
    waker: TcpListener,
    connections: Arc<Mutex<Vec<OpenConnection>>>,
}

impl Listener {
    pub(super) fn start(
        socket: TcpListener,
        service: Arc<Service>,
        hang_limit: Duration,
    ) -> std::io::Result<Listener> {
        let addr = socket.local_addr()?;
        let waker = socket.try_clone()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let (closing, closed) = bounded::<()>(0);
        let connections = Arc::new(Mutex::new(Vec::new()));
        let acceptor = Acceptor {
            socket,
            stopping: Arc::clone(&stopping),
            closed,
            connections: Arc::clone(&connections),
            service,
            hang_limit,
            full_logged: false,
        };
        let acceptor = std::thread::Builder::new()
            .name("sim-upstream-accept".into())
            .spawn(move || acceptor.run())?;
        Ok(Listener {
            addr,
            stopping,
            closing: Some(closing),
            acceptor: Some(acceptor),
            waker,
            connections,
        })
    }

    /// Closes the listening socket and every connection, and joins every thread. When it
    /// returns, connecting to the address is refused.
    pub(super) fn stop(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.stopping.store(true, Ordering::SeqCst);
        self.closing.take();
        self.wake_acceptor();
        let _ = acceptor.join();
        let open = std::mem::take(&mut *self.connections.lock());
        for connection in &open {
            let _ = connection.socket.shutdown(Shutdown::Both);
        }
        for connection in open {
            let _ = connection.thread.join();
        }
    }

    /// Linux wakes a blocked `accept` when its listening socket is shut down. Elsewhere, a
    /// connection of our own does it; that one leaves the port in TIME_WAIT for a minute when
    /// the acceptor closes it first, which the shutdown avoids.
    fn wake_acceptor(&self) {
        // SAFETY: a plain system call on a descriptor `self.waker` owns for the whole call.
        if unsafe { libc::shutdown(self.waker.as_raw_fd(), libc::SHUT_RDWR) } == 0 {
            return;
        }
        if let Err(err) = TcpStream::connect_timeout(&reachable(self.addr), Duration::from_secs(1))
        {
            log::warn!("simulated upstream could not wake its acceptor: {err}");
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop_all();
    }
}

struct Acceptor {
    socket: TcpListener,
    stopping: Arc<AtomicBool>,
    closed: Receiver<()>,
    connections: Arc<Mutex<Vec<OpenConnection>>>,
    service: Arc<Service>,
    hang_limit: Duration,
    full_logged: bool,
}

impl Acceptor {
    /// Accepts until stopped; the listening socket closes when this returns.
    fn run(mut self) {
        loop {
            let accepted = self.socket.accept();
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            match accepted {
                Ok((stream, _)) => self.adopt(stream),
                Err(err) => {
                    log::debug!("simulated upstream: accept failed: {err}");
                    match self.closed.recv_timeout(ACCEPT_RETRY) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            }
        }
    }

    fn adopt(&mut self, stream: TcpStream) {
        let mut open = self.connections.lock();
        // Join the threads of connections that have ended.
        let (finished, running): (Vec<_>, Vec<_>) = std::mem::take(&mut *open)
            .into_iter()
            .partition(|c| c.thread.is_finished());
        *open = running;
        for connection in finished {
            let _ = connection.thread.join();
        }
        if open.len() >= MAX_CONNECTIONS {
            if !self.full_logged {
                self.full_logged = true;
                log::warn!(
                    "simulated upstream: {MAX_CONNECTIONS} connections open, closing new ones"
                );
            }
            return;
        }
        let Ok(socket) = stream.try_clone() else {
            return;
        };
        let service = Arc::clone(&self.service);
        let closed = self.closed.clone();
        let hang_limit = self.hang_limit;
        let spawned = std::thread::Builder::new()
            .name("sim-upstream-conn".into())
            .stack_size(CONNECTION_STACK_BYTES)
            .spawn(move || serve_connection(stream, &service, hang_limit, &closed));
        match spawned {
            Ok(thread) => open.push(OpenConnection { socket, thread }),
            Err(err) => log::warn!("simulated upstream: no thread for a connection: {err}"),
        }
    }
}

/// Answers requests on one connection until either side ends it.
fn serve_connection(
    stream: TcpStream,
    service: &Service,
    hang_limit: Duration,
    closed: &Receiver<()>,
) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, stream);
    loop {
        let (answer, keep_alive) = match read_request(&mut reader) {
            Incoming::Closed => break,
            Incoming::Refused(status) => (
                HttpAnswer::new(status, "text/plain", "bad request\n"),
                false,
            ),
            Incoming::Call(call) => {
                let reply = service.serve(&call.method, call.authorization.as_deref(), &call.body);
                let answer = match reply {
                    Reply::Json(body) => HttpAnswer::new(200, "application/json", body),
                    Reply::Empty => HttpAnswer::new(204, "text/plain", ""),
                    Reply::Status(status, text) => HttpAnswer::new(status, "text/plain", text),
                    Reply::Unauthorized => {
                        let mut answer =
                            HttpAnswer::new(401, "text/plain", "authentication required\n");
                        answer.extra_header = Some(("WWW-Authenticate", "Basic realm=\"pocx\""));
                        answer
                    }
                    Reply::Html => HttpAnswer::new(200, "text/html", HTML_PAGE),
                    Reply::Garbage => HttpAnswer::new(200, "application/json", GARBAGE),
                    Reply::Hang => {
                        // Ends at the hang limit, or at once when the listener stops.
                        let _ = closed.recv_timeout(hang_limit);
                        break;
                    }
                    Reply::Close => break,
                };
                (answer, call.keep_alive)
            }
        };
        let mut out = reader.get_ref();
        if write_response(&mut out, &answer, keep_alive).is_err() || !keep_alive {
            break;
        }
    }
    let _ = reader.get_ref().shutdown(Shutdown::Both);
}
