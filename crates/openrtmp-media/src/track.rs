//! Tracks, frame classification and the parts of the Enhanced RTMP v2 extended headers
//! that audio and video share: the ModEx loop and the multitrack layouts
//! (E-RTMP v2 "Enhanced Audio", "Enhanced Video", "Multitrack Streaming via Enhanced RTMP").

use bytes::{Bytes, BytesMut};

use crate::cursor::{put_u24, Cursor};
use crate::{FourCc, MediaError};

/// What a track's payload is, for caching and skipping decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// Decoder configuration (AVC/AAC sequence header, E-RTMP `SequenceStart`,
    /// `MPEG2TSSequenceStart`). A server keeps the latest one per track for late joiners.
    SequenceHeader,
    /// A random access point: a video key frame, or any coded audio frame (every audio
    /// frame can start playback once the sequence header is known).
    Keyframe,
    /// A video frame that depends on earlier frames (inter or disposable inter frame).
    InterFrame,
    /// End of sequence (AVC end of sequence, E-RTMP `SequenceEnd`).
    SequenceEnd,
    /// Stream description that is not coded media: E-RTMP video `Metadata` (AMF colorInfo)
    /// and audio `MultichannelConfig`. Like a sequence header, it applies to what follows.
    Metadata,
    /// A video info/command frame (VideoFrameType 5) carrying a `VideoCommand`.
    Command,
    /// Anything this crate does not classify: reserved packet or frame types, unknown
    /// legacy codec ids, reserved sound formats. Relayed as-is.
    Other,
}

/// One track of an audio or video message. A message without multitrack signalling has a
/// single track with `track_id` 0.
///
/// `C` is [`crate::VideoCodec`] or [`crate::AudioCodec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track<C> {
    /// The E-RTMP `videoTrackId` / `audioTrackId`; 0 (the default track) when the message
    /// is not multitrack.
    pub track_id: u8,
    /// The codec of this track.
    pub codec: C,
    /// How the payload is classified.
    pub kind: FrameKind,
    /// Composition time offset in milliseconds (SI24 on the wire); 0 where the format has
    /// none (audio, AV1, VP9, `CodedFramesX`, sequence headers).
    pub composition_time: i32,
    /// The payload after all headers: a slice of the message, never a copy.
    pub body: Bytes,
}

/// How the tracks of a multitrack message are laid out (E-RTMP v2 `AvMultitrackType`).
/// Unknown values are kept; the rest of such a message is exposed as one opaque track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AvMultitrackType(pub u8);

impl AvMultitrackType {
    /// One track with an id, no size field.
    pub const ONE_TRACK: Self = Self(0);
    /// Several tracks of one codec, each with an id and a UI24 size.
    pub const MANY_TRACKS: Self = Self(1);
    /// Several tracks, each with its own FOURCC, an id and a UI24 size.
    pub const MANY_TRACKS_MANY_CODECS: Self = Self(2);

    fn is_known(self) -> bool {
        self.0 <= 2
    }
}

/// The `ModEx` value of both AudioPacketType and VideoPacketType.
pub(crate) const MOD_EX: u8 = 7;
/// `TimestampOffsetNano`, the only AudioPacketModExType / VideoPacketModExType defined.
const MOD_EX_TIMESTAMP_OFFSET_NANO: u8 = 0;

/// Runs the ModEx loop (E-RTMP v2 "Enhanced Audio"/"Enhanced Video": `while
/// (packetType == ModEx)`), returning the final packet type and the
/// TimestampOffsetNano if one was present. Unknown ModEx types are skipped.
pub(crate) fn read_mod_ex(
    cur: &mut Cursor<'_>,
    mut packet_type: u8,
) -> Result<(u8, Option<u32>), MediaError> {
    let mut nano = None;
    while packet_type == MOD_EX {
        let mut size = usize::from(cur.u8("ModEx data size")?) + 1;
        if size == 256 {
            size = usize::from(cur.u16("ModEx data size (UI16)")?) + 1;
        }
        let data = cur.take(size, "ModEx data")?;
        let b = cur.u8("ModEx type")?;
        let mod_ex_type = b >> 4;
        packet_type = b & 0x0f;
        if mod_ex_type == MOD_EX_TIMESTAMP_OFFSET_NANO {
            match data {
                [a, b, c, ..] => nano = Some(u32::from_be_bytes([0, *a, *b, *c])),
                _ => {
                    return Err(MediaError::ModExDataTooShort {
                        mod_ex_type,
                        needed: 3,
                        len: data.len(),
                    })
                }
            }
        }
    }
    Ok((packet_type, nano))
}

