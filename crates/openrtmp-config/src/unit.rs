//! Human units in configuration values: durations (`"10s"`, `"500ms"`, `"2m"`, `"30d"`, or a
//! number of seconds), byte sizes (`"32MiB"`, `"4KiB"`, or a number of bytes), listen
//! addresses, IP networks and SHA-256 fingerprints, with a reason when they do not parse.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use openrtmp_server::auth::{Fingerprint, IpNet};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written as `"10s"`, `"500ms"`, `"1.5s"`, `"2m"`, `"1h"`, `"30d"`, `"250us"`,
/// `"0"`, or a number of seconds (`10`, `0.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

/// A byte count written as `"32MiB"`, `"4KiB"`, `"1GiB"`, `"100MB"` (powers of 1000), `"512B"`,
/// or a number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

/// A socket address `IP:port` (`"0.0.0.0:1935"`, `"[::]:1935"`); host names are not resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr(pub SocketAddr);

/// An IP network in CIDR notation (`"10.0.0.0/8"`, `"2001:db8::/32"`); one address
/// (`"192.0.2.7"`) is the network of that address alone (`/32`, `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net(pub IpNet);

/// A SHA-256 fingerprint (certificate or key pin): 64 hex digits, colons allowed; written
/// back colon-separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin(pub Fingerprint);

/// A SHA-256 hash of a secret (`key_sha256`): 64 hex digits, as `sha256sum` prints them;
/// written back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha256Hex(pub [u8; 32]);

const DURATION_UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

const SIZE_UNITS: [(&str, u64); 9] = [
    ("b", 1),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
];

/// Splits `"1.5MiB"` into `("1.5", "MiB")`.
fn split_number(text: &str) -> (&str, &str) {
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    (text[..end].trim(), text[end..].trim())
}

/// `value * scale` for a decimal `value` ("1.5"), exactly when it has no more digits than
/// the scale can hold; `None` when it is not a number or overflows.
fn scaled(value: &str, scale: u128) -> Option<u128> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    if frac.len() > 18 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let frac_value: u128 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    let frac_scaled = frac_value.checked_mul(scale)? / 10u128.pow(frac.len() as u32);
    let total = int.checked_mul(scale)?.checked_add(frac_scaled)?;
    Some(total)
}

/// Parses a duration; the error explains the accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("{text:?} is not a duration (expected e.g. \"10s\", \"500ms\", \"2m\", or seconds)")
    };
    let (number, unit) = split_number(text.trim());
    let scale = if unit.is_empty() {
        1_000_000_000
    } else {
        DURATION_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(bad)?
    };
    let nanos = scaled(number, scale).ok_or_else(bad)?;
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| format!("{text:?} is too long"))?;
    // The remainder is below 1e9, so it fits.
    let sub = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, sub))
}

/// Writes a duration in the largest unit that keeps it exact (`"2m"`, `"10s"`, `"40ms"`).
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let (name, scale) = DURATION_UNITS
        .iter()
        .rev()
        .filter(|(name, _)| *name != "µs")
        .find(|(_, scale)| nanos.is_multiple_of(*scale))
        .copied()
        .unwrap_or(("ns", 1));
    format!("{}{name}", nanos / scale)
}

/// Parses a byte size; the error explains the accepted forms.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a size (expected e.g. \"32MiB\", \"4KiB\", or bytes)");
    let (number, unit) = split_number(text.trim());
    let unit = unit.to_ascii_lowercase();
    let scale = if unit.is_empty() {
        1
    } else {
        SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(bad)?
    };
    let bytes = scaled(number, u128::from(scale)).ok_or_else(bad)?;
    u64::try_from(bytes).map_err(|_| format!("{text:?} is too large"))
}

/// Writes a size in the largest binary unit that keeps it exact (`"32MiB"`, `"1000B"`).
pub fn format_size(bytes: u64) -> String {
    for (name, scale) in [("TiB", 1u64 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
    {
        if bytes != 0 && bytes.is_multiple_of(scale) {
            return format!("{}{name}", bytes / scale);
        }
    }
    format!("{bytes}B")
}

/// Parses `IP:port`, explaining what is wrong when it fails.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let reason = match text.rsplit_once(':') {
        None => "missing :port".to_string(),
        Some((host, port)) => match port.parse::<u64>() {
            Ok(port) if port > 65535 => format!("port {port} is out of range"),
            Ok(_) => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                format!("{host:?} is not an IP address (host names are not resolved)")
            }
            Err(_) => format!("port {port:?} is not a number"),
        },
    };
    Err(format!("{text:?} is not a valid address: {reason}"))
}

/// Parses a CIDR network, or one address as the network of that address alone.
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an IP network (CIDR)"))
}

/// Parses a SHA-256 fingerprint (64 hex digits, colons allowed).
pub fn parse_fingerprint(text: &str) -> Result<Fingerprint, String> {
    text.trim().parse::<Fingerprint>().map_err(|_| {
        format!("{text:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
    })
}

/// Accepts a string, an integer or a float and hands it to `parse` as text.
struct TextOrNumber<F> {
    parse: F,
    expecting: &'static str,
}

impl<'de, T, F: Fn(&str) -> Result<T, String>> Visitor<'de> for TextOrNumber<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        if v < 0 {
            return Err(E::custom(format!("{v} must not be negative")));
        }
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        if !(v.is_finite() && v >= 0.0) {
            return Err(E::custom(format!("{v} must be a non-negative number")));
        }
        self.visit_str(&v.to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextOrNumber {
            parse: |text: &str| parse_duration(text).map(HumanDuration),
            expecting: "a duration such as \"10s\" or a number of seconds",
        })
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextOrNumber {
            parse: |text: &str| {
                if text.contains('.') && !text.chars().any(|c| c.is_ascii_alphabetic()) {
                    return Err(format!("{text} is not a whole number of bytes"));
                }
                parse_size(text).map(ByteSize)
            },
            expecting: "a size such as \"32MiB\" or a number of bytes",
        })
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(self.0))
    }
}

