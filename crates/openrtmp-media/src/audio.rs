//! Audio messages: the legacy AudioTagHeader (FLV 10.1 §E.4.2.1) and the Enhanced RTMP v2
//! ExAudioTagHeader (E-RTMP v2 "Enhanced Audio"), parsed into per-track frames.

use bytes::{Bytes, BytesMut};

use crate::cursor::Cursor;
use crate::track::{
    read_ex_tracks, read_mod_ex, write_ex_tracks, write_mod_ex_nano, RawTrack, TrackOut, MOD_EX,
};
use crate::{AvMultitrackType, FourCc, FrameKind, MediaError, Track};

mod multichannel;

pub use multichannel::{AudioChannelOrder, MultichannelConfig};

/// `SoundFormat` (`UB[4]`, §E.4.2.1; E-RTMP v2 adds 9 = ExHeader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SoundFormat(pub u8);

impl SoundFormat {
    /// 0: linear PCM, platform endian.
    pub const LPCM_PLATFORM_ENDIAN: Self = Self(0);
    /// 1: ADPCM.
    pub const ADPCM: Self = Self(1);
    /// 2: MP3.
    pub const MP3: Self = Self(2);
    /// 3: linear PCM, little endian.
    pub const LPCM_LITTLE_ENDIAN: Self = Self(3);
    /// 4: Nellymoser 16 kHz mono.
    pub const NELLYMOSER_16K_MONO: Self = Self(4);
    /// 5: Nellymoser 8 kHz mono.
    pub const NELLYMOSER_8K_MONO: Self = Self(5);
    /// 6: Nellymoser.
    pub const NELLYMOSER: Self = Self(6);
    /// 7: G.711 A-law.
    pub const G711_A_LAW: Self = Self(7);
    /// 8: G.711 mu-law.
    pub const G711_MU_LAW: Self = Self(8);
    /// 9: ExHeader, the E-RTMP FOURCC audio mode.
    pub const EX_HEADER: Self = Self(9);
    /// 10: AAC; an AACPacketType follows.
    pub const AAC: Self = Self(10);
    /// 11: Speex.
    pub const SPEEX: Self = Self(11);
    /// 14: MP3 8 kHz.
    pub const MP3_8K: Self = Self(14);
    /// 15: device-specific sound.
    pub const DEVICE_SPECIFIC: Self = Self(15);

    fn is_known(self) -> bool {
        !matches!(self.0, 9 | 12 | 13)
    }
}

/// `SoundRate` (`UB[2]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SoundRate(pub u8);

impl SoundRate {
    /// 0: 5.5 kHz.
    pub const KHZ_5_5: Self = Self(0);
    /// 1: 11 kHz.
    pub const KHZ_11: Self = Self(1);
    /// 2: 22 kHz.
    pub const KHZ_22: Self = Self(2);
    /// 3: 44 kHz.
    pub const KHZ_44: Self = Self(3);

    /// The rate in Hz (5512, 11025, 22050, 44100).
    pub fn hz(self) -> u32 {
        match self.0 & 3 {
            0 => 5_512,
            1 => 11_025,
            2 => 22_050,
            _ => 44_100,
        }
    }
}

/// `AACPacketType` (UI8, §E.4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AacPacketType(pub u8);

impl AacPacketType {
    /// 0: AudioSpecificConfig.
    pub const SEQUENCE_HEADER: Self = Self(0);
    /// 1: raw AAC frame data.
    pub const RAW: Self = Self(1);
}

/// `AudioPacketType` (`UB[4]`, E-RTMP v2 "Enhanced Audio").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AudioPacketType(pub u8);

impl AudioPacketType {
    /// 0: codec configuration (AudioSpecificConfig, OpusHead, FLAC STREAMINFO).
    pub const SEQUENCE_START: Self = Self(0);
    /// 1: coded frames.
    pub const CODED_FRAMES: Self = Self(1);
    /// 2: end of sequence.
    pub const SEQUENCE_END: Self = Self(2);
    /// 4: channel order and layout, see [`MultichannelConfig`].
    pub const MULTICHANNEL_CONFIG: Self = Self(4);
    /// 5: multitrack mode.
    pub const MULTITRACK: Self = Self(5);
    /// 7: ModEx, a modifier/extension block precedes the real packet type.
    pub const MOD_EX: Self = Self(MOD_EX);
}

/// The codec of an audio track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    /// A legacy `SoundFormat`.
    Legacy(SoundFormat),
    /// An Enhanced RTMP `AudioFourCc`.
    FourCc(FourCc),
    /// A multitrack message with an unknown `AvMultitrackType`: no codec can be read.
    Unspecified,
}

/// An audio track.
pub type AudioTrack = Track<AudioCodec>;

