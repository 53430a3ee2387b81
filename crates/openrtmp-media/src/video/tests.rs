use super::*;
use proptest::prelude::*;

fn parse(bytes: &[u8]) -> Result<VideoTag, MediaError> {
    parse_video(&Bytes::copy_from_slice(bytes))
}

/// Every prefix must parse or fail without panicking; prefixes shorter than `header_len`
/// must fail.
fn check_truncations(bytes: &[u8], header_len: usize) {
    for n in 0..bytes.len() {
        let r = parse(&bytes[..n]);
        if n < header_len {
            assert!(r.is_err(), "prefix of {n} bytes parsed: {r:?}");
        }
    }
}

fn single(tag: &VideoTag) -> &VideoTrack {
    assert_eq!(tag.tracks.len(), 1);
    &tag.tracks[0]
}

fn rewrite(bytes: &[u8]) {
    let tag = parse(bytes).unwrap();
    let mut out = BytesMut::new();
    tag.write(&mut out).unwrap();
    assert_eq!(&out[..], bytes);
}

/// tests/fixtures/h264_aac_ffmpeg5.flv (FFmpeg 5.1, libx264), first video tag, cut after
/// 5 bytes of the AVCDecoderConfigurationRecord.
const FFMPEG5_AVC_SEQ: [u8; 10] = [0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x0d, 0xff];
/// Same file, a whole B-frame tag with composition time 40 ms.
const FFMPEG5_AVC_INTER: [u8; 18] = [
    0x27, 0x01, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x09, 0x41, 0x9e, 0x41, 0x42, 0x15, 0xff, 0x00,
    0x07, 0xdd,
];
/// tests/fixtures/hevc_opus_ffmpeg9.flv (FFmpeg 9.0, libx265): key frame CodedFrames with
/// composition time 80 ms, cut after 5 body bytes.
const FFMPEG9_HEVC_KEY: [u8; 13] =
    [0x91, b'h', b'v', b'c', b'1', 0x00, 0x00, 0x50, 0x00, 0x00, 0x04, 0xd4, 0x28];
/// tests/fixtures/av1_aac_ffmpeg9.flv (FFmpeg 9.0, libsvtav1): the whole sequence start.
const FFMPEG9_AV1_SEQ: [u8; 22] = [
    0x90, b'a', b'v', b'0', b'1', 0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x02, 0x00, 0x00, 0x05, 0x21,
    0xe7, 0xfd, 0xe0, 0x17, 0xc0, 0x02,
];
/// tests/fixtures/vp9_flac_ffmpeg9.flv (FFmpeg 9.0, libvpx-vp9): the whole sequence start.
const FFMPEG9_VP9_SEQ: [u8; 17] = [
    0x90, b'v', b'p', b'0', b'9', 0x01, 0x00, 0x00, 0x00, 0x00, 0x14, 0x82, 0x02, 0x02, 0x02, 0x00,
    0x00,
];
/// tests/fixtures/hevc_opus_ffmpeg9.flv: the whole colorInfo Metadata packet (frame type
/// 5, which Metadata packets ignore).
const FFMPEG9_METADATA: [u8; 38] = [
    0xd4, 0x68, 0x76, 0x63, 0x31, 0x02, 0x00, 0x09, 0x63, 0x6f, 0x6c, 0x6f, 0x72, 0x49, 0x6e, 0x66,
    0x6f, 0x03, 0x00, 0x0b, 0x63, 0x6f, 0x6c, 0x6f, 0x72, 0x43, 0x6f, 0x6e, 0x66, 0x69, 0x67, 0x03,
    0x00, 0x00, 0x09, 0x00, 0x00, 0x09,
];

#[test]
fn legacy_avc_sequence_header() {
    let tag = parse(&FFMPEG5_AVC_SEQ).unwrap();
    assert_eq!(tag.frame_type, VideoFrameType::KEY_FRAME);
    assert_eq!(
        tag.header,
        VideoHeader::Legacy {
            codec_id: VideoCodecId::AVC,
            avc_packet_type: Some(AvcPacketType::SEQUENCE_HEADER)
        }
    );
    let t = single(&tag);
    assert_eq!(t.kind, FrameKind::SequenceHeader);
    assert_eq!(t.codec, VideoCodec::Legacy(VideoCodecId::AVC));
    assert_eq!(&t.body[..], &FFMPEG5_AVC_SEQ[5..]);
    assert!(tag.is_sequence_header() && !tag.is_keyframe() && !tag.is_enhanced());
    rewrite(&FFMPEG5_AVC_SEQ);
    check_truncations(&FFMPEG5_AVC_SEQ, 5);
}

