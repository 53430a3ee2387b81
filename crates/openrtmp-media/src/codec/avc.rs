//! AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1; FLV 10.1 §E.4.3.2) and the
//! stream information of its first SPS, decoded with `h264-reader`.

use h264_reader::nal::sps::SeqParameterSet;
use h264_reader::nal::{Nal, RefNal};

use super::VideoInfo;
use crate::cursor::Cursor;
use crate::MediaError;

const RECORD: &str = "AVCDecoderConfigurationRecord";
/// nal_unit_type of a sequence parameter set (H.264 Table 7-1).
const NAL_SPS: u8 = 7;

/// The fixed fields and parameter sets of an AVCDecoderConfigurationRecord. The
/// high-profile extension after the PPS list is not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcDecoderConfigurationRecord<'a> {
    /// `AVCProfileIndication` (profile_idc).
    pub profile_indication: u8,
    /// `profile_compatibility` (the constraint_set flags).
    pub profile_compatibility: u8,
    /// `AVCLevelIndication` (level_idc).
    pub level_indication: u8,
    /// `lengthSizeMinusOne`: NALU length prefix size in coded frames, minus one.
    pub length_size_minus_one: u8,
    /// The SPS NAL units (with their NAL header byte).
    pub sps: Vec<&'a [u8]>,
    /// The PPS NAL units.
    pub pps: Vec<&'a [u8]>,
}

impl<'a> AvcDecoderConfigurationRecord<'a> {
    /// Parses the record. `configurationVersion` must be 1.
    pub fn parse(data: &'a [u8]) -> Result<Self, MediaError> {
        let mut c = Cursor::new(data);
        let version = c.u8(RECORD)?;
        if version != 1 {
            return Err(MediaError::UnsupportedVersion { record: RECORD, version });
        }
        let profile_indication = c.u8(RECORD)?;
        let profile_compatibility = c.u8(RECORD)?;
        let level_indication = c.u8(RECORD)?;
        let length_size_minus_one = c.u8(RECORD)? & 0x03;
        let num_sps = c.u8(RECORD)? & 0x1f;
        let sps = read_param_sets(&mut c, usize::from(num_sps))?;
        let num_pps = c.u8(RECORD)?;
        let pps = read_param_sets(&mut c, usize::from(num_pps))?;
        Ok(Self {
            profile_indication,
            profile_compatibility,
            level_indication,
            length_size_minus_one,
            sps,
            pps,
        })
    }

    /// Decodes the first SPS: coded size with the frame cropping applied, plus profile and
    /// level from the record.
    pub fn info(&self) -> Result<VideoInfo, MediaError> {
        let nal = self.sps.first().ok_or(MediaError::Missing { record: RECORD, what: "SPS" })?;
        let header =
            nal.first().copied().ok_or(MediaError::Missing { record: RECORD, what: "SPS" })?;
        if header & 0x1f != NAL_SPS {
            return Err(MediaError::InvalidField {
                record: RECORD,
                field: "SPS nal_unit_type",
                value: u64::from(header & 0x1f),
            });
        }
        let sps = SeqParameterSet::from_bits(RefNal::new(nal, &[], true).rbsp_bits())
            .map_err(|e| MediaError::H264Sps { reason: format!("{e:?}") })?;
        let (width, height) =
            sps.pixel_dimensions().map_err(|e| MediaError::H264Sps { reason: format!("{e:?}") })?;
        Ok(VideoInfo {
            codec: "H.264".into(),
            width: Some(width),
            height: Some(height),
            profile: Some(profile_name(self.profile_indication, self.profile_compatibility)),
            level: Some(level_name(self.level_indication, self.profile_compatibility)),
        })
    }
}

fn read_param_sets<'a>(c: &mut Cursor<'a>, count: usize) -> Result<Vec<&'a [u8]>, MediaError> {
    let mut sets = Vec::new();
    for _ in 0..count {
        let len = c.u16("parameter set length")?;
        sets.push(c.take(usize::from(len), "parameter set")?);
    }
    Ok(sets)
}

