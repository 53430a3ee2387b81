//! AV1CodecConfigurationRecord (`av1C`, AV1 Codec ISO Media File Format Binding §2.3.3)
//! and the maximum frame size from a sequence header OBU in its `configOBUs`
//! (AV1 Bitstream §5.3 OBU syntax, §5.5 sequence header OBU).

use super::bits::BitReader;
use super::VideoInfo;
use crate::cursor::Cursor;
use crate::MediaError;

const RECORD: &str = "AV1CodecConfigurationRecord";
const SEQ: &str = "AV1 sequence header OBU";
/// OBU_SEQUENCE_HEADER (AV1 §6.2.2).
const OBU_SEQUENCE_HEADER: u8 = 1;

/// The fields of an `av1C` record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Av1CodecConfigurationRecord<'a> {
    /// `seq_profile` (0 Main, 1 High, 2 Professional).
    pub seq_profile: u8,
    /// `seq_level_idx_0`.
    pub seq_level_idx_0: u8,
    /// `seq_tier_0`.
    pub seq_tier_0: bool,
    /// `high_bitdepth`.
    pub high_bitdepth: bool,
    /// `twelve_bit`.
    pub twelve_bit: bool,
    /// `monochrome`.
    pub monochrome: bool,
    /// `chroma_subsampling_x`.
    pub chroma_subsampling_x: bool,
    /// `chroma_subsampling_y`.
    pub chroma_subsampling_y: bool,
    /// `chroma_sample_position`.
    pub chroma_sample_position: u8,
    /// `initial_presentation_delay_minus_one`, when present.
    pub initial_presentation_delay_minus_one: Option<u8>,
    /// `configOBUs`: zero or more OBUs (a sequence header, metadata).
    pub config_obus: &'a [u8],
}

impl<'a> Av1CodecConfigurationRecord<'a> {
    /// Parses the record: `marker` must be 1 and `version` 1.
    pub fn parse(data: &'a [u8]) -> Result<Self, MediaError> {
        let mut c = Cursor::new(data);
        let b0 = c.u8(RECORD)?;
        if b0 & 0x80 == 0 {
            return Err(MediaError::InvalidField { record: RECORD, field: "marker", value: 0 });
        }
        let version = b0 & 0x7f;
        if version != 1 {
            return Err(MediaError::UnsupportedVersion { record: RECORD, version });
        }
        let [b1, b2, b3] = [c.u8(RECORD)?, c.u8(RECORD)?, c.u8(RECORD)?];
        Ok(Self {
            seq_profile: b1 >> 5,
            seq_level_idx_0: b1 & 0x1f,
            seq_tier_0: b2 & 0x80 != 0,
            high_bitdepth: b2 & 0x40 != 0,
            twelve_bit: b2 & 0x20 != 0,
            monochrome: b2 & 0x10 != 0,
            chroma_subsampling_x: b2 & 0x08 != 0,
            chroma_subsampling_y: b2 & 0x04 != 0,
            chroma_sample_position: b2 & 0x03,
            initial_presentation_delay_minus_one: (b3 & 0x10 != 0).then_some(b3 & 0x0f),
            config_obus: c.rest(),
        })
    }

    /// 8, 10 or 12 (from `high_bitdepth` and `twelve_bit`).
    pub fn bit_depth(&self) -> u8 {
        match (self.high_bitdepth, self.twelve_bit) {
            (true, true) => 12,
            (true, false) => 10,
            _ => 8,
        }
    }

    /// The sequence header among `configOBUs`, if there is one.
    pub fn sequence_header(&self) -> Result<Option<Av1SequenceHeader>, MediaError> {
        find_obu(self.config_obus, OBU_SEQUENCE_HEADER)?.map(Av1SequenceHeader::parse).transpose()
    }

    /// Profile and level from the record; the size from the sequence header when the
    /// record carries one.
    pub fn info(&self) -> Result<VideoInfo, MediaError> {
        let seq = self.sequence_header()?;
        Ok(VideoInfo {
            codec: "AV1".into(),
            width: seq.map(|s| s.max_frame_width),
            height: seq.map(|s| s.max_frame_height),
            profile: Some(profile_name(self.seq_profile)),
            level: Some(level_name(self.seq_level_idx_0, self.seq_tier_0)),
        })
    }
}

