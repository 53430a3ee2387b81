//! Playback over HTTP: the server side of HTTP-FLV and WebSocket-FLV viewers, which the
//! HTTP API crate serves. A web viewer is authorised exactly as an RTMP `play` (names, ACL,
//! brute force, play token, callback), registered as a connection (listed, counted,
//! kickable, notified as `play_done` and `disconnect`), and fed through the stream's
//! [`MediaPump`], so a slow web viewer is treated as a slow RTMP viewer: it skips to
//! keyframes when it lags and is cut off after `viewer_disconnect_after`.
//!
//! Backpressure comes from the caller: it asks [`WebPlayer::next`] for more only when its
//! transport took the previous pieces (hyper polls a body stream only when it can write;
//! a WebSocket send completes once written). Meanwhile the viewer's cursor stays put and
//! the ring's lag policy applies at the next poll. A client that takes nothing at all is
//! cut by the transport's write timeout (`write_timeout`), as an RTMP viewer is.
//!
//! Output: the FLV header (flags from what the stream has), then what the pump gives:
//! onMetaData, sequence headers, the newest keyframe and what follows, timestamps as the
//! stream has them (like RTMP play; not rebased to 0), payloads shared (`web_play/flv.rs`).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use openrtmp_hub::{MediaPump, PumpConfig, PumpEvent, StreamKey};
use tokio::time::Instant;

use crate::auth::{AuthAction, AuthRequest, Notification, Verdict};
use crate::connection::{Close, Ended};
use crate::delay::StreamDelays;
use crate::registry::Registered;
use crate::shared::Shared;

mod flv;

use flv::FlvStream;

/// Payload bytes pulled from the hub per batch (as for an RTMP player).
const BATCH_BYTES: usize = 128 * 1024;
/// Events held while the stream has sent no audio or video to set the FLV header's flags
/// from (data messages only); beyond this the header goes out with neither flag.
const MAX_HELD_EVENTS: usize = 64;
/// Pump events kept room for between batches.
const KEEP_EVENTS: usize = 8;

/// How a web viewer receives the FLV byte stream: the `protocol` of its connection in the
/// API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebProtocol {
    /// A chunked HTTP response (`video/x-flv`).
    HttpFlv,
    /// Binary WebSocket messages.
    WsFlv,
}

impl WebProtocol {
    /// `http-flv` or `ws-flv`, as listed in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            WebProtocol::HttpFlv => "http-flv",
            WebProtocol::WsFlv => "ws-flv",
        }
    }
}

/// Why a web viewer was not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlayRefusal {
    /// Authorisation refused it (logged by the authorisation layer with the client IP,
    /// stream and reason).
    #[error("{reason}")]
    Denied {
        /// The refusal kind, as in the auth metrics: `bad_name`, `acl`, `brute_force`,
        /// `bad_token`, `callback_denied`, `callback_unavailable`.
        kind: &'static str,
        /// Why, in words (never a secret).
        reason: String,
    },
    /// Nobody publishes the stream now.
    #[error("no stream named {stream} is being published in {app}")]
    NotFound {
        /// The app.
        app: String,
        /// The stream.
        stream: String,
    },
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Over `limits.max_connections` or `limits.max_connections_per_ip` (web viewers count
    /// as connections, as RTMP players do).
    #[error("too many connections ({reason})")]
    Busy {
        /// Which limit, with the count.
        reason: String,
    },
}

/// One HTTP-FLV or WebSocket-FLV viewer: registered as a connection while it lives (drop it
/// when the client goes away).
#[derive(Debug)]
pub struct WebPlayer {
    shared: Arc<Shared>,
    registered: Registered,
    key: StreamKey,
    peer: SocketAddr,
    pump: MediaPump,
    delays: Arc<StreamDelays>,
    events: Vec<PumpEvent>,
    flv: FlvStream,
    /// When the stream's publisher left (`unpublished_wait` runs from here).
    unpublished_since: Option<Instant>,
    /// Why the playback ended, once it has (reported on drop; a viewer dropped without
    /// one went away itself).
    close: Option<Close>,
    /// Its place in the connection limits, released on drop.
    _counted: crate::limit::ConnectionGuard,
    span: tracing::Span,
}