/// A legacy AudioTagHeader (§E.4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegacyAudioHeader {
    /// `SoundFormat`.
    pub sound_format: SoundFormat,
    /// `SoundRate` (ignored by players for AAC, which carries its own).
    pub sound_rate: SoundRate,
    /// `SoundSize`: 16-bit (true) or 8-bit samples.
    pub sound_size_16bit: bool,
    /// `SoundType`: stereo (true) or mono.
    pub stereo: bool,
    /// `AACPacketType`, present iff the format is AAC.
    pub aac_packet_type: Option<AacPacketType>,
}

/// The fields of an ExAudioTagHeader that apply to the whole message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExAudioHeader {
    /// The packet type of the tracks: after ModEx blocks, and for a multitrack message the
    /// one from the multitrack byte (never `MULTITRACK` then).
    pub packet_type: AudioPacketType,
    /// The multitrack layout, when the message is multitrack.
    pub multitrack: Option<AvMultitrackType>,
    /// TimestampOffsetNano from a ModEx block: nanoseconds to add to the message timestamp.
    pub timestamp_nano_offset: Option<u32>,
}

/// The header form of an audio message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioHeader {
    /// An empty message: the "audio silence" message of E-RTMP v2 ("Enhanced Audio",
    /// `AudioPacketType` notes). It has no tracks.
    Silence,
    /// Legacy AudioTagHeader.
    Legacy(LegacyAudioHeader),
    /// ExAudioTagHeader (SoundFormat 9).
    Ex(ExAudioHeader),
}

/// A parsed audio message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTag {
    /// Legacy or enhanced header fields.
    pub header: AudioHeader,
    /// The tracks: none for silence, exactly one unless the message is multitrack.
    pub tracks: Vec<AudioTrack>,
}

impl AudioTag {
    /// Whether any track is a sequence header.
    pub fn is_sequence_header(&self) -> bool {
        self.tracks.iter().any(|t| t.kind == FrameKind::SequenceHeader)
    }

    /// Whether any track is coded audio (every audio frame is a random access point).
    pub fn is_keyframe(&self) -> bool {
        self.tracks.iter().any(|t| t.kind == FrameKind::Keyframe)
    }

    /// Whether the message uses the Enhanced RTMP header.
    pub fn is_enhanced(&self) -> bool {
        matches!(self.header, AudioHeader::Ex(_))
    }

    /// Serializes the message: the inverse of [`parse_audio`] (track `kind`s are derived
    /// from the header and not written).
    pub fn write(&self, out: &mut BytesMut) -> Result<(), MediaError> {
        let mut buf = BytesMut::new();
        match self.header {
            AudioHeader::Silence => {
                if !self.tracks.is_empty() {
                    return Err(invalid(self.tracks.len(), "silence has no tracks"));
                }
            }
            AudioHeader::Legacy(h) => self.write_legacy(&mut buf, h)?,
            AudioHeader::Ex(ex) => self.write_ex(&mut buf, ex)?,
        }
        out.extend_from_slice(&buf);
        Ok(())
    }

    fn write_legacy(&self, out: &mut BytesMut, h: LegacyAudioHeader) -> Result<(), MediaError> {
        let [track] = &self.tracks[..] else {
            return Err(invalid(self.tracks.len(), "a legacy header carries exactly one track"));
        };
        if track.codec != AudioCodec::Legacy(h.sound_format) {
            return Err(invalid(1, "track codec differs from the header's SoundFormat"));
        }
        check_field("SoundFormat", h.sound_format.0, 0x0f)?;
        check_field("SoundRate", h.sound_rate.0, 0x03)?;
        if h.sound_format == SoundFormat::EX_HEADER {
            return Err(MediaError::FieldOutOfRange { field: "SoundFormat (legacy)", value: 9 });
        }
        out.extend_from_slice(&[(h.sound_format.0 << 4)
            | (h.sound_rate.0 << 2)
            | (u8::from(h.sound_size_16bit) << 1)
            | u8::from(h.stereo)]);
        match (h.sound_format == SoundFormat::AAC, h.aac_packet_type) {
            (true, Some(pt)) => out.extend_from_slice(&[pt.0]),
            (false, None) => {}
            _ => return Err(MediaError::FieldOutOfRange { field: "AACPacketType", value: -1 }),
        }
        check_no_ct(track)?;
        out.extend_from_slice(&track.body);
        Ok(())
    }

