//! The tracks of an MP4 recording as RTMP sees them: the codec and its configuration
//! record from the sample entry (ISO/IEC 14496-12 §8.5.2 `stsd`), turned into the sequence
//! header and frame messages a player is sent (FLV 10.1 §E.4.2/§E.4.3 for AVC and AAC,
//! Enhanced RTMP v2 "Enhanced Video"/"Enhanced Audio" for HEVC, AV1, VP9 and Opus).

use bytes::{Bytes, BytesMut};
use mp4_atom::{Codec, Encode, Trak};
use openrtmp_media::audio::{
    AacPacketType, AudioPacketType, ExAudioHeader, LegacyAudioHeader, SoundFormat, SoundRate,
};
use openrtmp_media::video::{
    AvcPacketType, ExVideoHeader, VideoCodecId, VideoFrameType, VideoHeader, VideoPacketType,
};
use openrtmp_media::{
    AudioCodec, AudioHeader, AudioTag, FourCc, FrameKind, Track, VideoCodec, VideoTag,
};

use crate::RecordError;

/// What a track carries, as far as playback over RTMP is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// H.264: legacy AVC tags (every RTMP player knows them).
    Avc,
    /// HEVC, AV1 or VP9: Enhanced RTMP video with this FOURCC.
    ExVideo(FourCc),
    /// AAC: legacy AAC tags.
    Aac,
    /// Opus: Enhanced RTMP audio.
    Opus,
}

impl Kind {
    pub(crate) fn is_video(self) -> bool {
        matches!(self, Kind::Avc | Kind::ExVideo(_))
    }
}

/// One playable track: its codec, configuration record and clock.
#[derive(Debug, Clone)]
pub(crate) struct TrackInfo {
    /// `tkhd.track_id`, which `tfhd` and `trex` refer to.
    pub(crate) id: u32,
    pub(crate) kind: Kind,
    /// Units per second of the track's sample times (`mdhd.timescale`, never 0).
    pub(crate) timescale: u32,
    /// The sequence header body: avcC, hvcC, av1C or vpcC record (vpcC with its FullBox
    /// version and flags, as FFmpeg's FLV muxer writes it), the AudioSpecificConfig, or an
    /// RFC 7845 OpusHead.
    pub(crate) config: Bytes,
    pub(crate) width: u16,
    pub(crate) height: u16,
    pub(crate) sample_rate: u32,
    pub(crate) channels: u16,
    /// What the edit list adds to every decoding time to place the track on the movie's
    /// timeline (track timescale; see [`edit_offset`]).
    pub(crate) offset: i64,
}

/// The box bytes of `atom` without its 8-byte header: what RTMP carries of a
/// configuration box is its body.
fn body_of<T: Encode>(atom: &T) -> Result<Bytes, RecordError> {
    let mut out = Vec::new();
    atom.encode(&mut out)?;
    Ok(Bytes::from(out).slice(8..))
}

/// The playable track of `trak`, or `None` for a track we cannot send over RTMP (subtitles,
/// an unknown codec, an encrypted sample entry); the caller skips it.
pub(crate) fn track_info(trak: &Trak) -> Result<Option<TrackInfo>, RecordError> {
    let timescale = trak.mdia.mdhd.timescale;
    let Some(codec) = trak.mdia.minf.stbl.stsd.codecs.first() else {
        return Ok(None);
    };
    if timescale == 0 {
        return Err(RecordError::Invalid(format!("track {} has timescale 0", trak.tkhd.track_id)));
    }
    let (mut width, mut height, mut sample_rate, mut channels) = (0, 0, 0, 0);
    let (kind, config) = match codec {
        Codec::Avc1(c) => {
            (width, height) = (c.visual.width, c.visual.height);
            (Kind::Avc, body_of(&c.avcc)?)
        }
        Codec::Hvc1(c) => {
            (width, height) = (c.visual.width, c.visual.height);
            (Kind::ExVideo(FourCc::HEVC), body_of(&c.hvcc)?)
        }
        Codec::Hev1(c) => {
            (width, height) = (c.visual.width, c.visual.height);
            (Kind::ExVideo(FourCc::HEVC), body_of(&c.hvcc)?)
        }
        Codec::Av01(c) => {
            (width, height) = (c.visual.width, c.visual.height);
            (Kind::ExVideo(FourCc::AV1), body_of(&c.av1c)?)
        }
        Codec::Vp09(c) => {
            (width, height) = (c.visual.width, c.visual.height);
            (Kind::ExVideo(FourCc::VP9), vpcc_record(&c.vpcc))
        }
        Codec::Mp4a(c) => {
            (sample_rate, channels) =
                (u32::from(c.audio.sample_rate.integer()), c.audio.channel_count);
            let Some(asc) = c.esds.es_desc.dec_config.dec_specific.as_ref() else {
                return Ok(None);
            };
            if asc.raw.is_empty() {
                return Ok(None);
            }
            (Kind::Aac, Bytes::copy_from_slice(&asc.raw))
        }
        Codec::Opus(c) => {
            (sample_rate, channels) = (c.dops.input_sample_rate, c.audio.channel_count);
            (Kind::Opus, opus_head(&c.dops))
        }
        _ => return Ok(None),
    };
    Ok(Some(TrackInfo {
        id: trak.tkhd.track_id,
        kind,
        timescale,
        config,
        width,
        height,
        sample_rate,
        channels,
        offset: 0,
    }))
}

