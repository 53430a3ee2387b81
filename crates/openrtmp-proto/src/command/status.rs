//! onStatus / `_result` / `_error` info codes (RTMP 1.0 §7.2.1.1, §7.2.2, Enhanced RTMP v2
//! "NetConnection.Connect.ReconnectRequest").

/// The `level` property of an info object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusLevel {
    /// "status": informational.
    Status,
    /// "warning".
    Warning,
    /// "error".
    Error,
}

impl StatusLevel {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusLevel::Status => "status",
            StatusLevel::Warning => "warning",
            StatusLevel::Error => "error",
        }
    }
}

/// A standard status code with its level and a default description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode {
    /// The `code` string, e.g. `NetStream.Publish.Start`.
    pub code: &'static str,
    /// The `level` of this code.
    pub level: StatusLevel,
    /// A default human-readable `description`.
    pub description: &'static str,
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $level:ident, $desc:literal;)*) => {
        impl StatusCode {
            $($(#[$doc])* pub const $name: StatusCode =
                StatusCode { code: $code, level: StatusLevel::$level, description: $desc };)*

            /// Every code this crate knows, for look-ups by string.
            pub const ALL: &'static [StatusCode] = &[$(StatusCode::$name),*];
        }
    };
}

codes! {
    /// connect accepted.
    CONNECT_SUCCESS = "NetConnection.Connect.Success", Status, "Connection succeeded.";
    /// connect refused (auth, limits, ACL).
    CONNECT_REJECTED = "NetConnection.Connect.Rejected", Error, "Connection rejected.";
    /// connect failed.
    CONNECT_FAILED = "NetConnection.Connect.Failed", Error, "Connection failed.";
    /// The server closed the connection.
    CONNECT_CLOSED = "NetConnection.Connect.Closed", Status, "Connection closed.";
    /// The server (application) is shutting down.
    CONNECT_APP_SHUTDOWN = "NetConnection.Connect.AppShutdown", Status, "The server is shutting down.";
    /// The application named in connect does not exist.
    CONNECT_INVALID_APP = "NetConnection.Connect.InvalidApp", Error, "Invalid application.";
    /// Enhanced RTMP v2: the server asks the client to reconnect.
    CONNECT_RECONNECT_REQUEST = "NetConnection.Connect.ReconnectRequest", Status, "The server is requesting the client to reconnect.";
    /// publish accepted.
    PUBLISH_START = "NetStream.Publish.Start", Status, "Publishing started.";
    /// publish refused: name in use or not allowed.
    PUBLISH_BAD_NAME = "NetStream.Publish.BadName", Error, "Stream name is invalid or already in use.";
    /// publish refused for lack of rights.
    PUBLISH_DENIED = "NetStream.Publish.Denied", Error, "Publishing denied.";
    /// The publisher went idle.
    PUBLISH_IDLE = "NetStream.Publish.Idle", Status, "Publisher is idle.";
    /// unpublish done.
    UNPUBLISH_SUCCESS = "NetStream.Unpublish.Success", Status, "Stream unpublished.";
    /// play: playlist reset.
    PLAY_RESET = "NetStream.Play.Reset", Status, "Playing and resetting.";
    /// play started.
    PLAY_START = "NetStream.Play.Start", Status, "Started playing.";
    /// play stopped.
    PLAY_STOP = "NetStream.Play.Stop", Status, "Stopped playing.";
    /// play failed.
    PLAY_FAILED = "NetStream.Play.Failed", Error, "Play failed.";
    /// play: no such stream.
    PLAY_STREAM_NOT_FOUND = "NetStream.Play.StreamNotFound", Error, "Stream not found.";
    /// A publisher started on the stream being played.
    PLAY_PUBLISH_NOTIFY = "NetStream.Play.PublishNotify", Status, "Stream is now published.";
    /// The publisher of the stream being played stopped.
    PLAY_UNPUBLISH_NOTIFY = "NetStream.Play.UnpublishNotify", Status, "Stream was unpublished.";
    /// The player fell behind and data was dropped.
    PLAY_INSUFFICIENT_BW = "NetStream.Play.InsufficientBW", Warning, "Data is being dropped: the client is not keeping up.";
    /// Paused.
    PAUSE_NOTIFY = "NetStream.Pause.Notify", Status, "Paused.";
    /// Resumed.
    UNPAUSE_NOTIFY = "NetStream.Unpause.Notify", Status, "Unpaused.";
    /// Seek done.
    SEEK_NOTIFY = "NetStream.Seek.Notify", Status, "Seeking.";
    /// Seek failed (live streams).
    SEEK_FAILED = "NetStream.Seek.Failed", Error, "Seek failed: the stream is live.";
    /// A generic stream failure.
    STREAM_FAILED = "NetStream.Failed", Error, "Stream failed.";
    /// A command the server does not implement.
    CALL_FAILED = "NetConnection.Call.Failed", Error, "Call failed.";
}

impl StatusCode {
    /// Looks a code up by its string.
    pub fn from_code(code: &str) -> Option<StatusCode> {
        Self::ALL.iter().copied().find(|c| c.code == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_found() {
        for c in StatusCode::ALL {
            assert_eq!(StatusCode::from_code(c.code), Some(*c));
            assert_eq!(StatusCode::ALL.iter().filter(|o| o.code == c.code).count(), 1);
        }
        assert_eq!(StatusCode::PUBLISH_BAD_NAME.level, StatusLevel::Error);
    }
}
