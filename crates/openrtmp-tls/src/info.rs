//! What an operator (logs, the HTTP API) is told about a certificate.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serializer;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::error::TlsError;
use crate::settings::Fingerprint;

/// A certificate's identity, validity and pins.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertificateInfo {
    /// Subject distinguished name (`CN=...`).
    pub subject: String,
    /// Subject alternative names: DNS names first, then IP addresses, each in certificate
    /// order.
    pub names: Vec<String>,
    /// Start of validity (serialized as unix seconds).
    #[serde(serialize_with = "unix_seconds")]
    pub not_before: SystemTime,
    /// End of validity (serialized as unix seconds).
    #[serde(serialize_with = "unix_seconds")]
    pub not_after: SystemTime,
    /// SHA-256 of the DER certificate: what a client-certificate pin
    /// ([`ClientAuthSettings::pinned`](crate::ClientAuthSettings)) matches.
    #[serde(serialize_with = "display")]
    pub fingerprint: Fingerprint,
    /// SHA-256 of the SubjectPublicKeyInfo: what a server key pin
    /// ([`ClientTls::pinned_keys`](crate::ClientTls)) matches; survives re-issuance with the
    /// same key.
    #[serde(serialize_with = "display")]
    pub spki_pin: Fingerprint,
    /// Issuer distinguished name (equal to `subject` for a self-signed certificate).
    pub issuer: String,
}

impl CertificateInfo {
    /// Parses a DER X.509 certificate.
    pub fn from_der(cert_der: &[u8]) -> Result<CertificateInfo, TlsError> {
        let cert = parse(cert_der)?;
        let validity = cert.validity();
        Ok(CertificateInfo {
            subject: cert.subject().to_string(),
            names: names(&cert)?,
            not_before: system_time(validity.not_before.timestamp()),
            not_after: system_time(validity.not_after.timestamp()),
            fingerprint: Fingerprint::of(cert_der),
            spki_pin: Fingerprint::of(cert.public_key().raw),
            issuer: cert.issuer().to_string(),
        })
    }

    /// Whether `now` is within the validity period.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// SHA-256 of a DER certificate's SubjectPublicKeyInfo (a server key pin).
pub fn spki_fingerprint(cert_der: &[u8]) -> Result<Fingerprint, TlsError> {
    Ok(Fingerprint::of(parse(cert_der)?.public_key().raw))
}

fn parse(cert_der: &[u8]) -> Result<X509Certificate<'_>, TlsError> {
    match x509_parser::parse_x509_certificate(cert_der) {
        Ok((_, cert)) => Ok(cert),
        Err(e) => Err(TlsError::InvalidCertificate { detail: e.to_string() }),
    }
}

fn names(cert: &X509Certificate<'_>) -> Result<Vec<String>, TlsError> {
    let san = cert
        .subject_alternative_name()
        .map_err(|e| TlsError::InvalidCertificate { detail: format!("subjectAltName: {e}") })?;
    let Some(san) = san else {
        return Ok(Vec::new());
    };
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(name) => dns.push((*name).to_owned()),
            GeneralName::IPAddress(bytes) => {
                if let Some(ip) = ip_address(bytes) {
                    ips.push(ip.to_string());
                }
            }
            _ => {}
        }
    }
    dns.extend(ips);
    Ok(dns)
}

fn ip_address(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    <[u8; 16]>::try_from(bytes).ok().map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
}

fn system_time(unix_seconds: i64) -> SystemTime {
    let magnitude = Duration::from_secs(unix_seconds.unsigned_abs());
    if unix_seconds >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

fn unix_seconds<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let seconds = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    };
    s.serialize_i64(seconds)
}

fn display<S: Serializer>(fingerprint: &Fingerprint, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(fingerprint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_times_as_unix_seconds_and_fingerprints_as_hex() {
        let info = CertificateInfo {
            subject: "CN=x".into(),
            names: vec!["localhost".into(), "127.0.0.1".into()],
            not_before: UNIX_EPOCH - Duration::from_secs(5),
            not_after: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            fingerprint: Fingerprint([0xab; 32]),
            spki_pin: Fingerprint([0x01; 32]),
            issuer: "CN=x".into(),
        };
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["not_before"], -5);
        assert_eq!(json["not_after"], 1_700_000_000);
        assert_eq!(json["fingerprint"], ["ab"; 32].join(":"));
        assert_eq!(json["spki_pin"], ["01"; 32].join(":"));
        assert_eq!(json["names"][1], "127.0.0.1");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        let err = CertificateInfo::from_der(b"not a certificate").unwrap_err();
        assert!(err.to_string().starts_with("cannot parse the certificate: "), "{err}");
        assert!(spki_fingerprint(&[]).is_err());
    }
}
