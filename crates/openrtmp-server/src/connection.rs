//! One connection: a task that owns the socket and a [`ServerSession`], and connects the
//! session's publish/play decisions to the hub.
//!
//! The loop reads only while the session is not waiting for a decision (TCP back-pressure),
//! writes the session's output with vectored writes from a second buffer (so new output can
//! be queued while a write is in flight), and pulls media for players only while that buffer
//! is small: a player that stops reading costs at most one batch of memory, and the hub's
//! shared ring decides when it has fallen too far behind.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openrtmp_amf::Amf0Value;
use openrtmp_hub::{
    Frame, FrameKind, PublishError, Publisher, StreamKey, SubscribeError, Subscriber,
    SubscriberEvent,
};
use openrtmp_media::{audio_info, parse_audio, parse_video, video_info, AudioInfo, VideoInfo};
use openrtmp_proto::chunk::ChunkOutput;
use openrtmp_proto::command::{DataMessage, StatusCode};
use openrtmp_proto::message::{Message, MessageType};
use openrtmp_proto::session::{
    Disposition, RequestId, ServerConfig, ServerEvent, ServerSession, SessionError,
};
use rand::RngCore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{field, Instrument};

use crate::auth::{AuthAction, AuthRequest, Notification, Verdict};
use crate::config::Config;
use crate::delay::{IngestClock, StreamDelays};
use crate::platform::state::{Directive, SAVING_NAP};
use crate::registry::{ConnEntry, MediaSummary};
use crate::server::Shared;

/// Most bytes read per socket read (the read buffer grows to this).
const READ_SIZE: usize = 64 * 1024;
/// The read buffer a connection starts with.
const MIN_READ_SIZE: usize = 4 * 1024;
/// Media is pulled from the hub only while less than this is queued for the socket.
const HIGH_WATER: usize = 256 * 1024;
/// Payload bytes pulled from the hub per batch.
const BATCH_BYTES: usize = 128 * 1024;
/// IoSlices per vectored write.
const MAX_IOVECS: usize = 128;
/// Time allowed to flush a final `_error`/onStatus before closing.
const FINAL_FLUSH: Duration = Duration::from_secs(1);

/// Why a connection ended.
#[derive(Debug)]
enum End {
    PeerClosed,
    Protocol(SessionError),
    Io(std::io::Error),
    HandshakeTimeout,
    ConnectTimeout,
    PublisherSilent,
    UnpublishedWaitOver,
    WriteStalled,
    TooSlow(u32),
    Rejected,
    /// Publish or play refused by authorisation.
    Denied,
    TlsHandshake(String),
    /// A TLS-ALPN-01 validation connection (answered by its handshake).
    AcmeValidation,
    Replaced,
    Kicked,
    Shutdown,
    /// The app went to the background and this connection neither published nor played.
    Background,
    /// The app's background time ran out (clients were told).
    BackgroundExpired,
    /// The app was suspended.
    Suspended,
}

impl End {
    /// The error kind counted in metrics, if this end is an error.
    fn error_kind(&self) -> Option<&'static str> {
        Some(match self {
            End::Protocol(_) => "protocol",
            End::Io(_) => "io",
            End::HandshakeTimeout => "handshake_timeout",
            End::ConnectTimeout => "connect_timeout",
            End::PublisherSilent => "publisher_timeout",
            End::WriteStalled => "write_stalled",
            End::TooSlow(_) => "too_slow",
            End::TlsHandshake(_) => "tls_handshake",
            _ => return None,
        })
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::PeerClosed => f.write_str("closed by peer"),
            End::Protocol(e) => write!(f, "protocol error: {e}"),
            End::Io(e) => write!(f, "socket error: {e}"),
            End::HandshakeTimeout => f.write_str("handshake not completed in time"),
            End::ConnectTimeout => f.write_str("no connect command in time"),
            End::PublisherSilent => f.write_str("publisher sent no media in time"),
            End::UnpublishedWaitOver => f.write_str("stream stayed unpublished; player closed"),
            End::WriteStalled => f.write_str("player stopped reading"),
            End::TooSlow(lag) => write!(f, "player too slow ({lag} ms behind for too long)"),
            End::Rejected => f.write_str("rejected"),
            End::Denied => f.write_str("not authorised"),
            End::TlsHandshake(e) => write!(f, "TLS handshake failed: {e}"),
            End::AcmeValidation => f.write_str("ACME validation handshake answered"),
            End::Replaced => f.write_str("publisher replaced by a newer one"),
            End::Kicked => f.write_str("closed by the API"),
            End::Shutdown => f.write_str("server shutting down"),
            End::Background => f.write_str("app in the background; idle connection closed"),
            End::BackgroundExpired => f.write_str("app background time expired"),
            End::Suspended => f.write_str("app suspended"),
        }
    }
}

struct PublishState {
    stream_id: u32,
    publisher: Publisher,
    last_media: Instant,
    last_ts: Option<u32>,
    /// The publisher's onMetaData (as sent, `@setDataFrame` stripped) and its timestamp.
    metadata: Option<(DataMessage, u32)>,
    /// What the server parsed from the sequence headers.
    video: Option<VideoInfo>,
    audio: Option<AudioInfo>,
    /// Video frames received (frame rate).
    video_frames: u64,
    /// This stream's delay histograms, and the publisher's lateness against real time.
    delays: Arc<StreamDelays>,
    ingest: IngestClock,
    /// Timestamp and frame count at the last keyframe.
    fps_window: Option<(u32, u64)>,
}

impl PublishState {
    /// The metadata with what the server knows added where the encoder left it out:
    /// `server`, and `width`/`height`/`audiosamplerate`/`audiochannels` from the sequence
    /// headers.
    fn enriched_metadata(&self) -> Option<Frame> {
        let (data, timestamp) = self.metadata.as_ref()?;
        let mut data = data.clone();
        if let Some(obj) = data.values.iter_mut().find_map(object_mut) {
            obj.insert(
                "server",
                Amf0Value::string(concat!("OpenRTMP ", env!("CARGO_PKG_VERSION"))),
            );
            let mut add = |key: &str, value: Option<f64>| {
                if let (None, Some(v)) = (obj.get(key), value) {
                    obj.insert(key, Amf0Value::Number(v));
                }
            };
            if let Some(v) = &self.video {
                add("width", v.width.map(f64::from));
                add("height", v.height.map(f64::from));
            }
            if let Some(a) = &self.audio {
                add("audiosamplerate", Some(f64::from(a.sample_rate)));
                add("audiochannels", (a.channels > 0).then_some(f64::from(a.channels)));
            }
        }
        Some(Frame::classify(FrameKind::Data, *timestamp, data.encode()))
    }
}

