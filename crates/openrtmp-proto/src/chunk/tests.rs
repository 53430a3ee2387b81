//! Golden vectors, split feeding and property tests across the chunk encoder and decoder.

use std::collections::HashMap;

use bytes::Bytes;
use proptest::prelude::*;

use super::header::{self, MessageHeader};
use super::*;
use crate::control::ControlMessage;
use crate::message::{Message, MessageType};

pub(super) fn msg(
    csid: u32,
    timestamp: u32,
    type_id: u8,
    stream_id: u32,
    payload: Vec<u8>,
) -> Message {
    Message {
        csid,
        timestamp,
        type_id: MessageType(type_id),
        stream_id,
        payload: Bytes::from(payload),
    }
}

/// Deterministic payload bytes; never 0xFF (see `interleaved_chunks`).
pub(super) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + usize::from(seed)) % 251) as u8).collect()
}

/// Feeds `pieces` in order, polling after each until `Ok(None)`.
pub(super) fn decode_pieces<'a>(
    decoder: &mut ChunkDecoder,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Message>, ChunkError> {
    let mut out = Vec::new();
    for piece in pieces {
        decoder.handle_input(piece);
        while let Some(m) = decoder.poll_message()? {
            out.push(m);
        }
    }
    Ok(out)
}

/// As [`decode_pieces`], but each piece is "read" straight into the decoder's input, as a
/// zero-copy driver does: reserve room (at least `room` bytes, as a driver's read size),
/// append, [`ChunkDecoder::handle_appended`].
fn decode_reads<'a>(
    decoder: &mut ChunkDecoder,
    pieces: impl IntoIterator<Item = &'a [u8]>,
    room: usize,
) -> Result<Vec<Message>, ChunkError> {
    let mut out = Vec::new();
    for piece in pieces {
        let input = decoder.input_mut();
        input.reserve(room.max(piece.len()));
        input.extend_from_slice(piece);
        decoder.handle_appended(piece.len());
        while let Some(m) = decoder.poll_message()? {
            out.push(m);
        }
    }
    Ok(out)
}

pub(super) fn decode(data: &[u8]) -> Result<Vec<Message>, ChunkError> {
    decode_pieces(&mut ChunkDecoder::new(DecoderLimits::default()), [data])
}

/// Decodes `data` whole, split in two at every byte boundary, and one byte at a time.
fn assert_decodes_all_ways(data: &[u8], expected: &[Message]) {
    assert_eq!(decode(data).as_deref(), Ok(expected), "whole");
    for cut in 0..=data.len() {
        let (a, b) = data.split_at(cut);
        let mut dec = ChunkDecoder::new(DecoderLimits::default());
        assert_eq!(decode_pieces(&mut dec, [a, b]).as_deref(), Ok(expected), "cut {cut}");
        assert_eq!(dec.buffered_bytes(), 0);
    }
    let mut dec = ChunkDecoder::new(DecoderLimits::default());
    let bytes = data.chunks(1);
    assert_eq!(decode_pieces(&mut dec, bytes).as_deref(), Ok(expected), "bytewise");
}

fn encode_all(encoder: &mut ChunkEncoder, messages: &[Message]) -> Vec<u8> {
    let mut out = ChunkOutput::new();
    for m in messages {
        encoder.write_message(m, &mut out);
    }
    out.to_vec()
}

