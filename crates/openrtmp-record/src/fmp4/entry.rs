//! Sample entries (`stsd`) from RTMP sequence headers, and the per-codec payload rules.
//!
//! The configuration records travel in RTMP exactly as MP4 stores them (ISO/IEC 14496-15
//! `avcC` §5.3.3 and `hvcC` §8.3.3, AV1-ISOBMFF `av1C` §2.3, VP-ISOBMFF `vpcC` §2.2), so
//! they are decoded with mp4-atom's own box types and re-encoded; AAC's
//! AudioSpecificConfig goes into an `esds` (ISO/IEC 14496-14 §3.1.2) and Opus's
//! `OpusHead` (RFC 7845 §5.1, the E-RTMP v2 Opus sequence start) becomes `dOps`
//! (Opus-in-ISOBMFF §4.3.2).

use bytes::Bytes;
use mp4_atom::esds::{DecoderConfig, DecoderSpecific, EsDescriptor, SLConfig};
use mp4_atom::{
    Atom, Audio, Av01, Av1c, Avc1, Avcc, Codec, Dops, Esds, Hvc1, Hvcc, Mp4a, Opus,
    OpusChannelMapping, Visual, Vp09, VpcC,
};
use openrtmp_media::codec::{aac, av1, opus, vp9};
use openrtmp_media::{AudioCodec, FourCc, VideoCodec};

use crate::RecordError;

/// The codecs this format carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    H264,
    Hevc,
    Av1,
    Vp9,
    Aac,
    Opus,
}

impl Kind {
    /// The kind of a video codec, or `Unsupported` (VP8, VVC, legacy codecs...).
    pub(crate) fn video(codec: VideoCodec) -> Result<Kind, RecordError> {
        use openrtmp_media::video::VideoCodecId;
        match codec {
            VideoCodec::Legacy(VideoCodecId::AVC) | VideoCodec::FourCc(FourCc::AVC) => {
                Ok(Kind::H264)
            }
            VideoCodec::Legacy(VideoCodecId::HEVC) | VideoCodec::FourCc(FourCc::HEVC) => {
                Ok(Kind::Hevc)
            }
            VideoCodec::FourCc(FourCc::AV1) => Ok(Kind::Av1),
            VideoCodec::FourCc(FourCc::VP9) => Ok(Kind::Vp9),
            VideoCodec::Legacy(id) => Err(unsupported(format!("legacy video codec {}", id.0))),
            VideoCodec::FourCc(f) => Err(unsupported(format!("video {f}"))),
            VideoCodec::Unspecified => Err(unsupported("unspecified video codec".into())),
        }
    }

    /// The kind of an audio codec, or `Unsupported` (MP3, FLAC, AC-3, PCM...).
    pub(crate) fn audio(codec: AudioCodec) -> Result<Kind, RecordError> {
        use openrtmp_media::audio::SoundFormat;
        match codec {
            AudioCodec::Legacy(SoundFormat::AAC) | AudioCodec::FourCc(FourCc::AAC) => Ok(Kind::Aac),
            AudioCodec::FourCc(FourCc::OPUS) => Ok(Kind::Opus),
            AudioCodec::Legacy(f) => Err(unsupported(format!("legacy sound format {}", f.0))),
            AudioCodec::FourCc(f) => Err(unsupported(format!("audio {f}"))),
            AudioCodec::Unspecified => Err(unsupported("unspecified audio codec".into())),
        }
    }

    pub(crate) fn is_video(self) -> bool {
        matches!(self, Kind::H264 | Kind::Hevc | Kind::Av1 | Kind::Vp9)
    }

    /// The duration of a frame when nothing else tells (the last sample of a segment
    /// without a previous delta): 40 ms of video, 1024 AAC samples, 20 ms of Opus.
    pub(crate) fn default_duration(self, timescale: u32) -> u32 {
        match self {
            Kind::Aac => 1024,
            Kind::Opus => timescale / 50,
            _ => timescale / 25,
        }
    }