impl crate::ServerHandle {
    /// Lets a web viewer play `app`/`stream`: authorises it as an RTMP `play` from `peer`
    /// (`query` is the request's query string, where a play token is read from), checks
    /// that the stream is live, and registers the viewer as a connection with `protocol`.
    /// A stream that is not published now is refused (`NotFound`) rather than waited for:
    /// an HTTP client has no status message to wait on.
    pub async fn open_web_player(
        &self,
        app: &str,
        stream: &str,
        query: Option<&str>,
        peer: SocketAddr,
        protocol: WebProtocol,
    ) -> Result<WebPlayer, PlayRefusal> {
        let shared = &self.shared;
        if shared.draining.is_cancelled() {
            return Err(PlayRefusal::ShuttingDown);
        }
        // Counted first, as an RTMP connection is at accept: the limits hold whatever the
        // mix of RTMP and web clients.
        let (counted, total, from_ip) = shared.counter.enter(peer.ip());
        let config = shared.config_arc();
        let over = if total > config.max_connections {
            Some(format!("{total} of at most {}", config.max_connections))
        } else if from_ip > config.max_connections_per_ip {
            Some(format!(
                "{from_ip} from {} of at most {}",
                peer.ip(),
                config.max_connections_per_ip
            ))
        } else {
            None
        };
        if let Some(reason) = over {
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%peer, proto = protocol.as_str(), reason, "web viewer refused: connection limit");
            return Err(PlayRefusal::Busy { reason });
        }
        let conn_id = shared.next_conn_id();
        let span = tracing::info_span!(
            "conn", conn_id, %peer, proto = protocol.as_str(), app, stream, role = "player"
        );
        let raw_stream = match query.filter(|q| !q.is_empty()) {
            Some(q) => format!("{stream}?{q}"),
            None => stream.to_owned(),
        };
        let request = AuthRequest {
            action: AuthAction::Play,
            app: app.to_owned(),
            stream: Some(raw_stream),
            tc_url: None,
            peer,
            conn_id,
        };
        let verdict = {
            let _entered = span.enter();
            shared.auth.authorize(request)
        };
        let (app, stream) = match verdict.await {
            Verdict::Allow { app, stream } => (app, stream.unwrap_or_default()),
            Verdict::Deny(denial) => {
                let kind = denial.kind.as_str();
                return Err(PlayRefusal::Denied { kind, reason: denial.reason });
            }
        };
        let key = StreamKey::new(&app, &stream);
        let not_found = || PlayRefusal::NotFound { app: app.clone(), stream: stream.clone() };
        // Checked before subscribing, so a refused viewer creates no awaited stream.
        if !shared.hub.stream(&key).is_some_and(|s| s.publishing) {
            return Err(not_found());
        }
        let subscriber = shared.hub.subscribe(key.clone(), conn_id).map_err(|_| not_found())?;
        let registered = shared.registry.register(conn_id, peer);
        registered.entry.web_player(protocol, &key);
        span.in_scope(|| tracing::info!("web viewer playing"));
        Ok(WebPlayer {
            shared: Arc::clone(shared),
            registered,
            delays: shared.delays.for_stream(&key),
            key,
            peer,
            pump: MediaPump::new(subscriber, PumpConfig { batch_bytes: BATCH_BYTES }),
            events: Vec::new(),
            flv: FlvStream::default(),
            unpublished_since: None,
            close: None,
            _counted: counted,
            span,
        })
    }
}

impl WebPlayer {
    /// The connection id (as in logs and `/api/v1/connections`).
    pub fn conn_id(&self) -> u64 {
        self.registered.entry.id
    }

    /// The stream played.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// Waits for the next pieces of the FLV byte stream and appends them to `out` (the FLV
    /// header first); each piece is a small header buffer or a shared payload. Returns
    /// `false` once the playback is over (kicked, too slow, the server shutting down, the
    /// stream unpublished for `unpublished_wait`): the caller then ends its response.
    /// Cancel-safe between calls only when nothing was appended.
    pub async fn next(&mut self, out: &mut Vec<Bytes>) -> bool {
        loop {
            if self.close.is_some() {
                return false;
            }
            let wait = self.shared.config().unpublished_wait;
            let deadline = self.unpublished_since.map(|t| t + wait);
            let entry = Arc::clone(&self.registered.entry);
            tokio::select! {
                biased;
                () = entry.kick.cancelled() => self.end(Close::Kicked),
                () = self.shared.draining.cancelled() => self.end(Close::Shutdown),
                () = sleep_until(deadline) => self.end(Close::UnpublishedWaitOver),
                () = self.pump.ready() => {
                    if self.poll(out) {
                        return true;
                    }
                }
            }
        }
    }

