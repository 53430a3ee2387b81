//! The RTMPS listener's TLS: a rustls server configuration whose certificate comes from
//! [`CertResolver`], kept current by [`ServerTls::maintain`] (file reloads, ACME renewals).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::version::{TLS12, TLS13};
use rustls::{ServerConfig, SupportedProtocolVersion};
use tokio_rustls::TlsAcceptor;

use crate::acme::{AcmeError, AcmeManager};
use crate::dev;
use crate::error::TlsError;
use crate::info::CertificateInfo;
use crate::pem::{parse_certified_key, provider, read_file};
use crate::resolver::{CertResolver, ACME_TLS_ALPN};
use crate::settings::{AcmeChallenge, AcmeSettings, CertSource, MinTlsVersion, ServerTlsSettings};
use crate::verify::PinnedClientVerifier;

/// The shortest interval between checks of certificate files (a zero interval would spin).
const MIN_RELOAD_INTERVAL: Duration = Duration::from_millis(100);

/// Common name of the certificate presented until ACME has issued the first one.
const ACME_PLACEHOLDER_NAME: &str = "OpenRTMP temporary certificate (awaiting ACME issuance)";

/// TLS for the RTMPS listener: TLS 1.2 and 1.3 (or 1.3 only), the current certificate for
/// every new handshake (connections in progress keep the one they started with), and
/// optionally client certificates pinned by fingerprint.
///
/// With ACME TLS-ALPN-01 the listener negotiates the `acme-tls/1` protocol, so a client
/// that offers ALPN without `acme-tls/1` is refused (`no_application_protocol`); RTMPS
/// clients send no ALPN.
///
/// Cloning is cheap: clones share the certificate and its maintenance.
#[derive(Clone)]
pub struct ServerTls {
    inner: Arc<Inner>,
}

struct Inner {
    resolver: Arc<CertResolver>,
    config: Arc<ServerConfig>,
    source: Source,
}

/// Where new certificates come from after start.
enum Source {
    Files(FileSource),
    SelfSigned,
    Acme(AcmeManager),
}