    /// The sample's payload as MP4 stores it: AV1 without its temporal delimiters
    /// (AV1-ISOBMFF §2.4), everything else as received. Slices of `body`, no copies.
    pub(crate) fn payload(self, body: &Bytes) -> Vec<Bytes> {
        if self == Kind::Av1 {
            strip_temporal_delimiters(body)
        } else {
            vec![body.clone()]
        }
    }
}

pub(crate) fn unsupported(codec: String) -> RecordError {
    RecordError::Unsupported { format: "mp4", codec }
}

fn bad(what: &str, e: impl std::fmt::Display) -> RecordError {
    RecordError::Mp4(format!("{what}: {e}"))
}

/// A track's sample entry, what its `tkhd`/`mdhd` need, from its sequence header.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) kind: Kind,
    pub(crate) codec: Codec,
    pub(crate) timescale: u32,
    pub(crate) width: u16,
    pub(crate) height: u16,
}

/// The video timescale: 90 kHz holds every millisecond timestamp exactly and is what
/// players expect of video.
pub(crate) const VIDEO_TIMESCALE: u32 = 90_000;

fn visual(width: u16, height: u16, compressor: &str) -> Visual {
    Visual {
        data_reference_index: 1,
        width,
        height,
        compressor: compressor.into(),
        ..Default::default()
    }
}

fn dim(v: Option<u32>) -> u16 {
    v.and_then(|v| u16::try_from(v).ok()).unwrap_or(0)
}

/// The video sample entry of `kind` from its configuration record `config`. `size` is
/// the display size from openrtmp-media's codec info; `keyframe` (the first frame)
/// supplies it when the record has none (VP9, an `av1C` without a sequence header).
pub(crate) fn video_entry(
    kind: Kind,
    config: &[u8],
    size: (Option<u32>, Option<u32>),
    keyframe: Option<&[u8]>,
) -> Result<Entry, RecordError> {
    let (mut w, mut h) = size;
    let codec: Codec = match kind {
        Kind::H264 => {
            let avcc = Avcc::decode_body(&mut &config[..]).map_err(|e| bad("avcC", e))?;
            Avc1 {
                visual: visual(dim(w), dim(h), "AVC Coding"),
                avcc,
                btrt: None,
                colr: None,
                pasp: None,
                taic: None,
                fiel: None,
                spatial: None,
            }
            .into()
        }
        Kind::Hevc => {
            let hvcc = Hvcc::decode_body(&mut &config[..]).map_err(|e| bad("hvcC", e))?;
            Hvc1 { visual: visual(dim(w), dim(h), "HEVC Coding"), hvcc, ..Default::default() }
                .into()
        }
        Kind::Av1 => {
            let av1c = Av1c::decode_body(&mut &config[..]).map_err(|e| bad("av1C", e))?;
            if w.is_none() {
                if let Some(Ok(Some(seq))) = keyframe.map(|k| av1::find_obu(k, 1)) {
                    if let Ok(seq) = av1::Av1SequenceHeader::parse(seq) {
                        (w, h) = (Some(seq.max_frame_width), Some(seq.max_frame_height));
                    }
                }
            }
            Av01 { visual: visual(dim(w), dim(h), "AOM Coding"), av1c, ..Default::default() }.into()
        }
        Kind::Vp9 => {
            let r = vp9::VpCodecConfigurationRecord::parse(config)?;
            if w.is_none() {
                if let Some(Ok(Some((kw, kh)))) = keyframe.map(vp9::keyframe_size) {
                    (w, h) = (Some(kw), Some(kh));
                }
            }
            let vpcc = VpcC {
                profile: r.profile,
                level: r.level,
                bit_depth: r.bit_depth,
                chroma_subsampling: r.chroma_subsampling,
                video_full_range_flag: r.video_full_range,
                color_primaries: r.colour_primaries,
                transfer_characteristics: r.transfer_characteristics,
                matrix_coefficients: r.matrix_coefficients,
                codec_initialization_data: Vec::new(),
            };
            Vp09 {
                visual: visual(dim(w), dim(h), "VPC Coding"),
                vpcc,
                btrt: None,
                colr: None,
                pasp: None,
                spatial: None,
            }
            .into()
        }
        other => return Err(unsupported(format!("{other:?} as video"))),
    };
    // Encoding checks what mp4-atom would refuse later (a vpcC with reserved values...).
    encode_check(&codec)?;
    Ok(Entry { kind, codec, timescale: VIDEO_TIMESCALE, width: dim(w), height: dim(h) })
}

