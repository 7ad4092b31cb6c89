//! The server's accepted sockets as the kernel sees them, found from outside tiny_http.
//!
//! tiny_http owns every connection and hands out no socket, so to cut one off (a head that will
//! not end, a refused request whose remainder must not be read as another request) we find its
//! descriptor among the process's own (every number up to the size of its descriptor table),
//! keeping the connected TCP sockets whose
//! local address is the listener's. Each connection shows twice (tiny_http reads and writes on
//! two descriptors of one socket); one is kept.
//!
//! Cutting a socket off is `shutdown(SHUT_RDWR)`, never `close`: the descriptors stay tiny_http's,
//! its thread sees the end of the stream and drops the connection (and its buffers) itself.
//!
//! Linux only: elsewhere nothing is found and nothing is cut (see ARCHITECTURE, known limits).

use std::collections::HashSet;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{BorrowedFd, RawFd};

use socket2::SockRef;

/// One accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    pub fd: RawFd,
    pub peer: SocketAddr,
}

/// What the kernel counts for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Traffic {
    /// Bytes received and already read by the process (received less still queued).
    pub consumed: u64,
    /// Bytes the process has sent (answers).
    pub sent: u64,
}

/// Connected sockets of this process accepted on one of `listeners` (an unspecified IP matches
/// any local IP with the listener's port), one per connection, with the index of its listener.
pub fn accepted_on(listeners: &[SocketAddr]) -> Vec<(usize, Connection)> {
    let mut seen = HashSet::new();
    descriptors(listeners)
        .filter(|(at, connection)| seen.insert((*at, connection.peer)))
        .collect()
}

/// Every descriptor of the connection from `peer` accepted on `listener` (tiny_http closes
/// its reading one as soon as it sees the end of the stream; the writing one lives on while an
/// answer is being written).
pub fn find(listener: SocketAddr, peer: SocketAddr) -> Vec<Connection> {
    descriptors(&[listener])
        .filter(|(_, c)| c.peer == peer)
        .map(|(_, c)| c)
        .collect()
}

/// Tries every descriptor number up to the size of the process's descriptor table (from
/// `/proc/self/status`): one failing call for a number that is not a socket costs less than
/// listing `/proc/self/fd`.
fn descriptors(listeners: &[SocketAddr]) -> impl Iterator<Item = (usize, Connection)> + '_ {
    let table = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| fd_table_size(&status))
        .unwrap_or(0);
    (0..table).filter_map(move |fd| accepted_connection(fd, listeners))
}

/// The `FDSize:` line of a `/proc/<pid>/status` text.
fn fd_table_size(status: &str) -> Option<RawFd> {
    status_field(status, "FDSize:")
}

/// The value of the line starting with `key` in a `/proc/<pid>/status` text.
pub(super) fn status_field<T: std::str::FromStr>(status: &str, key: &str) -> Option<T> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    line.get(key.len()..)?.trim().parse().ok()
}

fn accepted_connection(fd: RawFd, listeners: &[SocketAddr]) -> Option<(usize, Connection)> {
    let socket = borrow(fd)?;
    let local = SockRef::from(&socket).local_addr().ok()?.as_socket()?;
    let at = listeners.iter().position(|listener| {
        let same_ip = listener.ip().is_unspecified() || local.ip() == listener.ip();
        local.port() == listener.port() && same_ip
    })?;
    let peer = SockRef::from(&socket).peer_addr().ok()?.as_socket()?;
    Some((at, Connection { fd, peer }))
}

/// Sends `last_words` if the socket takes them at once, then shuts it down (`how`). Checks the
/// peer again first: the descriptor may have been closed and reused since it was found.
pub fn shut(connection: Connection, how: Shutdown, last_words: Option<&[u8]>) -> bool {
    let Some(socket) = borrow(connection.fd) else {
        return false;
    };
    let socket = SockRef::from(&socket);
    let peer = socket.peer_addr().ok().and_then(|a| a.as_socket());
    if peer != Some(connection.peer) {
        return false;
    }
    if let Some(bytes) = last_words {
        let _ = socket.send_with_flags(bytes, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL);
    }
    socket.shutdown(how).is_ok()
}

/// The inode of the socket behind `fd`: the same for every descriptor of one socket, and
/// another for a new connection from the same peer.
pub fn inode(fd: RawFd) -> Option<u64> {
    // SAFETY: fstat writes one stat struct through the pointer, which points at `stat`; all
    // zeroes is a valid value of that plain struct.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(fd, &mut stat) } == 0).then_some(stat.st_ino)
}

/// The kernel's byte counts for a connection; `None` where they cannot be read.
#[cfg(target_os = "linux")]
pub fn traffic(fd: RawFd) -> Option<Traffic> {
    use std::mem::{offset_of, size_of, zeroed};
    // SAFETY: tcp_info is plain integers, for which all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { zeroed() };
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `info`, which outlives the call; a descriptor that
    // is not a TCP socket only makes the call fail.
    let got = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    // Older kernels fill a shorter struct: both counters must be inside what was filled.
    let needed = offset_of!(libc::tcp_info, tcpi_bytes_sent) + size_of::<u64>();
    if got != 0 || (len as usize) < needed {
        return None;
    }
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points at `queued`.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued as *mut libc::c_int) } != 0 {
        return None;
    }
    let queued = u64::try_from(queued).unwrap_or(0);
    Some(Traffic {
        consumed: info.tcpi_bytes_received.saturating_sub(queued),
        sent: info.tcpi_bytes_sent,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn traffic(_fd: RawFd) -> Option<Traffic> {
    None
}

/// Borrows a descriptor the process does not own here. Only socket calls are made through it,
/// and a descriptor closed meanwhile only makes those calls fail.
fn borrow(fd: RawFd) -> Option<BorrowedFd<'static>> {
    // SAFETY: the descriptor is used for the duration of a few system calls; if tiny_http closes
    // it meanwhile they fail with EBADF (or, if the number was reused, `cut_off` sees another
    // peer and leaves it alone). Nothing is closed through it.
    (fd >= 0).then(|| unsafe { BorrowedFd::borrow_raw(fd) })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn an_accepted_socket_is_found_counted_and_cut_off() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).unwrap();
        let (mut served, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());

        client.write_all(b"0123456789").unwrap();
        let mut got = [0u8; 4];
        served.read_exact(&mut got).unwrap();
        served.write_all(b"abc").unwrap();

        let found: Vec<_> = accepted_on(&[addr])
            .into_iter()
            .filter(|(at, c)| *at == 0 && c.peer == peer)
            .map(|(_, c)| c)
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let traffic = loop {
            let t = traffic(found[0].fd).unwrap();
            if t.consumed == 4 || std::time::Instant::now() > deadline {
                break t;
            }
        };
        assert_eq!(
            traffic,
            Traffic {
                consumed: 4,
                sent: 3
            }
        );

        assert_eq!(find(addr, peer), found);
        assert!(shut(found[0], Shutdown::Both, Some(b"bye")));
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest);
        assert_eq!(rest, b"abcbye");
        assert_eq!(
            fd_table_size("Name:\tx\nFDSize:\t256\nPid:\t1\n"),
            Some(256)
        );
        assert_eq!(fd_table_size("Name:\tx\n"), None);
        // Another peer's connection is left alone.
        let other: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let stale = Connection {
            fd: found[0].fd,
            peer: other,
        };
        assert!(!shut(stale, Shutdown::Both, None));
    }
}