fn object_mut(value: &mut Amf0Value) -> Option<&mut openrtmp_amf::AmfObject> {
    match value {
        Amf0Value::Object(o) | Amf0Value::EcmaArray { entries: o, .. } => Some(o),
        _ => None,
    }
}

struct PlayState {
    stream_id: u32,
    subscriber: Subscriber,
    unpublished_since: Option<Instant>,
    /// Polls so far (statistics are refreshed every 64th).
    polls: u64,
    /// Dropped frames already added to the server-wide count.
    dropped_reported: u64,
    /// The stream's delay histograms (distribution delay is recorded here).
    delays: Arc<StreamDelays>,
}

/// What an authorisation decision in flight is about.
enum Asked {
    Connect { request: RequestId, flash_ver: String, enhanced: bool },
    Publish { request: RequestId, stream_id: u32 },
    Play { request: RequestId, stream_id: u32 },
}

/// A decision in flight (an HTTP callback): the session waits, the connection keeps serving.
struct PendingDecision {
    asked: Asked,
    verdict: futures_util::future::BoxFuture<'static, Verdict>,
}

struct Connection {
    shared: Arc<Shared>,
    /// The configuration when this connection started (a reload applies to new ones).
    config: Arc<Config>,
    entry: Arc<ConnEntry>,
    conn_id: u64,
    peer: SocketAddr,
    session: ServerSession,
    opened: Instant,
    handshake_done: Option<Instant>,
    connected: bool,
    app: String,
    publisher: Option<PublishState>,
    players: Vec<PlayState>,
    events: Vec<SubscriberEvent>,
    /// The last media pump stopped at a player's byte budget (more may be due at once).
    budget_hit: bool,
    bytes_in: u64,
    bytes_out: u64,
    last_ts_warning: Option<Instant>,
    /// Drop warnings are logged at most every 10 s per connection.
    last_drop_warning: Option<Instant>,
    /// An authorisation decision in flight.
    decision: Option<PendingDecision>,
    /// The app and tcUrl exactly as the client's connect sent them (a key or token may be
    /// in their query): publish and play are authorised against them too.
    connect_app: String,
    tc_url: Option<String>,
    /// The stream this connection published and when it started (for the notification).
    published: Option<(String, std::time::Instant)>,
    /// Streams played and when (for the notifications).
    played: Vec<(String, std::time::Instant)>,
    /// True while this connection's local address is on a cellular network.
    cellular: Arc<AtomicBool>,
}

/// Runs one accepted connection to its end.
pub(crate) async fn run(
    socket: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    peer: SocketAddr,
    conn_id: u64,
    shared: Arc<Shared>,
) {
    let span = tracing::info_span!(
        "conn",
        conn_id,
        %peer,
        proto = if tls.is_some() { "rtmps" } else { "rtmp" },
        app = field::Empty,
        stream = field::Empty,
        role = field::Empty
    );
    async move {
        let (_guard, total, from_ip) = shared.counter.enter(peer.ip());
        let registered = shared.registry.register(conn_id, peer);
        let local = socket.local_addr().map(|a| a.ip());
        let tracked = shared.platform.track(conn_id, local.unwrap_or([0, 0, 0, 0].into()));
        shared.platform.stats_changed();
        let config = shared.config_arc();
        let mut random = vec![0u8; openrtmp_proto::handshake::RANDOM_LEN];
        rand::thread_rng().fill_bytes(&mut random);
        let session_config = ServerConfig {
            chunk_size: config.chunk_size,
            window_ack_size: config.window_ack_size,
            peer_bandwidth: config.window_ack_size,
            limits: config.session_limits(),
            ..ServerConfig::default()
        };
        let epoch = shared.started.elapsed().as_millis() as u32;
        let mut conn = Connection {
            session: ServerSession::new(session_config, epoch, &random),
            shared,
            config,
            entry: Arc::clone(&registered.entry),
            conn_id,
            peer,
            opened: Instant::now(),
            handshake_done: None,
            connected: false,
            app: String::new(),
            publisher: None,
            players: Vec::new(),
            events: Vec::new(),
            budget_hit: false,
            bytes_in: 0,
            bytes_out: 0,
            last_ts_warning: None,
            last_drop_warning: None,
            decision: None,
            connect_app: String::new(),
            tc_url: None,
            published: None,
            played: Vec::new(),
            cellular: Arc::clone(&tracked.cellular),
        };
        tracing::debug!(total, from_ip, "accepted");
        let over_limit = conn.admission(total, from_ip);
        let end = match tls {
            None => {
                let (rd, wr) = socket.into_split();
                conn.drive(rd, wr, over_limit).await
            }
            Some(acceptor) => {
                let deadline = conn.config.handshake_timeout;
                match tokio::time::timeout(deadline, acceptor.accept(socket)).await {
                    Ok(Ok(stream))
                        if stream.get_ref().1.alpn_protocol()
                            == Some(openrtmp_tls::ACME_TLS_ALPN) =>
                    {
                        // An ACME CA validating TLS-ALPN-01: the handshake was the answer.
                        tracing::debug!("ACME TLS-ALPN-01 validation handshake answered");
                        End::AcmeValidation
                    }
                    Ok(Ok(stream)) => {
                        let (_, session) = stream.get_ref();
                        tracing::debug!(
                            version = ?session.protocol_version(),
                            cipher = ?session.negotiated_cipher_suite().map(|c| c.suite()),
                            sni = session.server_name().unwrap_or_default(),
                            "TLS established"
                        );
                        let (rd, wr) = tokio::io::split(stream);
                        conn.drive(rd, wr, over_limit).await
                    }
                    Ok(Err(e)) => End::TlsHandshake(describe_tls_error(&e)),
                    Err(_) => End::TlsHandshake("not completed in time".into()),
                }
            }
        };
        conn.finish(&end);
        drop(tracked);
        conn.shared
    }
    .instrument(span)
    .await
    .platform
    .stats_changed();
}

