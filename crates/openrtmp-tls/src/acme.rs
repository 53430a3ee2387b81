//! Certificates issued and renewed by an ACME CA (RFC 8555), validated with TLS-ALPN-01
//! (RFC 8737) on the RTMPS listener itself or with HTTP-01 on a small responder.
//!
//! [`AcmeManager`] keeps everything in the cache directory: the account (`account.json`,
//! created on first use, reused afterwards) and the current certificate (`cert.pem`,
//! `key.pem`), so a restart serves the cached certificate at once without asking the CA.
//! New certificates are installed with [`CertResolver::set`]: handshakes in progress and
//! established connections keep the certificate they started with.
//!
//! Creating the account accepts the CA's terms of service on the operator's behalf.

mod cache;
mod challenge;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use instant_acme::{
    Account, AccountBuilder, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder,
    Order, OrderStatus, Problem, RetryPolicy,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::{AcmeChallenge, AcmeSettings, CertResolver};

use cache::{CertInfo, Certificate};
use challenge::{ChallengeCerts, Http01Responder};

/// Longest one issuance may take (account, order, validation, finalization, download)
/// before it is abandoned and retried: the HTTP client has no timeout of its own.
const ISSUE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// First delay after a failed check; doubled after each failure up to the check interval.
const FIRST_RETRY: Duration = Duration::from_secs(60);
/// How the order is polled while the CA validates, and while it issues.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(Duration::from_secs(120));

/// Why issuing, renewing or loading a certificate failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// `domains` is empty.
    #[error("ACME: no domains configured")]
    NoDomains,
    /// A name the configured challenge cannot validate (wildcards need DNS-01; IP addresses
    /// are not ordered).
    #[error("ACME: cannot obtain a certificate for {domain:?}: {reason}")]
    UnsupportedDomain {
        /// The configured name.
        domain: String,
        /// Why.
        reason: &'static str,
    },
    /// `check_interval` is zero.
    #[error("ACME: check_interval must be longer than zero")]
    ZeroCheckInterval,
    /// The `directory_ca` file is unreadable or holds no PEM certificate.
    #[error("ACME directory CA {path}: {reason}")]
    DirectoryCa {
        /// The configured file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing the cache directory failed.
    #[error("ACME cache: cannot {action} {path}: {error}")]
    Io {
        /// What was being done (`read`, `create`, `rename into place`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        error: std::io::Error,
    },
    /// `account.json` is not valid account credentials.
    #[error("ACME account file {path} is not valid: {error}")]
    AccountFile {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        error: serde_json::Error,
    },
    /// The cached certificate or key cannot be used (bad PEM, key not matching).
    #[error("cached ACME certificate {path} is unusable: {reason}")]
    CachedCertificate {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A request to the CA failed, or the CA refused it.
    #[error("ACME CA {directory}: {step} failed: {error}")]
    Protocol {
        /// The directory URL.
        directory: String,
        /// What was being done (`creating the account`, `creating the order`, ...).
        step: &'static str,
        /// instant-acme's error (for refusals, the CA's problem document).
        error: instant_acme::Error,
    },
    /// The CA does not offer the configured challenge type for a name.
    #[error("ACME CA offers no {challenge} challenge for {domain}")]
    ChallengeNotOffered {
        /// The name.
        domain: String,
        /// `tls-alpn-01` or `http-01`.
        challenge: &'static str,
    },
    /// An authorization is in a state where it can no longer be validated.
    #[error("ACME authorization for {domain} is {status}")]
    Authorization {
        /// The name.
        domain: String,
        /// `invalid`, `revoked`, `expired` or `deactivated`.
        status: String,
    },
    /// The CA could not validate the challenges.
    #[error("ACME validation failed: {details}")]
    ValidationFailed {
        /// The CA's errors, per name.
        details: String,
    },
    /// The TLS-ALPN-01 challenge certificate could not be built.
    #[error("ACME: cannot build the TLS-ALPN-01 certificate for {domain}: {reason}")]
    ChallengeCertificate {
        /// The name.
        domain: String,
        /// Why.
        reason: String,
    },
    /// The HTTP-01 responder cannot listen.
    #[error("ACME: cannot listen for HTTP-01 validation on {listen}: {error}")]
    Http01Bind {
        /// The configured address.
        listen: SocketAddr,
        /// The system's error.
        error: std::io::Error,
    },
    /// The certificate the CA issued cannot be used.
    #[error("ACME: the issued certificate is unusable: {reason}")]
    IssuedCertificate {
        /// What is wrong.
        reason: String,
    },
    /// An issuance did not complete in time.
    #[error("ACME: issuance did not complete within {limit:?}")]
    Timeout {
        /// The limit.
        limit: Duration,
    },
}

/// Obtains the certificate for the configured names, keeps it in the cache directory,
/// presents it through a [`CertResolver`] and renews it before it expires.
///
/// Clones share one state (one check at a time across them).
#[derive(Clone)]
pub struct AcmeManager {
    inner: Arc<Inner>,
}

struct Inner {
    settings: AcmeSettings,
    resolver: Arc<CertResolver>,
    /// The account once loaded or created: only when a certificate must be issued, so a
    /// valid cached certificate needs no CA. Held for a whole check: one check at a time.
    account: tokio::sync::Mutex<Option<Account>>,
    /// The certificate this manager put into the resolver.
    installed: Mutex<Option<CertInfo>>,
}

impl std::fmt::Debug for AcmeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &self.inner;
        f.debug_struct("AcmeManager")
            .field("directory", &inner.settings.directory)
            .field("domains", &inner.settings.domains)
            .field("installed", &inner.installed_info())
            .finish_non_exhaustive()
    }
}

