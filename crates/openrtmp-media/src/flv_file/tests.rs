use super::*;
use proptest::prelude::*;

/// A real file: FFmpeg 5.1, H.264 + AAC (see tests/fixtures/README.md).
const FFMPEG5_FILE: &[u8] = include_bytes!("../../tests/fixtures/h264_aac_ffmpeg5.flv");

/// The header and PreviousTagSize0 FFmpeg writes for audio + video.
const FFMPEG_HEADER: [u8; 13] = [b'F', b'L', b'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0];

fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (FlvHeader, Vec<FlvTag>, u64) {
    let mut d = FlvDecoder::new();
    let mut header = None;
    let mut tags = Vec::new();
    for chunk in chunks {
        d.handle_input(chunk);
        if let Some(h) = d.poll_header().unwrap() {
            assert!(header.replace(h).is_none());
        }
        while let Some(tag) = d.poll_tag().unwrap() {
            tags.push(tag);
        }
    }
    d.finish().unwrap();
    (header.unwrap(), tags, d.previous_tag_size_mismatches())
}

fn encode(header: &FlvHeader, tags: &[FlvTag]) -> Vec<u8> {
    let mut e = FlvEncoder::new();
    let mut out = BytesMut::new();
    e.write_header(header, &mut out).unwrap();
    for t in tags {
        e.write_tag(t, &mut out).unwrap();
    }
    assert_eq!(e.tags_written(), tags.len() as u64);
    out.to_vec()
}

#[test]
fn header_golden() {
    let h = FlvHeader::parse(&FFMPEG_HEADER).unwrap();
    assert_eq!(h, FlvHeader::new(true, true));
    let mut out = BytesMut::new();
    FlvEncoder::new().write_header(&h, &mut out).unwrap();
    assert_eq!(&out[..], &FFMPEG_HEADER);
    assert_eq!(
        FlvHeader::parse(b"FLX\x01\x05\0\0\0\x09"),
        Err(MediaError::NotFlv { found: *b"FLX" })
    );
    assert_eq!(
        FlvHeader::parse(b"FLV\x01\x05\0\0\0\x08"),
        Err(MediaError::DataOffsetTooSmall { offset: 8 })
    );
    for n in 0..9 {
        assert!(FlvHeader::parse(&FFMPEG_HEADER[..n]).is_err());
    }
}

#[test]
fn whole_file_round_trips() {
    let (header, tags, mismatches) = decode_chunks([FFMPEG5_FILE]);
    assert_eq!(mismatches, 0);
    assert_eq!(tags[0].tag_type, TagType::SCRIPT);
    assert_eq!(encode(&header, &tags), FFMPEG5_FILE);
}

#[test]
fn split_at_every_boundary() {
    // The first 3000 bytes hold several whole tags; cut after the last whole one.
    let (header, all, _) = decode_chunks([FFMPEG5_FILE]);
    let mut prefix_tags = Vec::new();
    let mut len = 13;
    for t in &all {
        if len + t.size() + 4 > 3000 {
            break;
        }
        len += t.size() + 4;
        prefix_tags.push(t.clone());
    }
    assert!(prefix_tags.len() >= 3);
    let prefix = &FFMPEG5_FILE[..len];
    for cut in 0..=prefix.len() {
        let (h, tags, _) = decode_chunks([&prefix[..cut], &prefix[cut..]]);
        assert_eq!(h, header);
        assert_eq!(tags, prefix_tags, "cut at {cut}");
    }
}

#[test]
fn lenient_previous_tag_size() {
    let mut file = FFMPEG5_FILE[..13].to_vec();
    let tag = FlvTag {
        tag_type: TagType::AUDIO,
        timestamp: 0x0102_0304,
        data: Bytes::from_static(&[0xaf, 1]),
    };
    let mut out = BytesMut::new();
    FlvEncoder::new().write_tag(&tag, &mut out).unwrap();
    // Hand-made: tag header 08 000002 020304 01 000000, data, PreviousTagSize 13.
    assert_eq!(&out[..], &[8, 0, 0, 2, 2, 3, 4, 1, 0, 0, 0, 0xaf, 1, 0, 0, 0, 13]);
    file.extend_from_slice(&out);
    file.extend_from_slice(&out);
    // Corrupt PreviousTagSize0 and the first tag's back-pointer.
    file[12] = 7;
    let n = file.len();
    file[n - 17 - 1] = 99;
    let (_, tags, mismatches) = decode_chunks([&file[..]]);
    assert_eq!(tags, [tag.clone(), tag]);
    assert_eq!(mismatches, 2);
}

#[test]
fn data_offset_padding_is_skipped() {
    // Hand-made: DataOffset 12 (3 padding bytes), then PreviousTagSize0 and one tag.
    let mut file = b"FLV\x01\x01\0\0\0\x0c\xaa\xbb\xcc\0\0\0\0".to_vec();
    file.extend_from_slice(&[18, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 12]);
    for cut in 0..file.len() {
        let (h, tags, m) = decode_chunks([&file[..cut], &file[cut..]]);
        assert_eq!((h.data_offset, h.has_audio, h.has_video), (12, false, true));
        assert_eq!(tags.len(), 1);
        assert_eq!(m, 0);
    }
    let h = FlvHeader { data_offset: 12, ..FlvHeader::new(false, true) };
    let mut out = BytesMut::new();
    h.write(&mut out).unwrap();
    assert_eq!(out.len(), 12);
    let huge = FlvHeader { data_offset: u32::MAX, ..h };
    assert!(matches!(huge.write(&mut out), Err(MediaError::FieldOutOfRange { .. })));
    assert_eq!(out.len(), 12);
}

#[test]
fn oversized_tag_fails_before_buffering() {
    let mut d = FlvDecoder::with_max_tag_size(100);
    d.handle_input(&FFMPEG_HEADER);
    // Tag header declaring 1000 bytes of data, none of which is sent.
    d.handle_input(&[9, 0, 0x03, 0xe8, 0, 0, 0, 0, 0, 0, 0]);
    assert!(d.poll_header().unwrap().is_some());
    let err = MediaError::TagTooLarge { size: 1011, limit: 100 };
    assert_eq!(d.poll_tag(), Err(err.clone()));
    // Sticky.
    d.handle_input(&[0; 1000]);
    assert_eq!(d.poll_tag(), Err(err.clone()));
    assert_eq!(d.finish(), Err(err));
}

#[test]
fn truncated_files() {
    for (cut, what) in [(5, "FLV header"), (11, "PreviousTagSize"), (20, "FLV tag")] {
        let mut d = FlvDecoder::new();
        d.handle_input(&FFMPEG5_FILE[..cut]);
        while d.poll_tag().unwrap().is_some() {}
        assert!(matches!(d.finish(), Err(MediaError::TruncatedFile { what: w, .. }) if w == what));
    }
    // Ending right after a tag, without its PreviousTagSize, is accepted.
    let first = 13 + 11 + 268;
    let mut d = FlvDecoder::new();
    d.handle_input(&FFMPEG5_FILE[..first]);
    assert!(d.poll_tag().unwrap().is_some());
    assert_eq!(d.finish(), Ok(()));
    assert!(FlvDecoder::new().finish().is_err());
}

#[test]
fn tag_data_is_split_off_not_copied() {
    let mut d = FlvDecoder::new();
    d.handle_input(FFMPEG5_FILE);
    let a = d.poll_tag().unwrap().unwrap();
    let b = d.poll_tag().unwrap().unwrap();
    // Consecutive tags come from one buffer: b starts 15 bytes after a ends.
    assert_eq!(a.data.as_ptr() as usize + a.data.len() + 15, b.data.as_ptr() as usize);
}

#[test]
fn reader_and_writer() {
    let mut r = FlvReader::new(FFMPEG5_FILE);
    let header = r.header().unwrap();
    let tags: Vec<FlvTag> = r.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(r.previous_tag_size_mismatches(), 0);
    let mut w = FlvWriter::new(Vec::new(), &header).unwrap();
    for t in &tags {
        w.write_tag(t).unwrap();
    }
    w.flush().unwrap();
    assert_eq!(w.into_inner(), FFMPEG5_FILE);
    // A cut file yields the whole tags and then the error, then stops: cutting 3 bytes
    // leaves a partial PreviousTagSize, cutting 10 also cuts the last tag.
    for (cut, whole) in [(3, tags.len()), (10, tags.len() - 1)] {
        let cut = &FFMPEG5_FILE[..FFMPEG5_FILE.len() - cut];
        let results: Vec<_> = FlvReader::new(cut).collect();
        assert!(matches!(results.last(), Some(Err(MediaError::TruncatedFile { .. }))));
        assert_eq!(results.len(), whole + 1);
    }
    assert!(matches!(FlvReader::new(&b""[..]).header(), Err(MediaError::TruncatedFile { .. })));
}

#[test]
fn writer_rejects_oversized_data() {
    let tag =
        FlvTag { tag_type: TagType::VIDEO, timestamp: 0, data: Bytes::from(vec![0; 1 << 24]) };
    let mut out = BytesMut::new();
    assert!(matches!(
        FlvEncoder::new().write_tag(&tag, &mut out),
        Err(MediaError::FieldOutOfRange { .. })
    ));
}

fn tag_strategy() -> impl Strategy<Value = FlvTag> {
    (0u8..32, any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(
        |(t, timestamp, data)| FlvTag { tag_type: TagType(t), timestamp, data: Bytes::from(data) },
    )
}

proptest! {
    #[test]
    fn random_splits(cuts in proptest::collection::vec(0usize..FFMPEG5_FILE.len(), 0..8)) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for c in cuts {
            chunks.push(&FFMPEG5_FILE[start..c]);
            start = c;
        }
        chunks.push(&FFMPEG5_FILE[start..]);
        let (header, tags, _) = decode_chunks(chunks);
        prop_assert_eq!(encode(&header, &tags), FFMPEG5_FILE);
    }

    #[test]
    fn encode_decode_round_trip(audio: bool, video: bool,
                                tags in proptest::collection::vec(tag_strategy(), 0..6)) {
        let header = FlvHeader::new(audio, video);
        let file = encode(&header, &tags);
        let (h, decoded, mismatches) = decode_chunks([&file[..]]);
        prop_assert_eq!(h, header);
        prop_assert_eq!(decoded, tags);
        prop_assert_eq!(mismatches, 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut d = FlvDecoder::with_max_tag_size(64);
        d.handle_input(b"FLV\x01\x05\0\0\0\x09");
        d.handle_input(&data);
        while let Ok(Some(_)) = d.poll_tag() {}
        let _ = d.finish();
    }
}
