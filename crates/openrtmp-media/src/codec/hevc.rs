//! HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1) and the picture size from
//! its SPS (H.265 §7.3.2.2.1 with profile_tier_level §7.3.3), read with the bit reader
//! of this crate.

use super::bits::BitReader;
use super::VideoInfo;
use crate::cursor::Cursor;
use crate::MediaError;

const RECORD: &str = "HEVCDecoderConfigurationRecord";
const SPS: &str = "HEVC SPS";
/// nal_unit_type SPS_NUT (H.265 Table 7-1).
pub const NAL_SPS: u8 = 33;

/// One `NAL_unit_type` array of the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NalArray<'a> {
    /// `array_completeness`.
    pub complete: bool,
    /// `NAL_unit_type` (32 VPS, 33 SPS, 34 PPS, 39/40 SEI).
    pub nal_unit_type: u8,
    /// The NAL units, each with its 2-byte NAL header.
    pub nalus: Vec<&'a [u8]>,
}

/// The fields of an HEVCDecoderConfigurationRecord.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcDecoderConfigurationRecord<'a> {
    /// `general_profile_space` (2 bits).
    pub general_profile_space: u8,
    /// `general_tier_flag`: high tier when set.
    pub general_tier_flag: bool,
    /// `general_profile_idc` (1 Main, 2 Main 10, 3 Main Still Picture, 4 RExt...).
    pub general_profile_idc: u8,
    /// `general_profile_compatibility_flags`.
    pub general_profile_compatibility_flags: u32,
    /// `general_constraint_indicator_flags` (48 bits).
    pub general_constraint_indicator_flags: u64,
    /// `general_level_idc`: 30 times the level number.
    pub general_level_idc: u8,
    /// `chroma_format_idc`.
    pub chroma_format_idc: u8,
    /// `bitDepthLumaMinus8 + 8`.
    pub bit_depth_luma: u8,
    /// `bitDepthChromaMinus8 + 8`.
    pub bit_depth_chroma: u8,
    /// `lengthSizeMinusOne`: NALU length prefix size in coded frames, minus one.
    pub length_size_minus_one: u8,
    /// The parameter set and SEI arrays.
    pub arrays: Vec<NalArray<'a>>,
}

impl<'a> HevcDecoderConfigurationRecord<'a> {
    /// Parses the record. `configurationVersion` must be 1.
    pub fn parse(data: &'a [u8]) -> Result<Self, MediaError> {
        let mut c = Cursor::new(data);
        let version = c.u8(RECORD)?;
        if version != 1 {
            return Err(MediaError::UnsupportedVersion { record: RECORD, version });
        }
        let b = c.u8(RECORD)?;
        let general_profile_compatibility_flags = c.u32(RECORD)?;
        let hi = u64::from(c.u16(RECORD)?);
        let general_constraint_indicator_flags = (hi << 32) | u64::from(c.u32(RECORD)?);
        let general_level_idc = c.u8(RECORD)?;
        c.take(3, RECORD)?; // min_spatial_segmentation_idc, parallelismType
        let chroma_format_idc = c.u8(RECORD)? & 0x03;
        let bit_depth_luma = (c.u8(RECORD)? & 0x07) + 8;
        let bit_depth_chroma = (c.u8(RECORD)? & 0x07) + 8;
        c.take(2, RECORD)?; // avgFrameRate
        let length_size_minus_one = c.u8(RECORD)? & 0x03;
        let num_arrays = c.u8(RECORD)?;
        let mut arrays = Vec::new();
        for _ in 0..num_arrays {
            let t = c.u8("NAL array")?;
            let count = c.u16("NAL array")?;
            let mut nalus = Vec::new();
            for _ in 0..count {
                let len = c.u16("NAL unit length")?;
                nalus.push(c.take(usize::from(len), "NAL unit")?);
            }
            arrays.push(NalArray { complete: t & 0x80 != 0, nal_unit_type: t & 0x3f, nalus });
        }
        Ok(Self {
            general_profile_space: b >> 6,
            general_tier_flag: b & 0x20 != 0,
            general_profile_idc: b & 0x1f,
            general_profile_compatibility_flags,
            general_constraint_indicator_flags,
            general_level_idc,
            chroma_format_idc,
            bit_depth_luma,
            bit_depth_chroma,
            length_size_minus_one,
            arrays,
        })
    }

    /// The first SPS NAL unit.
    pub fn sps(&self) -> Option<&'a [u8]> {
        self.arrays
            .iter()
            .filter(|a| a.nal_unit_type == NAL_SPS)
            .flat_map(|a| a.nalus.iter().copied())
            .next()
    }

    /// Profile, tier and level from the record; picture size from the first SPS.
    pub fn info(&self) -> Result<VideoInfo, MediaError> {
        let nal = self.sps().ok_or(MediaError::Missing { record: RECORD, what: "SPS" })?;
        let sps = HevcSps::parse(nal)?;
        Ok(VideoInfo {
            codec: "HEVC".into(),
            width: Some(sps.width),
            height: Some(sps.height),
            profile: Some(profile_name(self.general_profile_idc)),
            level: Some(level_name(self.general_level_idc, self.general_tier_flag)),
        })
    }
}