/// Where the edit list (ISO/IEC 14496-12 §8.6.6) puts the track on the movie timeline, as
/// an offset to add to its decoding times (track timescale): the leading empty edits delay
/// it, the first media edit's start time advances it. This is how FFmpeg keeps audio and
/// video apart by the distance they had in the source (an encoder delay, a first frame
/// later than the audio), and what its demuxer applies; rate and later edits are ignored.
pub(crate) fn edit_offset(trak: &Trak, movie_timescale: u32, timescale: u32) -> i64 {
    let Some(elst) = trak.edts.as_ref().and_then(|e| e.elst.as_ref()) else { return 0 };
    let mut empty: i128 = 0;
    for e in &elst.entries {
        match e.media_time {
            None => {
                let scaled = i128::from(e.segment_duration) * i128::from(timescale)
                    / i128::from(movie_timescale.max(1));
                empty = empty.saturating_add(scaled);
            }
            Some(start) => {
                let offset = empty - i128::from(start);
                return i64::try_from(offset).unwrap_or(0);
            }
        }
    }
    0
}

/// The `vpcC` box body (VP Codec ISO Media File Format Binding §2.2: version 1, flags 0,
/// then the record), written here because mp4-atom's encoder refuses field combinations
/// FFmpeg writes (matrix coefficients 0 with 4:2:0) that decoders accept.
fn vpcc_record(v: &mp4_atom::VpcC) -> Bytes {
    let mut r = Vec::with_capacity(12 + v.codec_initialization_data.len());
    r.extend_from_slice(&[1, 0, 0, 0, v.profile, v.level]);
    r.push(
        (v.bit_depth << 4)
            | ((v.chroma_subsampling & 0x07) << 1)
            | u8::from(v.video_full_range_flag),
    );
    r.extend_from_slice(&[v.color_primaries, v.transfer_characteristics, v.matrix_coefficients]);
    let init = &v.codec_initialization_data;
    let len = u16::try_from(init.len()).unwrap_or(u16::MAX);
    r.extend_from_slice(&len.to_be_bytes());
    r.extend_from_slice(init.get(..usize::from(len)).unwrap_or_default());
    Bytes::from(r)
}

/// The RFC 7845 §5.1 identification header ("OpusHead", little-endian fields) from an
/// ISO BMFF `dOps` box (Opus in ISOBMFF §4.3.2, big-endian fields, no magic, version 0).
fn opus_head(dops: &mp4_atom::Dops) -> Bytes {
    let mut h = Vec::with_capacity(21);
    h.extend_from_slice(b"OpusHead");
    h.push(1);
    h.push(dops.output_channel_count);
    h.extend_from_slice(&dops.pre_skip.to_le_bytes());
    h.extend_from_slice(&dops.input_sample_rate.to_le_bytes());
    h.extend_from_slice(&dops.output_gain.to_le_bytes());
    match &dops.channel_mapping {
        Some(m) => {
            h.extend_from_slice(&[m.family, m.stream_count, m.coupled_count]);
            h.extend_from_slice(&m.channel_mapping);
        }
        None => h.push(0),
    }
    Bytes::from(h)
}

impl TrackInfo {
    /// The sequence header message body (timestamp 0).
    pub(crate) fn sequence_header(&self) -> Result<Bytes, RecordError> {
        self.message(FrameKind::SequenceHeader, 0, self.config.clone())
    }

    /// A frame's message body: `sync` marks a video keyframe, `cts_ms` is the composition
    /// offset (presentation minus decoding time) in ms.
    pub(crate) fn frame(&self, sync: bool, cts_ms: i32, data: Bytes) -> Result<Bytes, RecordError> {
        let kind =
            if sync || !self.kind.is_video() { FrameKind::Keyframe } else { FrameKind::InterFrame };
        self.message(kind, cts_ms, data)
    }

    fn message(&self, kind: FrameKind, cts_ms: i32, body: Bytes) -> Result<Bytes, RecordError> {
        let config = kind == FrameKind::SequenceHeader;
        let mut out = BytesMut::with_capacity(body.len() + 16);
        match self.kind {
            Kind::Avc | Kind::ExVideo(_) => {
                video_tag(self.kind, kind, cts_ms, body).write(&mut out)?
            }
            Kind::Aac => AudioTag {
                header: AudioHeader::Legacy(LegacyAudioHeader {
                    sound_format: SoundFormat::AAC,
                    sound_rate: SoundRate(3),
                    sound_size_16bit: true,
                    stereo: true,
                    aac_packet_type: Some(if config {
                        AacPacketType::SEQUENCE_HEADER
                    } else {
                        AacPacketType::RAW
                    }),
                }),
                tracks: vec![Track {
                    track_id: 0,
                    codec: AudioCodec::Legacy(SoundFormat::AAC),
                    kind,
                    composition_time: 0,
                    body,
                }],
            }
            .write(&mut out)?,
            Kind::Opus => AudioTag {
                header: AudioHeader::Ex(ExAudioHeader {
                    packet_type: if config {
                        AudioPacketType::SEQUENCE_START
                    } else {
                        AudioPacketType::CODED_FRAMES
                    },
                    multitrack: None,
                    timestamp_nano_offset: None,
                }),
                tracks: vec![Track {
                    track_id: 0,
                    codec: AudioCodec::FourCc(FourCc::OPUS),
                    kind,
                    composition_time: 0,
                    body,
                }],
            }
            .write(&mut out)?,
        }
        Ok(out.freeze())
    }
}

