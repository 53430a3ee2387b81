//! WHIP (RFC 9725): `POST /whip/{app}/{stream}` with an SDP offer starts a WebRTC publish,
//! `PATCH` of the returned `Location` trickles ICE candidates (RFC 8840), `DELETE` ends it.
//!
//! Not behind the API token: the `Authorization: Bearer` token is the stream key, checked
//! by the server as an RTMP publish of the same stream would be. Every answer carries CORS
//! headers so a page of another origin (the studio served elsewhere, a WHIP test page) can
//! publish; `Location` and `ETag` must be exposed or the page cannot read them (§4.7 of
//! the RFC leaves CORS to the server; notes15 §6).

use std::net::{IpAddr, Ipv4Addr};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use openrtmp_server::whip::MAX_OFFER_BYTES;
use openrtmp_server::{WhipError, WhipOffer};

use super::AppState;
use crate::guard::Peer;

const SDP: &str = "application/sdp";
const SDPFRAG: &str = "application/trickle-ice-sdpfrag";

/// The CORS headers of every WHIP answer.
const CORS: [(&str, &str); 4] = [
    ("access-control-allow-origin", "*"),
    ("access-control-allow-methods", "POST, PATCH, DELETE, OPTIONS"),
    ("access-control-allow-headers", "Authorization, Content-Type, If-Match"),
    ("access-control-expose-headers", "Location, ETag, Link, Accept-Patch"),
];

/// The WHIP routes (merged outside the token check).
pub(super) fn router() -> Router<AppState> {
    Router::new().route("/whip/{app}/{stream}", post(publish).options(preflight_endpoint)).route(
        "/whip/{app}/{stream}/{session}",
        axum::routing::patch(patch).delete(delete).options(preflight_session),
    )
}

/// `response` with the CORS headers.
fn cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in CORS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// An error answer: its status from the server's one table, the reason as text.
fn refusal(e: &WhipError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response =
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], e.to_string())
            .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    cors(response)
}

fn plain(status: StatusCode, text: String) -> Response {
    cors((status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// Whether the request's media type (parameters ignored) is `want`.
fn content_type_is(headers: &HeaderMap, want: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(want))
}

/// The `Authorization: Bearer` token, if any.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// The body as text, at most [`MAX_OFFER_BYTES`].
async fn body_text(body: Body) -> Result<String, Response> {
    let bytes = axum::body::to_bytes(body, MAX_OFFER_BYTES).await.map_err(|_| {
        let e = WhipError::TooLarge { len: MAX_OFFER_BYTES + 1, limit: MAX_OFFER_BYTES };
        plain(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
    })?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| refusal(&WhipError::BadOffer("the body is not UTF-8 text".into())))
}

/// The session's entity tag (RFC 9725 §4.3.1: it names the ICE session).
fn etag(session: &str) -> String {
    format!("\"{session}\"")
}

/// `POST /whip/{app}/{stream}`: 201 with the answer and the session's `Location`.
async fn publish(
    State(state): State<AppState>,
    Path((app, stream)): Path<(String, String)>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if !content_type_is(&parts.headers, SDP) {
        let text = format!("the offer must be sent as Content-Type: {SDP}");
        return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, text);
    }
    let peer = parts
        .extensions
        .get::<ConnectInfo<Peer>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0 .0.ip().to_canonical());
    let offer_sdp = match body_text(body).await {
        Ok(text) => text,
        Err(response) => return response,
    };
    let offer = WhipOffer {
        app: app.clone(),
        stream: stream.clone(),
        bearer: bearer(&parts.headers),
        offer_sdp,
        peer,
    };
    match state.handle.whip_publish(offer).await {
        Ok(answer) => {
            let location = format!("/whip/{app}/{stream}/{}", answer.session_id);
            let response = (
                StatusCode::CREATED,
                [
                    (header::CONTENT_TYPE, SDP.to_owned()),
                    (header::LOCATION, location),
                    (header::ETAG, etag(&answer.session_id)),
                    (header::HeaderName::from_static("accept-patch"), SDPFRAG.to_owned()),
                ],
                answer.answer_sdp,
            );
            cors(response.into_response())
        }
        Err(e) => refusal(&e),
    }
}

/// `PATCH /whip/{app}/{stream}/{session}`: trickled candidates, 204.
async fn patch(
    State(state): State<AppState>,
    Path((app, stream, session)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if !content_type_is(&parts.headers, SDPFRAG) {
        let text = format!("trickled candidates must be sent as Content-Type: {SDPFRAG}");
        return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, text);
    }
    let if_match = parts.headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    if if_match.is_some_and(|tag| tag.trim() != "*" && tag.trim() != etag(&session)) {
        return plain(StatusCode::PRECONDITION_FAILED, "If-Match names another ICE session".into());
    }
    let frag = match body_text(body).await {
        Ok(text) => text,
        Err(response) => return response,
    };
    match state.handle.whip_patch(&app, &stream, &session, &frag).await {
        Ok(_) => cors(StatusCode::NO_CONTENT.into_response()),
        Err(e) => refusal(&e),
    }
}

/// `DELETE /whip/{app}/{stream}/{session}`: the publication ends, 200.
async fn delete(
    State(state): State<AppState>,
    Path((app, stream, session)): Path<(String, String, String)>,
) -> Response {
    match state.handle.whip_delete(&app, &stream, &session).await {
        Ok(()) => cors(StatusCode::OK.into_response()),
        Err(e) => refusal(&e),
    }
}

/// `OPTIONS /whip/{app}/{stream}`: CORS preflight (and RFC 9725 §4.2 `Accept-Post`).
async fn preflight_endpoint() -> Response {
    let mut response = cors(StatusCode::NO_CONTENT.into_response());
    response.headers_mut().insert("accept-post", HeaderValue::from_static(SDP));
    response
}

/// `OPTIONS` of a session's `Location`: CORS preflight for PATCH and DELETE.
async fn preflight_session() -> Response {
    let mut response = cors(StatusCode::NO_CONTENT.into_response());
    response.headers_mut().insert("accept-patch", HeaderValue::from_static(SDPFRAG));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3cret"));
        assert_eq!(bearer(&h).as_deref(), Some("s3cret"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer  k "));
        assert_eq!(bearer(&h).as_deref(), Some("k"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn content_types_ignore_parameters_and_case() {
        let mut h = HeaderMap::new();
        assert!(!content_type_is(&h, SDP));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("Application/SDP; charset=utf-8"));
        assert!(content_type_is(&h, SDP));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!content_type_is(&h, SDP));
    }
}