impl<'de> Deserialize<'de> for Addr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_addr(&text).map(Addr).map_err(de::Error::custom)
    }
}

impl Serialize for Addr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_net(&text).map(Net).map_err(de::Error::custom)
    }
}

impl Serialize for Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Pin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_fingerprint(&text).map(Pin).map_err(de::Error::custom)
    }
}

impl Serialize for Pin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let hex = text.trim();
        match hex.parse::<Fingerprint>() {
            Ok(hash) if !hex.contains(':') => Ok(Sha256Hex(hash.0)),
            _ => Err(de::Error::custom(format!(
                "{text:?} is not a SHA-256 hash (64 hex digits, as sha256sum prints them)"
            ))),
        }
    }
}

impl Serialize for Sha256Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration(" 3 s "), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3x").unwrap_err().contains("\"3x\" is not a duration"));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1.2.3s").is_err());
        for d in [0, 1, 999, 1000, 40_000_000, 60_000_000_000, 7_200_000_000_000, 1_500_000] {
            let d = Duration::from_nanos(d);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_millis(40)), "40ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(format_duration(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(format_duration(Duration::from_secs(12 * 3600)), "12h");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32MiB"), Ok(32 << 20));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("4kib"), Ok(4096));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("512B"), Ok(512));
        assert!(parse_size("12XB").unwrap_err().contains("is not a size"));
        assert!(parse_size("99999999TiB").unwrap_err().contains("too large"));
        for n in [0, 1, 1000, 1024, 32 << 20, 3 << 30, 5 << 40] {
            assert_eq!(parse_size(&format_size(n)), Ok(n));
        }
        assert_eq!(format_size(32 << 20), "32MiB");
    }

    #[test]
    fn numbers_and_strings_deserialize() {
        let d: HumanDuration = serde_json::from_str("2.5").unwrap();
        assert_eq!(d.0, Duration::from_millis(2500));
        let d: HumanDuration = serde_json::from_str("\"40ms\"").unwrap();
        assert_eq!(d.0, Duration::from_millis(40));
        let s: ByteSize = serde_json::from_str("4096").unwrap();
        assert_eq!(s.0, 4096);
        assert!(serde_json::from_str::<ByteSize>("-1").is_err());
        assert!(serde_json::from_str::<ByteSize>("1.5").is_err());
        assert!(serde_json::from_str::<HumanDuration>("true").is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("0.0.0.0:65536").unwrap_err(),
            "\"0.0.0.0:65536\" is not a valid address: port 65536 is out of range"
        );
        assert!(parse_addr("0.0.0.0").unwrap_err().contains("missing :port"));
        assert!(parse_addr("localhost:1935").unwrap_err().contains("not an IP address"));
        assert!(parse_addr("1.2.3.4:x").unwrap_err().contains("port \"x\" is not a number"));
        assert!(parse_addr("[::]:1935").is_ok());
    }

    #[test]
    fn networks() {
        assert_eq!(parse_net("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_net("2001:db8::/32").unwrap().to_string(), "2001:db8::/32");
        assert_eq!(parse_net("192.0.2.7").unwrap().to_string(), "192.0.2.7/32");
        assert_eq!(parse_net("::1").unwrap().to_string(), "::1/128");
        assert_eq!(
            parse_net("10.0.0.300/8").unwrap_err(),
            "\"10.0.0.300/8\" is not an IP network (CIDR)"
        );
        assert!(parse_net("10.0.0.0/33").is_err());
        let net: Net = serde_json::from_str("\"127.0.0.1/32\"").unwrap();
        assert_eq!(serde_json::to_string(&net).unwrap(), "\"127.0.0.1/32\"");
    }

    #[test]
    fn fingerprints_and_hashes() {
        let hex = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_fingerprint(&hex), parse_fingerprint(&colons));
        assert_eq!(
            parse_fingerprint("abcd").unwrap_err(),
            "\"abcd\" is not a SHA-256 fingerprint (64 hex digits, colons allowed)"
        );
        let pin: Pin = serde_json::from_value(hex.clone().into()).unwrap();
        assert_eq!(serde_json::to_value(pin).unwrap(), vec!["ab"; 32].join(":").as_str());
        let hash: Sha256Hex = serde_json::from_value(hex.to_uppercase().into()).unwrap();
        assert_eq!(hash.0, [0xab; 32]);
        assert_eq!(serde_json::to_value(hash).unwrap(), hex.as_str());
        let err = serde_json::from_value::<Sha256Hex>(colons.into()).unwrap_err().to_string();
        assert!(err.contains("is not a SHA-256 hash (64 hex digits"), "{err}");
        assert!(serde_json::from_value::<Sha256Hex>("zz".repeat(32).into()).is_err());
    }
}
