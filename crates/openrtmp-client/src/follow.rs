//! Publishing that follows the server's reconnect request (Enhanced RTMP v2, "Reconnect
//! Request": onStatus `NetConnection.Connect.ReconnectRequest`), make-before-break.
//!
//! A draining or remapping server asks its publishers to move. Closing and reconnecting
//! would leave the players a hole of a TCP connect, a handshake, `connect`, `publish` and
//! a whole GOP; instead the new connection is opened and publishes (in the background)
//! while frames keep going to the old one, and sending switches at the next keyframe
//! (the first frame a player of the new server can decode), after the stream headers are
//! replayed there. Timestamps stay on the same timeline. The old connection is then
//! unpublished (`FCUnpublish`, `deleteStream`) and closed. The spec's message flow (step
//! 2: keep streaming "up to the next appropriate media boundary, such as a keyframe",
//! then connect and disconnect) allows the new connection to be made first (step 3).
//!
//! A new connection that fails leaves the old one running (the old server keeps serving
//! until we leave, step 1); the old one is dropped only when the new one publishes.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use openrtmp_media::{parse_audio, parse_video};
use openrtmp_proto::command::{PublishType, StatusLevel};
use openrtmp_proto::message::{Message, MessageType};
use openrtmp_proto::session::ClientEvent;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::connection::{ClientError, ConnectOptions, Connection};
use crate::url::RtmpUrl;

/// How many reconnect requests are followed within [`DEFAULT_REDIRECT_WINDOW`].
pub const DEFAULT_MAX_REDIRECTS: u32 = 3;
/// The window of the redirect limit.
pub const DEFAULT_REDIRECT_WINDOW: Duration = Duration::from_secs(60);
/// Time allowed to unpublish and close a connection we left: a server that stopped
/// reading must not keep the task (and its buffers) alive.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The loop guard: two servers that send a client to each other (a misconfigured cluster)
/// would otherwise keep it moving forever, each move costing the players a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowLimits {
    /// Requests followed within `window`; more are ignored (logged) and the publisher
    /// stays where it is.
    pub max_redirects: u32,
    /// The sliding window the limit counts over.
    pub window: Duration,
}

impl Default for FollowLimits {
    fn default() -> Self {
        FollowLimits { max_redirects: DEFAULT_MAX_REDIRECTS, window: DEFAULT_REDIRECT_WINDOW }
    }
}

/// The loop guard's memory: when requests were followed, within the window.
#[derive(Debug, Default)]
struct Guard {
    followed_at: VecDeque<Instant>,
}

impl Guard {
    /// Whether a request may be followed at `now` (and if so, counts it).
    fn allow(&mut self, limits: &FollowLimits, now: Instant) -> bool {
        while self.followed_at.front().is_some_and(|t| now.duration_since(*t) >= limits.window) {
            self.followed_at.pop_front();
        }
        if self.followed_at.len() >= limits.max_redirects as usize {
            return false;
        }
        self.followed_at.push_back(now);
        true
    }
}

/// What a message is, for switching and for the headers a new server needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Metadata,
    AudioHeader,
    VideoHeader,
    Keyframe,
    Video,
    Audio,
}

impl Kind {
    fn of(message: &Message) -> Kind {
        match message.type_id {
            MessageType::VIDEO => match parse_video(&message.payload) {
                Ok(v) if v.is_sequence_header() => Kind::VideoHeader,
                Ok(v) if v.is_keyframe() => Kind::Keyframe,
                _ => Kind::Video,
            },
            MessageType::AUDIO => match parse_audio(&message.payload) {
                Ok(a) if a.is_sequence_header() => Kind::AudioHeader,
                _ => Kind::Audio,
            },
            _ => Kind::Metadata,
        }
    }
}

/// The latest metadata and sequence headers sent: replayed on a new connection before its
/// first frame (a player of the new server cannot decode without them).
#[derive(Debug, Default)]
struct Headers {
    metadata: Option<Message>,
    audio: Option<Message>,
    video: Option<Message>,
}

impl Headers {
    fn remember(&mut self, kind: Kind, message: &Message) {
        let slot = match kind {
            Kind::Metadata => &mut self.metadata,
            Kind::AudioHeader => &mut self.audio,
            Kind::VideoHeader => &mut self.video,
            _ => return,
        };
        *slot = Some(message.clone());
    }

    fn all(&self) -> impl Iterator<Item = &Message> {
        [&self.metadata, &self.audio, &self.video].into_iter().flatten()
    }
}

