//! WHIP ingest (RFC 9725): a browser or OBS publishes over WebRTC, and the stream becomes
//! an ordinary live stream in the hub (H.264 as AVC, Opus transcoded to AAC), relayed,
//! recorded and played like an RTMP publication.
//!
//! The HTTP side (`POST /whip/{app}/{stream}`, `PATCH` and `DELETE` of the session's
//! `Location`) lives in `openrtmp-api`; it calls [`ServerHandle::whip_publish`],
//! [`ServerHandle::whip_patch`] and [`ServerHandle::whip_delete`]. This module owns the
//! rest, all in tokio around the sans-IO session of `openrtmp-webrtc`:
//!
//! * `socket`: one UDP socket per local address on `webrtc.udp_port` (str0m needs each
//!   packet's *local* address, which a wildcard socket does not tell) and a reader task per
//!   socket.
//! * `router`: which session a packet belongs to: first by the STUN USERNAME's local ufrag,
//!   then by the peer's address.
//! * `tcp`: ICE-TCP (RFC 6544) on `webrtc.tcp_port`, RFC 4571 framing; a connection belongs
//!   to the session its first STUN request names.
//! * `session`: one task per WHIP session owning its `IngestSession` and `MediaAssembler`,
//!   pushing FLV tags into the hub as `connection/publishing.rs` does for RTMP.
//! * `error`: [`WhipError`] and its one table of dispositions (HTTP status, log level).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::handle::ServerHandle;

mod error;
mod router;
mod session;
pub(crate) mod socket;
mod tcp;

pub use error::WhipError;

/// Default UDP (and ICE-TCP) port of WebRTC media: one port for every session, so a
/// firewall needs one rule.
pub const DEFAULT_WEBRTC_PORT: u16 = 8189;
/// Default AAC bitrate of the Opus-to-AAC transcode, bits per second.
pub const DEFAULT_AUDIO_BITRATE: u32 = 128_000;
/// A keyframe is requested (PLI) when none came for this long: browsers (OpenH264) send
/// IDRs only when asked, and players and platforms want one at least every 2 s.
pub const DEFAULT_KEYFRAME_INTERVAL: Duration = Duration::from_millis(1600);
/// Largest SDP offer or trickle fragment accepted, bytes (a browser's offer with every
/// codec and candidate is under 10 KiB).
pub const MAX_OFFER_BYTES: usize = 64 * 1024;

/// The `webrtc` settings: WHIP ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebrtcSettings {
    /// Whether `POST /whip/...` is served (default true).
    pub enabled: bool,
    /// The UDP port of every session ([`DEFAULT_WEBRTC_PORT`]; 0: any free port, the same
    /// on every local address).
    pub udp_port: u16,
    /// The ICE-TCP port ([`DEFAULT_WEBRTC_PORT`]; `Some(0)`: any free port; `None`: no
    /// ICE-TCP).
    pub tcp_port: Option<u16>,
    /// Addresses announced as host candidates besides the local ones (a NAT's public IP,
    /// forwarded to this machine on the same ports).
    pub public_addresses: Vec<IpAddr>,
    /// AAC bitrate of the Opus transcode, bits per second ([`DEFAULT_AUDIO_BITRATE`]).
    pub audio_bitrate: u32,
    /// A keyframe is requested when none came for this long
    /// ([`DEFAULT_KEYFRAME_INTERVAL`]).
    pub keyframe_interval: Duration,
}

impl Default for WebrtcSettings {
    fn default() -> Self {
        WebrtcSettings {
            enabled: true,
            udp_port: DEFAULT_WEBRTC_PORT,
            tcp_port: Some(DEFAULT_WEBRTC_PORT),
            public_addresses: Vec::new(),
            audio_bitrate: DEFAULT_AUDIO_BITRATE,
            keyframe_interval: DEFAULT_KEYFRAME_INTERVAL,
        }
    }
}

/// A WHIP publish request: the `POST /whip/{app}/{stream}` as the API received it.
#[derive(Clone)]
pub struct WhipOffer {
    /// The application (from the URL).
    pub app: String,
    /// The stream name (from the URL).
    pub stream: String,
    /// The `Authorization: Bearer` token: the stream's publish key. Never logged.
    pub bearer: Option<String>,
    /// The SDP offer (`application/sdp` body).
    pub offer_sdp: String,
    /// The HTTP client's address.
    pub peer: IpAddr,
}

impl std::fmt::Debug for WhipOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhipOffer")
            .field("app", &self.app)
            .field("stream", &self.stream)
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .field("offer_len", &self.offer_sdp.len())
            .field("peer", &self.peer)
            .finish()
    }
}