impl AcmeManager {
    /// Checks `settings` (names, interval, the directory CA file); nothing is read from the
    /// cache or asked of the CA yet.
    pub fn new(settings: AcmeSettings, resolver: Arc<CertResolver>) -> Result<Self, AcmeError> {
        let mut settings = settings;
        if settings.domains.is_empty() {
            return Err(AcmeError::NoDomains);
        }
        for domain in &mut settings.domains {
            *domain = domain.trim_end_matches('.').to_ascii_lowercase();
            let unsupported =
                |reason| AcmeError::UnsupportedDomain { domain: domain.clone(), reason };
            if domain.contains('*') {
                return Err(unsupported("wildcard names need DNS-01, which is not supported"));
            }
            if domain.parse::<std::net::IpAddr>().is_ok() || domain.starts_with('[') {
                return Err(unsupported("IP addresses are not supported"));
            }
            if domain.is_empty() {
                return Err(unsupported("empty name"));
            }
        }
        if settings.check_interval.is_zero() {
            return Err(AcmeError::ZeroCheckInterval);
        }
        if let Some(path) = &settings.directory_ca {
            if let Err(e) = CertificateDer::from_pem_file(path) {
                let reason = format!("no usable PEM certificate: {e}");
                return Err(AcmeError::DirectoryCa { path: path.clone(), reason });
            }
        }
        let inner = Inner {
            settings,
            resolver,
            account: tokio::sync::Mutex::new(None),
            installed: Mutex::new(None),
        };
        Ok(AcmeManager { inner: Arc::new(inner) })
    }

    /// Puts a cached certificate that is still valid into the resolver; true if it did.
    ///
    /// A missing, expired cached certificate, or one that does not name every configured
    /// domain, gives `Ok(false)`; an unreadable or corrupt one an error.
    pub fn load_cached(&self) -> Result<bool, AcmeError> {
        self.inner.load_cached()
    }

    /// Issues at once if there is no valid certificate, then checks every `check_interval`
    /// and renews when the certificate expires within `renew_before`; failures are logged
    /// and retried with backoff (1 min doubling to the check interval); runs forever.
    pub async fn run(&self) {
        self.inner.run().await
    }

    /// One check: issue or renew if needed. Returns whether a new certificate was installed.
    pub async fn check_once(&self) -> Result<bool, AcmeError> {
        self.inner.check_once().await
    }
}

impl Inner {
    fn load_cached(&self) -> Result<bool, AcmeError> {
        let Some(cert) = cache::load_certificate(&self.settings.cache_dir)? else {
            return Ok(false);
        };
        let info = &cert.info;
        if info.remaining(SystemTime::now()).is_zero() {
            tracing::info!(serial = %info.serial, not_after = %info.not_after_text,
                "cached ACME certificate has expired");
            return Ok(false);
        }
        if !info.covers(&self.settings.domains) {
            tracing::info!(names = ?info.names, domains = ?self.settings.domains,
                "cached ACME certificate does not name every configured domain");
            return Ok(false);
        }
        tracing::info!(names = ?info.names, serial = %info.serial,
            not_after = %info.not_after_text, "serving the cached ACME certificate");
        self.install(cert);
        Ok(true)
    }

    async fn run(&self) {
        let mut backoff = FIRST_RETRY;
        loop {
            let delay = match self.check_once().await {
                Ok(_) => {
                    backoff = FIRST_RETRY;
                    self.settings.check_interval
                }
                Err(e) => {
                    let delay = backoff.min(self.settings.check_interval);
                    tracing::warn!(error = %e, retry_in = ?delay, "ACME certificate check failed");
                    backoff = backoff.saturating_mul(2);
                    delay
                }
            };
            tokio::time::sleep(delay).await;
        }
    }

