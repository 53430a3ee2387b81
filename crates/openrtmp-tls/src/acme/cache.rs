//! The cache directory: the ACME account's credentials (`account.json`) and the current
//! certificate chain (`cert.pem`) with its private key (`key.pem`).
//!
//! Every file is written to a temporary name and renamed, so a crash never leaves a half
//! written file; secrets (the account key, the certificate key) are created mode 0600 on
//! Unix and the directory 0700.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use instant_acme::AccountCredentials;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::extensions::GeneralName;

use super::AcmeError;

/// The account credentials (instant-acme's JSON: account URL, PKCS#8 key, directory URL).
pub(super) const ACCOUNT_FILE: &str = "account.json";
/// The certificate chain, leaf first.
pub(super) const CERT_FILE: &str = "cert.pem";
/// The certificate's private key.
pub(super) const KEY_FILE: &str = "key.pem";

/// What the manager needs to know about a certificate it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CertInfo {
    /// DNS names of the subjectAltName extension, lowercase.
    pub names: Vec<String>,
    /// Serial number, lowercase hex without leading zeros (as Pebble and `openssl x509
    /// -serial` print it, in lowercase).
    pub serial: String,
    /// Expiry, seconds since the Unix epoch.
    pub not_after: i64,
    /// Expiry as printed in logs.
    pub not_after_text: String,
}

impl CertInfo {
    /// Reads names, serial and expiry from a DER certificate.
    pub fn parse(der: &[u8]) -> Result<CertInfo, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let mut names = Vec::new();
        let san =
            cert.subject_alternative_name().map_err(|e| format!("bad subjectAltName: {e}"))?;
        for name in san.iter().flat_map(|ext| ext.value.general_names.iter()) {
            if let GeneralName::DNSName(dns) = name {
                names.push(dns.to_ascii_lowercase());
            }
        }
        let not_after = cert.validity().not_after;
        Ok(CertInfo {
            names,
            serial: format!("{:x}", cert.tbs_certificate.serial),
            not_after: not_after.timestamp(),
            not_after_text: not_after.to_string(),
        })
    }

    /// Whether every one of `domains` (lowercase) is among the certificate's names.
    pub fn covers(&self, domains: &[String]) -> bool {
        domains.iter().all(|d| self.names.iter().any(|n| n == d))
    }

    /// Time left before expiry at `now` (zero once expired).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        let now = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => 0,
        };
        let left = self.not_after.saturating_sub(now);
        Duration::from_secs(u64::try_from(left).unwrap_or(0))
    }
}

/// A certificate ready for the resolver.
#[derive(Debug)]
pub(super) struct Certificate {
    /// Chain and signing key.
    pub key: Arc<CertifiedKey>,
    /// The leaf's names, serial and expiry.
    pub info: CertInfo,
}

impl Certificate {
    /// Parses a PEM chain (leaf first) and its PEM private key, checking that they match.
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Certificate, String> {
        let chain = CertificateDer::pem_slice_iter(chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("bad certificate PEM: {e}"))?;
        let leaf = chain.first().ok_or("no certificate in the PEM chain")?;
        let info = CertInfo::parse(leaf)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| format!("bad private key PEM: {e}"))?;
        let provider = rustls::crypto::ring::default_provider();
        let key = CertifiedKey::from_der(chain, key, &provider)
            .map_err(|e| format!("private key unusable with the certificate: {e}"))?;
        Ok(Certificate { key: Arc::new(key), info })
    }
}

/// Reads the cached certificate and key; `None` when either file does not exist.
pub(super) fn load_certificate(dir: &Path) -> Result<Option<Certificate>, AcmeError> {
    let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    let Some(chain) = read_if_exists(&cert_path)? else { return Ok(None) };
    let Some(key) = read_if_exists(&key_path)? else { return Ok(None) };
    Certificate::from_pem(&chain, &key)
        .map(Some)
        .map_err(|reason| AcmeError::CachedCertificate { path: cert_path, reason })
}

/// Writes the certificate chain and its key (key first: a crash in between leaves a
/// mismatched pair that [`load_certificate`] refuses, never a key readable by others).
pub(super) fn store_certificate(
    dir: &Path,
    chain_pem: &str,
    key_pem: &str,
) -> Result<(), AcmeError> {
    ensure_dir(dir)?;
    write_atomic(&dir.join(KEY_FILE), key_pem.as_bytes(), true)?;
    write_atomic(&dir.join(CERT_FILE), chain_pem.as_bytes(), false)
}

