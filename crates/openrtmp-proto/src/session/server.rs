//! The server side of an RTMP connection.

use std::collections::{BTreeMap, VecDeque};

use openrtmp_amf::Amf0Value;
use openrtmp_media::ScriptData;

use super::wire::{Progress, Wire};
use super::{
    aggregate::split_aggregate, RequestId, SessionError, SessionLimits, DEFAULT_WINDOW_ACK_SIZE,
};
use crate::chunk::{ChunkOutput, OUTBOUND_CHUNK_SIZES};
use crate::command::{self, Command, ConnectCommand, EnhancedCaps, PublishType, StatusCode};
use crate::control::{ControlMessage, LimitType, UserControl};
use crate::handshake::{HandshakeScheme, ServerHandshake};
use crate::message::{csid, Message, MessageType};

/// Settings of a [`ServerSession`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Outbound chunk size announced right after connect; clamped to
    /// [`OUTBOUND_CHUNK_SIZES`] (default [`DEFAULT_CHUNK_SIZE`](super::DEFAULT_CHUNK_SIZE)).
    pub chunk_size: u32,
    /// Window Acknowledgement Size we announce.
    pub window_ack_size: u32,
    /// Peer bandwidth we announce (Set Peer Bandwidth, dynamic).
    pub peer_bandwidth: u32,
    /// Parser limits.
    pub limits: SessionLimits,
    /// What we answer to Enhanced RTMP clients.
    pub enhanced: EnhancedCaps,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            chunk_size: super::DEFAULT_CHUNK_SIZE,
            window_ack_size: DEFAULT_WINDOW_ACK_SIZE,
            peer_bandwidth: DEFAULT_WINDOW_ACK_SIZE,
            limits: SessionLimits::default(),
            enhanced: EnhancedCaps::relay_server(),
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

/// What the server session reports to its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// The handshake completed.
    HandshakeDone {
        /// Simple or digest.
        scheme: HandshakeScheme,
        /// The client's version field of C1 (e.g. `9.0.124.2`), if non-zero.
        client_version: Option<[u8; 4]>,
    },
    /// `connect` arrived: answer with [`ServerSession::accept_connect`] or `reject_connect`.
    Connect {
        /// The decision to make.
        request: RequestId,
        /// The decoded command.
        command: Box<ConnectCommand>,
    },
    /// `publish` arrived: answer with `accept_publish` or `reject_publish`.
    Publish {
        /// The decision to make.
        request: RequestId,
        /// Message stream id.
        stream_id: u32,
        /// Publishing name as sent (may carry `?query`).
        stream_name: String,
        /// live/record/append.
        publish_type: PublishType,
    },
    /// `play` arrived: answer with `accept_play` or `reject_play`.
    Play {
        /// The decision to make.
        request: RequestId,
        /// Message stream id.
        stream_id: u32,
        /// Stream name as sent (may carry `?query`).
        stream_name: String,
        /// -2, -1 or a position in seconds.
        start: f64,
        /// -1 or a duration.
        duration: f64,
        /// reset flag.
        reset: bool,
    },
    /// The publisher stopped (FCUnpublish, closeStream, deleteStream).
    Unpublished {
        /// Message stream id.
        stream_id: u32,
        /// The stream name it was publishing.
        stream_name: String,
    },
    /// The player stopped (closeStream, deleteStream).
    PlayStopped {
        /// Message stream id.
        stream_id: u32,
        /// The stream name it was playing.
        stream_name: String,
    },
    /// Audio, video (and parts of aggregate messages) from a publishing stream.
    Media {
        /// Message stream id.
        stream_id: u32,
        /// The message; `payload` is shared, never copied.
        message: Message,
    },
    /// A data message from a publishing stream (`@setDataFrame` already stripped, so
    /// metadata arrives as `onMetaData`). `message` is the re-encoded payload to relay.
    Data {
        /// Message stream id.
        stream_id: u32,
        /// Decoded content.
        data: ScriptData,
        /// The message to relay to players (AMF0, `@setDataFrame` stripped).
        message: Message,
    },
    /// `pause` (true) or unpause (false) on a playing stream. Already acknowledged.
    Pause {
        /// Message stream id.
        stream_id: u32,
        /// Paused?
        paused: bool,
    },
    /// `receiveAudio` / `receiveVideo`.
    ReceiveMedia {
        /// Message stream id.
        stream_id: u32,
        /// true: audio, false: video.
        audio: bool,
        /// Wanted?
        enabled: bool,
    },
    /// The player announced its buffer length (User Control SetBufferLength).
    BufferLength {
        /// Message stream id.
        stream_id: u32,
        /// Buffer in milliseconds.
        millis: u32,
    },
    /// A ping response (User Control PingResponse) to our ping.
    PingResponse {
        /// The timestamp we sent.
        timestamp: u32,
    },
    /// A command this session does not handle itself (seek, play2, application calls...).
    Command {
        /// Message stream id it arrived on.
        stream_id: u32,
        /// The command.
        command: Command,
    },
    /// A message of a type the session does not handle (logged at debug by drivers).
    UnknownMessage(Message),
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
    pending: BTreeMap<RequestId, Pending>,
    peer_caps: EnhancedCaps,
    app: Option<String>,
}