    async fn check_once(&self) -> Result<bool, AcmeError> {
        let mut account = self.account.lock().await;
        if self.installed_info().is_none() {
            if let Err(e) = self.load_cached() {
                tracing::warn!(error = %e, "ignoring the cached ACME certificate");
            }
        }
        let previous = self.installed_info();
        if let Some(info) = &previous {
            let left = info.remaining(SystemTime::now());
            if left >= self.settings.renew_before {
                tracing::debug!(serial = %info.serial, left = ?left, "ACME certificate is current");
                return Ok(false);
            }
            tracing::info!(serial = %info.serial, not_after = %info.not_after_text,
                renew_before = ?self.settings.renew_before, "ACME certificate due for renewal");
        }
        let started = Instant::now();
        let cert = tokio::time::timeout(ISSUE_TIMEOUT, self.issue(&mut account))
            .await
            .map_err(|_| AcmeError::Timeout { limit: ISSUE_TIMEOUT })??;
        let info = cert.info.clone();
        self.install(cert);
        // A certificate that is "due" as soon as it is issued would be renewed at every
        // check, which a public CA's rate limits soon refuse.
        let lifetime = info.remaining(SystemTime::now());
        if lifetime <= self.settings.renew_before {
            tracing::warn!(?lifetime, renew_before = ?self.settings.renew_before,
                "the CA issues certificates shorter than renew_before: every check will renew; \
                 lower tls.acme.renew_before");
        }
        let elapsed = started.elapsed();
        let (names, serial, not_after) = (&info.names, &info.serial, &info.not_after_text);
        match previous {
            Some(old) => tracing::info!(?names, %serial, %not_after, old_serial = %old.serial,
                ?elapsed, "ACME certificate renewed"),
            None => {
                tracing::info!(?names, %serial, %not_after, ?elapsed, "ACME certificate issued")
            }
        }
        Ok(true)
    }

    fn installed_info(&self) -> Option<CertInfo> {
        self.installed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn install(&self, cert: Certificate) {
        self.resolver.set(cert.key);
        *self.installed.lock().unwrap_or_else(|e| e.into_inner()) = Some(cert.info);
    }

    /// Orders, validates, finalizes and stores a new certificate (not yet installed).
    async fn issue(&self, account: &mut Option<Account>) -> Result<Certificate, AcmeError> {
        let identifiers: Vec<Identifier> =
            self.settings.domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
        let new_order = NewOrder::new(&identifiers);
        let current = match account {
            Some(account) => account.clone(),
            None => account.insert(self.load_or_create_account().await?).clone(),
        };
        let mut order = match current.new_order(&new_order).await {
            Err(e) if account_unknown(&e) => {
                tracing::warn!(id = current.id(), "the ACME CA no longer knows the account");
                *account = None;
                cache::retire_account(&self.settings.cache_dir)?;
                let current = account.insert(self.load_or_create_account().await?).clone();
                current.new_order(&new_order).await
            }
            result => result,
        }
        .map_err(self.protocol("creating the order"))?;
        // Both are withdrawn when dropped, on every path out of here.
        let mut certs = ChallengeCerts::new(self.resolver.clone());
        let responder = match self.settings.challenge {
            AcmeChallenge::Http01 { listen } => Some(Http01Responder::bind(listen).await?),
            AcmeChallenge::TlsAlpn01 => None,
        };
        self.answer_challenges(&mut order, &mut certs, responder.as_ref()).await?;
        match order.poll_ready(&POLL).await {
            Ok(OrderStatus::Ready) => {}
            Ok(_) | Err(instant_acme::Error::Api(_)) => {
                return Err(AcmeError::ValidationFailed { details: failures(&mut order).await })
            }
            Err(e) => return Err(self.protocol("waiting for validation")(e)),
        }
        drop((certs, responder));
        let key_pem = order.finalize().await.map_err(self.protocol("finalizing the order"))?;
        let chain_pem = order
            .poll_certificate(&POLL)
            .await
            .map_err(self.protocol("downloading the certificate"))?;
        let cert = Certificate::from_pem(chain_pem.as_bytes(), key_pem.as_bytes())
            .map_err(|reason| AcmeError::IssuedCertificate { reason })?;
        if !cert.info.covers(&self.settings.domains) {
            let reason = format!("it names {:?}, not {:?}", cert.info.names, self.settings.domains);
            return Err(AcmeError::IssuedCertificate { reason });
        }
        cache::store_certificate(&self.settings.cache_dir, &chain_pem, &key_pem)?;
        Ok(cert)
    }

    /// Sets up the response to each pending authorization's challenge and tells the CA.
    async fn answer_challenges(
        &self,
        order: &mut Order,
        certs: &mut ChallengeCerts,
        responder: Option<&Http01Responder>,
    ) -> Result<(), AcmeError> {
        let (kind, kind_name) = match self.settings.challenge {
            AcmeChallenge::TlsAlpn01 => (ChallengeType::TlsAlpn01, "tls-alpn-01"),
            AcmeChallenge::Http01 { .. } => (ChallengeType::Http01, "http-01"),
        };
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization =
                authorization.map_err(self.protocol("fetching an authorization"))?;
            let domain = authorization.identifier().to_string();
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => {
                    tracing::debug!(domain, "ACME authorization still valid");
                    continue;
                }
                status => {
                    let status = format!("{status:?}").to_ascii_lowercase();
                    return Err(AcmeError::Authorization { domain, status });
                }
            }
            let Some(mut challenge) = authorization.challenge(kind.clone()) else {
                return Err(AcmeError::ChallengeNotOffered { domain, challenge: kind_name });
            };
            let key_authorization = challenge.key_authorization();
            match responder {
                Some(responder) => responder.add(&challenge.token, key_authorization.as_str()),
                None => certs.install(
                    &domain,
                    challenge::tls_alpn_certificate(&domain, key_authorization.digest().as_ref())?,
                ),
            }
            challenge.set_ready().await.map_err(self.protocol("answering the challenge"))?;
            tracing::debug!(domain, challenge = kind_name, "ACME challenge ready");
        }
        Ok(())
    }

    /// The account from `account.json`, or a new one (then saved there).
    async fn load_or_create_account(&self) -> Result<Account, AcmeError> {
        let (dir, directory) = (&self.settings.cache_dir, &self.settings.directory);
        if let Some(credentials) = cache::load_account(dir, directory)? {
            let account = self
                .account_builder()?
                .from_credentials(credentials)
                .await
                .map_err(self.protocol("restoring the account"))?;
            tracing::debug!(id = account.id(), "ACME account loaded");
            return Ok(account);
        }
        let contact: Vec<&str> = self.settings.contact.iter().map(String::as_str).collect();
        let new = NewAccount {
            contact: &contact,
            terms_of_service_agreed: true,
            only_return_existing: false,
        };
        let (account, credentials) = self
            .account_builder()?
            .create(&new, directory.clone(), None)
            .await
            .map_err(self.protocol("creating the account"))?;
        cache::store_account(dir, &credentials)?;
        tracing::info!(id = account.id(), ?contact, "ACME account created");
        Ok(account)
    }

    fn account_builder(&self) -> Result<AccountBuilder, AcmeError> {
        // instant-acme builds its rustls config with the process-wide provider: make sure
        // there is one (ring, like everything else here) even if another crate enabled a
        // second provider. An already installed one is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = match &self.settings.directory_ca {
            Some(path) => Account::builder_with_root(path),
            None => Account::builder(),
        };
        builder.map_err(self.protocol("setting up the HTTPS client"))
    }

    fn protocol(&self, step: &'static str) -> impl FnOnce(instant_acme::Error) -> AcmeError + '_ {
        move |error| AcmeError::Protocol { directory: self.settings.directory.clone(), step, error }
    }
}

