//! What the server and the clients can be told about TLS (filled by the configuration
//! layer; validated by [`crate::ServerTls::new`] and [`ClientTls::client_config`](crate::ClientTls)).

use std::path::PathBuf;
use std::time::Duration;

/// A SHA-256 fingerprint: of a whole certificate (client-certificate pins) or of a
/// SubjectPublicKeyInfo (server key pins). Written as 64 hex digits, colons allowed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// SHA-256 of `data` (a DER certificate or SubjectPublicKeyInfo).
    pub fn of(data: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Fingerprint(out)
    }
}

impl std::fmt::Display for Fingerprint {
    /// Lowercase hex, colon-separated (as `openssl x509 -fingerprint -sha256` prints it,
    /// in lowercase).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A fingerprint that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 fingerprint (64 hex digits, colons allowed): {0:?}")]
pub struct BadFingerprint(pub String);

impl std::str::FromStr for Fingerprint {
    type Err = BadFingerprint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: Vec<u8> = s.bytes().filter(|b| *b != b':').collect();
        let bad = || BadFingerprint(s.to_owned());
        if hex.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let text = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(text, 16).map_err(|_| bad())?;
        }
        Ok(Fingerprint(out))
    }
}

/// Where the RTMPS listener's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// PEM files, reloaded when they change on disk.
    Files {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// Private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// A self-signed certificate generated at start for these names (development only).
    SelfSigned {
        /// DNS names or IP addresses; `localhost`, `127.0.0.1` and `::1` are always included.
        names: Vec<String>,
    },
    /// Issued and renewed by an ACME CA.
    Acme(AcmeSettings),
}

/// How the ACME CA checks that we control the names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmeChallenge {
    /// TLS-ALPN-01 (RFC 8737), answered on the RTMPS listener itself (the CA connects to
    /// port 443 of the name in production: run RTMPS on 443 or forward it).
    TlsAlpn01,
    /// HTTP-01, answered by a small HTTP listener on this address (the CA connects to port
    /// 80 of the name in production).
    Http01 {
        /// Listen address of the challenge responder.
        listen: std::net::SocketAddr,
    },
}

/// ACME issuance and renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// Directory URL (e.g. Let's Encrypt's `https://acme-v02.api.letsencrypt.org/directory`).
    pub directory: String,
    /// Names on the certificate.
    pub domains: Vec<String>,
    /// Contact addresses (`mailto:...`).
    pub contact: Vec<String>,
    /// Where the account and the certificates are kept between runs.
    pub cache_dir: PathBuf,
    /// Challenge type.
    pub challenge: AcmeChallenge,
    /// Renew when the certificate expires within this.
    pub renew_before: Duration,
    /// How often the expiry is checked.
    pub check_interval: Duration,
    /// Extra root certificate (PEM) to trust for the directory's HTTPS (private or test CAs).
    pub directory_ca: Option<PathBuf>,
}

/// Default `renew_before`: 30 days.
pub const DEFAULT_RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default `check_interval`: 12 hours.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(12 * 3600);

/// Lowest TLS version accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MinTlsVersion {
    /// TLS 1.2 (the default).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Mutual TLS: which client certificates are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientAuthSettings {
    /// SHA-256 fingerprints of the accepted client certificates (DER, like
    /// `openssl x509 -fingerprint -sha256`).
    pub pinned: Vec<Fingerprint>,
    /// Refuse clients without a certificate (otherwise a certificate is optional, but one
    /// that is sent must be pinned).
    pub required: bool,
}

/// The RTMPS listener's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsSettings {
    /// Where the certificate comes from.
    pub source: CertSource,
    /// Lowest accepted version (never below 1.2).
    pub min_version: MinTlsVersion,
    /// Mutual TLS (`None`: no client certificate asked for).
    pub client_auth: Option<ClientAuthSettings>,
    /// How often certificate files are checked for changes.
    pub reload_interval: Duration,
}

/// Default interval between checks of certificate files.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// TLS for our outgoing connections (client library, HTTP callbacks).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientTls {
    /// Extra trusted roots (PEM files), besides the built-in Mozilla roots.
    pub ca_files: Vec<PathBuf>,
    /// Pinned server keys: SHA-256 of the server certificate's SubjectPublicKeyInfo. When
    /// set, the server is trusted by its key alone: its leaf key must match one of them,
    /// and neither the chain nor the name is checked (so a self-signed server can be
    /// pinned). Handshake signatures are always verified.
    pub pinned_keys: Vec<Fingerprint>,
    /// Skip chain and name verification (development only; pins still apply).
    pub insecure: bool,
}
