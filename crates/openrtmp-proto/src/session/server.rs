//! The server side of an RTMP connection.
//!
//! # Commands on a message stream that was never created
//!
//! Message streams exist once `createStream` (§7.2.1.3) returned their id, until
//! `deleteStream` (§7.2.2.3); stream 0 is the NetConnection itself. Some encoders (hardware
//! ones among them) `publish` or `play` on an id they never created: that id is taken as
//! created while the connection is under its stream limit (`SessionLimits::max_streams`).
//! Every other NetStream command on an id that does not exist (0xFFFFFFFF, or 5 when only 1
//! was created) gets one answer, so no client waits for a reply that never comes, and the
//! connection stays up:
//!
//! - `publish` on stream 0, or on a new id past the stream limit: onStatus
//!   `NetStream.Publish.BadName` (level error) on that stream id, the code publishers
//!   already handle for "this publish cannot happen";
//! - `play` on stream 0 or past the limit: onStatus `NetStream.Play.Failed` on that stream id
//!   (not `StreamNotFound`: the name may well exist, the message stream does not);
//! - any other command with a transaction id above 0: `_error` with
//!   `NetConnection.Call.Failed`, on the stream id it arrived on;
//! - commands with transaction id 0, which expect no answer (`closeStream`, `deleteStream`,
//!   `pause`, `seek`, `receiveAudio`, ...): ignored, logged at debug.
//!
//! Each description names the stream id. Media and data messages on such ids are dropped.
//!
//! # Timers
//!
//! Time is passed in: [`ServerSession::new`], [`ServerSession::handle_input`] and the
//! decisions take `now`, the session arms its [`Timer`]s from it, the driver sleeps until
//! [`ServerSession::poll_timeout`] and then calls [`ServerSession::handle_timeout`]. An
//! expired timer closes the session with [`SessionError::TimedOut`] (disposition
//! [`Close`](super::Disposition::Close)).

mod decision;
mod event;
mod inbound;
mod output;
mod streams;

pub use event::ServerEvent;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use openrtmp_amf::Amf0Value;

use super::timer::{Timer, TimerTable};
use super::wire::{Progress, Wire};
use super::{
    aggregate::split_aggregate, RequestId, SessionError, SessionLimits, DEFAULT_WINDOW_ACK_SIZE,
};
use crate::chunk::ChunkOutput;
use crate::command::{self, Command, EnhancedCaps, StatusCode};
use crate::control::{ControlMessage, UserControl};
use crate::handshake::ServerHandshake;
use crate::message::{Message, MessageType};

/// Settings of a [`ServerSession`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Outbound chunk size announced right after connect; clamped to
    /// [`OUTBOUND_CHUNK_SIZES`](crate::chunk::OUTBOUND_CHUNK_SIZES) (default [`DEFAULT_CHUNK_SIZE`](super::DEFAULT_CHUNK_SIZE)).
    pub chunk_size: u32,
    /// Window Acknowledgement Size we announce.
    pub window_ack_size: u32,
    /// Peer bandwidth we announce (Set Peer Bandwidth, dynamic).
    pub peer_bandwidth: u32,
    /// Parser limits.
    pub limits: SessionLimits,
    /// What we answer to Enhanced RTMP clients. Shared: every session of a server answers
    /// the same, and a copy per connection cost a dozen small allocations (about 800 bytes).
    pub enhanced: Arc<EnhancedCaps>,
    /// [`Timer::Handshake`]: the handshake must complete this long after the session was
    /// created. Default 10 s.
    pub handshake_timeout: Duration,
    /// [`Timer::Connect`]: `connect` must be accepted this long after the handshake.
    /// Default 10 s.
    pub connect_timeout: Duration,
    /// [`Timer::Idle`]: a connected client that neither publishes nor plays is closed after
    /// this long. Default 30 s.
    pub idle_timeout: Duration,
    /// [`Timer::PublisherSilence`]: a publisher that completes no audio or video message for
    /// this long has left. Default 5 s.
    pub publisher_timeout: Duration,
}

/// Default for [`ServerConfig::handshake_timeout`].
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`ServerConfig::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`ServerConfig::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default for [`ServerConfig::publisher_timeout`].
pub const DEFAULT_PUBLISHER_TIMEOUT: Duration = Duration::from_secs(5);

/// [`EnhancedCaps::relay_server`], built once and shared by every default [`ServerConfig`].
fn relay_server_caps() -> Arc<EnhancedCaps> {
    static CAPS: OnceLock<Arc<EnhancedCaps>> = OnceLock::new();
    Arc::clone(CAPS.get_or_init(|| Arc::new(EnhancedCaps::relay_server())))
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            chunk_size: super::DEFAULT_CHUNK_SIZE,
            window_ack_size: DEFAULT_WINDOW_ACK_SIZE,
            peer_bandwidth: DEFAULT_WINDOW_ACK_SIZE,
            limits: SessionLimits::default(),
            enhanced: relay_server_caps(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            publisher_timeout: DEFAULT_PUBLISHER_TIMEOUT,
        }
    }
}

