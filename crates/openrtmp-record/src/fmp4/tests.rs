//! Unit tests of the muxer on synthetic messages: fragment cuts, bounds, timing through
//! the muxer, reporting, patches; and a property test that no input panics.

use bytes::Bytes;
use mp4_atom::{Decode, Ftyp, Moov};
use proptest::prelude::*;

use super::*;

/// avcC: version 1, Baseline 3.0, 4-byte lengths, one (dummy) SPS and PPS.
const AVCC: &[u8] = &[1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0, 0x1e, 1, 0, 2, 0x68, 0xce];

fn msg(kind: TagType, timestamp: u32, payload: &[u8]) -> Message {
    Message { kind, timestamp, payload: Bytes::copy_from_slice(payload) }
}

fn video_seq() -> Message {
    msg(TagType::VIDEO, 0, &[[0x17, 0, 0, 0, 0].as_slice(), AVCC].concat())
}

fn video(ts: u32, key: bool) -> Message {
    let first = if key { 0x17 } else { 0x27 };
    msg(TagType::VIDEO, ts, &[first, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88])
}

fn audio_seq() -> Message {
    msg(TagType::AUDIO, 0, &[0xaf, 0, 0x12, 0x10])
}

fn audio(ts: u32) -> Message {
    msg(TagType::AUDIO, ts, &[0xaf, 1, 0x21, 0x10, 0x05])
}

/// Pushes `msgs`; returns the outputs of each push (empty ones included).
fn run(m: &mut Fmp4Muxer, msgs: &[Message]) -> Vec<Output> {
    msgs.iter()
        .map(|x| {
            let mut out = Vec::new();
            m.push(x, &mut out).expect("push");
            out
        })
        .collect()
}

/// The moofs of the outputs (each output starts with one, except the init segment).
fn moofs(outputs: &[Output]) -> Vec<Moof> {
    outputs
        .iter()
        .filter(|o| !o.is_empty())
        .filter_map(|o| {
            let file: Vec<u8> = o.iter().flat_map(|b| b.to_vec()).collect();
            Moof::decode(&mut &file[..]).ok()
        })
        .collect()
}

use mp4_atom::Moof;

#[test]
fn init_segment_waits_for_the_first_keyframe() {
    let mut m = Fmp4Muxer::new(None);
    let outs = run(&mut m, &[video_seq(), audio_seq(), video(0, false), video(40, true)]);
    assert!(outs[..3].iter().all(Vec::is_empty), "nothing before a keyframe");
    let init: Vec<u8> = outs[3].iter().flat_map(|b| b.to_vec()).collect();
    let mut buf = &init[..];
    Ftyp::decode(&mut buf).unwrap();
    let moov = Moov::decode(&mut buf).unwrap();
    assert!(buf.is_empty());
    assert_eq!(moov.trak.len(), 2);
    assert_eq!(moov.trak[0].mdia.hdlr.handler, b"vide".into());
    assert_eq!(moov.trak[1].mdia.mdhd.timescale, 44_100);
    assert_eq!(moov.mvex.unwrap().trex.len(), 2);
}

/// Regression: audio that starts the segment before the first video keyframe used to let
/// the inter frames before that keyframe in as the video track's first samples.
#[test]
fn video_starts_at_its_first_keyframe_even_after_audio() {
    let mut m = Fmp4Muxer::new(None);
    let mut msgs = vec![video_seq(), audio_seq(), audio(0), video(10, false), video(50, false)];
    msgs.extend((0..26u32).map(|i| video(90 + i * 40, i % 25 == 0)));
    let frags = moofs(&run(&mut m, &msgs));
    assert_eq!(frags.len(), 1);
    let v = frags[0].traf.iter().find(|t| t.tfhd.track_id == 1).expect("video traf");
    let samples: Vec<_> = v.trun[0].samples.iter().collect();
    assert_eq!(samples.len(), 25);
    assert_eq!(samples[0].flags, Some(fragment::SYNC));
    assert_eq!(v.tfdt.as_ref().unwrap().base_media_decode_time, 90 * 90);
}

