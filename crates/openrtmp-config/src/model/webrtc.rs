//! `webrtc:` WHIP ingest: the media ports, the addresses offered as candidates, the
//! Opus-to-AAC bitrate and the keyframe requests.

use std::fmt;
use std::net::IpAddr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{check, toggle, Item, Shape, Spec, Toggle};
use crate::unit::HumanDuration;

section! {
    /// `webrtc:` WHIP ingest (`POST /whip/{app}/{stream}` on the HTTP listener).
    WebrtcSection {
        /// Serve WHIP; default true.
        enabled: bool,
        /// UDP port of WebRTC media, on every local address; default 8189; `0`: any free
        /// port.
        udp_port: u16,
        /// ICE-TCP port; default 8189; `0`: any free port; `null`: no ICE-TCP.
        tcp_port: Toggle<u16> => "toggle",
        /// Extra host candidates (a NAT's public IP); default none (loopback and every
        /// interface address are always offered).
        public_addresses: Vec<IpAddr>,
        /// AAC bitrate of the Opus transcode (`"128k"`, `"160k"`, or bits per second);
        /// default 128k.
        audio_bitrate: Bitrate,
        /// A keyframe is requested (PLI) when none came for this long; default 1.6s.
        keyframe_interval: HumanDuration,
    }
}

/// A bitrate: `"128k"`, `"1.5M"`, or bits per second (`128000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bitrate(pub u32);

/// Parses a bitrate; the error explains the accepted forms.
pub fn parse_bitrate(text: &str) -> Result<u32, String> {
    let bad = || {
        format!("{text:?} is not a bitrate (expected e.g. \"128k\", \"1.5M\" or bits per second)")
    };
    let t = text.trim();
    let (number, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (t.get(..i).unwrap_or(""), 1_000.0),
        Some((i, 'M' | 'm')) => (t.get(..i).unwrap_or(""), 1_000_000.0),
        _ => (t, 1.0),
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    let bits = (value * scale).round();
    if !(0.0..=f64::from(u32::MAX)).contains(&bits) {
        return Err(bad());
    }
    Ok(bits as u32)
}

impl Serialize for Bitrate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(1000) && self.0 > 0 {
            s.serialize_str(&format!("{}k", self.0 / 1000))
        } else {
            s.serialize_u32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Bitrate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bitrate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a bitrate such as \"128k\" or bits per second")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bitrate, E> {
                u32::try_from(v).map(Bitrate).map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bitrate, E> {
                u32::try_from(v)
                    .map(Bitrate)
                    .map_err(|_| E::custom(format!("{v} is not a bitrate")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Bitrate, E> {
                parse_bitrate(&v.to_string()).map(Bitrate).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bitrate, E> {
                parse_bitrate(v).map(Bitrate).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) const WEBRTC: Spec = Spec {
    name: "webrtc",
    keys: WebrtcSection::KEYS,
    check: check::<WebrtcSection>,
    nested: &[("public_addresses", Shape::List(Item::Value(check::<IpAddr>)))],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrates() {
        assert_eq!(parse_bitrate("128k"), Ok(128_000));
        assert_eq!(parse_bitrate("1.5M"), Ok(1_500_000));
        assert_eq!(parse_bitrate("96000"), Ok(96_000));
        assert!(parse_bitrate("fast").is_err());
        assert!(parse_bitrate("-1k").is_err());
    }
}