/// RTMP 1.0 §5.3.2.1, Example 1: four 32-byte audio messages on message stream 12345, 20 ms
/// apart, on chunk stream 3: type 0, type 2 (delta 20), then type 3 twice.
///
/// The spec gives header fields and sizes (44, 36, 33, 33 bytes), not bytes; these are
/// written from those fields. Payload bytes are ours. Spec errata: the table labels the
/// type 0 field "delta: 1000", but type 0 carries the absolute timestamp (§5.3.1.2.1), which
/// for a first message is the same number; and §6.1.1 calls the message stream id 3 bytes,
/// whereas the chunk header carries 4 bytes, little-endian (§5.3.1.2.5): 39 30 00 00.
fn spec_example_1() -> (Vec<Message>, Vec<u8>) {
    let messages: Vec<Message> =
        (0..4u8).map(|i| msg(3, 1000 + 20 * u32::from(i), 8, 12345, pattern(32, i))).collect();
    let headers: [&[u8]; 4] = [
        &[0x03, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x20, 0x08, 0x39, 0x30, 0x00, 0x00],
        &[0x83, 0x00, 0x00, 0x14],
        &[0xC3],
        &[0xC3],
    ];
    let mut wire = Vec::new();
    for (i, (header, m)) in headers.iter().zip(&messages).enumerate() {
        let before = wire.len();
        wire.extend_from_slice(header);
        wire.extend_from_slice(&m.payload);
        assert_eq!(wire.len() - before, [44, 36, 33, 33][i]);
    }
    (messages, wire)
}

/// RTMP 1.0 §5.3.2.2, Example 2: a 307-byte video message (message stream 12346,
/// timestamp 1000) on chunk stream 4 at chunk size 128: type 0 + 128 bytes, type 3 + 128,
/// type 3 + 51 (chunks of 140, 129 and 52 bytes). Same errata as Example 1 ("delta: 1000").
fn spec_example_2() -> (Vec<Message>, Vec<u8>) {
    let m = msg(4, 1000, 9, 12346, pattern(307, 9));
    let mut wire = vec![0x04, 0x00, 0x03, 0xE8, 0x00, 0x01, 0x33, 0x09, 0x3A, 0x30, 0x00, 0x00];
    wire.extend_from_slice(&m.payload[..128]);
    assert_eq!(wire.len(), 140);
    wire.push(0xC4);
    wire.extend_from_slice(&m.payload[128..256]);
    wire.push(0xC4);
    wire.extend_from_slice(&m.payload[256..]);
    assert_eq!(wire.len(), 140 + 129 + 52);
    (vec![m], wire)
}

/// Captured from FFmpeg 5.1.9 (Debian 12) publishing 1 s of testsrc + sine (H.264 + AAC,
/// `-f flv rtmp://127.0.0.1:44051/live/key`) to a stub server that did a plain handshake and
/// answered connect, createStream and publish: every byte the client sent after C2.
const FFMPEG_PUBLISH: &[u8] = include_bytes!("testdata/ffmpeg-5.1-publish.bin");

#[test]
fn encoder_produces_spec_examples() {
    for (messages, wire) in [spec_example_1(), spec_example_2()] {
        assert_eq!(encode_all(&mut ChunkEncoder::new(), &messages), wire);
    }
}

#[test]
fn decoder_decodes_spec_examples_every_way() {
    for (messages, wire) in [spec_example_1(), spec_example_2()] {
        assert_decodes_all_ways(&wire, &messages);
    }
}

#[test]
fn ffmpeg_publish_capture() {
    let messages = decode(FFMPEG_PUBLISH).unwrap();
    // Nothing left over: the capture ends on a message boundary.
    let mut dec = ChunkDecoder::new(DecoderLimits::default());
    decode_pieces(&mut dec, [FFMPEG_PUBLISH]).unwrap();
    assert_eq!(dec.buffered_bytes(), 0);

    let first = &messages[0];
    assert_eq!((first.csid, first.type_id, first.stream_id), (3, MessageType::COMMAND_AMF0, 0));
    assert_eq!(first.payload.len(), 140);
    assert_eq!(&first.payload[..10], b"\x02\x00\x07connect");
    let count = |t: MessageType| messages.iter().filter(|m| m.type_id == t).count();
    assert!(count(MessageType::VIDEO) >= 10, "{messages:#?}");
    assert!(count(MessageType::AUDIO) >= 10);
    assert_eq!(count(MessageType::DATA_AMF0), 1);
    // Media timestamps never go backwards within a chunk stream in this capture.
    let mut last: HashMap<u32, u32> = HashMap::new();
    for m in messages.iter().filter(|m| m.stream_id == 1) {
        let prev = last.insert(m.csid, m.timestamp).unwrap_or(0);
        assert!(m.timestamp >= prev, "{m:?}");
    }
    assert_decodes_all_ways(FFMPEG_PUBLISH, &messages);

    // Our encoder's rendering of the same messages decodes to the same messages.
    let ours = encode_all(&mut ChunkEncoder::new(), &messages);
    assert_eq!(decode(&ours).unwrap(), messages);
}

