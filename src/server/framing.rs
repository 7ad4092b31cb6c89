//! The request-head rules of RFC 9112 that tiny_http does not enforce, checked on every head
//! before anything reads its body.
//!
//! tiny_http has already split the head into a request line and fields (refusing a line without
//! a colon or with white space in a field name). What it lets through and this module refuses:
//! heads over the size limits, field names that are not tokens, control characters in values,
//! a missing or repeated `Host` on HTTP/1.1, and every framing it would read differently from
//! what a proxy in front of us would: an invalid or conflicting `Content-Length`, `Content-Length`
//! beside `Transfer-Encoding`, and transfer codings other than a single `chunked`.
//!
//! Pure: one pass over the fields, no allocation, no I/O. The worker answers a [`Refusal`] and
//! closes the connection, because after a framing error nobody knows where the next request
//! would start.

use super::refusals::Refusal;
use crate::config::defaults;

/// Size limits of a request head, from `server.*` in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// The request line, without its line end.
    pub max_request_line: usize,
    /// One field line (`name: value`), without its line end.
    pub max_field_line: usize,
    pub max_fields: usize,
    /// The whole head: request line, fields and the empty line.
    pub max_head: usize,
}

impl Default for HeadLimits {
    fn default() -> HeadLimits {
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        HeadLimits {
            max_request_line: size(defaults::MAX_REQUEST_LINE_BYTES),
            max_field_line: size(defaults::MAX_HEADER_FIELD_BYTES),
            max_fields: size(defaults::MAX_HEADER_FIELDS),
            max_head: size(defaults::MAX_HEAD_BYTES),
        }
    }
}

/// The parts of a head the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a, F> {
    /// `(major, minor)`.
    pub version: (u8, u8),
    pub method: &'a str,
    pub target: &'a str,
    /// Field names and values as tiny_http parsed them (values without surrounding white space).
    pub fields: F,
}

/// What the fields announce about the body, gathered in one pass.
#[derive(Default)]
struct Framing {
    content_length: Option<u64>,
    transfer_encoding: bool,
    hosts: usize,
}

/// `Ok` when the head may be served; otherwise why not.
pub fn check<'a, F>(head: Head<'a, F>, limits: &HeadLimits) -> Result<(), Refusal>
where
    F: Iterator<Item = (&'a str, &'a str)>,
{
    if head.version != (1, 0) && head.version != (1, 1) {
        return Err(Refusal::UnsupportedVersion);
    }
    // "METHOD SP target SP HTTP/x.y"
    let request_line = head.method.len() + head.target.len() + 10;
    if request_line > limits.max_request_line {
        return Err(Refusal::RequestLineTooLong);
    }
    let mut head_bytes = request_line + 4;
    let mut framing = Framing::default();
    for (count, (name, value)) in head.fields.enumerate() {
        if count >= limits.max_fields {
            return Err(Refusal::TooManyFields);
        }
        let line = name.len() + 2 + value.len();
        if line > limits.max_field_line {
            return Err(Refusal::FieldTooLong);
        }
        head_bytes += line + 2;
        if head_bytes > limits.max_head {
            return Err(Refusal::HeadTooLarge);
        }
        if !is_token(name) || !is_field_value(value) {
            return Err(Refusal::BadField);
        }
        framing.add(name, value)?;
    }
    if framing.hosts > 1 || (head.version == (1, 1) && framing.hosts == 0) {
        return Err(Refusal::BadHost);
    }
    if framing.transfer_encoding && (framing.content_length.is_some() || head.version == (1, 0)) {
        return Err(Refusal::AmbiguousFraming);
    }
    Ok(())
}

impl Framing {
    fn add(&mut self, name: &str, value: &str) -> Result<(), Refusal> {
        // By length first: most fields are none of the three, and this is paid per field.
        match name.len() {
            14 if name.eq_ignore_ascii_case("content-length") => {
                let length = parse_content_length(value).ok_or(Refusal::BadContentLength)?;
                if self.content_length.is_some_and(|seen| seen != length) {
                    return Err(Refusal::BadContentLength);
                }
                self.content_length = Some(length);
            }
            // tiny_http decodes any transfer coding as chunked, so only a lone `chunked` (in
            // one field, once) is read the way the client meant it.
            17 if name.eq_ignore_ascii_case("transfer-encoding") => {
                if self.transfer_encoding {
                    return Err(Refusal::UnsupportedTransferCoding);
                }
                check_transfer_coding(value)?;
                self.transfer_encoding = true;
            }
            4 if name.eq_ignore_ascii_case("host") => self.hosts += 1,
            _ => {}
        }
        Ok(())
    }
}

