//! FLV files (FLV 10.1 §E.2 header, §E.3 body): a sans-IO [`FlvDecoder`] and
//! [`FlvEncoder`], and thin `std::io` wrappers [`FlvReader`] and [`FlvWriter`].
//!
//! The body alternates PreviousTagSize (UI32) and tags: `PreviousTagSize0 = 0`, then each
//! tag followed by its size (11 + DataSize). The decoder checks these sizes leniently: a
//! mismatch is counted, not fatal, because damaged or concatenated files are common and
//! the tags themselves carry their own length.

use bytes::{Bytes, BytesMut};

use crate::cursor::Cursor;
use crate::tag::{TagHeader, TagType, TAG_HEADER_LEN};
use crate::MediaError;

mod decoder;
mod encoder;
mod io;

pub use decoder::{FlvDecoder, DEFAULT_MAX_TAG_SIZE};
pub use encoder::FlvEncoder;
pub use io::{FlvReader, FlvWriter};

/// Length of the version-1 FLV header (§E.2).
pub const FLV_HEADER_LEN: usize = 9;

/// Largest `DataOffset` [`FlvHeader::write`] accepts: the 9 header bytes plus 64 KiB of
/// padding. A header parsed from a hostile file may declare up to 4 GiB, which the decoder
/// skips as it streams by but a writer should not reproduce.
pub const MAX_DATA_OFFSET: u32 = FLV_HEADER_LEN as u32 + 65_536;

/// The FLV file header (§E.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlvHeader {
    /// `Version` (1).
    pub version: u8,
    /// `TypeFlagsAudio`: audio tags are present.
    pub has_audio: bool,
    /// `TypeFlagsVideo`: video tags are present.
    pub has_video: bool,
    /// `DataOffset`: length of the header (9 for version 1); the decoder skips any extra.
    pub data_offset: u32,
}

impl FlvHeader {
    /// A version-1 header with the given flags.
    pub fn new(has_audio: bool, has_video: bool) -> Self {
        FlvHeader { version: 1, has_audio, has_video, data_offset: FLV_HEADER_LEN as u32 }
    }

    /// Parses the 9 header bytes at the start of `buf`. Reserved flag bits are ignored.
    pub fn parse(buf: &[u8]) -> Result<Self, MediaError> {
        let mut c = Cursor::new(buf);
        let signature = c.bytes4("FLV header")?;
        let [f, l, v, version] = signature;
        if [f, l, v] != *b"FLV" {
            return Err(MediaError::NotFlv { found: [f, l, v] });
        }
        let flags = c.u8("FLV header")?;
        let data_offset = c.u32("FLV header")?;
        if data_offset < FLV_HEADER_LEN as u32 {
            return Err(MediaError::DataOffsetTooSmall { offset: data_offset });
        }
        Ok(FlvHeader {
            version,
            has_audio: flags & 0x04 != 0,
            has_video: flags & 0x01 != 0,
            data_offset,
        })
    }

    /// Appends the 9 header bytes, then zero padding up to `data_offset` (at most
    /// [`MAX_DATA_OFFSET`]).
    pub fn write(&self, out: &mut BytesMut) -> Result<(), MediaError> {
        if self.data_offset < FLV_HEADER_LEN as u32 {
            return Err(MediaError::DataOffsetTooSmall { offset: self.data_offset });
        }
        if self.data_offset > MAX_DATA_OFFSET {
            return Err(MediaError::FieldOutOfRange {
                field: "DataOffset",
                value: i64::from(self.data_offset),
            });
        }
        let flags = (u8::from(self.has_audio) << 2) | u8::from(self.has_video);
        out.extend_from_slice(&[b'F', b'L', b'V', self.version, flags]);
        out.extend_from_slice(&self.data_offset.to_be_bytes());
        out.resize(out.len() + (self.data_offset as usize - FLV_HEADER_LEN), 0);
        Ok(())
    }
}

/// One FLV tag: the fields of its header that matter for media, and the payload (an RTMP
/// message body: audio/video tag header and data, or AMF0 script data).
///
/// The `Filter` bit and `StreamID` are not kept: the encoder writes 0 for both.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlvTag {
    /// `TagType` (8 audio, 9 video, 18 script data).
    pub tag_type: TagType,
    /// Timestamp in milliseconds (with TimestampExtended as the upper 8 bits).
    pub timestamp: u32,
    /// The tag data (DataSize bytes).
    pub data: Bytes,
}

impl FlvTag {
    /// The tag header this tag is written with.
    pub fn header(&self) -> Result<TagHeader, MediaError> {
        let data_size = u32::try_from(self.data.len())
            .ok()
            .filter(|n| *n <= crate::tag::MAX_TAG_DATA_SIZE)
            .ok_or(MediaError::FieldOutOfRange {
                field: "DataSize",
                value: self.data.len() as i64,
            })?;
        Ok(TagHeader {
            filter: false,
            tag_type: self.tag_type,
            data_size,
            timestamp: self.timestamp,
            stream_id: 0,
        })
    }

    /// The PreviousTagSize written after this tag: 11 + DataSize (§E.3).
    pub fn size(&self) -> usize {
        TAG_HEADER_LEN + self.data.len()
    }
}

#[cfg(test)]
mod tests;