/// Writes one TimestampOffsetNano ModEx block (the byte carrying `ModEx` as packet type
/// is the caller's), followed by the real packet type.
pub(crate) fn write_mod_ex_nano(
    out: &mut BytesMut,
    nano: u32,
    next_packet_type: u8,
) -> Result<(), MediaError> {
    out.extend_from_slice(&[2]); // modExDataSize - 1
    put_u24(out, nano as usize, "timestamp_nano_offset")?;
    out.extend_from_slice(&[(MOD_EX_TIMESTAMP_OFFSET_NANO << 4) | (next_packet_type & 0x0f)]);
    Ok(())
}

/// A track as found on the wire, before codec-specific fields (composition time).
#[derive(Debug)]
pub(crate) struct RawTrack<'a> {
    pub(crate) track_id: u8,
    /// `None` only for the opaque track of an unknown multitrack layout.
    pub(crate) fourcc: Option<FourCc>,
    pub(crate) data: &'a [u8],
}

/// The tracks of an extended header and the packet type that applies to them.
#[derive(Debug)]
pub(crate) struct ExTracks<'a> {
    pub(crate) multitrack: Option<AvMultitrackType>,
    pub(crate) packet_type: u8,
    pub(crate) tracks: Vec<RawTrack<'a>>,
}

/// Reads what follows the ModEx loop: either a FOURCC and the body, or (when
/// `packet_type == multitrack_value`) the multitrack byte, the shared FOURCC and the
/// per-track loop with ids and UI24 sizes. `forbidden` are the packet types a
/// multitrack message may not announce for its tracks.
pub(crate) fn read_ex_tracks<'a>(
    cur: &mut Cursor<'a>,
    packet_type: u8,
    multitrack_value: u8,
) -> Result<ExTracks<'a>, MediaError> {
    if packet_type != multitrack_value {
        let fourcc = FourCc(cur.bytes4("FOURCC")?);
        let tracks = vec![RawTrack { track_id: 0, fourcc: Some(fourcc), data: cur.rest() }];
        return Ok(ExTracks { multitrack: None, packet_type, tracks });
    }
    let b = cur.u8("multitrack type")?;
    let layout = AvMultitrackType(b >> 4);
    let packet_type = b & 0x0f;
    if packet_type == multitrack_value || packet_type == MOD_EX {
        return Err(MediaError::InvalidMultitrackPacketType { packet_type });
    }
    let multitrack = Some(layout);
    if !layout.is_known() {
        let tracks = vec![RawTrack { track_id: 0, fourcc: None, data: cur.rest() }];
        return Ok(ExTracks { multitrack, packet_type, tracks });
    }
    let shared = if layout == AvMultitrackType::MANY_TRACKS_MANY_CODECS {
        None
    } else {
        Some(FourCc(cur.bytes4("FOURCC")?))
    };
    let mut tracks = Vec::new();
    loop {
        let fourcc = match shared {
            Some(f) => f,
            None => FourCc(cur.bytes4("track FOURCC")?),
        };
        let track_id = cur.u8("track id")?;
        if layout == AvMultitrackType::ONE_TRACK {
            tracks.push(RawTrack { track_id, fourcc: Some(fourcc), data: cur.rest() });
            break;
        }
        let size = cur.u24("track size")? as usize;
        let available = cur.remaining();
        let data = cur.take(size, "track").map_err(|_| MediaError::TrackSizeOverrun {
            track_id,
            size,
            available,
        })?;
        tracks.push(RawTrack { track_id, fourcc: Some(fourcc), data });
        if cur.remaining() == 0 {
            break;
        }
    }
    Ok(ExTracks { multitrack, packet_type, tracks })
}

/// A track to be written by [`write_ex_tracks`].
pub(crate) struct TrackOut<'a> {
    pub(crate) track_id: u8,
    pub(crate) fourcc: Option<FourCc>,
    /// Written before the body and counted in the track size (the SI24 composition time).
    pub(crate) prefix: &'a [u8],
    pub(crate) body: &'a [u8],
}

fn invalid(count: usize, reason: &'static str) -> MediaError {
    MediaError::InvalidTrackList { count, reason }
}

