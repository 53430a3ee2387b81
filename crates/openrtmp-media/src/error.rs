//! The error type of the media layer.

/// Every way parsing or writing media can fail.
///
/// Variants carry the offending values so tests can `assert_eq!` them. None of them is
/// fatal to an RTMP connection on its own: the server relays media it cannot parse, so a
/// caller usually logs a `MediaError` at debug level and forwards the message untouched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The input ended before a field was complete.
    #[error("truncated {what}: needs {needed} bytes, {available} available")]
    Truncated {
        /// The structure or field being read.
        what: &'static str,
        /// Bytes the field needs (from the current position).
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A multitrack `sizeOfVideoTrack` / `sizeOfAudioTrack` runs past the message.
    #[error("track {track_id} declares {size} bytes but only {available} remain")]
    TrackSizeOverrun {
        /// The track whose size is wrong.
        track_id: u8,
        /// The declared size.
        size: usize,
        /// Bytes left in the message.
        available: usize,
    },
    /// A multitrack packet announced a per-track packet type that may not appear there
    /// (Multitrack or ModEx, E-RTMP v2 "Enhanced Video"/"Enhanced Audio").
    #[error("packet type {packet_type} is not allowed inside a multitrack packet")]
    InvalidMultitrackPacketType {
        /// The offending packet type.
        packet_type: u8,
    },
    /// A ModEx block is too short for its type (TimestampOffsetNano needs 3 bytes).
    #[error("ModEx type {mod_ex_type} needs {needed} data bytes, got {len}")]
    ModExDataTooShort {
        /// The AudioPacketModExType / VideoPacketModExType.
        mod_ex_type: u8,
        /// Bytes the type needs.
        needed: usize,
        /// Bytes present.
        len: usize,
    },
    /// A value given to a writer does not fit its wire field.
    #[error("{field} = {value} does not fit its wire field")]
    FieldOutOfRange {
        /// The field name.
        field: &'static str,
        /// The value that was given.
        value: i64,
    },
    /// A tag given to a writer has a track list its header cannot express.
    #[error("cannot write {count} tracks with this header: {reason}")]
    InvalidTrackList {
        /// Number of tracks given.
        count: usize,
        /// Why they cannot be written.
        reason: &'static str,
    },
    /// A codec configuration record has a version this crate does not understand.
    #[error("unsupported {record} version {version}")]
    UnsupportedVersion {
        /// The record, e.g. `"HEVCDecoderConfigurationRecord"`.
        record: &'static str,
        /// The version found.
        version: u8,
    },
    /// A field of a codec record or bitstream holds a value the spec forbids.
    #[error("{record}: invalid {field} {value}")]
    InvalidField {
        /// The record or bitstream structure.
        record: &'static str,
        /// The field.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// A codec record lacks something needed to describe the stream.
    #[error("{record} carries no {what}")]
    Missing {
        /// The record.
        record: &'static str,
        /// What was looked for, e.g. `"SPS"`.
        what: &'static str,
    },
    /// The H.264 SPS could not be parsed by `h264-reader`.
    #[error("H.264 SPS: {reason}")]
    H264Sps {
        /// The reader's description of the problem.
        reason: String,
    },
    /// A magic signature did not match.
    #[error("bad {what} signature {found:02x?}")]
    BadSignature {
        /// The structure, e.g. `"OpusHead"`.
        what: &'static str,
        /// The bytes found in place of the signature.
        found: Vec<u8>,
    },
    /// A sequence header of a codec this crate has no parser for.
    #[error("no stream-info parser for codec {codec}")]
    UnsupportedCodec {
        /// The codec (FourCC text or legacy id).
        codec: String,
    },
    /// An AMF0 script payload could not be decoded.
    #[error("script data: {0}")]
    Amf(#[from] openrtmp_amf::AmfError),
    /// A script payload decoded but does not have the SCRIPTDATA shape (§E.4.4.1: a name
    /// string, then the values).
    #[error("script data: {reason}")]
    InvalidScriptData {
        /// What is wrong.
        reason: &'static str,
    },
    /// The input does not start with the FLV signature (FLV 10.1 §E.2).
    #[error("not an FLV file: signature {found:02x?}")]
    NotFlv {
        /// The first three bytes.
        found: [u8; 3],
    },
    /// The FLV header's DataOffset is smaller than the header itself (§E.2).
    #[error("FLV DataOffset {offset} is smaller than the 9-byte header")]
    DataOffsetTooSmall {
        /// The DataOffset found.
        offset: u32,
    },
    /// A tag (or header padding) is larger than the decoder is configured to buffer.
    #[error("FLV tag of {size} bytes exceeds the limit of {limit}")]
    TagTooLarge {
        /// The size the tag would occupy (header + data).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The FLV input ended in the middle of a structure.
    #[error("FLV input ends inside a {what} ({buffered} bytes buffered)")]
    TruncatedFile {
        /// The structure being read.
        what: &'static str,
        /// Bytes that were buffered.
        buffered: usize,
    },
    /// An I/O error from the `std::io` wrappers (kind and message, so the error stays `Eq`).
    #[error("I/O error ({kind:?}): {message}")]
    Io {
        /// The error kind.
        kind: std::io::ErrorKind,
        /// The error's message.
        message: String,
    },
}

impl From<std::io::Error> for MediaError {
    fn from(e: std::io::Error) -> Self {
        MediaError::Io { kind: e.kind(), message: e.to_string() }
    }
}
