//! The recording layer's one error type.

/// What can go wrong while muxing or reading a recording.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A message could not be parsed as FLV audio/video/script data.
    #[error("bad media: {0}")]
    Media(#[from] openrtmp_media::MediaError),
    /// A codec this format cannot carry (the recorder skips the track and says so).
    #[error("{format} cannot carry {codec}")]
    Unsupported {
        /// `flv` or `mp4`.
        format: &'static str,
        /// The codec, in words.
        codec: String,
    },
    /// A file being read is not a recording we can play (or is cut short before anything
    /// playable).
    #[error("not a playable recording: {0}")]
    Invalid(String),
    /// An MP4 box failed to encode or decode.
    #[error("mp4: {0}")]
    Mp4(String),
    /// Reading the file failed.
    #[error("reading the recording failed: {0}")]
    Io(#[from] std::io::Error),
}

impl From<mp4_atom::Error> for RecordError {
    fn from(e: mp4_atom::Error) -> Self {
        RecordError::Mp4(e.to_string())
    }
}
