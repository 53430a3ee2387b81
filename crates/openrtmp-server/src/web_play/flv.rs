//! The FLV byte stream of one web viewer (FLV 10.1 §E.2 header, §E.3 body, §E.4.1 tag
//! header): an RTMP media message body IS an FLV tag body (Enhanced RTMP codecs included,
//! which makes the output Enhanced FLV), so a tag is 11 header bytes, the shared payload
//! and the 4-byte PreviousTagSize. Nothing is transcoded and no payload is copied: each
//! tag adds two pieces to the output, one small buffer (the previous tag's size, then this
//! tag's header) and the payload's `Bytes` (a refcount). The small buffers are cut from one
//! allocation that serves [`HEADERS_PER_ALLOCATION`] tags, not one allocation per tag.

use bytes::{BufMut, Bytes, BytesMut};
use openrtmp_hub::{Frame, FrameKind};
use openrtmp_media::{FlvHeader, TagType};

/// Largest tag body FLV can describe (DataSize is 24 bits, §E.4.1).
const MAX_DATA_SIZE: usize = 0xFF_FFFF;

/// PreviousTagSize (4) + tag header (11).
const HEADER_LEN: usize = 15;
/// How many tag headers one allocation of the header buffer holds.
pub(crate) const HEADERS_PER_ALLOCATION: usize = 64;

/// Writes the FLV byte stream: the header once, then tags.
#[derive(Debug, Default)]
pub(crate) struct FlvStream {
    /// The header was written.
    started: bool,
    /// The PreviousTagSize owed before the next tag header (written with it, or by
    /// [`FlvStream::finish_batch`]); `None` when it was written.
    owed: Option<u32>,
    /// Room for the next tag headers: each is split off (sharing this allocation) and the
    /// rest stays here until it runs out.
    headers: BytesMut,
}

impl FlvStream {
    /// Whether the FLV header was written.
    pub(crate) fn started(&self) -> bool {
        self.started
    }

    /// Appends the FLV header and PreviousTagSize0 (§E.3: always 0).
    pub(crate) fn start(&mut self, has_audio: bool, has_video: bool, out: &mut Vec<Bytes>) {
        let mut buf = BytesMut::with_capacity(13);
        // Version 1, DataOffset 9: `write` cannot fail for these.
        let _ = FlvHeader::new(has_audio, has_video).write(&mut buf);
        out.push(buf.freeze());
        self.started = true;
        self.owed = Some(0);
    }

    /// Appends one frame as a tag. A frame too large for FLV is skipped (RTMP messages
    /// are bounded well below 16 MiB by the chunk reassembly limits, so this is defensive).
    pub(crate) fn tag(&mut self, frame: &Frame, out: &mut Vec<Bytes>) -> bool {
        let len = frame.payload.len();
        if len > MAX_DATA_SIZE {
            return false;
        }
        let owed = self.owed.take();
        let buf = self.room();
        if let Some(owed) = owed {
            buf.put_u32(owed);
        }
        let tag_type = TagType::from(frame.kind);
        buf.put_u8(tag_type.0);
        put_u24(buf, len as u32);
        // Timestamp: lower 24 bits, then TimestampExtended (the upper 8).
        put_u24(buf, frame.timestamp & 0xFF_FFFF);
        buf.put_u8((frame.timestamp >> 24) as u8);
        put_u24(buf, 0); // StreamID, always 0.
        out.push(self.headers.split().freeze());
        out.push(frame.payload.clone());
        self.owed = Some(11 + len as u32);
        true
    }

    /// Ends a batch: appends the last tag's PreviousTagSize, so that a player holds a
    /// whole tag (mpegts.js waits for it; FFmpeg reads it after the payload).
    pub(crate) fn finish_batch(&mut self, out: &mut Vec<Bytes>) {
        if let Some(owed) = self.owed.take() {
            self.room().put_u32(owed);
            out.push(self.headers.split().freeze());
        }
    }

    /// The header buffer with room for one more tag header: a new allocation only when the
    /// current one is used up (the pieces already split off keep the old one alive).
    fn room(&mut self) -> &mut BytesMut {
        if self.headers.capacity() < HEADER_LEN {
            self.headers = BytesMut::with_capacity(HEADER_LEN * HEADERS_PER_ALLOCATION);
        }
        &mut self.headers
    }
}

/// A big-endian 24-bit field (FLV's UI24).
fn put_u24(buf: &mut BytesMut, v: u32) {
    buf.put_slice(&v.to_be_bytes()[1..]);
}

