//! The OpenRTMP HTTP API: server status, streams, connections, configuration, shutdown,
//! Prometheus/OpenMetrics metrics and health probes, served with axum over a running
//! [`openrtmp_server::ServerHandle`].
//!
//! Routes (JSON bodies, `snake_case` field names that match the server's log fields and the
//! metric labels: `conn_id`, `peer`, `app`, `stream`, `role`):
//!
//! | method | path | answer |
//! | --- | --- | --- |
//! | GET | `/` | the dashboard (docs/web.md), never needs the token |
//! | GET | `/studio` | the studio: publish a camera over WHIP and restream it (docs/studio.md), never needs the token |
//! | GET | `/assets/{path}` | the dashboard's embedded files (`ETag`, CSP), never need the token |
//! | GET | `/health` | `200 {"status":"ok"}`, never needs the token |
//! | GET | `/ready` | `200 {"status":"ready"}` or `503 {"status":"degraded","reasons":[..]}` |
//! | GET | `/readyz` | the same for load balancers and Kubernetes, never needs the token: `503 {"status":"unready","reasons":[..]}` while draining or at capacity |
//! | GET | `/metrics` | OpenMetrics text, built from the handle at scrape time |
//! | GET | `/api/v1/server` | version, uptime, counts, traffic, CPU, memory |
//! | GET | `/api/v1/streams` | `{"streams":[..]}` |
//! | GET, DELETE | `/api/v1/streams/{app}/{stream}` | one stream / end it (`404` if unknown) |
//! | GET | `/api/v1/streams/{app}/{stream}/targets` | the stream's push targets: a JSON list, keys redacted |
//! | POST | `/api/v1/streams/{app}/{stream}/targets` | `{"url": "rtmp://...", "until_unpublish": false}`: `201` and the target (`id`, ...); `400` bad URL or body, `409` duplicate |
//! | DELETE | `/api/v1/streams/{app}/{stream}/targets/{id}` | stop and remove a push target: `204`, `404` if unknown |
//! | GET | `/api/v1/streams/{app}/{stream}/source` | the pull feeding the stream (`relay.pull`): state, origin in use (redacted), switches, last error; `404` if not pulled |
//! | GET | `/api/v1/streams/{app}/{stream}/history` | the stream's last 15 minutes (columns, one sample a second) and health verdicts; `404` without history |
//! | GET | `/api/v1/history` | server-wide figures of the last 15 minutes, in columns |
//! | GET | `/api/v1/events` | server-sent events: a `sample` event after each history sample |
//! | GET | `/api/v1/connections` | `{"connections":[..]}` |
//! | DELETE | `/api/v1/connections/{conn_id}` | kick (`404` if unknown) |
//! | GET, PATCH | `/api/v1/config` | effective config / partial update (`422`, `501`) |
//! | POST | `/api/v1/shutdown?force=true\|false` | `202`, the server shuts down |
//! | POST | `/api/v1/drain` | `202 {"status":"draining","started":bool}`: the drain of docs/scale-out.md (as SIGTERM), then the server stops |
//! | GET | `/api/v1/cluster` | this node (id, epoch, advertised URL, state, drain phase, owned streams), its peers and their load as the directory sees them, claim and directory counters |
//! | GET | `/api/v1/streams/{app}/{stream}/route` | where the stream is live: owner node, its URL, epoch, whether local, the upstream this node pulls it from; `404` if nowhere |
//! | GET | `/live/{app}/{stream}.flv` | HTTP-FLV (`video/x-flv`, chunked); with a WebSocket Upgrade, WebSocket-FLV. Play authorisation as RTMP (`?token=...`), not the API token; CORS `*`; `OPTIONS` preflight (see docs/web.md) |
//! | GET | `/api/v1/recordings` | recording segments on disk, newest first, with totals; filters `app`, `stream`, `recording`, `from`, `to` (docs/recording.md) |
//! | GET, DELETE | `/api/v1/recordings/{app}/{stream}/{file}` | download (byte ranges: `206`, `416`) with the token or a signed link / delete (`204`, `404`, `409` while written) |
//! | POST | `/api/v1/recordings/{app}/{stream}/{file}/link` | `{"url", "expires"}`: a signed download link valid 5 minutes (the token never goes in a URL) |
//! | GET | `/stat` | nginx-rtmp's statistics XML; the API token unless `api.stat_public` |
//!
//! When a token is in force ([`ApiOptions::token`], else the server configuration's
//! `api_token`), every route but `/health`, `/readyz`, `/`, `/studio` and `/assets/...` (the dashboard), the
//! playback routes and (when opened) `/stat` needs `Authorization: Bearer <token>` and
//! answers `401` without it. Errors are
//! `{"error": "<message>"}` with the matching status.
//!
//! A push target is listed as `{"id", "app", "stream", "url", "origin", "until_unpublish", "state", "bytes_sent",
//! "bytes_acked", "acknowledges", "bitrate_bps", "frames_sent", "queue_frames", "queue_ms",
//! "dropped_frames", "reconnects", "last_error", "since"}` plus `retry_in_ms` in `backoff`,
//! `reason` in `failed` and `uptime_ms` while `live` or `stalled`; `state` is `connecting`
//! (also while an attached target waits for its stream to go live, and after publishing
//! until the target first acknowledges), `live` (it acknowledges what it is sent),
//! `stalled`, `backoff` or `failed`;
//! `origin` is `config` (`relay.push`, `--push`) or `api`; `since` is in milliseconds since
//! the Unix epoch. API targets stay attached across publications until deleted (those
//! attached with `"until_unpublish": true`: until the stream's publisher ends); deleting a
//! `config` target stops it for the current publication only.
//!
//! Bit rates (`bitrate_in_kbps`, `bitrate_out_kbps`) come from byte-count deltas between
//! calls: the API keeps the previous sample per stream and per connection; the first call
//! reports the average since the stream or connection started.
//!
//! ```no_run
//! # async fn demo(handle: openrtmp_server::ServerHandle) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let options = openrtmp_api::ApiOptions { token: Some("secret".into()), ..Default::default() };
//! openrtmp_api::serve(listener, handle, options, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
#![warn(missing_docs)]