/// A created WHIP session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhipAnswer {
    /// The session id: random and unguessable, the last segment of the `Location`.
    pub session_id: String,
    /// The SDP answer.
    pub answer_sdp: String,
}

/// What the HTTP side asks of a running session.
#[derive(Debug)]
pub(crate) enum Control {
    /// `PATCH`: trickled candidates (`application/trickle-ice-sdpfrag`); the reply says how
    /// many were added.
    Trickle(String, tokio::sync::oneshot::Sender<Result<usize, WhipError>>),
    /// `DELETE`: end the publication.
    Delete,
}

/// A session as the HTTP side finds it.
#[derive(Debug, Clone)]
struct SessionEntry {
    key: openrtmp_hub::StreamKey,
    ctl: mpsc::Sender<Control>,
}

/// The WHIP service in [`crate::shared::Shared`]: the bound sockets and the sessions.
#[derive(Debug, Default)]
pub(crate) struct Whip {
    /// Sockets bound at `Server::bind`; `None` when disabled.
    pub(crate) bound: Option<socket::Bound>,
    sessions: Mutex<HashMap<String, SessionEntry>>,
}

impl Whip {
    pub(crate) fn new(bound: Option<socket::Bound>) -> Whip {
        Whip { bound, sessions: Mutex::default() }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, SessionEntry>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn find(&self, app: &str, stream: &str, id: &str) -> Result<SessionEntry, WhipError> {
        match self.sessions().get(id) {
            Some(s) if s.key.app == app && s.key.name == stream => Ok(s.clone()),
            _ => Err(WhipError::UnknownSession),
        }
    }

    pub(crate) fn insert(
        &self,
        id: &str,
        key: openrtmp_hub::StreamKey,
        ctl: mpsc::Sender<Control>,
    ) {
        self.sessions().insert(id.to_owned(), SessionEntry { key, ctl });
    }

    pub(crate) fn remove(&self, id: &str) {
        self.sessions().remove(id);
    }

    /// The local addresses the media sockets are bound on, UDP and TCP (for the API and
    /// tests).
    pub(crate) fn local_addrs(&self) -> (Vec<SocketAddr>, Option<u16>) {
        match &self.bound {
            Some(b) => (b.udp.iter().map(|s| s.local).collect(), b.tcp_port()),
            None => (Vec::new(), None),
        }
    }
}

/// A random, unguessable session id (128 bits, hex).
fn new_session_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ServerHandle {
    /// Starts a WHIP publication: authorises the bearer token as an RTMP publish of
    /// `app/stream` would be (the stream key), accepts the SDP offer, claims the stream in
    /// the hub and starts the session's task. The answer carries the session id of the
    /// `Location` (`/whip/{app}/{stream}/{session_id}`).
    pub async fn whip_publish(&self, offer: WhipOffer) -> Result<WhipAnswer, WhipError> {
        session::start(&self.shared, offer).await
    }

    /// Trickled ICE candidates for a session (`PATCH`, `application/trickle-ice-sdpfrag`,
    /// RFC 8840); returns how many were added.
    pub async fn whip_patch(
        &self,
        app: &str,
        stream: &str,
        session_id: &str,
        sdpfrag: &str,
    ) -> Result<usize, WhipError> {
        let entry = self.shared.whip.find(app, stream, session_id)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        entry
            .ctl
            .send(Control::Trickle(sdpfrag.to_owned(), tx))
            .await
            .map_err(|_| WhipError::UnknownSession)?;
        rx.await.map_err(|_| WhipError::UnknownSession)?
    }

    /// Ends a WHIP session (`DELETE`): the publication ends as an RTMP unpublish does
    /// (players, push targets and recordings see the end).
    pub async fn whip_delete(
        &self,
        app: &str,
        stream: &str,
        session_id: &str,
    ) -> Result<(), WhipError> {
        let entry = self.shared.whip.find(app, stream, session_id)?;
        // Removed now: a second DELETE is a 404 even before the task has ended.
        self.shared.whip.remove(session_id);
        entry.ctl.send(Control::Delete).await.map_err(|_| WhipError::UnknownSession)
    }

    /// The local UDP addresses WebRTC media is received on, and the ICE-TCP port (`None`:
    /// no ICE-TCP); empty when WHIP is disabled.
    pub fn webrtc_addrs(&self) -> (Vec<SocketAddr>, Option<u16>) {
        self.shared.whip.local_addrs()
    }
}