/// A new connection being made (connect + publish) in its own task; aborted if dropped.
struct Pending {
    url: RtmpUrl,
    task: JoinHandle<Result<Connection, ClientError>>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A publishing connection that follows reconnect requests (see the module docs): send
/// media with [`send`](Self::send), wait between frames with
/// [`wait_until`](Self::wait_until) (or check the servers with
/// [`poll_servers`](Self::poll_servers) when sending as fast as possible), and end with
/// [`close`](Self::close).
pub struct FollowingPublisher {
    active: Connection,
    options: ConnectOptions,
    limits: FollowLimits,
    guard: Guard,
    pending: Option<Pending>,
    /// Connected and publishing, waiting for the next switch point.
    next: Option<Connection>,
    headers: Headers,
    /// Whether the stream has video: if not, any audio frame is a switch point.
    has_video: bool,
    /// The timestamp of the last message sent (for headers replayed on a forced switch).
    last_timestamp: u32,
    switches: u32,
    /// Reconnect requests followed (new connections attempted).
    attempts: u32,
    /// Connections left behind, being unpublished and closed.
    closing: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for FollowingPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FollowingPublisher")
            .field("url", &self.active.url().to_string())
            .field("switches", &self.switches)
            .finish_non_exhaustive()
    }
}

impl FollowingPublisher {
    /// Connects to `url` announcing reconnect support (whatever `options.reconnect` says)
    /// and publishes `url.stream` (live).
    pub async fn connect(
        url: &RtmpUrl,
        options: ConnectOptions,
        limits: FollowLimits,
    ) -> Result<Self, ClientError> {
        let name = url.require_stream()?.to_owned();
        let options = ConnectOptions { reconnect: true, ..options };
        let mut active = Connection::connect(url, options.clone()).await?;
        active.publish(&name, PublishType::Live).await?;
        Ok(FollowingPublisher {
            active,
            options,
            limits,
            guard: Guard::default(),
            pending: None,
            next: None,
            headers: Headers::default(),
            has_video: false,
            last_timestamp: 0,
            switches: 0,
            attempts: 0,
            closing: Vec::new(),
        })
    }

    /// The URL of the server published to now (changes at each switch).
    pub fn url(&self) -> &RtmpUrl {
        self.active.url()
    }

    /// How many times sending moved to another connection.
    pub fn switches(&self) -> u32 {
        self.switches
    }

    /// How many reconnect requests were followed (new connections attempted, whether they
    /// succeeded or not; requests ignored by the loop guard or for an unusable tcUrl are
    /// not counted).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Sends an audio, video or data message (timestamps as the caller's timeline: they
    /// continue unchanged across a switch). Switches to a new connection that is ready
    /// when `message` is a keyframe (any audio frame for a stream without video).
    pub async fn send(&mut self, message: &Message) -> Result<(), ClientError> {
        let kind = Kind::of(message);
        self.headers.remember(kind, message);
        self.has_video |= matches!(kind, Kind::VideoHeader | Kind::Keyframe | Kind::Video);
        self.collect_pending();
        let switch_point = kind == Kind::Keyframe || (kind == Kind::Audio && !self.has_video);
        if switch_point && self.next.is_some() {
            self.switch(message.timestamp);
        }
        self.last_timestamp = message.timestamp;
        self.active.session().send_media(message).map_err(|_| ClientError::Refused {
            code: "NetStream.Publish.Failed".into(),
            description: "the server stopped the publication".into(),
        })?;
        match self.active.flush().await {
            Ok(()) => Ok(()),
            Err(e) => self.lost(e).await,
        }
    }

    /// Waits until `due` while handling what the servers send (acknowledgements, pings,
    /// reconnect requests, errors) and the progress of a new connection.
    pub async fn wait_until(&mut self, due: Instant) -> Result<(), ClientError> {
        loop {
            self.handle_events()?;
            if let Err(e) = self.active.flush().await {
                self.lost(e).await?;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(due) => return Ok(()),
                read = self.active.read_input() => self.on_active_read(read).await?,
                read = read_opt(self.next.as_mut()) => self.on_next_read(read),
                joined = join_opt(self.pending.as_mut()) => {
                    if let Some(pending) = self.pending.take() {
                        self.on_pending_done(&pending.url, joined);
                    }
                }
            }
        }
    }

    /// Handles what the servers sent so far, without waiting.
    pub async fn poll_servers(&mut self) -> Result<(), ClientError> {
        if let Ok(read) = tokio::time::timeout(Duration::ZERO, self.active.read_input()).await {
            self.on_active_read(read).await?;
        }
        if let Some(next) = self.next.as_mut() {
            if let Ok(read) = tokio::time::timeout(Duration::ZERO, next.read_input()).await {
                self.on_next_read(read);
            }
        }
        self.collect_pending();
        self.handle_events()
    }