#[test]
fn legacy_avc_inter_frame_with_composition_time() {
    let tag = parse(&FFMPEG5_AVC_INTER).unwrap();
    let t = single(&tag);
    assert_eq!(t.kind, FrameKind::InterFrame);
    assert_eq!(t.composition_time, 40);
    assert_eq!(t.body.len(), 13);
    rewrite(&FFMPEG5_AVC_INTER);
    check_truncations(&FFMPEG5_AVC_INTER, 5);
}

#[test]
fn body_is_a_slice_not_a_copy() {
    let data = Bytes::copy_from_slice(&FFMPEG5_AVC_INTER);
    let tag = parse_video(&data).unwrap();
    let body = &tag.tracks[0].body;
    assert_eq!(body.as_ptr(), data[5..].as_ptr());
}

#[test]
fn legacy_hevc_codec_12_uses_avc_layout() {
    // Hand-made: codec id 12 as sent by pre-E-RTMP forks, NALU with CT -1.
    let raw = [0x1c, 0x01, 0xff, 0xff, 0xff, 0xaa];
    let tag = parse(&raw).unwrap();
    let t = single(&tag);
    assert_eq!(t.codec, VideoCodec::Legacy(VideoCodecId::HEVC));
    assert_eq!((t.kind, t.composition_time, &t.body[..]), (FrameKind::Keyframe, -1, &[0xaa][..]));
    rewrite(&raw);
}

#[test]
fn legacy_other_codecs() {
    // Hand-made: VP6 key frame (no packet type), H.263 disposable frame, unknown codec 13,
    // AVC end of sequence, AVC with unknown packet type 9.
    let cases: [(&[u8], FrameKind); 5] = [
        (&[0x14, 0x00, 0x01], FrameKind::Keyframe),
        (&[0x32, 0x01], FrameKind::InterFrame),
        (&[0x1d, 0x01, 0x02], FrameKind::Other),
        (&[0x17, 0x02, 0, 0, 0], FrameKind::SequenceEnd),
        (&[0x27, 0x09, 0, 0, 0, 7], FrameKind::Other),
    ];
    for (raw, kind) in cases {
        assert_eq!(single(&parse(raw).unwrap()).kind, kind, "{raw:02x?}");
        rewrite(raw);
    }
}

#[test]
fn legacy_command_frame() {
    // Hand-made per §E.4.3.1: frame type 5, AVC, command 1 (end of seek).
    let tag = parse(&[0x57, 0x01]).unwrap();
    assert_eq!(tag.command, Some(VideoCommand::END_SEEK));
    assert_eq!(single(&tag).kind, FrameKind::Command);
    assert!(single(&tag).body.is_empty());
    rewrite(&[0x57, 0x01]);
    assert!(parse(&[0x57]).is_err());
}

#[test]
fn enhanced_hevc_key_frame() {
    let tag = parse(&FFMPEG9_HEVC_KEY).unwrap();
    assert!(tag.is_enhanced() && tag.is_keyframe());
    let t = single(&tag);
    assert_eq!(t.codec, VideoCodec::FourCc(FourCc::HEVC));
    assert_eq!(t.composition_time, 80);
    assert_eq!(&t.body[..], &FFMPEG9_HEVC_KEY[8..]);
    rewrite(&FFMPEG9_HEVC_KEY);
    check_truncations(&FFMPEG9_HEVC_KEY, 8);
}

#[test]
fn enhanced_sequence_starts() {
    for (raw, fourcc) in [(&FFMPEG9_AV1_SEQ[..], FourCc::AV1), (&FFMPEG9_VP9_SEQ[..], FourCc::VP9)]
    {
        let tag = parse(raw).unwrap();
        let t = single(&tag);
        assert_eq!(t.codec, VideoCodec::FourCc(fourcc));
        assert_eq!(t.kind, FrameKind::SequenceHeader);
        assert_eq!(&t.body[..], &raw[5..]);
        rewrite(raw);
        check_truncations(raw, 5);
    }
}

