//! The client side of an RTMP connection: connect, then publish or play.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use openrtmp_amf::{Amf0Value, AmfObject};
use openrtmp_media::ScriptData;

use super::wire::{Progress, Wire};
use super::{SessionError, SessionLimits, DEFAULT_WINDOW_ACK_SIZE};
use crate::chunk::{ChunkOutput, INITIAL_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};
use crate::command::{
    self, Command, ConnectParams, PublishType, RawCommand, StatusCode, StatusLevel,
};
use crate::control::{ControlMessage, UserControl};
use crate::handshake::{ClientHandshake, ClientMode, HandshakeScheme};
use crate::message::{csid, Message, MessageType};

/// Settings of a [`ClientSession`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// What goes into `connect`.
    pub connect: ConnectParams,
    /// Outbound chunk size, announced with Set Chunk Size after the handshake (default
    /// [`DEFAULT_CHUNK_SIZE`](super::DEFAULT_CHUNK_SIZE)).
    pub chunk_size: u32,
    /// Digest (default, what Flash and FFmpeg do) or simple handshake.
    pub handshake: ClientMode,
    /// Window Acknowledgement Size we announce.
    pub window_ack_size: u32,
    /// Buffer length announced to the server when playing (ms).
    pub buffer_ms: u32,
    /// Parser limits.
    pub limits: SessionLimits,
}

impl ClientConfig {
    /// Defaults for a connection to `tc_url`, application `app`.
    pub fn new(app: impl Into<String>, tc_url: impl Into<String>) -> Self {
        ClientConfig {
            connect: ConnectParams {
                app: app.into(),
                tc_url: tc_url.into(),
                flash_ver: concat!(
                    "FMLE/3.0 (compatible; openrtmp/",
                    env!("CARGO_PKG_VERSION"),
                    ")"
                )
                .into(),
                connect_type: Some("nonprivate".into()),
                player: true,
                enhanced: None,
                via: None,
            },
            chunk_size: super::DEFAULT_CHUNK_SIZE,
            handshake: ClientMode::Digest,
            window_ack_size: DEFAULT_WINDOW_ACK_SIZE,
            buffer_ms: 3000,
            limits: SessionLimits::default(),
        }
    }
}

/// Misuse of the client API (not a protocol error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// publish/play before `Connected`.
    #[error("not connected yet")]
    NotConnected,
    /// No stream is publishing.
    #[error("no stream is publishing")]
    NotPublishing,
}

/// What the client session reports to its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The handshake completed.
    HandshakeDone {
        /// Whether the server answered with a digest.
        scheme: HandshakeScheme,
    },
    /// connect succeeded.
    Connected {
        /// The `_result` properties (fmsVer, capabilities, Enhanced RTMP answer).
        properties: AmfObject,
        /// The info object.
        info: AmfObject,
    },
    /// createStream answered.
    StreamCreated {
        /// The new message stream id.
        stream_id: u32,
    },
    /// onStatus NetStream.Publish.Start.
    PublishStarted {
        /// Message stream id.
        stream_id: u32,
    },
    /// onStatus NetStream.Play.Start.
    PlayStarted {
        /// Message stream id.
        stream_id: u32,
    },
    /// Any onStatus (including the two above and errors such as Publish.BadName).
    Status {
        /// Message stream id it came on.
        stream_id: u32,
        /// level.
        level: String,
        /// code.
        code: String,
        /// description.
        description: String,
    },
    /// Enhanced RTMP v2 ("Reconnect Request"): onStatus
    /// `NetConnection.Connect.ReconnectRequest`. The server asks the client to move to
    /// `tc_url` (absolute or relative to the current tcUrl; `None`: the current one) at
    /// the next media boundary; it keeps serving this connection until the client leaves.
    /// Reported instead of a [`ClientEvent::Status`] for that code.
    ReconnectRequest {
        /// The `tcUrl` of the server to reconnect to, as sent (unresolved).
        tc_url: Option<String>,
        /// The human-readable reason, if the server gave one.
        description: Option<String>,
    },
    /// A command `_error` other than for connect (e.g. createStream refused).
    CallFailed {
        /// The command that failed.
        command: String,
        /// The info object.
        info: AmfObject,
    },
    /// StreamBegin user control event.
    StreamBegin {
        /// Message stream id.
        stream_id: u32,
    },
    /// StreamEOF user control event.
    StreamEof {
        /// Message stream id.
        stream_id: u32,
    },
    /// Audio or video.
    Media {
        /// Message stream id.
        stream_id: u32,
        /// The message.
        message: Message,
    },
    /// A data message (onMetaData, |RtmpSampleAccess, ...).
    Data {
        /// Message stream id.
        stream_id: u32,
        /// Decoded content.
        data: ScriptData,
        /// The original message.
        message: Message,
    },
    /// Another command (onBWDone, onFCPublish, ...).
    Command {
        /// Message stream id.
        stream_id: u32,
        /// The command.
        command: Command,
    },
    /// A message type the session does not handle.
    UnknownMessage(Message),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshake,
    Connecting,
    Connected,
    Closed,
}

