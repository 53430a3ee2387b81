//! Browser and HTTP playback of a live stream: `GET /live/{app}/{stream}.flv` as HTTP-FLV
//! (a chunked `video/x-flv` body) or, with a WebSocket Upgrade on the same path, as
//! WebSocket-FLV (the same bytes in binary messages, one per batch of tags).
//!
//! The server does the work ([`ServerHandle::open_web_player`]): play authorisation as for
//! RTMP (the query string carries the token: `?token=...`), the viewer's registration as a
//! connection, and the stream's media pump. These routes do not take the API token: the
//! play authorisation is theirs. CORS allows any origin, so a page elsewhere can embed a
//! player (mpegts.js, flv.js).

use std::collections::VecDeque;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use openrtmp_server::{PlayRefusal, ServerHandle, WebPlayer, WebProtocol};

use crate::guard::Peer;

/// The playback routes. They take no API token: the play authorisation is theirs.
pub(crate) fn router(handle: ServerHandle) -> axum::Router {
    axum::Router::new()
        .route("/live/{app}/{file}", axum::routing::get(play).options(preflight))
        .with_state(handle)
}

/// Headers every playback answer carries (RFC 6454 origins: any).
fn cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Content-Type"));
    response
}

/// `OPTIONS /live/{app}/{file}`: the CORS preflight.
async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, OPTIONS"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    cors(response)
}

fn error(status: StatusCode, message: String) -> Response {
    cors((status, axum::Json(serde_json::json!({ "error": message }))).into_response())
}

/// The HTTP status of a refusal: 401 for a missing or wrong play token (the client may
/// retry with one), 403 for the other refusals (address, callback, blocked), 400 for a bad
/// name, 503 when the callback service or the server cannot answer (shutting down, over the
/// connection limits).
fn refusal_status(refusal: &PlayRefusal) -> StatusCode {
    match refusal {
        PlayRefusal::Denied { kind: "bad_token", .. } => StatusCode::UNAUTHORIZED,
        PlayRefusal::Denied { kind: "bad_name", .. } => StatusCode::BAD_REQUEST,
        PlayRefusal::Denied { kind: "callback_unavailable", .. } => StatusCode::SERVICE_UNAVAILABLE,
        PlayRefusal::Denied { .. } => StatusCode::FORBIDDEN,
        PlayRefusal::NotFound { .. } => StatusCode::NOT_FOUND,
        PlayRefusal::ShuttingDown | PlayRefusal::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::FORBIDDEN,
    }
}

/// `GET /live/{app}/{stream}.flv`, with or without a WebSocket Upgrade.
async fn play(
    State(handle): State<ServerHandle>,
    Path((app, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    request: Request,
) -> Response {
    let Some(stream) = file.strip_suffix(".flv").filter(|s| !s.is_empty()) else {
        return error(StatusCode::NOT_FOUND, format!("no route for /live/{app}/{file}"));
    };
    let (mut parts, _body) = request.into_parts();
    let upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let ws = if upgrade {
        match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(ws) => Some(ws),
            Err(rejection) => return cors(rejection.into_response()),
        }
    } else {
        None
    };
    let protocol = if ws.is_some() { WebProtocol::WsFlv } else { WebProtocol::HttpFlv };
    let opened = handle.open_web_player(&app, stream, query.as_deref(), peer, protocol).await;
    let player = match opened {
        Ok(player) => player,
        Err(refusal) => {
            let status = refusal_status(&refusal);
            tracing::info!(
                client_ip = %peer.ip(), proto = protocol.as_str(), app, stream,
                status = status.as_u16(), reason = %refusal, "web play refused"
            );
            return error(status, refusal.to_string());
        }
    };
    match ws {
        Some(ws) => {
            let limit = handle.config().write_timeout;
            // A viewer sends nothing that matters (pings at most): what it may send is
            // bounded far below tungstenite's 64 MiB default, so a peer cannot make us
            // buffer megabytes per connection.
            let ws = ws.max_message_size(CLIENT_MESSAGE_LIMIT).max_frame_size(CLIENT_MESSAGE_LIMIT);
            cors(ws.on_upgrade(move |socket| feed_websocket(socket, player, limit)))
        }
        None => http_flv(player),
    }
}

/// The largest WebSocket message or frame a viewer may send (it has nothing to say but
/// control frames; a larger one ends its connection).
const CLIENT_MESSAGE_LIMIT: usize = 4096;

/// The chunked body: hyper polls it only when it can write, which is the backpressure.
fn http_flv(player: WebPlayer) -> Response {
    let feed = Feed { player, pending: VecDeque::new(), scratch: Vec::new() };
    let body = futures_util::stream::unfold(feed, |mut feed| async move {
        if feed.pending.is_empty() {
            if !feed.player.next(&mut feed.scratch).await {
                return None;
            }
            feed.pending.extend(feed.scratch.drain(..));
        }
        let piece = feed.pending.pop_front()?;
        Some((Ok::<Bytes, std::io::Error>(piece), feed))
    });
    let mut response = axum::body::Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/x-flv"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
    cors(response)
}

/// What the body stream carries between polls.
struct Feed {
    player: WebPlayer,
    /// Pieces of the last batch not handed to hyper yet.
    pending: VecDeque<Bytes>,
    scratch: Vec<Bytes>,
}

/// WebSocket-FLV: each batch of tags is one binary message. The WebSocket layer buffers a
/// frame's bytes before writing (tungstenite), so this transport copies each payload once
/// per viewer, unlike HTTP-FLV. A send pending for `write_timeout` ends the viewer.
async fn feed_websocket(mut socket: WebSocket, mut player: WebPlayer, limit: std::time::Duration) {
    let mut pieces = Vec::new();
    loop {
        tokio::select! {
            more = player.next(&mut pieces) => {
                if !more {
                    let _ = tokio::time::timeout(limit, socket.send(Message::Close(None))).await;
                    return;
                }
                let mut message = bytes::BytesMut::with_capacity(pieces.iter().map(Bytes::len).sum());
                for piece in pieces.drain(..) {
                    message.extend_from_slice(&piece);
                }
                let send = socket.send(Message::Binary(message.freeze()));
                match tokio::time::timeout(limit, send).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return,
                    Err(_) => {
                        let error = std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the client took no data for write_timeout",
                        );
                        player.transport_failed(&error);
                        return;
                    }
                }
            }
            incoming = socket.recv() => match incoming {
                // The client's messages mean nothing here, but pings are answered by the
                // WebSocket layer while it reads.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
