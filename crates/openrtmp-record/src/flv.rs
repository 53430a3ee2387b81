//! FLV segments (FLV 10.1, Annex E): the FLV header (§E.2), `PreviousTagSize0`, then every
//! message as one tag (§E.4.1) carrying the exact body received, each followed by its
//! `PreviousTagSize` (§E.3).
//!
//! Why each tag is its own [`Output`]: the writer appends an output with one write, so a
//! file cut short by a crash ends on a whole tag plus its `PreviousTagSize`, which every
//! FLV reader takes as a clean end. The body is the hub's `Bytes` (a refcount, no copy);
//! the 11-byte tag header and the 4-byte `PreviousTagSize` share one small allocation.
//!
//! Timestamps are rebased so the segment starts at 0: the base is the first audio or video
//! message that is not a sequence header (the recorder starts a segment with the
//! metadata and the sequence headers, whose timestamps may be anything: cached when the
//! publisher started, or stamped at a splice), and whatever comes before it, or would be
//! stamped before it, is written at 0. No duration is patched in: FFmpeg and VLC read an
//! FLV's duration from its last tag when the file is seekable, and a live `onMetaData`
//! carries none that would be wrong.

use bytes::{BufMut, Bytes, BytesMut};
use openrtmp_media::flv_file::{FlvHeader, FLV_HEADER_LEN};
use openrtmp_media::tag::{TagHeader, MAX_TAG_DATA_SIZE, TAG_HEADER_LEN};
use openrtmp_media::{parse_audio, parse_video, TagType};

use crate::mux::{Message, Muxer, Output, Patch};
use crate::RecordError;

/// Bytes of a `PreviousTagSize` field.
const PREVIOUS_TAG_SIZE_LEN: usize = 4;

/// The muxer of one FLV segment.
#[derive(Debug)]
pub struct FlvMuxer {
    has_audio: bool,
    has_video: bool,
    /// Whether the FLV header (and `PreviousTagSize0`) went out with the first tag.
    header_written: bool,
    /// Stream timestamp of the segment's 0 (see the module documentation); `None` until the
    /// first media frame.
    base: Option<u32>,
    /// Largest rebased timestamp written.
    last_ms: u32,
    /// Bytes handed out so far (the size of the file once written).
    bytes: u64,
    /// Where tag headers and PreviousTagSize fields are written: each is split off as a
    /// `Bytes` sharing this buffer, so tags cost one allocation per [`FRAMING_CHUNK`]
    /// bytes of framing (about 270 tags), not one each.
    framing: BytesMut,
}

/// Bytes of framing allocated at a time (see `FlvMuxer::framing`).
const FRAMING_CHUNK: usize = 4096;

impl FlvMuxer {
    /// A segment whose FLV header announces audio and/or video (what the stream carries).
    pub fn new(has_audio: bool, has_video: bool) -> FlvMuxer {
        FlvMuxer {
            has_audio,
            has_video,
            header_written: false,
            base: None,
            last_ms: 0,
            bytes: 0,
            framing: BytesMut::new(),
        }
    }

    /// Bytes handed out so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The FLV header and `PreviousTagSize0`.
    fn file_header(&self) -> Result<Bytes, RecordError> {
        let mut out = BytesMut::with_capacity(FLV_HEADER_LEN + PREVIOUS_TAG_SIZE_LEN);
        FlvHeader::new(self.has_audio, self.has_video).write(&mut out)?;
        out.put_u32(0);
        Ok(out.freeze())
    }

    /// The segment timestamp of `message` (sets the base at the first media frame).
    fn rebase(&mut self, message: &Message) -> u32 {
        if self.base.is_none() && is_media(message) {
            self.base = Some(message.timestamp);
        }
        let Some(base) = self.base else { return 0 };
        // Serial-number arithmetic (RTMP timestamps wrap): before the base is 0.
        let delta = message.timestamp.wrapping_sub(base) as i32;
        u32::try_from(delta).unwrap_or(0)
    }
}

/// Whether `message` is audio or video other than a sequence header (configuration):
/// what fixes the segment's time base.
fn is_media(message: &Message) -> bool {
    match message.kind {
        TagType::VIDEO => parse_video(&message.payload).is_ok_and(|t| !t.is_sequence_header()),
        TagType::AUDIO => parse_audio(&message.payload).is_ok_and(|t| !t.is_sequence_header()),
        _ => false,
    }
}

impl Muxer for FlvMuxer {
    fn push(&mut self, message: &Message, out: &mut Output) -> Result<(), RecordError> {
        let data_size = u32::try_from(message.payload.len())
            .ok()
            .filter(|n| *n <= MAX_TAG_DATA_SIZE)
            .ok_or(RecordError::Media(openrtmp_media::MediaError::FieldOutOfRange {
                field: "DataSize",
                value: message.payload.len() as i64,
            }))?;
        let timestamp = self.rebase(message);
        let header =
            TagHeader { filter: false, tag_type: message.kind, data_size, timestamp, stream_id: 0 };
        if self.framing.capacity() < TAG_HEADER_LEN + PREVIOUS_TAG_SIZE_LEN {
            self.framing = BytesMut::with_capacity(FRAMING_CHUNK);
        }
        header.write(&mut self.framing)?;
        let tag_header = self.framing.split().freeze();
        self.framing.put_u32(TAG_HEADER_LEN as u32 + data_size);
        let trailer = self.framing.split().freeze();
        if !self.header_written {
            let head = self.file_header()?;
            self.bytes += head.len() as u64;
            out.push(head);
            self.header_written = true;
        }
        self.bytes += (TAG_HEADER_LEN + PREVIOUS_TAG_SIZE_LEN) as u64 + u64::from(data_size);
        out.push(tag_header);
        out.push(message.payload.clone());
        out.push(trailer);
        self.last_ms = self.last_ms.max(timestamp);
        Ok(())
    }

    fn finish(&mut self, out: &mut Output) -> Vec<Patch> {
        // A segment that got no tag still becomes a valid (empty) FLV file.
        if !self.header_written {
            if let Ok(head) = self.file_header() {
                self.bytes += head.len() as u64;
                out.push(head);
                self.header_written = true;
            }
        }
        Vec::new()
    }

    fn duration_ms(&self) -> u64 {
        u64::from(self.last_ms)
    }
}

#[cfg(test)]
mod tests;
