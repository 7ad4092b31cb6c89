//! The HTTP side of the miner port, through raw sockets where a client library would not send
//! what a test needs: Content-Type tolerance, Basic auth, per-IP limits, the body size limit and
//! the machine name taken from `X-Miner`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use pocx_aggregator::config::BasicCredentials;
use serde_json::{json, Value};

use super::call;
use crate::support::{account, wait_until, Farm};

/// Sends one raw HTTP/1.1 request on a fresh connection (closed after the answer); returns the
/// status and the body.
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut data = Vec::new();
    let _ = stream.read_to_end(&mut data);
    let text = String::from_utf8_lossy(&data).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// A POST of `body` to `/` with the given extra header lines (each ending in `\r\n`).
fn raw_post(addr: SocketAddr, extra_headers: &str, body: &str) -> (u16, Value) {
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, text) = raw_exchange(addr, request.as_bytes());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn miner_addr(farm: &Farm) -> SocketAddr {
    farm.app().miner_addr().unwrap()
}

#[test]
fn missing_or_wrong_content_type_is_tolerated() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    let addr = miner_addr(&farm);
    for headers in [
        "",
        "Content-Type: text/plain\r\n",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "Content-Type: application/json; charset=utf-8\r\n",
    ] {
        let (status, answer) = raw_post(addr, headers, &call(json!(1)));
        assert_eq!(status, 200, "{headers:?}");
        assert_eq!(answer["result"]["height"], round.height, "{headers:?}");
    }
}

#[test]
fn basic_auth_on_the_miner_port() {
    let farm = Farm::start_with(Default::default(), |cfg| {
        cfg.server.auth = Some(BasicCredentials {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        });
    });
    let addr = miner_addr(&farm);
    let body = call(json!(1));

    let (status, answer) = raw_post(addr, "Content-Type: application/json\r\n", &body);
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], -32004, "{answer}");

    for wrong in [
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZR==",
        "Basic QWxhZGRpbjpzZXNhbWU=",
        "Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        "Basic",
    ] {
        let (status, answer) = raw_post(addr, &format!("Authorization: {wrong}\r\n"), &body);
        assert_eq!(status, 401, "{wrong:?}");
        assert_eq!(answer["error"]["code"], -32005, "{wrong:?}: {answer}");
    }

    // RFC 7617's own example of these credentials.
    let right = "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n";
    let want = farm.upstream.current_round();
    wait_until(Duration::from_secs(5), || {
        let (status, answer) = raw_post(addr, right, &body);
        assert_eq!(status, 200, "{answer}");
        answer["result"]["height"] == want.height
    });
    // The scheme name in any case and extra spaces before the credentials (RFC 7617).
    for right in [
        "basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        "BASIC   QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
    ] {
        let (status, answer) = raw_post(addr, &format!("Authorization: {right}\r\n"), &body);
        assert_eq!(status, 200, "{right:?}: {answer}");
        assert_eq!(answer["result"]["height"], want.height, "{right:?}");
    }
    // Health stays open for monitoring.
    assert_eq!(farm.get("/health").0, 200);
}

#[test]
fn a_burst_above_the_per_ip_rate_gets_429() {
    let farm = Farm::start_with(Default::default(), |cfg| {
        cfg.server.max_requests_per_second_per_ip = Some(5);
    });
    let addr = miner_addr(&farm);
    let body = call(json!(1));
    let mut refused = Vec::new();
    let mut served = 0;
    for _ in 0..30 {
        let (status, answer) = raw_post(addr, "", &body);
        match status {
            429 => refused.push(answer),
            200 => served += 1,
            other => panic!("unexpected status {other}: {answer}"),
        }
    }
    // One second's worth (5) plus what refills while the burst runs.
    assert!(
        (5..30).contains(&served),
        "served {served} of 30, refused {}",
        refused.len()
    );
    assert!(!refused.is_empty());
    for answer in &refused {
        assert_eq!(answer["error"]["code"], -32006, "{answer}");
    }
    // Once the bucket refills the client is served again.
    wait_until(Duration::from_secs(3), || {
        raw_post(addr, "", &body).0 == 200
    });
}

