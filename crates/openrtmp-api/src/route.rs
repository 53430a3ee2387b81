//! Routes and their JSON bodies.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use openrtmp_server::ServerHandle;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::metric::Metrics;
use crate::rate::RateSampler;
use crate::{auth, ApiOptions};

mod cluster;
mod events;
mod history;
mod recording;
mod recordings;
mod source;
mod target;
mod whip;

/// Everything the handlers share.
struct Shared {
    handle: ServerHandle,
    options: ApiOptions,
    metrics: Metrics,
    /// Keyed by (app, stream).
    stream_rates: Mutex<RateSampler<(String, String)>>,
    /// Keyed by (conn_id, outbound?).
    conn_rates: Mutex<RateSampler<(u64, bool)>>,
    /// The token in force, for the routes that check it themselves (recording downloads,
    /// which also take a signed link instead).
    token: auth::TokenSource,
    /// Signs and checks recording download links.
    links: recordings::link::Links,
}

type AppState = Arc<Shared>;

pub(crate) fn router(handle: ServerHandle, options: ApiOptions) -> Router {
    let token = auth::TokenSource::new(&options, &handle);
    let state = Arc::new(Shared {
        metrics: Metrics::new(handle.clone()),
        handle,
        options,
        stream_rates: Mutex::default(),
        conn_rates: Mutex::default(),
        token: token.clone(),
        links: recordings::link::Links::new(),
    });
    let protected = Router::new()
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/v1/server", get(server))
        .route("/api/v1/streams", get(streams))
        .route("/api/v1/streams/{app}/{stream}", get(stream).delete(end_stream))
        .route("/api/v1/streams/{app}/{stream}/targets", get(target::list).post(target::add))
        .route("/api/v1/streams/{app}/{stream}/targets/{id}", delete(target::remove))
        .route(
            "/api/v1/streams/{app}/{stream}/recording",
            get(recording::get).post(recording::start).delete(recording::stop),
        )
        .route("/api/v1/streams/{app}/{stream}/source", get(source::get))
        .route("/api/v1/streams/{app}/{stream}/history", get(history::stream))
        .route("/api/v1/history", get(history::server))
        .route("/api/v1/events", get(events::events))
        .route("/api/v1/connections", get(connections))
        .route("/api/v1/connections/{conn_id}", delete(kick))
        .route("/api/v1/config", get(view_config).patch(patch_config))
        .route("/api/v1/shutdown", post(shutdown))
        .route("/api/v1/drain", post(cluster::drain))
        .route("/api/v1/cluster", get(cluster::get))
        .route("/api/v1/streams/{app}/{stream}/route", get(cluster::route))
        .route("/api/v1/recordings", get(recordings::list))
        .route("/api/v1/recordings/{app}/{stream}/{file}/link", post(recordings::sign))
        .route_layer(axum::middleware::from_fn_with_state(token, auth::require_token));
    Router::new()
        .route("/health", get(health))
        .route("/readyz", get(cluster::readyz))
        .merge(crate::dashboard::router())
        // WHIP: the bearer is the stream key, checked by the server (no API token).
        .merge(whip::router())
        .merge(protected)
        // The token or a signed link: checked by the handlers.
        .route(
            "/api/v1/recordings/{app}/{stream}/{file}",
            get(recordings::download).delete(recordings::remove),
        )
        .fallback(not_found)
        .with_state(state)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a sampler leaves at worst a stale rate: keep going.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// `None` for the empty names of a connection that has not said `connect` yet.
fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::RouteNotFound { path: uri.path().to_owned() }
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn ready(State(state): State<AppState>) -> Response {
    let (ready, reasons) = state.handle.readiness();
    if ready {
        Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        let body = serde_json::json!({ "status": "degraded", "reasons": reasons });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state.metrics.render()?;
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}

/// `GET /api/v1/server`.
#[derive(Debug, Serialize)]
struct ServerView {
    version: &'static str,
    uptime_secs: f64,
    connections: usize,
    publishers: usize,
    players: usize,
    streams: usize,
    accepted: u64,
    refused: u64,
    panics: u64,
    bytes_in: u64,
    bytes_out: u64,
    dropped_frames: u64,
    /// `null` when the OS did not give the figure.
    process_cpu_secs: Option<f64>,
    /// `null` when the OS did not give the figure.
    rss_bytes: Option<u64>,
    memory_bytes: usize,
    memory_budget: usize,
    listeners: Vec<String>,
    rtmps_listeners: Vec<String>,
    errors: BTreeMap<String, u64>,
    /// The certificate RTMPS presents (names, validity, fingerprints).
    tls_certificate: Option<openrtmp_tls::CertificateInfo>,
    auth: openrtmp_server::auth::AuthStats,
    auth_circuit: Option<openrtmp_server::auth::CircuitState>,
}

async fn server(State(state): State<AppState>) -> Json<ServerView> {
    let info = state.handle.info();
    Json(ServerView {
        version: info.version,
        uptime_secs: secs(info.uptime),
        connections: info.connections,
        publishers: info.publishers,
        players: info.players,
        streams: info.streams,
        accepted: info.accepted,
        refused: info.refused,
        panics: info.panics,
        bytes_in: info.bytes_in,
        bytes_out: info.bytes_out,
        dropped_frames: info.dropped_frames,
        process_cpu_secs: info.process_cpu.map(secs),
        rss_bytes: info.rss_bytes,
        memory_bytes: info.memory_bytes,
        memory_budget: info.memory_budget,
        listeners: info.listeners.iter().map(ToString::to_string).collect(),
        rtmps_listeners: info.rtmps_listeners.iter().map(ToString::to_string).collect(),
        errors: info.errors.into_iter().collect(),
        tls_certificate: info.tls_certificate,
        auth: info.auth,
        auth_circuit: info.auth_circuit,
    })
}

/// One stream in `GET /api/v1/streams[/{app}/{stream}]`.
#[derive(Debug, Serialize)]
struct StreamView {
    app: String,
    stream: String,
    publishing: bool,
    /// The publisher was lost abruptly; players are held for `streams.publisher_grace`.
    source_lost: bool,
    /// `conn_id` of the publisher.
    publisher: Option<u64>,
    publishing_for_secs: Option<f64>,
    viewers: usize,
    direct_viewers: usize,
    bitrate_in_kbps: f64,
    frames_in: u64,
    bytes_in: u64,
    video_codec: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    fps: Option<f64>,
    audio_codec: Option<String>,
    sample_rate: Option<u32>,
    channels: Option<u8>,
    gop_cache_bytes: usize,
    gop_cache_frames: usize,
    gop_cache_ms: u32,
    /// How far behind real time the publisher's media arrives.
    ingest_delay_ms: DelayView,
    /// Live relay delay: from a frame's arrival to its hand-over to a player's socket.
    distribution_delay_ms: DelayView,
    /// The same for frames received as catch-up (join from the GOP cache, skip, resume).
    catch_up_delay_ms: DelayView,
}

/// A delay histogram in short: observations, mean, and the bucket bounds holding the median
/// and the 99th percentile (`null` when empty or above the largest bucket).
#[derive(Debug, Serialize)]
struct DelayView {
    count: u64,
    mean: Option<f64>,
    p50: Option<f64>,
    p99: Option<f64>,
}

fn delay_view(h: &openrtmp_server::DelayHistogram) -> DelayView {
    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
    DelayView {
        count: h.count,
        mean: h.mean().map(ms),
        p50: h.quantile(0.5).map(ms),
        p99: h.quantile(0.99).map(ms),
    }
}

fn stream_view(
    s: openrtmp_server::StreamStatus,
    rates: &mut RateSampler<(String, String)>,
    now: Instant,
) -> StreamView {
    let active_for = s.publishing_for.unwrap_or_default();
    let key = (s.app.clone(), s.name.clone());
    let bitrate_in_kbps = rates.kbps(key, s.bytes_in, active_for, now);
    StreamView {
        app: s.app,
        stream: s.name,
        publishing: s.publishing,
        source_lost: s.source_lost,
        publisher: s.publisher,
        publishing_for_secs: s.publishing_for.map(secs),
        viewers: s.viewers,
        direct_viewers: s.direct_viewers,
        bitrate_in_kbps,
        frames_in: s.frames_in,
        bytes_in: s.bytes_in,
        video_codec: s.video_codec,
        width: s.width,
        height: s.height,
        fps: s.fps.map(|fps| (fps * 100.0).round() / 100.0),
        audio_codec: s.audio_codec,
        sample_rate: s.sample_rate,
        channels: s.channels,
        gop_cache_bytes: s.gop_cache_bytes,
        gop_cache_frames: s.gop_cache_frames,
        gop_cache_ms: s.gop_cache_ms,
        ingest_delay_ms: delay_view(&s.ingest_delay),
        distribution_delay_ms: delay_view(&s.distribution_delay),
        catch_up_delay_ms: delay_view(&s.catch_up_delay),
    }
}

async fn streams(State(state): State<AppState>) -> Json<serde_json::Value> {
    let list = state.handle.streams();
    let now = Instant::now();
    let mut rates = lock(&state.stream_rates);
    rates.retain(|(app, name)| list.iter().any(|s| &s.app == app && &s.name == name));
    let views: Vec<StreamView> =
        list.into_iter().map(|s| stream_view(s, &mut rates, now)).collect();
    Json(serde_json::json!({ "streams": views }))
}

fn stream_path(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), ApiError> {
    path.map(|Path(p)| p).map_err(|e| ApiError::BadRequest { reason: e.body_text() })
}

async fn stream(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<StreamView>, ApiError> {
    let (app, name) = stream_path(path)?;
    let found = state
        .handle
        .streams()
        .into_iter()
        .find(|s| s.app == app && s.name == name)
        .ok_or(ApiError::StreamNotFound { app, stream: name })?;
    let mut rates = lock(&state.stream_rates);
    Ok(Json(stream_view(found, &mut rates, Instant::now())))
}

async fn end_stream(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (app, name) = stream_path(path)?;
    if !state.handle.end_stream(&app, &name) {
        return Err(ApiError::StreamNotFound { app, stream: name });
    }
    Ok(Json(serde_json::json!({ "ended": true, "app": app, "stream": name })))
}

/// One connection in `GET /api/v1/connections`.
#[derive(Debug, Serialize)]
struct ConnectionView {
    conn_id: u64,
    peer: String,
    role: &'static str,
    /// `rtmp` (RTMP or RTMPS), `http-flv` or `ws-flv`.
    protocol: &'static str,
    app: Option<String>,
    stream: Option<String>,
    connected_for_secs: f64,
    bytes_in: u64,
    bytes_out: u64,
    bitrate_in_kbps: f64,
    bitrate_out_kbps: f64,
    queue_bytes: usize,
    dropped_frames: u64,
    lag_ms: u32,
}

async fn connections(State(state): State<AppState>) -> Json<serde_json::Value> {
    let list = state.handle.connections();
    let now = Instant::now();
    let mut rates = lock(&state.conn_rates);
    rates.retain(|(id, _)| list.iter().any(|c| c.id == *id));
    let views: Vec<ConnectionView> = list
        .into_iter()
        .map(|c| ConnectionView {
            bitrate_in_kbps: rates.kbps((c.id, false), c.bytes_in, c.connected_for, now),
            bitrate_out_kbps: rates.kbps((c.id, true), c.bytes_out, c.connected_for, now),
            conn_id: c.id,
            peer: c.peer.to_string(),
            role: c.role,
            protocol: c.protocol,
            app: non_empty(c.app),
            stream: non_empty(c.stream),
            connected_for_secs: secs(c.connected_for),
            bytes_in: c.bytes_in,
            bytes_out: c.bytes_out,
            queue_bytes: c.queue_bytes,
            dropped_frames: c.dropped_frames,
            lag_ms: c.lag_ms,
        })
        .collect();
    Json(serde_json::json!({ "connections": views }))
}

async fn kick(
    State(state): State<AppState>,
    path: Result<Path<u64>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(conn_id) = path.map_err(|e| ApiError::BadRequest { reason: e.body_text() })?;
    if !state.handle.kick(conn_id) {
        return Err(ApiError::ConnectionNotFound { conn_id });
    }
    Ok(Json(serde_json::json!({ "kicked": true, "conn_id": conn_id })))
}

async fn view_config(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let view = state
        .options
        .view_config
        .clone()
        .ok_or(ApiError::NotImplemented { what: "viewing the configuration" })?;
    Ok(Json(view()))
}

async fn patch_config(
    State(state): State<AppState>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let patch = state
        .options
        .patch_config
        .clone()
        .ok_or(ApiError::NotImplemented { what: "changing the configuration" })?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest { reason: e.body_text() })?;
    // The patcher may read and write files: keep it off the async workers.
    let outcome = tokio::task::spawn_blocking(move || patch(body))
        .await
        .map_err(|e| ApiError::Internal { reason: format!("config patcher failed: {e}") })?;
    match outcome {
        Ok(result) => {
            tracing::info!(result = %result, "configuration changed through the API");
            Ok(Json(result))
        }
        Err(errors) => Err(ApiError::InvalidConfig { errors }),
    }
}

#[derive(Debug, Deserialize)]
struct ShutdownQuery {
    /// Close connections now instead of letting publishers finish.
    #[serde(default)]
    force: bool,
}

async fn shutdown(
    State(state): State<AppState>,
    query: Result<Query<ShutdownQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(ShutdownQuery { force }) =
        query.map_err(|e| ApiError::BadRequest { reason: e.body_text() })?;
    tracing::warn!(force, "shutdown requested through the API");
    state.handle.shutdown(force);
    let body = serde_json::json!({ "status": "shutting_down", "force": force });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