    /// Unpublishes and closes the connection (and one being made or waiting for its
    /// switch), and waits for the connections left behind to close.
    pub async fn close(self) -> Result<(), ClientError> {
        let FollowingPublisher { active, pending, next, closing, .. } = self;
        drop(pending);
        if let Some(next) = next {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, next.close()).await;
        }
        let result = active.close().await;
        for task in closing {
            let _ = task.await;
        }
        result
    }

    /// Moves sending to the new connection: headers first, then (by the caller) the frame.
    fn switch(&mut self, timestamp: u32) {
        let Some(mut next) = self.next.take() else { return };
        for header in self.headers.all() {
            // At the switch frame's time: the new server's timeline starts there.
            let _ = next.session().send_media(&Message { timestamp, ..header.clone() });
        }
        let old = std::mem::replace(&mut self.active, next);
        self.switches += 1;
        tracing::info!(
            from = %old.url(),
            to = %self.active.url(),
            timestamp,
            "switched publishing to the new server"
        );
        self.closing.push(tokio::spawn(async move {
            let url = old.url().to_string();
            match tokio::time::timeout(CLOSE_TIMEOUT, old.close()).await {
                Ok(Ok(())) => tracing::debug!(server = %url, "closed the connection we left"),
                Ok(Err(e)) => {
                    tracing::debug!(server = %url, error = %e, "closing the connection we left")
                }
                Err(_) => {
                    tracing::debug!(server = %url, "the server we left did not take the close")
                }
            }
        }));
    }

    /// The active connection failed: switch at once to a new connection if there is one
    /// (or one being made), else fail.
    async fn lost(&mut self, error: ClientError) -> Result<(), ClientError> {
        if let Some(mut pending) = self.pending.take() {
            // Bounded by the connect and command timeouts of the task.
            let joined = (&mut pending.task).await;
            self.on_pending_done(&pending.url, joined);
        }
        if self.next.is_none() {
            return Err(error);
        }
        tracing::warn!(
            server = %self.active.url(),
            %error,
            "the server closed the connection before the switch point; switching now"
        );
        self.switch(self.last_timestamp);
        self.active.flush().await
    }

    async fn on_active_read(&mut self, read: Result<bool, ClientError>) -> Result<(), ClientError> {
        match read {
            Ok(true) => Ok(()),
            Ok(false) => {
                let addr = self.active.url().authority();
                self.lost(ClientError::Closed { addr }).await
            }
            Err(e) => self.lost(e).await,
        }
    }

    fn on_next_read(&mut self, read: Result<bool, ClientError>) {
        let error = match read {
            Ok(true) => return,
            Ok(false) => "the server closed the connection".to_owned(),
            Err(e) => e.to_string(),
        };
        if let Some(next) = self.next.take() {
            tracing::warn!(
                server = %next.url(),
                %error,
                "the new connection failed before the switch; staying on the current one"
            );
        }
    }

    /// Takes the result of a finished connection attempt, without waiting.
    fn collect_pending(&mut self) {
        if !self.pending.as_ref().is_some_and(|p| p.task.is_finished()) {
            return;
        }
        if let Some(mut pending) = self.pending.take() {
            // Finished: ready at once.
            if let Some(joined) = futures_now(&mut pending.task) {
                self.on_pending_done(&pending.url, joined);
            }
        }
    }

    fn on_pending_done(
        &mut self,
        url: &RtmpUrl,
        joined: Result<Result<Connection, ClientError>, tokio::task::JoinError>,
    ) {
        match joined {
            Ok(Ok(conn)) => {
                tracing::info!(server = %conn.url(), "publishing on the new server; switching at the next keyframe");
                self.next = Some(conn);
            }
            Ok(Err(e)) => tracing::warn!(
                server = %url,
                error = %e,
                "could not follow the reconnect request; staying on the current server"
            ),
            Err(e) => tracing::warn!(server = %url, error = %e, "the reconnect task failed"),
        }
    }

    fn handle_events(&mut self) -> Result<(), ClientError> {
        while let Some(event) = self.active.session().poll_event() {
            match event {
                ClientEvent::ReconnectRequest { tc_url, description } => {
                    self.follow(tc_url.as_deref(), description.as_deref())
                }
                ClientEvent::Status { level, code, description, .. } => {
                    if level == StatusLevel::Error.as_str() {
                        return Err(ClientError::Refused { code, description });
                    }
                    // The code only: servers quote the stream name, key included, in
                    // descriptions (OpenRTMP's NetStream.Publish.Start does).
                    tracing::info!(%code, "server status");
                }
                _ => {}
            }
        }
        let mut failed = None;
        if let Some(next) = self.next.as_mut() {
            while let Some(event) = next.session().poll_event() {
                if let ClientEvent::Status { level, code, .. } = event {
                    if level == StatusLevel::Error.as_str() {
                        failed = Some(code);
                    }
                }
            }
        }
        if let Some(code) = failed {
            self.on_next_read(Err(ClientError::Refused {
                code,
                description: "the new server stopped the publication".into(),
            }));
        }
        Ok(())
    }

    /// Starts following a reconnect request, unless one is being followed already or the
    /// loop guard says no.
    fn follow(&mut self, tc_url: Option<&str>, description: Option<&str>) {
        let current = self.active.url().clone();
        if self.pending.is_some() || self.next.is_some() {
            tracing::debug!(server = %current, "already following a reconnect request");
            return;
        }
        let target = match current.reconnect_target(tc_url) {
            Ok(target) => target,
            Err(e) => {
                tracing::warn!(server = %current, error = %e, "ignoring a reconnect request");
                return;
            }
        };
        if !self.guard.allow(&self.limits, Instant::now()) {
            tracing::warn!(
                server = %current,
                limit = self.limits.max_redirects,
                window_secs = self.limits.window.as_secs(),
                "ignoring a reconnect request: too many within the window (a redirect loop?)"
            );
            return;
        }
        tracing::info!(
            from = %current,
            description = description.unwrap_or_default(),
            "following reconnect request to {target}"
        );
        self.attempts += 1;
        let (options, url) = (self.options.clone(), target.clone());
        let task = tokio::spawn(async move {
            let mut conn = Connection::connect(&url, options).await?;
            conn.publish(&url.stream, PublishType::Live).await?;
            Ok(conn)
        });
        self.pending = Some(Pending { url: target, task });
    }
}

