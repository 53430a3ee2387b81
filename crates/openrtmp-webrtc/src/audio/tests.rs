#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use proptest::prelude::*;
use ropus::{Application, Bitrate, Encoder, InbandFec};

/// 20 ms Opus packets (libopus settings close to Chrome's: 64k, in-band FEC) of a stereo
/// tone, `seconds` long.
fn opus_tone(freq: f32, seconds: f32) -> Vec<Vec<u8>> {
    let mut enc = Encoder::builder(48_000, Channels::Stereo, Application::Audio)
        .bitrate(Bitrate::Bits(64_000))
        .inband_fec(InbandFec::Enabled)
        .build()
        .unwrap();
    let frames = (seconds * 50.0) as usize;
    let mut packets = Vec::new();
    let mut buf = vec![0u8; 4000];
    for f in 0..frames {
        let pcm: Vec<f32> = (0..960)
            .flat_map(|i| {
                let t = (f * 960 + i) as f32 / 48_000.0;
                let s = 0.3 * (2.0 * std::f32::consts::PI * freq * t).sin();
                [s, s]
            })
            .collect();
        let n = enc.encode_float(&pcm, &mut buf).unwrap();
        packets.push(buf[..n].to_vec());
    }
    packets
}

/// Asserts the frames make one gapless 1024-step timeline starting at `first`.
fn assert_continuous(frames: &[AacFrame], first: u64) {
    assert!(!frames.is_empty());
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.pts, first + i as u64 * 1024, "frame {i} of {}", frames.len());
        assert!(!f.data.is_empty(), "frame {i} is empty");
    }
}

#[test]
fn audio_specific_config_is_aac_lc_48k_stereo() {
    let t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
    assert_eq!(
        t.audio_specific_config().to_vec(),
        rusty_aac::audio_specific_config_bytes(48_000, 2)
    );
}

#[test]
fn bitrate_out_of_range_is_an_error() {
    assert!(OpusToAac::new(8_000).is_err());
    assert!(OpusToAac::new(1_000_000).is_err());
    assert!(OpusToAac::new(MIN_BITRATE_BPS).is_ok());
}

#[test]
fn timeline_is_continuous_from_the_first_pts_minus_the_priming_frame() {
    let mut t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
    let mut out = Vec::new();
    let start = 1_000_000u64;
    for (i, p) in opus_tone(440.0, 1.0).iter().enumerate() {
        t.push_opus(start + i as u64 * 960, p, &mut out).unwrap();
    }
    // Live: all but the lookahead came out before the flush.
    let live = out.len();
    assert!(live >= 46 - 7, "{live} frames before the flush");
    t.flush(&mut out);
    assert_continuous(&out, start - 1024);
    // 48 000 samples need frames through the one decoding to the last partial block.
    assert_eq!(out.len(), 48_000usize.div_ceil(1024) + 1);
    assert_eq!(t.stats().packets, 50);
}

#[test]
fn the_priming_frame_of_a_timeline_starting_at_zero_is_dropped() {
    let mut t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
    let mut out = Vec::new();
    for (i, p) in opus_tone(440.0, 0.5).iter().enumerate() {
        t.push_opus(i as u64 * 960, p, &mut out).unwrap();
    }
    t.flush(&mut out);
    assert_continuous(&out, 0);
}

#[test]
fn lost_packets_are_concealed_and_the_timeline_stays_whole() {
    let mut t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
    let mut out = Vec::new();
    let start = 48_000u64;
    for (i, p) in opus_tone(1000.0, 1.0).iter().enumerate() {
        // Lose one packet, then a burst of 10 (200 ms: PLC 120 ms, then silence).
        if i == 10 || (20..30).contains(&i) {
            continue;
        }
        t.push_opus(start + i as u64 * 960, p, &mut out).unwrap();
    }
    t.flush(&mut out);
    assert_continuous(&out, start - 1024);
    let s = t.stats();
    assert_eq!(s.packets, 39);
    assert_eq!(s.concealed_samples, 960 + 5760);
    assert_eq!(s.silence_samples, 9600 - 5760);
}

#[test]
fn a_packet_back_in_time_is_dropped() {
    let mut t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
    let mut out = Vec::new();
    let packets = opus_tone(440.0, 0.5);
    for (i, p) in packets.iter().enumerate() {
        t.push_opus(96_000 + i as u64 * 960, p, &mut out).unwrap();
        if i == 5 {
            // A duplicate and an older one.
            t.push_opus(96_000 + 5 * 960, p, &mut out).unwrap();
            t.push_opus(96_000, p, &mut out).unwrap();
        }
    }
    t.flush(&mut out);
    assert_continuous(&out, 96_000 - 1024);
    assert_eq!(t.stats().late, 2);
}

#[test]
fn a_gap_over_the_limit_restarts_the_timeline_without_filling_it() {
    let mut t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
    let mut out = Vec::new();
    let packets = opus_tone(440.0, 0.4);
    for (i, p) in packets.iter().enumerate() {
        t.push_opus(48_000 + i as u64 * 960, p, &mut out).unwrap();
    }
    let first_len = out.len();
    // An hour later.
    let later = 48_000 + 3600 * 48_000;
    for (i, p) in packets.iter().enumerate() {
        t.push_opus(later + i as u64 * 960, p, &mut out).unwrap();
    }
    t.flush(&mut out);
    assert_eq!(t.stats().restarts, 1);
    assert_eq!(t.stats().silence_samples, 0);
    // Both timelines whole, the second from its own first pts; nothing in between.
    let split = out.iter().position(|f| f.pts >= later - 1024).unwrap();
    assert!(split >= first_len);
    assert_continuous(&out[..split], 48_000 - 1024);
    assert_continuous(&out[split..], later - 1024);
    assert_eq!(out.len(), 2 * (19_200usize.div_ceil(1024) + 1));
}