impl Connection {
    /// Why a new connection must be refused, if it must.
    fn admission(&self, total: usize, from_ip: usize) -> Option<String> {
        let config = &*self.config;
        if total > config.max_connections {
            return Some(format!(
                "server connection limit reached ({} connections)",
                config.max_connections
            ));
        }
        if from_ip > config.max_connections_per_ip {
            return Some(format!(
                "too many connections from {} (limit {})",
                self.peer.ip(),
                config.max_connections_per_ip
            ));
        }
        let used = self.shared.hub.memory_bytes();
        if used > config.memory_budget {
            return Some(format!(
                "server memory budget exhausted ({used} of {} bytes)",
                config.memory_budget
            ));
        }
        None
    }

    async fn drive<R, W>(&mut self, mut rd: R, mut wr: W, refuse: Option<String>) -> End
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        // Start small: most connections are players or idle and read little. Grows (up to
        // READ_SIZE) when reads fill it, as a publisher's do.
        let mut buf = vec![0u8; MIN_READ_SIZE];
        let mut pending = ChunkOutput::new();
        let mut last_write = Instant::now();
        let shutdown = self.shared.shutdown.clone();
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        let kicked = self.entry.kick.clone();
        let draining = self.shared.draining.clone();
        let mut told_draining = false;
        // Futures on channels every connection shares are created once and kept across
        // iterations (re-made only after they fire): registering a waiter on a shared
        // channel at every wake would take its lock once per frame per connection.
        let draining_now = draining.cancelled();
        tokio::pin!(draining_now);
        let mut directive_next = Box::pin(next_value(self.shared.platform.directives()));
        // Background: a connection that becomes idle later (its player or publisher ends)
        // closes then, not only those idle at the switch.
        let mut close_when_idle = false;
        // Saving power (low-power mode, Doze): after draining the players' queues, no media
        // pump before `nap_until`, so a player's frames leave in one write every 100 ms
        // instead of one per frame (fewer system calls and TCP segments, so the radio can
        // sleep longer). Reads are not delayed: the OS wakes the runtime for every arriving
        // segment anyway (edge-triggered readiness), so holding them back saves nothing.
        let mut saving_rx = self.shared.platform.saving();
        let mut saving = *saving_rx.borrow_and_update();
        let mut saving_next = Box::pin(next_value(saving_rx));
        let mut nap_until: Option<Instant> = None;
        // One timer for every deadline, reset lazily: when a deadline moves later (a write
        // or a media message arrived) the timer fires early once and is re-armed, instead of
        // touching the timer wheel on every frame.
        let mut armed = self.next_deadline(false, last_write);
        let timer = tokio::time::sleep_until(armed);
        tokio::pin!(timer);
        loop {
            if pending.is_empty() {
                pending = std::mem::take(self.session.transmit());
                last_write = Instant::now();
            }
            if self.session.is_closed() && pending.is_empty() {
                // Everything (the `_error` of a refused connect) is written: close so that
                // it is read, not reset away.
                self.flush_final(&mut wr, &mut pending).await;
                linger(&mut rd).await;
                return End::Rejected;
            }
            self.entry
                .queue_bytes
                .store(pending.len() + self.session.transmit().len(), Ordering::Relaxed);
            let deadline = self.next_deadline(!pending.is_empty(), last_write);
            if deadline < armed {
                armed = deadline;
                timer.as_mut().reset(armed);
            }
            if close_when_idle && self.is_idle() {
                self.flush_final(&mut wr, &mut pending).await;
                linger(&mut rd).await;
                return End::Background;
            }
            let napping = saving && nap_until.is_some_and(|t| Instant::now() < t);
            let want_read = !self.session.is_waiting() && !self.session.is_closed();
            let deciding = self.decision.is_some();
            let want_media = !self.players.is_empty()
                && pending.len() < HIGH_WATER
                && self.session.transmit().len() < HIGH_WATER
                && !napping;
            let result: Result<(), End> = tokio::select! {
                biased;
                _ = &mut cancelled => Err(End::Shutdown),
                _ = kicked.cancelled() => Err(End::Kicked),
                _ = &mut draining_now, if !told_draining => {
                    told_draining = true;
                    self.announce_shutdown();
                    Ok(())
                }
                written = write_some(&mut wr, &pending), if !pending.is_empty() => match written {
                    Ok(0) => Err(End::PeerClosed),
                    Ok(n) => {
                        pending.advance(n);
                        self.bytes_out += n as u64;
                        self.entry.add_out(n);
                        self.shared.stats.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                        if self.cellular.load(Ordering::Relaxed) {
                            self.shared.platform.add_cellular_out(n as u64);
                        }
                        last_write = Instant::now();
                        Ok(())
                    }
                    Err(e) => Err(End::Io(e)),
                },
                read = rd.read(&mut buf), if want_read => match read {
                    Ok(0) => Err(End::PeerClosed),
                    Ok(n) => {
                        let result = self.input(buf.get(..n).unwrap_or_default(), refuse.as_deref());
                        if n == buf.len() && buf.len() < READ_SIZE {
                            buf.resize(buf.len() * 2, 0);
                        }
                        result
                    }
                    // A TLS peer that closes without close_notify (FFmpeg does) has left.
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        Err(End::PeerClosed)
                    }
                    Err(e) => Err(End::Io(e)),
                },
                _ = ready(&self.players), if want_media => {
                    let result = self.pump_players();
                    if saving && !self.budget_hit {
                        nap_until = Some(Instant::now() + SAVING_NAP);
                    }
                    result
                }
                _ = tokio::time::sleep_until(nap_until.unwrap_or(armed)), if napping => {
                    nap_until = None;
                    Ok(())
                }
                (changed, rx) = &mut saving_next => match changed {
                    Some(now) => {
                        saving_next.set(next_value(rx));
                        saving = now;
                        if !saving {
                            nap_until = None;
                        }
                        Ok(())
                    }
                    // The sender lives as long as `shared`: cannot happen.
                    None => Err(End::Shutdown),
                },
                (changed, rx) = &mut directive_next => match changed {
                    Some(directive) => {
                        directive_next.set(next_value(rx));
                        close_when_idle = directive == Directive::CloseIdle;
                        self.follow(directive)
                    }
                    // The sender lives as long as `shared`: cannot happen.
                    None => Err(End::Shutdown),
                },
                verdict = decided(&mut self.decision), if deciding => {
                    match self.decision.take() {
                        Some(pending) => self
                            .decide(pending.asked, verdict)
                            .and_then(|()| self.handle_events(None)),
                        None => Ok(()),
                    }
                }
                _ = &mut timer => {
                    let result = self.check_timers(!pending.is_empty(), last_write);
                    armed = self.next_deadline(!pending.is_empty(), last_write);
                    timer.as_mut().reset(armed);
                    result
                }
            };
            if let Err(end) = result {
                let flush = match &end {
                    End::Protocol(e) => e.disposition() == Disposition::FlushThenClose,
                    End::Replaced
                    | End::TooSlow(_)
                    | End::UnpublishedWaitOver
                    | End::Denied
                    | End::Background
                    | End::BackgroundExpired => true,
                    _ => false,
                };
                if flush {
                    self.flush_final(&mut wr, &mut pending).await;
                    linger(&mut rd).await;
                }
                return end;
            }
        }
    }

    /// Bytes from the socket: into the session, then act on its events.
    fn input(&mut self, data: &[u8], refuse: Option<&str>) -> Result<(), End> {
        self.bytes_in += data.len() as u64;
        self.entry.add_in(data.len());
        self.shared.stats.bytes_in.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.session.handle_input(data).map_err(End::Protocol)?;
        self.handle_events(refuse)
    }

    fn handle_events(&mut self, refuse: Option<&str>) -> Result<(), End> {
        while let Some(event) = self.session.poll_event() {
            match event {
                ServerEvent::HandshakeDone { scheme, client_version } => {
                    self.handshake_done = Some(Instant::now());
                    tracing::debug!(?scheme, ?client_version, "handshake done");
                }
                ServerEvent::Connect { request, command } => {
                    let app = command
                        .app
                        .split('?')
                        .next()
                        .unwrap_or_default()
                        .trim_matches('/')
                        .to_owned();
                    tracing::Span::current().record("app", app.as_str());
                    self.entry.detail().app = app.clone();
                    let draining =
                        self.shared.draining.is_cancelled().then_some("server is shutting down");
                    if let Some(reason) = refuse.or(draining) {
                        tracing::warn!(%reason, "connect rejected");
                        self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                        self.session.reject_connect(request, reason);
                        continue;
                    }
                    let asked = Asked::Connect {
                        request,
                        flash_ver: command.flash_ver.clone().unwrap_or_default(),
                        enhanced: command.enhanced.is_enhanced(),
                    };
                    self.connect_app = command.app.clone();
                    self.tc_url = command.tc_url.clone();
                    let req = self.auth_request(AuthAction::Connect, None);
                    self.ask(asked, req)?;
                }
                ServerEvent::Publish { request, stream_id, stream_name, .. } => {
                    // A second publish on this connection is refused in `start_publish`,
                    // after authorisation (the raw name may hold a key: not logged here).
                    let req = self.auth_request(AuthAction::Publish, Some(stream_name));
                    self.ask(Asked::Publish { request, stream_id }, req)?;
                }
                ServerEvent::Play { request, stream_id, stream_name, .. } => {
                    let req = self.auth_request(AuthAction::Play, Some(stream_name));
                    self.ask(Asked::Play { request, stream_id }, req)?;
                }
                ServerEvent::Unpublished { stream_id, .. } => {
                    if self.publisher.as_ref().is_some_and(|p| p.stream_id == stream_id) {
                        self.stop_publish("unpublished");
                    }
                }
                ServerEvent::PlayStopped { stream_id, .. } => {
                    self.players.retain(|p| p.stream_id != stream_id);
                    tracing::info!(stream_id, "play stop");
                }
                ServerEvent::Media { message, .. } => self.media(message)?,
                ServerEvent::Data { data, message, .. } => {
                    if let Some(p) = &mut self.publisher {
                        if data.name == "onMetaData" {
                            p.metadata = Some((data, message.timestamp));
                            if let Some(frame) = p.enriched_metadata() {
                                p.publisher.set_metadata(frame);
                            }
                        } else {
                            let kind = FrameKind::Data;
                            // A replaced publisher is stopped at its next audio/video
                            // message (`media`).
                            let _ = p.publisher.push(Frame::classify(
                                kind,
                                message.timestamp,
                                message.payload,
                            ));
                        }
                    }
                }
                ServerEvent::Pause { stream_id, paused } => {
                    if let Some(p) = self.players.iter_mut().find(|p| p.stream_id == stream_id) {
                        p.subscriber.set_paused(paused);
                    }
                }
                ServerEvent::ReceiveMedia { stream_id, audio, enabled } => {
                    if let Some(p) = self.players.iter_mut().find(|p| p.stream_id == stream_id) {
                        if audio {
                            p.subscriber.set_audio(enabled);
                        } else {
                            p.subscriber.set_video(enabled);
                        }
                    }
                }
                ServerEvent::BufferLength { .. } | ServerEvent::PingResponse { .. } => {}
                ServerEvent::Command { stream_id, command } => {
                    tracing::debug!(stream_id, command = command.name(), "command not handled");
                }
                ServerEvent::UnknownMessage(message) => {
                    tracing::debug!(
                        type_id = message.type_id.0,
                        len = message.payload.len(),
                        "unknown message type skipped"
                    );
                }
            }
        }
        Ok(())
    }

    /// A request about this connection: the app and tcUrl as the client's connect sent
    /// them, with `stream` for publish and play.
    fn auth_request(&self, action: AuthAction, stream: Option<String>) -> AuthRequest {
        AuthRequest {
            action,
            app: self.connect_app.clone(),
            stream,
            tc_url: self.tc_url.clone(),
            peer: self.peer,
            conn_id: self.conn_id,
        }
    }

    /// Asks for an authorisation decision. Without a callback the answer is ready at once
    /// and applied now; otherwise the session waits (reading stops) and the connection
    /// keeps serving until [`decided`] resolves.
    fn ask(&mut self, asked: Asked, req: AuthRequest) -> Result<(), End> {
        use futures_util::FutureExt;
        let mut verdict = self.shared.auth.authorize(req).boxed();
        match (&mut verdict).now_or_never() {
            Some(v) => self.decide(asked, v),
            None => {
                self.decision = Some(PendingDecision { asked, verdict });
                Ok(())
            }
        }
    }

    /// Applies a decision. Events the session handles afterwards (messages that waited for
    /// it) are queued for the caller's event loop, never handled here (no recursion).
    fn decide(&mut self, asked: Asked, verdict: Verdict) -> Result<(), End> {
        match (asked, verdict) {
            (Asked::Connect { request, flash_ver, enhanced }, Verdict::Allow { app, .. }) => {
                self.entry.detail().app = app.clone();
                tracing::info!(flash_ver, enhanced, "connected");
                self.session.accept_connect(request).map_err(End::Protocol)?;
                self.session.set_app(app.clone());
                self.app = app;
                self.connected = true;
                Ok(())
            }
            (Asked::Connect { request, .. }, Verdict::Deny(denial)) => {
                self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                self.session.reject_connect(request, &denial.reason);
                Ok(())
            }
            (Asked::Publish { request, stream_id, .. }, Verdict::Allow { stream, .. }) => {
                self.start_publish(request, stream_id, stream.as_deref().unwrap_or_default())
            }
            (Asked::Publish { request, .. }, Verdict::Deny(denial)) => {
                self.session
                    .reject_publish(request, StatusCode::PUBLISH_BAD_NAME, &denial.reason)
                    .map_err(End::Protocol)?;
                Err(End::Denied)
            }
            (Asked::Play { request, stream_id, .. }, Verdict::Allow { stream, .. }) => {
                self.start_play(request, stream_id, stream.as_deref().unwrap_or_default())
            }
            (Asked::Play { request, .. }, Verdict::Deny(denial)) => {
                self.session
                    .reject_play(request, StatusCode::PLAY_FAILED, &denial.reason)
                    .map_err(End::Protocol)?;
                Err(End::Denied)
            }
        }
    }

    /// Records what this connection now does, in its log span and for the API.
    fn take_role(&self, role: &'static str, key: &StreamKey) {
        tracing::Span::current().record("role", role);
        let mut d = self.entry.detail();
        d.role = role;
        d.stream = key.name.clone();
        self.shared.platform.stats_changed();
    }

    fn stream_key(&self, stream_name: &str) -> Option<StreamKey> {
        let name = stream_name.split('?').next().unwrap_or_default().trim_matches('/');
        (!name.is_empty()).then(|| StreamKey::new(self.app.clone(), name))
    }

    fn start_publish(
        &mut self,
        request: RequestId,
        stream_id: u32,
        stream_name: &str,
    ) -> Result<(), End> {
        let Some(key) = self.stream_key(stream_name) else {
            tracing::warn!("publish rejected: empty stream name");
            return self
                .session
                .reject_publish(request, StatusCode::PUBLISH_BAD_NAME, "stream name is empty")
                .map_err(End::Protocol);
        };
        tracing::Span::current().record("stream", key.name.as_str());
        if self.publisher.is_some() {
            tracing::warn!(stream = %key, "publish rejected: connection already publishes");
            let d = "this connection is already publishing a stream";
            return self
                .session
                .reject_publish(request, StatusCode::PUBLISH_BAD_NAME, d)
                .map_err(End::Protocol);
        }
        match self.shared.hub.publish(key.clone(), self.conn_id) {
            Ok(publisher) => {
                self.take_role("publisher", &key);
                self.entry.detail().media = MediaSummary {
                    since: Some(std::time::Instant::now()),
                    ..MediaSummary::default()
                };
                tracing::info!(stream = %key, "publish start");
                self.published = Some((key.name.clone(), std::time::Instant::now()));
                self.publisher = Some(PublishState {
                    stream_id,
                    publisher,
                    last_media: Instant::now(),
                    last_ts: None,
                    metadata: None,
                    video: None,
                    audio: None,
                    video_frames: 0,
                    fps_window: None,
                    delays: self.shared.delays.for_stream(&key),
                    ingest: IngestClock::default(),
                });
                self.session.accept_publish(request).map_err(End::Protocol)
            }
            Err(PublishError::InUse { owner, .. }) => {
                tracing::warn!(stream = %key, owner, "publish rejected: stream key in use");
                let d = format!("stream key {} is already in use by another publisher", key.name);
                self.session
                    .reject_publish(request, StatusCode::PUBLISH_BAD_NAME, &d)
                    .map_err(End::Protocol)
            }
        }
    }

    fn start_play(
        &mut self,
        request: RequestId,
        stream_id: u32,
        stream_name: &str,
    ) -> Result<(), End> {
        let Some(key) = self.stream_key(stream_name) else {
            return self
                .session
                .reject_play(request, StatusCode::PLAY_FAILED, "stream name is empty")
                .map_err(End::Protocol);
        };
        tracing::Span::current().record("stream", key.name.as_str());
        match self.shared.hub.subscribe(key.clone(), self.conn_id) {
            Ok(subscriber) => {
                self.take_role("player", &key);
                let publishing = subscriber.is_publishing();
                tracing::info!(stream = %key, publishing, "play start");
                self.played.push((key.name.clone(), std::time::Instant::now()));
                self.players.retain(|p| p.stream_id != stream_id);
                // A player that arrives before any publisher waits for one as long as it likes;
                // `unpublished_wait` only runs once a publisher has come and gone.
                self.players.push(PlayState {
                    stream_id,
                    subscriber,
                    unpublished_since: None,
                    polls: 0,
                    dropped_reported: 0,
                    delays: self.shared.delays.for_stream(&key),
                });
                self.session.accept_play(request).map_err(End::Protocol)
            }
            Err(SubscribeError::NotFound { .. }) => {
                tracing::info!(stream = %key, "play rejected: stream not found");
                let d = format!("no stream named {} is being published", key.name);
                self.session
                    .reject_play(request, StatusCode::PLAY_STREAM_NOT_FOUND, &d)
                    .map_err(End::Protocol)
            }
        }
    }

    fn stop_publish(&mut self, why: &str) {
        if let Some(p) = self.publisher.take() {
            tracing::info!(stream = %p.publisher.key(), reason = why, "publish stop");
            p.publisher.unpublish();
            self.shared.platform.stats_changed();
        }
    }

    fn media(&mut self, message: Message) -> Result<(), End> {
        let Some(p) = &mut self.publisher else { return Ok(()) };
        let kind =
            if message.type_id == MessageType::AUDIO { FrameKind::Audio } else { FrameKind::Video };
        let ts = message.timestamp;
        if let Some(last) = p.last_ts {
            let delta = ts.wrapping_sub(last) as i32;
            let now = Instant::now();
            let quiet = self
                .last_ts_warning
                .is_none_or(|t| now.duration_since(t) > Duration::from_secs(10));
            if !(-1000..=1000).contains(&delta) && quiet {
                self.last_ts_warning = Some(now);
                tracing::warn!(from = last, to = ts, "timestamp jump in published media");
            }
        }
        p.last_ts = Some(ts);
        p.last_media = Instant::now();
        let mut frame = Frame::classify(kind, ts, message.payload);
        let arrived = std::time::Instant::now();
        frame.received = Some(arrived);
        p.delays.ingest.record(p.ingest.observe(arrived, ts));
        if frame.sequence_header && frame.track == 0 && learn_codec(p, &frame) {
            if let Some(meta) = p.enriched_metadata() {
                p.publisher.set_metadata(meta);
            }
            let mut d = self.entry.detail();
            if let Some(v) = &p.video {
                (d.media.video_codec, d.media.width, d.media.height) =
                    (Some(v.codec.clone()), v.width, v.height);
            }
            if let Some(a) = &p.audio {
                d.media.audio_codec = Some(a.codec.clone());
                (d.media.sample_rate, d.media.channels) = (Some(a.sample_rate), Some(a.channels));
            }
        }
        if kind == FrameKind::Video && !frame.sequence_header {
            // Frame rate over the last keyframe interval, published at each keyframe.
            p.video_frames += 1;
            if frame.keyframe {
                if let Some((first_ts, frames)) = p.fps_window.replace((ts, p.video_frames)) {
                    let span = ts.wrapping_sub(first_ts);
                    if span > 0 && span < 60_000 {
                        let fps = (p.video_frames - frames) as f64 * 1000.0 / f64::from(span);
                        self.entry.detail().media.fps = Some((fps * 100.0).round() / 100.0);
                    }
                }
            }
        }
        if p.publisher.push(frame).replaced {
            // `replace_publisher`: a newer publisher took the key over; this one is done.
            let stream_id = p.stream_id;
            self.stop_publish("replaced by a new publisher");
            let d = "another publisher took over this stream key";
            self.session.send_status(stream_id, StatusCode::UNPUBLISH_SUCCESS, Some(d));
            return Err(End::Replaced);
        }
        Ok(())
    }

    /// A graceful shutdown began: tell the client (onStatus AppShutdown; the Enhanced RTMP
    /// reconnect request if it announced support), then carry on until it leaves or the
    /// grace period ends.
    fn announce_shutdown(&mut self) {
        let grace = self.config.shutdown_grace.as_secs();
        let d = format!("The server is shutting down; streams end within {grace} s.");
        if self.announce_closing(&d, "The server is restarting.") {
            tracing::info!(grace_secs = grace, "told the client the server is shutting down");
        }
    }

    /// Sends onStatus `NetConnection.Connect.AppShutdown` with `description`, and the
    /// Enhanced RTMP reconnect request to clients that support it; false if the client is
    /// not connected yet.
    fn announce_closing(&mut self, description: &str, reconnect: &str) -> bool {
        if !self.connected {
            return false;
        }
        self.session.send_status(0, StatusCode::CONNECT_APP_SHUTDOWN, Some(description));
        if self.session.peer_caps().supports_reconnect() {
            self.session.send_reconnect_request(None, Some(reconnect));
        }
        true
    }

    /// Neither publishing nor playing nor waiting for an authorisation decision.
    fn is_idle(&self) -> bool {
        self.publisher.is_none() && self.players.is_empty() && self.decision.is_none()
    }

    /// Acts on an app state change (see [`Directive`]).
    fn follow(&mut self, directive: Directive) -> Result<(), End> {
        match directive {
            Directive::Carry => Ok(()),
            Directive::CloseIdle => {
                if self.is_idle() {
                    Err(End::Background)
                } else {
                    Ok(())
                }
            }
            Directive::Expire(remaining) => {
                let secs = remaining.as_secs();
                let d = format!("The app is going to sleep; the server closes in {secs} s.");
                if self.announce_closing(&d, "The app is going to sleep.") {
                    tracing::info!(
                        remaining_secs = secs,
                        "told the client the app is going to sleep"
                    );
                }
                Err(End::BackgroundExpired)
            }
            Directive::Suspend => Err(End::Suspended),
        }
    }

    /// Moves available media from the hub into the session's output, for every player.
    fn pump_players(&mut self) -> Result<(), End> {
        let now = std::time::Instant::now();
        self.budget_hit = false;
        for i in 0..self.players.len() {
            let Some(player) = self.players.get_mut(i) else { break };
            self.events.clear();
            player.subscriber.poll(now, &mut self.events, BATCH_BYTES);
            let polled: usize = self
                .events
                .iter()
                .map(|e| match e {
                    SubscriberEvent::Frame(frame) => frame.payload.len(),
                    _ => 0,
                })
                .sum();
            self.budget_hit |= polled >= BATCH_BYTES;
            let stream_id = player.stream_id;
            player.polls = player.polls.wrapping_add(1);
            if player.polls % 64 == 0 {
                let stats = player.subscriber.stats();
                let new_drops = stats.dropped_frames.saturating_sub(player.dropped_reported);
                player.dropped_reported = stats.dropped_frames;
                self.shared.stats.dropped_frames.fetch_add(new_drops, Ordering::Relaxed);
                let quiet =
                    self.last_drop_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10));
                if new_drops > 0 && quiet {
                    self.last_drop_warning = Some(Instant::now());
                    tracing::warn!(
                        dropped = stats.dropped_frames,
                        skips = stats.skips,
                        backlog_ms = stats.backlog_ms,
                        "player falling behind: frames dropped up to the next keyframe"
                    );
                }
                self.entry.dropped_frames.store(stats.dropped_frames, Ordering::Relaxed);
                self.entry.lag_ms.store(stats.backlog_ms, Ordering::Relaxed);
            }
            for event in self.events.drain(..) {
                match event {
                    SubscriberEvent::Frame(frame) => {
                        if let Some(arrived) = frame.received {
                            player
                                .delays
                                .distribution
                                .record(now.saturating_duration_since(arrived));
                        }
                        let type_id = match frame.kind {
                            FrameKind::Audio => MessageType::AUDIO,
                            FrameKind::Video => MessageType::VIDEO,
                            FrameKind::Data => MessageType::DATA_AMF0,
                        };
                        let msg = Message {
                            csid: 0,
                            timestamp: frame.timestamp,
                            type_id,
                            stream_id,
                            payload: frame.payload,
                        };
                        self.session.send_media(stream_id, &msg);
                    }
                    SubscriberEvent::Unpublished => {
                        tracing::info!(stream_id, "publisher left: end of stream sent to player");
                        self.session.notify_unpublished(stream_id);
                        player.unpublished_since = Some(Instant::now());
                    }
                    SubscriberEvent::Published => {
                        tracing::info!(stream_id, "publisher (re)started");
                        self.session.notify_published(stream_id);
                        player.unpublished_since = None;
                    }
                    SubscriberEvent::TooSlow { lag_ms } => {
                        let stats = player.subscriber.stats();
                        tracing::warn!(
                            lag_ms,
                            dropped = stats.dropped_frames,
                            "player too slow: disconnecting"
                        );
                        return Err(End::TooSlow(lag_ms));
                    }
                }
            }
        }
        Ok(())
    }

    fn next_deadline(&self, writing: bool, last_write: Instant) -> Instant {
        let config = &*self.config;
        let far = Instant::now() + Duration::from_secs(3600);
        let mut deadline = far;
        let mut at = |t: Instant| deadline = deadline.min(t);
        match self.handshake_done {
            None => at(self.opened + config.handshake_timeout),
            Some(done) if !self.connected => at(done + config.connect_timeout),
            _ => {}
        }
        if let Some(p) = &self.publisher {
            at(p.last_media + config.publisher_timeout);
        }
        for p in &self.players {
            if let Some(since) = p.unpublished_since {
                at(since + config.unpublished_wait);
            }
        }
        if writing {
            at(last_write + config.write_timeout);
        }
        deadline
    }

    fn check_timers(&mut self, writing: bool, last_write: Instant) -> Result<(), End> {
        let config = &*self.config;
        let now = Instant::now();
        match self.handshake_done {
            None if now >= self.opened + config.handshake_timeout => {
                return Err(End::HandshakeTimeout)
            }
            Some(done) if !self.connected && now >= done + config.connect_timeout => {
                return Err(End::ConnectTimeout)
            }
            _ => {}
        }
        if self.publisher.as_ref().is_some_and(|p| now >= p.last_media + config.publisher_timeout) {
            self.stop_publish("no media received in time");
            return Err(End::PublisherSilent);
        }
        if self
            .players
            .iter()
            .any(|p| p.unpublished_since.is_some_and(|s| now >= s + config.unpublished_wait))
        {
            return Err(End::UnpublishedWaitOver);
        }
        if writing && now >= last_write + config.write_timeout {
            return Err(End::WriteStalled);
        }
        Ok(())
    }

    /// Sends what is queued (an `_error` or onStatus explaining a close), briefly.
    async fn flush_final<W: AsyncWrite + Unpin>(&mut self, wr: &mut W, pending: &mut ChunkOutput) {
        let flush = async {
            loop {
                if pending.is_empty() {
                    *pending = std::mem::take(self.session.transmit());
                    if pending.is_empty() {
                        break;
                    }
                }
                match write_some(wr, pending).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => pending.advance(n),
                }
            }
        };
        let _ = tokio::time::timeout(FINAL_FLUSH, flush).await;
        let _ = wr.shutdown().await;
    }

    fn finish(&mut self, end: &End) {
        if matches!(end, End::AcmeValidation) {
            tracing::debug!(reason = %end, "disconnected");
            return;
        }
        self.stop_publish("connection closed");
        if let Some(kind) = end.error_kind() {
            self.shared.count_error(kind);
        }
        for p in &self.players {
            let stats = p.subscriber.stats();
            let new_drops = stats.dropped_frames.saturating_sub(p.dropped_reported);
            self.shared.stats.dropped_frames.fetch_add(new_drops, Ordering::Relaxed);
        }
        let duration_ms = self.opened.elapsed().as_millis() as u64;
        let (bytes_in, bytes_out) = (self.bytes_in, self.bytes_out);
        self.notify_end(end);
        match end {
            End::Protocol(_)
            | End::HandshakeTimeout
            | End::ConnectTimeout
            | End::TooSlow(_)
            | End::TlsHandshake(_)
            | End::WriteStalled => {
                tracing::warn!(duration_ms, bytes_in, bytes_out, reason = %end, "disconnected");
            }
            _ => tracing::info!(duration_ms, bytes_in, bytes_out, reason = %end, "disconnected"),
        }
    }
}

