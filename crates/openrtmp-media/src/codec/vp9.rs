//! VP9: the VPCodecConfigurationRecord (`vpcC`, VP Codec ISO Media File Format Binding
//! §2.2) sent as the E-RTMP sequence start, and the frame size from a key frame's
//! uncompressed header (VP9 Bitstream §6.2), since `vpcC` carries no size.

use super::bits::BitReader;
use super::VideoInfo;
use crate::cursor::Cursor;
use crate::MediaError;

const RECORD: &str = "VPCodecConfigurationRecord";
const FRAME: &str = "VP9 uncompressed header";

/// The fields of a `vpcC` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VpCodecConfigurationRecord {
    /// `profile` (0-3).
    pub profile: u8,
    /// `level`: 10 times the level number (e.g. 31 = level 3.1).
    pub level: u8,
    /// `bitDepth` (8, 10, 12).
    pub bit_depth: u8,
    /// `chromaSubsampling` (0/1: 4:2:0, 2: 4:2:2, 3: 4:4:4).
    pub chroma_subsampling: u8,
    /// `videoFullRangeFlag`.
    pub video_full_range: bool,
    /// `colourPrimaries` (ISO/IEC 23001-8).
    pub colour_primaries: u8,
    /// `transferCharacteristics`.
    pub transfer_characteristics: u8,
    /// `matrixCoefficients`.
    pub matrix_coefficients: u8,
}

impl VpCodecConfigurationRecord {
    /// Parses the record, with or without the 4-byte FullBox version/flags that FFmpeg
    /// writes in front of it. The two are told apart by the bit depth: a record starting
    /// `01 00 00 00` would have bit depth 0, which is invalid, so it must be a FullBox
    /// header (version 1, flags 0).
    pub fn parse(data: &[u8]) -> Result<Self, MediaError> {
        let data = match data {
            [1, 0, 0, 0, rest @ ..] => rest,
            _ => data,
        };
        let mut c = Cursor::new(data);
        let profile = c.u8(RECORD)?;
        let level = c.u8(RECORD)?;
        let b = c.u8(RECORD)?;
        let colour_primaries = c.u8(RECORD)?;
        let transfer_characteristics = c.u8(RECORD)?;
        let matrix_coefficients = c.u8(RECORD)?;
        Ok(Self {
            profile,
            level,
            bit_depth: b >> 4,
            chroma_subsampling: (b >> 1) & 0x07,
            video_full_range: b & 1 != 0,
            colour_primaries,
            transfer_characteristics,
            matrix_coefficients,
        })
    }

    /// Profile, level and codec; the size is not in the record (see [`keyframe_size`]).
    pub fn info(&self) -> VideoInfo {
        VideoInfo {
            codec: "VP9".into(),
            width: None,
            height: None,
            profile: Some(format!("Profile {}", self.profile)),
            level: Some(format!("{}.{}", self.level / 10, self.level % 10)),
        }
    }
}

/// The frame size of a VP9 key frame (VP9 §6.2 uncompressed_header, frame_size()), or
/// `None` for an inter frame or a shown existing frame. For a superframe this reads the
/// first frame, which starts at the beginning of the data.
pub fn keyframe_size(frame: &[u8]) -> Result<Option<(u32, u32)>, MediaError> {
    let mut r = BitReader::new(frame, FRAME);
    let marker = r.bits(2)?;
    if marker != 2 {
        return Err(MediaError::InvalidField {
            record: FRAME,
            field: "frame_marker",
            value: u64::from(marker),
        });
    }
    let low = r.bits(1)?;
    let profile = (r.bits(1)? << 1) | low;
    if profile == 3 {
        r.skip(1)?; // reserved_zero
    }
    if r.bit()? {
        return Ok(None); // show_existing_frame
    }
    let key_frame = !r.bit()?;
    if !key_frame {
        return Ok(None);
    }
    r.skip(2)?; // show_frame, error_resilient_mode
    let sync = r.bits(24)?;
    if sync != 0x49_83_42 {
        return Err(MediaError::InvalidField {
            record: FRAME,
            field: "frame_sync_code",
            value: u64::from(sync),
        });
    }
    // color_config() (§6.2.2)
    if profile >= 2 {
        r.skip(1)?; // ten_or_twelve_bit
    }
    let color_space = r.bits(3)?;
    let odd_profile = profile == 1 || profile == 3;
    if color_space != 7 {
        r.skip(1)?; // color_range
        if odd_profile {
            r.skip(3)?; // subsampling_x, subsampling_y, reserved_zero
        }
    } else if odd_profile {
        r.skip(1)?; // reserved_zero
    }
    let width = r.bits(16)? + 1;
    let height = r.bits(16)? + 1;
    Ok(Some((width, height)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vpcC of tests/fixtures/vp9_flac_ffmpeg9.flv (FFmpeg 9.0, libvpx-vp9), with
    /// FFmpeg's FullBox version 1 and flags 0 in front.
    const FFMPEG_VPCC: [u8; 12] =
        [0x01, 0x00, 0x00, 0x00, 0x00, 0x14, 0x82, 0x02, 0x02, 0x02, 0x00, 0x00];
    /// The first 10 bytes of the first key frame of the same file (320x240).
    const FFMPEG_KEYFRAME: [u8; 10] = [0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf6, 0x1a];

    #[test]
    fn ffmpeg_record_with_and_without_full_box() {
        let rec = VpCodecConfigurationRecord::parse(&FFMPEG_VPCC).unwrap();
        assert_eq!((rec.profile, rec.level, rec.bit_depth, rec.chroma_subsampling), (0, 20, 8, 1));
        assert_eq!(VpCodecConfigurationRecord::parse(&FFMPEG_VPCC[4..]).unwrap(), rec);
        let info = rec.info();
        assert_eq!(info.level.as_deref(), Some("2.0"));
        assert_eq!(info.width, None);
        for n in 0..6 {
            assert!(VpCodecConfigurationRecord::parse(&FFMPEG_VPCC[4..4 + n]).is_err());
        }
    }

    #[test]
    fn key_frame_size() {
        assert_eq!(keyframe_size(&FFMPEG_KEYFRAME).unwrap(), Some((320, 240)));
        // The size ends in the 9th byte.
        for n in 0..9 {
            assert!(keyframe_size(&FFMPEG_KEYFRAME[..n]).is_err(), "{n}");
        }
        // Hand-made inter frame header: marker 2, profile 0, not shown-existing, inter.
        assert_eq!(keyframe_size(&[0b1000_0100]).unwrap(), None);
        assert!(keyframe_size(&[0x00]).is_err());
    }
}
