//! The listening socket and the keeper thread that keeps tiny_http's accept loop alive.
//!
//! Why this exists: tiny_http 0.12 reads requests without any timeout, so a client that stalls
//! mid-request would pin a thread forever. Linux copies a listening socket's `SO_RCVTIMEO` and
//! `SO_SNDTIMEO` to every socket it accepts, which gives each connection read and write
//! timeouts — but `accept()` itself then times out too, and tiny_http's accept thread gives up on
//! the first accept error. The keeper therefore connects to the listener more often than the
//! timeout (an empty connection that tiny_http drops at once), and if the accept loop died anyway
//! (the host stalled), it binds the address again and hands the new server to the workers.
//!
//! The same pokes unstick tiny_http's thread pool. It hands a new connection to an idle thread
//! through a queue, and when connections arrive faster than idle threads wake up, the extra ones
//! stay queued with no thread to take them until some connection ends — seconds, when the busy
//! threads hold clients that stall. A poke that arrives while every thread is busy gets a thread
//! of its own, which after the (empty) poke takes the next queued connection. So each round the
//! keeper pokes again for as long as its pokes start new threads or go unanswered (see
//! `poke_round`), and a miner queued behind stalled clients waits one round, not a timeout.

use std::io::{self, Read};
use std::mem::ManuallyDrop;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::RwLock;

use crate::threads::Ticker;

/// How often the keeper pokes the listener at most; always well under the I/O timeout.
const KEEPER_INTERVAL: Duration = Duration::from_millis(500);
/// Most pokes in one round; each can free one queued connection.
const MAX_POKES_PER_ROUND: usize = 64;
/// How long a poke waits for tiny_http to close it before counting as unanswered.
const POKE_ANSWER: Duration = Duration::from_millis(20);
/// Connections the kernel holds for the accept loop. The default (128) drops the SYNs of a
/// farm reconnecting at once (after a restart), and each dropped one costs that miner a second.
const LISTEN_BACKLOG: i32 = 1024;

/// The tiny_http server the workers currently take requests from.
/// `None` once the server is shut down.
pub type CurrentServer = Arc<RwLock<Option<Arc<tiny_http::Server>>>>;

/// Binds `addr` with per-connection I/O timeouts and starts tiny_http on it.
pub fn bind(addr: SocketAddr, io_timeout: Duration) -> io::Result<tiny_http::Server> {
    let listener = TcpListener::bind(addr)?;
    set_socket_timeouts(&listener, io_timeout)?;
    widen_backlog(&listener)?;
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

/// Listening again on a listening socket only changes its backlog (std binds with 128).
fn widen_backlog(listener: &TcpListener) -> io::Result<()> {
    // SAFETY: a plain system call on a descriptor `listener` owns for the whole call.
    if unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The keeper thread.
pub struct Keeper(Ticker);

impl Keeper {
    /// `accept_died` is raised by a worker whose `recv` failed (tiny_http's accept loop ended).
    pub fn start(
        name: &str,
        addr: SocketAddr,
        io_timeout: Duration,
        current: CurrentServer,
        accept_died: Arc<AtomicBool>,
    ) -> io::Result<Keeper> {
        let label = name.to_owned();
        let interval = KEEPER_INTERVAL.min(io_timeout / 4);
        let keep = move |stop: &AtomicBool| {
            while !stop.load(Ordering::Acquire) {
                if accept_died.swap(false, Ordering::AcqRel) {
                    rebind(&label, addr, io_timeout, &current);
                }
                poke_round(addr, interval, stop);
                thread::park_timeout(interval);
            }
        };
        Ticker::spawn(format!("{name}-keeper"), keep).map(Keeper)
    }

    pub fn shutdown(self) {
        self.0.shutdown();
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

/// One round of pokes. The first completes the pending accept, so it never reaches its timeout;
/// more follow while they show a pool with queued connections and no idle thread: a poke that
/// started a new thread (every thread was busy; the new one now takes a queued connection, if
/// any) or that nobody answered (it is queued itself). Once a poke is answered by a thread that
/// was already there, no connection is waiting.
/// A round ends early when the server is stopping.
fn poke_round(addr: SocketAddr, connect_limit: Duration, stop: &AtomicBool) {
    let mut threads = thread_count();
    for _ in 0..MAX_POKES_PER_ROUND {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let answered = match poke(addr, connect_limit) {
            Ok(answered) => answered,
            Err(_) => return,
        };
        let threads_before = std::mem::replace(&mut threads, thread_count());
        let new_thread = matches!((threads_before, threads), (Some(b), Some(a)) if a > b);
        if answered && !new_thread {
            return;
        }
    }
}

/// Connects, sends nothing and waits briefly for tiny_http to close the connection.
/// `Ok(false)`: connected, but no thread served it in time.
fn poke(addr: SocketAddr, connect_limit: Duration) -> io::Result<bool> {
    let mut stream = TcpStream::connect_timeout(&addr, connect_limit)?;
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(Some(POKE_ANSWER))?;
    match stream.read(&mut [0u8; 64]) {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(false)
        }
        // Reset or the like: some thread handled it.
        Err(_) => Ok(true),
    }
}

/// Threads of this process (Linux); `None` where that cannot be read. From `status`, whose
/// count costs the same for any number of threads (`stat` adds up every thread's times).
fn thread_count() -> Option<u64> {
    threads_in_status(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// The `Threads:` line of a `/proc/<pid>/status` text.
fn threads_in_status(status: &str) -> Option<u64> {
    super::sockets::status_field(status, "Threads:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_count_is_read_from_its_line() {
        let status = "Name:\tpocx (Threads: 9)\nState:\tS\nThreads:\t37\nSigQ:\t0/1\n";
        assert_eq!(threads_in_status(status), Some(37));
        assert_eq!(threads_in_status("Name:\tx\nThreads:\n"), None);
        assert_eq!(threads_in_status("Name:\tx\n"), None);
        assert!(thread_count().is_some_and(|n| n >= 1));
    }
}
