//! Stream information from codec configuration records, for probing and the API.
//!
//! [`video_info`] and [`audio_info`] pick the sequence header of a parsed message and hand
//! it to the parser of its codec. The per-codec modules expose the full records.

use crate::audio::{AudioHeader, SoundFormat};
use crate::video::{VideoCodecId, VideoHeader, VideoPacketType};
use crate::{AudioCodec, AudioTag, FourCc, FrameKind, MediaError, VideoCodec, VideoTag};

pub mod aac;
pub mod av1;
pub mod avc;
mod bits;
pub mod flac;
pub mod hevc;
pub mod opus;
pub mod vp9;

/// What a video sequence header says about the stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VideoInfo {
    /// "H.264", "HEVC", "AV1" or "VP9".
    pub codec: String,
    /// Display width in pixels (after cropping); `None` when the record has no size
    /// (VP9's vpcC, see [`vp9::keyframe_size`]; an av1C without a sequence header OBU).
    pub width: Option<u32>,
    /// Display height in pixels (after cropping); `None` as for `width`.
    pub height: Option<u32>,
    /// Profile name, e.g. "High", "Main 10", "Profile 0".
    pub profile: Option<String>,
    /// Level, e.g. "3.1", "4.0 High tier".
    pub level: Option<String>,
}

/// What an audio sequence header (or a legacy audio header) says about the stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AudioInfo {
    /// "AAC", "Opus", "FLAC", "MP3", "Speex", ...
    pub codec: String,
    /// Output sample rate in Hz.
    pub sample_rate: u32,
    /// Output channels; 0 when the codec signals the layout elsewhere (an AAC
    /// program_config_element).
    pub channels: u8,
    /// Profile, e.g. "LC" or "HE-AAC" for AAC.
    pub profile: Option<String>,
}

/// The stream information of the first sequence header track of `tag`, or `None` when the
/// message has no sequence header.
///
/// A sequence header of a codec without a parser here (VP8, VVC, unknown FOURCCs, the AV1
/// MPEG-2 TS descriptor) gives [`MediaError::UnsupportedCodec`].
pub fn video_info(tag: &VideoTag) -> Option<Result<VideoInfo, MediaError>> {
    let track = tag.tracks.iter().find(|t| t.kind == FrameKind::SequenceHeader)?;
    if let VideoHeader::Ex(ex) = tag.header {
        if ex.packet_type == VideoPacketType::MPEG2TS_SEQUENCE_START {
            return Some(Err(MediaError::UnsupportedCodec {
                codec: format!("{} MPEG-2 TS descriptor", codec_name(track.codec)),
            }));
        }
    }
    let body = &track.body[..];
    Some(match track.codec {
        VideoCodec::Legacy(VideoCodecId::AVC) | VideoCodec::FourCc(FourCc::AVC) => {
            avc::AvcDecoderConfigurationRecord::parse(body).and_then(|r| r.info())
        }
        VideoCodec::Legacy(VideoCodecId::HEVC) | VideoCodec::FourCc(FourCc::HEVC) => {
            hevc::HevcDecoderConfigurationRecord::parse(body).and_then(|r| r.info())
        }
        VideoCodec::FourCc(FourCc::AV1) => {
            av1::Av1CodecConfigurationRecord::parse(body).and_then(|r| r.info())
        }
        VideoCodec::FourCc(FourCc::VP9) => {
            vp9::VpCodecConfigurationRecord::parse(body).map(|r| r.info())
        }
        other => Err(MediaError::UnsupportedCodec { codec: codec_name(other) }),
    })
}

fn codec_name(codec: VideoCodec) -> String {
    match codec {
        VideoCodec::Legacy(id) => format!("legacy video codec {}", id.0),
        VideoCodec::FourCc(f) => f.to_string(),
        VideoCodec::Unspecified => "unspecified".into(),
    }
}

