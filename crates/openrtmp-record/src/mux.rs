//! The contract of a recording format: messages in (as the hub hands them out), bytes to
//! append to the segment's file out. A muxer never does I/O; the server's writer appends
//! what it is given, in order, and applies the [`Patch`]es of [`Muxer::finish`] in place.
//!
//! Crash safety is the muxer's business: each [`Output`] it returns ends on a boundary at
//! which the file is playable (a whole FLV tag; a whole MP4 fragment), so a writer that
//! appends each output with one write leaves a playable file whenever it is killed.

use bytes::Bytes;
use openrtmp_media::TagType;

use crate::RecordError;

/// A recording format, chosen per rule (`record.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Fragmented MP4 (`.mp4`): the default; plays everywhere, survives a crash.
    #[default]
    Mp4,
    /// FLV (`.flv`): the exact tags received.
    Flv,
}

impl Format {
    /// The file extension, without the dot: `mp4` or `flv`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Mp4 => "mp4",
            Format::Flv => "flv",
        }
    }

    /// The format of a file extension (`mp4`, `flv`; ASCII case ignored).
    pub fn from_extension(ext: &str) -> Option<Format> {
        if ext.eq_ignore_ascii_case("mp4") {
            Some(Format::Mp4)
        } else if ext.eq_ignore_ascii_case("flv") {
            Some(Format::Flv)
        } else {
            None
        }
    }
}

/// One RTMP media message as received: FLV tag type, timestamp (ms, as the stream has it:
/// the muxer rebases) and the tag body (AUDIODATA, VIDEODATA or AMF0 script data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Audio, video or script data.
    pub kind: TagType,
    /// RTMP timestamp in ms (wraps at 2^32; compare with `wrapping_sub`).
    pub timestamp: u32,
    /// The message body, shared with the hub (never copied by a muxer for FLV).
    pub payload: Bytes,
}

/// Bytes a muxer asks to be appended to the segment's file, in order. Each `Output`
/// ends on a playable boundary (see the module documentation): write it whole.
pub type Output = Vec<Bytes>;

/// Bytes to write in place at `offset` when the segment is finished (e.g. the duration
/// in an MP4 `mehd` or an FLV `onMetaData`), after every appended byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// Offset from the start of the file.
    pub offset: u64,
    /// What to write there.
    pub bytes: Bytes,
}

/// A recording format's muxer: one per segment file.
///
/// The recorder feeds a segment with, in order: the stream's metadata (`onMetaData`), its
/// sequence headers (codec configuration), then media starting at a video keyframe (or at
/// the first audio frame of a stream without video).
pub trait Muxer: Send + std::fmt::Debug {
    /// Takes one message; appends to `out` what is now ready to be written (possibly
    /// nothing: an MP4 muxer holds a fragment until it is complete). An `Err` is about this
    /// message only (it was skipped); the segment goes on.
    fn push(&mut self, message: &Message, out: &mut Output) -> Result<(), RecordError>;

    /// Ends the segment: appends to `out` what is still held and returns the patches to
    /// apply afterwards.
    fn finish(&mut self, out: &mut Output) -> Vec<Patch>;

    /// Media duration so far in ms (last timestamp written minus the first).
    fn duration_ms(&self) -> u64;
}
