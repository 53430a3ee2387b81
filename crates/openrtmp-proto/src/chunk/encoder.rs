//! Message to chunk encoder (RTMP 1.0 §5.3.1) with header compression and zero-copy payloads.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};

use super::header::{self, MessageHeader, EXTENDED_TIMESTAMP, MAX_HEADER_LEN};
use super::output::ChunkOutput;
use super::{ChunkError, INITIAL_CHUNK_SIZE, MAX_CHUNK_SIZE, MAX_CSID, MAX_MESSAGE_LEN, MIN_CSID};
use crate::message::{Message, MessageType};

/// Chunk payload pieces shorter than this are copied next to their header instead of being
/// queued as a separate slice: one extra `IoSlice` costs more than copying a few hundred
/// bytes, and at chunk size 128 slices would double the segment count of a video frame.
const COPY_THRESHOLD: usize = 256;

/// What the encoder remembers of the last message sent on a chunk stream, i.e. what the
/// peer's decoder remembers, which is what header compression may rely on (§5.3.1.2).
#[derive(Debug, Clone, Copy)]
struct SentHeader {
    timestamp: u32,
    /// Delta carried by the last type 1 or 2 header; `None` after a type 0 header. A type 3
    /// header may start a new message only if it repeats this delta. (After type 0 the spec
    /// makes the delta equal to the timestamp, §5.3.1.2.4; we never rely on that rule.)
    delta: Option<u32>,
    length: u32,
    type_id: MessageType,
    stream_id: u32,
    /// 32-bit value of the extended timestamp field of the last type 0, 1 or 2 header, if
    /// it had one; repeated in every type 3 header after it (§5.3.1.3).
    extended: Option<u32>,
}

/// Splits messages into chunks for one connection's outbound direction.
///
/// Header choice for the first chunk of a message on a chunk stream (§5.3.1.2):
/// - type 0 on first use of the chunk stream, when the message stream id changes, and when
///   the timestamp goes backwards (a delta of 2^31 or more in 32-bit serial arithmetic;
///   smaller deltas may cross the 2^32 wrap);
/// - type 1 when only the message stream id is unchanged;
/// - type 2 when the type id and length are unchanged too;
/// - type 3 when the delta is also the same as the previous type 1 or 2 header's.
///
/// Continuation chunks are type 3 and repeat the extended timestamp field when the first
/// header had one, as §5.3.1.3 requires and FFmpeg and librtmp expect.
#[derive(Debug)]
pub struct ChunkEncoder {
    /// Always within 1..=[`MAX_CHUNK_SIZE`].
    chunk_size: u32,
    streams: HashMap<u32, SentHeader>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    /// An encoder at the default chunk size of 128 bytes (§5.4.1).
    pub fn new() -> Self {
        Self { chunk_size: INITIAL_CHUNK_SIZE, streams: HashMap::new() }
    }

