//! A port kept bound but not listening: connecting to it is refused, as to a closed port, yet
//! the kernel gives it to no socket bound to port 0. `Refuse` holds its port this way, so that
//! a client pointed at the simulated upstream never reaches some other server that happened to
//! be given the port in between (tests bind port 0 side by side), and leaving `Refuse` listens
//! on the very same socket without a moment in which the port is free. A socket binding this
//! exact address with SO_REUSEADDR (std's listeners do) may still share it: that is how a
//! restarted upstream takes its old address over.
//!
//! std binds and listens in one call, so the socket is made with libc; it is handed to std as
//! a `TcpListener` once it listens.

use std::io;
use std::mem::size_of;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// std's backlog for a listening socket.
const BACKLOG: libc::c_int = 128;

pub struct HeldPort {
    socket: OwnedFd,
}

impl HeldPort {
    /// Binds `addr` with SO_REUSEADDR, as std does on Unix (closed connections still in
    /// TIME_WAIT do not block it), and does not listen.
    pub fn bind(addr: SocketAddr) -> io::Result<HeldPort> {
        let socket = stream_socket(addr)?;
        set_option(&socket, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        bind(&socket, addr)?;
        Ok(HeldPort { socket })
    }

    /// Starts listening on the held socket and hands it over to std.
    pub fn listen(self) -> io::Result<TcpListener> {
        // SAFETY: a plain system call on a descriptor `self` owns for the whole call.
        check(unsafe { libc::listen(self.socket.as_raw_fd(), BACKLOG) })?;
        Ok(TcpListener::from(self.socket))
    }
}

/// A TCP socket of `addr`'s family, neither bound nor listening.
pub(super) fn stream_socket(addr: SocketAddr) -> io::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: a plain system call; the descriptor it returns is owned right away.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets a socket option whose value is a C int.
pub(super) fn set_option(
    socket: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value points at a live c_int of the size passed.
    check(unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
}

pub(super) fn bind(socket: &OwnedFd, addr: SocketAddr) -> io::Result<()> {
    // SAFETY (both arms): the address points at a live, fully initialised sockaddr of the
    // length passed; an all-zero sockaddr_in/sockaddr_in6 is a valid value to start from.
    match addr {
        SocketAddr::V4(v4) => {
            let mut raw: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            raw.sin_family = libc::AF_INET as libc::sa_family_t;
            raw.sin_port = v4.port().to_be();
            raw.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            check(unsafe {
                libc::bind(
                    socket.as_raw_fd(),
                    (&raw as *const libc::sockaddr_in).cast(),
                    size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            })
        }
        SocketAddr::V6(v6) => {
            let mut raw: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            raw.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            raw.sin6_port = v6.port().to_be();
            raw.sin6_addr.s6_addr = v6.ip().octets();
            raw.sin6_flowinfo = v6.flowinfo();
            raw.sin6_scope_id = v6.scope_id();
            check(unsafe {
                libc::bind(
                    socket.as_raw_fd(),
                    (&raw as *const libc::sockaddr_in6).cast(),
                    size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            })
        }
    }
}

/// A libc return value: 0 is success, -1 an error in errno.
fn check(result: libc::c_int) -> io::Result<()> {
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