#[test]
fn zero_copy_single_chunk_messages() {
    // Two 20 KB messages, each in one 64 KiB chunk: both payloads point into the input
    // buffer, one type-2 header (4 bytes) apart. Small messages are copied instead (so a
    // cached audio frame does not pin a whole read buffer): see decoder::ZERO_COPY_MIN_LEN.
    let mut enc = ChunkEncoder::new();
    let mut out = ChunkOutput::new();
    let size = msg(2, 0, 1, 0, vec![0, 1, 0, 0]);
    enc.write_message(&size, &mut out);
    let big = [msg(6, 0, 9, 1, pattern(20_000, 1)), msg(6, 40, 9, 1, pattern(20_000, 2))];
    for m in &big {
        enc.write_message(m, &mut out);
    }
    let mut dec = ChunkDecoder::new(DecoderLimits::default());
    dec.handle_input(&out.to_vec());
    assert_eq!(dec.poll_message().unwrap().map(|m| m.type_id), Some(MessageType::SET_CHUNK_SIZE));
    let first = dec.poll_message().unwrap().unwrap();
    let second = dec.poll_message().unwrap().unwrap();
    assert_eq!((&first.payload, &second.payload), (&big[0].payload, &big[1].payload));
    let gap = second.payload.as_ptr() as usize - first.payload.as_ptr() as usize;
    assert_eq!(gap, 20_000 + 4, "type-2 header: 1 + 3 bytes");
}

/// A publisher's traffic as a zero-copy driver meets it: Set Chunk Size 65536, then large
/// single-chunk video (zero-copy slices), small audio (copied), a multi-chunk message after
/// a drop back to 4096, and an extended timestamp.
fn zero_copy_mix() -> (Vec<Message>, Vec<u8>) {
    let messages = vec![
        msg(2, 0, 1, 0, vec![0, 1, 0, 0]),
        msg(6, 0, 9, 1, pattern(20_000, 1)),
        msg(4, 10, 8, 1, pattern(300, 2)),
        msg(6, 40, 9, 1, pattern(30_000, 3)),
        msg(2, 0, 1, 0, vec![0, 0, 0x10, 0]),
        msg(6, 80, 9, 1, pattern(10_000, 4)),
        msg(6, 0x100_0000, 9, 1, pattern(17_000, 5)),
    ];
    let wire = encode_all(&mut ChunkEncoder::new(), &messages);
    (messages, wire)
}

/// Reads straight into the decoder's input decode exactly as copied input does, cut at
/// every byte boundary, with small and large read sizes.
#[test]
fn reads_into_input_decode_like_copies_at_every_boundary() {
    let (messages, wire) = zero_copy_mix();
    assert_eq!(decode(&wire).as_ref(), Ok(&messages));
    for room in [0, 4096, 256 * 1024] {
        for cut in 0..=wire.len() {
            let (a, b) = wire.split_at(cut);
            let mut dec = ChunkDecoder::new(DecoderLimits::default());
            let decoded = decode_reads(&mut dec, [a, b], room);
            assert_eq!(decoded.as_ref(), Ok(&messages), "cut {cut}, room {room}");
            assert_eq!(dec.buffered_bytes(), 0);
            assert_eq!(dec.bytes_received(), wire.len() as u64);
        }
    }
}

