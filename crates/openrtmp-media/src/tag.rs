//! The FLV tag header (FLV 10.1 §E.4.1). Its fields match the RTMP message header
//! (E-RTMP v2 "FLV File Format Overview": TagType equals the RTMP message type id).

use bytes::BytesMut;

use crate::cursor::{put_u24, Cursor};
use crate::MediaError;

/// Length of an FLV tag header in bytes (§E.4.1: 1 + 3 + 3 + 1 + 3).
pub const TAG_HEADER_LEN: usize = 11;

/// Largest DataSize an FLV tag header can express (UI24).
pub const MAX_TAG_DATA_SIZE: u32 = (1 << 24) - 1;

/// The FLV `TagType` (`UB[5]`, §E.4.1), equal to the RTMP message type id of the payload.
/// Unknown values pass through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagType(pub u8);

impl TagType {
    /// 8 = audio.
    pub const AUDIO: TagType = TagType(8);
    /// 9 = video.
    pub const VIDEO: TagType = TagType(9);
    /// 18 = script data (AMF0 data message).
    pub const SCRIPT: TagType = TagType(18);
}

/// An FLV tag header (§E.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagHeader {
    /// `Filter` (`UB[1]`): 1 when the payload is encrypted (Annex F). Unencrypted files use 0.
    pub filter: bool,
    /// `TagType` (`UB[5]`); values above 31 cannot be written.
    pub tag_type: TagType,
    /// `DataSize` (UI24): bytes after the header, excluding the PreviousTagSize that follows.
    pub data_size: u32,
    /// `Timestamp` (UI24) with `TimestampExtended` (UI8) as its upper 8 bits, in ms.
    pub timestamp: u32,
    /// `StreamID` (UI24), "always 0".
    pub stream_id: u32,
}

impl TagHeader {
    /// Parses the 11-byte header at the start of `buf`. The two reserved bits are ignored.
    pub fn parse(buf: &[u8]) -> Result<TagHeader, MediaError> {
        let Some((&b, rest)) = buf.split_first().filter(|_| buf.len() >= TAG_HEADER_LEN) else {
            return Err(MediaError::Truncated {
                what: "FLV tag header",
                needed: TAG_HEADER_LEN,
                available: buf.len(),
            });
        };
        let mut c = Cursor::new(rest);
        let data_size = c.u24("DataSize")?;
        let low = c.u24("Timestamp")?;
        let ext = c.u8("TimestampExtended")?;
        let stream_id = c.u24("StreamID")?;
        Ok(TagHeader {
            filter: b & 0x20 != 0,
            tag_type: TagType(b & 0x1f),
            data_size,
            timestamp: (u32::from(ext) << 24) | low,
            stream_id,
        })
    }

    /// Appends the 11-byte header to `out`. Fails when a field does not fit its width.
    pub fn write(&self, out: &mut BytesMut) -> Result<(), MediaError> {
        if self.tag_type.0 > 0x1f {
            return Err(MediaError::FieldOutOfRange {
                field: "TagType",
                value: i64::from(self.tag_type.0),
            });
        }
        let first = (u8::from(self.filter) << 5) | self.tag_type.0;
        let mut buf = BytesMut::with_capacity(TAG_HEADER_LEN);
        buf.extend_from_slice(&[first]);
        put_u24(&mut buf, self.data_size as usize, "DataSize")?;
        let [ext, a, b, c] = self.timestamp.to_be_bytes();
        buf.extend_from_slice(&[a, b, c, ext]);
        put_u24(&mut buf, self.stream_id as usize, "StreamID")?;
        out.extend_from_slice(&buf);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The first tag header of tests/fixtures/h264_aac_ffmpeg5.flv (onMetaData, 268 bytes),
    /// as written by FFmpeg 5.1.
    const FFMPEG_SCRIPT_HEADER: [u8; 11] = [0x12, 0, 0x01, 0x0c, 0, 0, 0, 0, 0, 0, 0];

    #[test]
    fn golden_ffmpeg_header() {
        let h = TagHeader::parse(&FFMPEG_SCRIPT_HEADER).unwrap();
        assert_eq!(
            h,
            TagHeader {
                filter: false,
                tag_type: TagType::SCRIPT,
                data_size: 268,
                timestamp: 0,
                stream_id: 0
            }
        );
        let mut out = BytesMut::new();
        h.write(&mut out).unwrap();
        assert_eq!(&out[..], &FFMPEG_SCRIPT_HEADER);
    }

    #[test]
    fn extended_timestamp_is_the_upper_byte() {
        // Hand-made per §E.4.1: Timestamp 0x345678, TimestampExtended 0x12, filter set.
        let raw = [0x29, 0, 0, 5, 0x34, 0x56, 0x78, 0x12, 0, 0, 1];
        let h = TagHeader::parse(&raw).unwrap();
        assert_eq!(h.timestamp, 0x1234_5678);
        assert!(h.filter);
        assert_eq!(h.tag_type, TagType::VIDEO);
        assert_eq!(h.stream_id, 1);
        let mut out = BytesMut::new();
        h.write(&mut out).unwrap();
        assert_eq!(&out[..], &raw);
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..TAG_HEADER_LEN {
            assert_eq!(
                TagHeader::parse(&FFMPEG_SCRIPT_HEADER[..n]),
                Err(MediaError::Truncated { what: "FLV tag header", needed: 11, available: n })
            );
        }
    }

    #[test]
    fn write_rejects_out_of_range() {
        let mut h = TagHeader::parse(&FFMPEG_SCRIPT_HEADER).unwrap();
        h.data_size = 1 << 24;
        let mut out = BytesMut::new();
        assert!(matches!(h.write(&mut out), Err(MediaError::FieldOutOfRange { .. })));
        h.data_size = 0;
        h.tag_type = TagType(32);
        assert!(h.write(&mut out).is_err());
        assert!(out.is_empty());
    }

    proptest! {
        #[test]
        fn round_trip(filter: bool, tag_type in 0u8..32, data_size in 0u32..(1 << 24),
                      timestamp: u32, stream_id in 0u32..(1 << 24)) {
            let h = TagHeader { filter, tag_type: TagType(tag_type), data_size, timestamp, stream_id };
            let mut out = BytesMut::new();
            h.write(&mut out).unwrap();
            prop_assert_eq!(out.len(), TAG_HEADER_LEN);
            prop_assert_eq!(TagHeader::parse(&out).unwrap(), h);
        }
    }
}
