//! Random input to the URL functions: the masker never shows a secret, an upstream URL is taken
//! as written or refused naming its key. Random configuration text is the integration tests'
//! `hostile::config_text`, which also holds loading to a heap budget.

use proptest::prelude::*;

use crate::config::{mask_url, Config};

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_masks_to_a_fixed_point(text in any::<String>()) {
        // Masking what was already masked (a logged URL logged again) changes nothing.
        let once = mask_url(&text);
        prop_assert_eq!(mask_url(&once), once);
    }

    #[test]
    fn the_masked_url_never_shows_the_password_or_a_query_value(
        url in secret_url(),
    ) {
        let masked = mask_url(&url);
        // Every secret holds an upper-case letter; nothing else in the URL does.
        prop_assert!(!masked.contains(SECRET), "{} -> {}", url, masked);
        prop_assert!(masked.contains("***@"), "{} -> {}", url, masked);
    }

    #[test]
    fn an_upstream_url_is_taken_as_written_or_refused_naming_the_key(
        text in prop_oneof![any::<String>(), url_like()],
    ) {
        match Config::with_upstream_url(&text) {
            Ok(config) => prop_assert_eq!(config.upstream.url, text),
            Err(error) => prop_assert_eq!(error.key_path(), Some("upstream.url")),
        }
    }
}

/// Marks every secret part of [`secret_url`]; its other parts are lower case.
const SECRET: &str = "Pw";

/// `scheme://user:password@host[:port]/path[?name=value…][#fragment]` with secrets drawn from
/// the characters user info and query values may hold (`@` and `:` included).
fn secret_url() -> impl Strategy<Value = String> {
    let secret = "[a-zA-Z0-9@:!$'()*+,;=%._~-]{0,12}".prop_map(|tail| format!("{SECRET}{tail}"));
    (
        prop::sample::select(vec!["http", "https"]),
        "[a-z0-9._~-]{0,8}",
        secret.clone(),
        "[a-z0-9.-]{1,12}",
        prop::option::of(1u16..),
        "(/[a-z0-9._~-]{0,6}){0,3}",
        prop::collection::vec(("[a-z]{1,5}", secret), 0..3),
        prop::option::of("[a-z0-9/]{0,6}"),
    )
        .prop_map(
            |(scheme, user, password, host, port, path, query, fragment)| {
                let mut url = format!("{scheme}://{user}:{password}@{host}");
                if let Some(port) = port {
                    url.push_str(&format!(":{port}"));
                }
                url.push_str(&path);
                for (i, (name, value)) in query.iter().enumerate() {
                    url.push(if i == 0 { '?' } else { '&' });
                    // `=` and `&` inside a value would start another pair: not in a value.
                    url.push_str(&format!("{name}={}", value.replace(['=', '&'], "")));
                }
                if let Some(fragment) = fragment {
                    url.push('#');
                    url.push_str(&fragment);
                }
                url
            },
        )
}

/// Text shaped like an upstream URL, often a valid one.
fn url_like() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["http://", "https://", "ftp://", "http:/", ""]),
        "[a-z0-9.\\[\\]:_-]{0,16}",
        prop::option::of(0u32..70_000),
        "[a-z0-9/?=&# ]{0,10}",
    )
        .prop_map(|(scheme, host, port, rest)| match port {
            Some(port) => format!("{scheme}{host}:{port}{rest}"),
            None => format!("{scheme}{host}{rest}"),
        })
}
