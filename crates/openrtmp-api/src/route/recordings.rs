//! Recordings (`/api/v1/recordings`): list and filter the segment files on disk, download
//! one with HTTP range requests, delete one, and sign short-lived links for the dashboard's
//! player and download button. The work is the server's catalog (`ServerHandle::recordings`
//! and friends, on a blocking thread); this speaks JSON and HTTP.
//!
//! Names from the URL are the catalog's to check (`ServerHandle::recording_file`): only names the
//! recorder could have made pass (sanitized app and stream, a segment file name of that
//! stream), before any path is made of them, so no URL reaches outside a recording
//! directory (`..`, encoded slashes and absolute paths are answered `400`).
//!
//! The download route takes the API token like every other route, or instead a valid
//! signed link (`?expires=..&sig=..`, see [`link`]): the token never has to be in a URL.

use std::time::SystemTime;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use openrtmp_record::name::{format_time, from_unix_ms, parse_time, unix_ms};
use openrtmp_server::record::{CatalogError, Recording, RecordingFilter};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::auth;
use crate::error::ApiError;

pub(crate) mod link;
mod range;

/// The query of `GET /api/v1/recordings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    app: Option<String>,
    stream: Option<String>,
    /// RFC 3339 (`2026-12-06T14:58:00Z`) or Unix seconds.
    from: Option<String>,
    to: Option<String>,
    /// A recording id (`{stream}-{recording start}`).
    recording: Option<String>,
}

/// One segment, as listed.
#[derive(Debug, Serialize)]
pub(super) struct RecordingView {
    app: String,
    stream: String,
    /// Shared by the segments of one recording: `{stream}-{recording start}`.
    recording_id: String,
    file: String,
    /// `mp4` or `flv`.
    format: &'static str,
    /// When the recording started, RFC 3339 UTC.
    recording_start: String,
    /// When this segment started, RFC 3339 UTC, and in ms since the Unix epoch.
    start: String,
    start_ms: u64,
    bytes: u64,
    /// `null` when the file cannot be read as a recording.
    duration_ms: Option<u64>,
    /// Being written now.
    recording: bool,
    /// Where to download it (with the token, or signed: `POST {download}/link`).
    download: String,
}

fn download_path(app: &str, stream: &str, file: &str) -> String {
    // Names are sanitized ([A-Za-z0-9_.-]): nothing to escape.
    format!("/api/v1/recordings/{app}/{stream}/{file}")
}

fn view(r: Recording) -> RecordingView {
    let start_ms = unix_ms(r.segment_start);
    RecordingView {
        download: download_path(&r.app, &r.stream, &r.file_name),
        recording_start: rfc3339(unix_ms(r.recording_start)),
        start: rfc3339(start_ms),
        start_ms,
        format: r.format.extension(),
        app: r.app,
        stream: r.stream,
        recording_id: r.recording_id,
        file: r.file_name,
        bytes: r.bytes,
        duration_ms: r.duration_ms,
        recording: r.recording,
    }
}

/// `20261206T145800.123Z` → `2026-12-06T14:58:00.123Z`.
fn rfc3339(ms: u64) -> String {
    let t = format_time(ms);
    let part = |r: std::ops::Range<usize>| t.get(r).unwrap_or("");
    format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        part(0..4),
        part(4..6),
        part(6..8),
        part(9..11),
        part(11..13),
        part(13..15),
        part(16..19)
    )
}

/// Unix seconds, or RFC 3339 with `Z` or a numeric offset (fractions past ms ignored).
fn parse_instant(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().ok()?.checked_mul(1000).map(from_unix_ms);
    }
    let (date, rest) = s.split_once(['T', 't', ' '])?;
    let (time, offset_ms) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0i64)
    } else {
        let cut = rest.rfind(['+', '-'])?;
        let (t, off) = rest.split_at(cut);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (hh, mm) = off.get(1..)?.split_once(':')?;
        let minutes = hh.parse::<i64>().ok()? * 60 + mm.parse::<i64>().ok()?;
        (t, sign * minutes * 60_000)
    };
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut milli: String = frac.chars().take(3).collect();
    while milli.len() < 3 {
        milli.push('0');
    }
    let basic = format!("{}T{}.{milli}Z", date.replace('-', ""), hms.replace(':', ""));
    let utc = i64::try_from(parse_time(&basic)?).ok()? - offset_ms;
    Some(from_unix_ms(u64::try_from(utc).ok()?))
}

fn instant(name: &str, value: Option<String>) -> Result<Option<SystemTime>, ApiError> {
    value
        .map(|v| {
            parse_instant(&v).ok_or_else(|| ApiError::BadRequest {
                reason: format!("{name}: {v:?} is neither RFC 3339 nor Unix seconds"),
            })
        })
        .transpose()
}

/// Every [`CatalogError`] and the answer it gets.
fn answer(e: CatalogError) -> ApiError {
    match e {
        CatalogError::BadName { .. } => ApiError::BadRequest { reason: e.to_string() },
        CatalogError::NotFound { app, stream, file } => {
            ApiError::RecordingNotFound { app, stream, file }
        }
        CatalogError::Busy { .. } => ApiError::Conflict { reason: e.to_string() },
        CatalogError::Io { .. } => ApiError::Internal { reason: e.to_string() },
    }
}

type FilePath = Result<Path<(String, String, String)>, PathRejection>;