/// HEVC profile name (H.265 Annex A) for general_profile_idc.
pub fn profile_name(idc: u8) -> String {
    match idc {
        1 => "Main".into(),
        2 => "Main 10".into(),
        3 => "Main Still Picture".into(),
        4 => "Range Extensions".into(),
        5 => "High Throughput".into(),
        9 => "Screen Content Coding".into(),
        other => format!("Profile {other}"),
    }
}

/// HEVC level name: general_level_idc is 30 times the level ("4.1" for 123), with the
/// tier appended when it is High.
pub fn level_name(idc: u8, high_tier: bool) -> String {
    let level = format!("{}.{}", idc / 30, (idc % 30) / 3);
    if high_tier {
        format!("{level} High tier")
    } else {
        level
    }
}

/// The start of an H.265 sequence parameter set, up to the bit depths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HevcSps {
    /// `general_profile_idc` from profile_tier_level.
    pub general_profile_idc: u8,
    /// `general_tier_flag`.
    pub general_tier_flag: bool,
    /// `general_level_idc`.
    pub general_level_idc: u8,
    /// `chroma_format_idc` (0 mono, 1 4:2:0, 2 4:2:2, 3 4:4:4).
    pub chroma_format_idc: u8,
    /// Width in luma samples after the conformance window.
    pub width: u32,
    /// Height in luma samples after the conformance window.
    pub height: u32,
    /// `bit_depth_luma_minus8 + 8`.
    pub bit_depth_luma: u32,
}

impl HevcSps {
    /// Parses an SPS NAL unit, including its 2-byte NAL header.
    pub fn parse(nal: &[u8]) -> Result<Self, MediaError> {
        let mut c = Cursor::new(nal);
        let nal_type = (c.u8(SPS)? >> 1) & 0x3f;
        c.u8(SPS)?;
        if nal_type != NAL_SPS {
            return Err(MediaError::InvalidField {
                record: SPS,
                field: "nal_unit_type",
                value: u64::from(nal_type),
            });
        }
        let mut r = BitReader::rbsp(c.rest(), SPS);
        r.skip(4)?; // sps_video_parameter_set_id
        let max_sub_layers_minus1 = r.bits(3)?;
        r.skip(1)?; // sps_temporal_id_nesting_flag
        let (general_profile_idc, general_tier_flag, general_level_idc) =
            profile_tier_level(&mut r, max_sub_layers_minus1)?;
        r.ue("sps_seq_parameter_set_id")?;
        let chroma_format_idc = r.ue("chroma_format_idc")?;
        if chroma_format_idc > 3 {
            return Err(MediaError::InvalidField {
                record: SPS,
                field: "chroma_format_idc",
                value: u64::from(chroma_format_idc),
            });
        }
        let separate_colour_plane = chroma_format_idc == 3 && r.bit()?;
        let pic_width = r.ue("pic_width_in_luma_samples")?;
        let pic_height = r.ue("pic_height_in_luma_samples")?;
        let mut window = [0u32; 4];
        if r.bit()? {
            for w in &mut window {
                *w = r.ue("conf_win_offset")?;
            }
        }
        let bit_depth_luma = r.ue("bit_depth_luma_minus8")?.saturating_add(8);
        // SubWidthC / SubHeightC (H.265 Table 6-1); ChromaArrayType 0 when planes are coded
        // separately.
        let (sub_w, sub_h) = match (chroma_format_idc, separate_colour_plane) {
            (1, false) => (2, 2),
            (2, false) => (2, 1),
            _ => (1, 1),
        };
        let [left, right, top, bottom] = window.map(u64::from);
        let width = crop(pic_width, sub_w * (left + right), "conf_win_left/right_offset")?;
        let height = crop(pic_height, sub_h * (top + bottom), "conf_win_top/bottom_offset")?;
        Ok(HevcSps {
            general_profile_idc,
            general_tier_flag,
            general_level_idc,
            chroma_format_idc: chroma_format_idc as u8,
            width,
            height,
            bit_depth_luma,
        })
    }
}

fn crop(size: u32, by: u64, field: &'static str) -> Result<u32, MediaError> {
    u64::from(size)
        .checked_sub(by)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or(MediaError::InvalidField { record: SPS, field, value: by })
}