#[test]
fn one_fragment_per_gop_with_tfdt_and_durations() {
    let mut m = Fmp4Muxer::new(None);
    let mut msgs = vec![video_seq(), audio_seq()];
    for i in 0..75u32 {
        msgs.push(video(i * 40, i % 25 == 0));
        msgs.push(audio(i * 40 + 5));
    }
    let outs = run(&mut m, &msgs);
    let frags = moofs(&outs);
    assert_eq!(frags.len(), 2, "two complete GOPs, the third held");
    let tfdt = |f: &Moof, i: usize| f.traf[i].tfdt.as_ref().unwrap().base_media_decode_time;
    assert_eq!(tfdt(&frags[0], 0), 0);
    assert_eq!(tfdt(&frags[1], 0), 25 * 3600);
    // Audio: 5 ms after the start, in its own timescale.
    assert_eq!(tfdt(&frags[0], 1), (5 * 44_100 + 500) / 1000);
    let v: Vec<_> = frags[0].traf[0].trun[0].samples.iter().collect();
    assert_eq!(v.len(), 25);
    assert!(v.iter().all(|s| s.duration == Some(3600)));
    assert_eq!(m.duration_ms(), 74 * 40 + 5);

    let mut out = Vec::new();
    let patches = m.finish(&mut out);
    assert_eq!(moofs(&[out]).len(), 1);
    let p = &patches[0];
    let moov = Moov::decode(&mut &p.bytes[..]).unwrap();
    // Video ends at 75 × 40 ms; audio at 74 × 40 + 5 + 40 (the last delta repeated).
    assert_eq!(moov.trak[0].mdia.mdhd.duration, 75 * 3600);
    assert_eq!(moov.mvhd.duration, 74 * 40 + 45);
    assert_eq!(moov.mvex.unwrap().mehd.unwrap().fragment_duration, 74 * 40 + 45);
}

#[test]
fn audio_only_cuts_about_every_second() {
    let mut m = Fmp4Muxer::new(None);
    let mut msgs = vec![audio_seq()];
    msgs.extend((0..200u32).map(|i| audio(i * 23)));
    let frags = moofs(&run(&mut m, &msgs));
    // 200 frames of 23 ms = 4.6 s: four whole seconds out, the rest held.
    assert_eq!(frags.len(), 4);
    for f in &frags {
        let d: u64 = f.traf[0].trun[0].samples.iter().map(|s| u64::from(s.duration.unwrap())).sum();
        assert!((44_100..44_100 + 1100).contains(&d), "{d}");
    }
}

#[test]
fn a_gop_without_end_is_cut_at_the_bound() {
    let mut m = Fmp4Muxer::new(None);
    let mut msgs = vec![video_seq()];
    msgs.extend((0..1000u32).map(|i| video(i * 40, i == 0)));
    let frags = moofs(&run(&mut m, &msgs));
    // 40 s without a keyframe: cut once each 20 s of video.
    assert_eq!(frags.len(), 1);
    assert_eq!(frags[0].traf[0].trun[0].samples.len(), 500);
}

#[test]
fn timestamps_wrapping_at_2_pow_32_stay_continuous() {
    let mut m = Fmp4Muxer::new(None);
    let start = u32::MAX - 500;
    let mut msgs = vec![video_seq()];
    msgs.extend((0..50u32).map(|i| video(start.wrapping_add(i * 40), i % 25 == 0)));
    let frags = moofs(&run(&mut m, &msgs));
    assert_eq!(frags.len(), 1);
    let tfdt = frags[0].traf[0].tfdt.as_ref().unwrap().base_media_decode_time;
    assert_eq!(tfdt, 0);
    assert!(frags[0].traf[0].trun[0].samples.iter().all(|s| s.duration == Some(3600)));
    assert_eq!(m.duration_ms(), 49 * 40);
}

