//! The simulated upstream's failure behaviours seen from a client socket, on 127.0.0.1 port 0.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::upstream_tests::{call, post, start, submit_params};
use super::*;
use crate::protocol::code;
use crate::testkit::{agent_with_timeout, wait_until};

#[test]
fn http_level_behaviours() {
    let upstream = start();
    let client = agent_with_timeout(Duration::from_secs(5));
    let info = r#"{"jsonrpc":"2.0","method":"get_mining_info","id":1}"#;

    upstream.set_behaviour(Behaviour::Http500);
    assert_eq!(post(&client, &upstream.url(), info).unwrap().0, 500);

    upstream.set_behaviour(Behaviour::Html);
    let (status, content_type, body) = post(&client, &upstream.url(), info).unwrap();
    assert_eq!((status, content_type.as_str()), (200, "text/html"));
    assert!(body.contains("<html>"));

    upstream.set_behaviour(Behaviour::Garbage);
    let (status, _, body) = post(&client, &upstream.url(), info).unwrap();
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).is_err());

    upstream.set_behaviour(Behaviour::RpcError(code::RATE_LIMITED));
    let answer = call(&upstream, "get_mining_info", json!({}));
    assert_eq!(answer["error"]["code"], code::RATE_LIMITED);
    assert_eq!(answer["id"], 7);

    upstream.set_behaviour(Behaviour::Normal);
    assert!(call(&upstream, "get_mining_info", json!({}))["result"].is_object());
}

#[test]
fn refuse_closes_the_port_and_normal_reopens_it() {
    let upstream = start();
    let client = agent_with_timeout(Duration::from_secs(2));
    let info = r#"{"jsonrpc":"2.0","method":"get_mining_info","id":1}"#;
    assert_eq!(post(&client, &upstream.url(), info).unwrap().0, 200);

    upstream.set_behaviour(Behaviour::Refuse);
    let refused = std::net::TcpStream::connect(upstream.addr()).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let fresh = agent_with_timeout(Duration::from_secs(2));
    match post(&fresh, &upstream.url(), info) {
        Err(ureq::Error::Io(err)) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("expected connection refused, got {other:?}"),
    }

    upstream.set_behaviour(Behaviour::Normal);
    let again = agent_with_timeout(Duration::from_secs(2));
    let (status, _, body) = post(&again, &upstream.url(), info).unwrap();
    assert_eq!(status, 200, "{body}");
    // And a second cycle on the same port.
    upstream.set_behaviour(Behaviour::Refuse);
    assert!(std::net::TcpStream::connect(upstream.addr()).is_err());
    upstream.set_behaviour(Behaviour::Normal);
    assert_eq!(
        post(
            &agent_with_timeout(Duration::from_secs(2)),
            &upstream.url(),
            info
        )
        .unwrap()
        .0,
        200
    );
}

#[test]
fn a_refusing_upstream_keeps_its_port_from_servers_binding_port_0() {
    let upstream = start();
    let port = upstream.addr().port();
    upstream.set_behaviour(Behaviour::Refuse);
    assert_eq!(
        std::net::TcpStream::connect(upstream.addr())
            .unwrap_err()
            .kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    // The kernel may give a port-0 socket nothing but this port: it must have none to give.
    match bind_port_0_limited_to(port) {
        Err(err) if err.raw_os_error() == Some(libc::ENOPROTOOPT) => {
            eprintln!("port-0 check skipped: this kernel cannot narrow a socket's port range");
        }
        taken => assert_eq!(
            taken.map_err(|err| err.raw_os_error()),
            Err(Some(libc::EADDRINUSE))
        ),
    }
    upstream.set_behaviour(Behaviour::Normal);
    assert!(call(&upstream, "get_mining_info", json!({}))["result"].is_object());
}

/// Binds a fresh socket to 127.0.0.1 port 0 with the kernel's choice narrowed to `port` alone
/// (IP_LOCAL_PORT_RANGE, Linux 6.3+; older kernels answer ENOPROTOOPT).
fn bind_port_0_limited_to(port: u16) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    const IP_LOCAL_PORT_RANGE: libc::c_int = 51;
    let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let socket = super::held_port::stream_socket(any_port)?;
    // Upper bound in the high 16 bits, lower in the low ones.
    let range = (libc::c_int::from(port) << 16) | libc::c_int::from(port);
    // SAFETY: the option value points at a live c_int of the size passed; socket2 has no
    // setter for this Linux-only option.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            IP_LOCAL_PORT_RANGE,
            (&range as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(std::io::Error::last_os_error());
    }
    socket.bind(&any_port.into())
}