/// A large message read into the input, in one chunk or in chunks that follow one another,
/// is a slice of that very buffer.
#[test]
fn large_message_is_a_slice_of_the_read_buffer() {
    let (messages, wire) = zero_copy_mix();
    let mut dec = ChunkDecoder::new(DecoderLimits::default());
    let input = dec.input_mut();
    input.reserve(wire.len());
    input.extend_from_slice(&wire);
    let read = input.as_ptr_range();
    dec.handle_appended(wire.len());
    let mut decoded = Vec::new();
    while let Some(m) = dec.poll_message().unwrap() {
        decoded.push(m);
    }
    assert!(decoded == messages, "decoded as copied input is");
    let inside = |m: &Message| read.contains(&m.payload.as_ptr());
    assert!(inside(&decoded[1]) && inside(&decoded[3]), "20 000 and 30 000 bytes: shared");
    assert!(!inside(&decoded[2]), "300 bytes of audio: copied");
    assert!(inside(&decoded[6]), "17 000 bytes in 5 chunks: gathered in place");
}

/// A message of which several chunks are in the input (not all, else it is gathered in
/// place) is reassembled into one buffer for what arrived, not grown by doubling (4096,
/// 8192, 16384) with a copy each time.
#[test]
fn reassembly_is_sized_by_what_arrived() {
    let mut enc = ChunkEncoder::new();
    let mut out = ChunkOutput::new();
    enc.set_chunk_size(4096).unwrap();
    enc.write_message(&msg(6, 0, 9, 1, pattern(8 * 4096, 1)), &mut out);
    let wire = out.to_vec();
    let mut dec = ChunkDecoder::new(DecoderLimits::default());
    dec.set_chunk_size(4096).unwrap();
    // Three of the eight chunks (a type 0 header, then two type 3 chunks).
    let three = 12 + 4096 + 2 * (1 + 4096);
    dec.handle_input(&wire[..three]);
    assert_eq!(dec.poll_message(), Ok(None));
    assert_eq!(dec.buffered_bytes(), 3 * 4096 + 2, "sized at the first chunk: all input");
    dec.handle_input(&wire[three..]);
    assert_eq!(dec.poll_message().unwrap().map(|m| m.payload.len()), Some(8 * 4096));
    assert_eq!(dec.buffered_bytes(), 0);
}

/// A poisoned decoder keeps nothing a driver reads into it.
#[test]
fn poisoned_decoder_drops_appended_bytes() {
    let mut dec = ChunkDecoder::new(DecoderLimits::default());
    assert!(decode_reads(&mut dec, [&[0xC7u8][..]], 0).is_err());
    let input = dec.input_mut();
    input.extend_from_slice(&[0u8; 1000]);
    dec.handle_appended(1000);
    assert_eq!(dec.buffered_bytes(), 0);
    assert_eq!(dec.bytes_received(), 1001);
}

#[test]
fn large_payload_is_shared_not_copied() {
    let mut enc = ChunkEncoder::new();
    enc.set_chunk_size(4096).unwrap();
    let m = msg(6, 40, 9, 1, pattern(60_000, 1));
    let mut out = ChunkOutput::new();
    enc.write_message(&m, &mut out);
    let range = m.payload.as_ptr_range();
    let shared: usize =
        out.segments().filter(|s| range.contains(&s.as_ptr())).map(<[u8]>::len).sum();
    assert_eq!(shared, 60_000);
    assert_eq!(out.segment_count(), 2 * 15);
}

/// Basic header forms the encoder never produces: the 3-byte form for ids 64..=319.
#[test]
fn decoder_accepts_long_form_basic_header() {
    let mut wire = vec![0x01, 0x10, 0x00]; // fmt 0, csid 64 + 0x10 = 80, 3-byte form
    wire.extend([0, 0, 5, 0, 0, 2, 9, 1, 0, 0, 0, 0xAA, 0xBB]);
    let expected = msg(80, 5, 9, 1, vec![0xAA, 0xBB]);
    assert_decodes_all_ways(&wire, &[expected]);
}

