//! The history the server keeps (`ServerHandle::history`, `stream_history`): the last 15
//! minutes, one sample a second, in columns (one array per figure, `at_ms` the time axis)
//! so a chart takes them as they are. The sampling and the health verdicts are the
//! server's; this only speaks JSON.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;
use openrtmp_server::history::{
    ServerSample, StreamHistory, StreamSample, Verdict, HISTORY_PERIOD, HISTORY_SAMPLES,
};
use serde::Serialize;

use super::{stream_path, AppState};
use crate::error::ApiError;

/// Rounds to 0.1: a chart needs no more, and the answer stays small.
fn tenth(v: f32) -> f32 {
    (v * 10.0).round() / 10.0
}

/// `GET /api/v1/history`: server-wide columns.
#[derive(Debug, Default, Serialize)]
pub(super) struct ServerColumns {
    at_ms: Vec<u64>,
    connections: Vec<u32>,
    publishers: Vec<u32>,
    players: Vec<u32>,
    streams: Vec<u32>,
    bitrate_in_kbps: Vec<f32>,
    bitrate_out_kbps: Vec<f32>,
}

impl ServerColumns {
    pub(super) fn from_samples(samples: &[ServerSample]) -> ServerColumns {
        let mut c = ServerColumns::default();
        for s in samples {
            c.at_ms.push(s.at_ms);
            c.connections.push(s.connections);
            c.publishers.push(s.publishers);
            c.players.push(s.players);
            c.streams.push(s.streams);
            c.bitrate_in_kbps.push(tenth(s.bitrate_in_kbps));
            c.bitrate_out_kbps.push(tenth(s.bitrate_out_kbps));
        }
        c
    }
}

/// A stream's columns (`null` where a figure had no observation in the period).
#[derive(Debug, Default, Serialize)]
pub(super) struct StreamColumns {
    at_ms: Vec<u64>,
    video_kbps: Vec<f32>,
    audio_kbps: Vec<f32>,
    /// `null` until the frame rate is known (two keyframes).
    fps: Vec<Option<f32>>,
    keyframe_interval_ms: Vec<u32>,
    viewers: Vec<u32>,
    ingest_delay_ms: Vec<Option<f32>>,
    distribution_delay_ms: Vec<Option<f32>>,
    timestamp_jumps: Vec<u32>,
    publishing: Vec<bool>,
}

impl StreamColumns {
    fn from_samples(samples: &[StreamSample]) -> StreamColumns {
        let mut c = StreamColumns::default();
        for s in samples {
            c.at_ms.push(s.at_ms);
            c.video_kbps.push(tenth(s.video_kbps));
            c.audio_kbps.push(tenth(s.audio_kbps));
            c.fps.push((s.fps > 0.0).then(|| tenth(s.fps)));
            c.keyframe_interval_ms.push(s.keyframe_interval_ms);
            c.viewers.push(s.viewers);
            c.ingest_delay_ms.push(s.ingest_delay_ms.map(tenth));
            c.distribution_delay_ms.push(s.distribution_delay_ms.map(tenth));
            c.timestamp_jumps.push(s.timestamp_jumps);
            c.publishing.push(s.publishing);
        }
        c
    }
}

/// One health verdict.
#[derive(Debug, Serialize)]
pub(super) struct VerdictView {
    /// `ok`, `warning`, `problem`.
    level: &'static str,
    code: &'static str,
    message: String,
}

fn verdict_view(v: Verdict) -> VerdictView {
    VerdictView { level: v.level.as_str(), code: v.code, message: v.message }
}

/// `GET /api/v1/streams/{app}/{stream}/history`, and each stream in the events.
#[derive(Debug, Serialize)]
pub(super) struct StreamHistoryView {
    app: String,
    stream: String,
    samples: StreamColumns,
    verdicts: Vec<VerdictView>,
}

pub(super) fn stream_view(h: StreamHistory) -> StreamHistoryView {
    StreamHistoryView {
        samples: StreamColumns::from_samples(&h.samples),
        verdicts: h.verdicts.into_iter().map(verdict_view).collect(),
        app: h.app,
        stream: h.stream,
    }
}

fn period_ms() -> u64 {
    HISTORY_PERIOD.as_millis() as u64
}

pub(super) async fn server(State(state): State<AppState>) -> Json<serde_json::Value> {
    let samples = ServerColumns::from_samples(&state.handle.history());
    Json(serde_json::json!({
        "period_ms": period_ms(),
        "capacity": HISTORY_SAMPLES,
        "samples": samples,
    }))
}

pub(super) async fn stream(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (app, name) = stream_path(path)?;
    let history = state
        .handle
        .stream_history(&app, &name)
        .ok_or(ApiError::StreamNotFound { app, stream: name })?;
    let mut body = serde_json::to_value(stream_view(history))
        .map_err(|e| ApiError::Internal { reason: e.to_string() })?;
    if let Some(map) = body.as_object_mut() {
        map.insert("period_ms".into(), period_ms().into());
        map.insert("capacity".into(), HISTORY_SAMPLES.into());
    }
    Ok(Json(body))
}