#[test]
fn enhanced_av1_frames_have_no_composition_time() {
    // Hand-made: AV1 CodedFrames inter frame; the bytes after the FOURCC are all body.
    let raw = [0xa1, b'a', b'v', b'0', b'1', 0x12, 0x00, 0x32];
    let t = parse(&raw).unwrap().tracks.remove(0);
    assert_eq!((t.kind, t.composition_time, t.body.len()), (FrameKind::InterFrame, 0, 3));
    // CodedFramesX of HEVC: composition time implied 0, no SI24 on the wire.
    let raw = [0x93, b'h', b'v', b'c', b'1', 0x00, 0x00, 0x01];
    let t = parse(&raw).unwrap().tracks.remove(0);
    assert_eq!((t.kind, t.composition_time, t.body.len()), (FrameKind::Keyframe, 0, 3));
    rewrite(&raw);
}

#[test]
fn metadata_ignores_command_frame_type() {
    let tag = parse(&FFMPEG9_METADATA).unwrap();
    assert_eq!(tag.command, None);
    let t = single(&tag);
    assert_eq!(t.kind, FrameKind::Metadata);
    assert_eq!(t.body.len(), 33);
    rewrite(&FFMPEG9_METADATA);
}

#[test]
fn enhanced_command_frame_has_no_fourcc() {
    // Hand-made per E-RTMP v2: IsExHeader, frame type 5, CodedFrames, command 0.
    let tag = parse(&[0xd1, 0x00]).unwrap();
    assert_eq!(tag.command, Some(VideoCommand::START_SEEK));
    let t = single(&tag);
    assert_eq!((t.kind, t.codec), (FrameKind::Command, VideoCodec::Unspecified));
    rewrite(&[0xd1, 0x00]);
}

#[test]
fn unknown_fourcc_and_packet_type_pass_through() {
    // Hand-made: an unknown FOURCC "xyz1" sequence start, and reserved packet type 9.
    let raw = [0x90, b'x', b'y', b'z', b'1', 1, 2];
    let t = parse(&raw).unwrap().tracks.remove(0);
    assert_eq!(t.codec, VideoCodec::FourCc(FourCc(*b"xyz1")));
    assert_eq!((t.kind, &t.body[..]), (FrameKind::SequenceHeader, &[1, 2][..]));
    let raw = [0x99, b'a', b'v', b'c', b'1', 1, 2];
    let t = parse(&raw).unwrap().tracks.remove(0);
    assert_eq!((t.kind, &t.body[..]), (FrameKind::Other, &[1, 2][..]));
    rewrite(&raw);
}

/// Hand-made per E-RTMP v2 "Enhanced Video": key frame, Multitrack, ManyTracksManyCodecs
/// with CodedFrames; track 0 is avc1 (SI24 composition time 1 inside its size), track 1 av01.
const MULTI_MANY_CODECS: [u8; 24] = [
    0x96, 0x21, b'a', b'v', b'c', b'1', 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x01, 0xaa, 0xbb, b'a',
    b'v', b'0', b'1', 0x01, 0x00, 0x00, 0x01, 0xcc,
];

#[test]
fn multitrack_many_codecs() {
    let tag = parse(&MULTI_MANY_CODECS).unwrap();
    assert_eq!(
        tag.header,
        VideoHeader::Ex(ExVideoHeader {
            packet_type: VideoPacketType::CODED_FRAMES,
            multitrack: Some(AvMultitrackType::MANY_TRACKS_MANY_CODECS),
            timestamp_nano_offset: None
        })
    );
    assert_eq!(tag.tracks.len(), 2);
    let (a, b) = (&tag.tracks[0], &tag.tracks[1]);
    assert_eq!((a.track_id, a.codec, a.composition_time), (0, VideoCodec::FourCc(FourCc::AVC), 1));
    assert_eq!(&a.body[..], &[0xaa, 0xbb]);
    assert_eq!((b.track_id, b.codec, b.composition_time), (1, VideoCodec::FourCc(FourCc::AV1), 0));
    assert_eq!(&b.body[..], &[0xcc]);
    assert!(tag.tracks.iter().all(|t| t.kind == FrameKind::Keyframe));
    rewrite(&MULTI_MANY_CODECS);
    check_truncations(&MULTI_MANY_CODECS, 15);
}

