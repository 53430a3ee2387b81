//! Self-signed development certificates (`openrtmp cert dev`, `CertSource::SelfSigned`):
//! ECDSA P-256, valid for `localhost`, `127.0.0.1` and `::1` plus the names asked for.
//! Clients trust one by pinning its key ([`CertificateInfo::spki_pin`]) or by adding the
//! certificate to their CA files.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::error::TlsError;
use crate::info::CertificateInfo;

/// Common name of development certificates.
pub const DEV_COMMON_NAME: &str = "OpenRTMP development certificate";

/// Names every development certificate is valid for.
const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Backdating, so that a client whose clock is a little behind accepts a fresh certificate.
const BACKDATE: Duration = Duration::from_secs(24 * 3600);
/// Validity from issuance.
const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// A generated certificate and its private key, both PEM.
#[derive(Clone)]
pub struct DevCert {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The private key (PKCS#8 PEM).
    pub key_pem: String,
    /// What the certificate says.
    pub info: CertificateInfo,
}

impl std::fmt::Debug for DevCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of logs.
        f.debug_struct("DevCert").field("info", &self.info).finish_non_exhaustive()
    }
}

/// A self-signed development certificate for `localhost`, `127.0.0.1`, `::1` and `names`
/// (IP addresses become IP SANs, anything else a DNS SAN), valid from a day ago for a year.
pub fn self_signed(names: &[String]) -> Result<DevCert, TlsError> {
    let mut all: Vec<String> = LOCAL_NAMES.iter().map(|n| (*n).to_owned()).collect();
    all.extend(names.iter().cloned());
    generate(DEV_COMMON_NAME, &all)
}

/// Writes a new [`self_signed`] certificate to `dir/cert.pem` and `dir/key.pem` (creating
/// `dir`; the key is readable by its owner only on Unix). Each file is written under a
/// temporary name and then renamed, so a server reloading from `dir` never reads half a file.
/// Returns the certificate path, the key path and the certificate.
pub fn write(dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf, DevCert), TlsError> {
    let cert = self_signed(names)?;
    std::fs::create_dir_all(dir)
        .map_err(|source| TlsError::WriteFile { path: dir.to_owned(), source })?;
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    write_atomically(&key_path, cert.key_pem.as_bytes(), true)?;
    write_atomically(&cert_path, cert.cert_pem.as_bytes(), false)?;
    Ok((cert_path, key_path, cert))
}

/// A self-signed certificate with common name `common_name` for exactly `names`
/// (duplicates removed).
pub(crate) fn generate(common_name: &str, names: &[String]) -> Result<DevCert, TlsError> {
    let mut params = CertificateParams::default();
    params.subject_alt_names = subject_alt_names(names)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    // `date_time_ymd(1970, 1, 1)` is the epoch as rcgen's time type.
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + now.saturating_sub(BACKDATE);
    params.not_after = epoch + now + VALIDITY;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages =
        vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = params.self_signed(&key)?;
    let info = CertificateInfo::from_der(cert.der())?;
    Ok(DevCert { cert_pem: cert.pem(), key_pem: key.serialize_pem(), info })
}

fn subject_alt_names(names: &[String]) -> Result<Vec<SanType>, TlsError> {
    let mut sans = Vec::with_capacity(names.len());
    for raw in names {
        let name = raw.trim();
        let bare = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(name);
        let san = match bare.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => dns_name(name)?,
        };
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    Ok(sans)
}

fn dns_name(name: &str) -> Result<SanType, TlsError> {
    let invalid =
        |detail: &str| TlsError::InvalidName { name: name.to_owned(), detail: detail.into() };
    // An absolute name ("example.com.") is the same name.
    let name = name.strip_suffix('.').unwrap_or(name);
    let host = name.strip_prefix("*.").unwrap_or(name);
    if host.is_empty() || host.len() > 253 {
        return Err(invalid("a DNS name must have 1 to 253 characters"));
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !host.split('.').all(label_ok) {
        return Err(invalid("not a DNS name or an IP address"));
    }
    let lower = name.to_ascii_lowercase();
    let ia5 = rcgen::string::Ia5String::try_from(lower).map_err(|e| invalid(&e.to_string()))?;
    Ok(SanType::DnsName(ia5))
}

fn write_atomically(path: &Path, contents: &[u8], private: bool) -> Result<(), TlsError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let fail = |source| TlsError::WriteFile { path: tmp.clone(), source };
    // A leftover from an interrupted run could carry other permissions: start afresh.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
        _ => {}
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if private {
            options.mode(0o600);
        }
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp).map_err(fail)?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(fail)?;
    drop(file);
    std::fs::rename(&tmp, path)
        .map_err(|source| TlsError::WriteFile { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn always_local_names_plus_given_ones_without_duplicates() {
        let names = ["LOCALHOST".into(), "RTMP.example.".into(), "[::1]".into(), "10.0.0.1".into()];
        let cert = self_signed(&names).unwrap();
        assert_eq!(
            cert.info.names,
            ["localhost", "rtmp.example", "127.0.0.1", "::1", "10.0.0.1"].map(String::from)
        );
        assert_eq!(cert.info.subject, format!("CN={DEV_COMMON_NAME}"));
        assert_eq!(cert.info.issuer, cert.info.subject);
        let now = SystemTime::now();
        assert!(cert.info.is_valid_at(now));
        assert!(cert.info.not_before <= now - Duration::from_secs(23 * 3600));
        assert!(cert.info.not_after >= now + Duration::from_secs(364 * 24 * 3600));
        assert!(!format!("{cert:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn refuses_names_that_are_neither_dns_nor_ip() {
        for bad in ["", "has space", "a..b", "é.example"] {
            let err = self_signed(&[bad.to_owned()]).unwrap_err();
            assert!(err.to_string().starts_with("invalid certificate name"), "{bad:?}: {err}");
        }
    }
}