/// AV1 profile name (AV1 Annex A.2).
pub fn profile_name(seq_profile: u8) -> String {
    match seq_profile {
        0 => "Main".into(),
        1 => "High".into(),
        2 => "Professional".into(),
        other => format!("Profile {other}"),
    }
}

/// AV1 level name from seq_level_idx (AV1 Annex A.3: X.Y with X = 2 + idx / 4,
/// Y = idx % 4; 31 is "unconstrained"), with the tier appended when High.
pub fn level_name(idx: u8, high_tier: bool) -> String {
    let level = if idx == 31 {
        "unconstrained".to_string()
    } else {
        format!("{}.{}", 2 + (idx >> 2), idx & 3)
    };
    if high_tier {
        format!("{level} High tier")
    } else {
        level
    }
}

/// leb128() (AV1 §4.10.5), at most 8 bytes, value below 2^32.
fn leb128(c: &mut Cursor<'_>) -> Result<usize, MediaError> {
    let mut value: u64 = 0;
    for i in 0..8 {
        let b = c.u8("leb128")?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return usize::try_from(value)
                .ok()
                .filter(|v| *v <= u32::MAX as usize)
                .ok_or(MediaError::InvalidField { record: "OBU", field: "obu_size", value });
        }
    }
    Err(MediaError::InvalidField { record: "OBU", field: "leb128 length", value: 9 })
}

/// Walks OBUs (AV1 §5.3.1) and returns the payload of the first one of `obu_type`.
/// An OBU without `obu_has_size_field` extends to the end of the data.
pub fn find_obu(mut data: &[u8], obu_type: u8) -> Result<Option<&[u8]>, MediaError> {
    while !data.is_empty() {
        let mut c = Cursor::new(data);
        let header = c.u8("OBU header")?;
        if header & 0x04 != 0 {
            c.u8("OBU extension header")?;
        }
        let payload = if header & 0x02 != 0 {
            let size = leb128(&mut c)?;
            c.take(size, "OBU payload")?
        } else {
            c.rest()
        };
        if (header >> 3) & 0x0f == obu_type {
            return Ok(Some(payload));
        }
        data = c.rest();
    }
    Ok(None)
}

/// The fields of an AV1 sequence header OBU up to the maximum frame size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Av1SequenceHeader {
    /// `seq_profile`.
    pub seq_profile: u8,
    /// `still_picture`.
    pub still_picture: bool,
    /// `seq_level_idx[0]`.
    pub seq_level_idx_0: u8,
    /// `seq_tier[0]`.
    pub seq_tier_0: bool,
    /// `max_frame_width_minus_1 + 1`.
    pub max_frame_width: u32,
    /// `max_frame_height_minus_1 + 1`.
    pub max_frame_height: u32,
}

