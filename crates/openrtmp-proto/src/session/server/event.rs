//! What a [`ServerSession`](super::ServerSession) reports to its driver.

use openrtmp_media::ScriptData;

use super::RequestId;
use crate::command::{Command, ConnectCommand, PublishType};
use crate::handshake::HandshakeScheme;
use crate::message::Message;

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
    /// `connect` arrived: answer with [`ServerSession::accept_connect`](super::ServerSession::accept_connect) or `reject_connect`.
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
    /// `getStreamLength` comes here too: answer it with
    /// [`ServerSession::send_result`](super::ServerSession::send_result) (the length in
    /// seconds; 0 for a live stream).
    Command {
        /// Message stream id it arrived on.
        stream_id: u32,
        /// The command.
        command: Command,
    },
    /// A message of a type the session does not handle (logged at debug by drivers).
    UnknownMessage(Message),
}
