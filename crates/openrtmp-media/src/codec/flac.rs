//! The FLAC STREAMINFO metadata block (FLAC format, "METADATA_BLOCK_STREAMINFO"), the
//! E-RTMP v2 `fLaC` sequence start.

use super::bits::BitReader;
use super::AudioInfo;
use crate::cursor::Cursor;
use crate::MediaError;

const INFO: &str = "FLAC STREAMINFO";
/// Length of the STREAMINFO block body.
const STREAMINFO_LEN: usize = 34;

/// The fields of a STREAMINFO block used for stream information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlacStreamInfo {
    /// Minimum block size in samples.
    pub min_block_size: u16,
    /// Maximum block size in samples.
    pub max_block_size: u16,
    /// Sample rate in Hz (20 bits).
    pub sample_rate: u32,
    /// Number of channels (1-8).
    pub channels: u8,
    /// Bits per sample (4-32).
    pub bits_per_sample: u8,
    /// Total samples in the stream (36 bits, 0 = unknown).
    pub total_samples: u64,
}

impl FlacStreamInfo {
    /// Parses a sequence start body. E-RTMP v2 specifies the `"fLaC"` signature followed
    /// by the STREAMINFO metadata block (with its 4-byte block header); FFmpeg sends the
    /// bare 34-byte STREAMINFO body. Both are accepted.
    pub fn parse(data: &[u8]) -> Result<Self, MediaError> {
        let mut c = Cursor::new(data);
        if data.starts_with(b"fLaC") {
            c.take(4, INFO)?;
            let header = c.u8(INFO)?;
            let len = c.u24(INFO)? as usize;
            if header & 0x7f != 0 || len < STREAMINFO_LEN {
                return Err(MediaError::InvalidField {
                    record: INFO,
                    field: "metadata block header",
                    value: u64::from(header),
                });
            }
        }
        let body = c.take(STREAMINFO_LEN, INFO)?;
        let mut r = BitReader::new(body, INFO);
        let min_block_size = r.bits(16)? as u16;
        let max_block_size = r.bits(16)? as u16;
        r.skip(24 + 24)?; // min/max frame size
        let sample_rate = r.bits(20)?;
        let channels = r.bits_u8(3)? + 1;
        let bits_per_sample = r.bits_u8(5)? + 1;
        let total_samples = (u64::from(r.bits(4)?) << 32) | u64::from(r.bits(32)?);
        Ok(Self {
            min_block_size,
            max_block_size,
            sample_rate,
            channels,
            bits_per_sample,
            total_samples,
        })
    }

    /// Codec "FLAC" with the rate and channel count.
    pub fn info(&self) -> AudioInfo {
        AudioInfo {
            codec: "FLAC".into(),
            sample_rate: self.sample_rate,
            channels: self.channels,
            profile: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sequence start body of tests/fixtures/vp9_flac_ffmpeg9.flv (FFmpeg 9.0 flac,
    /// 48 kHz mono 16-bit): a bare STREAMINFO.
    const FFMPEG_STREAMINFO: [u8; 34] = [
        0x04, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x15, 0x0b, 0xb8, 0x00, 0xf0, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn ffmpeg_bare_and_signed_forms() {
        let info = FlacStreamInfo::parse(&FFMPEG_STREAMINFO).unwrap();
        assert_eq!((info.sample_rate, info.channels, info.bits_per_sample), (48_000, 1, 16));
        assert_eq!(info.max_block_size, 1024);
        let mut signed = b"fLaC".to_vec();
        signed.extend_from_slice(&[0x80, 0, 0, 34]);
        signed.extend_from_slice(&FFMPEG_STREAMINFO);
        assert_eq!(FlacStreamInfo::parse(&signed).unwrap(), info);
        for n in 0..signed.len() {
            assert!(FlacStreamInfo::parse(&signed[..n]).is_err(), "{n}");
        }
        signed[4] = 0x84; // block type 4 (VORBIS_COMMENT) instead of STREAMINFO
        assert!(matches!(FlacStreamInfo::parse(&signed), Err(MediaError::InvalidField { .. })));
    }
}
