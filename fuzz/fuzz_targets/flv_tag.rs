//! Media parsing: arbitrary bytes fed to the audio/video tag parsers, the codec record
//! parsers and the FLV file decoder never panic; whatever tag parses re-encodes to bytes
//! that parse to the same tag (the writers are the inverse of the parsers).
#![no_main]

use bytes::{Bytes, BytesMut};
use openrtmp_media::codec::{aac, av1, avc, flac, hevc, opus, vp9};
use openrtmp_media::{
    audio_info, parse_audio, parse_video, video_info, FlvDecoder, ScriptData, TagHeader,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);

    if let Ok(tag) = parse_video(&bytes) {
        let _ = video_info(&tag);
        let mut out = BytesMut::new();
        tag.write(&mut out)
            .expect("a parsed video tag must re-encode");
        let again = parse_video(&out.freeze()).expect("re-encoded video tag must parse");
        assert_eq!(again, tag, "video tag changed through write");
    }
    if let Ok(tag) = parse_audio(&bytes) {
        let _ = audio_info(&tag);
        let mut out = BytesMut::new();
        tag.write(&mut out)
            .expect("a parsed audio tag must re-encode");
        let again = parse_audio(&out.freeze()).expect("re-encoded audio tag must parse");
        assert_eq!(again, tag, "audio tag changed through write");
    }

    // Codec records, fed the raw input.
    if let Ok(r) = avc::AvcDecoderConfigurationRecord::parse(data) {
        let _ = r.info();
    }
    if let Ok(r) = hevc::HevcDecoderConfigurationRecord::parse(data) {
        let _ = r.info();
    }
    let _ = hevc::HevcSps::parse(data);
    if let Ok(r) = av1::Av1CodecConfigurationRecord::parse(data) {
        let _ = r.info();
    }
    let _ = av1::Av1SequenceHeader::parse(data);
    let _ = vp9::VpCodecConfigurationRecord::parse(data);
    let _ = vp9::keyframe_size(data);
    let _ = aac::AudioSpecificConfig::parse(data);
    let _ = opus::OpusHead::parse(data);
    let _ = flac::FlacStreamInfo::parse(data);
    let _ = TagHeader::parse(data);
    let _ = ScriptData::parse(data);

    // The FLV decoder, with a valid header in front so the input reaches the tag loop,
    // split in two at a point chosen by the first byte.
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (a, b) = data.split_at(split);
    let mut decoder = FlvDecoder::with_max_tag_size(1 << 16);
    decoder.handle_input(b"FLV\x01\x05\x00\x00\x00\x09");
    for chunk in [a, b] {
        decoder.handle_input(chunk);
        let _ = decoder.poll_header();
        while let Ok(Some(tag)) = decoder.poll_tag() {
            let _ = parse_video(&tag.data);
            let _ = parse_audio(&tag.data);
        }
    }
    let _ = decoder.finish();
});