/// `1*DIGIT` that fits in 64 bits: no sign, no list, no white space inside.
fn parse_content_length(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn check_transfer_coding(value: &str) -> Result<(), Refusal> {
    let mut codings = value.split(',').map(|c| c.trim_matches([' ', '\t']));
    match (codings.next(), codings.next()) {
        (Some(only), None) if only.eq_ignore_ascii_case("chunked") => Ok(()),
        _ if value
            .split(',')
            .any(|c| c.trim_matches([' ', '\t']).is_empty()) =>
        {
            Err(Refusal::AmbiguousFraming)
        }
        _ => Err(Refusal::UnsupportedTransferCoding),
    }
}

/// RFC 9110 §5.6.2 `token`.
fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| class(b) & TOKEN != 0)
}

/// RFC 9110 §5.5: visible characters, spaces and tabs; no NUL, CR, LF or other controls.
fn is_field_value(value: &str) -> bool {
    value.bytes().all(|b| class(b) & FIELD_VALUE != 0)
}

const TOKEN: u8 = 1;
const FIELD_VALUE: u8 = 2;

fn class(byte: u8) -> u8 {
    // Indexing by a byte cannot leave a table of 256 entries.
    BYTE_CLASSES[usize::from(byte)]
}

/// What each byte may be part of: one load per byte of every head, which every request pays.
static BYTE_CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        if byte == b'\t' || (byte >= b' ' && byte != 0x7f) {
            table[b] |= FIELD_VALUE;
        }
        let symbol = matches!(
            byte,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        );
        if byte.is_ascii_alphanumeric() || symbol {
            table[b] |= TOKEN;
        }
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(version: (u8, u8), fields: &[(&str, &str)]) -> Result<(), Refusal> {
        let head = Head {
            version,
            method: "POST",
            target: "/",
            fields: fields.iter().copied(),
        };
        check(head, &HeadLimits::default())
    }

    fn v11(fields: &[(&str, &str)]) -> Result<(), Refusal> {
        verdict((1, 1), fields)
    }

    #[test]
    fn plain_heads_pass() {
        assert_eq!(v11(&[("Host", "x"), ("Content-Length", "12")]), Ok(()));
        assert_eq!(
            v11(&[("host", "x"), ("transfer-encoding", "Chunked")]),
            Ok(())
        );
        assert_eq!(verdict((1, 0), &[]), Ok(()));
        assert_eq!(verdict((1, 0), &[("Content-Length", "0")]), Ok(()));
        // Repeated, identical lengths agree on the framing (RFC 9112 §6.3 allows them).
        let same = [
            ("Host", "x"),
            ("Content-Length", "5"),
            ("Content-Length", "5"),
        ];
        assert_eq!(v11(&same), Ok(()));
        assert_eq!(v11(&[("Host", "x"), ("X-Miner", "rig\t1 ü")]), Ok(()));
        for b in 0..=255u8 {
            let token = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(class(b) & TOKEN != 0, token, "{b}");
            let value = b == b'\t' || (b >= 0x20 && b != 0x7f);
            assert_eq!(class(b) & FIELD_VALUE != 0, value, "{b}");
        }
    }

    #[test]
    fn content_length_must_be_digits_and_agree() {
        for bad in [
            "abc",
            "-5",
            "+5",
            "",
            "5 5",
            "5,5",
            "0x10",
            "99999999999999999999999",
        ] {
            let fields = [("Host", "x"), ("Content-Length", bad)];
            assert_eq!(v11(&fields), Err(Refusal::BadContentLength), "{bad:?}");
        }
        let conflicting = [
            ("Host", "x"),
            ("Content-Length", "5"),
            ("content-length", "6"),
        ];
        assert_eq!(v11(&conflicting), Err(Refusal::BadContentLength));
    }

    #[test]
    fn transfer_encoding_is_a_lone_chunked_without_content_length() {
        let both = [
            ("Host", "x"),
            ("Content-Length", "5"),
            ("Transfer-Encoding", "chunked"),
        ];
        assert_eq!(v11(&both), Err(Refusal::AmbiguousFraming));
        let te = |value| v11(&[("Host", "x"), ("Transfer-Encoding", value)]);
        assert_eq!(te("gzip, chunked"), Err(Refusal::UnsupportedTransferCoding));
        assert_eq!(te("gzip"), Err(Refusal::UnsupportedTransferCoding));
        assert_eq!(
            te("chunked, chunked"),
            Err(Refusal::UnsupportedTransferCoding)
        );
        assert_eq!(te("chunked,"), Err(Refusal::AmbiguousFraming));
        assert_eq!(te(""), Err(Refusal::AmbiguousFraming));
        let twice = [
            ("Host", "x"),
            ("Transfer-Encoding", "chunked"),
            ("Transfer-Encoding", "chunked"),
        ];
        assert_eq!(v11(&twice), Err(Refusal::UnsupportedTransferCoding));
        let http10 = verdict((1, 0), &[("Transfer-Encoding", "chunked")]);
        assert_eq!(http10, Err(Refusal::AmbiguousFraming));
    }

    #[test]
    fn host_is_required_once_on_http_1_1() {
        assert_eq!(v11(&[]), Err(Refusal::BadHost));
        assert_eq!(v11(&[("Host", "a"), ("Host", "b")]), Err(Refusal::BadHost));
        assert_eq!(
            verdict((1, 0), &[("Host", "a"), ("Host", "b")]),
            Err(Refusal::BadHost)
        );
    }

    #[test]
    fn names_are_tokens_and_values_have_no_controls() {
        for (name, value) in [
            ("", "x"),
            ("A(b)", "x"),
            ("X", "a\0b"),
            ("X", "a\rb"),
            ("X", "\x7f"),
        ] {
            let fields = [("Host", "x"), (name, value)];
            assert_eq!(v11(&fields), Err(Refusal::BadField), "{name:?}: {value:?}");
        }
    }

    #[test]
    fn versions_other_than_1_0_and_1_1_are_refused() {
        assert_eq!(verdict((0, 9), &[]), Err(Refusal::UnsupportedVersion));
        assert_eq!(
            verdict((2, 0), &[("Host", "x")]),
            Err(Refusal::UnsupportedVersion)
        );
    }

    #[test]
    fn sizes_are_bounded_at_the_limits() {
        let limits = HeadLimits::default();
        let target = "/".repeat(limits.max_request_line - 13);
        let at = |target: &str| {
            let head = Head {
                version: (1, 1),
                method: "GET",
                target,
                fields: [("Host", "x")].into_iter(),
            };
            check(head, &limits)
        };
        assert_eq!(at(&target), Ok(()));
        assert_eq!(at(&format!("{target}/")), Err(Refusal::RequestLineTooLong));

        let value = "v".repeat(limits.max_field_line - 3);
        assert_eq!(v11(&[("Host", "x"), ("X", &value)]), Ok(()));
        let longer = format!("{value}v");
        assert_eq!(
            v11(&[("Host", "x"), ("X", &longer)]),
            Err(Refusal::FieldTooLong)
        );

        let many: Vec<(&str, &str)> = std::iter::once(("Host", "x"))
            .chain(std::iter::repeat(("X", "1")))
            .take(limits.max_fields)
            .collect();
        assert_eq!(v11(&many), Ok(()));
        let mut more = many.clone();
        more.push(("X", "1"));
        assert_eq!(v11(&more), Err(Refusal::TooManyFields));

        let big = "v".repeat(8000);
        let heavy: Vec<(&str, &str)> = std::iter::once(("Host", "x"))
            .chain(std::iter::repeat(("X", big.as_str())))
            .take(10)
            .collect();
        assert_eq!(v11(&heavy), Err(Refusal::HeadTooLarge));
    }
}