mod auth;
mod dashboard;
mod error;
mod guard;
mod metric;
mod play;
mod rate;
mod route;
mod stat;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use openrtmp_server::ServerHandle;

pub use error::ApiError;
pub use metric::METRIC_NAMES;

/// Applies a partial configuration (the PATCH body, in the config file's schema).
///
/// Returns `{"applied": [...], "needs_restart": [...]}` on success, or the validation
/// problems, which the API answers with `422 {"errors": [...]}`. The CLI owns loading and
/// validation, so it provides this.
pub type ConfigPatcher =
    Arc<dyn Fn(serde_json::Value) -> Result<serde_json::Value, Vec<String>> + Send + Sync>;

/// Returns the effective configuration as JSON, secrets redacted.
pub type ConfigViewer = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// What the API needs besides the server handle.
#[derive(Clone, Default)]
pub struct ApiOptions {
    /// Bearer token required on every route but `/health` and the dashboard's files
    /// (`/`, `/assets/...`). `None`: the server
    /// configuration's `api_token` is used, read per request so that a configuration change
    /// applies at once; when that is `None` too the API is open.
    pub token: Option<String>,
    /// Handles `PATCH /api/v1/config`; `None` answers `501`.
    pub patch_config: Option<ConfigPatcher>,
    /// Handles `GET /api/v1/config`; `None` answers `501`.
    pub view_config: Option<ConfigViewer>,
    /// Serves `GET /stat` without the token, for tools written for nginx-rtmp that cannot
    /// send one (NOALBS). The configuration's `api.stat_public` does the same, read per
    /// request. Default: `/stat` takes the token like the other routes.
    pub stat_public: bool,
}

impl fmt::Debug for ApiOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiOptions")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("patch_config", &self.patch_config.is_some())
            .field("view_config", &self.view_config.is_some())
            .field("stat_public", &self.stat_public)
            .finish()
    }
}

/// Builds the API router (all routes, the token check, JSON fallbacks). The playback routes
/// need the client's address: serve it with `ConnectInfo` as [`serve`] does.
pub fn router(handle: ServerHandle, options: ApiOptions) -> axum::Router {
    let token = auth::TokenSource::new(&options, &handle);
    let stat = stat::router(handle.clone(), token, options.stat_public);
    route::router(handle.clone(), options).merge(play::router(handle)).merge(stat)
}

/// Serves the API on `listener` until `shutdown` completes, then finishes the requests in
/// flight and returns. Each connection's writes are bounded by the server's
/// `write_timeout` (a client that takes nothing is closed), and the handlers learn the
/// client's address (play ACLs). Playback responses end when the server starts draining.
pub async fn serve(
    listener: tokio::net::TcpListener,
    handle: ServerHandle,
    options: ApiOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, auth = options.token.is_some(), "HTTP API listening");
    }
    let app = router(handle.clone(), options).into_make_service_with_connect_info::<guard::Peer>();
    axum::serve(guard::GuardedListener::new(listener, handle), app)
        .with_graceful_shutdown(shutdown)
        .await
}