/// §5.3.1.2.4: "If a Type 3 chunk follows a Type 0 chunk, then the timestamp delta for this
/// Type 3 chunk is the same as the timestamp of the Type 0 chunk." FFmpeg relies on this.
#[test]
fn type3_after_type0_reuses_timestamp_as_delta() {
    let wire = [0x04, 0, 0, 40, 0, 0, 1, 8, 1, 0, 0, 0, 0x11, 0xC4, 0x22, 0xC4, 0x33];
    let expected =
        [msg(4, 40, 8, 1, vec![0x11]), msg(4, 80, 8, 1, vec![0x22]), msg(4, 120, 8, 1, vec![0x33])];
    assert_decodes_all_ways(&wire, &expected);
}

/// Extended timestamps on type 3 chunks, with and without the repeated field.
#[test]
fn type3_extended_timestamp_with_and_without_repeat() {
    let ts = 0x0123_4567u32;
    let head = |fmt_csid: u8| {
        let mut v = vec![fmt_csid, 0xFF, 0xFF, 0xFF, 0, 0, 200, 9, 1, 0, 0, 0];
        v.extend(ts.to_be_bytes());
        v
    };
    let payload = pattern(200, 3);
    let expected = [msg(5, ts, 9, 1, payload.clone())];
    // Repeated (spec, FFmpeg, librtmp).
    let mut repeated = head(0x05);
    repeated.extend(&payload[..128]);
    repeated.push(0xC5);
    repeated.extend(ts.to_be_bytes());
    repeated.extend(&payload[128..]);
    assert_decodes_all_ways(&repeated, &expected);
    // Omitted.
    let mut omitted = head(0x05);
    omitted.extend(&payload[..128]);
    omitted.push(0xC5);
    omitted.extend(&payload[128..]);
    assert_decodes_all_ways(&omitted, &expected);
}

/// A type 3 chunk starting a new message after an extended delta: the repeated field may be
/// the delta (FFmpeg, librtmp, us) or the new absolute timestamp.
#[test]
fn type3_new_message_after_extended_delta() {
    let delta = 0x0100_0000u32;
    let mut base = vec![0x06, 0, 0, 10, 0, 0, 1, 9, 1, 0, 0, 0, 0xA0];
    base.extend([0x86, 0xFF, 0xFF, 0xFF]);
    base.extend(delta.to_be_bytes());
    base.push(0xA1);
    let expected = [
        msg(6, 10, 9, 1, vec![0xA0]),
        msg(6, 10 + delta, 9, 1, vec![0xA1]),
        msg(6, 10 + 2 * delta, 9, 1, vec![0xA2]),
        msg(6, 11 + 2 * delta, 9, 1, vec![]),
    ];
    for repeat in [Some(delta), Some(10 + 2 * delta), None] {
        let mut wire = base.clone();
        wire.push(0xC6);
        if let Some(value) = repeat {
            wire.extend(value.to_be_bytes());
        }
        wire.push(0xA2);
        // Without a repeat, the 1-byte chunk waits until 4 bytes follow its basic header:
        // append a further chunk (an empty message, delta 1) so that it can be told apart.
        wire.extend([0x46, 0, 0, 1, 0, 0, 0, 9]);
        let decoded = decode(&wire).unwrap();
        assert_eq!(decoded, expected, "repeat {repeat:?}");
    }
}

#[test]
fn timestamps_wrap_at_2_pow_32() {
    let messages = [
        msg(4, 0xFFFF_FFF0, 8, 1, vec![1]),
        msg(4, 0x0000_0010, 8, 1, vec![2, 2]),
        msg(4, 0x0000_0030, 8, 1, vec![3, 3]),
    ];
    let wire = encode_all(&mut ChunkEncoder::new(), &messages);
    // Type 0 (extended), then a type 1 delta of 0x20 across the wrap, then type 3.
    assert_eq!(wire[17..21], [0x44, 0, 0, 0x20]);
    assert_eq!(wire[27..], [0xC4, 3, 3]);
    assert_decodes_all_ways(&wire, &messages);
}

#[derive(Debug, Clone)]
enum Time {
    Delta(u32),
    Abs(u32),
}

