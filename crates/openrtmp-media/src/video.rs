//! Video messages: the legacy VideoTagHeader (FLV 10.1 §E.4.3.1) and the Enhanced RTMP
//! ExVideoTagHeader (E-RTMP v1 "ExVideoTagHeader", v2 "Enhanced Video"), parsed into
//! per-track frames.

use bytes::{Bytes, BytesMut};

use crate::cursor::{put_i24, Cursor};
use crate::track::{
    read_ex_tracks, read_mod_ex, write_ex_tracks, write_mod_ex_nano, RawTrack, TrackOut, MOD_EX,
};
use crate::{AvMultitrackType, FourCc, FrameKind, MediaError, Track};

/// `VideoFrameType` (`UB[4]` legacy, `UB[3]` when the IsExHeader bit is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VideoFrameType(pub u8);

impl VideoFrameType {
    /// 1: a seekable frame.
    pub const KEY_FRAME: Self = Self(1);
    /// 2: a non-seekable frame.
    pub const INTER_FRAME: Self = Self(2);
    /// 3: disposable inter frame (H.263 only).
    pub const DISPOSABLE_INTER_FRAME: Self = Self(3);
    /// 4: generated key frame (reserved for server use).
    pub const GENERATED_KEY_FRAME: Self = Self(4);
    /// 5: video info/command frame; a [`VideoCommand`] replaces the video payload.
    pub const COMMAND: Self = Self(5);

    fn kind(self) -> FrameKind {
        match self.0 {
            1 | 4 => FrameKind::Keyframe,
            2 | 3 => FrameKind::InterFrame,
            5 => FrameKind::Command,
            _ => FrameKind::Other,
        }
    }
}

/// Legacy `CodecID` (`UB[4]`, §E.4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VideoCodecId(pub u8);

impl VideoCodecId {
    /// 2: Sorenson H.263.
    pub const SORENSON_H263: Self = Self(2);
    /// 3: Screen video.
    pub const SCREEN: Self = Self(3);
    /// 4: On2 VP6.
    pub const ON2_VP6: Self = Self(4);
    /// 5: On2 VP6 with alpha channel.
    pub const ON2_VP6_ALPHA: Self = Self(5);
    /// 6: Screen video version 2.
    pub const SCREEN_V2: Self = Self(6);
    /// 7: AVC (H.264).
    pub const AVC: Self = Self(7);
    /// 12: HEVC in the AVC packet layout. Not in any Adobe spec; sent by Chinese CDNs and
    /// OBS/FFmpeg forks from before Enhanced RTMP.
    pub const HEVC: Self = Self(12);

    /// Whether the AVCPacketType + CompositionTime layout (§E.4.3.1) follows the first byte.
    pub fn has_avc_layout(self) -> bool {
        self == Self::AVC || self == Self::HEVC
    }

    fn is_known(self) -> bool {
        (2..=7).contains(&self.0) || self == Self::HEVC
    }
}

/// `AVCPacketType` (UI8, §E.4.3.1), also used by legacy HEVC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AvcPacketType(pub u8);

impl AvcPacketType {
    /// 0: AVCDecoderConfigurationRecord.
    pub const SEQUENCE_HEADER: Self = Self(0);
    /// 1: one or more NALUs.
    pub const NALU: Self = Self(1);
    /// 2: end of sequence.
    pub const END_OF_SEQUENCE: Self = Self(2);
}

/// `VideoPacketType` (`UB[4]`, E-RTMP v2 "Enhanced Video").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VideoPacketType(pub u8);

impl VideoPacketType {
    /// 0: codec configuration record.
    pub const SEQUENCE_START: Self = Self(0);
    /// 1: coded frames (with a composition time for AVC, HEVC, VVC).
    pub const CODED_FRAMES: Self = Self(1);
    /// 2: end of sequence.
    pub const SEQUENCE_END: Self = Self(2);
    /// 3: coded frames with an implied composition time of 0.
    pub const CODED_FRAMES_X: Self = Self(3);
    /// 4: AMF-encoded metadata (colorInfo); the frame type is ignored.
    pub const METADATA: Self = Self(4);
    /// 5: MPEG-2 TS video descriptor to start the sequence (AV1).
    pub const MPEG2TS_SEQUENCE_START: Self = Self(5);
    /// 6: multitrack mode.
    pub const MULTITRACK: Self = Self(6);
    /// 7: ModEx, a modifier/extension block precedes the real packet type.
    pub const MOD_EX: Self = Self(MOD_EX);
}

/// `VideoCommand` (UI8) of a command frame. 0 and 1 are defined; others pass through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VideoCommand(pub u8);

