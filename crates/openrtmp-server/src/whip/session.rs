//! One WHIP session: its start (authorisation, the SDP answer, the claim on the stream)
//! and the task that runs it until it ends.
//!
//! The task owns the sans-IO `IngestSession` (ICE, DTLS, SRTP, depacketizing) and the
//! `MediaAssembler` (FLV tags), and drives them as notes15 §1.4 draws it: drain the
//! session's output until it asks for a timeout (sending packets through the socket of
//! their source address, giving frames to the assembler and its tags to the hub), then
//! wait for a packet, a command from the HTTP side, the timeout, a kick or the shutdown.
//! Tags reach the hub through the same [`Publishing`] an RTMP publisher uses, so codecs,
//! frame rate, ingest delay, relay targets and recordings behave the same.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openrtmp_hub::StreamKey;
use openrtmp_proto::message::{Message, MessageType};
use openrtmp_webrtc::ingest::{IngestConfig, IngestOutput, IngestSession, Packet};
use openrtmp_webrtc::media::{MediaAssembler, MediaConfig, TagKind};
use openrtmp_webrtc::{Transmit, Transport, WebrtcError};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::error::Level;
use super::router::{Inbound, SESSION_QUEUE};
use super::socket::Bound;
use super::{Control, WhipAnswer, WhipError, WhipOffer, MAX_OFFER_BYTES};
use crate::auth::{percent_encode, AuthAction, AuthRequest, DenyKind, Verdict};
use crate::connection::publishing::Publishing;
use crate::limit::ConnectionGuard;
use crate::registry::{ConnEntry, Registered};
use crate::relay::Chain;
use crate::shared::Shared;

mod end;
mod media;

use end::End;

/// The hub's viewer count is looked at most this often (on video frames), to ask for a
/// keyframe when a player, push target or recording has joined: the hub has no
/// subscription event, and this costs one stream lock per interval, no timer.
const VIEWER_CHECK_EVERY: Duration = Duration::from_millis(250);
/// Commands from the HTTP side queued per session.
const CONTROL_QUEUE: usize = 8;

impl From<WebrtcError> for WhipError {
    fn from(e: WebrtcError) -> WhipError {
        match e {
            WebrtcError::Sdp(m) => WhipError::BadOffer(m),
            WebrtcError::Unsupported(m) => WhipError::Unsupported(m),
            other => WhipError::Internal(other.to_string()),
        }
    }
}

/// Logs a refused request at its disposition's level; never the bearer token.
fn refused(offer: &WhipOffer, e: &WhipError) {
    let (ip, app, stream) = (offer.peer, &offer.app, &offer.stream);
    match e.level() {
        Level::Warn => {
            tracing::warn!(client_ip = %ip, app, stream, reason = %e, "WHIP publish refused")
        }
        Level::Info => {
            tracing::info!(client_ip = %ip, app, stream, reason = %e, "WHIP publish refused")
        }
        Level::Debug => {
            tracing::debug!(client_ip = %ip, app, stream, reason = %e, "WHIP publish refused")
        }
    }
}

/// `POST /whip/{app}/{stream}`: see [`crate::ServerHandle::whip_publish`].
pub(super) async fn start(shared: &Arc<Shared>, offer: WhipOffer) -> Result<WhipAnswer, WhipError> {
    let result = start_inner(shared, &offer).await;
    if let Err(e) = &result {
        refused(&offer, e);
    }
    result
}