/// Reads the account credentials; `None` when there are none yet, or when they belong to
/// another directory than `directory` (they are then kept as `account.json.<n>.old`).
pub(super) fn load_account(
    dir: &Path,
    directory: &str,
) -> Result<Option<AccountCredentials>, AcmeError> {
    let path = dir.join(ACCOUNT_FILE);
    let Some(bytes) = read_if_exists(&path)? else { return Ok(None) };
    let bad = |error| AcmeError::AccountFile { path: path.clone(), error };
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(bad)?;
    let stored = value.get("directory").and_then(|d| d.as_str()).unwrap_or_default();
    if stored != directory {
        tracing::warn!(stored, directory, "ACME account belongs to another directory");
        retire_account(dir)?;
        return Ok(None);
    }
    serde_json::from_value(value).map(Some).map_err(bad)
}

/// Moves `account.json` aside (to `account.json.<n>.old`): a new account will be created.
pub(super) fn retire_account(dir: &Path) -> Result<(), AcmeError> {
    let (path, old) = (dir.join(ACCOUNT_FILE), unused_name(dir, ACCOUNT_FILE));
    match std::fs::rename(&path, &old) {
        Ok(()) => {
            tracing::warn!(kept_as = %old.display(), "ACME account retired");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(AcmeError::Io { action: "rename", path, error }),
    }
}

/// Writes the account credentials (mode 0600).
pub(super) fn store_account(dir: &Path, credentials: &AccountCredentials) -> Result<(), AcmeError> {
    let path = dir.join(ACCOUNT_FILE);
    let json = serde_json::to_vec_pretty(credentials)
        .map_err(|error| AcmeError::AccountFile { path: path.clone(), error })?;
    ensure_dir(dir)?;
    write_atomic(&path, &json, true)
}

/// `name.<n>.old` in `dir` for the first `n` not taken.
fn unused_name(dir: &Path, name: &str) -> PathBuf {
    (1u32..)
        .map(|n| dir.join(format!("{name}.{n}.old")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| dir.join(format!("{name}.old")))
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, AcmeError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(AcmeError::Io { action: "read", path: path.to_owned(), error }),
    }
}

/// Creates the cache directory (mode 0700 on Unix) if it does not exist.
fn ensure_dir(dir: &Path) -> Result<(), AcmeError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|error| AcmeError::Io {
        action: "create directory",
        path: dir.to_owned(),
        error,
    })
}

/// Writes `bytes` to `path.tmp`, syncs it and renames it over `path`. `private` files are
/// created mode 0600 on Unix.
fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), AcmeError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let io = |action, path: &Path| {
        let path = path.to_owned();
        move |error| AcmeError::Io { action, path, error }
    };
    // A leftover temporary file keeps its old mode: start afresh.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io("remove", &tmp)(e)),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp).map_err(io("create", &tmp))?;
    file.write_all(bytes).map_err(io("write", &tmp))?;
    file.sync_all().map_err(io("sync", &tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io("rename into place", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("openrtmp-acme-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn self_signed(names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(names).unwrap().self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn certificate_round_trip_with_modes() {
        let dir = temp_dir("round-trip");
        assert!(load_certificate(&dir).unwrap().is_none());
        let (chain, key) = self_signed(&["Example.COM", "www.example.com"]);
        store_certificate(&dir, &chain, &key).unwrap();
        let cert = load_certificate(&dir).unwrap().unwrap();
        assert_eq!(cert.info.names, ["example.com", "www.example.com"]);
        assert!(cert.info.covers(&["www.example.com".into()]));
        assert!(!cert.info.covers(&["other.example.com".into()]));
        assert!(cert.info.remaining(SystemTime::now()) > Duration::from_secs(3600));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |f: &str| std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode(KEY_FILE) & 0o777, 0o600);
            assert_eq!(mode(CERT_FILE) & 0o777, 0o644);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mismatched_key_is_refused() {
        let dir = temp_dir("mismatch");
        let (chain, _) = self_signed(&["example.com"]);
        let (_, other_key) = self_signed(&["example.com"]);
        store_certificate(&dir, &chain, &other_key).unwrap();
        let err = load_certificate(&dir).unwrap_err();
        assert!(err.to_string().contains("private key unusable"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn expired_certificate_has_no_time_left() {
        let info = CertInfo {
            names: vec![],
            serial: "1".into(),
            not_after: 1000,
            not_after_text: String::new(),
        };
        assert_eq!(info.remaining(SystemTime::now()), Duration::ZERO);
        let at = UNIX_EPOCH + Duration::from_secs(400);
        assert_eq!(info.remaining(at), Duration::from_secs(600));
    }
}
