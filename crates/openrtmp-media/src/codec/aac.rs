//! AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1), the AAC sequence header of FLV
//! (§E.4.2.2) and of E-RTMP `mp4a`.

use super::bits::BitReader;
use super::AudioInfo;
use crate::MediaError;

const ASC: &str = "AudioSpecificConfig";

/// samplingFrequencyIndex table (ISO/IEC 14496-3 Table 1.18); 13 and 14 are reserved and
/// 15 escapes to an explicit 24-bit rate.
const SAMPLING_FREQUENCIES: [u32; 13] =
    [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/// The leading fields of an AudioSpecificConfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AudioSpecificConfig {
    /// audioObjectType of the core codec (2 = AAC LC), after the escape (31 -> 32 + 6 bits).
    pub audio_object_type: u8,
    /// samplingFrequencyIndex (15 = explicit).
    pub sampling_frequency_index: u8,
    /// The core sampling frequency in Hz.
    pub sampling_frequency: u32,
    /// channelConfiguration (0 = defined in a program_config_element).
    pub channel_configuration: u8,
    /// Explicit SBR/PS signalling: the extension object type (5 SBR, 29 PS) and the
    /// output sampling frequency.
    pub extension: Option<(u8, u32)>,
}

impl AudioSpecificConfig {
    /// Parses the fields up to the core audio object type; the GASpecificConfig and
    /// anything after it are not read.
    pub fn parse(data: &[u8]) -> Result<Self, MediaError> {
        let mut r = BitReader::new(data, ASC);
        let mut audio_object_type = object_type(&mut r)?;
        let (sampling_frequency_index, sampling_frequency) = read_sampling_frequency(&mut r)?;
        let channel_configuration = r.bits_u8(4)?;
        let mut extension = None;
        if audio_object_type == 5 || audio_object_type == 29 {
            let (_, ext_frequency) = read_sampling_frequency(&mut r)?;
            extension = Some((audio_object_type, ext_frequency));
            audio_object_type = object_type(&mut r)?;
        }
        Ok(Self {
            audio_object_type,
            sampling_frequency_index,
            sampling_frequency,
            channel_configuration,
            extension,
        })
    }

    /// The number of output channels for the channel configuration (ISO/IEC 14496-3
    /// Table 1.19); 0 when the layout is in a program_config_element.
    pub fn channels(&self) -> u8 {
        match self.channel_configuration {
            c @ 1..=6 => c,
            7 | 12 | 14 => 8,
            11 => 7,
            13 => 24,
            _ => 0,
        }
    }

    /// Codec "AAC", the output sample rate (the SBR rate when signalled) and the profile.
    pub fn info(&self) -> AudioInfo {
        let profile = match self.extension {
            Some((29, _)) => "HE-AACv2".to_string(),
            Some(_) => "HE-AAC".to_string(),
            None => object_type_name(self.audio_object_type),
        };
        AudioInfo {
            codec: "AAC".into(),
            sample_rate: self.extension.map_or(self.sampling_frequency, |(_, rate)| rate),
            channels: self.channels(),
            profile: Some(profile),
        }
    }
}

/// GetAudioObjectType() (§1.6.2.1.1): 5 bits, 31 escapes to 32 + 6 bits.
fn object_type(r: &mut BitReader<'_>) -> Result<u8, MediaError> {
    let t = r.bits_u8(5)?;
    if t == 31 {
        Ok(32 + r.bits_u8(6)?)
    } else {
        Ok(t)
    }
}

fn read_sampling_frequency(r: &mut BitReader<'_>) -> Result<(u8, u32), MediaError> {
    let index = r.bits_u8(4)?;
    if index == 0x0f {
        return Ok((index, r.bits(24)?));
    }
    let rate =
        SAMPLING_FREQUENCIES.get(usize::from(index)).copied().ok_or(MediaError::InvalidField {
            record: ASC,
            field: "samplingFrequencyIndex",
            value: u64::from(index),
        })?;
    Ok((index, rate))
}

/// Name of an MPEG-4 audio object type (§1.5.1.1 Table 1.17).
pub fn object_type_name(aot: u8) -> String {
    match aot {
        1 => "Main".into(),
        2 => "LC".into(),
        3 => "SSR".into(),
        4 => "LTP".into(),
        5 => "HE-AAC".into(),
        23 => "LD".into(),
        29 => "HE-AACv2".into(),
        39 => "ELD".into(),
        42 => "xHE-AAC".into(),
        other => format!("AOT {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_configs() {
        // tests/fixtures/h264_aac_ffmpeg5.flv (FFmpeg 5.1 aac, 44.1 kHz stereo).
        let asc = AudioSpecificConfig::parse(&[0x12, 0x10, 0x56, 0xe5, 0x00]).unwrap();
        assert_eq!(
            (asc.audio_object_type, asc.sampling_frequency, asc.channel_configuration),
            (2, 44_100, 2)
        );
        assert_eq!(
            asc.info(),
            AudioInfo {
                codec: "AAC".into(),
                sample_rate: 44_100,
                channels: 2,
                profile: Some("LC".into())
            }
        );
        // tests/fixtures/av1_aac_ffmpeg9.flv (FFmpeg 9.0 aac, 48 kHz mono).
        let asc = AudioSpecificConfig::parse(&[0x11, 0x88, 0x56, 0xe5, 0x00]).unwrap();
        assert_eq!((asc.sampling_frequency, asc.channels()), (48_000, 1));
        for n in 0..2 {
            assert!(AudioSpecificConfig::parse(&[0x11, 0x88][..n]).is_err());
        }
    }

    #[test]
    fn escapes_and_sbr() {
        // Hand-made: AOT 31+1 (escape -> 33), index 15 with explicit 12345 Hz, 5.1 channels.
        // bits: 11111 000001 1111 <24: 12345> 0110
        let mut v: u64 = 0;
        for (bits, width) in [(31, 5), (1, 6), (15, 4), (12345, 24), (6, 4)] {
            v = (v << width) | bits;
        }
        let bytes = (v << (64 - 43)).to_be_bytes();
        let asc = AudioSpecificConfig::parse(&bytes[..6]).unwrap();
        assert_eq!(asc.audio_object_type, 33);
        assert_eq!((asc.sampling_frequency_index, asc.sampling_frequency), (15, 12345));
        assert_eq!(asc.channels(), 6);
        for n in 0..6 {
            assert!(AudioSpecificConfig::parse(&bytes[..n]).is_err(), "{n}");
        }
        // Hand-made explicit HE-AAC: AOT 5, 24 kHz core, stereo, 48 kHz SBR, core AOT 2.
        // bits: 00101 0110 0010 0011 00010 -> 0x2b 0x11 0x88 (+ padding)
        let asc = AudioSpecificConfig::parse(&[0x2b, 0x11, 0x88]).unwrap();
        assert_eq!(asc.extension, Some((5, 48_000)));
        assert_eq!(asc.audio_object_type, 2);
        let info = asc.info();
        assert_eq!((info.sample_rate, info.profile.as_deref()), (48_000, Some("HE-AAC")));
        // Reserved sampling frequency index 13.
        assert!(matches!(
            AudioSpecificConfig::parse(&[0x16, 0x90]),
            Err(MediaError::InvalidField { field: "samplingFrequencyIndex", value: 13, .. })
        ));
    }
}
