//! FLV tags, Enhanced RTMP media headers, codec configuration records and FLV files.
//!
//! Specifications implemented:
//! - **FLV 10.1** (Adobe Flash Video File Format Specification 10.1), Annex E: the FLV
//!   header and body (§E.2, §E.3, [`flv_file`]), the tag header (§E.4.1, [`tag`]),
//!   AUDIODATA (§E.4.2, [`audio`]), VIDEODATA (§E.4.3, [`video`]) and SCRIPTDATA /
//!   onMetaData (§E.4.4, §E.5, [`script`]).
//! - **Enhanced RTMP v1** (ExVideoTagHeader, FOURCC video: HEVC, AV1, VP9) and
//!   **Enhanced RTMP v2** (ExAudioTagHeader, multitrack audio and video, ModEx,
//!   video Metadata and command frames) by Veovera, in [`audio`], [`video`] and [`track`].
//! - Codec configuration, for stream information ([`codec`]): ISO/IEC 14496-15
//!   AVCDecoderConfigurationRecord (§5.3.3) and HEVCDecoderConfigurationRecord (§8.3.3),
//!   H.265 SPS (§7.3.2.2), AV1 Codec ISOBMFF Binding `av1C` (§2.3) and the AV1 sequence
//!   header OBU (AV1 §5.5), VP Codec ISOBMFF Binding `vpcC` (§2.2) and the VP9 frame
//!   header, ISO/IEC 14496-3 AudioSpecificConfig (§1.6.2.1), RFC 7845 OpusHead (§5.1)
//!   and the FLAC STREAMINFO block.
//!
//! Media is parsed once and shared: parsers take `&bytes::Bytes` and return sub-slices
//! for bodies, never copies. Parsers never panic on input and never allocate from a
//! declared length before the bytes are there.
//!
//! ```
//! use bytes::Bytes;
//! use openrtmp_media::{parse_video, FourCc, FrameKind, VideoCodec};
//!
//! // An Enhanced RTMP HEVC key frame: IsExHeader | KeyFrame | CodedFrames, "hvc1",
//! // composition time 80 ms, then the NAL units.
//! let msg = Bytes::from_static(&[0x91, b'h', b'v', b'c', b'1', 0, 0, 80, 0, 0, 0, 1, 0x26]);
//! let tag = parse_video(&msg).unwrap();
//! assert!(tag.is_keyframe());
//! let track = &tag.tracks[0];
//! assert_eq!(track.codec, VideoCodec::FourCc(FourCc::HEVC));
//! assert_eq!((track.kind, track.composition_time), (FrameKind::Keyframe, 80));
//! assert_eq!(&track.body[..], &msg[8..]); // a slice of `msg`, not a copy
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

pub mod audio;
pub mod codec;
mod cursor;
mod error;
pub mod flv_file;
mod fourcc;
pub mod script;
pub mod tag;
pub mod track;
pub mod video;

pub use audio::{parse_audio, AudioCodec, AudioHeader, AudioTag, AudioTrack};
pub use codec::{audio_info, video_info, AudioInfo, VideoInfo};
pub use error::MediaError;
pub use flv_file::{FlvDecoder, FlvEncoder, FlvHeader, FlvReader, FlvTag, FlvWriter};
pub use fourcc::FourCc;
pub use script::ScriptData;
pub use tag::{TagHeader, TagType};
pub use track::{AvMultitrackType, FrameKind, Track};
pub use video::{parse_video, VideoCodec, VideoHeader, VideoTag, VideoTrack};