#[test]
fn multitrack_one_track_with_mod_ex() {
    // Hand-made: ModEx TimestampOffsetNano 500000 ns, then Multitrack OneTrack
    // SequenceStart of vp09 on track 2 (no size field, body runs to the end).
    let raw = [0x97, 0x02, 0x07, 0xa1, 0x20, 0x06, 0x00, b'v', b'p', b'0', b'9', 0x02, 0x01, 0x02];
    let tag = parse(&raw).unwrap();
    let VideoHeader::Ex(ex) = tag.header else { panic!("not enhanced") };
    assert_eq!(ex.timestamp_nano_offset, Some(500_000));
    assert_eq!(ex.multitrack, Some(AvMultitrackType::ONE_TRACK));
    assert_eq!(ex.packet_type, VideoPacketType::SEQUENCE_START);
    let t = single(&tag);
    assert_eq!((t.track_id, t.kind, &t.body[..]), (2, FrameKind::SequenceHeader, &[1, 2][..]));
    rewrite(&raw);
    check_truncations(&raw, 12);
}

#[test]
fn multitrack_many_tracks_and_unknown_layout() {
    // Hand-made: ManyTracks CodedFramesX of hvc1, two tracks (ids 0 and 5).
    let raw = [0xa6, 0x13, b'h', b'v', b'c', b'1', 0, 0, 0, 1, 0x11, 5, 0, 0, 2, 0x22, 0x33];
    let tag = parse(&raw).unwrap();
    assert_eq!(tag.tracks.len(), 2);
    assert!(tag.tracks.iter().all(|t| t.kind == FrameKind::InterFrame));
    assert_eq!(tag.tracks[1].track_id, 5);
    assert_eq!(&tag.tracks[1].body[..], &[0x22, 0x33]);
    rewrite(&raw);
    // Layout 9 is reserved: everything after the multitrack byte is one opaque track.
    let raw = [0x96, 0x91, 1, 2, 3];
    let tag = parse(&raw).unwrap();
    let t = single(&tag);
    assert_eq!((t.codec, t.kind, t.body.len()), (VideoCodec::Unspecified, FrameKind::Other, 3));
    rewrite(&raw);
}

#[test]
fn multitrack_errors() {
    // Hand-made: nested Multitrack packet type, and a track size past the end.
    assert_eq!(
        parse(&[0x96, 0x16, b'a', b'v', b'c', b'1']),
        Err(MediaError::InvalidMultitrackPacketType { packet_type: 6 })
    );
    assert_eq!(
        parse(&[0x96, 0x13, b'a', b'v', b'c', b'1', 7, 0, 0, 9, 1]),
        Err(MediaError::TrackSizeOverrun { track_id: 7, size: 9, available: 1 })
    );
    assert!(matches!(parse(&[]), Err(MediaError::Truncated { .. })));
}

#[test]
fn writer_rejects_inexpressible_tags() {
    let mut tag = parse(&MULTI_MANY_CODECS).unwrap();
    let mut out = BytesMut::new();
    // ManyTracks requires one FOURCC for all tracks.
    if let VideoHeader::Ex(ex) = &mut tag.header {
        ex.multitrack = Some(AvMultitrackType::MANY_TRACKS);
    }
    assert!(matches!(tag.write(&mut out), Err(MediaError::InvalidTrackList { .. })));
    let mut tag = parse(&FFMPEG5_AVC_INTER).unwrap();
    tag.tracks[0].composition_time = 1 << 23;
    assert!(matches!(tag.write(&mut out), Err(MediaError::FieldOutOfRange { .. })));
    tag.tracks.clear();
    assert!(matches!(tag.write(&mut out), Err(MediaError::InvalidTrackList { .. })));
    assert!(out.is_empty());
}

fn body() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

fn fourcc() -> impl Strategy<Value = FourCc> {
    prop_oneof![
        Just(FourCc::AVC),
        Just(FourCc::HEVC),
        Just(FourCc::AV1),
        Just(FourCc::VP9),
        Just(FourCc::VP8),
        Just(FourCc::VVC),
        any::<[u8; 4]>().prop_map(FourCc),
    ]
}

fn track(codec: VideoCodec, track_id: u8, ct: bool) -> impl Strategy<Value = VideoTrack> {
    let ct = if ct { (-(1i32 << 23)..(1 << 23)).boxed() } else { Just(0).boxed() };
    (ct, body()).prop_map(move |(composition_time, body)| Track {
        track_id,
        codec,
        kind: FrameKind::Other,
        composition_time,
        body,
    })
}

