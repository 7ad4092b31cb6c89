//! Unit tests of the dashboard routes, headers and authentication.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// Fixed reports; counts how often `/stats` was built.
#[derive(Default)]
struct Fixture {
    stats_built: AtomicUsize,
}

impl Reports for Fixture {
    fn stats_json(&self) -> String {
        self.stats_built.fetch_add(1, Ordering::SeqCst);
        r#"{"version":"0.1.0"}"#.to_owned()
    }

    fn metrics_text(&self) -> String {
        "pocx_up 1\n".to_owned()
    }

    fn health(&self) -> (u16, String) {
        (503, r#"{"status":"degraded"}"#.to_owned())
    }

    fn history(&self, query: &str) -> (u16, String) {
        (400, format!(r#"{{"error":"{query}"}}"#))
    }
}

/// The fixture behind the dashboard, with or without credentials.
struct Ctx {
    reports: Fixture,
    auth: Option<BasicCredentials>,
}

fn context(auth: Option<BasicCredentials>) -> Ctx {
    Ctx {
        reports: Fixture::default(),
        auth,
    }
}

fn handle(ctx: &Ctx, req: HttpRequest) -> HttpResponse {
    super::handle(&ctx.reports, ctx.auth.as_ref(), req)
}

fn creds() -> BasicCredentials {
    BasicCredentials {
        username: "admin".to_owned(),
        password: "pw".to_owned(),
    }
}

fn header<'a>(resp: &'a HttpResponse, name: &str) -> Option<&'a str> {
    resp.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn get(ctx: &Ctx, path: &str) -> HttpResponse {
    handle(ctx, HttpRequest::new("GET", path))
}

#[test]
fn serves_the_page_with_inlined_assets() {
    let ctx = context(None);
    for path in ["/", "/index.html"] {
        let resp = get(&ctx, path);
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(resp.content_type, "text/html; charset=utf-8");
        let body = String::from_utf8(resp.body.clone()).unwrap();
        assert!(body.starts_with("<!doctype html>"), "{path}");
        assert!(!body.contains(CSS_MARKER) && !body.contains(JS_MARKER));
        assert!(body.contains(PAGE_CSS) && body.contains(PAGE_JS));
        assert!(header(&resp, "Content-Security-Policy").is_some());
        assert_eq!(header(&resp, "X-Content-Type-Options"), Some("nosniff"));
    }
}

#[test]
fn page_is_self_contained_and_small() {
    let page = page();
    assert!(page.contains(r#"name="viewport""#));
    // The SVG namespace is an identifier, not something fetched.
    let fetchable = page.replace("http://www.w3.org/2000/svg", "");
    for external in [
        "http://",
        "https://",
        "//cdn",
        "@import",
        "@font-face",
        "src=\"",
    ] {
        assert!(!fetchable.contains(external), "page references {external}");
    }
    // Miner-supplied text must never reach innerHTML/outerHTML/document.write.
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!PAGE_JS.contains(sink), "page.js uses {sink}");
    }
    // One request on a farm LAN even with the history charts; a small host serves it from memory.
    assert!(page.len() < 36 * 1024, "page is {} bytes", page.len());
}

#[test]
fn serves_stats_uncached_as_json() {
    let resp = get(&context(None), "/stats");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.content_type, "application/json");
    assert_eq!(resp.body, br#"{"version":"0.1.0"}"#);
    assert_eq!(header(&resp, "Cache-Control"), Some("no-store"));
}

#[test]
fn serves_metrics_as_prometheus_text() {
    let resp = get(&context(None), "/metrics");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(resp.body, b"pocx_up 1\n");
    assert_eq!(header(&resp, "Cache-Control"), Some("no-store"));
}

#[test]
fn health_passes_status_and_body_through() {
    let resp = get(&context(None), "/health");
    assert_eq!(resp.status, 503);
    assert_eq!(resp.content_type, "application/json");
    assert_eq!(resp.body, br#"{"status":"degraded"}"#);
    assert_eq!(header(&resp, "Cache-Control"), Some("no-store"));
}

#[test]
fn ignores_query_strings() {
    let mut req = HttpRequest::new("GET", "/stats");
    req.query = "t=123".to_owned();
    assert_eq!(handle(&context(None), req).status, 200);
}

#[test]
fn history_hands_its_query_to_the_reports_and_passes_the_status_on() {
    let mut req = HttpRequest::new("GET", "/history");
    req.query = "subject=farm&range=1y".to_owned();
    let resp = handle(&context(None), req);
    assert_eq!(resp.status, 400);
    assert_eq!(resp.body, br#"{"error":"subject=farm&range=1y"}"#);
    assert_eq!(header(&resp, "Cache-Control"), Some("no-store"));
}

#[test]
fn unknown_paths_are_404() {
    let ctx = context(None);
    for path in ["/stats/", "/STATS", "/favicon.ico", "/../etc/passwd", ""] {
        assert_eq!(get(&ctx, path).status, 404, "{path:?}");
    }
}

#[test]
fn other_methods_are_405_and_head_is_allowed() {
    let ctx = context(None);
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "get"] {
        let resp = handle(&ctx, HttpRequest::new(method, "/stats"));
        assert_eq!(resp.status, 405, "{method}");
        assert_eq!(header(&resp, "Allow"), Some("GET, HEAD"));
    }
    assert_eq!(handle(&ctx, HttpRequest::new("HEAD", "/")).status, 200);
}

#[test]
fn reports_are_built_only_for_their_route() {
    let ctx = context(None);
    get(&ctx, "/");
    get(&ctx, "/metrics");
    get(&ctx, "/health");
    handle(&ctx, HttpRequest::new("POST", "/stats"));
    assert_eq!(ctx.reports.stats_built.load(Ordering::SeqCst), 0);
    get(&ctx, "/stats");
    assert_eq!(ctx.reports.stats_built.load(Ordering::SeqCst), 1);
}

#[test]
fn auth_lets_the_right_credentials_in_everywhere() {
    let ctx = context(Some(creds()));
    // "admin:pw"
    for path in ["/", "/stats", "/metrics", "/health"] {
        let req = HttpRequest::new("GET", path).with_header("Authorization", "Basic YWRtaW46cHc=");
        let resp = handle(&ctx, req);
        assert_ne!(resp.status, 401, "{path}");
        assert!(header(&resp, "WWW-Authenticate").is_none());
    }
}

#[test]
fn auth_refuses_missing_and_wrong_credentials_before_routing() {
    let ctx = context(Some(creds()));
    let wrong = [
        None,
        Some("Basic YWRtaW46cHd4"), // admin:pwx
        Some("Basic YWRtaW46"),     // admin:
        Some("Basic cm9vdDpwdw=="), // root:pw
        Some("Bearer YWRtaW46cHc="),
        Some("Basic not base64!"),
    ];
    for path in ["/", "/stats", "/metrics", "/health", "/nowhere"] {
        for auth in wrong {
            let mut req = HttpRequest::new("GET", path);
            if let Some(value) = auth {
                req = req.with_header("Authorization", value);
            }
            let resp = handle(&ctx, req);
            assert_eq!(resp.status, 401, "{path} {auth:?}");
            let challenge = header(&resp, "WWW-Authenticate").unwrap();
            assert!(challenge.starts_with("Basic realm="), "{challenge}");
            assert!(!String::from_utf8_lossy(&resp.body).contains("version"));
        }
    }
}