    /// The chunk size used for the next message.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Changes the outbound chunk size. Any size the spec allows (1..=0x7FFF_FFFF) is
    /// accepted; callers restrict what they choose to [`OUTBOUND_CHUNK_SIZES`](super::OUTBOUND_CHUNK_SIZES).
    ///
    /// [`write_message`](Self::write_message) already applies a Set Chunk Size message it
    /// writes, right after writing it, so this is only needed to change the size without
    /// telling the peer (which is a protocol error unless the peer was told otherwise).
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(ChunkError::ChunkSizeOutOfRange { size });
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Appends `msg`, split into chunks, to `out`.
    ///
    /// Header bytes and payload pieces under 256 bytes are copied into `out`'s scratch
    /// buffer; larger pieces are queued as `Bytes::slice`s of `msg.payload`, never copied.
    ///
    /// A Set Chunk Size message (type 1) with a valid size switches this encoder to the new
    /// size once it is written, exactly when the peer's decoder switches.
    ///
    /// Caller errors that cannot be encoded are not reported but clamped: a `csid` outside
    /// 2..=65599 is sent on the nearest valid id, and a payload over 0xFF_FFFF bytes is cut to
    /// that length (both also fail a debug assertion).
    pub fn write_message(&mut self, msg: &Message, out: &mut ChunkOutput) {
        debug_assert!((MIN_CSID..=MAX_CSID).contains(&msg.csid), "csid {}", msg.csid);
        debug_assert!(msg.payload.len() <= MAX_MESSAGE_LEN as usize, "payload too long");
        let csid = msg.csid.clamp(MIN_CSID, MAX_CSID);
        let len = msg.payload.len().min(MAX_MESSAGE_LEN as usize);
        let length = len as u32;

        let prev = self.streams.get(&csid);
        let (first, sent) = choose_header(prev, msg, length);
        self.streams.insert(csid, sent);

        let chunk_size = self.chunk_size as usize;
        let mut offset: usize = 0;
        let mut header = first;
        loop {
            let end = offset.saturating_add(chunk_size).min(len);
            let scratch = out.scratch_for(MAX_HEADER_LEN + COPY_THRESHOLD);
            header::put_basic_header(scratch, header.fmt(), csid);
            header::put_message_header(scratch, &header);
            if let Some(extended) = sent.extended {
                scratch.put_u32(extended);
            }
            if end - offset < COPY_THRESHOLD {
                if let Some(piece) = msg.payload.get(offset..end) {
                    scratch.put_slice(piece);
                }
            } else {
                out.push_bytes(msg.payload.slice(offset..end));
            }
            offset = end;
            if offset >= len {
                break;
            }
            header = MessageHeader::Type3;
        }

        if msg.type_id == MessageType::SET_CHUNK_SIZE {
            if let Some(size) = msg.payload.first_chunk::<4>().map(|b| u32::from_be_bytes(*b)) {
                // An invalid size is the caller's bug, and the peer will reject it; keep ours.
                let _ = self.set_chunk_size(size);
            }
        }
    }
    /// Records that `msg` went out on its chunk stream encoded by [`encode_standalone`] (by
    /// this encoder's output or straight to the socket): later messages on that chunk
    /// stream are compressed against its type 0 header.
    pub fn note_standalone(&mut self, msg: &Message) {
        let csid = msg.csid.clamp(MIN_CSID, MAX_CSID);
        let length = msg.payload.len().min(MAX_MESSAGE_LEN as usize) as u32;
        let (_, sent) = choose_header(None, msg, length);
        self.streams.insert(csid, sent);
    }

    /// Forgets what was last sent on chunk stream `csid`: its next message starts with a
    /// type 0 header. For messages that reached the peer without this encoder (the
    /// publisher's task wrote them straight to the socket).
    pub fn forget(&mut self, csid: u32) {
        self.streams.remove(&csid);
    }
}

/// `msg` encoded on its own (RTMP 1.0 §5.3.1): a type 0 header, which depends on no earlier
/// header, then type 3 headers between `chunk_size` pieces (each repeating the extended
/// timestamp, §5.3.1.3). The same bytes serve every peer that has this chunk size, whatever
/// it was sent before, so a frame is chunked once per stream, not once per viewer.
///
/// The result is the slices to write in order: headers (all in one allocation) and the
/// payload's own pieces, shared by reference count (pieces under a few hundred bytes are
/// copied next to their header). With a chunk size at least the message's length, a
/// message is two slices.
pub fn encode_standalone(msg: &Message, chunk_size: u32) -> Vec<Bytes> {
    let csid = msg.csid.clamp(MIN_CSID, MAX_CSID);
    let len = msg.payload.len().min(MAX_MESSAGE_LEN as usize);
    let (first, sent) = choose_header(None, msg, len as u32);
    let chunk_size = chunk_size.clamp(1, MAX_CHUNK_SIZE) as usize;
    let pieces = len.div_ceil(chunk_size).max(1);
    let mut headers = BytesMut::with_capacity(MAX_HEADER_LEN + (pieces - 1) * 8 + COPY_THRESHOLD);
    // (end of this header in `headers`, payload piece to write after it)
    let mut layout: Vec<(usize, Option<Bytes>)> = Vec::with_capacity(pieces);
    let mut offset: usize = 0;
    let mut header = first;
    loop {
        let end = offset.saturating_add(chunk_size).min(len);
        header::put_basic_header(&mut headers, header.fmt(), csid);
        header::put_message_header(&mut headers, &header);
        if let Some(extended) = sent.extended {
            headers.put_u32(extended);
        }
        if end - offset < COPY_THRESHOLD {
            headers.put_slice(msg.payload.get(offset..end).unwrap_or_default());
            layout.push((headers.len(), None));
        } else {
            layout.push((headers.len(), Some(msg.payload.slice(offset..end))));
        }
        offset = end;
        if offset >= len {
            break;
        }
        header = MessageHeader::Type3;
    }
    let headers = headers.freeze();
    let mut parts = Vec::with_capacity(layout.len() * 2);
    let mut start = 0;
    for (end, piece) in layout {
        // A copied piece sits right after its header: it joins the next header's slice.
        if let Some(piece) = piece {
            parts.push(headers.slice(start..end));
            parts.push(piece);
            start = end;
        }
    }
    if start < headers.len() {
        parts.push(headers.slice(start..));
    }
    parts
}

