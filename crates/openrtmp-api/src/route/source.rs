//! Where a stream comes from (`/api/v1/streams/{app}/{stream}/source`): for a stream pulled
//! from origins (`relay.pull`), the pull's state, the origin in use (redacted), switches
//! and the last error. The work is the server's relay (`ServerHandle::pull_of`); this only
//! speaks JSON.

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;
use openrtmp_server::relay::{PullState, PullStatus};
use serde::Serialize;

use super::{stream_path, AppState};
use crate::error::ApiError;

/// A pull, as shown.
#[derive(Debug, Serialize)]
pub(super) struct SourceView {
    /// Always `pull` for now (a local publisher is the stream's own entry).
    kind: &'static str,
    app: String,
    stream: String,
    /// `on_demand` or `always`.
    mode: &'static str,
    /// `connecting`, `live`, `backoff`.
    state: &'static str,
    /// Time to the next round; only in `backoff`.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_in_ms: Option<u64>,
    /// The origin in use or being tried (redacted), and its index in `origins`.
    origin: Option<String>,
    origin_index: Option<usize>,
    /// Every origin in the order tried, redacted.
    origins: Vec<String>,
    switches: u64,
    frames_in: u64,
    bytes_in: u64,
    /// Whether the pull holds the local stream (false once the grace without a source ran
    /// out).
    publishing: bool,
    /// The relay chain its connections carry.
    via: String,
    last_error: Option<String>,
    /// When it entered its state, in milliseconds since the Unix epoch.
    since: u64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn view(p: PullStatus) -> SourceView {
    let retry_in_ms = match p.state {
        PullState::Backoff { retry_in } => Some(millis(retry_in)),
        PullState::Connecting | PullState::Live => None,
    };
    let (origin_index, origin) = p.origin.map_or((None, None), |(i, url)| (Some(i), Some(url)));
    SourceView {
        kind: "pull",
        app: p.app,
        stream: p.stream,
        mode: p.mode.name(),
        state: p.state.name(),
        retry_in_ms,
        origin,
        origin_index,
        origins: p.origins,
        switches: p.switches,
        frames_in: p.frames_in,
        bytes_in: p.bytes_in,
        publishing: p.publishing,
        via: p.via,
        last_error: p.last_error,
        since: p.since.duration_since(UNIX_EPOCH).map(millis).unwrap_or(0),
    }
}

/// `GET /api/v1/streams/{app}/{stream}/source`: the pull that feeds the stream; `404` when
/// none runs (a local publisher, or nothing).
pub(super) async fn get(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<SourceView>, ApiError> {
    let (app, stream) = stream_path(path)?;
    match state.handle.pull_of(&app, &stream) {
        Some(pull) => Ok(Json(view(pull))),
        None => Err(ApiError::NotPulled { app, stream }),
    }
}
