//! `webrtc`: defaults (loopback and interfaces offered, UDP and ICE-TCP on 8189), every
//! key from a file and the environment, `null` switching ICE-TCP off, dumps that load back,
//! and problems reported with their paths.

use std::net::IpAddr;
use std::time::Duration;

use openrtmp_server::whip::{
    WebrtcSettings, DEFAULT_AUDIO_BITRATE, DEFAULT_KEYFRAME_INTERVAL, DEFAULT_WEBRTC_PORT,
};

use super::*;

#[test]
fn webrtc_defaults() {
    let c = check_str("{}", Format::Json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.webrtc, WebrtcSettings::default());
    assert!(c.webrtc.enabled);
    assert_eq!(c.webrtc.udp_port, DEFAULT_WEBRTC_PORT);
    assert_eq!(c.webrtc.udp_port, 8189);
    assert_eq!(c.webrtc.tcp_port, Some(8189));
    assert!(c.webrtc.public_addresses.is_empty());
    assert_eq!(c.webrtc.audio_bitrate, DEFAULT_AUDIO_BITRATE);
    assert_eq!(c.webrtc.audio_bitrate, 128_000);
    assert_eq!(c.webrtc.keyframe_interval, DEFAULT_KEYFRAME_INTERVAL);
    assert_eq!(c.webrtc.keyframe_interval, Duration::from_millis(1600));
}

#[test]
fn webrtc_loads_every_key_and_dumps_back() {
    let text = r#"
webrtc:
  enabled: false
  udp_port: 0
  tcp_port: null
  public_addresses: [203.0.113.7, "2001:db8::7"]
  audio_bitrate: 160k
  keyframe_interval: 1s
"#;
    let c = check_str(text, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let w = &c.webrtc;
    assert!(!w.enabled);
    assert_eq!(w.udp_port, 0);
    assert_eq!(w.tcp_port, None, "null switches ICE-TCP off");
    let ips: Vec<IpAddr> = vec!["203.0.113.7".parse().unwrap(), "2001:db8::7".parse().unwrap()];
    assert_eq!(w.public_addresses, ips);
    assert_eq!(w.audio_bitrate, 160_000);
    assert_eq!(w.keyframe_interval, Duration::from_secs(1));
    for format in [Format::Yaml, Format::Json] {
        let text = dump(&c, format);
        assert!(text.contains("160k"), "{text}");
        assert_eq!(check_str(&text, format).unwrap_or_else(|e| panic!("{e}")).webrtc, *w);
    }
    // The defaults dump back too (tcp_port a number, not null).
    let d = check_str("{}", Format::Json).unwrap();
    let text = dump(&d, Format::Yaml);
    assert_eq!(check_str(&text, Format::Yaml).unwrap().webrtc, WebrtcSettings::default());
}

#[test]
fn webrtc_from_the_environment() {
    let vars = env(&[
        ("OPENRTMP_WEBRTC__UDP_PORT", "9000"),
        ("OPENRTMP_WEBRTC__TCP_PORT", "9001"),
        ("OPENRTMP_WEBRTC__AUDIO_BITRATE", "96000"),
    ]);
    let c = load(None, &vars, &FileConfig::default()).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(c.webrtc.udp_port, 9000);
    assert_eq!(c.webrtc.tcp_port, Some(9001));
    assert_eq!(c.webrtc.audio_bitrate, 96_000);
}

#[test]
fn webrtc_problems_name_their_key() {
    let text = r#"
webrtc:
  udp_port: 70000
"#;
    let problems = messages(check_str(text, Format::Yaml));
    assert!(problems.iter().any(|p| p.starts_with("webrtc.udp_port")), "{problems:?}");
    let text = r#"{"webrtc": {"audio_bitrate": "8k", "keyframe_interval": "0s",
                  "public_addresses": ["0.0.0.0", "not-an-ip"], "pli": 1}}"#;
    let problems = messages(check_str(text, Format::Json));
    for path in [
        "webrtc.audio_bitrate",
        "webrtc.keyframe_interval",
        "webrtc.public_addresses[1]",
        "webrtc.pli",
    ] {
        assert!(problems.iter().any(|p| p.starts_with(path)), "{path}: {problems:?}");
    }
}