impl Connection {
    /// Publish-done, play-done and disconnect notifications (sent only when a notification
    /// URL is configured; asynchronous, never delays the close).
    fn notify_end(&mut self, end: &End) {
        let auth = &self.shared.auth;
        let (peer, conn_id, app) = (self.peer, self.conn_id, self.app.clone());
        if let Some((stream, since)) = self.published.take() {
            auth.notify(Notification::PublishDone {
                app: app.clone(),
                stream,
                peer,
                conn_id,
                duration: since.elapsed(),
                bytes_in: self.bytes_in,
            });
        }
        for (stream, since) in self.played.drain(..) {
            auth.notify(Notification::PlayDone {
                app: app.clone(),
                stream,
                peer,
                conn_id,
                duration: since.elapsed(),
                bytes_out: self.bytes_out,
            });
        }
        auth.notify(Notification::Disconnect {
            app: self.connected.then_some(app),
            peer,
            conn_id,
            duration: self.opened.elapsed(),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            reason: end.to_string(),
        });
    }
}

/// Parses a sequence header for stream information; true if something new was learnt.
fn learn_codec(p: &mut PublishState, frame: &Frame) -> bool {
    match frame.kind {
        FrameKind::Video => {
            let info = parse_video(&frame.payload)
                .ok()
                .and_then(|tag| video_info(&tag))
                .and_then(Result::ok);
            if info.is_some() && info != p.video {
                tracing::info!(codec = ?info.as_ref().map(|i| &i.codec), width = ?info.as_ref().and_then(|i| i.width), height = ?info.as_ref().and_then(|i| i.height), "video stream");
                p.video = info;
                return true;
            }
        }
        FrameKind::Audio => {
            let info = parse_audio(&frame.payload)
                .ok()
                .and_then(|tag| audio_info(&tag))
                .and_then(Result::ok);
            if info.is_some() && info != p.audio {
                tracing::info!(codec = ?info.as_ref().map(|i| &i.codec), sample_rate = ?info.as_ref().map(|i| i.sample_rate), "audio stream");
                p.audio = info;
                return true;
            }
        }
        FrameKind::Data => {}
    }
    false
}

