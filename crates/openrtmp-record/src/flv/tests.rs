//! The FLV muxer: exact bytes of a small segment, and a round trip through
//! openrtmp-media's `FlvReader` (an independent reader of the same spec).

use bytes::Bytes;
use openrtmp_media::{FlvReader, TagType};

use super::*;

/// AVC sequence header (keyframe, AVCPacketType 0) with a 2-byte body.
const AVC_SEQ: &[u8] = &[0x17, 0, 0, 0, 0, 1, 2];
/// AVC keyframe NALU (AVCPacketType 1).
const AVC_KEY: &[u8] = &[0x17, 1, 0, 0, 0, 0xAA, 0xBB];
/// AVC inter frame.
const AVC_INTER: &[u8] = &[0x27, 1, 0, 0, 0, 0xCC];
/// AAC sequence header (AACPacketType 0) and a raw frame.
const AAC_SEQ: &[u8] = &[0xAF, 0, 0x12, 0x10];
const AAC_RAW: &[u8] = &[0xAF, 1, 0x21];

fn msg(kind: TagType, timestamp: u32, body: &'static [u8]) -> Message {
    Message { kind, timestamp, payload: Bytes::from_static(body) }
}

fn mux(messages: &[Message]) -> (Vec<Output>, FlvMuxer) {
    let mut muxer = FlvMuxer::new(true, true);
    let mut outputs = Vec::new();
    for m in messages {
        let mut out = Output::new();
        muxer.push(m, &mut out).unwrap();
        outputs.push(out);
    }
    (outputs, muxer)
}

fn concat(outputs: &[Output]) -> Vec<u8> {
    outputs.iter().flatten().flat_map(|b| b.iter().copied()).collect()
}

#[test]
fn exact_bytes_of_a_two_tag_segment() {
    // Written by hand from FLV 10.1 §E.2-§E.4: header, PreviousTagSize0, then each tag
    // (type, DataSize u24, Timestamp u24 + extended u8, StreamID u24) and its size.
    let (outputs, muxer) =
        mux(&[msg(TagType::VIDEO, 5000, AVC_KEY), msg(TagType::VIDEO, 5040, AVC_INTER)]);
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &b"FLV\x01\x05\x00\x00\x00\x09"[..], &[0, 0, 0, 0],
        &[9, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0], AVC_KEY, &[0, 0, 0, 18],
        &[9, 0, 0, 6, 0, 0, 40, 0, 0, 0, 0], AVC_INTER, &[0, 0, 0, 17],
    ]
    .concat();
    assert_eq!(concat(&outputs), expected);
    assert_eq!(muxer.duration_ms(), 40);
    assert_eq!(muxer.bytes(), expected.len() as u64);
}

#[test]
fn every_output_ends_on_a_tag_boundary_and_shares_the_payload() {
    let body = Bytes::from_static(AVC_KEY);
    let mut muxer = FlvMuxer::new(false, true);
    let mut out = Output::new();
    muxer
        .push(&Message { kind: TagType::VIDEO, timestamp: 0, payload: body.clone() }, &mut out)
        .unwrap();
    // Header, tag header, body (the same memory: no copy), PreviousTagSize.
    assert_eq!(out.len(), 4);
    assert_eq!(out[2].as_ptr(), body.as_ptr());
    let file = concat(&[out]);
    let n = file.len();
    assert_eq!(&file[n - 4..], &(11 + AVC_KEY.len() as u32).to_be_bytes());
}

#[test]
fn configuration_before_the_first_frame_is_stamped_zero() {
    // Cached metadata and headers carry old stamps; the keyframe fixes the base.
    let script = msg(TagType::SCRIPT, 0, b"\x02\x00\x0aonMetaData\x05");
    let (outputs, muxer) = mux(&[
        script,
        msg(TagType::VIDEO, 10, AVC_SEQ),
        msg(TagType::AUDIO, 90_000, AAC_SEQ),
        msg(TagType::VIDEO, 60_000, AVC_KEY),
        msg(TagType::AUDIO, 59_990, AAC_RAW),
        msg(TagType::AUDIO, 60_023, AAC_RAW),
    ]);
    let tags: Vec<_> = FlvReader::new(&concat(&outputs)[..]).map(|t| t.unwrap()).collect();
    let stamps: Vec<u32> = tags.iter().map(|t| t.timestamp).collect();
    assert_eq!(stamps, [0, 0, 0, 0, 0, 23]);
    assert_eq!(muxer.duration_ms(), 23);
}

#[test]
fn timestamps_rebase_across_the_wrap() {
    let (outputs, muxer) =
        mux(&[msg(TagType::VIDEO, u32::MAX - 9, AVC_KEY), msg(TagType::VIDEO, 30, AVC_INTER)]);
    let stamps: Vec<u32> =
        FlvReader::new(&concat(&outputs)[..]).map(|t| t.unwrap().timestamp).collect();
    assert_eq!(stamps, [0, 40]);
    assert_eq!(muxer.duration_ms(), 40);
}

#[test]
fn golden_round_trip_through_flv_reader() {
    let messages = [
        msg(TagType::SCRIPT, 0, b"\x02\x00\x0aonMetaData\x05"),
        msg(TagType::VIDEO, 0, AVC_SEQ),
        msg(TagType::AUDIO, 0, AAC_SEQ),
        msg(TagType::VIDEO, 1000, AVC_KEY),
        msg(TagType::AUDIO, 1010, AAC_RAW),
        msg(TagType::VIDEO, 1033, AVC_INTER),
    ];
    let (mut outputs, mut muxer) = mux(&messages);
    let mut tail = Output::new();
    assert!(muxer.finish(&mut tail).is_empty());
    assert!(tail.is_empty());
    outputs.push(tail);
    let file = concat(&outputs);
    let mut reader = FlvReader::new(&file[..]);
    let header = reader.header().unwrap();
    assert!(header.has_audio && header.has_video);
    let tags: Vec<_> = reader.by_ref().map(|t| t.unwrap()).collect();
    assert_eq!(reader.previous_tag_size_mismatches(), 0);
    assert_eq!(tags.len(), messages.len());
    for (tag, m) in tags.iter().zip(&messages) {
        assert_eq!((tag.tag_type, &tag.data), (m.kind, &m.payload));
    }
    assert_eq!(tags.last().unwrap().timestamp, 33);
}

#[test]
fn a_cut_file_reads_up_to_its_last_whole_output() {
    // Crash safety: any prefix made of whole outputs reads cleanly, with no mismatch.
    let (outputs, _) = mux(&[
        msg(TagType::VIDEO, 0, AVC_KEY),
        msg(TagType::VIDEO, 40, AVC_INTER),
        msg(TagType::VIDEO, 80, AVC_INTER),
    ]);
    for whole in 1..=outputs.len() {
        let file = concat(&outputs[..whole]);
        let mut reader = FlvReader::new(&file[..]);
        let tags: Vec<_> = reader.by_ref().collect::<Result<_, _>>().unwrap();
        let n = tags.len();
        assert_eq!(n, whole);
        assert_eq!(reader.previous_tag_size_mismatches(), 0);
    }
}

#[test]
fn an_empty_segment_is_a_valid_file() {
    let mut muxer = FlvMuxer::new(true, false);
    let mut out = Output::new();
    muxer.finish(&mut out);
    assert_eq!(concat(&[out]), b"FLV\x01\x04\x00\x00\x00\x09\x00\x00\x00\x00");
}
