//! A port kept bound but not listening: connecting to it is refused, as to a closed port, yet
//! the kernel gives it to no socket bound to port 0. `Refuse` holds its port this way, so that
//! a client pointed at the simulated upstream never reaches some other server that happened to
//! be given the port in between (tests bind port 0 side by side), and leaving `Refuse` listens
//! on the very same socket without a moment in which the port is free. A socket binding this
//! exact address with SO_REUSEADDR (std's listeners do) may still share it: that is how a
//! restarted upstream takes its old address over.
//!
//! std binds and listens in one call, so the socket is made with socket2; it is handed to std
//! as a `TcpListener` once it listens.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Socket, Type};

/// std's backlog for a listening socket.
const BACKLOG: i32 = 128;

pub(super) struct HeldPort {
    socket: Socket,
}

impl HeldPort {
    /// Binds `addr` with SO_REUSEADDR, as std does on Unix (closed connections still in
    /// TIME_WAIT do not block it), and does not listen.
    pub(super) fn bind(addr: SocketAddr) -> io::Result<HeldPort> {
        let socket = stream_socket(addr)?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        Ok(HeldPort { socket })
    }

    /// Starts listening on the held socket and hands it over to std.
    pub(super) fn listen(self) -> io::Result<TcpListener> {
        self.socket.listen(BACKLOG)?;
        Ok(self.socket.into())
    }
}

/// A TCP socket of `addr`'s family (close-on-exec), neither bound nor listening.
pub(super) fn stream_socket(addr: SocketAddr) -> io::Result<Socket> {
    Socket::new(Domain::for_address(addr), Type::STREAM, None)
}