fn encode_check(codec: &Codec) -> Result<(), RecordError> {
    use mp4_atom::Encode;
    let mut buf = Vec::new();
    codec.encode(&mut buf).map_err(|e| bad("sample entry", e))
}

fn audio(channels: u8, rate: u32) -> Audio {
    Audio {
        data_reference_index: 1,
        channel_count: u16::from(channels.max(1)),
        sample_size: 16,
        sample_rate: u16::try_from(rate).unwrap_or(0).into(),
    }
}

/// The audio sample entry of `kind` from its sequence header `config` (AAC
/// AudioSpecificConfig, OpusHead). An empty Opus sequence start means stereo with no
/// pre-skip (E-RTMP v2: "default to mono/stereo mode").
pub(crate) fn audio_entry(kind: Kind, config: &[u8]) -> Result<Entry, RecordError> {
    let (codec, timescale): (Codec, u32) = match kind {
        Kind::Aac => {
            let asc = aac::AudioSpecificConfig::parse(config)?;
            let info = asc.info();
            let rate = info.sample_rate.max(1);
            let channels = if info.channels == 0 { 2 } else { info.channels };
            let esds = Esds {
                es_desc: EsDescriptor {
                    es_id: 1,
                    dec_config: DecoderConfig {
                        // ISO/IEC 14496-1 objectTypeIndication 0x40: MPEG-4 Audio;
                        // streamType 5: AudioStream.
                        object_type_indication: 0x40,
                        stream_type: 5,
                        dec_specific: Some(DecoderSpecific {
                            profile: asc.audio_object_type,
                            freq_index: asc.sampling_frequency_index,
                            chan_conf: asc.channel_configuration,
                            raw: config.to_vec(),
                        }),
                        ..Default::default()
                    },
                    sl_config: SLConfig {},
                    ..Default::default()
                },
            };
            let entry = Mp4a { audio: audio(channels, rate), esds, btrt: None, taic: None };
            (entry.into(), rate)
        }
        Kind::Opus => {
            let dops = if config.is_empty() {
                Dops {
                    output_channel_count: 2,
                    pre_skip: 0,
                    input_sample_rate: 48_000,
                    output_gain: 0,
                    channel_mapping: None,
                }
            } else {
                let head = opus::OpusHead::parse(config)?;
                Dops {
                    output_channel_count: head.channel_count,
                    pre_skip: head.pre_skip,
                    input_sample_rate: head.input_sample_rate,
                    output_gain: head.output_gain,
                    channel_mapping: head.mapping.map(|(streams, coupled, table)| {
                        OpusChannelMapping {
                            family: head.mapping_family,
                            stream_count: streams,
                            coupled_count: coupled,
                            channel_mapping: table,
                        }
                    }),
                }
            };
            let channels = dops.output_channel_count;
            // Opus always decodes at 48 kHz (RFC 7845 §5.1): that is the timescale.
            let entry = Opus { audio: audio(channels, 48_000), dops, btrt: None };
            (entry.into(), 48_000)
        }
        other => return Err(unsupported(format!("{other:?} as audio"))),
    };
    encode_check(&codec)?;
    Ok(Entry { kind, codec, timescale, width: 0, height: 0 })
}

/// OBU_TEMPORAL_DELIMITER (AV1 §6.2.2).
const OBU_TEMPORAL_DELIMITER: u8 = 2;