impl VideoCommand {
    /// 0: start of client-side seeking video frame sequence.
    pub const START_SEEK: Self = Self(0);
    /// 1: end of client-side seeking video frame sequence.
    pub const END_SEEK: Self = Self(1);
}

/// The codec of a video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// A legacy `CodecID`.
    Legacy(VideoCodecId),
    /// An Enhanced RTMP `VideoFourCc`.
    FourCc(FourCc),
    /// The header names no codec: an enhanced command frame (no FOURCC follows the
    /// command) or a multitrack message with an unknown `AvMultitrackType`.
    Unspecified,
}

/// A video track.
pub type VideoTrack = Track<VideoCodec>;

/// The header form of a video message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoHeader {
    /// Legacy VideoTagHeader (§E.4.3.1).
    Legacy {
        /// `CodecID`.
        codec_id: VideoCodecId,
        /// `AVCPacketType`, present for AVC and legacy HEVC (not for command frames).
        avc_packet_type: Option<AvcPacketType>,
    },
    /// ExVideoTagHeader (IsExHeader bit set).
    Ex(ExVideoHeader),
}

/// The fields of an ExVideoTagHeader that apply to the whole message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExVideoHeader {
    /// The packet type of the tracks: after ModEx blocks, and for a multitrack message the
    /// one from the multitrack byte (never `MULTITRACK` then).
    pub packet_type: VideoPacketType,
    /// The multitrack layout, when the message is multitrack.
    pub multitrack: Option<AvMultitrackType>,
    /// TimestampOffsetNano from a ModEx block: nanoseconds to add to the message timestamp.
    pub timestamp_nano_offset: Option<u32>,
}

/// A parsed video message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTag {
    /// `VideoFrameType` (ignored by the spec for `Metadata` packets).
    pub frame_type: VideoFrameType,
    /// Legacy or enhanced header fields.
    pub header: VideoHeader,
    /// The command of a command frame (frame type 5).
    pub command: Option<VideoCommand>,
    /// The tracks; exactly one unless the message is multitrack.
    pub tracks: Vec<VideoTrack>,
}

impl VideoTag {
    /// Whether any track is a sequence header.
    pub fn is_sequence_header(&self) -> bool {
        self.tracks.iter().any(|t| t.kind == FrameKind::SequenceHeader)
    }

    /// Whether any track is a key frame.
    pub fn is_keyframe(&self) -> bool {
        self.tracks.iter().any(|t| t.kind == FrameKind::Keyframe)
    }

    /// Whether the message uses the Enhanced RTMP header.
    pub fn is_enhanced(&self) -> bool {
        matches!(self.header, VideoHeader::Ex(_))
    }

    /// Serializes the message: the inverse of [`parse_video`] (track `kind`s are derived
    /// from the header and not written). Fails when the track list or a field cannot be
    /// expressed by the header.
    pub fn write(&self, out: &mut BytesMut) -> Result<(), MediaError> {
        let mut buf = BytesMut::new();
        match self.header {
            VideoHeader::Legacy { codec_id, avc_packet_type } => {
                self.write_legacy(&mut buf, codec_id, avc_packet_type)?
            }
            VideoHeader::Ex(ex) => self.write_ex(&mut buf, ex)?,
        }
        out.extend_from_slice(&buf);
        Ok(())
    }

    fn write_legacy(
        &self,
        out: &mut BytesMut,
        codec_id: VideoCodecId,
        avc_packet_type: Option<AvcPacketType>,
    ) -> Result<(), MediaError> {
        check_nibble("VideoFrameType", self.frame_type.0, 0x07)?;
        check_nibble("CodecID", codec_id.0, 0x0f)?;
        let [track] = &self.tracks[..] else {
            return Err(MediaError::InvalidTrackList {
                count: self.tracks.len(),
                reason: "a legacy header carries exactly one track",
            });
        };
        out.extend_from_slice(&[(self.frame_type.0 << 4) | codec_id.0]);
        if self.frame_type == VideoFrameType::COMMAND {
            out.extend_from_slice(&[self.command_byte()?]);
            check_no_ct(track)?;
        } else if codec_id.has_avc_layout() {
            let pt = avc_packet_type.ok_or(MediaError::FieldOutOfRange {
                field: "AVCPacketType (missing)",
                value: -1,
            })?;
            out.extend_from_slice(&[pt.0]);
            put_i24(out, track.composition_time, "CompositionTime")?;
        } else {
            check_no_ct(track)?;
        }
        out.extend_from_slice(&track.body);
        Ok(())
    }

