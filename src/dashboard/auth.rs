//! Basic authentication for the dashboard port (RFC 7617).
//!
//! Owns parsing the `Authorization` header, decoding its base64 payload, and comparing the
//! credentials in time that does not depend on where they differ. Input is untrusted: the header
//! is size-capped before decoding and nothing here can panic on it.
//!
//! Deliberately does not: build responses (the caller answers 401), log, or rate-limit guesses.

use std::fmt;

use crate::config::BasicCredentials;

/// Longest base64 payload looked at; real credentials are far shorter.
const MAX_ENCODED_LEN: usize = 4096;

/// Why a request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header.
    Missing,
    /// A scheme other than Basic.
    NotBasic,
    /// Payload longer than 4 KiB.
    TooLong,
    /// Payload is not valid base64.
    BadEncoding,
    /// Decoded payload has no `:` between user and password.
    NoSeparator,
    /// Well-formed, but not the configured user and password.
    WrongCredentials,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::Missing => "no credentials",
            AuthError::NotBasic => "not basic authentication",
            AuthError::TooLong => "credentials too long",
            AuthError::BadEncoding => "credentials not valid base64",
            AuthError::NoSeparator => "credentials without user:password separator",
            AuthError::WrongCredentials => "wrong credentials",
        })
    }
}

impl std::error::Error for AuthError {}

/// Checks an `Authorization` header value against the configured credentials.
pub(crate) fn check(header: Option<&str>, expected: &BasicCredentials) -> Result<(), AuthError> {
    let header = header.ok_or(AuthError::Missing)?.trim();
    let (scheme, payload) = header.split_once(' ').ok_or(AuthError::NotBasic)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::NotBasic);
    }
    let payload = payload.trim();
    if payload.len() > MAX_ENCODED_LEN {
        return Err(AuthError::TooLong);
    }
    let decoded = decode_base64(payload).ok_or(AuthError::BadEncoding)?;
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(AuthError::NoSeparator)?;
    let (user, rest) = decoded.split_at(colon);
    let password = rest.get(1..).unwrap_or_default();
    // `&`, not `&&`: both comparisons always run, so timing does not say which part was wrong.
    let user_ok = same_bytes(user, expected.username.as_bytes());
    let password_ok = same_bytes(password, expected.password.as_bytes());
    if user_ok & password_ok {
        Ok(())
    } else {
        Err(AuthError::WrongCredentials)
    }
}

/// Compares in time that depends only on `expected`'s length, never on the first difference.
fn same_bytes(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for (i, &want) in expected.iter().enumerate() {
        let got = given.get(i).copied().unwrap_or(0);
        diff |= usize::from(got ^ want);
    }
    std::hint::black_box(diff) == 0
}

/// Value of one character of the standard base64 alphabet.
fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Standard base64 with optional `=` padding; `None` on any character outside the alphabet,
/// misplaced padding, or an impossible length.
pub(crate) fn decode_base64(input: &str) -> Option<Vec<u8>> {
    let bytes = input.as_bytes();
    let body = bytes
        .strip_suffix(b"==")
        .or_else(|| bytes.strip_suffix(b"="))
        .unwrap_or(bytes);
    let padded = body.len() != bytes.len();
    if (padded && !bytes.len().is_multiple_of(4)) || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    // Invariant: `acc < 2^bits`, so `acc >> bits` after a full byte fits in a u8.
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for &c in body {
        acc = (acc << 6) | u32::from(sextet(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from(acc >> bits).ok()?);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> BasicCredentials {
        BasicCredentials {
            username: "farm".to_owned(),
            password: "s3cret:with colon".to_owned(),
        }
    }

    #[test]
    fn decodes_rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
            ("Zm9vYg", "foob"),
        ];
        for (encoded, plain) in vectors {
            assert_eq!(
                decode_base64(encoded).as_deref(),
                Some(plain.as_bytes()),
                "{encoded}"
            );
        }
    }

    #[test]
    fn decodes_all_sextets() {
        let decoded = decode_base64("+/+/").unwrap();
        assert_eq!(decoded, vec![0xfb, 0xff, 0xbf]);
    }

    #[test]
    fn rejects_malformed_base64() {
        for bad in ["Z", "Zm9vY", "Zg=", "Zg===", "Z=g=", "Zm9v!", "Zm 9v", "é"] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
    }

    #[test]
    fn accepts_right_credentials_with_any_scheme_case() {
        // "farm:s3cret:with colon"
        let header = "Basic ZmFybTpzM2NyZXQ6d2l0aCBjb2xvbg==";
        assert_eq!(check(Some(header), &creds()), Ok(()));
        assert_eq!(
            check(Some("basic   ZmFybTpzM2NyZXQ6d2l0aCBjb2xvbg== "), &creds()),
            Ok(())
        );
    }

    #[test]
    fn refuses_everything_else() {
        let cases = [
            (None, AuthError::Missing),
            (Some("Bearer abc"), AuthError::NotBasic),
            (Some("Basic"), AuthError::NotBasic),
            (Some("Basic ***"), AuthError::BadEncoding),
            (Some("Basic ZmFybQ=="), AuthError::NoSeparator), // "farm"
            (Some("Basic ZmFybTp3cm9uZw=="), AuthError::WrongCredentials), // "farm:wrong"
            (Some("Basic ZmFybTo="), AuthError::WrongCredentials), // "farm:"
            (
                Some("Basic OnMzY3JldDp3aXRoIGNvbG9u"),
                AuthError::WrongCredentials,
            ), // ":s3cret:with colon"
        ];
        for (header, want) in cases {
            assert_eq!(check(header, &creds()), Err(want), "{header:?}");
        }
        let huge = format!("Basic {}", "A".repeat(MAX_ENCODED_LEN + 4));
        assert_eq!(check(Some(&huge), &creds()), Err(AuthError::TooLong));
    }

    #[test]
    fn compares_prefixes_and_lengths() {
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"ab", b"abc"));
        assert!(!same_bytes(b"abcd", b"abc"));
        assert!(!same_bytes(b"abd", b"abc"));
        assert!(same_bytes(b"", b""));
    }
}