#[test]
fn a_body_over_64_kib_gets_413() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    let padding = "x".repeat(65 * 1024);
    let body =
        json!({"jsonrpc": "2.0", "method": "get_mining_info", "params": {"pad": padding}, "id": 1})
            .to_string();
    assert!(body.len() > 64 * 1024);
    let (status, _) = farm.post(&body);
    assert_eq!(status, 413);
    // A body just under the limit is read and answered.
    let padding = "x".repeat(60 * 1024);
    let body =
        json!({"jsonrpc": "2.0", "method": "get_mining_info", "params": {"pad": padding}, "id": 2})
            .to_string();
    let (status, text) = farm.post(&body);
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["result"]["height"], round.height);
}

fn machines(farm: &Farm) -> Vec<String> {
    farm.stats()["machines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["machine"].as_str().map(str::to_owned))
        .collect()
}

fn submit_with_headers(farm: &Farm, headers: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "method": "submit_nonce", "params": params, "id": 1});
    raw_post(miner_addr(farm), headers, &body.to_string()).1
}

#[test]
fn x_miner_names_the_machine_else_the_client_ip() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    let params = |n: u32| Farm::submission(&round, &account(n), 1_000_000 + u64::from(n));

    let answer = submit_with_headers(&farm, "X-Miner: rig-north\r\n", params(1));
    assert!(answer["result"]["poc_time"].is_u64(), "{answer}");
    let answer = submit_with_headers(&farm, "", params(2));
    assert!(answer["result"]["poc_time"].is_u64(), "{answer}");

    // Tabs are removed and the name is cut to a bounded length (other control characters
    // never reach a handler: the server refuses them in any field).
    let long = format!("  rig\tsouth-{}", "y".repeat(300));
    let answer = submit_with_headers(&farm, &format!("X-Miner: {long}\r\n"), params(3));
    assert!(answer["result"]["poc_time"].is_u64(), "{answer}");

    let listed = machines(&farm);
    assert!(listed.iter().any(|m| m == "rig-north"), "{listed:?}");
    assert!(listed.iter().any(|m| m == "127.0.0.1"), "{listed:?}");
    let cleaned: Vec<&String> = listed
        .iter()
        .filter(|m| m.starts_with("rigsouth-"))
        .collect();
    assert_eq!(cleaned.len(), 1, "{listed:?}");
    let cleaned = cleaned[0];
    assert!(cleaned.chars().all(|c| !c.is_control()), "{cleaned:?}");
    assert!(
        (16..=64).contains(&cleaned.chars().count()),
        "{} chars",
        cleaned.chars().count()
    );
    assert!(cleaned
        .trim_start_matches("rigsouth-")
        .chars()
        .all(|c| c == 'y'));
    assert_eq!(listed.len(), 3, "{listed:?}");
}

/// One keep-alive request on an open connection; the status, or None when the connection was
/// closed or reset instead of answered.
fn keep_alive_status(stream: &mut TcpStream, body: &str) -> Option<u16> {
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut rest = vec![0; crate::support::content_length(&head)];
    stream.read_exact(&mut rest).ok()?;
    head.split(' ').nth(1)?.parse().ok()
}

#[test]
fn connections_above_the_per_ip_limit_are_not_served() {
    let farm = Farm::start_with(Default::default(), |cfg| {
        cfg.server.max_connections_per_ip = Some(2);
    });
    // Only JSON-RPC requests count against the limit; wait through /health.
    crate::support::wait_until(Duration::from_secs(5), || farm.get("/health").0 == 200);
    let addr = miner_addr(&farm);
    let body = call(json!(1));
    let open = |_| {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        stream
    };
    let mut held: Vec<TcpStream> = (0..2).map(open).collect();
    for stream in &mut held {
        assert_eq!(keep_alive_status(stream, &body), Some(200));
    }
    let mut third = open(0);
    let status = keep_alive_status(&mut third, &body);
    assert_ne!(
        status,
        Some(200),
        "a third connection from one IP was served with a limit of 2"
    );
    // A connection stops counting once it has been quiet for the I/O timeout (the HTTP layer
    // does not report closes), so room comes back within about 5 s of closing one.
    drop(held.pop());
    crate::support::wait_until(Duration::from_secs(8), || {
        let mut again = open(0);
        keep_alive_status(&mut again, &body) == Some(200)
    });
}
