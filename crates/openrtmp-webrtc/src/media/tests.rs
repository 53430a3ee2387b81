use std::time::{Duration, Instant};

use bytes::Bytes;
use openrtmp_media::{parse_audio, parse_video};

use super::*;
use crate::h264::tests::{annex_b, AUD, BASELINE_PPS, BASELINE_SPS, IDR, SLICE};

struct Session {
    start: Instant,
    asm: MediaAssembler,
    out: Vec<Tag>,
}

impl Session {
    fn new(config: MediaConfig) -> Self {
        Session {
            start: Instant::now(),
            asm: MediaAssembler::new(config).unwrap(),
            out: Vec::new(),
        }
    }
    fn video(&mut self, n: u64, nals: &[&[u8]], contiguous: bool) -> Vec<Tag> {
        let frame = RtpFrame {
            rtp_time: 1_000 + n * 3_000,
            clock_rate: 90_000,
            arrival: self.start + Duration::from_secs_f64(n as f64 / 30.0),
            sender_report: None,
            contiguous,
            data: Bytes::from(annex_b(nals, true)),
        };
        let mut out = Vec::new();
        self.asm.push_video(frame, &mut out);
        self.out.extend(out.clone());
        out
    }
    fn audio(&mut self, n: u64) -> Vec<Tag> {
        let frame = RtpFrame {
            rtp_time: 50_000 + n * 960,
            clock_rate: 48_000,
            arrival: self.start + Duration::from_millis(n * 20),
            sender_report: None,
            contiguous: true,
            // A valid Opus packet: the 20 ms CELT silence frame.
            data: Bytes::from_static(&[0xF8, 0xFF, 0xFE]),
        };
        let mut out = Vec::new();
        self.asm.push_audio(frame, &mut out);
        self.out.extend(out.clone());
        out
    }
}

const KEY: &[&[u8]] = &[AUD, &BASELINE_SPS, &BASELINE_PPS, IDR];
const INTER: &[&[u8]] = &[AUD, SLICE];

fn kinds(tags: &[Tag]) -> Vec<(TagKind, bool, bool)> {
    tags.iter()
        .map(|t| match t.kind {
            TagKind::Video => {
                let v = parse_video(&t.body).unwrap();
                (t.kind, v.is_sequence_header(), v.is_keyframe())
            }
            TagKind::Audio => {
                let a = parse_audio(&t.body).unwrap();
                (t.kind, a.is_sequence_header(), a.is_keyframe())
            }
        })
        .collect()
}

#[test]
fn nothing_before_the_first_idr_then_header_and_frames() {
    let mut s = Session::new(MediaConfig::default());
    assert!(s.asm.needs_keyframe());
    assert!(s.video(0, INTER, true).is_empty());
    assert!(s.audio(0).is_empty(), "audio waits for video");
    let tags = s.video(1, KEY, true);
    assert_eq!(kinds(&tags), vec![(TagKind::Video, true, false), (TagKind::Video, false, true)]);
    assert_eq!(tags[0].timestamp, tags[1].timestamp);
    assert!(!s.asm.needs_keyframe());
    assert_eq!(kinds(&s.video(2, INTER, true)), vec![(TagKind::Video, false, false)]);
    let info = s.asm.video_info().unwrap();
    assert_eq!((info.width, info.height), (640, 360));
    assert!((info.fps.unwrap() - 30.0).abs() < 0.01);
    let stats = s.asm.stats();
    assert_eq!((stats.video_frames, stats.video_dropped, stats.audio_dropped), (2, 1, 1));
}

#[test]
fn loss_drops_until_the_next_idr_without_a_new_header() {
    let mut s = Session::new(MediaConfig::default());
    s.video(0, KEY, true);
    assert!(s.video(1, INTER, false).is_empty());
    assert!(s.asm.needs_keyframe());
    assert!(s.video(2, INTER, true).is_empty());
    let tags = s.video(3, KEY, true);
    assert_eq!(kinds(&tags), vec![(TagKind::Video, false, true)], "same SPS/PPS: no header");
    assert!(!s.asm.needs_keyframe());
    // Timestamps follow RTP time across the gap.
    assert_eq!(tags[0].timestamp, 100);
}

