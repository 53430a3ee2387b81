use super::*;
use proptest::prelude::*;

fn parse(bytes: &[u8]) -> Result<AudioTag, MediaError> {
    parse_audio(&Bytes::copy_from_slice(bytes))
}

fn check_truncations(bytes: &[u8], header_len: usize) {
    for n in 1..bytes.len() {
        let r = parse(&bytes[..n]);
        if n < header_len {
            assert!(r.is_err(), "prefix of {n} bytes parsed: {r:?}");
        }
    }
}

fn rewrite(bytes: &[u8]) {
    let tag = parse(bytes).unwrap();
    let mut out = BytesMut::new();
    tag.write(&mut out).unwrap();
    assert_eq!(&out[..], bytes);
}

/// tests/fixtures/h264_aac_ffmpeg5.flv (FFmpeg 5.1, aac): the whole AAC sequence header
/// (AudioSpecificConfig LC, 44100 Hz, stereo, plus 3 bytes of sync extension).
const FFMPEG5_AAC_SEQ: [u8; 7] = [0xaf, 0x00, 0x12, 0x10, 0x56, 0xe5, 0x00];
/// tests/fixtures/hevc_opus_ffmpeg9.flv (FFmpeg 9.0, libopus): the whole sequence start.
const FFMPEG9_OPUS_SEQ: [u8; 24] = [
    0x90, b'O', b'p', b'u', b's', b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd', 0x01, 0x02, 0x38,
    0x01, 0x80, 0xbb, 0x00, 0x00, 0x00, 0x00, 0x00,
];
/// Same file: the whole MultichannelConfig packet.
const FFMPEG9_OPUS_MULTICHANNEL: [u8; 11] =
    [0x94, b'O', b'p', b'u', b's', 0x01, 0x02, 0x00, 0x00, 0x00, 0x03];
/// Same file: a CodedFrames packet, cut after 4 body bytes.
const FFMPEG9_OPUS_FRAME: [u8; 9] = [0x91, b'O', b'p', b'u', b's', 0x9c, 0xb0, 0x1f, 0xc9];

#[test]
fn legacy_aac() {
    let tag = parse(&FFMPEG5_AAC_SEQ).unwrap();
    assert_eq!(
        tag.header,
        AudioHeader::Legacy(LegacyAudioHeader {
            sound_format: SoundFormat::AAC,
            sound_rate: SoundRate::KHZ_44,
            sound_size_16bit: true,
            stereo: true,
            aac_packet_type: Some(AacPacketType::SEQUENCE_HEADER),
        })
    );
    assert!(tag.is_sequence_header() && !tag.is_keyframe());
    assert_eq!(&tag.tracks[0].body[..], &FFMPEG5_AAC_SEQ[2..]);
    rewrite(&FFMPEG5_AAC_SEQ);
    check_truncations(&FFMPEG5_AAC_SEQ, 2);
    // Raw frame (same file, cut): AACPacketType 1.
    let tag = parse(&[0xaf, 0x01, 0x21, 0x25]).unwrap();
    assert_eq!(tag.tracks[0].kind, FrameKind::Keyframe);
}

#[test]
fn legacy_formats() {
    // Hand-made: MP3 22 kHz 16-bit mono, Speex, reserved 12, Nellymoser 8 kHz.
    let cases: [(&[u8], FrameKind); 4] = [
        (&[0x2a, 0xff, 0xfb], FrameKind::Keyframe),
        (&[0xb2, 0x01], FrameKind::Keyframe),
        (&[0xc0, 0x01], FrameKind::Other),
        (&[0x52], FrameKind::Keyframe),
    ];
    for (raw, kind) in cases {
        let tag = parse(raw).unwrap();
        assert_eq!(tag.tracks[0].kind, kind, "{raw:02x?}");
        rewrite(raw);
    }
    let AudioHeader::Legacy(h) = parse(&[0x2a]).unwrap().header else { panic!() };
    assert_eq!((h.sound_rate.hz(), h.sound_size_16bit, h.stereo), (22_050, true, false));
    // AAC with an unknown AACPacketType.
    assert_eq!(parse(&[0xaf, 0x05]).unwrap().tracks[0].kind, FrameKind::Other);
}

#[test]
fn silence() {
    let tag = parse(&[]).unwrap();
    assert_eq!(tag.header, AudioHeader::Silence);
    assert!(tag.tracks.is_empty() && !tag.is_keyframe());
    rewrite(&[]);
}