/// What a message stream of this connection is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRole {
    /// Created, nothing requested yet (or stopped).
    Idle,
    /// publish requested, waiting for a decision.
    PublishPending(String),
    /// Publishing the named stream.
    Publishing(String),
    /// play requested, waiting for a decision.
    PlayPending(String),
    /// Playing the named stream.
    Playing(String),
}

#[derive(Debug)]
enum State {
    ExpectConnect,
    ConnectPending,
    Connected,
    Closed,
}

#[derive(Debug, Clone)]
enum Pending {
    Connect { transaction_id: f64, object_encoding: f64, caps: EnhancedCaps },
    Publish { stream_id: u32, name: String },
    Play { stream_id: u32, name: String, reset: bool },
}

/// Sans-IO server side of one RTMP connection (RTMP 1.0 §5.2, §5.3, §7).
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    state: State,
    wire: Wire<ServerHandshake>,
    events: VecDeque<ServerEvent>,
    streams: BTreeMap<u32, StreamRole>,
    next_stream_id: u32,
    next_request: u64,
    /// The decision asked for and not yet made. At most one: [`drain`](Self::drain) handles
    /// no further message while one is pending, so no second request can be made. Inline
    /// rather than a map: a map's first node (about 1 KiB) stayed allocated for the
    /// connection's life after the connect decision.
    pending: Option<(RequestId, Pending)>,
    peer_caps: EnhancedCaps,
    app: Option<String>,
    /// Deadlines; all disarmed once the session is closed.
    timers: TimerTable,
    /// The time of the input being handled (the `now` of the latest call that took one).
    now: Instant,
}

impl ServerSession {
    /// A session for a connection accepted at `now` (the handshake deadline starts then).
    /// `epoch` goes into S1's time field; `random` (at least 1528 bytes from the driver's
    /// RNG) fills S1 and S2.
    pub fn new(config: ServerConfig, now: Instant, epoch: u32, random: &[u8]) -> Self {
        let wire = Wire::new(ServerHandshake::new(epoch, random), config.limits.chunk.clone());
        let mut timers = TimerTable::default();
        timers.set(Timer::Handshake, now + config.handshake_timeout);
        ServerSession {
            config,
            state: State::ExpectConnect,
            wire,
            events: VecDeque::new(),
            streams: BTreeMap::new(),
            next_stream_id: 1,
            next_request: 1,
            pending: None,
            peer_caps: EnhancedCaps::default(),
            app: None,
            timers,
            now,
        }
    }