/// Picks the first chunk's header for `msg` given what was last sent on its chunk stream,
/// and returns it with the state the peer will hold afterwards. Timestamp fields in the
/// returned header are already clamped to [`EXTENDED_TIMESTAMP`].
fn choose_header(
    prev: Option<&SentHeader>,
    msg: &Message,
    length: u32,
) -> (MessageHeader, SentHeader) {
    let type_id = msg.type_id;
    let mut sent = SentHeader {
        timestamp: msg.timestamp,
        delta: None,
        length,
        type_id,
        stream_id: msg.stream_id,
        extended: None,
    };
    let delta = prev
        .filter(|p| p.stream_id == msg.stream_id)
        .map(|p| (p, msg.timestamp.wrapping_sub(p.timestamp)))
        .filter(|&(_, d)| d < 0x8000_0000);
    let Some((p, delta)) = delta else {
        let (field, extended) = split_extended(msg.timestamp);
        sent.extended = extended;
        let header = MessageHeader::Type0 {
            timestamp: field,
            length,
            type_id: type_id.0,
            stream_id: msg.stream_id,
        };
        return (header, sent);
    };
    sent.delta = Some(delta);
    let (field, extended) = split_extended(delta);
    sent.extended = extended;
    let header = if p.length != length || p.type_id != type_id {
        MessageHeader::Type1 { delta: field, length, type_id: type_id.0 }
    } else if p.delta != Some(delta) {
        MessageHeader::Type2 { delta: field }
    } else {
        // Same delta as the last type 1/2 header, so also the same extended field.
        MessageHeader::Type3
    };
    (header, sent)
}

