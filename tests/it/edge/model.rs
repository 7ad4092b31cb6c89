//! Random request heads, valid and broken one way at a time, against a small model of RFC 9112's
//! rules: the server's verdict (status, and whether it closed) must be the model's, and the
//! server must keep serving afterwards.

use std::time::Duration;

use proptest::prelude::*;

use super::{converse, echo_server};

/// One way a head can be broken (or `None`).
#[derive(Debug, Clone)]
enum Defect {
    None,
    ContentLength(String),
    ConflictingLengths,
    LengthAndChunked,
    Coding(String),
    NoHost,
    TwoHosts,
    ControlInValue(u8),
    SpaceBeforeColon,
    BadName(char),
    Fields(usize),
    LongField(usize),
    LongTarget(usize),
}

/// The model: what RFC 9112 (with the default limits) says a server must answer.
fn expected(defect: &Defect) -> (u16, bool) {
    match defect {
        Defect::None => (200, false),
        Defect::ContentLength(v)
            if !v.is_empty()
                && v.bytes().all(|b| b.is_ascii_digit())
                && v.parse::<u64>().is_ok() =>
        {
            (200, false)
        }
        Defect::Coding(c) if c.eq_ignore_ascii_case("chunked") => (200, false),
        Defect::Coding(_) => (501, true),
        Defect::Fields(n) if *n + 2 > 100 => (431, true),
        Defect::Fields(_) => (200, false),
        Defect::LongField(n) if n + 3 > 8 * 1024 => (431, true),
        Defect::LongField(_) => (200, false),
        // "POST " + "/" + n + " HTTP/1.1"
        Defect::LongTarget(n) if n + 15 > 8 * 1024 => (414, true),
        Defect::LongTarget(_) => (200, false),
        _ => (400, true),
    }
}

fn head(defect: &Defect) -> String {
    let mut target = "/p".to_owned();
    let mut fields = vec!["Host: x".to_owned()];
    let mut framing = Some("Content-Length: 0".to_owned());
    match defect {
        Defect::None => {}
        Defect::ContentLength(v) => framing = Some(format!("Content-Length: {v}")),
        Defect::ConflictingLengths => fields.push("Content-Length: 1".into()),
        Defect::LengthAndChunked => fields.push("Transfer-Encoding: chunked".into()),
        Defect::Coding(c) => framing = Some(format!("Transfer-Encoding: {c}")),
        Defect::NoHost => fields.clear(),
        Defect::TwoHosts => fields.push("Host: y".into()),
        Defect::ControlInValue(b) => fields.push(format!("X-Miner: a{}b", *b as char)),
        Defect::SpaceBeforeColon => fields.push("X-Miner : a".into()),
        Defect::BadName(c) => fields.push(format!("X{c}Y: a")),
        Defect::Fields(n) => fields.extend((0..*n).map(|i| format!("X-{i}: 1"))),
        Defect::LongField(n) => fields.push(format!("X: {}", "v".repeat(*n))),
        Defect::LongTarget(n) => target = format!("/{}", "t".repeat(*n)),
    }
    fields.extend(framing);
    let body = match defect {
        Defect::Coding(_) => "0\r\n\r\n",
        // tiny_http reads the first length's body before anything can see the head.
        Defect::ConflictingLengths => "a",
        Defect::ContentLength(v) => match v.parse::<usize>() {
            Ok(n) if n <= 3 => &"abc"[..n],
            _ => "",
        },
        _ => "",
    };
    format!(
        "POST {target} HTTP/1.1\r\n{}\r\n\r\n{body}",
        fields.join("\r\n")
    )
}

fn defect() -> impl Strategy<Value = Defect> {
    prop_oneof![
        Just(Defect::None),
        prop::sample::select(vec![
            "0",
            "3",
            "003",
            "abc",
            "-1",
            "+1",
            "1 1",
            "1,1",
            "0x1",
            "18446744073709551616"
        ])
        .prop_map(|v| Defect::ContentLength(v.into())),
        Just(Defect::ConflictingLengths),
        Just(Defect::LengthAndChunked),
        prop::sample::select(vec![
            "chunked",
            "CHUNKED",
            "gzip",
            "gzip, chunked",
            "chunked, gzip",
            "deflate"
        ])
        .prop_map(|c| Defect::Coding(c.into())),
        Just(Defect::NoHost),
        Just(Defect::TwoHosts),
        prop::sample::select(vec![0u8, 1, 8, 11, 12, 13, 27, 31, 127])
            .prop_map(Defect::ControlInValue),
        Just(Defect::SpaceBeforeColon),
        prop::sample::select(vec!['(', ')', '/', '[', '"', '{', '@', '='])
            .prop_map(Defect::BadName),
        (0usize..140).prop_map(Defect::Fields),
        (8_000usize..8_400).prop_map(Defect::LongField),
        (8_000usize..8_400).prop_map(Defect::LongTarget),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_server_answers_random_heads_as_the_model_says(defects in prop::collection::vec(defect(), 1..4)) {
        let server = echo_server();
        for defect in &defects {
            let raw = head(defect);
            let (status, closes) = expected(defect);
            let quiet = if closes { Duration::from_secs(3) } else { Duration::from_millis(150) };
            let conversation = converse(server.local_addr(), raw.as_bytes(), quiet);
            prop_assert_eq!(conversation.statuses(), vec![status], "{:?}: {:?}", defect, conversation);
            prop_assert_eq!(conversation.closed, closes, "{:?}: {:?}", defect, conversation);
        }
        // Still serving.
        let after = converse(server.local_addr(), b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_millis(150));
        prop_assert_eq!(after.statuses(), vec![200]);
        server.shutdown();
    }
}