    /// Feeds bytes read from the socket at `now`. On error the session is dead: the driver
    /// logs the error and handles the connection per [`SessionError::disposition`].
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), SessionError> {
        self.feed(now, 0, |wire| wire.handle_input(data))
    }

    /// The buffer the driver may read the socket straight into, saving the copy of
    /// [`handle_input`](Self::handle_input): append (never remove), then call
    /// [`handle_read`](Self::handle_read). Large media messages become slices of it.
    pub fn input_buffer(&mut self) -> &mut BytesMut {
        self.wire.input_buffer()
    }

    /// Handles `n` bytes read at `now` into [`input_buffer`](Self::input_buffer); otherwise
    /// the same as [`handle_input`](Self::handle_input).
    pub fn handle_read(&mut self, now: Instant, n: usize) -> Result<(), SessionError> {
        self.feed(now, n, |wire| wire.handle_appended(n))
    }

    /// Hands new input to the wire (`fresh` bytes of it already appended to the buffer)
    /// and acts on the outcome. Input while a decision is pending is an error once more
    /// than the reassembly budget waits (the driver stops reading then).
    fn feed(
        &mut self,
        now: Instant,
        fresh: usize,
        input: impl FnOnce(
            &mut Wire<ServerHandshake>,
        ) -> Result<Progress<ServerHandshake>, SessionError>,
    ) -> Result<(), SessionError> {
        self.now = now;
        let buffered = self.wire.decoder.buffered_bytes().saturating_sub(fresh);
        if self.is_waiting() && buffered > self.config.limits.chunk.reassembly_budget {
            return self.fail(Err(SessionError::InputWhileWaiting { buffered }));
        }
        match input(&mut self.wire) {
            Ok(Progress::Handshaking) => Ok(()),
            Ok(Progress::HandshakeDone(handshake)) => {
                if let Some(scheme) = handshake.scheme() {
                    let client_version = handshake.peer_version().filter(|v| *v != [0; 4]);
                    self.events.push_back(ServerEvent::HandshakeDone { scheme, client_version });
                }
                self.timers.stop(Timer::Handshake);
                self.timers.set(Timer::Connect, now + self.config.connect_timeout);
                self.resume()
            }
            Ok(Progress::Chunks) => self.resume(),
            Err(e) => self.fail(Err(e)),
        }
    }

    /// Handles buffered messages until a decision is pending (messages after a pending
    /// connect/publish/play wait in the decoder, so a publisher's first media is never
    /// dropped while its authorisation is being decided).
    fn drain(&mut self) -> Result<(), SessionError> {
        while !self.is_waiting() && !matches!(self.state, State::Closed) {
            match self.wire.poll_message()? {
                Some(msg) => self.handle_message(msg)?,
                None => break,
            }
        }
        self.wire.acknowledge();
        Ok(())
    }

    /// Whether a decision (connect, publish, play) is pending. While it is, the session
    /// handles no further messages; the driver should stop reading from the socket (TCP
    /// back-pressure) until it has called `accept_*`/`reject_*`.
    pub fn is_waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// Handles what arrived (or waited for a decision), keeping the first error, then
    /// re-arms the timers for the state it left.
    fn resume(&mut self) -> Result<(), SessionError> {
        self.wire.check()?;
        let result = self.drain();
        let result = self.fail(result);
        self.update_timers();
        result
    }

    /// Records an error: the session is closed for good.
    fn fail(&mut self, result: Result<(), SessionError>) -> Result<(), SessionError> {
        if result.is_err() {
            self.state = State::Closed;
            self.timers.stop_all();
        }
        self.wire.record(result)
    }

    /// The earliest deadline of an armed [`Timer`]: the driver calls
    /// [`handle_timeout`](Self::handle_timeout) once it has passed. `None` when nothing is
    /// timed (a playing or closed connection). Changes after every call that takes `now`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// Tells the session the time is `now`. If a timer's deadline is at or before `now`, the
    /// session closes and returns [`SessionError::TimedOut`] naming it (the earliest, if
    /// several expired).
    ///
    /// The shape is [`handle_input`](Self::handle_input)'s: the error is returned and
    /// recorded, later calls return it again and [`is_closed`](Self::is_closed) is true, so a
    /// driver handles a timeout like any other session error (its
    /// [`disposition`](SessionError::disposition) is to close without flushing). Calling it
    /// early or repeatedly is harmless.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        self.wire.check()?;
        self.now = now;
        let Some(timer) = self.timers.expired(now) else {
            return Ok(());
        };
        tracing::debug!(?timer, "session timer expired");
        self.fail(Err(SessionError::TimedOut { timer }))
    }

    /// Arms or disarms [`Timer::Idle`] and [`Timer::PublisherSilence`] for the current state.
    /// Handshake and Connect are set where their phase starts and ends.
    fn update_timers(&mut self) {
        if self.is_closed() {
            self.timers.stop_all();
            return;
        }
        let publishing = self.is_publishing();
        let playing = self.streams.values().any(|r| matches!(r, StreamRole::Playing(_)));
        if !publishing {
            self.timers.stop(Timer::PublisherSilence);
        }
        let idle =
            matches!(self.state, State::Connected) && !publishing && !playing && !self.is_waiting();
        if !idle {
            self.timers.stop(Timer::Idle);
        } else if self.timers.get(Timer::Idle).is_none() {
            // From the moment it became idle; later commands do not move it.
            self.timers.set(Timer::Idle, self.now + self.config.idle_timeout);
        }
    }

    /// The next event, if any.
    ///
    /// Once the queue is drained its buffer (room for at least four events, about 600 bytes)
    /// is released unless a stream is publishing: idle and playing connections get an event
    /// now and then and should not hold it for their whole life; a publisher gets one per
    /// media message and keeps it.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        let event = self.events.pop_front();
        if event.is_none() && self.events.capacity() > 0 && !self.is_publishing() {
            self.events = VecDeque::new();
        }
        event
    }

    /// Capacity of the event queue (tests pin what an idle session keeps).
    #[cfg(test)]
    pub(crate) fn event_capacity(&self) -> usize {
        self.events.capacity()
    }

    /// Whether a message stream is publishing.
    fn is_publishing(&self) -> bool {
        self.streams.values().any(|r| matches!(r, StreamRole::Publishing(_)))
    }

    /// Bytes to write: header bytes and shared payload slices. Write with `write_vectored`
    /// using [`ChunkOutput::io_slices`], then [`ChunkOutput::advance`].
    pub fn transmit(&mut self) -> &mut ChunkOutput {
        &mut self.wire.out
    }

    /// Whether the session ended (error, rejected connect): flush then close.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The `app` of the accepted connect.
    pub fn app(&self) -> Option<&str> {
        self.app.as_deref()
    }

    /// What the client announced about Enhanced RTMP.
    pub fn peer_caps(&self) -> &EnhancedCaps {
        &self.peer_caps
    }

    /// Role of a message stream.
    pub fn stream_role(&self, stream_id: u32) -> Option<&StreamRole> {
        self.streams.get(&stream_id)
    }

    /// Total bytes received (for metrics).
    pub fn bytes_received(&self) -> u64 {
        self.wire.decoder.bytes_received()
    }

    fn request(&mut self, pending: Pending) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.pending = Some((id, pending));
        id
    }

    /// Marks the session closed (the driver flushes and closes the socket).
    pub fn close(&mut self) {
        self.state = State::Closed;
        self.timers.stop_all();
    }

    fn send_control(&mut self, control: ControlMessage) {
        self.wire.send_control(control);
    }

    fn send_command(&mut self, stream_id: u32, payload: bytes::Bytes) {
        self.wire.send_command(stream_id, payload);
    }
}

/// A stream name without its `?query` part.
pub fn strip_query(name: &str) -> &str {
    name.split_once('?').map_or(name, |(n, _)| n)
}