#[test]
fn unsupported_codecs_are_reported_once_and_skipped() {
    let mut m = Fmp4Muxer::new(None);
    let mut out = Vec::new();
    // MP3 (sound format 2) frames.
    let mp3 = msg(TagType::AUDIO, 0, &[0x2f, 0xff, 0xfb]);
    assert!(matches!(m.push(&mp3, &mut out), Err(RecordError::Unsupported { .. })));
    assert!(m.push(&mp3, &mut out).is_ok());
    // VP8 sequence start.
    let vp8 = msg(TagType::VIDEO, 0, &[0x90, b'v', b'p', b'0', b'8', 1]);
    assert!(matches!(m.push(&vp8, &mut out), Err(RecordError::Unsupported { .. })));
    // Script data is ignored.
    assert!(m.push(&msg(TagType::SCRIPT, 0, &[2, 0, 1, b'x']), &mut out).is_ok());
    assert!(out.is_empty());
}

#[test]
fn fragment_duration_is_a_minimum_cut_at_keyframes() {
    let mut m = Fmp4Muxer::new(Some(Duration::from_millis(1500)));
    let mut msgs = vec![video_seq()];
    // A keyframe each second for 5 s.
    msgs.extend((0..125u32).map(|i| video(i * 40, i % 25 == 0)));
    let frags = moofs(&run(&mut m, &msgs));
    let n: Vec<usize> = frags.iter().map(|f| f.traf[0].trun[0].samples.len()).collect();
    assert_eq!(n, [50, 50]);
}

/// E-RTMP v2 multitrack video (ManyTracks, `avc1`), tracks 0 and 1 with `body` each.
fn multitrack(ts: u32, frame_type: u8, packet_type: u8, body: &[u8]) -> Message {
    let mut m = vec![0x80 | (frame_type << 4) | 6, (1 << 4) | packet_type];
    m.extend_from_slice(b"avc1");
    for id in [0u8, 1] {
        let len = body.len() as u32;
        m.push(id);
        m.extend_from_slice(&len.to_be_bytes()[1..]);
        m.extend_from_slice(body);
    }
    msg(TagType::VIDEO, ts, &m)
}

#[test]
fn multitrack_records_the_first_track_and_reports_the_others_once() {
    let mut m = Fmp4Muxer::new(None);
    let mut out = Vec::new();
    let seq = multitrack(0, 1, 0, AVCC);
    assert!(matches!(m.push(&seq, &mut out), Err(RecordError::Unsupported { .. })));
    // Coded frames: SI24 composition time, then a NAL unit.
    let frame = [0, 0, 0, 0, 0, 0, 2, 0x65, 0x88];
    for i in 0..30u32 {
        let r = m.push(&multitrack(i * 40, if i % 25 == 0 { 1 } else { 2 }, 1, &frame), &mut out);
        assert!(r.is_ok(), "{r:?}");
    }
    let frags = moofs(&[out.split_off(1)]);
    assert_eq!(frags.len(), 1);
    assert_eq!(frags[0].traf.len(), 1);
    assert_eq!(frags[0].traf[0].trun[0].samples.len(), 25, "track 0 only");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary messages after valid sequence headers (so that frames reach the
    /// fragment code) never panic, and finish never panics either.
    #[test]
    fn arbitrary_messages_never_panic(
        msgs in proptest::collection::vec(
            (0u8..3, any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40)),
            0..60,
        ),
        frag in proptest::option::of(0u64..3000),
    ) {
        let mut m = Fmp4Muxer::new(frag.map(Duration::from_millis));
        let mut out = Vec::new();
        for x in [video_seq(), audio_seq(), video(0, true)] {
            let _ = m.push(&x, &mut out);
        }
        for (kind, ts, body) in msgs {
            let kind = [TagType::AUDIO, TagType::VIDEO, TagType::SCRIPT][usize::from(kind)];
            let mut body = body;
            // Half of them with a valid header byte, to get past the parser.
            if ts % 2 == 0 && !body.is_empty() {
                body[0] = if kind == TagType::AUDIO { 0xaf } else { 0x17 | (body[0] & 0x20) };
            }
            let _ = m.push(&msg(kind, ts, &body), &mut out);
        }
        let _ = m.finish(&mut out);
        let _ = m.duration_ms();
    }
}