/// The CA's reasons for a failed order: each failed challenge's error, else the order's.
async fn failures(order: &mut Order) -> String {
    let mut details = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let Ok(mut authorization) = authorization else { continue };
        let domain = authorization.identifier().to_string();
        let Ok(state) = authorization.refresh().await else { continue };
        for challenge in &state.challenges {
            if let Some(problem) = &challenge.error {
                let kind = challenge_name(&challenge.r#type);
                details.push(format!("{domain} ({kind}): {}", describe(problem)));
            }
        }
    }
    if details.is_empty() {
        let state = order.state();
        details.push(match &state.error {
            Some(problem) => describe(problem),
            None => format!("order is {:?}", state.status).to_ascii_lowercase(),
        });
    }
    details.join("; ")
}

/// A problem document as one line: `detail [type]`, then its subproblems.
fn describe(problem: &Problem) -> String {
    let mut text = problem.detail.clone().unwrap_or_else(|| "no detail given".into());
    if let Some(kind) = &problem.r#type {
        text.push_str(&format!(" [{kind}]"));
    }
    for sub in &problem.subproblems {
        text.push_str(&format!("; {sub}"));
    }
    text
}

fn challenge_name(kind: &ChallengeType) -> String {
    match kind {
        ChallengeType::Http01 => "http-01".into(),
        ChallengeType::Dns01 => "dns-01".into(),
        ChallengeType::TlsAlpn01 => "tls-alpn-01".into(),
        other => format!("{other:?}"),
    }
}

/// Whether the CA no longer knows the account (deactivated, or a test CA that lost its
/// state): a new account is then created.
fn account_unknown(error: &instant_acme::Error) -> bool {
    matches!(error, instant_acme::Error::Api(problem)
        if problem.r#type.as_deref() == Some("urn:ietf:params:acme:error:accountDoesNotExist"))
}
