//! `webrtc` to the server's WHIP settings and back.

use openrtmp_server::whip::WebrtcSettings;

use super::Checker;
use crate::model::{Bitrate, Toggle, WebrtcSection};
use crate::unit::HumanDuration;

/// AAC-LC bitrates the transcoder is asked for: below 32k stereo is unlistenable, above
/// 320k is more than any platform takes.
const AUDIO_BITRATES: std::ops::RangeInclusive<u32> = 32_000..=320_000;

/// The `webrtc` section of a file into `w`.
pub(super) fn webrtc(s: &WebrtcSection, w: &mut WebrtcSettings, k: &mut Checker) {
    w.enabled = s.enabled.unwrap_or(w.enabled);
    w.udp_port = s.udp_port.unwrap_or(w.udp_port);
    if let Some(tcp) = &s.tcp_port {
        w.tcp_port = tcp.clone().into_option();
    }
    if let Some(addrs) = &s.public_addresses {
        for (i, ip) in addrs.iter().enumerate() {
            if ip.is_unspecified() || ip.is_multicast() {
                k.fail(
                    &format!("webrtc.public_addresses[{i}]"),
                    format!("{ip} is not a host address"),
                );
            }
        }
        w.public_addresses = addrs.clone();
    }
    if let Some(Bitrate(bps)) = s.audio_bitrate {
        if !AUDIO_BITRATES.contains(&bps) {
            k.fail("webrtc.audio_bitrate", format!("{bps} bit/s is out of range 32k..=320k"));
        }
        w.audio_bitrate = bps;
    }
    if let Some(v) = s.keyframe_interval {
        w.keyframe_interval = k.nonzero("webrtc.keyframe_interval", v.0);
    }
}

/// The full `webrtc` section of `w`.
pub(super) fn dump(w: &WebrtcSettings) -> WebrtcSection {
    WebrtcSection {
        enabled: Some(w.enabled),
        udp_port: Some(w.udp_port),
        tcp_port: Some(Toggle::from_option(w.tcp_port)),
        public_addresses: Some(w.public_addresses.clone()),
        audio_bitrate: Some(Bitrate(w.audio_bitrate)),
        keyframe_interval: Some(HumanDuration(w.keyframe_interval)),
    }
}