#[test]
fn undecodable_and_empty_packets_are_concealed() {
    let mut t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
    let mut out = Vec::new();
    let packets = opus_tone(440.0, 0.4);
    for (i, p) in packets.iter().enumerate() {
        let p: &[u8] = match i {
            3 => &[],
            // TOC code 3 with a frame count of 0: invalid (RFC 6716 §3.2.5).
            6 => &[0xfb, 0x00],
            _ => p,
        };
        t.push_opus(48_000 + i as u64 * 960, p, &mut out).unwrap();
    }
    t.flush(&mut out);
    assert_continuous(&out, 48_000 - 1024);
    assert_eq!(t.stats().undecodable, 2);
}

#[test]
fn silence_anchors_then_follows_the_clock_with_one_reused_au() {
    let mut t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
    let mut out = Vec::new();
    t.push_silence(90_000, &mut out).unwrap();
    assert!(out.is_empty());
    // The video clock moves in uneven steps.
    let mut pts = 90_000;
    for step in [1600u64, 1500, 1700, 48_000, 3, 1597] {
        pts += step;
        t.push_silence(pts, &mut out).unwrap();
    }
    // Going back does nothing.
    t.push_silence(90_000, &mut out).unwrap();
    t.flush(&mut out);
    assert_continuous(&out, 90_000 - 1024);
    let first = out[0].data.clone();
    assert!(out.iter().all(|f| f.data == first), "one silent AU for all");
    assert_eq!(t.stats().silence_samples, pts - 90_000);
}

#[test]
fn silence_then_microphone_continues_the_timeline() {
    let mut t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
    let mut out = Vec::new();
    t.push_silence(48_000, &mut out).unwrap();
    t.push_silence(96_000, &mut out).unwrap();
    for (i, p) in opus_tone(440.0, 0.5).iter().enumerate() {
        t.push_opus(96_000 + i as u64 * 960, p, &mut out).unwrap();
    }
    t.flush(&mut out);
    assert_continuous(&out, 48_000 - 1024);
}

/// The live (windowed) encoder gives the same bytes as `rusty_aac` encoding the whole clip
/// at once, for content without transients (whose detector floor is per clip).
#[test]
fn windowed_encoding_matches_the_whole_clip_encoder() {
    let n: usize = 48_000;
    let pcm: Vec<f32> = (0..n)
        .flat_map(|i| {
            let t = i as f32 / 48_000.0;
            let s = 0.25 * (2.0 * std::f32::consts::PI * 1234.5 * t).sin();
            [s, 0.5 * s]
        })
        .collect();
    let mut whole = rusty_aac::AacEncoder::new(rusty_aac::AacEncoderConfig::default());
    whole.push_pcm(&pcm, 2, 48_000).unwrap();
    whole.finish();
    let mut reference = Vec::new();
    while let Ok(p) = whole.next_packet() {
        reference.push(p.data);
    }
    let mut timeline = AacTimeline::new(DEFAULT_BITRATE_BPS, 2048);
    let mut cache = SilentAu::default();
    let mut out = Vec::new();
    for chunk in pcm.chunks(960 * 2) {
        timeline.push_interleaved(chunk, &mut cache, &mut out);
    }
    timeline.finish(&mut cache, &mut out);
    assert_eq!(out.len(), n.div_ceil(1024) + 1);
    // Frames 0 and 1 differ by design: the whole-clip encoder never flags a transient in
    // its first block, the live one sees the onset after its (silent) history and codes it
    // with short blocks.
    for (i, f) in out.iter().enumerate().skip(3) {
        assert_eq!(f.data[..], reference[i][..], "frame {i}");
    }
}

#[test]
fn a_pts_near_the_end_of_u64_is_an_error_not_an_overflow() {
    let mut t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
    let mut out = Vec::new();
    let p = &opus_tone(440.0, 0.02)[0];
    assert!(t.push_opus(u64::MAX - 100, p, &mut out).is_err());
    assert!(t.push_silence(u64::MAX, &mut out).is_err());
    t.push_opus(1 << 62, p, &mut out).unwrap();
    t.flush(&mut out);
    assert_continuous(&out, (1 << 62) - 1024);
}

proptest! {
    // Few, short cases: decoding random bytes mostly succeeds (any TOC is valid), and
    // every decoded sample is encoded, which is slow in a debug build.
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Whatever the peer sends (any bytes, any pts order), no panic, and what comes out is
    /// a timeline that never goes back.
    #[test]
    fn arbitrary_packets_never_panic(
        packets in proptest::collection::vec(
            (0u64..30_000, proptest::collection::vec(any::<u8>(), 0..120)), 0..16)
    ) {
        let mut t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
        let mut out = Vec::new();
        for (pts, p) in &packets {
            t.push_opus(*pts, p, &mut out).unwrap();
        }
        t.flush(&mut out);
        for w in out.windows(2) {
            prop_assert!(w[1].pts > w[0].pts);
        }
    }
}
