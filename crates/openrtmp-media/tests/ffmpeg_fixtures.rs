//! Files written by real FFmpeg builds (tests/fixtures/README.md has the commands): read
//! with `FlvReader`, classify every tag, extract stream information, re-write
//! byte-identically.

use std::fs::File;
use std::path::PathBuf;

use openrtmp_media::audio::MultichannelConfig;
use openrtmp_media::codec::vp9;
use openrtmp_media::{
    audio_info, parse_audio, parse_video, video_info, AudioInfo, FlvHeader, FlvReader, FlvTag,
    FlvWriter, FrameKind, ScriptData, TagType, VideoCodec, VideoInfo, VideoTag,
};

struct Fixture {
    header: FlvHeader,
    tags: Vec<FlvTag>,
    bytes: Vec<u8>,
}

fn load(name: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let bytes = std::fs::read(&path).unwrap();
    let mut reader = FlvReader::new(File::open(&path).unwrap());
    let header = reader.header().unwrap();
    let tags = reader.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(reader.previous_tag_size_mismatches(), 0);
    Fixture { header, tags, bytes }
}

impl Fixture {
    fn videos(&self) -> Vec<VideoTag> {
        self.tags
            .iter()
            .filter(|t| t.tag_type == TagType::VIDEO)
            .map(|t| parse_video(&t.data).unwrap())
            .collect()
    }

    fn audios(&self) -> Vec<openrtmp_media::AudioTag> {
        self.tags
            .iter()
            .filter(|t| t.tag_type == TagType::AUDIO)
            .map(|t| parse_audio(&t.data).unwrap())
            .collect()
    }

    fn rewrite_is_identical(&self) {
        let mut w = FlvWriter::new(Vec::new(), &self.header).unwrap();
        for t in &self.tags {
            w.write_tag(t).unwrap();
        }
        assert!(w.into_inner() == self.bytes, "rewrite differs");
    }

    /// Sequence header first (after Metadata packets), then a key frame; returns the
    /// info of the sequence header.
    fn check_video(&self) -> VideoInfo {
        let videos: Vec<VideoTag> =
            self.videos().into_iter().filter(|v| v.tracks[0].kind != FrameKind::Metadata).collect();
        assert!(videos[0].is_sequence_header());
        assert!(videos[1].is_keyframe());
        assert!(videos.iter().skip(1).any(|v| v.tracks[0].kind == FrameKind::InterFrame));
        let keyframes = videos.iter().filter(|v| v.is_keyframe()).count();
        // 1 s at 25 fps with a GOP of 10.
        assert!((2..=4).contains(&keyframes), "{keyframes} key frames");
        assert!(videos.iter().skip(1).all(|v| video_info(v).is_none()));
        video_info(&videos[0]).unwrap().unwrap()
    }

    fn audio_info(&self) -> AudioInfo {
        let audios = self.audios();
        assert!(audios.iter().skip(1).any(|a| a.is_keyframe()));
        audios.iter().find_map(audio_info).unwrap().unwrap()
    }

    fn metadata(&self) -> ScriptData {
        assert_eq!(self.tags[0].tag_type, TagType::SCRIPT);
        ScriptData::parse(&self.tags[0].data).unwrap()
    }
}

fn video(codec: &str, w: u32, h: u32, profile: &str, level: &str) -> VideoInfo {
    VideoInfo {
        codec: codec.into(),
        width: Some(w),
        height: Some(h),
        profile: Some(profile.into()),
        level: Some(level.into()),
    }
}

#[test]
fn ffmpeg5_h264_aac() {
    let f = load("h264_aac_ffmpeg5.flv");
    assert_eq!(f.header, FlvHeader::new(true, true));
    assert_eq!(f.check_video(), video("H.264", 320, 240, "High", "1.3"));
    let videos = f.videos();
    assert!(!videos[0].is_enhanced());
    // B-frames: some frames have a positive composition time.
    assert!(videos.iter().any(|v| v.tracks[0].composition_time > 0));
    let audio = f.audio_info();
    assert_eq!((audio.codec.as_str(), audio.sample_rate, audio.channels), ("AAC", 44_100, 2));
    assert_eq!(audio.profile.as_deref(), Some("LC"));
    let meta = f.metadata();
    assert_eq!(meta.metadata().unwrap().get("width").and_then(|v| v.as_number()), Some(320.0));
    f.rewrite_is_identical();
}