#[derive(Debug, Clone)]
enum Op {
    Send { csid: usize, type_id: u8, stream_id: u32, time: Time, len: usize },
    ChunkSize(u32),
}

fn csid_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(3u32),
        2u32..=63,
        64u32..=319,
        320u32..=65_599,
        prop::sample::select(vec![2u32, 63, 64, 319, 320, 65_599]),
    ]
}

fn time_strategy() -> impl Strategy<Value = Time> {
    prop_oneof![
        3 => (0u32..50).prop_map(Time::Delta),
        2 => Just(Time::Delta(20)),
        1 => (0xFF_FFF0u32..0x100_0010).prop_map(Time::Delta),
        1 => any::<u32>().prop_map(Time::Delta),
        1 => any::<u32>().prop_map(Time::Abs),
        1 => (0xFF_FFF0u32..0x100_0010).prop_map(Time::Abs),
        1 => (0xFFFF_FF00u32..=u32::MAX).prop_map(Time::Abs),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let send = (
        0usize..6,
        prop::sample::select(vec![3u8, 4, 5, 6, 8, 9, 18, 20, 22, 0, 255]),
        prop_oneof![4 => 0u32..3, 1 => any::<u32>()],
        time_strategy(),
        prop_oneof![Just(0usize), Just(32), Just(300), 0usize..400, 0usize..3000],
    )
        .prop_map(|(csid, type_id, stream_id, time, len)| Op::Send {
            csid,
            type_id,
            stream_id,
            time,
            len,
        });
    let chunk_size = prop_oneof![1u32..=8, 100u32..=300, 1u32..=65_536, Just(65_536u32)];
    prop_oneof![8 => send, 1 => chunk_size.prop_map(Op::ChunkSize)]
}

fn build_messages(csids: &[u32], ops: &[Op]) -> Vec<Message> {
    let mut last: HashMap<u32, u32> = HashMap::new();
    let mut messages = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Send { csid, type_id, stream_id, time, len } => {
                let csid = csids[csid % csids.len()];
                let prev = last.get(&csid).copied().unwrap_or(0);
                let ts = match time {
                    Time::Delta(d) => prev.wrapping_add(*d),
                    Time::Abs(t) => *t,
                };
                last.insert(csid, ts);
                messages.push(msg(csid, ts, *type_id, *stream_id, pattern(*len, i as u8)));
            }
            Op::ChunkSize(size) => messages.push(ControlMessage::SetChunkSize(*size).to_message()),
        }
    }
    messages
}

/// Splits `data` into pieces of the given sizes, cycled.
fn split_by<'a>(data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = data;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at((*size).min(rest.len()));
        pieces.push(a);
        rest = b;
    }
    pieces
}

