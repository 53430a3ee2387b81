//! The `MultichannelConfig` audio packet (E-RTMP v2 "Enhanced Audio", ExAudioTagBody).

use bytes::BytesMut;

use crate::cursor::Cursor;
use crate::MediaError;

/// `AudioChannelOrder` (UI8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AudioChannelOrder(pub u8);

impl AudioChannelOrder {
    /// 0: only the channel count is given.
    pub const UNSPECIFIED: Self = Self(0);
    /// 1: native order, with an `AudioChannelMask` of present channels.
    pub const NATIVE: Self = Self(1);
    /// 2: an explicit `AudioChannel` per channel.
    pub const CUSTOM: Self = Self(2);
}

/// The body of an `AudioPacketType.MultichannelConfig` track: speaker layout for codecs
/// that do not describe it themselves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MultichannelConfig {
    /// `audioChannelOrder`.
    pub order: AudioChannelOrder,
    /// `channelCount`.
    pub channel_count: u8,
    /// `audioChannelMapping` (`AudioChannel` values), present for the Custom order; one
    /// entry per channel.
    pub mapping: Vec<u8>,
    /// `audioChannelFlags` (`AudioChannelMask` bits), present for the Native order.
    pub channel_flags: Option<u32>,
}

impl MultichannelConfig {
    /// Parses the track body. Bytes after the defined fields are ignored.
    pub fn parse(body: &[u8]) -> Result<Self, MediaError> {
        let mut c = Cursor::new(body);
        let order = AudioChannelOrder(c.u8("audioChannelOrder")?);
        let channel_count = c.u8("channelCount")?;
        let mut config =
            MultichannelConfig { order, channel_count, mapping: Vec::new(), channel_flags: None };
        match order {
            AudioChannelOrder::CUSTOM => {
                config.mapping = c.take(usize::from(channel_count), "audioChannelMapping")?.to_vec()
            }
            AudioChannelOrder::NATIVE => config.channel_flags = Some(c.u32("audioChannelFlags")?),
            _ => {}
        }
        Ok(config)
    }

    /// Appends the body; the inverse of [`MultichannelConfig::parse`].
    pub fn write(&self, out: &mut BytesMut) -> Result<(), MediaError> {
        let mapping_ok = if self.order == AudioChannelOrder::CUSTOM {
            self.mapping.len() == usize::from(self.channel_count)
        } else {
            self.mapping.is_empty()
        };
        if !mapping_ok {
            return Err(MediaError::FieldOutOfRange {
                field: "audioChannelMapping length",
                value: self.mapping.len() as i64,
            });
        }
        let native = self.order == AudioChannelOrder::NATIVE;
        if native != self.channel_flags.is_some() {
            return Err(MediaError::FieldOutOfRange {
                field: "audioChannelFlags presence",
                value: i64::from(self.channel_flags.is_some()),
            });
        }
        out.extend_from_slice(&[self.order.0, self.channel_count]);
        out.extend_from_slice(&self.mapping);
        if let Some(flags) = self.channel_flags {
            out.extend_from_slice(&flags.to_be_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_ffmpeg_stereo() {
        // Body of the MultichannelConfig track in tests/fixtures/hevc_opus_ffmpeg9.flv
        // (FFmpeg 9.0, libopus stereo): Native order, 2 channels, FrontLeft|FrontRight.
        let body = [0x01, 0x02, 0x00, 0x00, 0x00, 0x03];
        let c = MultichannelConfig::parse(&body).unwrap();
        assert_eq!(
            c,
            MultichannelConfig {
                order: AudioChannelOrder::NATIVE,
                channel_count: 2,
                mapping: vec![],
                channel_flags: Some(3)
            }
        );
        let mut out = BytesMut::new();
        c.write(&mut out).unwrap();
        assert_eq!(&out[..], &body);
        for n in 0..body.len() {
            assert!(MultichannelConfig::parse(&body[..n]).is_err());
        }
    }

    #[test]
    fn custom_mapping_truncated() {
        // Hand-made: Custom order, 3 channels, only 2 mapping bytes.
        let err = MultichannelConfig::parse(&[2, 3, 0, 1]).unwrap_err();
        assert_eq!(
            err,
            MediaError::Truncated { what: "audioChannelMapping", needed: 3, available: 2 }
        );
    }

    fn config() -> impl Strategy<Value = MultichannelConfig> {
        prop_oneof![
            any::<u8>().prop_map(|n| MultichannelConfig {
                order: AudioChannelOrder::UNSPECIFIED,
                channel_count: n,
                mapping: vec![],
                channel_flags: None
            }),
            (any::<u8>(), any::<u32>()).prop_map(|(n, f)| MultichannelConfig {
                order: AudioChannelOrder::NATIVE,
                channel_count: n,
                mapping: vec![],
                channel_flags: Some(f)
            }),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(|m| MultichannelConfig {
                order: AudioChannelOrder::CUSTOM,
                channel_count: m.len() as u8,
                mapping: m,
                channel_flags: None
            }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(c in config()) {
            let mut out = BytesMut::new();
            c.write(&mut out).unwrap();
            prop_assert_eq!(MultichannelConfig::parse(&out).unwrap(), c);
        }
    }
}