#[test]
fn enhanced_opus() {
    let tag = parse(&FFMPEG9_OPUS_SEQ).unwrap();
    assert!(tag.is_enhanced() && tag.is_sequence_header());
    let t = &tag.tracks[0];
    assert_eq!(t.codec, AudioCodec::FourCc(FourCc::OPUS));
    assert_eq!(&t.body[..8], b"OpusHead");
    rewrite(&FFMPEG9_OPUS_SEQ);
    check_truncations(&FFMPEG9_OPUS_SEQ, 5);

    let tag = parse(&FFMPEG9_OPUS_MULTICHANNEL).unwrap();
    assert_eq!(tag.tracks[0].kind, FrameKind::Metadata);
    let mc = MultichannelConfig::parse(&tag.tracks[0].body).unwrap();
    assert_eq!(mc.channel_count, 2);
    rewrite(&FFMPEG9_OPUS_MULTICHANNEL);

    let tag = parse(&FFMPEG9_OPUS_FRAME).unwrap();
    assert!(tag.is_keyframe());
    assert_eq!(tag.tracks[0].body.len(), 4);
    rewrite(&FFMPEG9_OPUS_FRAME);
}

#[test]
fn enhanced_packet_types() {
    // Hand-made: SequenceEnd of FLAC, reserved packet type 3 of AC-3, E-AC-3 frames.
    let cases: [(&[u8], FrameKind); 3] = [
        (&[0x92, b'f', b'L', b'a', b'C'], FrameKind::SequenceEnd),
        (&[0x93, b'a', b'c', b'-', b'3', 0], FrameKind::Other),
        (&[0x91, b'e', b'c', b'-', b'3', 0x0b, 0x77], FrameKind::Keyframe),
    ];
    for (raw, kind) in cases {
        assert_eq!(parse(raw).unwrap().tracks[0].kind, kind, "{raw:02x?}");
        rewrite(raw);
    }
}

/// Hand-made per E-RTMP v2 "Enhanced Audio": ModEx TimestampOffsetNano 1000 ns, then
/// Multitrack ManyTracks CodedFrames of mp4a: track 0 (2 bytes) and track 1 (1 byte).
const MULTI_MOD_EX: [u8; 20] = [
    0x97, 0x02, 0x00, 0x03, 0xe8, 0x05, 0x11, b'm', b'p', b'4', b'a', 0x00, 0x00, 0x00, 0x02, 0xaa,
    0xbb, 0x01, 0x00, 0x00,
];

#[test]
fn multitrack_with_mod_ex() {
    let mut raw = MULTI_MOD_EX.to_vec();
    raw.extend_from_slice(&[0x01, 0xcc]);
    let tag = parse(&raw).unwrap();
    assert_eq!(
        tag.header,
        AudioHeader::Ex(ExAudioHeader {
            packet_type: AudioPacketType::CODED_FRAMES,
            multitrack: Some(AvMultitrackType::MANY_TRACKS),
            timestamp_nano_offset: Some(1000),
        })
    );
    let ids: Vec<_> = tag.tracks.iter().map(|t| (t.track_id, t.body.len())).collect();
    assert_eq!(ids, [(0, 2), (1, 1)]);
    assert!(tag.tracks.iter().all(|t| t.codec == AudioCodec::FourCc(FourCc::AAC)));
    rewrite(&raw);
    check_truncations(&raw, 15);
}

#[test]
fn multitrack_many_codecs_and_errors() {
    // Hand-made: ManyTracksManyCodecs SequenceStart, Opus on track 0 and fLaC on track 1.
    let raw =
        [0x95, 0x20, b'O', b'p', b'u', b's', 0, 0, 0, 1, 0x11, b'f', b'L', b'a', b'C', 1, 0, 0, 0];
    let tag = parse(&raw).unwrap();
    assert_eq!(tag.tracks.len(), 2);
    assert_eq!(tag.tracks[1].codec, AudioCodec::FourCc(FourCc::FLAC));
    assert!(tag.tracks[1].body.is_empty());
    assert!(tag.is_sequence_header());
    rewrite(&raw);
    check_truncations(&raw, 11);
    assert_eq!(
        parse(&[0x95, 0x17]),
        Err(MediaError::InvalidMultitrackPacketType { packet_type: 7 })
    );
    assert!(matches!(parse(&[0x97, 0x00, 0x01, 0x01]), Err(MediaError::ModExDataTooShort { .. })));
}