#[test]
fn ffmpeg9_h264_cropped_mp3() {
    let f = load("h264_mp3_ffmpeg9.flv");
    // 320x180 is coded as 320x192 with 12 lines of frame cropping.
    assert_eq!(f.check_video(), video("H.264", 320, 180, "High", "1.2"));
    let audio = f.audio_info();
    assert_eq!((audio.codec.as_str(), audio.sample_rate, audio.channels), ("MP3", 44_100, 1));
    f.rewrite_is_identical();
}

#[test]
fn ffmpeg9_hevc_opus_enhanced() {
    let f = load("hevc_opus_ffmpeg9.flv");
    // 320x180 with a conformance window (184 -> 180).
    assert_eq!(f.check_video(), video("HEVC", 320, 180, "Main", "2.0"));
    let videos = f.videos();
    assert!(videos.iter().all(|v| v.is_enhanced()));
    assert!(videos
        .iter()
        .all(|v| v.tracks[0].codec == VideoCodec::FourCc(openrtmp_media::FourCc::HEVC)));
    assert!(videos.iter().any(|v| v.tracks[0].kind == FrameKind::Metadata));
    assert!(videos.iter().any(|v| v.tracks[0].composition_time > 0));
    let audio = f.audio_info();
    assert_eq!((audio.codec.as_str(), audio.sample_rate, audio.channels), ("Opus", 48_000, 2));
    let mc = f.audios().into_iter().find(|a| a.tracks[0].kind == FrameKind::Metadata).unwrap();
    assert_eq!(MultichannelConfig::parse(&mc.tracks[0].body).unwrap().channel_count, 2);
    f.rewrite_is_identical();
}

#[test]
fn ffmpeg9_av1_aac_enhanced() {
    let f = load("av1_aac_ffmpeg9.flv");
    assert_eq!(f.check_video(), video("AV1", 320, 240, "Main", "2.0"));
    let audio = f.audio_info();
    assert_eq!((audio.codec.as_str(), audio.sample_rate, audio.channels), ("AAC", 48_000, 1));
    // FFmpeg 9 keeps AAC in the legacy header.
    assert!(!f.audios()[0].is_enhanced());
    f.rewrite_is_identical();
}

#[test]
fn ffmpeg9_vp9_flac_enhanced() {
    let f = load("vp9_flac_ffmpeg9.flv");
    let info = f.check_video();
    assert_eq!(
        (info.codec.as_str(), info.width, info.profile.as_deref()),
        ("VP9", None, Some("Profile 0"))
    );
    // vpcC has no size; the first key frame's uncompressed header does.
    let key = f.videos().into_iter().find(|v| v.is_keyframe()).unwrap();
    assert_eq!(vp9::keyframe_size(&key.tracks[0].body).unwrap(), Some((320, 240)));
    let audio = f.audio_info();
    assert_eq!((audio.codec.as_str(), audio.sample_rate, audio.channels), ("FLAC", 48_000, 1));
    f.rewrite_is_identical();
}

#[test]
fn every_tag_reencodes_identically() {
    for name in [
        "h264_aac_ffmpeg5.flv",
        "h264_mp3_ffmpeg9.flv",
        "hevc_opus_ffmpeg9.flv",
        "av1_aac_ffmpeg9.flv",
        "vp9_flac_ffmpeg9.flv",
    ] {
        let f = load(name);
        for t in &f.tags {
            let mut out = bytes::BytesMut::new();
            match t.tag_type {
                TagType::VIDEO => parse_video(&t.data).unwrap().write(&mut out).unwrap(),
                TagType::AUDIO => parse_audio(&t.data).unwrap().write(&mut out).unwrap(),
                _ => continue,
            }
            assert_eq!(&out[..], &t.data[..], "{name} at {} ms", t.timestamp);
        }
    }
}
