//! Reading a recording back, for video on demand and for listing (duration).
//!
//! A [`VodSource`] turns a recording file into the RTMP messages a player is sent: the
//! stream's metadata and sequence headers ([`VodSource::headers`]), then media in timestamp
//! order from a keyframe ([`VodSource::seek`], [`VodSource::next_message`]). Timestamps start
//! at 0 at the start of the file. A file cut short (a crash while recording; a segment still
//! being written) reads up to its last complete tag or fragment, never fails for that.
//!
//! Readers use blocking `std::io`: the server runs them on a blocking thread.

use std::path::Path;

use crate::{Format, Message, RecordError};

pub mod chain;
pub mod flv;
pub mod mp4;

/// A recording opened for playback.
pub trait VodSource: Send + std::fmt::Debug {
    /// Media duration in ms (last timestamp minus first, over what is complete).
    fn duration_ms(&self) -> u64;

    /// What a player needs before any media: `onMetaData` (a script message) and the
    /// sequence headers of every track, as RTMP message bodies (timestamps 0).
    fn headers(&self) -> Vec<Message>;

    /// Moves reading to the last video keyframe at or before `ms` (the first keyframe when
    /// `ms` precedes it; the end when it is past the end); returns that keyframe's time.
    /// Audio-only recordings seek to the last frame at or before `ms`.
    fn seek(&mut self, ms: u64) -> Result<u64, RecordError>;

    /// The next media message (audio, video or script data other than the header's
    /// metadata) in timestamp order, or `None` at the end of what is complete.
    fn next_message(&mut self) -> Result<Option<Message>, RecordError>;
}

/// Opens a recording of one or more segments (in order) for playback as one source
/// ([`chain::ChainSource`] when there are several).
pub fn open_parts(
    parts: &[(std::path::PathBuf, Format)],
) -> Result<Box<dyn VodSource>, RecordError> {
    match parts {
        [(path, format)] => open(path, *format),
        _ => {
            let sources = parts.iter().map(|(p, f)| open(p, *f)).collect::<Result<Vec<_>, _>>()?;
            Ok(Box::new(chain::ChainSource::new(sources)?))
        }
    }
}

/// Opens the recording at `path` for playback, by its format.
pub fn open(path: &Path, format: Format) -> Result<Box<dyn VodSource>, RecordError> {
    match format {
        Format::Flv => Ok(Box::new(flv::FlvSource::open(path)?)),
        Format::Mp4 => Ok(Box::new(mp4::Mp4Source::open(path)?)),
    }
}