/// The stream information of `tag`: from the first sequence header track (AAC
/// AudioSpecificConfig, OpusHead, FLAC STREAMINFO), or for legacy formats without a
/// sequence header (MP3, PCM, Speex, ...) from the rate/size/type bits of any coded frame.
/// `None` when neither is present (AAC raw frames, E-RTMP coded frames, silence).
pub fn audio_info(tag: &AudioTag) -> Option<Result<AudioInfo, MediaError>> {
    let track = tag.tracks.first()?;
    match tag.header {
        AudioHeader::Silence => None,
        AudioHeader::Legacy(h) if h.sound_format == SoundFormat::AAC => {
            if track.kind != FrameKind::SequenceHeader {
                return None;
            }
            Some(aac::AudioSpecificConfig::parse(&track.body).map(|c| c.info()))
        }
        AudioHeader::Legacy(h) => (track.kind == FrameKind::Keyframe).then(|| Ok(legacy_info(h))),
        AudioHeader::Ex(_) => {
            let track = tag.tracks.iter().find(|t| t.kind == FrameKind::SequenceHeader)?;
            let body = &track.body[..];
            Some(match track.codec {
                AudioCodec::FourCc(FourCc::AAC) => {
                    aac::AudioSpecificConfig::parse(body).map(|c| c.info())
                }
                AudioCodec::FourCc(FourCc::OPUS) => opus::OpusHead::parse(body).map(|h| h.info()),
                AudioCodec::FourCc(FourCc::FLAC) => {
                    flac::FlacStreamInfo::parse(body).map(|i| i.info())
                }
                AudioCodec::FourCc(f) => Err(MediaError::UnsupportedCodec { codec: f.to_string() }),
                other => Err(MediaError::UnsupportedCodec { codec: format!("{other:?}") }),
            })
        }
    }
}

/// Stream information from a legacy AudioTagHeader (§E.4.2.1), including the fixed rates
/// of Nellymoser 8/16 kHz, MP3 8 kHz and Speex (16 kHz mono).
fn legacy_info(h: crate::audio::LegacyAudioHeader) -> AudioInfo {
    let (codec, fixed_rate) = match h.sound_format {
        SoundFormat::LPCM_PLATFORM_ENDIAN => ("PCM (platform endian)", None),
        SoundFormat::ADPCM => ("ADPCM", None),
        SoundFormat::MP3 => ("MP3", None),
        SoundFormat::LPCM_LITTLE_ENDIAN => ("PCM", None),
        SoundFormat::NELLYMOSER_16K_MONO => ("Nellymoser", Some(16_000)),
        SoundFormat::NELLYMOSER_8K_MONO => ("Nellymoser", Some(8_000)),
        SoundFormat::NELLYMOSER => ("Nellymoser", None),
        SoundFormat::G711_A_LAW => ("G.711 A-law", None),
        SoundFormat::G711_MU_LAW => ("G.711 mu-law", None),
        SoundFormat::SPEEX => ("Speex", Some(16_000)),
        SoundFormat::MP3_8K => ("MP3", Some(8_000)),
        _ => ("device-specific", None),
    };
    let mono = fixed_rate.is_some() && h.sound_format != SoundFormat::MP3_8K;
    AudioInfo {
        codec: codec.into(),
        sample_rate: fixed_rate.unwrap_or_else(|| h.sound_rate.hz()),
        channels: if h.stereo && !mono { 2 } else { 1 },
        profile: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_audio, parse_video};
    use bytes::Bytes;

    #[test]
    fn legacy_audio_info() {
        // Hand-made: MP3 44 kHz stereo, Speex, Nellymoser 8 kHz flagged stereo.
        let info = |b: &[u8]| audio_info(&parse_audio(&Bytes::copy_from_slice(b)).unwrap());
        let mp3 = info(&[0x2f, 0xff]).unwrap().unwrap();
        assert_eq!((mp3.codec.as_str(), mp3.sample_rate, mp3.channels), ("MP3", 44_100, 2));
        let speex = info(&[0xb2, 0x00]).unwrap().unwrap();
        assert_eq!((speex.sample_rate, speex.channels), (16_000, 1));
        assert_eq!(info(&[0x51]).unwrap().unwrap().channels, 1);
        assert!(info(&[]).is_none());
        assert!(info(&[0xaf, 0x01, 0x21]).is_none());
        assert!(info(&[0x91, b'a', b'c', b'-', b'3', 0x0b]).is_none());
        assert!(matches!(
            info(&[0x90, b'a', b'c', b'-', b'3']),
            Some(Err(MediaError::UnsupportedCodec { .. }))
        ));
    }

    #[test]
    fn video_info_selects_sequence_headers() {
        let info = |b: &[u8]| video_info(&parse_video(&Bytes::copy_from_slice(b)).unwrap());
        assert!(info(&[0x27, 0x01, 0, 0, 0, 0xaa]).is_none());
        assert_eq!(
            info(&[0x90, b'v', b'p', b'0', b'8', 1]),
            Some(Err(MediaError::UnsupportedCodec { codec: "vp08".into() }))
        );
        assert!(matches!(
            info(&[0x95, b'a', b'v', b'0', b'1', 0x80]),
            Some(Err(MediaError::UnsupportedCodec { .. }))
        ));
        assert!(matches!(info(&[0x17, 0x00, 0, 0, 0]), Some(Err(MediaError::Truncated { .. }))));
    }
}
