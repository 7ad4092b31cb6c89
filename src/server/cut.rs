//! Connections being cut off after a refusal, and the requests tiny_http still parses from them.
//!
//! A refused connection is shut down from the socket's side, but tiny_http may already hold
//! more of its bytes (its read-ahead, what the kernel had queued) and parse them as further
//! requests. Those must not be served. tiny_http tells requests apart by peer address only, and a
//! client may reconnect from the same address and port moments later, so each cut connection is
//! remembered by peer *and* by its socket (the descriptor's inode): a request from a remembered
//! peer is dropped while that socket is the only one open from it, and served once a new socket
//! is. While nothing is remembered a request pays one atomic load; otherwise a short lock that
//! forgets expired entries from the front (they are kept in the order they were cut) and looks
//! for its peer; only a remembered peer's request looks at the process's sockets.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::sockets;

/// How long a cut connection is remembered.
const MEMORY: Duration = Duration::from_secs(10);
/// Cut connections remembered at most (the oldest are forgotten first).
const MOST: usize = 1_024;

#[derive(Debug, Default)]
pub struct CutConnections {
    cut: Mutex<VecDeque<Cut>>,
    /// Length of `cut`, read without the lock on every request.
    len: AtomicUsize,
}

#[derive(Debug, Clone, Copy)]
struct Cut {
    peer: SocketAddr,
    /// The socket that was cut; `None` when it could not be found (then the peer as a whole).
    socket: Option<u64>,
    at: Instant,
}

impl CutConnections {
    pub fn mark(&self, peer: SocketAddr, socket: Option<u64>) {
        let at = Instant::now();
        let mut cut = self.cut.lock();
        forget_expired(&mut cut, at);
        if cut.len() >= MOST {
            cut.pop_front();
        }
        cut.push_back(Cut { peer, socket, at });
        self.len.store(cut.len(), Ordering::Release);
    }

    /// True for a request that may come from a connection cut off on `listener` moments ago.
    pub fn holds(&self, listener: SocketAddr, peer: Option<SocketAddr>) -> bool {
        let Some(peer) = peer else {
            return false;
        };
        if self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        let sockets_cut: Vec<Option<u64>> = {
            let mut cut = self.cut.lock();
            forget_expired(&mut cut, Instant::now());
            self.len.store(cut.len(), Ordering::Release);
            cut.iter()
                .filter(|c| c.peer == peer)
                .map(|c| c.socket)
                .collect()
        };
        if sockets_cut.is_empty() {
            return false;
        }
        if sockets_cut.contains(&None) {
            return true;
        }
        let open: Vec<Option<u64>> = sockets::find(listener, peer)
            .into_iter()
            .map(|c| sockets::inode(c.fd))
            .collect();
        // Served only when every socket open from the peer is a new one.
        open.is_empty() || open.iter().any(|socket| sockets_cut.contains(socket))
    }
}

/// Drops the entries older than [`MEMORY`] at `now`: they sit at the front.
fn forget_expired(cut: &mut VecDeque<Cut>, now: Instant) {
    while cut
        .front()
        .is_some_and(|c| now.saturating_duration_since(c.at) >= MEMORY)
    {
        cut.pop_front();
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_cut_socket_holds_its_peer_and_a_new_socket_from_it_does_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).unwrap();
        let (_served, peer) = listener.accept().unwrap();
        let socket = sockets::find(addr, peer)
            .first()
            .and_then(|c| sockets::inode(c.fd));
        assert!(socket.is_some());

        let cut = CutConnections::default();
        assert!(!cut.holds(addr, Some(peer)));
        cut.mark(peer, socket);
        assert!(cut.holds(addr, Some(peer)));
        assert!(!cut.holds(addr, None));

        // Another socket from that peer (as after a reconnect from the same port).
        let other = CutConnections::default();
        other.mark(peer, Some(u64::MAX));
        assert!(!other.holds(addr, Some(peer)));
        // A cut whose socket was never found holds the whole peer.
        let blind = CutConnections::default();
        blind.mark(peer, None);
        assert!(blind.holds(addr, Some(peer)));
    }
}