/// A reference writer for chunk-level interleaving, which the encoder never does: every
/// message on its own chunk stream, type 0 first chunk, type 3 continuations, chunks of
/// different messages interleaved by `schedule`. Returns the wire bytes and the messages in
/// completion order.
fn interleave(
    messages: &[Message],
    chunk_size: usize,
    schedule: &[usize],
    repeat_extended: bool,
) -> (Vec<u8>, Vec<Message>) {
    let mut wire = bytes::BytesMut::new();
    let mut offsets: Vec<Option<usize>> = vec![None; messages.len()];
    let mut done = Vec::new();
    let mut turn = schedule.iter().cycle();
    while done.len() < messages.len() {
        let active: Vec<usize> = (0..messages.len()).filter(|i| !done.contains(i)).collect();
        let i = active[turn.next().copied().unwrap_or(0) % active.len()];
        let m = &messages[i];
        let extended = m.timestamp >= 0xFF_FFFF;
        let offset = match offsets[i] {
            None => {
                header::put_basic_header(&mut wire, 0, m.csid);
                let header = MessageHeader::Type0 {
                    timestamp: m.timestamp.min(0xFF_FFFF),
                    length: m.payload.len() as u32,
                    type_id: m.type_id.0,
                    stream_id: m.stream_id,
                };
                header::put_message_header(&mut wire, &header);
                if extended {
                    wire.extend_from_slice(&m.timestamp.to_be_bytes());
                }
                0
            }
            Some(offset) => {
                header::put_basic_header(&mut wire, 3, m.csid);
                if extended && repeat_extended {
                    wire.extend_from_slice(&m.timestamp.to_be_bytes());
                }
                offset
            }
        };
        let end = (offset + chunk_size).min(m.payload.len());
        wire.extend_from_slice(&m.payload[offset..end]);
        offsets[i] = Some(end);
        if end == m.payload.len() {
            done.push(i);
        }
    }
    let order = done.iter().map(|&i| messages[i].clone()).collect();
    (wire.to_vec(), order)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Random messages on interleaved chunk streams (1-, 2- and 3-byte basic headers),
    /// chunk sizes changed mid-stream by Set Chunk Size messages, timestamps with extended
    /// values, wraps and backward jumps: encode, decode in random pieces, compare.
    #[test]
    fn round_trip(
        csids in prop::collection::vec(csid_strategy(), 1..6),
        ops in prop::collection::vec(op_strategy(), 1..40),
        splits in prop::collection::vec(1usize..3000, 1..20),
        room in prop_oneof![Just(0usize), 1usize..70_000],
    ) {
        let messages = build_messages(&csids, &ops);
        let mut encoder = ChunkEncoder::new();
        let wire = encode_all(&mut encoder, &messages);
        let mut decoder = ChunkDecoder::new(DecoderLimits::default());
        let decoded = decode_pieces(&mut decoder, split_by(&wire, &splits));
        prop_assert_eq!(decoded, Ok(messages.clone()));
        prop_assert_eq!(decoder.chunk_size(), encoder.chunk_size());
        prop_assert_eq!(decoder.buffered_bytes(), 0);
        // The same pieces read straight into the decoder's input (zero-copy driver).
        let mut decoder = ChunkDecoder::new(DecoderLimits::default());
        let decoded = decode_reads(&mut decoder, split_by(&wire, &splits), room);
        prop_assert_eq!(decoded, Ok(messages));
        prop_assert_eq!(decoder.buffered_bytes(), 0);
    }

    /// Large messages (gathered in place when their chunks follow one another) on
    /// interleaved chunk streams, with and without repeated extended timestamps, read straight
    /// into the decoder's input in random reads: the same messages as copied input gives.
    #[test]
    fn large_interleaved_messages_read_into_input(
        specs in prop::collection::vec((any::<u32>(), 15_000usize..40_000, any::<u8>()), 1..5),
        schedule in prop::collection::vec(prop_oneof![Just(0usize), any::<usize>()], 1..30),
        repeat_extended in any::<bool>(),
        splits in prop::collection::vec(1usize..50_000, 1..10),
        room in prop_oneof![Just(0usize), 1usize..300_000],
    ) {
        let messages: Vec<Message> = specs
            .iter()
            .enumerate()
            .map(|(i, &(ts, len, seed))| {
                let ts = if ts >= 0xFF_FFFF { ts | 0xFF } else { ts };
                msg([3u32, 64, 320, 6][i % 4], ts, 9, 1, pattern(len, seed))
            })
            .collect();
        let (wire, expected) = interleave(&messages, 4096, &schedule, repeat_extended);
        let mut copied = ChunkDecoder::new(DecoderLimits::default());
        copied.set_chunk_size(4096).unwrap();
        let mut decoder = ChunkDecoder::new(DecoderLimits::default());
        decoder.set_chunk_size(4096).unwrap();
        let by_copy = decode_pieces(&mut copied, split_by(&wire, &splits)).unwrap();
        let by_read = decode_reads(&mut decoder, split_by(&wire, &splits), room).unwrap();
        prop_assert!(by_read == by_copy, "same messages");
        // Without the trailing chunk a non-repeating writer's last type 3 chunk may wait for.
        prop_assert!(expected.starts_with(&by_read), "a prefix of what was sent");
        prop_assert!(by_read.len() + 1 >= expected.len());
    }

    /// Large single-chunk and multi-chunk messages read straight into the decoder's input
    /// in random reads: the same messages as one big read.
    #[test]
    fn reads_into_input_in_random_pieces(
        splits in prop::collection::vec(1usize..40_000, 1..12),
        room in prop_oneof![Just(0usize), 1usize..70_000],
    ) {
        let (messages, wire) = zero_copy_mix();
        let mut decoder = ChunkDecoder::new(DecoderLimits::default());
        let decoded = decode_reads(&mut decoder, split_by(&wire, &splits), room);
        prop_assert_eq!(decoded, Ok(messages));
        prop_assert_eq!(decoder.buffered_bytes(), 0);
    }

    /// Chunks of several messages interleaved on the wire, with and without repeated
    /// extended timestamps in type 3 chunks.
    #[test]
    fn interleaved_chunks(
        specs in prop::collection::vec(
            (prop_oneof![any::<u32>(), 0u32..0xFF_FFFF], 0usize..1000, any::<u8>()),
            1..8,
        ),
        chunk_size in prop_oneof![1usize..=16, 17usize..=512],
        schedule in prop::collection::vec(any::<usize>(), 1..30),
        repeat_extended in any::<bool>(),
        splits in prop::collection::vec(1usize..700, 1..10),
    ) {
        // Distinct chunk streams across all three basic header forms. Extended timestamps
        // end in 0xFF, which payload bytes never are, so a non-repeating writer cannot be
        // mistaken for a repeating one by chance.
        let messages: Vec<Message> = specs
            .iter()
            .enumerate()
            .map(|(i, &(ts, len, seed))| {
                let csid = [3u32, 64, 319, 320, 4000, 65_599, 63][i % 7];
                let ts = if ts >= 0xFF_FFFF { ts | 0xFF } else { ts };
                msg(csid, ts, 9, 1, pattern(len, seed))
            })
            .collect();
        let (wire, expected) = interleave(&messages, chunk_size, &schedule, repeat_extended);
        let mut decoder = ChunkDecoder::new(DecoderLimits::default());
        decoder.set_chunk_size(chunk_size as u32).unwrap();
        let mut decoded = decode_pieces(&mut decoder, split_by(&wire, &splits)).unwrap();
        // A non-repeating type 3 chunk at the very end waits for 4 bytes after its basic
        // header; a following chunk (here a 1-byte message on a fresh csid) releases it.
        if decoded.len() < expected.len() {
            decoded.extend(decode_pieces(&mut decoder, [&[0x02, 0, 0, 0, 0, 0, 1, 9, 0, 0, 0, 0, 7][..]]).unwrap());
            decoded.pop();
        }
        prop_assert_eq!(decoded, expected);
    }

    /// Every vector, in random pieces: same output as whole.
    #[test]
    fn vectors_in_random_pieces(splits in prop::collection::vec(1usize..300, 1..40)) {
        for (messages, wire) in [spec_example_1(), spec_example_2()] {
            let mut decoder = ChunkDecoder::new(DecoderLimits::default());
            prop_assert_eq!(decode_pieces(&mut decoder, split_by(&wire, &splits)), Ok(messages));
        }
        let whole = decode(FFMPEG_PUBLISH);
        let mut decoder = ChunkDecoder::new(DecoderLimits::default());
        prop_assert_eq!(decode_pieces(&mut decoder, split_by(FFMPEG_PUBLISH, &splits)), whole);
    }
}

#[test]
fn outbound_chunk_size_text_matches_the_range() {
    assert_eq!(format!("{OUTBOUND_CHUNK_SIZES:?}"), OUTBOUND_CHUNK_SIZES_TEXT);
    assert!(OUTBOUND_CHUNK_SIZES.contains(&INITIAL_CHUNK_SIZE));
    assert!(*OUTBOUND_CHUNK_SIZES.end() <= MAX_CHUNK_SIZE);
}
