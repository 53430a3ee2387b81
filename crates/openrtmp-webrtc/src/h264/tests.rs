use bytes::Bytes;
use openrtmp_media::codec::avc::AvcDecoderConfigurationRecord;
use proptest::prelude::*;

use super::*;

/// libx264 Constrained Baseline 640x360 (FFmpeg 5.1: `testsrc2=size=640x360 -profile:v
/// baseline`), and the record FFmpeg's FLV muxer wrote for it.
pub(crate) const BASELINE_SPS: [u8; 25] = [
    0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01,
    0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2e, 0x48,
];
pub(crate) const BASELINE_PPS: [u8; 5] = [0x68, 0xcb, 0x83, 0xcb, 0x20];
const BASELINE_RECORD: [u8; 41] = [
    0x01, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x2f,
    0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2e,
    0x48, 0x01, 0x00, 0x05, 0x68, 0xcb, 0x83, 0xcb, 0x20,
];

/// openrtmp-media's FFmpeg 5.1 record (libx264 High 320x240, tests/fixtures/h264_aac_ffmpeg5.flv):
/// High profile, so it ends with the chroma/bit-depth tail `fd f8 f8 00`.
pub(crate) const HIGH_RECORD: [u8; 45] = [
    0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41,
    0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99,
    0x60, 0x01, 0x00, 0x05, 0x68, 0xef, 0x82, 0x5c, 0xb0, 0xfd, 0xf8, 0xf8, 0x00,
];

pub(crate) fn annex_b(nals: &[&[u8]], four_byte: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nals {
        out.extend_from_slice(if four_byte { &[0, 0, 0, 1] } else { &[0, 0, 1] });
        out.extend_from_slice(n);
    }
    out
}

pub(crate) const AUD: &[u8] = &[0x09, 0x10];
const SEI: &[u8] = &[0x06, 0x05, 0x01, 0x02, 0x80];
pub(crate) const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x19];
pub(crate) const SLICE: &[u8] = &[0x41, 0x9a, 0x02, 0x03];

#[test]
fn split_three_and_four_byte_start_codes() {
    let mut au = annex_b(&[AUD, &BASELINE_SPS], true);
    au.extend_from_slice(&annex_b(&[&BASELINE_PPS, IDR], false));
    let nals: Vec<&[u8]> = split_annex_b(&au).collect();
    assert_eq!(nals, vec![AUD, &BASELINE_SPS[..], &BASELINE_PPS[..], IDR]);
    // Leading bytes without a start code, trailing zeros, empty units between start codes.
    let odd = [0x41, 0x01, 0, 0, 1, 0, 0, 1, 0x65, 0x02, 0, 0, 0, 0];
    assert_eq!(split_annex_b(&odd).collect::<Vec<_>>(), vec![&[0x41, 0x01][..], &[0x65, 0x02]]);
    assert_eq!(split_annex_b(&[]).count(), 0);
    assert_eq!(split_annex_b(&[0, 0, 1]).count(), 0);
}

#[test]
fn baseline_record_matches_ffmpeg() {
    let rec =
        decoder_configuration_record(&BASELINE_SPS, &[Bytes::from_static(&BASELINE_PPS)]).unwrap();
    assert_eq!(rec.as_ref(), &BASELINE_RECORD[..]);
    let parsed = AvcDecoderConfigurationRecord::parse(&rec).unwrap();
    assert_eq!(parsed.sps, vec![&BASELINE_SPS[..]]);
    assert_eq!(parsed.pps, vec![&BASELINE_PPS[..]]);
    let info = parsed.info().unwrap();
    assert_eq!((info.width, info.height), (Some(640), Some(360)));
    assert_eq!(info.profile.as_deref(), Some("Constrained Baseline"));
}

#[test]
fn high_profile_record_has_the_chroma_tail_like_ffmpeg() {
    let parsed = AvcDecoderConfigurationRecord::parse(&HIGH_RECORD).unwrap();
    let pps: Vec<Bytes> = parsed.pps.iter().map(|p| Bytes::copy_from_slice(p)).collect();
    let rec = decoder_configuration_record(parsed.sps[0], &pps).unwrap();
    assert_eq!(rec.as_ref(), &HIGH_RECORD[..]);
    let info = SpsInfo::parse(parsed.sps[0]).unwrap();
    assert_eq!((info.width, info.height, info.profile_idc), (320, 240, 100));
    assert_eq!((info.chroma_format_idc, info.bit_depth_luma_minus8), (1, 0));
}