/// profile_tier_level(1, maxNumSubLayersMinus1) (H.265 §7.3.3); returns the general
/// profile_idc, tier flag and level_idc.
fn profile_tier_level(
    r: &mut BitReader<'_>,
    max_sub_layers_minus1: u32,
) -> Result<(u8, bool, u8), MediaError> {
    r.skip(2)?; // general_profile_space
    let tier = r.bit()?;
    let profile_idc = r.bits_u8(5)?;
    // compatibility flags (32), 4 source flags, 43 constraint bits, 1 inbld/reserved bit.
    r.skip(32 + 4 + 43 + 1)?;
    let level_idc = r.bits_u8(8)?;
    let mut present = [(false, false); 8];
    for p in present.iter_mut().take(max_sub_layers_minus1 as usize) {
        *p = (r.bit()?, r.bit()?);
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1))?; // reserved_zero_2bits
    }
    for (profile_present, level_present) in present.iter().take(max_sub_layers_minus1 as usize) {
        if *profile_present {
            r.skip(88)?;
        }
        if *level_present {
            r.skip(8)?;
        }
    }
    Ok((profile_idc, tier, level_idc))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The VPS and SPS arrays of the HEVCDecoderConfigurationRecord in
    /// tests/fixtures/hevc_opus_ffmpeg9.flv (FFmpeg 9.0, libx265, 320x180 so the SPS has a
    /// conformance window: 184 -> 180 lines). The PPS and SEI arrays are dropped and
    /// numOfArrays is 2.
    const X265_HVCC: [u8; 100] = [
        0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0, 0x00,
        0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x02, 0x20, 0x00, 0x01, 0x00, 0x18, 0x40, 0x01,
        0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00,
        0x00, 0x03, 0x00, 0x3c, 0x95, 0x98, 0x09, 0x21, 0x00, 0x01, 0x00, 0x2b, 0x42, 0x01, 0x01,
        0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c,
        0xa0, 0x0a, 0x08, 0x0b, 0x9f, 0x79, 0x65, 0x66, 0x92, 0x4c, 0xaf, 0x01, 0x68, 0x08, 0x00,
        0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x40,
    ];

    #[test]
    fn x265_record_and_sps() {
        let rec = HevcDecoderConfigurationRecord::parse(&X265_HVCC).unwrap();
        assert_eq!(rec.general_profile_idc, 1);
        assert_eq!(rec.general_level_idc, 60);
        assert_eq!(rec.arrays.len(), 2);
        let sps = HevcSps::parse(rec.sps().unwrap()).unwrap();
        assert_eq!((sps.width, sps.height, sps.chroma_format_idc), (320, 180, 1));
        assert_eq!((sps.general_profile_idc, sps.general_level_idc), (1, 60));
        let info = rec.info().unwrap();
        assert_eq!(info.profile.as_deref(), Some("Main"));
        assert_eq!(info.level.as_deref(), Some("2.0"));
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..X265_HVCC.len() {
            assert!(HevcDecoderConfigurationRecord::parse(&X265_HVCC[..n]).is_err(), "{n}");
        }
        let rec = HevcDecoderConfigurationRecord::parse(&X265_HVCC).unwrap();
        let sps = rec.sps().unwrap();
        // The SPS is read up to bit_depth_luma; any cut before that must fail.
        for n in 0..20 {
            assert!(HevcSps::parse(&sps[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn sub_layers_and_bad_window() {
        // Hand-made SPS: max_sub_layers_minus1 = 1 with both sub-layer flags set, 4:2:0,
        // 64x64 with a window cropping 200 columns (more than the width).
        let mut bits = String::new();
        bits += "0100001000000001"; // NAL header, type 33
        bits += "0000"; // vps id
        bits += "001"; // max_sub_layers_minus1 = 1
        bits += "1"; // temporal nesting
        bits += &"0".repeat(96 - 8);
        bits += "01011101"; // general_level_idc 93
        bits += "11"; // sub-layer profile/level present
        bits += "00000000000000"; // reserved_zero_2bits x 7
        bits += &"0".repeat(88 + 8);
        bits += "1"; // sps id 0
        bits += "010"; // chroma_format_idc 1
        bits += "0000001000001"; // width 64
        bits += "0000001000001"; // height 64
        bits += "1"; // conformance window
        bits += "0000001100101"; // left 100
        bits += "111"; // right, top, bottom 0
        bits += "1"; // bit depth 8
        while !bits.len().is_multiple_of(8) {
            bits.push('0');
        }
        let bytes: Vec<u8> = bits
            .as_bytes()
            .chunks(8)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap())
            .collect();
        assert_eq!(
            HevcSps::parse(&bytes),
            Err(MediaError::InvalidField {
                record: SPS,
                field: "conf_win_left/right_offset",
                value: 200
            })
        );
    }

    #[test]
    fn corrupt_input_never_panics() {
        let mut data = X265_HVCC.to_vec();
        for i in 0..data.len() {
            for v in [0x00, 0xff, 0x03] {
                data[i] = v;
                if let Ok(rec) = HevcDecoderConfigurationRecord::parse(&data) {
                    let _ = rec.info();
                }
            }
            data[i] = X265_HVCC[i];
        }
    }

    #[test]
    fn names() {
        assert_eq!(level_name(123, false), "4.1");
        assert_eq!(level_name(153, true), "5.1 High tier");
        assert_eq!(profile_name(2), "Main 10");
    }
}