async fn start_inner(shared: &Arc<Shared>, offer: &WhipOffer) -> Result<WhipAnswer, WhipError> {
    let config = shared.config_arc();
    let bound = match &shared.whip.bound {
        Some(bound) if config.webrtc.enabled => bound,
        _ => return Err(WhipError::Disabled),
    };
    if shared.draining.is_cancelled() {
        return Err(WhipError::ShuttingDown);
    }
    if offer.offer_sdp.len() > MAX_OFFER_BYTES {
        return Err(WhipError::TooLarge { len: offer.offer_sdp.len(), limit: MAX_OFFER_BYTES });
    }
    // A WHIP session is a connection for the limits (and the shutdown's count).
    let (guard, total, from_ip) = shared.counter.enter(offer.peer);
    if total > config.max_connections || from_ip > config.max_connections_per_ip {
        let reason = if total > config.max_connections {
            format!("too many connections (limit {})", config.max_connections)
        } else {
            format!(
                "too many connections from {} (limit {})",
                offer.peer, config.max_connections_per_ip
            )
        };
        shared.stats.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(WhipError::Busy { reason });
    }
    let conn_id = shared.next_conn_id();
    let peer = SocketAddr::new(offer.peer, 0);
    let key = authorize(shared, offer, peer, conn_id).await?;
    let replace = shared.hub.config().replace_publisher;
    // A WHIP publish claims its stream in the cluster as an RTMP one does (`409` when
    // another node publishes it).
    shared
        .cluster
        .claim(&key, replace)
        .await
        .map_err(|refused| WhipError::InUse { reason: refused.to_string() })?;
    shared.relay.hand_over(&key).await;
    let via = Chain::default();
    shared
        .relay
        .publishing(&key, &via, peer, &config.relay, replace)
        .map_err(|reason| WhipError::InUse { reason })?;
    let now = Instant::now();
    let ingest_config = IngestConfig {
        candidates: bound.candidates(),
        pli_interval: config.webrtc.keyframe_interval,
        ..IngestConfig::default()
    };
    let (ingest, answer_sdp) = IngestSession::accept_offer(now, &offer.offer_sdp, &ingest_config)?;
    let media_config =
        MediaConfig { aac_bitrate_bps: config.webrtc.audio_bitrate, ..MediaConfig::default() };
    let media = MediaAssembler::new(media_config)?;

    let registered = shared.registry.register(conn_id, peer);
    let entry = Arc::clone(&registered.entry);
    {
        let mut d = entry.detail();
        d.app = key.app.clone();
        d.protocol = Some("webrtc");
    }
    let publishing = Publishing::start(shared, &entry, Some(&key), 0, false)
        .map_err(|reason| WhipError::InUse { reason })?;
    shared.relay.published_through(&key, conn_id, &via);
    {
        let mut d = entry.detail();
        d.role = "publisher";
        d.stream = key.name.clone();
    }
    shared.platform.stats_changed();

    let session_id = super::new_session_id();
    let (tx, rx) = mpsc::channel(SESSION_QUEUE);
    bound.router.add(conn_id, ingest.local_ufrag(), tx);
    let (ctl_tx, ctl) = mpsc::channel(CONTROL_QUEUE);
    shared.whip.insert(&session_id, key.clone(), ctl_tx);
    let span = tracing::info_span!(
        "whip", session = %session_id, conn_id, peer = %offer.peer, app = %key.app, stream = %key.name
    );
    span.in_scope(|| tracing::info!("WHIP session started"));
    let session = Session {
        shared: Arc::clone(shared),
        session_id: session_id.clone(),
        conn_id,
        key,
        entry,
        _registered: registered,
        _guard: guard,
        ingest,
        media,
        publishing: Some(publishing),
        rx,
        ctl,
        tcp: HashMap::new(),
        tags: Vec::new(),
        viewers: 0,
        viewers_checked: None,
        metadata: None,
        opened: Instant::now(),
    };
    spawn(shared, session.run().instrument(span));
    Ok(WhipAnswer { session_id, answer_sdp })
}

/// Spawns the session's task where the server's connection tasks run (so shutdown waits
/// for it), or on the runtime when the server is not running yet.
fn spawn(shared: &Shared, task: impl std::future::Future<Output = ()> + Send + 'static) {
    let spawner =
        shared.platform.listeners.lock().unwrap_or_else(|e| e.into_inner()).spawner.clone();
    match spawner {
        Some((runtime, tracker)) => {
            runtime.spawn(tracker.track_future(task));
        }
        None => {
            tokio::spawn(task);
        }
    }
}