fn legacy_tag() -> impl Strategy<Value = VideoTag> {
    (0u8..8, 0u8..16, any::<u8>(), any::<u8>()).prop_flat_map(|(ft, id, pt, cmd)| {
        let codec_id = VideoCodecId(id);
        let command = ft == 5;
        let avc = codec_id.has_avc_layout() && !command;
        let codec = VideoCodec::Legacy(codec_id);
        track(codec, 0, avc).prop_map(move |t| VideoTag {
            frame_type: VideoFrameType(ft),
            header: VideoHeader::Legacy {
                codec_id,
                avc_packet_type: avc.then_some(AvcPacketType(pt)),
            },
            command: command.then_some(VideoCommand(cmd)),
            tracks: vec![t],
        })
    })
}

fn ex_tracks(layout: Option<u8>, pt: VideoPacketType) -> BoxedStrategy<Vec<VideoTrack>> {
    let ct = move |f: FourCc| pt == VideoPacketType::CODED_FRAMES && f.has_composition_time();
    match layout {
        None => fourcc()
            .prop_flat_map(move |f| track(VideoCodec::FourCc(f), 0, ct(f)))
            .prop_map(|t| vec![t])
            .boxed(),
        Some(0) => (fourcc(), any::<u8>())
            .prop_flat_map(move |(f, id)| track(VideoCodec::FourCc(f), id, ct(f)))
            .prop_map(|t| vec![t])
            .boxed(),
        Some(1) => (fourcc(), proptest::collection::vec(any::<u8>(), 1..4))
            .prop_flat_map(move |(f, ids)| {
                ids.into_iter()
                    .map(|id| track(VideoCodec::FourCc(f), id, ct(f)))
                    .collect::<Vec<_>>()
            })
            .boxed(),
        Some(2) => proptest::collection::vec((fourcc(), any::<u8>()), 1..4)
            .prop_flat_map(move |v| {
                v.into_iter()
                    .map(|(f, id)| track(VideoCodec::FourCc(f), id, ct(f)))
                    .collect::<Vec<_>>()
            })
            .boxed(),
        Some(_) => track(VideoCodec::Unspecified, 0, false).prop_map(|t| vec![t]).boxed(),
    }
}

fn ex_tag() -> impl Strategy<Value = VideoTag> {
    let pt = (0u8..16).prop_filter("not Multitrack/ModEx", |p| *p != 6 && *p != 7);
    let layout = prop_oneof![Just(None), (0u8..16).prop_map(Some)];
    let nano = prop_oneof![Just(None), (0u32..(1 << 24)).prop_map(Some)];
    (0u8..8, pt, layout, nano, any::<u8>()).prop_flat_map(|(ft, pt, layout, nano, cmd)| {
        let pt = VideoPacketType(pt);
        let command = is_ex_command(VideoFrameType(ft), pt);
        // A frame type 5 with the Multitrack packet type reads as a command frame.
        let layout = if ft == 5 { None } else { layout };
        let tracks = if command {
            track(VideoCodec::Unspecified, 0, false).prop_map(|t| vec![t]).boxed()
        } else {
            ex_tracks(layout, pt)
        };
        tracks.prop_map(move |tracks| VideoTag {
            frame_type: VideoFrameType(ft),
            header: VideoHeader::Ex(ExVideoHeader {
                packet_type: pt,
                multitrack: layout.map(AvMultitrackType),
                timestamp_nano_offset: nano,
            }),
            command: command.then_some(VideoCommand(cmd)),
            tracks,
        })
    })
}

fn without_kinds(mut tag: VideoTag) -> VideoTag {
    tag.tracks.iter_mut().for_each(|t| t.kind = FrameKind::Other);
    tag
}

proptest! {
    #[test]
    fn round_trip(tag in prop_oneof![legacy_tag(), ex_tag()]) {
        let mut out = BytesMut::new();
        tag.write(&mut out).unwrap();
        let bytes = out.freeze();
        let parsed = parse_video(&bytes).unwrap();
        prop_assert_eq!(without_kinds(parsed.clone()), without_kinds(tag));
        let mut again = BytesMut::new();
        parsed.write(&mut again).unwrap();
        prop_assert_eq!(&again[..], &bytes[..]);
        for n in 0..bytes.len() {
            let _ = parse_video(&bytes.slice(..n));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse(&data);
    }
}