fn body() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

fn fourcc() -> impl Strategy<Value = FourCc> {
    prop_oneof![
        Just(FourCc::OPUS),
        Just(FourCc::AAC),
        Just(FourCc::FLAC),
        Just(FourCc::AC3),
        Just(FourCc::EAC3),
        Just(FourCc::MP3),
        any::<[u8; 4]>().prop_map(FourCc),
    ]
}

fn track(codec: AudioCodec, track_id: u8) -> impl Strategy<Value = AudioTrack> {
    body().prop_map(move |body| Track {
        track_id,
        codec,
        kind: FrameKind::Other,
        composition_time: 0,
        body,
    })
}

fn legacy_tag() -> impl Strategy<Value = AudioTag> {
    let format = (0u8..16).prop_filter("not ExHeader", |f| *f != 9);
    (format, 0u8..4, any::<bool>(), any::<bool>(), any::<u8>()).prop_flat_map(
        |(f, rate, size, stereo, pt)| {
            let sound_format = SoundFormat(f);
            let header = LegacyAudioHeader {
                sound_format,
                sound_rate: SoundRate(rate),
                sound_size_16bit: size,
                stereo,
                aac_packet_type: (sound_format == SoundFormat::AAC).then_some(AacPacketType(pt)),
            };
            track(AudioCodec::Legacy(sound_format), 0).prop_map(move |t| AudioTag {
                header: AudioHeader::Legacy(header),
                tracks: vec![t],
            })
        },
    )
}

fn ex_tracks(layout: Option<u8>) -> BoxedStrategy<Vec<AudioTrack>> {
    let fc = |f| AudioCodec::FourCc(f);
    match layout {
        None => fourcc().prop_flat_map(move |f| track(fc(f), 0)).prop_map(|t| vec![t]).boxed(),
        Some(0) => (fourcc(), any::<u8>())
            .prop_flat_map(move |(f, id)| track(fc(f), id))
            .prop_map(|t| vec![t])
            .boxed(),
        Some(1) => (fourcc(), proptest::collection::vec(any::<u8>(), 1..4))
            .prop_flat_map(move |(f, ids)| {
                ids.into_iter().map(|id| track(fc(f), id)).collect::<Vec<_>>()
            })
            .boxed(),
        Some(2) => proptest::collection::vec((fourcc(), any::<u8>()), 1..4)
            .prop_flat_map(move |v| {
                v.into_iter().map(|(f, id)| track(fc(f), id)).collect::<Vec<_>>()
            })
            .boxed(),
        Some(_) => track(AudioCodec::Unspecified, 0).prop_map(|t| vec![t]).boxed(),
    }
}

fn ex_tag() -> impl Strategy<Value = AudioTag> {
    let pt = (0u8..16).prop_filter("not Multitrack/ModEx", |p| *p != 5 && *p != 7);
    let layout = prop_oneof![Just(None), (0u8..16).prop_map(Some)];
    let nano = prop_oneof![Just(None), (0u32..(1 << 24)).prop_map(Some)];
    (pt, layout, nano).prop_flat_map(|(pt, layout, nano)| {
        ex_tracks(layout).prop_map(move |tracks| AudioTag {
            header: AudioHeader::Ex(ExAudioHeader {
                packet_type: AudioPacketType(pt),
                multitrack: layout.map(AvMultitrackType),
                timestamp_nano_offset: nano,
            }),
            tracks,
        })
    })
}

fn without_kinds(mut tag: AudioTag) -> AudioTag {
    tag.tracks.iter_mut().for_each(|t| t.kind = FrameKind::Other);
    tag
}

proptest! {
    #[test]
    fn round_trip(tag in prop_oneof![legacy_tag(), ex_tag()]) {
        let mut out = BytesMut::new();
        tag.write(&mut out).unwrap();
        let bytes = out.freeze();
        let parsed = parse_audio(&bytes).unwrap();
        prop_assert_eq!(without_kinds(parsed.clone()), without_kinds(tag));
        let mut again = BytesMut::new();
        parsed.write(&mut again).unwrap();
        prop_assert_eq!(&again[..], &bytes[..]);
        for n in 0..bytes.len() {
            let _ = parse_audio(&bytes.slice(..n));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse(&data);
    }
}