/// A certificate and key read from files, re-read every `interval`.
struct FileSource {
    cert: PathBuf,
    key: PathBuf,
    interval: Duration,
    /// Digest of the certificate and key file contents now presented; the lock also
    /// serializes reloads.
    loaded: Mutex<[u8; 32]>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.inner.source {
            Source::Files(files) => {
                format!("files {} {}", files.cert.display(), files.key.display())
            }
            Source::SelfSigned => "self-signed".to_owned(),
            Source::Acme(_) => "acme".to_owned(),
        };
        let fingerprint = self.certificate().map(|info| info.fingerprint);
        f.debug_struct("ServerTls")
            .field("source", &source)
            .field("fingerprint", &fingerprint)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Checks the settings and gets a first certificate: loads the files (any problem is
    /// returned), generates a self-signed one, or loads ACME's cached one (else presents a
    /// temporary self-signed certificate for the ACME domains until the first issuance,
    /// which [`maintain`](Self::maintain) performs; an unusable cached certificate, such as
    /// a key and certificate that do not match, is logged and issued anew).
    pub fn new(settings: &ServerTlsSettings) -> Result<ServerTls, TlsError> {
        let resolver = Arc::new(CertResolver::new());
        let config = server_config(settings, resolver.clone())?;
        let source = match &settings.source {
            CertSource::Files { cert, key } => {
                Source::Files(FileSource::load(cert, key, settings.reload_interval, &resolver)?)
            }
            CertSource::SelfSigned { names } => {
                start_self_signed(names, &resolver)?;
                Source::SelfSigned
            }
            CertSource::Acme(acme) => Source::Acme(start_acme(acme, &resolver)?),
        };
        Ok(ServerTls { inner: Arc::new(Inner { resolver, config, source }) })
    }

    /// An acceptor for the listener (cheap; all share the configuration).
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.inner.config.clone())
    }

    /// The rustls configuration behind [`acceptor`](Self::acceptor).
    pub fn config(&self) -> Arc<ServerConfig> {
        self.inner.config.clone()
    }

    /// The resolver that holds the current certificate.
    pub fn resolver(&self) -> Arc<CertResolver> {
        self.inner.resolver.clone()
    }

    /// The certificate new handshakes get (`None` before ACME's first issuance when no
    /// temporary certificate could be set, which does not happen through [`ServerTls::new`]).
    pub fn certificate(&self) -> Option<CertificateInfo> {
        let key = self.inner.resolver.current()?;
        CertificateInfo::from_der(key.cert.first()?).ok()
    }

    /// Re-reads the certificate files now and presents their certificate to new handshakes
    /// if their content changed; returns whether it did. On error (a file missing, half
    /// written, a key that does not match yet...) the previous certificate stays in use.
    /// Other sources: `Ok(false)` (ACME renews by itself).
    pub fn reload_now(&self) -> Result<bool, TlsError> {
        match &self.inner.source {
            Source::Files(files) => files.reload(&self.inner.resolver),
            Source::SelfSigned | Source::Acme(_) => Ok(false),
        }
    }

    /// Keeps the certificate current; runs until dropped. Files: checked every
    /// `reload_interval`, reloaded when changed (a failed reload is logged, the previous
    /// certificate kept, and retried at the next check). ACME: issues if needed, then renews
    /// before expiry. Self-signed: nothing to do.
    pub async fn maintain(&self) {
        match &self.inner.source {
            Source::Files(files) => self.watch_files(files.interval).await,
            Source::SelfSigned => std::future::pending().await,
            Source::Acme(manager) => run_acme(manager).await,
        }
    }

    async fn watch_files(&self, interval: Duration) {
        let mut ticker = tokio::time::interval(interval.max(MIN_RELOAD_INTERVAL));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // The first tick is immediate; the files were just loaded.
        let mut last_error: Option<String> = None;
        loop {
            ticker.tick().await;
            let this = self.clone();
            let error = match tokio::task::spawn_blocking(move || this.reload_now()).await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(format!("reload task failed: {e}")),
            };
            match &error {
                // Warn once per distinct problem, not at every check while it lasts.
                Some(e) if last_error.as_ref() != Some(e) => tracing::warn!(
                    error = %e,
                    "certificate reload failed; still serving the previous certificate"
                ),
                Some(e) => tracing::debug!(error = %e, "certificate reload still failing"),
                None => {}
            }
            last_error = error;
        }
    }
}

impl FileSource {
    fn load(
        cert: &Path,
        key: &Path,
        interval: Duration,
        resolver: &CertResolver,
    ) -> Result<FileSource, TlsError> {
        let files = FileSource {
            cert: cert.to_owned(),
            key: key.to_owned(),
            interval,
            loaded: Mutex::new([0; 32]),
        };
        files.reload(resolver)?;
        Ok(files)
    }

    fn reload(&self, resolver: &CertResolver) -> Result<bool, TlsError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        let cert_pem = read_file("certificate", &self.cert)?;
        let key_pem = read_file("private key", &self.key)?;
        let digest = content_digest(&cert_pem, &key_pem);
        if digest == *loaded {
            return Ok(false);
        }
        let key = parse_certified_key(&cert_pem, &self.cert, &key_pem, &self.key)?;
        let info = key.cert.first().map(|der| CertificateInfo::from_der(der)).transpose();
        let info = info.map_err(|e| TlsError::BadCertificate {
            path: self.cert.clone(),
            detail: e.to_string(),
        })?;
        resolver.set(Arc::new(key));
        *loaded = digest;
        if let Some(info) = info {
            log_certificate(&info, &format!("certificate loaded from {}", self.cert.display()));
        }
        Ok(true)
    }
}

