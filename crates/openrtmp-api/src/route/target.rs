//! Push targets of a stream (`/api/v1/streams/{app}/{stream}/targets`): attach one, list
//! them with their state, remove one. The work is the server's relay
//! (`ServerHandle::add_push_target` and friends); this only speaks JSON.
//!
//! Stream keys never leave the server: the relay lists URLs and errors redacted, and a
//! refused URL is answered with the relay's error, which quotes the URL redacted too.

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use openrtmp_server::relay::{RelayError, TargetState, TargetStatus};
use serde::{Deserialize, Serialize};

use super::{stream_path, AppState};
use crate::error::ApiError;

/// The body of `POST .../targets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewTarget {
    /// `rtmp://` or `rtmps://` URL with the stream key.
    url: String,
    /// Remove the target when the stream's current publisher ends (the studio page's
    /// targets: a closed tab ends them even if its `DELETE`s never arrive).
    #[serde(default)]
    until_unpublish: bool,
}

/// One push target, as listed.
#[derive(Debug, Serialize)]
pub(super) struct TargetView {
    id: u64,
    app: String,
    stream: String,
    /// Stream key redacted.
    url: String,
    /// `config` (relay.push, --push) or `api`.
    origin: &'static str,
    /// Removed when the stream's publisher ends (attached with `until_unpublish`).
    until_unpublish: bool,
    /// `connecting`, `live`, `stalled`, `backoff`, `failed`.
    state: &'static str,
    /// Time to the next attempt; only in `backoff`.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_in_ms: Option<u64>,
    /// Why it stopped; only in `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Bytes written to the target (RTMP framing included), all connections.
    bytes_sent: u64,
    /// Bytes the target acknowledged (RTMP Acknowledgements), all connections.
    bytes_acked: u64,
    /// Whether the target acknowledges (else it is judged by its socket draining).
    acknowledges: bool,
    /// Bits per second sent over the last 5 s.
    bitrate_bps: u64,
    frames_sent: u64,
    /// Frames, and media milliseconds, waiting in the stream's ring for the target.
    queue_frames: u64,
    queue_ms: u32,
    dropped_frames: u64,
    reconnects: u64,
    /// Milliseconds since it went `live` (while `live` or `stalled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    uptime_ms: Option<u64>,
    last_error: Option<String>,
    /// When it entered its state, in milliseconds since the Unix epoch.
    since: u64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn view(t: TargetStatus) -> TargetView {
    let state = t.state.name();
    let (retry_in_ms, reason) = match t.state {
        TargetState::Backoff { retry_in } => (Some(millis(retry_in)), None),
        TargetState::Failed { reason } => (None, Some(reason)),
        TargetState::Connecting | TargetState::Live | TargetState::Stalled => (None, None),
    };
    TargetView {
        id: t.id,
        app: t.app,
        stream: t.stream,
        url: t.url,
        origin: t.origin.name(),
        until_unpublish: t.until_unpublish,
        state,
        retry_in_ms,
        reason,
        bytes_sent: t.bytes_sent,
        bytes_acked: t.bytes_acked,
        acknowledges: t.acknowledges,
        bitrate_bps: t.bitrate_bps,
        frames_sent: t.frames_sent,
        queue_frames: t.queue_frames,
        queue_ms: t.queue_ms,
        dropped_frames: t.dropped_frames,
        reconnects: t.reconnects,
        uptime_ms: t.uptime.map(millis),
        last_error: t.last_error,
        since: t.since.duration_since(UNIX_EPOCH).map(millis).unwrap_or(0),
    }
}

/// `GET /api/v1/streams/{app}/{stream}/targets`: a JSON list (empty for a stream with no
/// target, live or not: targets may be attached before their stream exists).
pub(super) async fn list(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Vec<TargetView>>, ApiError> {
    let (app, stream) = stream_path(path)?;
    Ok(Json(state.handle.push_targets_of(&app, &stream).into_iter().map(view).collect()))
}

/// `POST /api/v1/streams/{app}/{stream}/targets` with `{"url": ...}` (and optionally
/// `"until_unpublish": true`): `201` and the target
/// as listed (its `id` first of all); `400` for a bad body or URL, `409` for a URL the
/// stream already pushes to.
pub(super) async fn add(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<NewTarget>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (app, stream) = stream_path(path)?;
    let Json(NewTarget { url, until_unpublish }) =
        body.map_err(|e| ApiError::BadRequest { reason: e.body_text() })?;
    let added = if until_unpublish {
        state.handle.add_push_target_until_unpublish(&app, &stream, &url)
    } else {
        state.handle.add_push_target(&app, &stream, &url)
    };
    let id = added.map_err(|e| match e {
        RelayError::InvalidUrl { .. } => ApiError::BadRequest { reason: e.to_string() },
        RelayError::Duplicate { .. } => ApiError::Conflict { reason: e.to_string() },
    })?;
    let listed = state.handle.push_targets_of(&app, &stream).into_iter().find(|t| t.id == id);
    let body = match listed {
        Some(target) => serde_json::to_value(view(target))
            .map_err(|e| ApiError::Internal { reason: e.to_string() })?,
        // Removed between the two calls (a concurrent DELETE): the id is all there is.
        None => serde_json::json!({ "id": id }),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /api/v1/streams/{app}/{stream}/targets/{id}`: `204`, or `404` if the stream has
/// no such target.
pub(super) async fn remove(
    State(state): State<AppState>,
    path: Result<Path<(String, String, u64)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((app, stream, id)) =
        path.map_err(|e| ApiError::BadRequest { reason: e.body_text() })?;
    if !state.handle.remove_push_target(&app, &stream, id) {
        return Err(ApiError::TargetNotFound { app, stream, id });
    }
    Ok(StatusCode::NO_CONTENT)
}