    fn write_ex(&self, out: &mut BytesMut, ex: ExAudioHeader) -> Result<(), MediaError> {
        check_field("AudioPacketType", ex.packet_type.0, 0x0f)?;
        let wire_pt = match ex.multitrack {
            Some(_) => AudioPacketType::MULTITRACK,
            None => ex.packet_type,
        };
        let first = if ex.timestamp_nano_offset.is_some() { MOD_EX } else { wire_pt.0 };
        out.extend_from_slice(&[(SoundFormat::EX_HEADER.0 << 4) | first]);
        if let Some(nano) = ex.timestamp_nano_offset {
            write_mod_ex_nano(out, nano, wire_pt.0)?;
        }
        let mut outs = Vec::with_capacity(self.tracks.len());
        for t in &self.tracks {
            check_no_ct(t)?;
            let fourcc = match t.codec {
                AudioCodec::FourCc(f) => Some(f),
                AudioCodec::Unspecified => None,
                AudioCodec::Legacy(_) => {
                    return Err(invalid(self.tracks.len(), "legacy codec in an ExAudioTagHeader"))
                }
            };
            outs.push(TrackOut { track_id: t.track_id, fourcc, prefix: &[], body: &t.body });
        }
        write_ex_tracks(out, ex.multitrack, ex.packet_type.0, &outs)
    }
}

fn invalid(count: usize, reason: &'static str) -> MediaError {
    MediaError::InvalidTrackList { count, reason }
}

fn check_field(field: &'static str, value: u8, max: u8) -> Result<(), MediaError> {
    if value > max {
        return Err(MediaError::FieldOutOfRange { field, value: i64::from(value) });
    }
    Ok(())
}

fn check_no_ct(track: &AudioTrack) -> Result<(), MediaError> {
    if track.composition_time != 0 {
        return Err(MediaError::FieldOutOfRange {
            field: "composition_time (audio has none)",
            value: i64::from(track.composition_time),
        });
    }
    Ok(())
}

/// Parses an audio message (RTMP message type 8, FLV tag type 8) into its tracks.
///
/// An empty message is [`AudioHeader::Silence`]. Bodies are slices of `data`. Reserved
/// sound formats and unknown packet types classify as [`FrameKind::Other`] without error.
pub fn parse_audio(data: &Bytes) -> Result<AudioTag, MediaError> {
    let mut cur = Cursor::new(data);
    if cur.remaining() == 0 {
        return Ok(AudioTag { header: AudioHeader::Silence, tracks: Vec::new() });
    }
    let b = cur.u8("AudioTagHeader")?;
    let sound_format = SoundFormat(b >> 4);
    if sound_format == SoundFormat::EX_HEADER {
        return parse_ex(data, &mut cur, AudioPacketType(b & 0x0f));
    }
    let mut header = LegacyAudioHeader {
        sound_format,
        sound_rate: SoundRate((b >> 2) & 0x03),
        sound_size_16bit: b & 0x02 != 0,
        stereo: b & 0x01 != 0,
        aac_packet_type: None,
    };
    let kind = if sound_format == SoundFormat::AAC {
        let pt = AacPacketType(cur.u8("AACPacketType")?);
        header.aac_packet_type = Some(pt);
        match pt {
            AacPacketType::SEQUENCE_HEADER => FrameKind::SequenceHeader,
            AacPacketType::RAW => FrameKind::Keyframe,
            _ => FrameKind::Other,
        }
    } else if sound_format.is_known() {
        FrameKind::Keyframe
    } else {
        FrameKind::Other
    };
    let track = Track {
        track_id: 0,
        codec: AudioCodec::Legacy(sound_format),
        kind,
        composition_time: 0,
        body: data.slice_ref(cur.rest()),
    };
    Ok(AudioTag { header: AudioHeader::Legacy(header), tracks: vec![track] })
}

fn parse_ex(
    data: &Bytes,
    cur: &mut Cursor<'_>,
    packet_type: AudioPacketType,
) -> Result<AudioTag, MediaError> {
    let (pt, timestamp_nano_offset) = read_mod_ex(cur, packet_type.0)?;
    let ex = read_ex_tracks(cur, pt, AudioPacketType::MULTITRACK.0)?;
    let pt = AudioPacketType(ex.packet_type);
    let kind = match pt {
        AudioPacketType::SEQUENCE_START => FrameKind::SequenceHeader,
        AudioPacketType::CODED_FRAMES => FrameKind::Keyframe,
        AudioPacketType::SEQUENCE_END => FrameKind::SequenceEnd,
        AudioPacketType::MULTICHANNEL_CONFIG => FrameKind::Metadata,
        _ => FrameKind::Other,
    };
    let tracks = ex
        .tracks
        .into_iter()
        .map(|RawTrack { track_id, fourcc, data: raw }| Track {
            track_id,
            codec: fourcc.map_or(AudioCodec::Unspecified, AudioCodec::FourCc),
            kind: if fourcc.is_some() { kind } else { FrameKind::Other },
            composition_time: 0,
            body: data.slice_ref(raw),
        })
        .collect();
    let header = AudioHeader::Ex(ExAudioHeader {
        packet_type: pt,
        multitrack: ex.multitrack,
        timestamp_nano_offset,
    });
    Ok(AudioTag { header, tracks })
}

#[cfg(test)]
mod tests;
