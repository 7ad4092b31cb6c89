//! The web dashboard: one self-contained page plus the JSON and text endpoints it and monitoring
//! tools read.
//!
//! Owns the routing of the dashboard port (`GET /`, `/stats`, `/metrics`, `/health`, `/history`),
//! the optional
//! Basic authentication in front of all of them, and the page itself (HTML, CSS and JS embedded in
//! the binary, so it works offline on a farm LAN with no CDN or web fonts).
//!
//! In: an [`HttpRequest`] from the server's worker pool, with the [`Reports`] to answer from (the
//! application's `Observability`) and the credentials to ask for. Out: an [`HttpResponse`]. This
//! module never looks inside the reports.
//!
//! Deliberately does not: open sockets or threads (the server module runs [`handle`] on its pool),
//! compute statistics, or render any miner-supplied data on the server side: the page builds its
//! DOM from `/stats` with text nodes only.

use std::sync::OnceLock;

use crate::config::BasicCredentials;
use crate::http::{HttpRequest, HttpResponse};
pub use crate::observability::Reports;

pub use crate::auth::AuthError;

/// Realm announced in `WWW-Authenticate`.
const REALM: &str = "pocx_aggregator dashboard";

const PAGE_TEMPLATE: &str = include_str!("page.html");
const PAGE_CSS: &str = include_str!("page.css");
const PAGE_JS: &str = include_str!("page.js");
const CSS_MARKER: &str = "/*PAGE_CSS*/";
const JS_MARKER: &str = "/*PAGE_JS*/";

/// Inline script and style are the page's whole point (one file, offline); everything else,
/// including connections to any other host, is refused.
const PAGE_CSP: &str =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The routes of the dashboard port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Page,
    Stats,
    Metrics,
    Health,
    History,
}

impl Route {
    fn from_path(path: &str) -> Option<Route> {
        match path {
            "/" | "/index.html" => Some(Route::Page),
            "/stats" => Some(Route::Stats),
            "/metrics" => Some(Route::Metrics),
            "/health" => Some(Route::Health),
            "/history" => Some(Route::History),
            _ => None,
        }
    }
}

/// Answers one dashboard request from `reports`; with `auth`, every route asks for these Basic
/// credentials. Authentication comes first, so an unauthenticated client learns nothing about
/// which paths exist.
pub fn handle<R: Reports + ?Sized>(
    reports: &R,
    auth: Option<&BasicCredentials>,
    req: HttpRequest,
) -> HttpResponse {
    if let Some(expected) = auth {
        if let Err(err) = crate::auth::check(req.header("authorization"), expected) {
            log::debug!("dashboard: refused {:?} {}: {err}", req.remote, req.path);
            return HttpResponse::unauthorized(REALM)
                .with_header("Cache-Control", "no-store".to_owned());
        }
    }
    let Some(route) = Route::from_path(&req.path) else {
        return HttpResponse::not_found();
    };
    // HEAD gets the same answer; the server leaves the body out.
    if req.method != "GET" && req.method != "HEAD" {
        return HttpResponse::method_not_allowed("GET, HEAD");
    }
    match route {
        Route::Page => page_response(),
        Route::Stats => no_store(HttpResponse::json(200, reports.stats_json())),
        Route::Metrics => no_store(HttpResponse::new(
            200,
            crate::metrics::CONTENT_TYPE,
            reports.metrics_text(),
        )),
        Route::Health => {
            let (status, body) = reports.health();
            no_store(HttpResponse::json(status, body))
        }
        Route::History => {
            let (status, body) = reports.history(&req.query);
            no_store(HttpResponse::json(status, body))
        }
    }
}

/// The page with its stylesheet and script inlined, assembled once.
pub fn page() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| {
        PAGE_TEMPLATE
            .replacen(CSS_MARKER, PAGE_CSS, 1)
            .replacen(JS_MARKER, PAGE_JS, 1)
    })
}

fn page_response() -> HttpResponse {
    HttpResponse::new(200, "text/html; charset=utf-8", page().as_bytes())
        // Tiny and changes only with the binary; revalidating keeps an upgrade visible at once.
        .with_header("Cache-Control", "no-cache".to_owned())
        .with_header("Content-Security-Policy", PAGE_CSP.to_owned())
        .with_header("X-Content-Type-Options", "nosniff".to_owned())
        .with_header("Referrer-Policy", "no-referrer".to_owned())
        .with_header("X-Frame-Options", "DENY".to_owned())
}

/// Live data must never come from a cache: a stale copy would hide an aggregator that stopped.
fn no_store(resp: HttpResponse) -> HttpResponse {
    resp.with_header("Cache-Control", "no-store".to_owned())
        .with_header("X-Content-Type-Options", "nosniff".to_owned())
}

#[cfg(test)]
mod tests;
