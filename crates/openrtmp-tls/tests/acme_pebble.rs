//! ACME end to end against a real Pebble (Let's Encrypt's test CA, run by
//! `openrtmp_testkit::pebble`: Debian package `pebble`, `PEBBLE` overrides the program path):
//! TLS-ALPN-01 issuance through a rustls listener
//! standing in for RTMPS, renewal while connections stay up, restart from the cache with the
//! CA gone, HTTP-01 issuance, and a validation failure reported with the CA's reason.
//!
//! Pebble runs with `PEBBLE_VA_NOSLEEP=1` (no random validation delays),
//! `PEBBLE_WFE_NONCEREJECT=0` (no deliberate badNonce) and `PEBBLE_AUTHZREUSE=0` (every
//! order is validated again, so renewals exercise the challenge too).

use std::path::Path;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use openrtmp_testkit::pebble::Pebble;
use openrtmp_testkit::{free_port, TempDir};
use openrtmp_tls::acme::{AcmeError, AcmeManager};
use openrtmp_tls::{
    AcmeChallenge, AcmeSettings, CertResolver, ACME_TLS_ALPN, DEFAULT_CHECK_INTERVAL,
    DEFAULT_RENEW_BEFORE,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const DOMAIN: &str = "localhost";
const DEADLINE: Duration = Duration::from_secs(30);

fn init_tracing() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| "openrtmp_tls=debug".into());
        tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().init();
    });
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The root of the certificates `pebble` issues (regenerated at each start).
fn issuing_roots(pebble: &Pebble) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pebble.root_pem().as_bytes()).unwrap()).unwrap();
    roots
}

// ---------------------------------------------------------------------------------------
// The RTMPS listener's stand-in, and its clients
// ---------------------------------------------------------------------------------------

/// A TLS listener on 127.0.0.1 presenting the resolver's certificates (and TLS-ALPN-01
/// challenge certificates to `acme-tls/1` clients); echoes what clients send.
struct TlsListener {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    async fn start(resolver: Arc<CertResolver>) -> TlsListener {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let mut buf = [0u8; 1024];
                    while let Ok(n @ 1..) = tls.read(&mut buf).await {
                        if tls.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        TlsListener { port, task }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A client verifying the served chain for `localhost` against `roots`.
async fn connect(port: u16, roots: &RootCertStore) -> std::io::Result<TlsStream<TcpStream>> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from(DOMAIN).unwrap();
    TlsConnector::from(Arc::new(config)).connect(name, tcp).await
}

/// Whether the listener presents a TLS-ALPN-01 certificate for `localhost` now (a client
/// offering `acme-tls/1` that accepts any certificate completes a handshake).
async fn challenge_served(port: u16) -> bool {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything))
        .with_no_client_auth();
    config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from(DOMAIN).unwrap();
    TlsConnector::from(Arc::new(config)).connect(name, tcp).await.is_ok()
}

#[derive(Debug)]
struct AcceptAnything;

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider().signature_verification_algorithms.supported_schemes()
    }
}

fn serial_of(der: &[u8]) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    format!("{:x}", cert.tbs_certificate.serial)
}

/// Serial of the certificate the server presented on `stream`.
fn served_serial(stream: &TlsStream<TcpStream>) -> String {
    let chain = stream.get_ref().1.peer_certificates().expect("server certificate");
    serial_of(&chain[0])
}

/// Serial of the leaf in `cache/cert.pem`.
fn cached_serial(cache: &Path) -> String {
    let pem = std::fs::read(cache.join("cert.pem")).unwrap();
    serial_of(&CertificateDer::from_pem_slice(&pem).unwrap())
}

/// The account URL in `cache/account.json`.
fn account_id(cache: &Path) -> String {
    let json = std::fs::read(cache.join("account.json")).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    value["id"].as_str().expect("account id").to_owned()
}

async fn echo(stream: &mut TlsStream<TcpStream>) {
    stream.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
}

