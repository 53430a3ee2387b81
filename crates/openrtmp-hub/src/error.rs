//! Why a publish or play request is refused.

use crate::StreamKey;

/// [`crate::Hub::publish`] refused the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// Another publisher is live on the key and `replace_publisher` is off
    /// (`NetStream.Publish.BadName` on the wire).
    #[error("stream {key} is already being published by owner {owner}")]
    InUse {
        /// The contested key.
        key: StreamKey,
        /// The owner id of the publisher that holds the key (not the one refused).
        owner: u64,
    },
}

/// [`crate::Hub::subscribe`] refused the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// Nobody publishes on the key and `wait_for_publisher` is off
    /// (`NetStream.Play.StreamNotFound` on the wire).
    #[error("stream {key} is not being published")]
    NotFound {
        /// The requested key.
        key: StreamKey,
    },
}
