//! Media frames as the hub stores and delivers them.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use openrtmp_media::{
    audio_info, parse_audio, parse_video, video_info, AudioInfo, AudioTag, TagType, VideoInfo,
    VideoTag,
};

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

/// FLV 10.1 §E.4.1: the tag type of a frame is its RTMP message type (8, 9, 18).
impl From<FrameKind> for TagType {
    fn from(kind: FrameKind) -> TagType {
        match kind {
            FrameKind::Audio => TagType::AUDIO,
            FrameKind::Video => TagType::VIDEO,
            FrameKind::Data => TagType::SCRIPT,
        }
    }
}

/// What a sequence header says about its stream (codec, size, sample rate), parsed once
/// when the frame is classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodecInfo {
    /// From a video sequence header ([`openrtmp_media::video_info`]).
    Video(VideoInfo),
    /// From an audio sequence header ([`openrtmp_media::audio_info`]).
    Audio(AudioInfo),
}

/// One media message, stored once in a stream's ring and shared by every viewer: cloning a
/// `Frame` clones the `Bytes` handle (a refcount), never the payload.
///
/// Built with [`Frame::classify`], which parses the tag once for everything the hub and
/// its outputs need to know.
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
    /// For a sequence header whose codec configuration parses: what it says, shared by
    /// every clone (`None` for every other frame, so clones of media frames stay cheap).
    pub codec: Option<Arc<CodecInfo>>,
    /// A `sequence_header` that is an E-RTMP `Metadata` packet (colorInfo,
    /// MultichannelConfig) rather than codec configuration: cached in its own slot.
    description: bool,
    /// The frame as outputs write it ([`Frame::encoded`]), shared by every clone.
    encoded: Arc<OnceLock<Encoded>>,
}

/// A frame's bytes as an output writes them (for RTMP: chunk headers and payload pieces),
/// for one output `key` (for RTMP: chunk size and message stream id).
#[derive(Debug)]
struct Encoded {
    key: u64,
    parts: Vec<Bytes>,
}

/// Whether a video message is an Enhanced RTMP `Metadata` packet (colorInfo and the like).
fn is_video_metadata(tag: &openrtmp_media::VideoTag) -> bool {
    tag.tracks.iter().any(|t| t.kind == openrtmp_media::FrameKind::Metadata)
}

/// What [`Frame::classify`] learns from one parse.
#[derive(Default)]
struct Class {
    keyframe: bool,
    sequence_header: bool,
    description: bool,
    track: u8,
    codec: Option<Arc<CodecInfo>>,
}

impl Class {
    fn video(tag: &VideoTag) -> Class {
        let description = is_video_metadata(tag);
        let codec = video_info(tag).and_then(Result::ok).map(CodecInfo::Video);
        Class {
            keyframe: tag.is_keyframe(),
            sequence_header: tag.is_sequence_header() || description,
            description,
            track: tag.tracks.first().map_or(0, |t| t.track_id),
            codec: codec.map(Arc::new),
        }
    }

    fn audio(tag: &AudioTag) -> Class {
        // MultichannelConfig (E-RTMP v2) is configuration too: cache it.
        let description = tag.tracks.iter().any(|t| t.kind == openrtmp_media::FrameKind::Metadata);
        let sequence_header = tag.is_sequence_header() || description;
        // Legacy formats (MP3, PCM) describe themselves in every frame: only sequence
        // headers are read, once each.
        let codec = sequence_header
            .then(|| audio_info(tag).and_then(Result::ok).map(CodecInfo::Audio))
            .flatten();
        Class {
            keyframe: false,
            sequence_header,
            description,
            track: tag.tracks.first().map_or(0, |t| t.track_id),
            codec: codec.map(Arc::new),
        }
    }
}

impl Frame {
    /// Classifies a message with [`openrtmp_media::parse_video`] /
    /// [`openrtmp_media::parse_audio`], once: keyframe, sequence header, track and, for a
    /// sequence header, the codec information ([`Frame::codec`]). A payload that does not
    /// parse is relayed as a plain frame (not a keyframe, not a sequence header, track 0):
    /// the hub never refuses media it cannot read. Data frames are never sequence headers.
    pub fn classify(kind: FrameKind, timestamp: u32, payload: Bytes) -> Frame {
        let class = match kind {
            FrameKind::Video => parse_video(&payload).map(|t| Class::video(&t)).unwrap_or_default(),
            FrameKind::Audio => parse_audio(&payload).map(|t| Class::audio(&t)).unwrap_or_default(),
            FrameKind::Data => Class::default(),
        };
        Frame {
            kind,
            timestamp,
            payload,
            keyframe: class.keyframe,
            sequence_header: class.sequence_header,
            track: class.track,
            received: None,
            codec: class.codec,
            description: class.description,
            encoded: Arc::default(),
        }
    }

    /// Where a configuration frame is cached: kind (video first), track, then the
    /// sequence header before a description of the same track.
    pub(crate) fn header_rank(&self) -> (u8, u8, bool) {
        let kind = match self.kind {
            FrameKind::Video => 0,
            FrameKind::Audio => 1,
            FrameKind::Data => 2,
        };
        (kind, self.track, self.description)
    }

    /// Payload length in bytes (what memory accounting and byte budgets count).
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// The frame encoded for outputs of kind `key` (for RTMP players: chunk size and message
    /// stream id), encoded by the first output that asks and shared by every later one and
    /// every clone of the frame: the encoding of a stream's frames is paid once, not once per
    /// viewer. One key is kept per frame (the one most outputs use); an output with another
    /// key gets `None` and encodes for itself.
    pub fn encoded(&self, key: u64, encode: impl FnOnce(&Frame) -> Vec<Bytes>) -> Option<&[Bytes]> {
        let cached = self.encoded.get_or_init(|| Encoded { key, parts: encode(self) });
        (cached.key == key).then_some(cached.parts.as_slice())
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
    fn encoded_once_for_one_key_and_shared_by_clones() {
        let f = classify(FrameKind::Audio, &[0xAF, 0x01, 0x21]);
        let clone = f.clone();
        let mut calls = 0;
        let mut encode = |f: &Frame| {
            calls += 1;
            vec![f.payload.clone()]
        };
        assert_eq!(f.encoded(7, &mut encode).map(<[Bytes]>::len), Some(1));
        assert_eq!(clone.encoded(7, &mut encode).map(<[Bytes]>::len), Some(1));
        assert!(clone.encoded(8, &mut encode).is_none(), "another key encodes for itself");
        assert_eq!(calls, 1);
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
