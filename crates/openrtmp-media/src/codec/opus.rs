//! The Opus identification header `OpusHead` (RFC 7845 §5.1), the E-RTMP v2 Opus
//! sequence start.

use super::AudioInfo;
use crate::cursor::Cursor;
use crate::MediaError;

const HEAD: &str = "OpusHead";

/// The fields of an OpusHead. Multi-byte fields are little-endian on the wire (RFC 7845).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OpusHead {
    /// `Version`; only major version 0 (values 0-15) is understood.
    pub version: u8,
    /// `Output Channel Count` (at least 1).
    pub channel_count: u8,
    /// `Pre-skip`: 48 kHz samples to discard at the start.
    pub pre_skip: u16,
    /// `Input Sample Rate` (informational; Opus always decodes at 48 kHz).
    pub input_sample_rate: u32,
    /// `Output Gain`, Q7.8 dB.
    pub output_gain: i16,
    /// `Channel Mapping Family` (0 mono/stereo, 1 Vorbis order, 255 undefined).
    pub mapping_family: u8,
    /// `Stream Count`, `Coupled Count` and the `Channel Mapping`, for families other than 0.
    pub mapping: Option<(u8, u8, Vec<u8>)>,
}

impl OpusHead {
    /// Parses the header, which starts with the magic `"OpusHead"`.
    pub fn parse(data: &[u8]) -> Result<Self, MediaError> {
        let mut c = Cursor::new(data);
        let magic = c.take(8, HEAD)?;
        if magic != b"OpusHead" {
            return Err(MediaError::BadSignature { what: HEAD, found: magic.to_vec() });
        }
        let version = c.u8(HEAD)?;
        if version >> 4 != 0 {
            return Err(MediaError::UnsupportedVersion { record: HEAD, version });
        }
        let channel_count = c.u8(HEAD)?;
        if channel_count == 0 {
            return Err(MediaError::InvalidField {
                record: HEAD,
                field: "channel count",
                value: 0,
            });
        }
        let pre_skip = u16::from_le_bytes([c.u8(HEAD)?, c.u8(HEAD)?]);
        let input_sample_rate = u32::from_le_bytes(c.bytes4(HEAD)?);
        let output_gain = i16::from_le_bytes([c.u8(HEAD)?, c.u8(HEAD)?]);
        let mapping_family = c.u8(HEAD)?;
        let mapping = if mapping_family == 0 {
            None
        } else {
            let streams = c.u8(HEAD)?;
            let coupled = c.u8(HEAD)?;
            let table = c.take(usize::from(channel_count), "Opus channel mapping")?;
            Some((streams, coupled, table.to_vec()))
        };
        Ok(Self {
            version,
            channel_count,
            pre_skip,
            input_sample_rate,
            output_gain,
            mapping_family,
            mapping,
        })
    }

    /// Codec "Opus" at 48 kHz (the decoding rate) with the output channel count.
    pub fn info(&self) -> AudioInfo {
        AudioInfo {
            codec: "Opus".into(),
            sample_rate: 48_000,
            channels: self.channel_count,
            profile: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sequence start body of tests/fixtures/hevc_opus_ffmpeg9.flv (FFmpeg 9.0,
    /// libopus stereo): pre-skip 312, input rate 48000, family 0.
    const FFMPEG_HEAD: [u8; 19] = [
        b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd', 0x01, 0x02, 0x38, 0x01, 0x80, 0xbb, 0x00,
        0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn ffmpeg_head() {
        let h = OpusHead::parse(&FFMPEG_HEAD).unwrap();
        assert_eq!(
            h,
            OpusHead {
                version: 1,
                channel_count: 2,
                pre_skip: 312,
                input_sample_rate: 48_000,
                output_gain: 0,
                mapping_family: 0,
                mapping: None
            }
        );
        assert_eq!(h.info().channels, 2);
        for n in 0..FFMPEG_HEAD.len() {
            assert!(OpusHead::parse(&FFMPEG_HEAD[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn family_1_and_errors() {
        // Hand-made per RFC 7845 §5.1.1.2: 6 channels, family 1, 4 streams, 2 coupled.
        let mut h = FFMPEG_HEAD.to_vec();
        h[9] = 6;
        h[18] = 1;
        h.extend_from_slice(&[4, 2, 0, 4, 1, 2, 3, 5]);
        let head = OpusHead::parse(&h).unwrap();
        assert_eq!(head.mapping, Some((4, 2, vec![0, 4, 1, 2, 3, 5])));
        assert!(OpusHead::parse(&h[..h.len() - 1]).is_err());
        let mut bad = FFMPEG_HEAD;
        bad[0] = b'o';
        assert!(matches!(OpusHead::parse(&bad), Err(MediaError::BadSignature { .. })));
        let mut bad = FFMPEG_HEAD;
        bad[8] = 0x10;
        assert!(matches!(OpusHead::parse(&bad), Err(MediaError::UnsupportedVersion { .. })));
    }
}