/// Why a TLS handshake failed, in words an operator can act on (a client that only speaks
/// TLS 1.0/1.1 sends no signature_algorithms or supported_versions extension, which is how
/// it shows).
fn describe_tls_error(e: &std::io::Error) -> String {
    use rustls::PeerIncompatible as P;
    let old = "the client offers only TLS 1.1 or older (TLS 1.2 is the minimum)";
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::PeerIncompatible(
            P::SignatureAlgorithmsExtensionRequired
            | P::SupportedVersionsExtensionRequired
            | P::Tls12NotOffered
            | P::Tls12NotOfferedOrEnabled,
        )) => old.to_owned(),
        _ => e.to_string(),
    }
}

/// After our FIN, reads and discards what the peer still sends until it closes too (at
/// most [`FINAL_FLUSH`]). Closing a socket with unread data makes the kernel answer with a
/// reset, which can destroy our last messages (an `_error`, an onStatus) in the peer's
/// receive buffer before it reads them.
async fn linger<R: AsyncRead + Unpin>(rd: &mut R) {
    let mut sink = [0u8; 4096];
    let drain = async {
        while let Ok(n) = rd.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(FINAL_FLUSH, drain).await;
}

/// Resolves with the verdict of the decision in flight (never, when there is none).
async fn decided(decision: &mut Option<PendingDecision>) -> Verdict {
    match decision {
        Some(pending) => (&mut pending.verdict).await,
        None => std::future::pending().await,
    }
}

/// One vectored write of as much of `out` as the socket takes.
async fn write_some<W: AsyncWrite + Unpin>(
    wr: &mut W,
    out: &ChunkOutput,
) -> std::io::Result<usize> {
    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
    let n = out.io_slices(&mut slices);
    wr.write_vectored(slices.get(..n).unwrap_or_default()).await
}

/// The next value of a watch channel (`None`: the sender is gone). Owns the receiver, so
/// the future can be kept across loop iterations; it hands the receiver back for the next.
async fn next_value<T: Copy>(mut rx: watch::Receiver<T>) -> (Option<T>, watch::Receiver<T>) {
    let value = match rx.changed().await {
        Ok(()) => Some(*rx.borrow_and_update()),
        Err(_) => None,
    };
    (value, rx)
}

/// Resolves when any player's subscriber may have something to poll.
async fn ready(players: &[PlayState]) {
    match players {
        [] => std::future::pending().await,
        [one] => one.subscriber.ready().await,
        many => {
            let all = many.iter().map(|p| Box::pin(p.subscriber.ready()));
            futures_util::future::select_all(all).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openrtmp_amf::AmfObject;
    use openrtmp_hub::{Hub, HubConfig};

    #[test]
    fn metadata_is_enriched_with_what_the_server_parsed() {
        let hub = Hub::new(HubConfig::default());
        let publisher = hub.publish(StreamKey::new("live", "x"), 1).unwrap();
        let encoder_meta = AmfObject::from_pairs([("framerate", Amf0Value::Number(30.0))]);
        let mut p = PublishState {
            stream_id: 1,
            publisher,
            last_media: Instant::now(),
            last_ts: None,
            metadata: Some((
                DataMessage {
                    name: "onMetaData".into(),
                    values: vec![Amf0Value::EcmaArray { count: 1, entries: encoder_meta }],
                },
                0,
            )),
            video: None,
            audio: None,
            video_frames: 0,
            fps_window: None,
            delays: Arc::default(),
            ingest: IngestClock::default(),
        };
        // A real AVC sequence header (320x240, from an FFmpeg-made FLV).
        let seq = bytes::Bytes::from_static(b"\x17\x00\x00\x00\x00\x01B\xc0\r\xff\xe1\x00\x16gB\xc0\r\xda\x05\x07\xec\x04@\x00\x00\x03\x00@\x00\x00\x0c\x83\xc5\n\xa8\x01\x00\x04h\xce\x0f\xc8");
        assert!(learn_codec(&mut p, &Frame::classify(FrameKind::Video, 0, seq)));
        let frame = p.enriched_metadata().unwrap();
        let data = DataMessage::decode(MessageType::DATA_AMF0, &frame.payload, &Default::default())
            .unwrap();
        let meta = data.metadata().unwrap();
        assert_eq!(meta.get("width").and_then(Amf0Value::as_number), Some(320.0));
        assert_eq!(meta.get("height").and_then(Amf0Value::as_number), Some(240.0));
        assert_eq!(meta.get("framerate").and_then(Amf0Value::as_number), Some(30.0));
        assert!(meta
            .get("server")
            .and_then(Amf0Value::as_str)
            .is_some_and(|s| s.starts_with("OpenRTMP")));
    }
}
