//! The dashboard: a single-page app served at `/`, its files at `/assets/...`, embedded in
//! the binary (`include_bytes!`: nothing fetched at run time, works offline, no CDN).
//!
//! The studio page (`/studio`, `studio.js` + `whip.js`) is part of it, under the same policy.
//!
//! These routes need no token: the pages hold nothing secret and the app signs in to the
//! `/api/v1` routes with the API token itself (kept in the tab's `sessionStorage`, sent as
//! `Authorization: Bearer`). Every answer carries a strict Content-Security-Policy (scripts,
//! styles and connections from this origin only; media from `blob:` for the preview's
//! Media Source), and an `ETag` (a hash of the embedded bytes) with `Cache-Control:
//! no-cache`: browsers keep the files and revalidate them with a `304`, so an upgraded
//! server is never shadowed by a stale cache.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;

/// One embedded file.
struct Asset {
    /// Path under `/assets/`.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file the dashboard serves; `index.html` is also `/`, `studio.html` also `/studio`.
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("chart.js", JS),
    asset!("pages.js", JS),
    asset!("stream.js", JS),
    asset!("recordings.js", JS),
    asset!("studio.html", "text/html; charset=utf-8"),
    asset!("studio.js", JS),
    asset!("whip.js", JS),
    asset!("style.css", CSS),
    asset!("vendor/htm/preact-htm.module.js", JS),
    asset!("vendor/uplot/uPlot.iife.min.js", JS),
    asset!("vendor/uplot/uPlot.min.css", CSS),
    asset!("vendor/mpegts/mpegts.js", JS),
];

/// The policy, with `{ws}` replaced by the WebSocket origins of the host asked for
/// (`'self'` covers `ws:` to the same host in CSP 3; older engines need them spelt out).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; \
    connect-src 'self'{ws}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
    form-action 'none'";

/// The dashboard's routes (no state, no token).
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/studio", get(studio))
        .route("/assets/{*path}", get(asset))
}

/// FNV-1a 64 of every file, computed once: the `ETag`s.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let hash = a.body.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
                });
                format!("\"{hash:016x}\"")
            })
            .collect()
    })
}

/// `ws://host wss://host` for a well-formed `Host` header (anything else: nothing extra).
fn ws_sources(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let plain = |c: char| c.is_ascii_alphanumeric() || ".-:[]".contains(c);
    if host.is_empty() || host.len() > 255 || !host.chars().all(plain) {
        return String::new();
    }
    format!(" ws://{host} wss://{host}")
}

fn serve(index: usize, headers: &HeaderMap) -> Response {
    let (Some(asset), Some(etag)) = (ASSETS.get(index), etags().get(index)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let csp = CSP.replace("{ws}", &ws_sources(headers));
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-cache"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

async fn index(headers: HeaderMap) -> Response {
    serve(0, &headers)
}

/// The studio (docs/studio.md): publishes the camera over WHIP (`/whip/...`, same origin,
/// so the policy's `connect-src 'self'` covers it) and attaches push targets. Camera access
/// needs a secure context: `https://`, or `http://` on `127.0.0.1`/`localhost`.
async fn studio(headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|a| a.path == "studio.html") {
        Some(i) => serve(i, &headers),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|a| a.path == path) {
        Some(i) => serve(i, &headers),
        None => ApiError::RouteNotFound { path: format!("/assets/{path}") }.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_per_file_and_csp_names_only_the_host_asked() {
        let tags = etags();
        assert_eq!(tags.len(), ASSETS.len());
        assert_ne!(tags[0], tags[1]);
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert_eq!(ws_sources(&h), " ws://127.0.0.1:8080 wss://127.0.0.1:8080");
        h.insert(header::HOST, HeaderValue::from_static("evil.example; script-src *"));
        assert_eq!(ws_sources(&h), "");
    }
}