#[test]
fn hang_outlasts_the_client_timeout_and_shutdown_is_prompt() {
    let upstream = start();
    upstream.set_behaviour(Behaviour::Hang);
    let client = agent_with_timeout(Duration::from_millis(300));
    let info = r#"{"jsonrpc":"2.0","method":"get_mining_info","id":1}"#;
    let started = Instant::now();
    match post(&client, &upstream.url(), info) {
        Err(ureq::Error::Timeout(_)) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(300));
    // A request still held must not delay shutdown until the hang limit.
    let held = std::thread::spawn({
        let url = upstream.url();
        move || post(&agent_with_timeout(Duration::from_secs(5)), &url, info).is_err()
    });
    wait_until(Duration::from_secs(2), || upstream.mining_info_calls() >= 2);
    let stopping = Instant::now();
    upstream.shutdown();
    assert!(
        stopping.elapsed() < Duration::from_secs(2),
        "{:?}",
        stopping.elapsed()
    );
    assert!(held.join().unwrap(), "a held request is never answered");
}

#[test]
fn pooled_connections_end_at_refuse_and_recover_after() {
    let upstream = start();
    // One agent throughout: its pooled keep-alive connection must not become a black hole.
    let client = agent_with_timeout(Duration::from_secs(3));
    let info = r#"{"jsonrpc":"2.0","method":"get_mining_info","id":1}"#;
    assert_eq!(post(&client, &upstream.url(), info).unwrap().0, 200);
    upstream.set_behaviour(Behaviour::Refuse);
    let started = Instant::now();
    assert!(post(&client, &upstream.url(), info).is_err());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    upstream.set_behaviour(Behaviour::Normal);
    let started = Instant::now();
    assert_eq!(post(&client, &upstream.url(), info).unwrap().0, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn hang_ends_by_closing_the_connection_at_the_limit() {
    let upstream = SimUpstream::start(SimUpstreamConfig {
        hang_limit: Duration::from_millis(200),
        ..SimUpstreamConfig::default()
    })
    .unwrap();
    upstream.set_submit_behaviour(Some(Behaviour::Hang));
    let client = agent_with_timeout(Duration::from_secs(10));
    let body = json!({"jsonrpc":"2.0","method":"submit_nonce",
        "params": submit_params(&upstream.current_round(), 5), "id": 1});
    let started = Instant::now();
    assert!(post(&client, &upstream.url(), &body.to_string()).is_err());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(upstream.submissions()[0].answer, RecordedAnswer::NoAnswer);
    // get_mining_info is unaffected by a submit-only hang.
    assert!(call(&upstream, "get_mining_info", json!({}))["result"].is_object());
}

#[test]
fn a_scripted_refuse_closes_the_connection_unanswered() {
    let upstream = start();
    upstream.script_submit_answers(vec![Behaviour::Refuse]);
    let body = json!({"jsonrpc":"2.0","method":"submit_nonce",
        "params": submit_params(&upstream.current_round(), 5), "id": 1});
    let started = Instant::now();
    assert!(post(
        &agent_with_timeout(Duration::from_secs(5)),
        &upstream.url(),
        &body.to_string()
    )
    .is_err());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(call(
        &upstream,
        "submit_nonce",
        submit_params(&upstream.current_round(), 4)
    )["result"]
        .is_object());
    assert_eq!(upstream.submissions().len(), 2);
}