/// The inverse of [`read_ex_tracks`], for everything after the ModEx blocks.
pub(crate) fn write_ex_tracks(
    out: &mut BytesMut,
    multitrack: Option<AvMultitrackType>,
    packet_type: u8,
    tracks: &[TrackOut<'_>],
) -> Result<(), MediaError> {
    let count = tracks.len();
    let Some(layout) = multitrack else {
        let [track] = tracks else {
            return Err(invalid(count, "needs exactly one track"));
        };
        let fourcc = track.fourcc.ok_or(invalid(count, "track has no FOURCC"))?;
        out.extend_from_slice(&fourcc.0);
        out.extend_from_slice(track.prefix);
        out.extend_from_slice(track.body);
        return Ok(());
    };
    if layout.0 > 0x0f {
        return Err(MediaError::FieldOutOfRange {
            field: "multitrack type",
            value: i64::from(layout.0),
        });
    }
    out.extend_from_slice(&[(layout.0 << 4) | (packet_type & 0x0f)]);
    if !layout.is_known() {
        let [track] = tracks else {
            return Err(invalid(count, "needs exactly one track"));
        };
        out.extend_from_slice(track.prefix);
        out.extend_from_slice(track.body);
        return Ok(());
    }
    let first = tracks.first().ok_or(invalid(0, "multitrack needs a track"))?;
    if layout == AvMultitrackType::ONE_TRACK && count != 1 {
        return Err(invalid(count, "OneTrack needs exactly one track"));
    }
    if layout != AvMultitrackType::MANY_TRACKS_MANY_CODECS {
        let shared = first.fourcc.ok_or(invalid(count, "track has no FOURCC"))?;
        if tracks.iter().any(|t| t.fourcc != Some(shared)) {
            return Err(invalid(count, "tracks of a single-codec layout differ in FOURCC"));
        }
        out.extend_from_slice(&shared.0);
    }
    for t in tracks {
        if layout == AvMultitrackType::MANY_TRACKS_MANY_CODECS {
            let fourcc = t.fourcc.ok_or(invalid(count, "track has no FOURCC"))?;
            out.extend_from_slice(&fourcc.0);
        }
        out.extend_from_slice(&[t.track_id]);
        if layout != AvMultitrackType::ONE_TRACK {
            put_u24(out, t.prefix.len() + t.body.len(), "track size")?;
        }
        out.extend_from_slice(t.prefix);
        out.extend_from_slice(t.body);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mod_ex_nano_and_unknown_types() {
        // Hand-made per E-RTMP v2: size-1 = 2, nano = 0x0f4240 (1 ms), type 0 / packet 1.
        let data = [2, 0x0f, 0x42, 0x40, 0x01];
        let mut c = Cursor::new(&data);
        assert_eq!(read_mod_ex(&mut c, MOD_EX).unwrap(), (1, Some(1_000_000)));
        // An unknown ModEx type (5) with 1 byte, then another ModEx with the UI16 size form.
        let mut data = vec![0, 0xaa, 0x57, 0xff, 0x00, 0x02];
        data.extend_from_slice(&[1, 2, 3, 0x02]);
        let mut c = Cursor::new(&data);
        assert_eq!(read_mod_ex(&mut c, MOD_EX).unwrap(), (2, Some(0x010203)));
        assert_eq!(c.remaining(), 0);
        let short = [0, 0xaa, 0x01];
        assert_eq!(
            read_mod_ex(&mut Cursor::new(&short), MOD_EX),
            Err(MediaError::ModExDataTooShort { mod_ex_type: 0, needed: 3, len: 1 })
        );
    }

    #[test]
    fn track_size_overrun() {
        // ManyTracks (1), CodedFrames (1), "Opus", track 3 declaring 5 bytes with 2 present.
        let data = [0x11, b'O', b'p', b'u', b's', 3, 0, 0, 5, 0xde, 0xad];
        let err = read_ex_tracks(&mut Cursor::new(&data), 5, 5).unwrap_err();
        assert_eq!(err, MediaError::TrackSizeOverrun { track_id: 3, size: 5, available: 2 });
    }

    #[test]
    fn nested_multitrack_rejected() {
        let data = [0x15, b'O', b'p', b'u', b's'];
        let err = read_ex_tracks(&mut Cursor::new(&data), 5, 5).unwrap_err();
        assert_eq!(err, MediaError::InvalidMultitrackPacketType { packet_type: 5 });
    }
}