/// The stream key an offer may publish, as an RTMP publish of the same app and stream
/// with the bearer as its `?key=` would be authorised.
async fn authorize(
    shared: &Arc<Shared>,
    offer: &WhipOffer,
    peer: SocketAddr,
    conn_id: u64,
) -> Result<StreamKey, WhipError> {
    let stream = match &offer.bearer {
        Some(bearer) => format!("{}?key={}", offer.stream, percent_encode(bearer)),
        None => offer.stream.clone(),
    };
    let request = AuthRequest {
        action: AuthAction::Publish,
        app: offer.app.clone(),
        stream: Some(stream),
        tc_url: None,
        peer,
        conn_id,
    };
    match shared.auth.authorize(request).await {
        Verdict::Allow { app, stream } => Ok(StreamKey::new(app, stream.unwrap_or_default())),
        // Without a bearer, a refused key is "no credentials" (401); the ACL, a callback or
        // a bad name refuse whatever the credentials (403).
        Verdict::Deny(d) if offer.bearer.is_none() && d.kind == DenyKind::BadKey => {
            Err(WhipError::NoCredentials)
        }
        Verdict::Deny(denial) => Err(WhipError::Refused { reason: denial.reason }),
    }
}

/// A running WHIP session (the task's state).
struct Session {
    shared: Arc<Shared>,
    session_id: String,
    conn_id: u64,
    key: StreamKey,
    entry: Arc<ConnEntry>,
    /// Keeps the session in `/api/v1/connections` until the task ends.
    _registered: Registered,
    /// Counts it against the connection limits until the task ends.
    _guard: ConnectionGuard,
    ingest: IngestSession,
    media: MediaAssembler,
    /// `None` once replaced by a newer publisher.
    publishing: Option<Publishing>,
    rx: mpsc::Receiver<Inbound>,
    ctl: mpsc::Receiver<Control>,
    /// ICE-TCP connections by peer address.
    tcp: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    tags: Vec<openrtmp_webrtc::media::Tag>,
    /// The hub's viewer count when last looked at, and when.
    viewers: usize,
    viewers_checked: Option<Instant>,
    /// The (width, height, frame rate known) last sent as onMetaData.
    metadata: Option<(u32, u32, bool)>,
    opened: Instant,
}

impl Session {
    fn bound(&self) -> Option<&Bound> {
        self.shared.whip.bound.as_ref()
    }