impl Av1SequenceHeader {
    /// Parses a sequence_header_obu() payload (AV1 §5.5.1) up to the frame size.
    pub fn parse(payload: &[u8]) -> Result<Self, MediaError> {
        let mut r = BitReader::new(payload, SEQ);
        let seq_profile = r.bits_u8(3)?;
        let still_picture = r.bit()?;
        let reduced = r.bit()?;
        let mut seq_level_idx_0 = 0;
        let mut seq_tier_0 = false;
        if reduced {
            seq_level_idx_0 = r.bits_u8(5)?;
        } else {
            let mut buffer_delay_len = None;
            if r.bit()? {
                // timing_info() (§5.5.3)
                r.skip(64)?;
                if r.bit()? {
                    r.uvlc("num_ticks_per_picture_minus_1")?;
                }
                if r.bit()? {
                    // decoder_model_info() (§5.5.4)
                    buffer_delay_len = Some(r.bits(5)? + 1);
                    r.skip(32 + 5 + 5)?;
                }
            }
            let initial_display_delay_present = r.bit()?;
            let op_count = r.bits(5)? + 1;
            for i in 0..op_count {
                r.skip(12)?; // operating_point_idc
                let level = r.bits_u8(5)?;
                let tier = level > 7 && r.bit()?;
                if i == 0 {
                    (seq_level_idx_0, seq_tier_0) = (level, tier);
                }
                if let Some(n) = buffer_delay_len {
                    if r.bit()? {
                        // operating_parameters_info() (§5.5.5)
                        r.skip(2 * n + 1)?;
                    }
                }
                if initial_display_delay_present && r.bit()? {
                    r.skip(4)?;
                }
            }
        }
        let width_bits = r.bits(4)? + 1;
        let height_bits = r.bits(4)? + 1;
        let max_frame_width = r.bits(width_bits)? + 1;
        let max_frame_height = r.bits(height_bits)? + 1;
        Ok(Self {
            seq_profile,
            still_picture,
            seq_level_idx_0,
            seq_tier_0,
            max_frame_width,
            max_frame_height,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The av1C of tests/fixtures/av1_aac_ffmpeg9.flv (FFmpeg 9.0, libsvtav1, 320x240):
    /// 4 record bytes and a sequence header OBU with an initial display delay.
    const SVT_AV1C: [u8; 17] = [
        0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x02, 0x00, 0x00, 0x05, 0x21, 0xe7, 0xfd, 0xe0, 0x17,
        0xc0, 0x02,
    ];

    #[test]
    fn svt_record() {
        let rec = Av1CodecConfigurationRecord::parse(&SVT_AV1C).unwrap();
        assert_eq!((rec.seq_profile, rec.seq_level_idx_0, rec.bit_depth()), (0, 0, 8));
        assert!(rec.chroma_subsampling_x && rec.chroma_subsampling_y && !rec.monochrome);
        let seq = rec.sequence_header().unwrap().unwrap();
        assert_eq!((seq.max_frame_width, seq.max_frame_height), (320, 240));
        let info = rec.info().unwrap();
        assert_eq!(info.width, Some(320));
        assert_eq!(info.profile.as_deref(), Some("Main"));
        assert_eq!(info.level.as_deref(), Some("2.0"));
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..4 {
            assert!(Av1CodecConfigurationRecord::parse(&SVT_AV1C[..n]).is_err());
        }
        for n in 4..SVT_AV1C.len() {
            let rec = Av1CodecConfigurationRecord::parse(&SVT_AV1C[..n]).unwrap();
            // No configOBUs at 4 bytes: no size, not an error.
            let r = rec.info();
            if n == 4 {
                assert_eq!(r.unwrap().width, None);
            } else {
                assert!(r.is_err(), "{n}");
            }
        }
    }

    #[test]
    fn reduced_still_picture_header() {
        // Hand-made sequence header: profile 0, still, reduced, level 8 (4.0),
        // 16-bit width and height fields, 1920x1080.
        // bits: 000 1 1 01000 1111 1111 <16: 1919> <16: 1079>
        let mut v: u128 = 0;
        let mut n = 0;
        for (bits, width) in
            [(0, 3), (1, 1), (1, 1), (8, 5), (15, 4), (15, 4), (1919, 16), (1079, 16)]
        {
            v = (v << width) | bits;
            n += width;
        }
        let bytes = (v << (128 - n)).to_be_bytes();
        let seq = Av1SequenceHeader::parse(&bytes[..7]).unwrap();
        assert_eq!((seq.max_frame_width, seq.max_frame_height), (1920, 1080));
        assert!(seq.still_picture);
        assert_eq!(seq.seq_level_idx_0, 8);
        assert_eq!(level_name(8, false), "4.0");
    }

    #[test]
    fn bad_records() {
        assert!(matches!(
            Av1CodecConfigurationRecord::parse(&[0x01, 0, 0, 0]),
            Err(MediaError::InvalidField { .. })
        ));
        assert!(matches!(
            Av1CodecConfigurationRecord::parse(&[0x82, 0, 0, 0]),
            Err(MediaError::UnsupportedVersion { version: 2, .. })
        ));
        // An OBU whose leb128 size never ends.
        assert!(find_obu(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 1).is_err());
        // A temporal delimiter (type 2) without size field swallows the rest.
        assert_eq!(find_obu(&[0x10, 0x0a, 0x00], 1).unwrap(), None);
    }
}
