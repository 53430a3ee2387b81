//! Media frames as the hub stores and delivers them.

use bytes::Bytes;
use openrtmp_media::{parse_audio, parse_video};

/// The RTMP message type a frame came in as.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FrameKind {
    /// Audio message (type 8, FLV AUDIODATA).
    Audio,
    /// Video message (type 9, FLV VIDEODATA).
    Video,
    /// AMF0 data message (type 18): `onMetaData` (via [`crate::Publisher::set_metadata`]),
    /// `onCuePoint`, `onTextData` (via [`crate::Publisher::push`]).
    Data,
}

/// One media message, stored once in a stream's ring and shared by every viewer: cloning a
/// `Frame` clones the `Bytes` handle (a refcount), never the payload.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The message type.
    pub kind: FrameKind,
    /// The RTMP timestamp in ms as received. It wraps at 2^32: the hub only ever compares
    /// timestamps with `wrapping_sub`, and delivers them unchanged.
    pub timestamp: u32,
    /// The RTMP message body as received (audio/video tag data, AMF data).
    pub payload: Bytes,
    /// A video keyframe: a decoder can start here. Always false for audio and data (every
    /// coded audio frame is a random access point; the hub knows that from `kind`).
    pub keyframe: bool,
    /// Codec configuration (AVC/AAC sequence header, E-RTMP `SequenceStart`) or stream
    /// description sent once (E-RTMP video `Metadata` packets such as colorInfo/HDR and audio
    /// `MultichannelConfig`, sent by FFmpeg before the first keyframe): cached per (kind,
    /// track, which) for late joiners instead of being kept in the ring.
    pub sequence_header: bool,
    /// The E-RTMP track id (0 for a single-track stream; the first track of a multitrack
    /// message).
    pub track: u8,
    /// When the server received it, if the driver set it (the hub reads no clock): players'
    /// connections measure the distribution delay against it.
    pub received: Option<std::time::Instant>,
}

/// Whether a video message is an Enhanced RTMP `Metadata` packet (colorInfo and the like).
pub(crate) fn is_video_metadata(tag: &openrtmp_media::VideoTag) -> bool {
    tag.tracks.iter().any(|t| t.kind == openrtmp_media::FrameKind::Metadata)
}

impl Frame {
    /// Classifies a message with [`openrtmp_media::parse_video`] /
    /// [`openrtmp_media::parse_audio`]. A payload that does not parse is relayed as a plain
    /// frame (not a keyframe, not a sequence header, track 0): the hub never refuses media
    /// it cannot read. Data frames are never sequence headers.
    pub fn classify(kind: FrameKind, timestamp: u32, payload: Bytes) -> Frame {
        let (keyframe, sequence_header, track) = match kind {
            FrameKind::Video => match parse_video(&payload) {
                Ok(tag) => (
                    tag.is_keyframe(),
                    tag.is_sequence_header() || is_video_metadata(&tag),
                    tag.tracks.first().map_or(0, |t| t.track_id),
                ),
                Err(_) => (false, false, 0),
            },
            FrameKind::Audio => match parse_audio(&payload) {
                Ok(tag) => {
                    // MultichannelConfig (E-RTMP v2) is configuration too: cache it.
                    let config = tag.is_sequence_header()
                        || tag.tracks.iter().any(|t| t.kind == openrtmp_media::FrameKind::Metadata);
                    (false, config, tag.tracks.first().map_or(0, |t| t.track_id))
                }
                Err(_) => (false, false, 0),
            },
            FrameKind::Data => (false, false, 0),
        };
        Frame { kind, timestamp, payload, keyframe, sequence_header, track, received: None }
    }

    /// Payload length in bytes (what memory accounting and byte budgets count).
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// Whether the payload is empty (E-RTMP audio silence, for instance).
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(kind: FrameKind, bytes: &'static [u8]) -> Frame {
        Frame::classify(kind, 7, Bytes::from_static(bytes))
    }

    #[test]
    fn classifies_avc_and_aac() {
        let sh = classify(FrameKind::Video, &[0x17, 0x00, 0, 0, 0, 1, 0x64]);
        assert!(sh.sequence_header && !sh.keyframe);
        let key = classify(FrameKind::Video, &[0x17, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x65]);
        assert!(key.keyframe && !key.sequence_header);
        assert_eq!(key.timestamp, 7);
        let inter = classify(FrameKind::Video, &[0x27, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x41]);
        assert!(!inter.keyframe && !inter.sequence_header);
        let aac_sh = classify(FrameKind::Audio, &[0xAF, 0x00, 0x12, 0x10]);
        assert!(aac_sh.sequence_header && !aac_sh.keyframe);
        let aac = classify(FrameKind::Audio, &[0xAF, 0x01, 0x21]);
        assert!(!aac.sequence_header && !aac.keyframe);
    }

    #[test]
    fn multitrack_track_id() {
        // E-RTMP v2: IsExHeader | KeyFrame | Multitrack(6), OneTrack | CodedFramesX(3),
        // "avc1", track 2, body.
        let f = classify(FrameKind::Video, &[0x96, 0x03, b'a', b'v', b'c', b'1', 2, 0x65]);
        assert!(f.keyframe);
        assert_eq!(f.track, 2);
    }

    #[test]
    fn unparsable_and_data_are_plain() {
        for f in [
            classify(FrameKind::Video, &[]),
            classify(FrameKind::Video, &[0x17]),
            classify(FrameKind::Data, &[0x02, 0x00, 0x0a]),
        ] {
            assert!(!f.keyframe && !f.sequence_header);
            assert_eq!(f.track, 0);
        }
    }
}
