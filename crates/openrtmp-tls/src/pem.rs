//! Key material: the `ring` crypto provider every config is built with, and certificate
//! chains plus private keys read from PEM.

use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::TlsError;

/// Stands for the file name in errors about in-memory certificate PEM.
const CERT_TEXT: &str = "<certificate PEM text>";
/// Stands for the file name in errors about in-memory key PEM.
const KEY_TEXT: &str = "<private key PEM text>";

/// The `ring` crypto provider (the same instance for every caller).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// Installs [`provider`] as the process default (for libraries that build their own rustls
/// configs, such as reqwest with `rustls-no-provider`). Does nothing if a default is already
/// installed.
pub fn install_default_provider() {
    if CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a default is installed either way.
        let _ = CryptoProvider::install_default(rustls::crypto::ring::default_provider());
    }
}

/// Loads a certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or SEC1) from
/// PEM files, checking that the key belongs to the leaf certificate.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_pem = read_file("certificate", cert)?;
    let key_pem = read_file("private key", key)?;
    parse_certified_key(&cert_pem, cert, &key_pem, key)
}

/// [`load_certified_key`] for PEM text already in memory.
pub fn certified_key_from_pem(cert_pem: &str, key_pem: &str) -> Result<CertifiedKey, TlsError> {
    parse_certified_key(
        cert_pem.as_bytes(),
        Path::new(CERT_TEXT),
        key_pem.as_bytes(),
        Path::new(KEY_TEXT),
    )
}

/// Reads a whole file, telling a missing file apart from an unreadable one.
pub(crate) fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => TlsError::MissingFile { what, path: path.to_owned() },
        _ => TlsError::ReadFile { what, path: path.to_owned(), source },
    })
}

/// Parses a chain and a key read from `cert_path` and `key_path` (the paths only name them
/// in errors).
pub(crate) fn parse_certified_key(
    cert_pem: &[u8],
    cert_path: &Path,
    key_pem: &[u8],
    key_path: &Path,
) -> Result<CertifiedKey, TlsError> {
    let chain = parse_certificates(cert_pem, cert_path)?;
    let key_der = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey { path: key_path.to_owned() },
        e => bad_pem("private key", key_path, &e),
    })?;
    let signing_key = provider().key_provider.load_private_key(key_der).map_err(|e| {
        TlsError::UnsupportedKey { path: key_path.to_owned(), detail: e.to_string() }
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // A key that cannot tell its public half is accepted, as rustls itself does.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch { cert: cert_path.to_owned(), key: key_path.to_owned() })
        }
        Err(e) => {
            Err(TlsError::BadCertificate { path: cert_path.to_owned(), detail: e.to_string() })
        }
    }
}

/// Every `CERTIFICATE` block of `pem`, in order; at least one, each a parsable X.509
/// certificate.
pub(crate) fn parse_certificates(
    pem: &[u8],
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem("certificate", path, &e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: path.to_owned() });
    }
    for (i, der) in chain.iter().enumerate() {
        if let Err(e) = x509_parser::parse_x509_certificate(der) {
            let detail = format!("certificate #{} of the chain: {e}", i + 1);
            return Err(TlsError::BadCertificate { path: path.to_owned(), detail });
        }
    }
    Ok(chain)
}

fn bad_pem(what: &'static str, path: &Path, e: &pem::Error) -> TlsError {
    TlsError::BadPem { what, path: path.to_owned(), detail: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_is_shared_and_installing_it_twice_is_harmless() {
        assert!(Arc::ptr_eq(&provider(), &provider()));
        install_default_provider();
        install_default_provider();
        assert!(CryptoProvider::get_default().is_some());
    }
}