fn file_path(path: FilePath) -> Result<(String, String, String), ApiError> {
    path.map(|Path(p)| p).map_err(|e| ApiError::BadRequest { reason: e.body_text() })
}

/// `GET /api/v1/recordings?app=&stream=&from=&to=&recording=`: the segments, newest
/// first, with totals.
pub(super) async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest { reason: e.body_text() })?;
    let filter = RecordingFilter {
        app: q.app,
        stream: q.stream,
        from: instant("from", q.from)?,
        to: instant("to", q.to)?,
        recording: q.recording,
    };
    let list = state.handle.recordings(filter).await;
    let bytes: u64 = list.recordings.iter().map(|r| r.bytes).sum();
    let duration_ms: u64 = list.recordings.iter().filter_map(|r| r.duration_ms).sum();
    let views: Vec<RecordingView> = list.recordings.into_iter().map(view).collect();
    Ok(Json(serde_json::json!({
        "count": views.len(),
        "total_bytes": bytes,
        "total_duration_ms": duration_ms,
        "truncated": list.truncated,
        "recordings": views,
    })))
}

/// The query of a signed download link.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Signed {
    expires: Option<u64>,
    sig: Option<String>,
}

/// `GET /api/v1/recordings/{app}/{stream}/{file}`: the file, `Accept-Ranges: bytes`, one
/// range per request (`206` + `Content-Range`; `416` past the end); the token or a signed
/// link.
pub(super) async fn download(
    State(state): State<AppState>,
    path: FilePath,
    query: Result<Query<Signed>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (app, stream, file) = file_path(path)?;
    let Query(signed) = query.unwrap_or_default();
    let signed_ok = match (signed.expires, signed.sig.as_deref()) {
        (Some(expires), Some(sig)) => {
            let path = download_path(&app, &stream, &file);
            state.links.verify(&path, expires, sig, SystemTime::now())
        }
        _ => false,
    };
    if !signed_ok && !auth::allows(&state.token, &headers) {
        return Err(ApiError::Unauthorized);
    }
    let found = state.handle.recording_file(&app, &stream, &file).await.map_err(answer)?;
    let io = |e: std::io::Error| ApiError::Internal { reason: format!("reading {file}: {e}") };
    let f = tokio::fs::File::open(&found.path).await.map_err(io)?;
    let len = f.metadata().await.map_err(io)?.len();
    let asked = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // A conditional range (If-Range) is answered whole: we send no validator to match.
    let ranged = if headers.contains_key(header::IF_RANGE) {
        range::Ranged::Full
    } else {
        range::parse(asked, len)
    };
    let (status, first, count, content_range) = match ranged {
        range::Ranged::Full => (StatusCode::OK, 0, len, None),
        range::Ranged::Part { first, last } => (
            StatusCode::PARTIAL_CONTENT,
            first,
            last - first + 1,
            Some(format!("bytes {first}-{last}/{len}")),
        ),
        range::Ranged::Unsatisfiable => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return Ok(r);
        }
    };
    let body = range::body(f, first, count).await.map_err(io)?;
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    let kind = match found.format {
        openrtmp_server::record::Format::Mp4 => "video/mp4",
        openrtmp_server::record::Format::Flv => "video/x-flv",
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if let Some(v) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

/// `DELETE /api/v1/recordings/{app}/{stream}/{file}`: `204`; `404` unknown, `409` while it
/// is being written. The token only (a signed link never deletes).
pub(super) async fn remove(
    State(state): State<AppState>,
    path: FilePath,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    if !auth::allows(&state.token, &headers) {
        return Err(ApiError::Unauthorized);
    }
    let (app, stream, file) = file_path(path)?;
    state.handle.delete_recording(&app, &stream, &file).await.map_err(answer)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/recordings/{app}/{stream}/{file}/link`: `{"url", "expires"}`, a link to
/// download the file without the token, valid for [`link::LINK_TTL`] (`expires` in Unix
/// seconds); `404` for an unknown file.
pub(super) async fn sign(
    State(state): State<AppState>,
    path: FilePath,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (app, stream, file) = file_path(path)?;
    state.handle.recording_file(&app, &stream, &file).await.map_err(answer)?;
    let path = download_path(&app, &stream, &file);
    let (expires, sig) = state
        .links
        .sign(&path, SystemTime::now())
        .ok_or(ApiError::Internal { reason: "no signing key".to_owned() })?;
    let url = format!("{path}?expires={expires}&sig={sig}");
    Ok(Json(serde_json::json!({ "url": url, "expires": expires })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_in_rfc3339_or_unix_seconds() {
        let ms = |s: &str| parse_instant(s).map(unix_ms);
        assert_eq!(ms("1796569080"), Some(1_796_569_080_000));
        assert_eq!(ms("2026-12-06T14:58:00Z"), Some(1_796_569_080_000));
        assert_eq!(ms("2026-12-06T14:58:00.123456Z"), Some(1_796_569_080_123));
        assert_eq!(ms("2026-12-06T15:58:00+01:00"), Some(1_796_569_080_000));
        assert_eq!(ms("2026-12-06T13:58:00.5-01:00"), Some(1_796_569_080_500));
        for bad in ["", "yesterday", "2026-13-06T14:58:00Z", "2026-12-06T14:58:00", "-5"] {
            assert_eq!(ms(bad), None, "{bad}");
        }
        assert_eq!(rfc3339(1_796_569_080_123), "2026-12-06T14:58:00.123Z");
    }
}