/// The kinds of media present, for the header flags.
pub(crate) fn kinds(frames: impl Iterator<Item = FrameKind>) -> (bool, bool) {
    frames
        .fold((false, false), |(a, v), k| (a || k == FrameKind::Audio, v || k == FrameKind::Video))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openrtmp_media::FlvDecoder;

    fn concat(parts: &[Bytes]) -> Vec<u8> {
        parts.iter().flat_map(|b| b.iter().copied()).collect()
    }

    #[test]
    fn writes_header_and_tags_that_the_flv_reader_reads_back() {
        let mut flv = FlvStream::default();
        let mut out = Vec::new();
        flv.start(true, true, &mut out);
        let video = Frame::classify(
            FrameKind::Video,
            0x0102_0304,
            Bytes::from_static(&[0x17, 1, 0, 0, 0, 9]),
        );
        let audio = Frame::classify(FrameKind::Audio, 5, Bytes::from_static(&[0xAF, 1, 7]));
        assert!(flv.tag(&video, &mut out));
        assert!(flv.tag(&audio, &mut out));
        flv.finish_batch(&mut out);
        let bytes = concat(&out);
        // Golden bytes, from FLV 10.1 §E.2/§E.3/§E.4.1 by hand.
        let expected: Vec<u8> = [
            &b"FLV\x01\x05\x00\x00\x00\x09"[..],
            &[0, 0, 0, 0],
            &[9, 0, 0, 6, 0x02, 0x03, 0x04, 0x01, 0, 0, 0],
            &[0x17, 1, 0, 0, 0, 9],
            &[0, 0, 0, 17],
            &[8, 0, 0, 3, 0, 0, 5, 0, 0, 0, 0],
            &[0xAF, 1, 7],
            &[0, 0, 0, 14],
        ]
        .concat();
        assert_eq!(bytes, expected);
        let mut decoder = FlvDecoder::new();
        decoder.handle_input(&bytes);
        let header = decoder.poll_header().expect("header").expect("complete");
        assert!(header.has_audio && header.has_video);
        let first = decoder.poll_tag().expect("tag").expect("complete");
        assert_eq!(first.timestamp, 0x0102_0304);
        assert_eq!(first.data, video.payload);
        let second = decoder.poll_tag().expect("tag").expect("complete");
        assert_eq!(second.data, audio.payload);
        assert_eq!(decoder.previous_tag_size_mismatches(), 0);
    }

    #[test]
    fn batches_join_without_repeating_or_losing_a_tag_size() {
        let mut flv = FlvStream::default();
        let mut out = Vec::new();
        flv.start(false, true, &mut out);
        let frame = Frame::classify(FrameKind::Video, 40, Bytes::from_static(&[0x27, 1, 0, 0, 0]));
        for _ in 0..3 {
            assert!(flv.tag(&frame, &mut out));
            flv.finish_batch(&mut out);
        }
        let bytes = concat(&out);
        // Header + PreviousTagSize0, then per tag 11 + 5 + 4: no size repeated or missing.
        assert_eq!(bytes.len(), 13 + 3 * 20);
        let mut decoder = FlvDecoder::new();
        decoder.handle_input(&bytes);
        assert!(decoder.poll_header().expect("header").is_some());
        for _ in 0..3 {
            assert!(decoder.poll_tag().expect("tag").is_some());
        }
        assert!(decoder.poll_tag().expect("tag").is_none());
        assert_eq!(decoder.previous_tag_size_mismatches(), 0);
    }

    /// Tag headers are cut from one buffer, not allocated one by one: consecutive headers
    /// sit next to each other in memory.
    #[test]
    fn tag_headers_share_one_allocation() {
        let mut flv = FlvStream::default();
        let mut out = Vec::new();
        for ts in 0..3 {
            let frame = Frame::classify(FrameKind::Video, ts, Bytes::from_static(b"\x27\x01"));
            assert!(flv.tag(&frame, &mut out));
        }
        let headers: Vec<&Bytes> = out.iter().step_by(2).collect();
        assert_eq!(headers[0].len(), 11, "the first tag owes no PreviousTagSize");
        assert_eq!(headers[1].as_ptr(), headers[0].as_ptr().wrapping_add(11));
        assert_eq!(headers[2].as_ptr(), headers[1].as_ptr().wrapping_add(15));
    }

    #[test]
    fn payloads_are_shared_not_copied() {
        let mut flv = FlvStream::default();
        let mut out = Vec::new();
        flv.start(false, true, &mut out);
        let frame = Frame::classify(FrameKind::Video, 0, Bytes::from(vec![0x17, 1, 0, 0, 0, 1, 2]));
        flv.tag(&frame, &mut out);
        assert_eq!(out[2].as_ptr(), frame.payload.as_ptr());
    }
}