    fn write_ex(&self, out: &mut BytesMut, ex: ExVideoHeader) -> Result<(), MediaError> {
        check_nibble("VideoFrameType", self.frame_type.0, 0x07)?;
        check_nibble("VideoPacketType", ex.packet_type.0, 0x0f)?;
        let pt = ex.packet_type;
        let wire_pt = if ex.multitrack.is_some() { VideoPacketType::MULTITRACK } else { pt };
        let first = if ex.timestamp_nano_offset.is_some() { MOD_EX } else { wire_pt.0 };
        out.extend_from_slice(&[0x80 | (self.frame_type.0 << 4) | first]);
        if let Some(nano) = ex.timestamp_nano_offset {
            write_mod_ex_nano(out, nano, wire_pt.0)?;
        }
        if is_ex_command(self.frame_type, wire_pt) {
            if ex.multitrack.is_some() {
                return Err(MediaError::InvalidTrackList {
                    count: self.tracks.len(),
                    reason: "a command frame cannot be multitrack",
                });
            }
            out.extend_from_slice(&[self.command_byte()?]);
            if let [track] = &self.tracks[..] {
                check_no_ct(track)?;
                out.extend_from_slice(&track.body);
            } else if !self.tracks.is_empty() {
                return Err(MediaError::InvalidTrackList {
                    count: self.tracks.len(),
                    reason: "a command frame carries at most one track",
                });
            }
            return Ok(());
        }
        let cts: Vec<[u8; 3]> =
            self.tracks.iter().map(|t| ct_prefix(pt, t)).collect::<Result<_, _>>()?;
        let outs: Vec<TrackOut<'_>> = self
            .tracks
            .iter()
            .zip(&cts)
            .map(|(t, ct)| TrackOut {
                track_id: t.track_id,
                fourcc: match t.codec {
                    VideoCodec::FourCc(f) => Some(f),
                    _ => None,
                },
                prefix: if has_ct(pt, t.codec) { ct } else { &[] },
                body: &t.body,
            })
            .collect();
        write_ex_tracks(out, ex.multitrack, pt.0, &outs)
    }

    fn command_byte(&self) -> Result<u8, MediaError> {
        self.command
            .map(|c| c.0)
            .ok_or(MediaError::FieldOutOfRange { field: "VideoCommand (missing)", value: -1 })
    }
}

fn check_nibble(field: &'static str, value: u8, max: u8) -> Result<(), MediaError> {
    if value > max {
        return Err(MediaError::FieldOutOfRange { field, value: i64::from(value) });
    }
    Ok(())
}

fn check_no_ct(track: &VideoTrack) -> Result<(), MediaError> {
    if track.composition_time != 0 {
        return Err(MediaError::FieldOutOfRange {
            field: "composition_time (the header has none)",
            value: i64::from(track.composition_time),
        });
    }
    Ok(())
}

fn has_ct(pt: VideoPacketType, codec: VideoCodec) -> bool {
    pt == VideoPacketType::CODED_FRAMES
        && matches!(codec, VideoCodec::FourCc(f) if f.has_composition_time())
}

fn ct_prefix(pt: VideoPacketType, track: &VideoTrack) -> Result<[u8; 3], MediaError> {
    if !has_ct(pt, track.codec) {
        check_no_ct(track)?;
        return Ok([0; 3]);
    }
    let mut b = BytesMut::with_capacity(3);
    put_i24(&mut b, track.composition_time, "composition_time")?;
    let mut out = [0; 3];
    out.copy_from_slice(&b);
    Ok(out)
}

/// Whether an enhanced header is a command frame: E-RTMP v2 reads a `VideoCommand`
/// instead of a FOURCC when the frame type is Command and the packet is not Metadata.
fn is_ex_command(frame_type: VideoFrameType, pt: VideoPacketType) -> bool {
    frame_type == VideoFrameType::COMMAND && pt != VideoPacketType::METADATA
}

/// Parses a video message (RTMP message type 9, FLV tag type 9) into its tracks.
///
/// Bodies are slices of `data`. Unknown legacy codec ids, packet types and FOURCCs do not
/// fail: their payload is returned as a track of kind [`FrameKind::Other`] (or classified
/// by packet type, which Enhanced RTMP defines independently of the codec).
pub fn parse_video(data: &Bytes) -> Result<VideoTag, MediaError> {
    let mut cur = Cursor::new(data);
    let b = cur.u8("VideoTagHeader")?;
    let frame_type = VideoFrameType((b >> 4) & 0x07);
    if b & 0x80 == 0 {
        parse_legacy(data, &mut cur, frame_type, VideoCodecId(b & 0x0f))
    } else {
        parse_ex(data, &mut cur, frame_type, VideoPacketType(b & 0x0f))
    }
}

