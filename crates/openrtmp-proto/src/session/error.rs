//! Session errors and what the driver does about them.

use super::Timer;
use crate::chunk::ChunkError;
use crate::command::CommandError;
use crate::control::ControlError;
use crate::handshake::HandshakeError;

/// What happens to the connection after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Close the connection at once: the byte stream can no longer be trusted.
    Close,
    /// Flush what is queued (an `_error` or onStatus was written), then close.
    FlushThenClose,
}

/// A connection-level protocol error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The chunk stream is malformed or over a limit.
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    /// A protocol control message is malformed.
    #[error("control message: {0}")]
    Control(#[from] ControlError),
    /// A command could not be decoded.
    #[error("command: {0}")]
    Command(#[from] CommandError),
    /// A command other than `connect` arrived before `connect`.
    #[error("expected connect, got {command:?}")]
    ConnectExpected {
        /// The command that arrived.
        command: String,
    },
    /// A second `connect` on the same connection.
    #[error("connect received twice")]
    DuplicateConnect,
    /// More `createStream` calls than the limit.
    #[error("too many message streams (limit {limit})")]
    TooManyStreams {
        /// The limit.
        limit: u32,
    },
    /// The peer refused our connect (client side).
    #[error("connect rejected: {code}: {description}")]
    ConnectRejected {
        /// onStatus code.
        code: String,
        /// onStatus description.
        description: String,
    },
    /// The peer kept sending while a decision was pending and the driver kept reading:
    /// more than the reassembly budget is buffered.
    #[error("{buffered} bytes buffered while waiting for a decision")]
    InputWhileWaiting {
        /// Bytes buffered.
        buffered: usize,
    },
    /// A [`Timer`] expired: the handshake or connect took too long, the connection stayed
    /// idle, or a publisher went silent.
    #[error("timed out: {timer}")]
    TimedOut {
        /// The timer that expired.
        timer: Timer,
    },
    /// The session was closed and takes no more input.
    #[error("session closed")]
    Closed,
}

impl SessionError {
    /// What the driver does with the connection: the one table from protocol error to
    /// consequence. Every variant is listed, so a new one needs a decision here.
    ///
    /// Errors the peer is told about (an `_error` was queued) flush first; the rest close at
    /// once. Timeouts close without flushing, as the handshake and connect timeouts always
    /// did: nothing explains them on the wire. Stream-level problems are not session errors at
    /// all: they are answered with an onStatus or `_error` and the connection stays up (see
    /// the [`server`](super::ServerSession) module docs on unknown message streams).
    pub fn disposition(&self) -> Disposition {
        match self {
            SessionError::TooManyStreams { .. } | SessionError::ConnectExpected { .. } => {
                Disposition::FlushThenClose
            }
            SessionError::Handshake(_)
            | SessionError::Chunk(_)
            | SessionError::Control(_)
            | SessionError::Command(_)
            | SessionError::DuplicateConnect
            | SessionError::ConnectRejected { .. }
            | SessionError::InputWhileWaiting { .. }
            | SessionError::TimedOut { .. }
            | SessionError::Closed => Disposition::Close,
        }
    }
}
