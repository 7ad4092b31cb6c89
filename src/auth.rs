//! Basic authentication (RFC 7617) for both ports: the miner port's JSON-RPC and the dashboard.
//!
//! Owns parsing the `Authorization` header (scheme name in any case, any run of spaces before the
//! credentials), decoding its base64 payload and comparing the credentials in time that does not
//! depend on where they differ; and the header value the upstream client sends. Input is
//! untrusted: the payload is size-capped before decoding and nothing here can panic on it.
//!
//! Deliberately does not: build responses (each port answers 401 in its own format), log, or
//! rate-limit guesses.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use base64::Engine;
use subtle::ConstantTimeEq;

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
pub fn check(header: Option<&str>, expected: &BasicCredentials) -> Result<(), AuthError> {
    let header = header.ok_or(AuthError::Missing)?.trim();
    let (scheme, payload) = header.split_once(' ').ok_or(AuthError::NotBasic)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::NotBasic);
    }
    let payload = payload.trim();
    if payload.len() > MAX_ENCODED_LEN {
        return Err(AuthError::TooLong);
    }
    // Padding optional (some clients leave it out); non-zero trailing bits are refused.
    let decoded = STANDARD_PAD_INDIFFERENT
        .decode(payload)
        .map_err(|_| AuthError::BadEncoding)?;
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(AuthError::NoSeparator)?;
    let (user, rest) = decoded.split_at(colon);
    let password = rest.get(1..).unwrap_or_default();
    // `&` on `Choice`: both comparisons always run, so timing does not say which part was wrong.
    let matches =
        user.ct_eq(expected.username.as_bytes()) & password.ct_eq(expected.password.as_bytes());
    if bool::from(matches) {
        Ok(())
    } else {
        Err(AuthError::WrongCredentials)
    }
}

/// The `Authorization` value for a `user:password` pair, as a client sends it.
pub fn basic_header(user_pass: &str) -> String {
    format!("Basic {}", STANDARD.encode(user_pass))
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

    /// "farm:s3cret:with colon"
    const RIGHT: &str = "ZmFybTpzM2NyZXQ6d2l0aCBjb2xvbg==";

    #[test]
    fn accepts_the_right_credentials() {
        assert_eq!(check(Some(&format!("Basic {RIGHT}")), &creds()), Ok(()));
        assert_eq!(
            basic_header("farm:s3cret:with colon"),
            format!("Basic {RIGHT}")
        );
    }

    #[test]
    fn the_scheme_name_is_case_insensitive() {
        for scheme in ["basic", "BASIC", "bAsIc"] {
            let header = format!("{scheme} {RIGHT}");
            assert_eq!(check(Some(&header), &creds()), Ok(()), "{header}");
        }
    }

    #[test]
    fn spaces_around_the_credentials_are_tolerated() {
        for header in [
            format!("Basic   {RIGHT}"),
            format!("  Basic {RIGHT}  "),
            format!("basic \t {RIGHT}"),
        ] {
            assert_eq!(check(Some(&header), &creds()), Ok(()), "{header:?}");
        }
    }

    #[test]
    fn padding_is_optional() {
        let unpadded = RIGHT.trim_end_matches('=');
        assert_eq!(check(Some(&format!("Basic {unpadded}")), &creds()), Ok(()));
    }

    #[test]
    fn wrong_credentials_are_refused() {
        let cases = [
            "Basic ZmFybTp3cm9uZw==",                 // farm:wrong
            "Basic ZmFybTo=",                         // farm:
            "Basic OnMzY3JldDp3aXRoIGNvbG9u",         // :s3cret:with colon
            "Basic ZmFybTpzM2NyZXQ6d2l0aCBjb2w=",     // farm:s3cret:with col (a prefix)
            "Basic ZmFybTpzM2NyZXQ6d2l0aCBjb2xvbnM=", // one byte longer
        ];
        for header in cases {
            assert_eq!(
                check(Some(header), &creds()),
                Err(AuthError::WrongCredentials),
                "{header}"
            );
        }
    }

    #[test]
    fn malformed_headers_are_refused() {
        let cases = [
            (None, AuthError::Missing),
            (Some(""), AuthError::NotBasic),
            (Some("Bearer abc"), AuthError::NotBasic),
            (Some("Basic"), AuthError::NotBasic),
            (Some(RIGHT), AuthError::NotBasic),
            (Some("Basic ***"), AuthError::BadEncoding),
            (Some("Basic Z"), AuthError::BadEncoding),
            (Some("Basic Zg==="), AuthError::BadEncoding),
            (Some("Basic Z=g="), AuthError::BadEncoding),
            (Some("Basic Zm 9v"), AuthError::BadEncoding),
            (Some("Basic é"), AuthError::BadEncoding),
            // Non-zero trailing bits: not the canonical encoding of any credentials.
            (
                Some("Basic ZmFybTpzM2NyZXQ6d2l0aCBjb2xvbh=="),
                AuthError::BadEncoding,
            ),
            (Some("Basic ZmFybQ=="), AuthError::NoSeparator), // "farm"
        ];
        for (header, want) in cases {
            assert_eq!(check(header, &creds()), Err(want), "{header:?}");
        }
        let huge = format!("Basic {}", "A".repeat(MAX_ENCODED_LEN + 4));
        assert_eq!(check(Some(&huge), &creds()), Err(AuthError::TooLong));
    }

    #[test]
    fn credentials_that_are_not_utf8_are_compared_as_bytes() {
        // 0xff 0xfe ':' 0xfd: not UTF-8 on either side of the separator.
        let header = basic_header_bytes(&[0xff, 0xfe, b':', 0xfd]);
        assert_eq!(
            check(Some(&header), &creds()),
            Err(AuthError::WrongCredentials)
        );
        let latin = BasicCredentials {
            username: "é".to_owned(),
            password: "ü".to_owned(),
        };
        assert_eq!(check(Some(&basic_header("é:ü")), &latin), Ok(()));
        // The Latin-1 bytes of "é:ü" are not its UTF-8 ones.
        let header = basic_header_bytes(&[0xe9, b':', 0xfc]);
        assert_eq!(
            check(Some(&header), &latin),
            Err(AuthError::WrongCredentials)
        );
    }

    fn basic_header_bytes(pair: &[u8]) -> String {
        format!("Basic {}", STANDARD.encode(pair))
    }
}
