//! Why a WHIP request fails, and the one table of what follows: the HTTP status the API
//! answers with and how loudly it is logged. The API reads [`WhipError::status`]; nothing
//! else maps these errors.

/// A refused WHIP request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WhipError {
    /// `webrtc.enabled` is false (or its sockets could not be bound).
    #[error("WHIP ingest is disabled on this server")]
    Disabled,
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Over `limits.max_connections` or `limits.max_connections_per_ip` (a WHIP session
    /// counts as a connection).
    #[error("{reason}")]
    Busy {
        /// Which limit.
        reason: String,
    },
    /// No bearer token, and the stream needs one.
    #[error("a stream key is required (Authorization: Bearer <key>)")]
    NoCredentials,
    /// Authorisation refused the publish (a wrong key, the ACL, a callback); `reason`
    /// never holds the key.
    #[error("publish refused: {reason}")]
    Refused {
        /// Why, as authorisation said.
        reason: String,
    },
    /// Another publisher has the stream (or it is relayed from an origin).
    #[error("{reason}")]
    InUse {
        /// What holds it.
        reason: String,
    },
    /// The offer (or a trickle fragment) cannot be parsed.
    #[error("bad SDP: {0}")]
    BadOffer(String),
    /// The offer has nothing this server can take (no H.264 with packetization-mode 1).
    #[error("unsupported offer: {0}")]
    Unsupported(String),
    /// The offer or fragment is larger than [`super::MAX_OFFER_BYTES`].
    #[error("the SDP is {len} bytes; at most {limit} are accepted")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// No such session (never created, ended, or another stream's).
    #[error("no such WHIP session")]
    UnknownSession,
    /// The WebRTC session could not be set up (crypto, transcoder).
    #[error("WebRTC session setup failed: {0}")]
    Internal(String),
}

/// How loudly a refusal is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Debug,
    Info,
    Warn,
}

impl WhipError {
    /// The HTTP status answered, and the log level: the one table.
    fn disposition(&self) -> (u16, Level) {
        match self {
            WhipError::Disabled => (404, Level::Debug),
            WhipError::ShuttingDown => (503, Level::Info),
            WhipError::Busy { .. } => (503, Level::Warn),
            WhipError::NoCredentials => (401, Level::Warn),
            WhipError::Refused { .. } => (403, Level::Warn),
            WhipError::InUse { .. } => (409, Level::Warn),
            WhipError::BadOffer(_) => (400, Level::Info),
            WhipError::Unsupported(_) => (422, Level::Info),
            WhipError::TooLarge { .. } => (413, Level::Info),
            WhipError::UnknownSession => (404, Level::Debug),
            WhipError::Internal(_) => (500, Level::Warn),
        }
    }

    /// The HTTP status for this error (RFC 9725 §4.2: 401/403 for credentials, 409 is
    /// this server's "stream key in use").
    pub fn status(&self) -> u16 {
        self.disposition().0
    }

    pub(crate) fn level(&self) -> Level {
        self.disposition().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(WhipError::NoCredentials.status(), 401);
        assert_eq!(WhipError::Refused { reason: "x".into() }.status(), 403);
        assert_eq!(WhipError::InUse { reason: "x".into() }.status(), 409);
        assert_eq!(WhipError::BadOffer("x".into()).status(), 400);
        assert_eq!(WhipError::Unsupported("x".into()).status(), 422);
        assert_eq!(WhipError::UnknownSession.status(), 404);
        assert_eq!(WhipError::Disabled.status(), 404);
        assert_eq!(WhipError::ShuttingDown.status(), 503);
        assert_eq!(WhipError::Busy { reason: "x".into() }.status(), 503);
    }
}