/// H.264 Annex A profile name for profile_idc and the constraint_set flags.
pub fn profile_name(profile_idc: u8, constraints: u8) -> String {
    let constraint_set1 = constraints & 0x40 != 0;
    let constraint_set3 = constraints & 0x10 != 0;
    let name = match profile_idc {
        66 if constraint_set1 => "Constrained Baseline",
        66 => "Baseline",
        77 => "Main",
        88 => "Extended",
        100 => "High",
        110 if constraint_set3 => "High 10 Intra",
        110 => "High 10",
        122 => "High 4:2:2",
        244 => "High 4:4:4 Predictive",
        44 => "CAVLC 4:4:4 Intra",
        83 => "Scalable Baseline",
        86 => "Scalable High",
        118 => "Multiview High",
        128 => "Stereo High",
        other => return format!("Profile {other}"),
    };
    name.into()
}

/// H.264 level name ("3.1"; "1b" for level_idc 11 with constraint_set3 in the
/// Baseline/Main/Extended profiles, or level_idc 9).
pub fn level_name(level_idc: u8, constraints: u8) -> String {
    if level_idc == 9 || (level_idc == 11 && constraints & 0x10 != 0) {
        return "1b".into();
    }
    format!("{}.{}", level_idc / 10, level_idc % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVCDecoderConfigurationRecord of tests/fixtures/h264_aac_ffmpeg5.flv (FFmpeg 5.1,
    /// libx264, testsrc 320x240, High profile level 1.3).
    pub(crate) const FFMPEG5_AVCC: [u8; 45] = [
        0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41,
        0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1,
        0x42, 0x99, 0x60, 0x01, 0x00, 0x05, 0x68, 0xef, 0x82, 0x5c, 0xb0, 0xfd, 0xf8, 0xf8, 0x00,
    ];

    #[test]
    fn ffmpeg_record() {
        let rec = AvcDecoderConfigurationRecord::parse(&FFMPEG5_AVCC).unwrap();
        assert_eq!(rec.length_size_minus_one, 3);
        assert_eq!((rec.sps.len(), rec.pps.len()), (1, 1));
        let info = rec.info().unwrap();
        assert_eq!(
            info,
            VideoInfo {
                codec: "H.264".into(),
                width: Some(320),
                height: Some(240),
                profile: Some("High".into()),
                level: Some("1.3".into()),
            }
        );
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..FFMPEG5_AVCC.len() - 4 {
            // The last 4 bytes are the PPS body and the high-profile extension, which a
            // shorter PPS length would not notice; everything before must fail.
            assert!(
                AvcDecoderConfigurationRecord::parse(&FFMPEG5_AVCC[..n]).is_err(),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn corrupt_sps_is_an_error_not_a_panic() {
        let mut data = FFMPEG5_AVCC.to_vec();
        for i in 8..33 {
            for v in [0x00, 0xff, 0x80] {
                data[i] = v;
                if let Ok(rec) = AvcDecoderConfigurationRecord::parse(&data) {
                    let _ = rec.info();
                }
            }
            data[i] = FFMPEG5_AVCC[i];
        }
        // An empty SPS and a PPS in the SPS slot.
        let rec =
            AvcDecoderConfigurationRecord::parse(&[1, 0x64, 0, 0x0d, 0xff, 0xe1, 0, 0, 0]).unwrap();
        assert!(matches!(rec.info(), Err(MediaError::Missing { .. })));
        let rec =
            AvcDecoderConfigurationRecord::parse(&[1, 0x64, 0, 0x0d, 0xff, 0xe1, 0, 1, 0x68, 0])
                .unwrap();
        assert!(matches!(rec.info(), Err(MediaError::InvalidField { .. })));
        assert_eq!(
            AvcDecoderConfigurationRecord::parse(&[2]),
            Err(MediaError::UnsupportedVersion { record: RECORD, version: 2 })
        );
    }

    #[test]
    fn names() {
        assert_eq!(profile_name(66, 0x40), "Constrained Baseline");
        assert_eq!(profile_name(77, 0), "Main");
        assert_eq!(profile_name(1, 0), "Profile 1");
        assert_eq!(level_name(31, 0), "3.1");
        assert_eq!(level_name(11, 0x10), "1b");
        assert_eq!(level_name(40, 0), "4.0");
    }
}
