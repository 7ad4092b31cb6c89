//! The listening socket and the keeper thread that keeps tiny_http's accept loop alive.
//!
//! Why this exists: tiny_http 0.12 reads requests without any timeout, so a client that stalls
//! mid-request would pin a thread forever. Linux copies a listening socket's `SO_RCVTIMEO` and
//! `SO_SNDTIMEO` to every socket it accepts, which gives each connection read and write
//! timeouts — but `accept()` itself then times out too, and tiny_http's accept thread gives up on
//! the first accept error. The keeper therefore connects to the listener more often than the
//! timeout (an empty connection that tiny_http drops at once), and if the accept loop died anyway
//! (the host stalled), it binds the address again and hands the new server to the workers.

use std::io;
use std::mem::ManuallyDrop;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use parking_lot::RwLock;

/// How often the keeper pokes the listener at most; always well under the I/O timeout.
const KEEPER_INTERVAL: Duration = Duration::from_millis(500);

/// The tiny_http server the workers currently take requests from.
/// `None` once the server is shut down.
pub type CurrentServer = Arc<RwLock<Option<Arc<tiny_http::Server>>>>;

/// Binds `addr` with per-connection I/O timeouts and starts tiny_http on it.
pub fn bind(addr: SocketAddr, io_timeout: Duration) -> io::Result<tiny_http::Server> {
    let listener = TcpListener::bind(addr)?;
    set_socket_timeouts(&listener, io_timeout)?;
    tiny_http::Server::from_listener(listener, None).map_err(io::Error::other)
}

/// Sets SO_RCVTIMEO/SO_SNDTIMEO on the listening socket (std only offers them on streams; the
/// option is the same on any socket, so borrow the descriptor as a stream without owning it).
fn set_socket_timeouts(listener: &TcpListener, timeout: Duration) -> io::Result<()> {
    // SAFETY: the descriptor stays owned by `listener`; ManuallyDrop keeps the borrowed stream
    // from closing it.
    let stream = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(listener.as_raw_fd()) });
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))
}

pub struct Keeper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Keeper {
    /// `accept_died` is raised by a worker whose `recv` failed (tiny_http's accept loop ended).
    pub fn start(
        name: &str,
        addr: SocketAddr,
        io_timeout: Duration,
        current: CurrentServer,
        accept_died: Arc<AtomicBool>,
    ) -> io::Result<Keeper> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let label = name.to_owned();
        let interval = KEEPER_INTERVAL.min(io_timeout / 4);
        let thread = thread::Builder::new()
            .name(format!("{name}-keeper"))
            .spawn(move || {
                while !thread_stop.load(Ordering::Acquire) {
                    if accept_died.swap(false, Ordering::AcqRel) {
                        rebind(&label, addr, io_timeout, &current);
                    }
                    // The poke: completes the pending accept, so it never reaches its timeout.
                    let _ = TcpStream::connect_timeout(&addr, interval);
                    thread::park_timeout(interval);
                }
            })?;
        Ok(Keeper {
            stop,
            thread: Some(thread),
        })
    }

    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn rebind(name: &str, addr: SocketAddr, io_timeout: Duration, current: &CurrentServer) {
    for attempt in 0..20 {
        match bind(addr, io_timeout) {
            Ok(server) => {
                let mut slot = current.write();
                if slot.is_some() {
                    *slot = Some(Arc::new(server));
                }
                log::warn!("{name}: accept loop restarted on {addr}");
                return;
            }
            Err(e) if attempt == 19 => log::error!("{name}: cannot listen on {addr} again: {e}"),
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}