fn settings(pebble: &Pebble, cache: &Path, challenge: AcmeChallenge) -> AcmeSettings {
    AcmeSettings {
        directory: pebble.directory_url(),
        domains: vec![DOMAIN.to_owned()],
        contact: vec!["mailto:ops@example.com".to_owned()],
        cache_dir: cache.to_owned(),
        challenge,
        renew_before: DEFAULT_RENEW_BEFORE,
        check_interval: DEFAULT_CHECK_INTERVAL,
        directory_ca: Some(pebble.ca_file()),
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn_issue_renew_and_restart_from_cache() {
    init_tracing();
    let dir = TempDir::new("acme-pebble-alpn");
    let cache = dir.path("cache");
    let resolver = Arc::new(CertResolver::new());
    let listener = TlsListener::start(resolver.clone()).await;
    let Some(mut pebble) = Pebble::start(listener.port, free_port()) else { return };

    // Issuance on first use: account and certificate, challenge answered by the listener.
    let manager =
        AcmeManager::new(settings(&pebble, &cache, AcmeChallenge::TlsAlpn01), resolver.clone())
            .unwrap();
    assert!(!manager.load_cached().unwrap(), "nothing cached yet");
    let started = Instant::now();
    let issued = manager.check_once().await;
    let issuance = started.elapsed();
    assert!(issued.unwrap_or_else(|e| panic!("{e}\npebble:\n{}", pebble.log())));
    println!("issuance (account + order + TLS-ALPN-01 + finalize): {issuance:?}");
    let roots = issuing_roots(&pebble);
    let mut old_connection = connect(listener.port, &roots).await.expect("verified handshake");
    let first_serial = served_serial(&old_connection);
    assert_eq!(cached_serial(&cache), first_serial);
    let account = account_id(&cache);
    assert!(!challenge_served(listener.port).await, "challenge certificate left behind");
    assert!(!manager.check_once().await.unwrap(), "a fresh certificate needs no renewal");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["account.json", "key.pem"] {
            let mode = std::fs::metadata(cache.join(file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }

    // Renewal: renew_before beyond the certificate's lifetime, checked every second.
    let renewing = AcmeManager::new(
        AcmeSettings {
            renew_before: Duration::from_secs(100 * 365 * 24 * 3600),
            check_interval: Duration::from_secs(1),
            ..settings(&pebble, &cache, AcmeChallenge::TlsAlpn01)
        },
        resolver.clone(),
    )
    .unwrap();
    let started = Instant::now();
    let task = tokio::spawn(async move { renewing.run().await });
    let renewed_serial = loop {
        let stream = connect(listener.port, &roots).await.expect("verified handshake");
        let serial = served_serial(&stream);
        if serial != first_serial {
            break serial;
        }
        assert!(started.elapsed() < DEADLINE, "not renewed within {DEADLINE:?}:\n{}", pebble.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("renewal served after {:?} ({first_serial} -> {renewed_serial})", started.elapsed());
    task.abort();
    let _ = task.await;
    echo(&mut old_connection).await;
    assert_eq!(served_serial(&old_connection), first_serial);
    assert_ne!(cached_serial(&cache), first_serial, "cache not updated");
    assert_eq!(account_id(&cache), account, "account not reused");
    assert!(!challenge_served(listener.port).await, "challenge certificate left behind");

    // Restart with the CA gone: the cached certificate is served and nothing is asked.
    pebble.stop();
    let cached = cached_serial(&cache);
    let resolver = Arc::new(CertResolver::new());
    let listener = TlsListener::start(resolver.clone()).await;
    let restarted = AcmeManager::new(settings_after_restart(&pebble, &cache), resolver).unwrap();
    assert!(restarted.load_cached().unwrap());
    let mut stream = connect(listener.port, &roots).await.expect("verified handshake");
    assert_eq!(served_serial(&stream), cached);
    echo(&mut stream).await;
    assert!(!restarted.check_once().await.unwrap(), "asked the CA for no reason");
    assert_eq!(account_id(&cache), account);
}

/// Settings pointing at a directory nobody listens on (the CA is gone).
fn settings_after_restart(pebble: &Pebble, cache: &Path) -> AcmeSettings {
    AcmeSettings {
        directory: format!("https://localhost:{}/dir", free_port()),
        domains: vec![DOMAIN.to_owned()],
        contact: vec![],
        cache_dir: cache.to_owned(),
        challenge: AcmeChallenge::TlsAlpn01,
        renew_before: DEFAULT_RENEW_BEFORE,
        check_interval: DEFAULT_CHECK_INTERVAL,
        directory_ca: Some(pebble.ca_file()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_issue_and_failed_validation() {
    init_tracing();
    let dir = TempDir::new("acme-pebble-http");
    let http_port = free_port();
    // Nothing listens on the TLS-ALPN-01 port: that validation must fail.
    let Some(pebble) = Pebble::start(free_port(), http_port) else { return };

    let failing = AcmeManager::new(
        settings(&pebble, &dir.path("cache-alpn"), AcmeChallenge::TlsAlpn01),
        Arc::new(CertResolver::new()),
    )
    .unwrap();
    let started = Instant::now();
    match failing.check_once().await {
        Err(AcmeError::ValidationFailed { details }) => {
            println!("failed validation reported after {:?}: {details}", started.elapsed());
            assert!(details.contains(DOMAIN), "{details}");
        }
        other => panic!("expected a validation failure, got {other:?}"),
    }

    let resolver = Arc::new(CertResolver::new());
    let cache = dir.path("cache-http");
    let listen = ([127, 0, 0, 1], http_port).into();
    let manager = AcmeManager::new(
        settings(&pebble, &cache, AcmeChallenge::Http01 { listen }),
        resolver.clone(),
    )
    .unwrap();
    let started = Instant::now();
    let issued = manager.check_once().await;
    assert!(issued.unwrap_or_else(|e| panic!("{e}\npebble:\n{}", pebble.log())));
    println!("issuance with HTTP-01: {:?}", started.elapsed());
    // The responder is gone once the order is done.
    assert!(TcpStream::connect(("127.0.0.1", http_port)).await.is_err());
    let listener = TlsListener::start(resolver).await;
    let roots = issuing_roots(&pebble);
    let stream = connect(listener.port, &roots).await.expect("verified handshake");
    assert_eq!(served_serial(&stream), cached_serial(&cache));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_lost_by_the_ca_is_replaced() {
    init_tracing();
    let dir = TempDir::new("acme-pebble-lost");
    let cache = dir.path("cache");
    let resolver = Arc::new(CertResolver::new());
    let listener = TlsListener::start(resolver.clone()).await;
    let Some(mut pebble) = Pebble::start(listener.port, free_port()) else { return };
    let manager =
        AcmeManager::new(settings(&pebble, &cache, AcmeChallenge::TlsAlpn01), resolver.clone())
            .unwrap();
    assert!(manager.check_once().await.unwrap());
    let (account, serial) = (account_id(&cache), cached_serial(&cache));

    // Same address, empty state: the stored account is unknown there.
    pebble.restart();
    let renewing = AcmeManager::new(
        AcmeSettings {
            renew_before: Duration::from_secs(100 * 365 * 24 * 3600),
            ..settings(&pebble, &cache, AcmeChallenge::TlsAlpn01)
        },
        resolver,
    )
    .unwrap();
    let renewed = renewing.check_once().await;
    assert!(renewed.unwrap_or_else(|e| panic!("{e}\npebble:\n{}", pebble.log())));
    assert_ne!(account_id(&cache), account, "a new account");
    assert!(cache.join("account.json.1.old").exists(), "old account kept aside");
    assert_ne!(cached_serial(&cache), serial);
    let roots = issuing_roots(&pebble);
    let stream = connect(listener.port, &roots).await.expect("verified handshake");
    assert_eq!(served_serial(&stream), cached_serial(&cache));
}
