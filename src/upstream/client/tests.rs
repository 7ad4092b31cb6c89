use super::*;

#[test]
fn tokens_with_a_colon_are_basic_others_bearer() {
    assert_eq!(token_header("user:pass"), "Basic dXNlcjpwYXNz");
    assert_eq!(token_header("abc123"), "Bearer abc123");
}

#[test]
fn rpc_errors_keep_code_and_data() {
    let err = parse_rpc_answer(br#"{"jsonrpc":"2.0","error":{"code":-32002,"message":"wrong height","data":{"reason":"wrong_height"}},"id":1}"#)
        .unwrap_err();
    assert_eq!(err.rpc_code(), Some(-32002));
    assert_eq!(err.reason(), "wrong_height");
}

#[test]
fn html_and_garbage_are_bad_responses() {
    for body in [&b"<html>oops</html>"[..], b"", b"[1,2]", b"{\"id\":1}"] {
        assert!(matches!(
            parse_rpc_answer(body),
            Err(UpstreamError::BadResponse(_))
        ));
    }
}

#[test]
fn mining_info_is_checked_and_kept_whole() {
    let raw = json!({"height": 7, "base_target": 5, "generation_signature": "ab", "block_hash": "cd", "future": [1]});
    let info = parse_mining_info(raw.clone()).unwrap();
    assert_eq!((info.height, info.base_target), (7, 5));
    assert_eq!(info.raw, raw);
    for broken in [
        json!({"height": 7, "base_target": 0, "generation_signature": "ab", "block_hash": "cd"}),
        json!({"height": -1, "base_target": 5, "generation_signature": "ab", "block_hash": "cd"}),
        json!({"height": 7, "base_target": 5, "generation_signature": "zz", "block_hash": "cd"}),
        json!("nope"),
    ] {
        assert!(parse_mining_info(broken).is_err());
    }
}

/// Answers one connection with `answer` (after reading the whole request) and closes it.
fn one_answer_server(answer: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    use crate::sim::http1::{read_request, Incoming};
    use std::io::{BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        // Unread bytes at close would reset the connection under the answer.
        assert!(matches!(read_request(&mut reader), Incoming::Call(_)));
        let _ = reader.get_mut().write_all(&answer);
    });
    (url, server)
}

fn client_for(url: String) -> UpstreamClient {
    let mut config = crate::config::Config::with_upstream_url(&url).unwrap();
    config.upstream.site_name = "test-site".into();
    UpstreamClient::for_endpoint(
        &config.upstream,
        &config.upstream.primary(),
        Duration::from_secs(5),
        1,
    )
}

#[test]
fn every_call_names_the_site_in_x_miner() {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let mut heads = Vec::new();
        for answer in [
            r#"{"jsonrpc":"2.0","result":{"height":7,"base_target":5,"generation_signature":"ab","block_hash":"cd"},"id":1}"#,
            r#"{"jsonrpc":"2.0","result":{"raw_quality":9,"poc_time":3},"id":2}"#,
        ] {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line.to_ascii_lowercase());
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let _ = reader.get_mut().write_all(&http_answer("", answer));
            heads.push(head);
        }
        heads
    });
    let client = client_for(url);
    client.get_mining_info().unwrap();
    let submission = NonceSubmission {
        block_hash: "cd".into(),
        height: 7,
        generation_signature: "ab".into(),
        base_target: 5,
        account_id: "0".repeat(40),
        seed: "ab".repeat(32),
        nonce: 1,
        compression: 1,
        raw_quality: 9,
    };
    client.submit_nonce(&submission).unwrap();
    let heads = server.join().unwrap();
    assert_eq!(heads.len(), 2);
    for head in heads {
        assert!(head.contains("\r\nx-miner: test-site\r\n"), "{head}");
    }
}

fn http_answer(extra_head: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra_head}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn an_answer_far_larger_than_the_connection_buffer_is_read_whole() {
    let padding = "x".repeat(20 * CONNECTION_BUFFER_BYTES);
    let body = format!(
        r#"{{"jsonrpc":"2.0","result":{{"height":7,"base_target":5,"generation_signature":"ab","block_hash":"cd","padding":"{padding}"}},"id":1}}"#
    );
    let (url, server) = one_answer_server(http_answer("", &body));
    let info = client_for(url).get_mining_info().unwrap();
    server.join().unwrap();
    assert_eq!(info.height, 7);
    assert_eq!(
        info.raw["padding"].as_str().map(str::len),
        Some(padding.len())
    );
}

#[test]
fn an_answer_head_over_the_limit_is_an_error() {
    let header = format!("X-Filler: {}\r\n", "y".repeat(CONNECTION_BUFFER_BYTES));
    // Just under the limit is fine.
    let fits = format!("X-Filler: {}\r\n", "y".repeat(MAX_ANSWER_HEAD_BYTES - 200));
    let body = r#"{"jsonrpc":"2.0","result":{"height":7,"base_target":5,"generation_signature":"ab","block_hash":"cd"},"id":1}"#;
    let (url, server) = one_answer_server(http_answer(&fits, body));
    assert_eq!(client_for(url).get_mining_info().unwrap().height, 7);
    server.join().unwrap();
    let (url, server) = one_answer_server(http_answer(&header, body));
    let error = client_for(url).get_mining_info().unwrap_err();
    server.join().unwrap();
    assert_eq!(
        error.to_string(),
        format!("upstream answered garbage: answer head larger than {MAX_ANSWER_HEAD_BYTES} bytes")
    );
}