impl ServerSession {
    /// A session for a freshly accepted connection. `epoch` goes into S1's time field;
    /// `random` (at least 1528 bytes from the driver's RNG) fills S1 and S2.
    pub fn new(config: ServerConfig, epoch: u32, random: &[u8]) -> Self {
        let wire = Wire::new(ServerHandshake::new(epoch, random), config.limits.chunk.clone());
        ServerSession {
            config,
            state: State::ExpectConnect,
            wire,
            events: VecDeque::new(),
            streams: BTreeMap::new(),
            next_stream_id: 1,
            next_request: 1,
            pending: BTreeMap::new(),
            peer_caps: EnhancedCaps::default(),
            app: None,
        }
    }

    /// Feeds bytes read from the socket. On error the session is dead: the driver logs the
    /// error and handles the connection per [`SessionError::disposition`].
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), SessionError> {
        if self.is_waiting()
            && self.wire.decoder.buffered_bytes() > self.config.limits.chunk.reassembly_budget
        {
            let buffered = self.wire.decoder.buffered_bytes();
            return self.fail(Err(SessionError::InputWhileWaiting { buffered }));
        }
        match self.wire.handle_input(data) {
            Ok(Progress::Handshaking) => Ok(()),
            Ok(Progress::HandshakeDone(handshake)) => {
                if let Some(scheme) = handshake.scheme() {
                    let client_version = handshake.peer_version().filter(|v| *v != [0; 4]);
                    self.events.push_back(ServerEvent::HandshakeDone { scheme, client_version });
                }
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
        !self.pending.is_empty()
    }

    /// Handles what arrived (or waited for a decision), keeping the first error.
    fn resume(&mut self) -> Result<(), SessionError> {
        self.wire.check()?;
        let result = self.drain();
        self.fail(result)
    }

    /// Records an error: the session is closed for good.
    fn fail(&mut self, result: Result<(), SessionError>) -> Result<(), SessionError> {
        if result.is_err() {
            self.state = State::Closed;
        }
        self.wire.record(result)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
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
        self.pending.insert(id, pending);
        id
    }

    fn handle_message(&mut self, msg: Message) -> Result<(), SessionError> {
        match msg.type_id {
            t if t.is_protocol_control() => self.handle_control(&msg),
            MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3 => {
                let command = Command::from_message(&msg, &self.config.limits.amf)?;
                self.handle_command(msg.stream_id, command)
            }
            MessageType::AUDIO | MessageType::VIDEO => {
                self.media(msg);
                Ok(())
            }
            MessageType::AGGREGATE => {
                for part in split_aggregate(&msg) {
                    if matches!(part.type_id, MessageType::AUDIO | MessageType::VIDEO) {
                        self.media(part);
                    }
                }
                Ok(())
            }
            MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => self.handle_data(msg),
            _ => {
                self.events.push_back(ServerEvent::UnknownMessage(msg));
                Ok(())
            }
        }
    }

    fn handle_control(&mut self, msg: &Message) -> Result<(), SessionError> {
        match ControlMessage::parse(msg.type_id, &msg.payload)? {
            // Set Chunk Size and Abort were applied by the decoder; Acknowledgement and
            // Set Peer Bandwidth need nothing from a server that does not throttle by window.
            ControlMessage::SetChunkSize(_)
            | ControlMessage::Abort { .. }
            | ControlMessage::Acknowledgement { .. }
            | ControlMessage::SetPeerBandwidth { .. } => {}
            ControlMessage::WindowAckSize(size) => self.wire.decoder.set_window_ack_size(size),
            ControlMessage::UserControl(event) => match event {
                UserControl::PingRequest { timestamp } => {
                    self.send_control(ControlMessage::UserControl(UserControl::PingResponse {
                        timestamp,
                    }))
                }
                UserControl::PingResponse { timestamp } => {
                    self.events.push_back(ServerEvent::PingResponse { timestamp })
                }
                UserControl::SetBufferLength { stream_id, buffer_ms } => self
                    .events
                    .push_back(ServerEvent::BufferLength { stream_id, millis: buffer_ms }),
                _ => {}
            },
        }
        Ok(())
    }

    fn handle_command(&mut self, stream_id: u32, command: Command) -> Result<(), SessionError> {
        if let Command::Connect(connect) = command {
            if !matches!(self.state, State::ExpectConnect) {
                return Err(SessionError::DuplicateConnect);
            }
            self.peer_caps = connect.enhanced.clone();
            let request = self.request(Pending::Connect {
                transaction_id: connect.transaction_id,
                object_encoding: connect.object_encoding,
                caps: connect.enhanced.clone(),
            });
            self.state = State::ConnectPending;
            self.events.push_back(ServerEvent::Connect { request, command: connect });
            return Ok(());
        }
        if !matches!(self.state, State::Connected) {
            return Err(SessionError::ConnectExpected { command: command.name().to_owned() });
        }
        match command {
            Command::CreateStream { transaction_id } => self.create_stream(transaction_id)?,
            Command::ReleaseStream { transaction_id, .. } => {
                self.send_command(0, command::result(transaction_id, Amf0Value::Undefined))
            }
            Command::FcPublish { transaction_id, stream_name } => {
                self.send_command(0, command::on_fc_publish(&stream_name));
                self.send_command(0, command::result(transaction_id, Amf0Value::Undefined));
            }
            Command::FcUnpublish { transaction_id, stream_name } => {
                let publishing = self.streams.iter().find_map(|(id, role)| match role {
                    StreamRole::Publishing(n) if strip_query(n) == strip_query(&stream_name) => {
                        Some(*id)
                    }
                    _ => None,
                });
                if let Some(id) = publishing {
                    self.stop_stream(id);
                }
                self.send_command(0, command::on_fc_unpublish(&stream_name));
                self.send_command(0, command::result(transaction_id, Amf0Value::Undefined));
            }
            Command::Publish { stream_name, publish_type, .. } => {
                self.ensure_stream(stream_id)?;
                self.stop_stream(stream_id);
                self.streams.insert(stream_id, StreamRole::PublishPending(stream_name.clone()));
                let request =
                    self.request(Pending::Publish { stream_id, name: stream_name.clone() });
                self.events.push_back(ServerEvent::Publish {
                    request,
                    stream_id,
                    stream_name,
                    publish_type,
                });
            }
            Command::Play { stream_name, start, duration, reset, .. } => {
                self.ensure_stream(stream_id)?;
                self.stop_stream(stream_id);
                self.streams.insert(stream_id, StreamRole::PlayPending(stream_name.clone()));
                let request =
                    self.request(Pending::Play { stream_id, name: stream_name.clone(), reset });
                self.events.push_back(ServerEvent::Play {
                    request,
                    stream_id,
                    stream_name,
                    start,
                    duration,
                    reset,
                });
            }
            Command::DeleteStream { stream_id: target, .. } => {
                // The stream to delete is the argument (§7.2.2.3); fall back to the message
                // stream the command came on for clients that send it there with a bad id.
                let target = if target.is_finite() && target >= 0.0 && target <= f64::from(u32::MAX)
                {
                    target as u32
                } else {
                    stream_id
                };
                self.stop_stream(target);
                self.streams.remove(&target);
            }
            Command::CloseStream { .. } => self.stop_stream(stream_id),
            Command::Pause { pause, .. } => {
                if matches!(self.streams.get(&stream_id), Some(StreamRole::Playing(_))) {
                    let code =
                        if pause { StatusCode::PAUSE_NOTIFY } else { StatusCode::UNPAUSE_NOTIFY };
                    self.send_status(stream_id, code, None);
                    self.events.push_back(ServerEvent::Pause { stream_id, paused: pause });
                }
            }
            Command::ReceiveAudio { enabled } => {
                self.events.push_back(ServerEvent::ReceiveMedia { stream_id, audio: true, enabled })
            }
            Command::ReceiveVideo { enabled } => self.events.push_back(ServerEvent::ReceiveMedia {
                stream_id,
                audio: false,
                enabled,
            }),
            Command::GetStreamLength { transaction_id, .. } => {
                // Live streams have no length.
                self.send_command(
                    stream_id,
                    command::result(transaction_id, Amf0Value::Number(0.0)),
                )
            }
            Command::Unknown(raw) if raw.name == "_checkbw" => {
                self.send_command(0, command::result(raw.transaction_id, Amf0Value::Undefined))
            }
            other => self.events.push_back(ServerEvent::Command { stream_id, command: other }),
        }
        Ok(())
    }

    fn create_stream(&mut self, transaction_id: f64) -> Result<(), SessionError> {
        let limit = self.config.limits.max_streams;
        if self.streams.len() >= limit as usize {
            let info = command::status_info(
                StatusCode::CALL_FAILED,
                Some("too many streams on this connection"),
            );
            self.send_command(0, command::error_response(transaction_id, info));
            return Err(SessionError::TooManyStreams { limit });
        }
        let id = self.allocate_stream_id();
        self.streams.insert(id, StreamRole::Idle);
        self.send_command(0, command::result(transaction_id, Amf0Value::Number(f64::from(id))));
        Ok(())
    }

    fn allocate_stream_id(&mut self) -> u32 {
        while self.streams.contains_key(&self.next_stream_id) || self.next_stream_id == 0 {
            self.next_stream_id = self.next_stream_id.wrapping_add(1);
        }
        let id = self.next_stream_id;
        self.next_stream_id = self.next_stream_id.wrapping_add(1);
        id
    }

    /// Clients (some hardware encoders) publish or play on stream ids they never created;
    /// accept that while under the limit.
    fn ensure_stream(&mut self, stream_id: u32) -> Result<(), SessionError> {
        if stream_id == 0 {
            return Err(SessionError::UnknownStream { stream_id });
        }
        if !self.streams.contains_key(&stream_id) {
            let limit = self.config.limits.max_streams;
            if self.streams.len() >= limit as usize {
                return Err(SessionError::TooManyStreams { limit });
            }
            self.streams.insert(stream_id, StreamRole::Idle);
        }
        Ok(())
    }

    /// Ends whatever the stream does and reports it.
    fn stop_stream(&mut self, stream_id: u32) {
        let Some(role) = self.streams.get_mut(&stream_id) else {
            return;
        };
        match std::mem::replace(role, StreamRole::Idle) {
            StreamRole::Publishing(stream_name) => {
                self.send_status(stream_id, StatusCode::UNPUBLISH_SUCCESS, None);
                self.events.push_back(ServerEvent::Unpublished { stream_id, stream_name });
            }
            StreamRole::Playing(stream_name) => {
                self.events.push_back(ServerEvent::PlayStopped { stream_id, stream_name });
            }
            StreamRole::PublishPending(_) | StreamRole::PlayPending(_) => {
                self.pending.retain(|_, p| !matches!(p, Pending::Publish { stream_id: s, .. } | Pending::Play { stream_id: s, .. } if *s == stream_id));
            }
            StreamRole::Idle => {}
        }
    }

    fn media(&mut self, message: Message) {
        let stream_id = message.stream_id;
        if matches!(self.streams.get(&stream_id), Some(StreamRole::Publishing(_))) {
            self.events.push_back(ServerEvent::Media { stream_id, message });
        }
        // Media on a stream that is not publishing (yet, or any more) is dropped: a publisher
        // is only relayed after its publish was accepted.
    }

    fn handle_data(&mut self, msg: Message) -> Result<(), SessionError> {
        let stream_id = msg.stream_id;
        if !matches!(self.streams.get(&stream_id), Some(StreamRole::Publishing(_))) {
            return Ok(());
        }
        let data = command::decode_data(msg.type_id, &msg.payload, &self.config.limits.amf)?
            .strip_set_data_frame();
        let message = command::data_message(stream_id, msg.timestamp, data.to_bytes());
        self.events.push_back(ServerEvent::Data { stream_id, data, message });
        Ok(())
    }

    // ---- decisions ----

    /// Accepts a connect: Window Ack Size, Set Peer Bandwidth, Set Chunk Size, `_result`
    /// (NetConnection.Connect.Success, objectEncoding echoed, Enhanced RTMP answer), onBWDone.
    pub fn accept_connect(&mut self, request: RequestId) -> Result<(), SessionError> {
        let Some(Pending::Connect { transaction_id, object_encoding, caps }) = self.take(request)
        else {
            return self.resume();
        };
        self.send_control(ControlMessage::WindowAckSize(self.config.window_ack_size));
        self.send_control(ControlMessage::SetPeerBandwidth {
            size: self.config.peer_bandwidth,
            limit: LimitType::Dynamic,
        });
        let size = self
            .config
            .chunk_size
            .clamp(*OUTBOUND_CHUNK_SIZES.start(), *OUTBOUND_CHUNK_SIZES.end());
        // The encoder switches right after the Set Chunk Size message itself.
        self.send_control(ControlMessage::SetChunkSize(size));
        let answer = caps.answer(&self.config.enhanced);
        self.send_command(
            0,
            command::connect_result(transaction_id, object_encoding, answer.as_ref()),
        );
        self.send_command(0, command::on_bw_done());
        self.state = State::Connected;
        self.resume()
    }

    /// Rejects a connect with `_error` NetConnection.Connect.Rejected and the description;
    /// the session is then closed (flush, then close the socket): nothing more is handled.
    pub fn reject_connect(&mut self, request: RequestId, description: &str) {
        if let Some(Pending::Connect { transaction_id, .. }) = self.take(request) {
            let info = command::status_info(StatusCode::CONNECT_REJECTED, Some(description));
            self.send_command(0, command::error_response(transaction_id, info));
        }
        self.state = State::Closed;
    }

    /// Records the `app` of the accepted connection (for [`ServerSession::app`]).
    pub fn set_app(&mut self, app: impl Into<String>) {
        self.app = Some(app.into());
    }

    /// Accepts a publish: StreamBegin, onStatus NetStream.Publish.Start. Media is relayed as
    /// [`ServerEvent::Media`] from now on.
    pub fn accept_publish(&mut self, request: RequestId) -> Result<(), SessionError> {
        let Some(Pending::Publish { stream_id, name }) = self.take(request) else {
            return self.resume();
        };
        self.send_control(ControlMessage::UserControl(UserControl::StreamBegin { stream_id }));
        let description = format!("{name} is now published.");
        self.send_status(stream_id, StatusCode::PUBLISH_START, Some(&description));
        self.streams.insert(stream_id, StreamRole::Publishing(name));
        self.resume()
    }

    /// Rejects a publish with an error onStatus (e.g. NetStream.Publish.BadName) and the
    /// description; the connection stays up.
    pub fn reject_publish(
        &mut self,
        request: RequestId,
        code: StatusCode,
        description: &str,
    ) -> Result<(), SessionError> {
        let Some(Pending::Publish { stream_id, .. }) = self.take(request) else {
            return self.resume();
        };
        self.send_status(stream_id, code, Some(description));
        self.streams.insert(stream_id, StreamRole::Idle);
        self.resume()
    }

    /// Accepts a play: StreamIsRecorded is not sent (live), StreamBegin, Play.Reset (if asked),
    /// Play.Start, `|RtmpSampleAccess`. The driver then sends metadata, sequence headers and
    /// media with [`ServerSession::send_media`].
    pub fn accept_play(&mut self, request: RequestId) -> Result<(), SessionError> {
        let Some(Pending::Play { stream_id, name, reset }) = self.take(request) else {
            return self.resume();
        };
        self.send_control(ControlMessage::UserControl(UserControl::StreamBegin { stream_id }));
        if reset {
            let d = format!("Playing and resetting {name}.");
            self.send_status(stream_id, StatusCode::PLAY_RESET, Some(&d));
        }
        let d = format!("Started playing {name}.");
        self.send_status(stream_id, StatusCode::PLAY_START, Some(&d));
        let access = command::data_message(stream_id, 0, command::rtmp_sample_access());
        self.wire.send(&access);
        self.streams.insert(stream_id, StreamRole::Playing(name));
        self.resume()
    }

    /// Rejects a play (e.g. NetStream.Play.StreamNotFound, NetStream.Play.Failed).
    pub fn reject_play(
        &mut self,
        request: RequestId,
        code: StatusCode,
        description: &str,
    ) -> Result<(), SessionError> {
        let Some(Pending::Play { stream_id, .. }) = self.take(request) else {
            return self.resume();
        };
        self.send_status(stream_id, code, Some(description));
        self.streams.insert(stream_id, StreamRole::Idle);
        self.resume()
    }

    fn take(&mut self, request: RequestId) -> Option<Pending> {
        self.pending.remove(&request)
    }

    // ---- output ----

    /// Sends an audio, video or data message to a playing stream. The payload is shared
    /// (reference counted), only chunk headers are written.
    pub fn send_media(&mut self, stream_id: u32, message: &Message) {
        let csid = match message.type_id {
            MessageType::AUDIO => csid::AUDIO,
            MessageType::VIDEO => csid::VIDEO,
            _ => csid::STREAM_COMMAND,
        };
        let msg = Message { csid, stream_id, ..message.clone() };
        self.wire.send(&msg);
    }

    /// Sends onStatus on a message stream.
    pub fn send_status(&mut self, stream_id: u32, code: StatusCode, description: Option<&str>) {
        let mut info = command::status_info(code, description);
        if stream_id != 0 {
            info.insert("clientid", Amf0Value::Number(1.0));
        }
        self.send_command(stream_id, command::on_status(info));
    }

    /// Sends a user control event (StreamEOF, StreamDry, ...).
    pub fn send_user_control(&mut self, event: UserControl) {
        self.send_control(ControlMessage::UserControl(event));
    }

    /// Tells a player its stream ended: StreamEOF then NetStream.Play.UnpublishNotify.
    pub fn notify_unpublished(&mut self, stream_id: u32) {
        self.send_user_control(UserControl::StreamEof { stream_id });
        self.send_status(stream_id, StatusCode::PLAY_UNPUBLISH_NOTIFY, None);
    }

    /// Tells a waiting player its stream is (again) published.
    pub fn notify_published(&mut self, stream_id: u32) {
        self.send_user_control(UserControl::StreamBegin { stream_id });
        self.send_status(stream_id, StatusCode::PLAY_PUBLISH_NOTIFY, None);
    }

    /// Sends a ping request carrying `timestamp` (the driver's clock, ms).
    pub fn send_ping(&mut self, timestamp: u32) {
        self.send_user_control(UserControl::PingRequest { timestamp });
    }

    /// Enhanced RTMP v2: asks the client to reconnect (only meaningful if
    /// `peer_caps().supports_reconnect()`); `tc_url` optionally redirects it.
    pub fn send_reconnect_request(&mut self, tc_url: Option<&str>, description: Option<&str>) {
        let mut info = command::status_info(StatusCode::CONNECT_RECONNECT_REQUEST, description);
        if let Some(url) = tc_url {
            info.insert("tcUrl", Amf0Value::string(url));
        }
        self.send_command(0, command::on_status(info));
    }

    /// Marks the session closed (the driver flushes and closes the socket).
    pub fn close(&mut self) {
        self.state = State::Closed;
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
