//! The errors of this crate: one enum for the layer.

/// What went wrong in a WebRTC ingest session or its media.
#[derive(Debug, thiserror::Error)]
pub enum WebrtcError {
    /// The SDP offer (or a trickle fragment) could not be used.
    #[error("bad SDP: {0}")]
    Sdp(String),
    /// The offer has nothing we can take (no H.264 video with packetization-mode 1).
    #[error("unsupported offer: {0}")]
    Unsupported(String),
    /// ICE, DTLS or SRTP failed.
    #[error("WebRTC: {0}")]
    Rtc(String),
    /// A frame could not be converted (broken H.264, undecodable Opus).
    #[error("media: {0}")]
    Media(String),
    /// The audio transcoder failed.
    #[error("audio: {0}")]
    Audio(String),
}