#[test]
fn a_broken_access_unit_waits_for_an_idr() {
    let mut s = Session::new(MediaConfig::default());
    s.video(0, KEY, true);
    assert!(s.video(1, &[&[0x67, 0xff][..], &BASELINE_PPS, IDR], true).is_empty());
    assert!(s.asm.needs_keyframe());
    assert_eq!(s.video(2, KEY, true).len(), 1);
}

#[test]
fn video_timestamps_start_at_zero_and_follow_rtp() {
    let mut s = Session::new(MediaConfig::default());
    for n in 0..10 {
        s.video(n, if n % 5 == 0 { KEY } else { INTER }, true);
    }
    let ts: Vec<u32> = s.out.iter().skip(1).map(|t| t.timestamp).collect();
    assert_eq!(ts, vec![0, 33, 67, 100, 133, 167, 200, 233, 267, 300]);
}

#[test]
fn no_audio_expected_makes_silence_that_follows_video() {
    let mut s = Session::new(MediaConfig { audio_expected: false, ..MediaConfig::default() });
    for n in 0..30 {
        s.video(n, if n == 0 { KEY } else { INTER }, true);
    }
    assert!(s.asm.stats().silence);
    let audio: Vec<&Tag> = s.out.iter().filter(|t| t.kind == TagKind::Audio).collect();
    assert!(parse_audio(&audio[0].body).unwrap().is_sequence_header());
    assert!(audio.windows(2).all(|w| w[1].timestamp >= w[0].timestamp));
    let last_video = s.out.iter().filter(|t| t.kind == TagKind::Video).last().unwrap().timestamp;
    let last_audio = audio.last().unwrap().timestamp;
    // Silence keeps up with the video clock, behind by the encoder's latency at most
    // (rusty_aac holds back about 150 ms; Opus silence packets, 20 ms).
    assert!(last_video - last_audio <= 300, "video {last_video} audio {last_audio}");
    assert!(audio.len() > 20);
    // Opus arriving now is dropped.
    assert!(s.audio(0).is_empty());
}

#[test]
fn missing_opus_for_the_wait_turns_on_silence() {
    let mut s = Session::new(MediaConfig {
        audio_wait: Duration::from_millis(500),
        ..MediaConfig::default()
    });
    for n in 0..14 {
        s.video(n, if n == 0 { KEY } else { INTER }, true);
    }
    assert!(!s.asm.stats().silence, "433 ms: still waiting");
    for n in 14..30 {
        s.video(n, INTER, true);
    }
    assert!(s.asm.stats().silence);
    let first_audio = s.out.iter().find(|t| t.kind == TagKind::Audio).unwrap();
    assert_eq!(first_audio.timestamp, 500, "silence starts where it was decided");
}

#[test]
fn opus_becomes_audio_tags_once_video_started() {
    let mut s = Session::new(MediaConfig::default());
    s.video(0, KEY, true);
    for n in 0..20 {
        s.audio(n);
        s.video(n + 1, INTER, true);
    }
    let audio: Vec<&Tag> = s.out.iter().filter(|t| t.kind == TagKind::Audio).collect();
    assert!(!audio.is_empty());
    assert!(parse_audio(&audio[0].body).unwrap().is_sequence_header());
    assert!(audio.iter().skip(1).all(|t| parse_audio(&t.body).unwrap().is_keyframe()));
    assert!(audio.windows(2).all(|w| w[1].timestamp >= w[0].timestamp));
    assert!(audio[0].timestamp <= 40, "audio starts with video: {}", audio[0].timestamp);
    assert!(!s.asm.stats().silence);
}

#[cfg(not(feature = "transcode"))]
#[test]
fn without_transcode_opus_is_enhanced_rtmp() {
    use openrtmp_media::codec::opus::OpusHead;
    use openrtmp_media::{AudioCodec, FourCc};
    let mut s = Session::new(MediaConfig::default());
    s.video(0, KEY, true);
    let tags = s.audio(0);
    assert_eq!(tags.len(), 2);
    let head = parse_audio(&tags[0].body).unwrap();
    assert!(head.is_enhanced() && head.is_sequence_header());
    assert_eq!(head.tracks[0].codec, AudioCodec::FourCc(FourCc::OPUS));
    let opus = OpusHead::parse(&head.tracks[0].body).unwrap();
    assert_eq!((opus.channel_count, opus.pre_skip), (2, 0));
    let frame = parse_audio(&tags[1].body).unwrap();
    assert_eq!(frame.tracks[0].body.as_ref(), &[0xF8, 0xFF, 0xFE]);
}
