//! The cluster routes: `GET /api/v1/cluster` (this node, its peers and their load as the
//! directory sees them), `GET /api/v1/streams/{app}/{stream}/route` (owner node, epoch,
//! upstream in use), `POST /api/v1/drain`, and `GET /readyz` (no token: load balancers and
//! Kubernetes probe it; 503 while draining or at capacity). The work is the server's
//! (`ServerHandle::cluster_status`, `stream_route`, `drain`); this only speaks JSON.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use openrtmp_server::cluster::NodeRecord;
use serde::Serialize;

use super::{stream_path, AppState};
use crate::error::ApiError;

/// A node as shown.
#[derive(Debug, Serialize)]
struct NodeView {
    node_id: String,
    epoch: String,
    advertise_rtmp: String,
    state: &'static str,
    connections: u64,
    streams: u64,
    egress_bps: u64,
    /// Time left on its lease; absent where the directory does not know (`static`).
    #[serde(skip_serializing_if = "Option::is_none")]
    lease_ms: Option<u64>,
    /// Whether it is this node.
    this: bool,
}

fn node(n: NodeRecord, me: &str) -> NodeView {
    NodeView {
        this: n.node_id == me,
        node_id: n.node_id,
        epoch: n.epoch,
        advertise_rtmp: n.advertise_rtmp,
        state: n.state.name(),
        connections: n.load.connections,
        streams: n.load.streams,
        egress_bps: n.load.egress_bps,
        lease_ms: n.expires_in.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    }
}

/// `GET /api/v1/cluster`.
pub(super) async fn get(State(state): State<AppState>) -> Json<serde_json::Value> {
    let s = state.handle.cluster_status().await;
    let me = s.node_id.clone();
    let owned: Vec<serde_json::Value> = s
        .owned
        .iter()
        .map(|o| serde_json::json!({ "app": o.key.app, "stream": o.key.name, "epoch": o.epoch }))
        .collect();
    let peers: Vec<NodeView> = s.nodes.into_iter().map(|n| node(n, &me)).collect();
    Json(serde_json::json!({
        "node": {
            "node_id": s.node_id,
            "epoch": s.epoch,
            "advertise_rtmp": s.advertise_rtmp,
            "state": s.state.name(),
            "drain_phase": s.phase.name(),
            "edge": s.edge,
            "owned_streams": owned,
        },
        "directory": { "kind": s.directory, "error": s.directory_error },
        "nodes": peers,
        "claims": {
            "claimed": s.claims[0], "refused": s.claims[1], "waited": s.claims[2],
            "unverified": s.claims[3],
        },
        "fenced": s.fenced,
        "directory_errors": { "unavailable": s.directory_errors[0], "protocol": s.directory_errors[1] },
        "reconnect_requests": s.reconnect_requests,
    }))
}

/// `GET /api/v1/streams/{app}/{stream}/route`: `404` when no node owns the stream and
/// this one does not pull it.
pub(super) async fn route(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (app, stream) = stream_path(path)?;
    let r = state.handle.stream_route(&app, &stream).await;
    if r.owner.is_none() && r.upstream.is_none() && r.directory_error.is_none() {
        return Err(ApiError::StreamNotFound { app, stream });
    }
    Ok(Json(serde_json::json!({
        "app": app,
        "stream": stream,
        "owner": r.owner,
        "owner_rtmp": r.owner_rtmp,
        "epoch": r.epoch,
        "local": r.local,
        "upstream": r.upstream,
        "upstream_state": r.upstream_state,
        "upstream_switches": r.upstream_switches,
        "directory_error": r.directory_error,
    })))
}

/// `POST /api/v1/drain`: `202` and the drain starts (the server stops at its end).
pub(super) async fn drain(State(state): State<AppState>) -> Response {
    let started = state.handle.drain();
    tracing::warn!(started, "drain requested through the API");
    let body = serde_json::json!({ "status": "draining", "started": started });
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// `GET /readyz`: `200` when the node takes new clients, `503` with the reasons while it
/// drains, is at capacity or is otherwise degraded.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let (ready, reasons) = state.handle.readiness();
    if ready {
        Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        let body = serde_json::json!({ "status": "unready", "reasons": reasons });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}
