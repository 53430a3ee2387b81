//! Errors: [`BenchError`] stops a run before it starts; [`ConnError`] ends one connection
//! and is counted in the summary by its [`ConnError::kind`].

use openrtmp_client::UrlError;
use openrtmp_proto::session::SessionError;

/// Why a run cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// `--url` is not a usable rtmp:// URL.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// rtmps:// is not supported by the load generator.
    #[error("rtmps:// is not supported by the load generator")]
    TlsUnsupported,
    /// The arguments contradict each other or are out of range.
    #[error("invalid arguments: {reason}")]
    InvalidArgs {
        /// What is wrong.
        reason: String,
    },
}

/// Why one connection failed or ended early.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// TCP connect failed.
    #[error("TCP connect to {addr} failed: {source}")]
    Connect {
        /// host:port.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// A socket error after connecting.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The server broke the protocol, or refused `connect`.
    #[error("protocol error: {0}")]
    Protocol(#[from] SessionError),
    /// The server refused to publish or play.
    #[error("refused: {code}")]
    Refused {
        /// onStatus code or failed call.
        code: String,
    },
    /// The server closed the connection.
    #[error("server closed the connection")]
    Closed,
    /// Connect, publish or play was not answered in time.
    #[error("timed out waiting for {phase:?}")]
    Timeout {
        /// What we waited for.
        phase: Phase,
    },
}

/// The steps of a connection that have a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// TCP connect, handshake and the `connect` command.
    Connect,
    /// `publish` until NetStream.Publish.Start.
    Publish,
    /// `play` until NetStream.Play.Start.
    Play,
}

impl ConnError {
    /// The key this error is counted under in the summary's `errors` object.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnError::Connect { .. } => "tcp_connect",
            ConnError::Io(_) => "io",
            ConnError::Protocol(SessionError::ConnectRejected { .. }) => "connect_rejected",
            ConnError::Protocol(_) => "protocol",
            ConnError::Refused { .. } => "refused",
            ConnError::Closed => "closed",
            ConnError::Timeout { phase: Phase::Connect } => "connect_timeout",
            ConnError::Timeout { phase: Phase::Publish } => "publish_timeout",
            ConnError::Timeout { phase: Phase::Play } => "play_timeout",
        }
    }
}