/// The OBUs of an AV1 temporal unit without its temporal delimiters, which
/// AV1-ISOBMFF §2.4 forbids in samples. Unparseable data is kept as it is (the decoder
/// judges it); an OBU without a size field runs to the end.
fn strip_temporal_delimiters(body: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let Some((obu_type, len)) = obu_at(body.get(pos..).unwrap_or_default()) else {
            out.push(body.slice(pos..));
            return out;
        };
        let end = pos + len;
        if obu_type != OBU_TEMPORAL_DELIMITER {
            // Adjacent kept OBUs share one slice.
            match out.last_mut() {
                Some(last) if last_end(body, last) == pos => {
                    *last = body.slice(pos - last.len()..end)
                }
                _ => out.push(body.slice(pos..end)),
            }
        }
        pos = end;
    }
    out
}

/// Where `slice` (a sub-slice of `body`) ends, as an offset in `body`.
fn last_end(body: &Bytes, slice: &Bytes) -> usize {
    (slice.as_ptr() as usize).saturating_sub(body.as_ptr() as usize) + slice.len()
}

/// The type and total length of the OBU at the start of `data` (AV1 §5.3.1), or `None`
/// when it cannot be walked.
fn obu_at(data: &[u8]) -> Option<(u8, usize)> {
    let header = *data.first()?;
    let obu_type = (header >> 3) & 0x0f;
    let mut pos = 1 + usize::from(header & 0x04 != 0);
    if header & 0x02 == 0 {
        return (pos <= data.len()).then_some((obu_type, data.len()));
    }
    let mut size: u64 = 0;
    for i in 0..8 {
        let b = *data.get(pos)?;
        pos += 1;
        size |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let end = pos.checked_add(usize::try_from(size).ok()?)?;
            return (end <= data.len()).then_some((obu_type, end));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporal_delimiters_are_dropped_and_the_rest_kept_as_slices() {
        // TD (type 2, size 0), sequence header (type 1, 2 bytes), frame (type 6, 3 bytes).
        let body = Bytes::from_static(&[0x12, 0x00, 0x0a, 0x02, 0xaa, 0xbb, 0x32, 0x03, 1, 2, 3]);
        let out = strip_temporal_delimiters(&body);
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0][..], &body[2..]);
        // A TD in the middle splits the kept data in two slices.
        let body = Bytes::from_static(&[0x0a, 0x01, 0xaa, 0x12, 0x00, 0x32, 0x01, 0x07]);
        let out = strip_temporal_delimiters(&body);
        assert_eq!(
            out.iter().map(|b| b.to_vec()).collect::<Vec<_>>(),
            [vec![0x0a, 0x01, 0xaa], vec![0x32, 0x01, 0x07]]
        );
        // Garbage (a size past the end) is kept whole.
        let body = Bytes::from_static(&[0x12, 0x00, 0x32, 0x09, 1]);
        let out = strip_temporal_delimiters(&body);
        assert_eq!(out.iter().map(|b| b.to_vec()).collect::<Vec<_>>(), [vec![0x32, 0x09, 1]]);
    }

    #[test]
    fn opus_head_becomes_dops() {
        // RFC 7845 §5.1: stereo, pre-skip 312, 48 kHz, gain 0, family 0.
        let head = b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00";
        let e = audio_entry(Kind::Opus, head).unwrap();
        let Codec::Opus(o) = e.codec else { panic!("not Opus") };
        assert_eq!((o.dops.output_channel_count, o.dops.pre_skip), (2, 312));
        assert_eq!(e.timescale, 48_000);
        assert!(audio_entry(Kind::Opus, b"").is_ok());
        assert!(audio_entry(Kind::Opus, b"NotOpus!").is_err());
    }

    #[test]
    fn aac_config_goes_into_esds_verbatim() {
        // AAC-LC 44.1 kHz stereo: 0x12 0x10.
        let e = audio_entry(Kind::Aac, &[0x12, 0x10]).unwrap();
        assert_eq!(e.timescale, 44_100);
        let Codec::Mp4a(m) = e.codec else { panic!("not mp4a") };
        let ds = m.esds.es_desc.dec_config.dec_specific.unwrap();
        assert_eq!(ds.raw, [0x12, 0x10]);
        assert_eq!(m.audio.channel_count, 2);
    }
}
