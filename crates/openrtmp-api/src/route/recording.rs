//! The recording of a live stream (`/api/v1/streams/{app}/{stream}/recording`): start it
//! now, show its status, stop it. The work is the server's recorder
//! (`ServerHandle::start_recording` and friends); this only speaks JSON. The files
//! themselves are listed under `/api/v1/recordings`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use openrtmp_server::record::{Format, RecordingError, RecordingState, RecordingStatus};
use serde::{Deserialize, Serialize};

use super::{stream_path, AppState};
use crate::error::ApiError;

/// The optional body of `POST .../recording`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRecording {
    /// `flv` or `mp4` (default: the matching rule's, else `record.format`).
    format: Option<String>,
}

/// A recording, as shown.
#[derive(Debug, Serialize)]
pub(super) struct RecordingView {
    app: String,
    stream: String,
    /// The recording's id (`{stream}-{recording start}`), shared by its segments.
    id: String,
    format: &'static str,
    /// `config` (record.all, record.rules) or `api`.
    origin: &'static str,
    /// `waiting`, `recording`, `dropping`, `error`.
    state: &'static str,
    /// Only in `error`: `disk_full`, `read_only`, `no_directory`, `deleted`, `io`.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_kind: Option<&'static str>,
    /// Only in `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Milliseconds since the Unix epoch.
    started: u64,
    /// The segment being written.
    path: Option<String>,
    segments: u64,
    bytes_written: u64,
    segment_duration_ms: u64,
    dropped_frames: u64,
    dropped_bytes: u64,
    errors: u64,
    last_error: Option<String>,
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(super) fn view(r: RecordingStatus) -> RecordingView {
    let (error_kind, reason) = match &r.state {
        RecordingState::Error { kind, reason } => (Some(kind.name()), Some(reason.clone())),
        _ => (None, None),
    };
    RecordingView {
        app: r.app,
        stream: r.stream,
        id: r.id,
        format: r.format.extension(),
        origin: r.origin.name(),
        state: r.state.name(),
        error_kind,
        reason,
        started: millis(r.started),
        path: r.path.map(|p| p.display().to_string()),
        segments: r.segments,
        bytes_written: r.bytes_written,
        segment_duration_ms: r.segment_duration_ms,
        dropped_frames: r.dropped_frames,
        dropped_bytes: r.dropped_bytes,
        errors: r.errors,
        last_error: r.last_error,
    }
}

/// `GET /api/v1/streams/{app}/{stream}/recording`: the recording's status, `404` if the
/// stream is not recorded.
pub(super) async fn get(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<RecordingView>, ApiError> {
    let (app, stream) = stream_path(path)?;
    match state.handle.recording(&app, &stream) {
        Some(status) => Ok(Json(view(status))),
        None => Err(ApiError::NotRecorded { app, stream }),
    }
}

/// `POST /api/v1/streams/{app}/{stream}/recording` (body optional: `{"format":"flv"}`):
/// `201` and the recording's status; `404` if the stream is not live, `409` if it is
/// recorded already, `400` for a bad body.
pub(super) async fn start(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<NewRecording>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (app, stream) = stream_path(path)?;
    let body = match body {
        Ok(Json(body)) => body,
        // No body (or no JSON content type with an empty body): the defaults.
        Err(JsonRejection::MissingJsonContentType(_)) => NewRecording::default(),
        Err(e) => return Err(ApiError::BadRequest { reason: e.body_text() }),
    };
    let format = match body.format.as_deref() {
        None => None,
        Some(name) => Some(Format::from_extension(name).ok_or_else(|| ApiError::BadRequest {
            reason: format!("unknown format {name:?} (expected \"flv\" or \"mp4\")"),
        })?),
    };
    let status = state.handle.start_recording(&app, &stream, format).map_err(|e| match e {
        RecordingError::NotLive { app, stream } => ApiError::StreamNotFound { app, stream },
        e @ RecordingError::AlreadyRecorded { .. } => ApiError::Conflict { reason: e.to_string() },
    })?;
    Ok((StatusCode::CREATED, Json(view(status))).into_response())
}

/// `DELETE /api/v1/streams/{app}/{stream}/recording`: `204` (the segment is closed), or
/// `404` if the stream is not recorded.
pub(super) async fn stop(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let (app, stream) = stream_path(path)?;
    if !state.handle.stop_recording(&app, &stream) {
        return Err(ApiError::NotRecorded { app, stream });
    }
    Ok(StatusCode::NO_CONTENT)
}