#[test]
fn tag_bodies() {
    let rec = Bytes::from_static(&BASELINE_RECORD);
    let sh = sequence_header_tag(&rec);
    assert_eq!(&sh[..5], &[0x17, 0x00, 0, 0, 0]);
    assert_eq!(&sh[5..], &BASELINE_RECORD[..]);
    let f = frame_tag(false, [SEI, SLICE]);
    assert_eq!(
        f.as_ref(),
        &[
            0x27, 0x01, 0, 0, 0, 0, 0, 0, 5, 0x06, 0x05, 0x01, 0x02, 0x80, 0, 0, 0, 4, 0x41, 0x9a,
            0x02, 0x03
        ]
    );
    // The hub's parser reads them as AVC sequence header and inter frame.
    let v = openrtmp_media::parse_video(&sh).unwrap();
    assert!(v.is_sequence_header() && !v.is_keyframe());
    let v = openrtmp_media::parse_video(&f).unwrap();
    assert!(!v.is_sequence_header() && !v.is_keyframe());
    assert!(openrtmp_media::parse_video(&frame_tag(true, [IDR])).unwrap().is_keyframe());
}

#[test]
fn converter_lifts_parameter_sets_and_drops_aud() {
    let mut c = AvcConverter::new();
    // An inter frame before any parameter set: a frame, but no sequence header.
    let out = c.push(&annex_b(&[AUD, SLICE], true)).unwrap();
    assert_eq!(out.sequence_header, None);
    assert!(!out.keyframe && !c.has_sequence_header());
    // Keyframe with SPS/PPS (Chrome's STAP-A) and SEI.
    let out = c.push(&annex_b(&[AUD, &BASELINE_SPS, &BASELINE_PPS, SEI, IDR], true)).unwrap();
    let sh = out.sequence_header.unwrap();
    assert_eq!(&sh[5..], &BASELINE_RECORD[..]);
    assert!(out.keyframe);
    assert_eq!(out.frame.unwrap(), frame_tag(true, [SEI, IDR]));
    assert_eq!(c.sps_info().map(|i| (i.width, i.height)), Some((640, 360)));
    // The same parameter sets again: no new header, still stripped.
    let out = c.push(&annex_b(&[&BASELINE_SPS, &BASELINE_PPS, IDR], false)).unwrap();
    assert_eq!(out.sequence_header, None);
    assert_eq!(out.frame.unwrap(), frame_tag(true, [IDR]));
    // Parameter sets alone make no frame.
    let out = c.push(&annex_b(&[AUD, &BASELINE_SPS, &BASELINE_PPS], true)).unwrap();
    assert_eq!((out.sequence_header, out.frame), (None, None));
}

#[test]
fn converter_emits_a_new_header_on_resolution_change() {
    let high = AvcDecoderConfigurationRecord::parse(&HIGH_RECORD).unwrap();
    let mut c = AvcConverter::new();
    c.push(&annex_b(&[&BASELINE_SPS, &BASELINE_PPS, IDR], true)).unwrap();
    let out = c.push(&annex_b(&[high.sps[0], high.pps[0], IDR], true)).unwrap();
    assert_eq!(&out.sequence_header.unwrap()[5..], &HIGH_RECORD[..]);
    assert_eq!(c.sps_info().map(|i| (i.width, i.height)), Some((320, 240)));
    // A new PPS alone also changes the header (SPS kept).
    let out = c.push(&annex_b(&[&[0x68, 0xce, 0x3c, 0x80][..], IDR], true)).unwrap();
    let rec = out.sequence_header.unwrap().slice(5..);
    let parsed = AvcDecoderConfigurationRecord::parse(&rec).unwrap();
    assert_eq!(parsed.sps, vec![high.sps[0]]);
    assert_eq!(parsed.pps, vec![&[0x68, 0xce, 0x3c, 0x80][..]]);
}

#[test]
fn broken_sps_is_an_error_and_keeps_the_old_header() {
    let mut c = AvcConverter::new();
    c.push(&annex_b(&[&BASELINE_SPS, &BASELINE_PPS, IDR], true)).unwrap();
    assert!(c.push(&annex_b(&[&[0x67, 0xff][..], &BASELINE_PPS, IDR], true)).is_err());
    assert_eq!(c.sps_info().map(|i| i.width), Some(640));
    assert!(SpsInfo::parse(&[]).is_err());
    assert!(SpsInfo::parse(&BASELINE_PPS).is_err());
}

proptest! {
    #[test]
    fn split_never_panics_and_loses_no_payload(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let nals: Vec<&[u8]> = split_annex_b(&data).collect();
        for n in &nals {
            prop_assert!(!n.is_empty());
            prop_assert!(n.windows(3).all(|w| w != [0, 0, 1]));
        }
        let _ = AvcConverter::new().push(&data);
    }

    #[test]
    fn split_round_trips(nals in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 1..64), 0..8), four in any::<bool>()) {
        // Units as a muxer writes them: no 00 00 0x (x <= 3) inside (emulation prevention),
        // no trailing zero.
        let nals: Vec<Vec<u8>> = nals.into_iter().map(|mut n| {
            for b in n.iter_mut() { if *b == 0 { *b = 0x11; } }
            n
        }).collect();
        let refs: Vec<&[u8]> = nals.iter().map(|n| n.as_slice()).collect();
        let au = annex_b(&refs, four);
        prop_assert_eq!(split_annex_b(&au).collect::<Vec<_>>(), refs);
    }
}