#[derive(Debug, Clone)]
enum Intent {
    Publish { name: String, publish_type: PublishType },
    Play { name: String, start: f64, duration: f64, reset: bool },
}

#[derive(Debug, Clone)]
enum Call {
    Connect,
    CreateStream(Intent),
    Other(String),
}

/// Sans-IO client side of one RTMP connection.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    state: State,
    wire: Wire<ClientHandshake>,
    events: VecDeque<ClientEvent>,
    calls: BTreeMap<u64, Call>,
    next_tid: u64,
    publish_stream: Option<(u32, String)>,
    play_stream: Option<u32>,
    /// What the peer's Acknowledgements (§5.4.3) say it received, widened past the
    /// 32-bit wrap of their sequence numbers: `None` until the first one. A relay judges
    /// a target's health by it (a socket that takes bytes is not a peer that reads them).
    acknowledged: Option<(u32, u64)>,
}

impl ClientSession {
    /// Starts a session: C0+C1 are queued at once. `epoch` goes into C1's time field;
    /// `random` (at least 1528 bytes) fills C1/C2.
    pub fn new(config: ClientConfig, epoch: u32, random: &[u8]) -> Self {
        let handshake = ClientHandshake::new(epoch, random, config.handshake);
        ClientSession {
            wire: Wire::new(handshake, config.limits.chunk.clone()),
            config,
            state: State::Handshake,
            events: VecDeque::new(),
            calls: BTreeMap::new(),
            next_tid: 2,
            publish_stream: None,
            play_stream: None,
            acknowledged: None,
        }
    }

