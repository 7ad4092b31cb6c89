//! Refusing a request: the answer, then the connection cut off.
//!
//! After a framing error nobody knows where the next request would start, and after an oversized
//! body the rest of it is not worth reading, so every refusal closes its connection. tiny_http
//! would go on reading it (and drain an unread body in full first), so this is done from the
//! socket's side: shut its reading side (tiny_http then reads only what had already arrived),
//! wait for this request's turn to answer, mark the peer cut (a later request tiny_http still
//! parses from the buffered bytes is dropped unserved when its own turn comes), write the answer
//! with `Connection: close`, and shut the socket down.
//!
//! Finding the socket is a walk over the process's descriptors (`sockets::find`), paid once per
//! refusal by the worker that refuses.

use std::io::Write;
use std::net::{Shutdown, SocketAddr};

use super::guard::Watch;
use super::refusals::Refusal;
use super::{sockets, wire};
use crate::http::HttpResponse;

/// Counts and logs the refusal (under `client`, the peer or whom a trusted proxy names), answers
/// it and closes the connection.
pub fn refuse(
    watch: &Watch,
    request: tiny_http::Request,
    refusal: Refusal,
    client: Option<SocketAddr>,
) {
    let peer = request.remote_addr().copied();
    watch.counts.record(watch.port, refusal, client);
    let descriptors = peer.map_or_else(Vec::new, |peer| sockets::find(watch.listener, peer));
    for connection in &descriptors {
        sockets::shut(*connection, Shutdown::Read, None);
    }
    let bytes = answer(refusal, *request.method() == tiny_http::Method::Head);
    let mut writer = request.into_writer();
    // Earlier requests on this connection are answered first; later ones are not served.
    let _ = writer.flush();
    if let Some(peer) = peer {
        let socket = descriptors.first().and_then(|c| sockets::inode(c.fd));
        watch.mark_cut(peer, socket);
    }
    let _ = writer.write_all(&bytes).and_then(|()| writer.flush());
    for connection in &descriptors {
        sockets::shut(*connection, Shutdown::Both, None);
    }
}

/// The whole answer to a refusal, `Connection: close` included.
pub fn answer(refusal: Refusal, head_only: bool) -> Vec<u8> {
    let response = HttpResponse::text(refusal.status(), refusal.message());
    wire::encode_response(&response, true, head_only)
}