    async fn run(mut self) {
        let (kick, shutdown) = (self.entry.kick.clone(), self.shared.shutdown.clone());
        let mut ctl_open = true;
        let end = loop {
            let deadline = match self.drain() {
                Ok(t) => t,
                Err(end) => break end,
            };
            let batch = self.publishing.as_ref().and_then(Publishing::batch_deadline);
            let wake = batch.map_or(deadline, |b| b.min(deadline));
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break End::Shutdown,
                () = kick.cancelled() => break End::Kicked,
                ctl = self.ctl.recv(), if ctl_open => match ctl {
                    Some(Control::Delete) => {
                        self.ingest.close();
                        // The DTLS close_notify goes out now; the publication ends at once
                        // (the peer asked for it, nothing more is waited for).
                        let _ = self.drain();
                        break End::Deleted;
                    }
                    Some(Control::Trickle(frag, reply)) => {
                        let added = self.ingest.add_remote_candidates(&frag).map_err(WhipError::from);
                        let _ = reply.send(added);
                    }
                    None => ctl_open = false,
                },
                packet = self.rx.recv() => match packet {
                    Some(packet) => self.input(packet),
                    None => break End::Error("the packet router closed".into()),
                },
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if let Err(e) = self.ingest.handle_timeout(now) {
                        break End::Error(e.to_string());
                    }
                    if let Some(p) = &mut self.publishing {
                        p.announce_due(now);
                    }
                }
            }
        };
        self.finish(end);
    }

    /// One packet (or a new ICE-TCP connection) from the router.
    fn input(&mut self, inbound: Inbound) {
        match inbound {
            Inbound::Packet { proto, source, destination, contents } => {
                self.entry.add_in(contents.len());
                self.shared.stats.bytes_in.fetch_add(contents.len() as u64, Relaxed);
                let packet = Packet { proto, source, destination, contents: &contents };
                if let Err(e) = self.ingest.handle_packet(Instant::now(), packet) {
                    if let Some(b) = self.bound() {
                        b.router.rate_limited(
                            || tracing::debug!(%source, error = %e, "WebRTC packet refused"),
                        );
                    }
                }
            }
            Inbound::TcpOpen { remote, tx, .. } => {
                self.tcp.insert(remote, tx);
            }
        }
    }

    /// Takes the session's output until it asks to be woken at a time; `Err` when it
    /// ended.
    fn drain(&mut self) -> Result<Instant, End> {
        let now = Instant::now();
        if self.media.needs_keyframe() {
            self.ingest.request_keyframe(now);
        }
        let deadline = loop {
            match self.ingest.poll_output(now) {
                IngestOutput::Transmit(t) => self.transmit(t),
                IngestOutput::Connected => tracing::info!("WebRTC connected (ICE and DTLS up)"),
                IngestOutput::Video(frame) => {
                    self.media.push_video(frame, &mut self.tags);
                    self.check_viewers(now);
                }
                IngestOutput::Audio(frame) => self.media.push_audio(frame, &mut self.tags),
                IngestOutput::Ended(reason) => return Err(End::Ended(reason)),
                IngestOutput::Timeout(t) => break t,
            }
        };
        self.push_tags()?;
        Ok(deadline)
    }

    /// Sends a packet through the socket (or ICE-TCP connection) it belongs to; a full
    /// socket buffer drops it, as the network would.
    /// (The packet is handed over, not copied: ICE-TCP's queue takes the buffer.)
    fn transmit(&mut self, t: Transmit) {
        let sent = match t.proto {
            Transport::Udp => self
                .bound()
                .and_then(|b| b.socket_for(t.source))
                .and_then(|sock| sock.socket.try_send_to(&t.contents, t.destination).ok()),
            Transport::Tcp => {
                let len = t.contents.len();
                let tx = self.tcp.get(&t.destination);
                tx.and_then(|tx| tx.try_send(t.contents).ok()).map(|()| len)
            }
        };
        if let Some(n) = sent {
            self.entry.add_out(n);
            self.shared.stats.bytes_out.fetch_add(n as u64, Relaxed);
        }
    }

    /// Asks for a keyframe when the stream has more viewers (a player, push target or
    /// recording) than when last looked.
    fn check_viewers(&mut self, now: Instant) {
        if self.viewers_checked.is_some_and(|t| now.duration_since(t) < VIEWER_CHECK_EVERY) {
            return;
        }
        self.viewers_checked = Some(now);
        let viewers = self.shared.hub.stream(&self.key).map_or(0, |s| s.viewers);
        if viewers > self.viewers {
            tracing::debug!(viewers, "new viewer: keyframe requested");
            self.ingest.request_keyframe(now);
        }
        self.viewers = viewers;
    }

    /// The assembler's tags into the hub, as an RTMP publisher's messages; onMetaData
    /// when the picture size or frame rate is learnt or changes.
    fn push_tags(&mut self) -> Result<(), End> {
        if self.tags.is_empty() {
            return Ok(());
        }
        let Some(p) = self.publishing.as_mut() else {
            self.tags.clear();
            return Ok(());
        };
        p.hold();
        let mut replaced = false;
        for tag in self.tags.drain(..) {
            let type_id = match tag.kind {
                TagKind::Audio => MessageType::AUDIO,
                TagKind::Video => MessageType::VIDEO,
            };
            let message = Message {
                csid: 0,
                timestamp: tag.timestamp,
                type_id,
                stream_id: 0,
                payload: tag.body,
            };
            if p.media(message).is_err() {
                replaced = true;
                break;
            }
        }
        p.release();
        if replaced {
            return Err(End::Replaced);
        }
        if let Some(info) = self.media.video_info() {
            media::metadata(p, &mut self.metadata, &info);
        }
        Ok(())
    }

    /// After the loop: the publication ends (or is held for the reconnect grace), the
    /// routes and the session entry go, the end is logged.
    fn finish(mut self, end: End) {
        if let Some(b) = self.shared.whip.bound.as_ref() {
            b.router.remove(self.conn_id);
        }
        self.shared.whip.remove(&self.session_id);
        let why = end.to_string();
        if let Some(p) = self.publishing.take() {
            self.shared.relay.unpublished(p.key(), self.conn_id);
            if end.holds_publication() {
                p.lose(&self.shared, &why);
            } else {
                let key = p.key().clone();
                p.stop(&why);
                crate::cluster::node::release_when_ended(&self.shared, key);
            }
            self.shared.platform.stats_changed();
        }
        if let Some(metric) = end.metric() {
            self.shared.count_error(metric);
        }
        end.log(self.opened.elapsed(), &self.entry);
    }
}