/// The output of a future that is ready, without an async context.
fn futures_now<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(future).poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

/// Reads from `conn`, or waits forever without one (a `select!` branch that is off).
async fn read_opt(conn: Option<&mut Connection>) -> Result<bool, ClientError> {
    match conn {
        Some(conn) => conn.read_input().await,
        None => std::future::pending().await,
    }
}

/// Waits for the connection attempt, or forever without one.
async fn join_opt(
    pending: Option<&mut Pending>,
) -> Result<Result<Connection, ClientError>, tokio::task::JoinError> {
    match pending {
        Some(p) => (&mut p.task).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loop_guard_allows_a_few_moves_per_window() {
        let limits = FollowLimits { max_redirects: 3, window: Duration::from_secs(60) };
        let mut guard = Guard::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(guard.allow(&limits, at(0)));
        assert!(guard.allow(&limits, at(1)));
        assert!(guard.allow(&limits, at(2)));
        assert!(!guard.allow(&limits, at(3)), "a fourth within the minute is a loop");
        assert!(!guard.allow(&limits, at(59)));
        // The first one left the window: room for one more.
        assert!(guard.allow(&limits, at(60)));
        assert!(!guard.allow(&limits, at(60)));
        let none = FollowLimits { max_redirects: 0, ..limits };
        assert!(!Guard::default().allow(&none, t0), "0 follows nothing");
    }

    fn message(type_id: MessageType, payload: &'static [u8]) -> Message {
        Message {
            csid: 6,
            timestamp: 0,
            type_id,
            stream_id: 1,
            payload: bytes::Bytes::from_static(payload),
        }
    }

    #[test]
    fn messages_are_told_apart_for_switching_and_replay() {
        let cases = [
            (message(MessageType::VIDEO, b"\x17\x00\x00\x00\x00\x01"), Kind::VideoHeader),
            (message(MessageType::VIDEO, b"\x17\x01\x00\x00\x00\x65"), Kind::Keyframe),
            (message(MessageType::VIDEO, b"\x27\x01\x00\x00\x00\x41"), Kind::Video),
            (message(MessageType::AUDIO, b"\xaf\x00\x12\x10"), Kind::AudioHeader),
            (message(MessageType::AUDIO, b"\xaf\x01\x21"), Kind::Audio),
            (message(MessageType::DATA_AMF0, b"\x02\x00\x01x"), Kind::Metadata),
        ];
        let mut headers = Headers::default();
        for (m, kind) in &cases {
            assert_eq!(Kind::of(m), *kind, "{:?}", m.payload);
            headers.remember(*kind, m);
        }
        let replayed: Vec<MessageType> = headers.all().map(|m| m.type_id).collect();
        assert_eq!(replayed, [MessageType::DATA_AMF0, MessageType::AUDIO, MessageType::VIDEO]);
    }
}