fn content_digest(cert_pem: &[u8], key_pem: &[u8]) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    // Length-prefixed, so that moving bytes from one file to the other changes the digest.
    context.update(&(cert_pem.len() as u64).to_be_bytes());
    context.update(cert_pem);
    context.update(key_pem);
    let mut out = [0; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

fn server_config(
    settings: &ServerTlsSettings,
    resolver: Arc<CertResolver>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let versions: &[&'static SupportedProtocolVersion] = match settings.min_version {
        MinTlsVersion::Tls12 => &[&TLS13, &TLS12],
        MinTlsVersion::Tls13 => &[&TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config { detail: e.to_string() })?;
    let builder = match &settings.client_auth {
        None => builder.with_no_client_auth(),
        Some(auth) if auth.pinned.is_empty() => return Err(TlsError::NoClientPins),
        Some(auth) => builder.with_client_cert_verifier(Arc::new(PinnedClientVerifier::new(
            auth.pinned.clone(),
            auth.required,
            &provider,
        ))),
    };
    let mut config = builder.with_cert_resolver(resolver);
    if let CertSource::Acme(AcmeSettings { challenge: AcmeChallenge::TlsAlpn01, .. }) =
        &settings.source
    {
        config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    }
    Ok(Arc::new(config))
}

fn start_self_signed(names: &[String], resolver: &CertResolver) -> Result<(), TlsError> {
    let cert = dev::self_signed(names)?;
    let key = crate::pem::certified_key_from_pem(&cert.cert_pem, &cert.key_pem)?;
    resolver.set(Arc::new(key));
    tracing::warn!(
        fingerprint = %cert.info.fingerprint,
        spki_pin = %cert.info.spki_pin,
        names = ?cert.info.names,
        "TLS: self-signed certificate generated at start, for development only \
         (clients must pin spki_pin or trust this certificate)"
    );
    Ok(())
}

/// Everything that calls into [`AcmeManager`] at start.
fn start_acme(
    settings: &AcmeSettings,
    resolver: &Arc<CertResolver>,
) -> Result<AcmeManager, TlsError> {
    let manager = AcmeManager::new(settings.clone(), resolver.clone())?;
    match manager.load_cached() {
        Ok(true) => {
            let cached = resolver.current();
            let info = cached
                .as_ref()
                .and_then(|k| k.cert.first())
                .map(|der| CertificateInfo::from_der(der));
            if let Some(Ok(info)) = info {
                log_certificate(&info, "ACME certificate loaded from the cache");
            }
            return Ok(manager);
        }
        Ok(false) => {}
        // A renewal interrupted between writing key.pem and cert.pem leaves a pair that does
        // not match (or a damaged file): issue anew, which replaces both, rather than refuse
        // to start. Other errors (an unreadable cache directory) need the operator.
        Err(e @ AcmeError::CachedCertificate { .. }) => tracing::warn!(
            error = %e,
            "TLS: ignoring the unusable cached ACME certificate; a new one will be issued"
        ),
        Err(e) => return Err(e.into()),
    }
    let temporary = dev::generate(ACME_PLACEHOLDER_NAME, &settings.domains)?;
    let key = crate::pem::certified_key_from_pem(&temporary.cert_pem, &temporary.key_pem)?;
    resolver.set(Arc::new(key));
    tracing::warn!(
        domains = ?settings.domains,
        fingerprint = %temporary.info.fingerprint,
        "TLS: no ACME certificate yet; presenting a temporary self-signed certificate until \
         the first issuance"
    );
    Ok(manager)
}

async fn run_acme(manager: &AcmeManager) {
    manager.run().await;
}

/// Logs a newly presented certificate, with a warning when it is not valid now.
fn log_certificate(info: &CertificateInfo, what: &str) {
    let unix = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let now = SystemTime::now();
    let days_left = info.not_after.duration_since(now).map_or(0, |d| d.as_secs() / 86_400);
    if info.is_valid_at(now) {
        tracing::info!(
            fingerprint = %info.fingerprint,
            spki_pin = %info.spki_pin,
            subject = %info.subject,
            not_after = unix(info.not_after),
            days_left,
            "TLS: {what}"
        );
    } else {
        tracing::warn!(
            fingerprint = %info.fingerprint,
            subject = %info.subject,
            not_before = unix(info.not_before),
            not_after = unix(info.not_after),
            "TLS: {what}, but it is not valid now (expired or not yet valid)"
        );
    }
}