/// Splits a timestamp or delta into the 24-bit field and the optional extended field.
fn split_extended(value: u32) -> (u32, Option<u32>) {
    if value >= EXTENDED_TIMESTAMP {
        (EXTENDED_TIMESTAMP, Some(value))
    } else {
        (value, None)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn msg(csid: u32, timestamp: u32, type_id: u8, stream_id: u32, len: usize) -> Message {
        Message {
            csid,
            timestamp,
            type_id: MessageType(type_id),
            stream_id,
            payload: Bytes::from(vec![0xAB; len]),
        }
    }

    fn encode(enc: &mut ChunkEncoder, m: &Message) -> Vec<u8> {
        let mut out = ChunkOutput::new();
        enc.write_message(m, &mut out);
        out.to_vec()
    }

    #[test]
    fn header_compression_choices() {
        let mut enc = ChunkEncoder::new();
        let first = encode(&mut enc, &msg(6, 100, 9, 1, 10));
        assert_eq!(first[..12], [6, 0, 0, 100, 0, 0, 10, 9, 1, 0, 0, 0]);
        // Same stream id, new length: type 1 with delta 33.
        let second = encode(&mut enc, &msg(6, 133, 9, 1, 11));
        assert_eq!(second[..8], [0x46, 0, 0, 33, 0, 0, 11, 9]);
        // Same length and type, same delta, but the last header's delta: type 3 is allowed
        // only after a type 1/2 header with this delta, which we just had.
        let third = encode(&mut enc, &msg(6, 166, 9, 1, 11));
        assert_eq!(third.len(), 1 + 11);
        assert_eq!(third[0], 0xC6);
        // Different delta: type 2.
        let fourth = encode(&mut enc, &msg(6, 170, 9, 1, 11));
        assert_eq!(fourth[..4], [0x86, 0, 0, 4]);
        // Backwards: type 0.
        let fifth = encode(&mut enc, &msg(6, 10, 9, 1, 11));
        assert_eq!(fifth[0], 0x06);
        // New message stream id: type 0.
        let sixth = encode(&mut enc, &msg(6, 20, 9, 2, 11));
        assert_eq!(sixth[0], 0x06);
    }

    #[test]
    fn no_type3_new_message_right_after_type0() {
        let mut enc = ChunkEncoder::new();
        encode(&mut enc, &msg(4, 0, 8, 1, 5));
        // Delta 0 equals the type-0 timestamp; the spec would allow type 3, we send type 2.
        let second = encode(&mut enc, &msg(4, 0, 8, 1, 5));
        assert_eq!(second[..4], [0x84, 0, 0, 0]);
    }

    #[test]
    fn extended_timestamp_repeated_in_continuations() {
        let mut enc = ChunkEncoder::new();
        let bytes = encode(&mut enc, &msg(3, 0x0100_0000, 9, 1, 200));
        let mut expected = vec![3, 0xFF, 0xFF, 0xFF, 0, 0, 200, 9, 1, 0, 0, 0, 1, 0, 0, 0];
        expected.extend([0xAB; 128]);
        expected.extend([0xC3, 1, 0, 0, 0]);
        expected.extend([0xAB; 72]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn timestamp_ffffff_itself_is_extended() {
        let mut enc = ChunkEncoder::new();
        let bytes = encode(&mut enc, &msg(3, 0xFF_FFFF, 9, 1, 0));
        assert_eq!(bytes, [3, 0xFF, 0xFF, 0xFF, 0, 0, 0, 9, 1, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn wrap_is_a_forward_delta() {
        let mut enc = ChunkEncoder::new();
        encode(&mut enc, &msg(3, 0xFFFF_FFF0, 9, 1, 1));
        let bytes = encode(&mut enc, &msg(3, 0x10, 9, 1, 2));
        assert_eq!(bytes[..4], [0x43, 0, 0, 0x20]);
    }

    #[test]
    fn large_pieces_are_slices_of_the_payload() {
        let mut enc = ChunkEncoder::new();
        enc.set_chunk_size(4096).unwrap();
        let m = msg(6, 0, 9, 1, 10_000);
        let mut out = ChunkOutput::new();
        enc.write_message(&m, &mut out);
        let payload = m.payload.as_ptr_range();
        let inside: Vec<usize> =
            out.segments().filter(|s| payload.contains(&s.as_ptr())).map(<[u8]>::len).collect();
        // 4096 + 4096 shared; the last 1808 bytes too (over the copy threshold).
        assert_eq!(inside, [4096, 4096, 1808]);
        assert_eq!(out.len(), 12 + 1 + 1 + 10_000);
    }

    #[test]
    fn set_chunk_size_message_applies_after_itself() {
        let mut enc = ChunkEncoder::new();
        let mut m = msg(2, 0, 1, 0, 0);
        m.payload = Bytes::from_static(&[0, 0, 0x10, 0]);
        encode(&mut enc, &m);
        assert_eq!(enc.chunk_size(), 4096);
        m.payload = Bytes::from_static(&[0, 0, 0, 0]);
        encode(&mut enc, &m);
        assert_eq!(enc.chunk_size(), 4096);
    }

    #[test]
    fn standalone_is_what_a_fresh_encoder_sends() {
        for (ts, len, size) in [
            (0, 0, 128),
            (40, 10, 128),
            (33, 10_000, 4096),
            (0x0100_0000, 300, 128),
            (7, 70_000, 65_536),
        ] {
            let m = msg(6, ts, 9, 1, len);
            let mut fresh = ChunkEncoder::new();
            fresh.set_chunk_size(size).unwrap();
            let parts = encode_standalone(&m, size);
            assert_eq!(parts.concat(), encode(&mut fresh, &m), "{ts} {len} {size}");
            // Headers and copied pieces merge: one header slice per shared payload piece.
            let shared = len / size as usize + usize::from(len % size as usize >= 256);
            assert!(parts.len() <= 2 * shared + 1, "{ts} {len} {size}: {} parts", parts.len());
        }
    }

    #[test]
    fn after_a_standalone_message_headers_compress_against_it() {
        let mut enc = ChunkEncoder::new();
        encode(&mut enc, &msg(6, 0, 9, 1, 10));
        // Sent elsewhere: the encoder did not see it, and must not compress against stale state.
        enc.forget(6);
        assert_eq!(encode(&mut enc, &msg(6, 100, 9, 1, 10))[0], 0x06);
        // Noted: the next message is a type 1/2 relative to it.
        enc.note_standalone(&msg(6, 200, 9, 1, 10));
        assert_eq!(encode(&mut enc, &msg(6, 233, 9, 1, 10))[..4], [0x86, 0, 0, 33]);
    }

    #[test]
    fn chunk_size_bounds() {
        let mut enc = ChunkEncoder::new();
        assert_eq!(enc.set_chunk_size(0), Err(ChunkError::ChunkSizeOutOfRange { size: 0 }));
        assert_eq!(
            enc.set_chunk_size(0x8000_0000),
            Err(ChunkError::ChunkSizeOutOfRange { size: 0x8000_0000 })
        );
        assert_eq!(enc.set_chunk_size(1), Ok(()));
        assert_eq!(enc.set_chunk_size(MAX_CHUNK_SIZE), Ok(()));
        let bytes = encode(&mut enc, &msg(3, 0, 9, 1, 1000));
        assert_eq!(bytes.len(), 12 + 1000);
    }
}