    /// The transport could not write (a write timeout or a socket error): the viewer ends
    /// with that reason when dropped.
    pub fn transport_failed(&mut self, error: &std::io::Error) {
        if self.close.is_none() {
            let kind = if error.kind() == std::io::ErrorKind::TimedOut {
                Close::WriteStalled
            } else {
                Close::Io(std::io::Error::new(error.kind(), error.to_string()))
            };
            self.close = Some(kind);
        }
    }

    fn end(&mut self, close: Close) {
        self.close = Some(close);
    }

    /// One batch from the pump into `out`; true if something was appended.
    fn poll(&mut self, out: &mut Vec<Bytes>) -> bool {
        let _entered = self.span.clone().entered();
        let now = Instant::now().into_std();
        // Events are drained once written; before the FLV header some may be held (below).
        let batch = self.pump.poll_batch(now, &mut self.events);
        if let Some(slow) = batch.too_slow {
            tracing::warn!(
                behind_ms = slow.behind_ms,
                lagging_ms = slow.lagging_ms,
                dropped = self.pump.stats().dropped_frames,
                "web viewer too slow: disconnecting"
            );
            self.end(Close::TooSlow {
                behind_ms: slow.behind_ms,
                for_ms: u64::from(slow.lagging_ms),
            });
            return false;
        }
        let before = out.len();
        if !self.flv.started() {
            let frames = self.events.iter().filter_map(|e| match e {
                PumpEvent::Frame { frame, .. } => Some(frame.kind),
                _ => None,
            });
            let (mut audio, mut video) = flv::kinds(frames);
            if let Some(info) = self.shared.hub.stream(&self.key) {
                (audio, video) = (audio || info.audio.is_some(), video || info.video.is_some());
            }
            if !audio && !video && self.events.len() < MAX_HELD_EVENTS {
                // Nothing to tell the flags from yet (no media so far, only metadata, or a
                // spurious wakeup): hold what came and wait for media.
                return false;
            }
            self.flv.start(audio, video, out);
        }
        for event in self.events.drain(..) {
            match event {
                PumpEvent::Frame { frame, catch_up } => {
                    if let Some(arrived) = frame.received {
                        let delay = now.saturating_duration_since(arrived);
                        let histogram = if catch_up {
                            &self.delays.catch_up
                        } else {
                            &self.delays.distribution
                        };
                        histogram.record(delay);
                    }
                    self.flv.tag(&frame, out);
                }
                PumpEvent::Unpublished => {
                    tracing::info!("publisher left: web viewer waits for unpublished_wait");
                    self.unpublished_since = Some(Instant::now());
                }
                PumpEvent::Published => {
                    tracing::info!("publisher (re)started");
                    self.unpublished_since = None;
                }
            }
        }
        // A join batch holds a hundred events or so: do not keep that room for the viewer's life.
        self.events.shrink_to(KEEP_EVENTS);
        self.flv.finish_batch(out);
        self.account(out.get(before..).unwrap_or_default());
        out.len() > before
    }

    /// Bytes out and drops into the connection's and the server's counters; lag into the
    /// API.
    fn account(&mut self, pieces: &[Bytes]) {
        let bytes: usize = pieces.iter().map(Bytes::len).sum();
        let entry = &self.registered.entry;
        entry.add_out(bytes);
        self.shared.stats.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
        let new_drops = self.pump.take_new_drops();
        if new_drops > 0 {
            self.shared.stats.dropped_frames.fetch_add(new_drops, Ordering::Relaxed);
        }
        let stats = self.pump.stats();
        entry.dropped_frames.store(stats.dropped_frames, Ordering::Relaxed);
        entry.lag_ms.store(stats.backlog_ms, Ordering::Relaxed);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl Drop for WebPlayer {
    /// Reports the end as a connection's: the close table's log line and metric, then the
    /// `play_done` and `disconnect` notifications.
    fn drop(&mut self) {
        let _entered = self.span.clone().entered();
        let close = self.close.take().unwrap_or(Close::PeerClosed);
        let entry = &self.registered.entry;
        let bytes_out = entry.bytes_out.load(Ordering::Relaxed);
        let duration = entry.opened.elapsed();
        self.shared.auth.notify(Notification::PlayDone {
            app: self.key.app.clone(),
            stream: self.key.name.clone(),
            peer: self.peer,
            conn_id: entry.id,
            duration,
            bytes_out,
        });
        let ended = Ended {
            peer: self.peer,
            conn_id: entry.id,
            app: Some(self.key.app.clone()),
            opened: Instant::now() - duration,
            bytes: (0, bytes_out),
        };
        ended.report(&self.shared, &close);
    }
}