fn parse_legacy(
    data: &Bytes,
    cur: &mut Cursor<'_>,
    frame_type: VideoFrameType,
    codec_id: VideoCodecId,
) -> Result<VideoTag, MediaError> {
    let codec = VideoCodec::Legacy(codec_id);
    let mut command = None;
    let mut avc_packet_type = None;
    let mut composition_time = 0;
    let kind = if frame_type == VideoFrameType::COMMAND {
        command = Some(VideoCommand(cur.u8("VideoCommand")?));
        FrameKind::Command
    } else if codec_id.has_avc_layout() {
        let pt = AvcPacketType(cur.u8("AVCPacketType")?);
        avc_packet_type = Some(pt);
        composition_time = cur.i24("CompositionTime")?;
        match pt {
            AvcPacketType::SEQUENCE_HEADER => FrameKind::SequenceHeader,
            AvcPacketType::NALU => frame_type.kind(),
            AvcPacketType::END_OF_SEQUENCE => FrameKind::SequenceEnd,
            _ => FrameKind::Other,
        }
    } else if codec_id.is_known() {
        frame_type.kind()
    } else {
        FrameKind::Other
    };
    let body = data.slice_ref(cur.rest());
    let track = Track { track_id: 0, codec, kind, composition_time, body };
    Ok(VideoTag {
        frame_type,
        header: VideoHeader::Legacy { codec_id, avc_packet_type },
        command,
        tracks: vec![track],
    })
}

fn parse_ex(
    data: &Bytes,
    cur: &mut Cursor<'_>,
    frame_type: VideoFrameType,
    packet_type: VideoPacketType,
) -> Result<VideoTag, MediaError> {
    let (pt, timestamp_nano_offset) = read_mod_ex(cur, packet_type.0)?;
    let pt = VideoPacketType(pt);
    if is_ex_command(frame_type, pt) {
        let command = Some(VideoCommand(cur.u8("VideoCommand")?));
        let body = data.slice_ref(cur.rest());
        let track = Track {
            track_id: 0,
            codec: VideoCodec::Unspecified,
            kind: FrameKind::Command,
            composition_time: 0,
            body,
        };
        let header = VideoHeader::Ex(ExVideoHeader {
            packet_type: pt,
            multitrack: None,
            timestamp_nano_offset,
        });
        return Ok(VideoTag { frame_type, header, command, tracks: vec![track] });
    }
    let ex = read_ex_tracks(cur, pt.0, VideoPacketType::MULTITRACK.0)?;
    let pt = VideoPacketType(ex.packet_type);
    let tracks = ex
        .tracks
        .into_iter()
        .map(|raw| ex_track(data, frame_type, pt, raw))
        .collect::<Result<Vec<_>, _>>()?;
    let header = VideoHeader::Ex(ExVideoHeader {
        packet_type: pt,
        multitrack: ex.multitrack,
        timestamp_nano_offset,
    });
    Ok(VideoTag { frame_type, header, command: None, tracks })
}

fn ex_track(
    data: &Bytes,
    frame_type: VideoFrameType,
    pt: VideoPacketType,
    raw: RawTrack<'_>,
) -> Result<VideoTrack, MediaError> {
    let Some(fourcc) = raw.fourcc else {
        return Ok(Track {
            track_id: raw.track_id,
            codec: VideoCodec::Unspecified,
            kind: FrameKind::Other,
            composition_time: 0,
            body: data.slice_ref(raw.data),
        });
    };
    let codec = VideoCodec::FourCc(fourcc);
    let mut cur = Cursor::new(raw.data);
    let composition_time = if has_ct(pt, codec) { cur.i24("composition time offset")? } else { 0 };
    let kind = match pt {
        VideoPacketType::SEQUENCE_START | VideoPacketType::MPEG2TS_SEQUENCE_START => {
            FrameKind::SequenceHeader
        }
        VideoPacketType::CODED_FRAMES | VideoPacketType::CODED_FRAMES_X => frame_type.kind(),
        VideoPacketType::SEQUENCE_END => FrameKind::SequenceEnd,
        VideoPacketType::METADATA => FrameKind::Metadata,
        _ => FrameKind::Other,
    };
    let body = data.slice_ref(cur.rest());
    Ok(Track { track_id: raw.track_id, codec, kind, composition_time, body })
}

#[cfg(test)]
mod tests;