    /// Feeds bytes read from the socket.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), SessionError> {
        let progress = self.wire.handle_input(data);
        let result = self.process(progress);
        if result.is_err() {
            self.state = State::Closed;
        }
        self.wire.record(result)
    }

    /// The buffer the driver may read the socket straight into, saving the copy of
    /// [`handle_input`](Self::handle_input): append (never remove), then call
    /// [`handle_read`](Self::handle_read) with the count.
    pub fn input_buffer(&mut self) -> &mut bytes::BytesMut {
        self.wire.input_buffer()
    }

    /// Handles `n` bytes read into [`input_buffer`](Self::input_buffer); otherwise the same
    /// as [`handle_input`](Self::handle_input).
    pub fn handle_read(&mut self, n: usize) -> Result<(), SessionError> {
        let progress = self.wire.handle_appended(n);
        let result = self.process(progress);
        if result.is_err() {
            self.state = State::Closed;
        }
        self.wire.record(result)
    }

    fn process(
        &mut self,
        progress: Result<Progress<ClientHandshake>, SessionError>,
    ) -> Result<(), SessionError> {
        match progress? {
            Progress::Handshaking => return Ok(()),
            Progress::HandshakeDone(handshake) => {
                let scheme = handshake.scheme().unwrap_or(HandshakeScheme::Simple);
                self.events.push_back(ClientEvent::HandshakeDone { scheme });
                self.start_connect();
            }
            Progress::Chunks => {}
        }
        while let Some(msg) = self.wire.poll_message()? {
            self.handle_message(msg)?;
        }
        self.wire.acknowledge();
        Ok(())
    }

    fn start_connect(&mut self) {
        self.send_control(ControlMessage::WindowAckSize(self.config.window_ack_size));
        let size = self.config.chunk_size;
        if size != INITIAL_CHUNK_SIZE && (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&size) {
            // The encoder switches right after the Set Chunk Size message itself.
            self.send_control(ControlMessage::SetChunkSize(size));
        }
        self.calls.insert(1, Call::Connect);
        let payload = command::connect(1.0, &self.config.connect);
        self.send_command(0, payload);
        self.state = State::Connecting;
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Bytes to write (see [`ChunkOutput`]).
    pub fn transmit(&mut self) -> &mut ChunkOutput {
        &mut self.wire.out
    }

    /// Whether connect succeeded.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Total bytes received.
    pub fn bytes_received(&self) -> u64 {
        self.wire.decoder.bytes_received()
    }

    /// Bytes the peer says it received (its last Acknowledgement, §5.4.3, counted past
    /// the 32-bit wrap), or `None` if it has sent none. The peer acknowledges every
    /// window we announce ([`ClientConfig::window_ack_size`]); peers that never do exist.
    pub fn bytes_acknowledged(&self) -> Option<u64> {
        self.acknowledged.map(|(_, total)| total)
    }

    fn tid(&mut self, call: Call) -> f64 {
        let tid = self.next_tid;
        self.next_tid += 1;
        self.calls.insert(tid, call);
        tid as f64
    }

    /// Starts publishing `name` (releaseStream, FCPublish, createStream, then publish).
    /// [`ClientEvent::PublishStarted`] follows when the server accepts.
    pub fn publish(&mut self, name: &str, publish_type: PublishType) -> Result<(), ClientError> {
        if self.state != State::Connected {
            return Err(ClientError::NotConnected);
        }
        let arg = [Amf0Value::string(name)];
        let tid = self.tid(Call::Other("releaseStream".into()));
        self.send_command(0, command::call("releaseStream", tid, &arg));
        let tid = self.tid(Call::Other("FCPublish".into()));
        self.send_command(0, command::call("FCPublish", tid, &arg));
        let tid =
            self.tid(Call::CreateStream(Intent::Publish { name: name.to_owned(), publish_type }));
        self.send_command(0, command::call("createStream", tid, &[]));
        Ok(())
    }

    /// Starts playing `name` (createStream, play, SetBufferLength).
    /// `start`: -2 live or recorded, -1 live only, >= 0 seconds.
    pub fn play(
        &mut self,
        name: &str,
        start: f64,
        duration: f64,
        reset: bool,
    ) -> Result<(), ClientError> {
        if self.state != State::Connected {
            return Err(ClientError::NotConnected);
        }
        let tid = self.tid(Call::CreateStream(Intent::Play {
            name: name.to_owned(),
            start,
            duration,
            reset,
        }));
        self.send_command(0, command::call("createStream", tid, &[]));
        Ok(())
    }

    /// Sends audio, video or a data message on the publishing stream. The payload is shared.
    pub fn send_media(&mut self, message: &Message) -> Result<(), ClientError> {
        let (stream_id, _) = self.publish_stream.as_ref().ok_or(ClientError::NotPublishing)?;
        let csid = match message.type_id {
            MessageType::AUDIO => csid::AUDIO,
            MessageType::VIDEO => csid::VIDEO,
            _ => csid::STREAM_COMMAND,
        };
        let msg = Message { csid, stream_id: *stream_id, ..message.clone() };
        self.wire.send(&msg);
        Ok(())
    }

    /// Sends `@setDataFrame("onMetaData", metadata)` on the publishing stream.
    pub fn send_metadata(&mut self, metadata: AmfObject) -> Result<(), ClientError> {
        let (stream_id, _) = self.publish_stream.as_ref().ok_or(ClientError::NotPublishing)?;
        let msg = command::data_message(*stream_id, 0, command::set_data_frame(metadata));
        self.wire.send(&msg);
        Ok(())
    }

    /// Stops publishing (FCUnpublish, deleteStream).
    pub fn unpublish(&mut self) -> Result<(), ClientError> {
        let (stream_id, name) = self.publish_stream.take().ok_or(ClientError::NotPublishing)?;
        let tid = self.tid(Call::Other("FCUnpublish".into()));
        self.send_command(0, command::call("FCUnpublish", tid, &[Amf0Value::string(name)]));
        self.send_command(
            0,
            command::call("deleteStream", 0.0, &[Amf0Value::Number(f64::from(stream_id))]),
        );
        Ok(())
    }

    /// Stops playing (deleteStream).
    pub fn stop_play(&mut self) {
        if let Some(stream_id) = self.play_stream.take() {
            self.send_command(
                0,
                command::call("deleteStream", 0.0, &[Amf0Value::Number(f64::from(stream_id))]),
            );
        }
    }

    /// Sends `pause`/unpause on the playing stream (`position_ms`: where playback is).
    pub fn pause(&mut self, paused: bool, position_ms: f64) {
        if let Some(stream_id) = self.play_stream {
            let args = [Amf0Value::Boolean(paused), Amf0Value::Number(position_ms)];
            self.send_command(stream_id, command::call("pause", 0.0, &args));
        }
    }

    /// Sends `seek` on the playing stream (§7.2.2.7; `position_ms`: the target). A VOD
    /// server answers NetStream.Seek.Notify, a live one NetStream.Seek.Failed.
    pub fn seek(&mut self, position_ms: f64) {
        if let Some(stream_id) = self.play_stream {
            let args = [Amf0Value::Number(position_ms)];
            self.send_command(stream_id, command::call("seek", 0.0, &args));
        }
    }

    fn handle_message(&mut self, msg: Message) -> Result<(), SessionError> {
        match msg.type_id {
            t if t.is_protocol_control() => self.handle_control(&msg)?,
            MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3 => {
                let command = Command::from_message(&msg, &self.config.limits.amf)?;
                self.handle_command(msg.stream_id, command)?;
            }
            MessageType::AUDIO | MessageType::VIDEO => {
                self.events.push_back(ClientEvent::Media { stream_id: msg.stream_id, message: msg })
            }
            MessageType::AGGREGATE => {
                for part in super::split_aggregate(&msg) {
                    self.events
                        .push_back(ClientEvent::Media { stream_id: part.stream_id, message: part });
                }
            }
            MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => {
                let data =
                    command::decode_data(msg.type_id, &msg.payload, &self.config.limits.amf)?;
                self.events.push_back(ClientEvent::Data {
                    stream_id: msg.stream_id,
                    data,
                    message: msg,
                });
            }
            _ => self.events.push_back(ClientEvent::UnknownMessage(msg)),
        }
        Ok(())
    }

    fn handle_control(&mut self, msg: &Message) -> Result<(), SessionError> {
        match ControlMessage::parse(msg.type_id, &msg.payload)? {
            ControlMessage::WindowAckSize(size) => self.wire.decoder.set_window_ack_size(size),
            ControlMessage::Acknowledgement { sequence } => {
                let total = match self.acknowledged {
                    // The sequence wraps at 2^32 (§5.4.3): count the distance moved.
                    Some((last, total)) => total + u64::from(sequence.wrapping_sub(last)),
                    None => u64::from(sequence),
                };
                self.acknowledged = Some((sequence, total));
            }
            ControlMessage::UserControl(UserControl::PingRequest { timestamp }) => self
                .send_control(ControlMessage::UserControl(UserControl::PingResponse { timestamp })),
            ControlMessage::UserControl(UserControl::StreamBegin { stream_id }) => {
                self.events.push_back(ClientEvent::StreamBegin { stream_id })
            }
            ControlMessage::UserControl(UserControl::StreamEof { stream_id }) => {
                self.events.push_back(ClientEvent::StreamEof { stream_id })
            }
            _ => {}
        }
        Ok(())
    }

    fn handle_command(&mut self, stream_id: u32, command: Command) -> Result<(), SessionError> {
        match command {
            Command::Result(raw) => self.handle_result(raw, true),
            Command::Error(raw) => self.handle_result(raw, false),
            Command::OnStatus { info } => {
                let text = |k: &str| {
                    info.get(k).and_then(Amf0Value::as_str).unwrap_or_default().to_owned()
                };
                let (level, code, description) = (text("level"), text("code"), text("description"));
                if code == StatusCode::CONNECT_RECONNECT_REQUEST.code {
                    let tc_url = info.get("tcUrl").and_then(Amf0Value::as_str).map(str::to_owned);
                    let description = Some(description).filter(|d| !d.is_empty());
                    self.events.push_back(ClientEvent::ReconnectRequest { tc_url, description });
                    return Ok(());
                }
                if code == StatusCode::PUBLISH_START.code {
                    self.events.push_back(ClientEvent::PublishStarted { stream_id });
                } else if code == StatusCode::PLAY_START.code {
                    self.events.push_back(ClientEvent::PlayStarted { stream_id });
                }
                if level == StatusLevel::Error.as_str()
                    && self.publish_stream.as_ref().is_some_and(|(s, _)| *s == stream_id)
                {
                    self.publish_stream = None;
                }
                self.events.push_back(ClientEvent::Status { stream_id, level, code, description });
                Ok(())
            }
            other => {
                self.events.push_back(ClientEvent::Command { stream_id, command: other });
                Ok(())
            }
        }
    }

    fn handle_result(&mut self, raw: RawCommand, ok: bool) -> Result<(), SessionError> {
        let tid = raw.transaction_id;
        let call =
            if tid >= 0.0 && tid.fract() == 0.0 { self.calls.remove(&(tid as u64)) } else { None };
        let info = raw.args.iter().find_map(Amf0Value::as_object).cloned().unwrap_or_default();
        match call {
            Some(Call::Connect) if ok => {
                let properties = raw.command_object.as_object().cloned().unwrap_or_default();
                self.state = State::Connected;
                self.events.push_back(ClientEvent::Connected { properties, info });
            }
            Some(Call::Connect) => {
                let text = |k: &str| {
                    info.get(k).and_then(Amf0Value::as_str).unwrap_or_default().to_owned()
                };
                return Err(SessionError::ConnectRejected {
                    code: text("code"),
                    description: text("description"),
                });
            }
            Some(Call::CreateStream(intent)) if ok => {
                let id = raw.args.first().and_then(Amf0Value::as_number).unwrap_or(1.0);
                let stream_id = if id.is_finite() && id >= 1.0 && id <= f64::from(u32::MAX) {
                    id as u32
                } else {
                    1
                };
                self.events.push_back(ClientEvent::StreamCreated { stream_id });
                self.start_intent(stream_id, intent);
            }
            Some(Call::CreateStream(_)) => self
                .events
                .push_back(ClientEvent::CallFailed { command: "createStream".into(), info }),
            Some(Call::Other(command)) if !ok => {
                self.events.push_back(ClientEvent::CallFailed { command, info })
            }
            _ => {}
        }
        Ok(())
    }

    fn start_intent(&mut self, stream_id: u32, intent: Intent) {
        match intent {
            Intent::Publish { name, publish_type } => {
                let tid = self.tid(Call::Other("publish".into()));
                self.send_command(stream_id, command::publish(tid, &name, publish_type));
                self.publish_stream = Some((stream_id, name));
            }
            Intent::Play { name, start, duration, reset } => {
                let tid = self.tid(Call::Other("play".into()));
                self.send_command(stream_id, command::play(tid, &name, start, duration, reset));
                let buffer_ms = self.config.buffer_ms;
                self.send_control(ControlMessage::UserControl(UserControl::SetBufferLength {
                    stream_id,
                    buffer_ms,
                }));
                self.play_stream = Some(stream_id);
            }
        }
    }

    fn send_control(&mut self, control: ControlMessage) {
        self.wire.send_control(control);
    }

    fn send_command(&mut self, stream_id: u32, payload: Bytes) {
        self.wire.send_command(stream_id, payload);
    }
}