/// A single-track video tag: legacy AVC for H.264, Enhanced RTMP otherwise. HEVC frames
/// with a composition offset are CodedFrames, without one CodedFramesX (E-RTMP v1: the
/// SI24 is then implied 0); AV1 and VP9 have no composition offset on the wire.
fn video_tag(codec: Kind, kind: FrameKind, cts_ms: i32, body: Bytes) -> VideoTag {
    let frame_type = match kind {
        FrameKind::InterFrame => VideoFrameType::INTER_FRAME,
        _ => VideoFrameType::KEY_FRAME,
    };
    let config = kind == FrameKind::SequenceHeader;
    let (header, codec_field, ct) = match codec {
        Kind::ExVideo(fourcc) => {
            let has_ct = fourcc.has_composition_time();
            let packet_type = if config {
                VideoPacketType::SEQUENCE_START
            } else if has_ct && cts_ms != 0 {
                VideoPacketType::CODED_FRAMES
            } else if has_ct {
                VideoPacketType::CODED_FRAMES_X
            } else {
                VideoPacketType::CODED_FRAMES
            };
            let ct =
                if packet_type == VideoPacketType::CODED_FRAMES && has_ct { cts_ms } else { 0 };
            let header = VideoHeader::Ex(ExVideoHeader {
                packet_type,
                multitrack: None,
                timestamp_nano_offset: None,
            });
            (header, VideoCodec::FourCc(fourcc), ct)
        }
        _ => {
            let avc_packet_type =
                Some(if config { AvcPacketType::SEQUENCE_HEADER } else { AvcPacketType::NALU });
            let header = VideoHeader::Legacy { codec_id: VideoCodecId::AVC, avc_packet_type };
            (header, VideoCodec::Legacy(VideoCodecId::AVC), if config { 0 } else { cts_ms })
        }
    };
    VideoTag {
        frame_type,
        header,
        command: None,
        tracks: vec![Track { track_id: 0, codec: codec_field, kind, composition_time: ct, body }],
    }
}

/// The `videocodecid` / `audiocodecid` of onMetaData: the legacy id for AVC (7) and AAC
/// (10), the FOURCC as a number for the rest (E-RTMP v2 "Metadata Frame").
pub(crate) fn codec_id(kind: Kind) -> f64 {
    match kind {
        Kind::Avc => 7.0,
        Kind::Aac => 10.0,
        Kind::ExVideo(f) => f64::from(u32::from_be_bytes(f.0)),
        Kind::Opus => f64::from(u32::from_be_bytes(FourCc::OPUS.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avc_frame_is_legacy_with_cts() {
        let t = TrackInfo {
            id: 1,
            kind: Kind::Avc,
            timescale: 1000,
            config: Bytes::from_static(&[1, 2]),
            width: 0,
            height: 0,
            sample_rate: 0,
            channels: 0,
            offset: 0,
        };
        assert_eq!(&t.sequence_header().unwrap()[..], &[0x17, 0, 0, 0, 0, 1, 2]);
        let f = t.frame(false, 80, Bytes::from_static(&[9])).unwrap();
        assert_eq!(&f[..], &[0x27, 1, 0, 0, 80, 9]);
    }

    #[test]
    fn hevc_and_opus_are_enhanced() {
        let mut t = TrackInfo {
            id: 1,
            kind: Kind::ExVideo(FourCc::HEVC),
            timescale: 1000,
            config: Bytes::from_static(&[1]),
            width: 0,
            height: 0,
            sample_rate: 0,
            channels: 0,
            offset: 0,
        };
        assert_eq!(&t.sequence_header().unwrap()[..], &[0x90, b'h', b'v', b'c', b'1', 1]);
        // Key frame, CodedFrames with SI24 cts 40.
        let f = t.frame(true, 40, Bytes::from_static(&[7])).unwrap();
        assert_eq!(&f[..], &[0x91, b'h', b'v', b'c', b'1', 0, 0, 40, 7]);
        // Inter frame without offset: CodedFramesX.
        let f = t.frame(false, 0, Bytes::from_static(&[7])).unwrap();
        assert_eq!(&f[..], &[0xa3, b'h', b'v', b'c', b'1', 7]);
        t.kind = Kind::Opus;
        let f = t.frame(false, 0, Bytes::from_static(&[5])).unwrap();
        assert_eq!(&f[..], &[0x91, b'O', b'p', b'u', b's', 5]);
    }
}
