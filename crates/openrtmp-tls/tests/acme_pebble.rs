//! ACME end to end against a real Pebble (Let's Encrypt's test CA, Debian package `pebble`;
//! `PEBBLE` overrides the program path): TLS-ALPN-01 issuance through a rustls listener
//! standing in for RTMPS, renewal while connections stay up, restart from the cache with the
//! CA gone, HTTP-01 issuance, and a validation failure reported with the CA's reason.
//!
//! Pebble runs with `PEBBLE_VA_NOSLEEP=1` (no random validation delays),
//! `PEBBLE_WFE_NONCEREJECT=0` (no deliberate badNonce) and `PEBBLE_AUTHZREUSE=0` (every
//! order is validated again, so renewals exercise the challenge too).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use openrtmp_testkit::{free_port, skip_or_fail, ChildGuard, TempDir};
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

/// The Pebble program, when it runs (`pebble -h`; it has no `-version`).
fn pebble_program() -> Option<PathBuf> {
    let path = std::env::var_os("PEBBLE").map(PathBuf::from).unwrap_or_else(|| "pebble".into());
    let runs = Command::new(&path)
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if runs {
        return Some(path);
    }
    skip_or_fail(&format!("pebble ({}) is not available (apt-get install pebble)", path.display()));
    None
}

// ---------------------------------------------------------------------------------------
// Pebble
// ---------------------------------------------------------------------------------------

/// Where Pebble listens (ACME, management) and where it validates challenges.
#[derive(Clone, Copy)]
struct PebblePorts {
    listen: u16,
    management: u16,
    tls: u16,
    http: u16,
}

impl PebblePorts {
    /// Validation on `tls` (TLS-ALPN-01) and `http` (HTTP-01); ACME and management on
    /// free ports.
    fn new(tls: u16, http: u16) -> Self {
        PebblePorts { listen: free_port(), management: free_port(), tls, http }
    }
}

/// A Pebble process with its own HTTPS certificate, killed when dropped.
struct Pebble {
    child: ChildGuard,
    /// ACME directory URL.
    directory: String,
    /// The CA of Pebble's own HTTPS certificate (PEM file): `directory_ca`.
    https_ca: PathBuf,
    /// Trusts `https_ca`: for the management interface.
    https_roots: Arc<RootCertStore>,
    management_port: u16,
    log: PathBuf,
}

impl Pebble {
    /// Starts Pebble (its state starts empty: accounts and roots are new each time).
    async fn start(program: &Path, dir: &TempDir, ports: PebblePorts) -> Pebble {
        let (https_ca, https_roots) = pebble_https_certificate(dir);
        let PebblePorts { listen: listen_port, management: management_port, .. } = ports;
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{listen_port}"),
                "managementListenAddress": format!("127.0.0.1:{management_port}"),
                "certificate": dir.path("pebble-cert.pem"),
                "privateKey": dir.path("pebble-key.pem"),
                "httpPort": ports.http,
                "tlsPort": ports.tls,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
            }
        });
        let config_path = dir.path("pebble-config.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = dir.path("pebble.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(program)
            .arg("-config")
            .arg(&config_path)
            .args(["-strict", "false"])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let pebble = Pebble {
            child: ChildGuard(child),
            directory: format!("https://localhost:{listen_port}/dir"),
            https_ca,
            https_roots,
            management_port,
            log,
        };
        let started = Instant::now();
        loop {
            if let Ok((200, _)) = https_get(listen_port, "/dir", &pebble.https_roots).await {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no directory:\n{}", pebble.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!("pebble answering after {:?}", started.elapsed());
        pebble
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The root of the certificates Pebble issues (regenerated at each start).
    async fn issuing_roots(&self) -> RootCertStore {
        let (status, body) =
            https_get(self.management_port, "/roots/0", &self.https_roots).await.unwrap();
        assert_eq!(status, 200, "GET /roots/0: {body}");
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(body.as_bytes()).unwrap()).unwrap();
        roots
    }

    /// Stops Pebble and waits until it is gone.
    fn kill(mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }
}

/// A CA and, signed by it, Pebble's HTTPS certificate for localhost and 127.0.0.1: writes
/// `pebble-ca.pem`, `pebble-cert.pem`, `pebble-key.pem`.
fn pebble_https_certificate(dir: &TempDir) -> (PathBuf, Arc<RootCertStore>) {
    let mut ca_params = rcgen::CertificateParams::default();
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Pebble HTTPS test CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let ca_path = dir.path("pebble-ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    std::fs::write(dir.path("pebble-cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path("pebble-key.pem"), key.serialize_pem()).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    (ca_path, Arc::new(roots))
}

/// One HTTP/1.1 GET over TLS to 127.0.0.1:`port` (server name localhost): status, body.
async fn https_get(
    port: u16,
    path: &str,
    roots: &Arc<RootCertStore>,
) -> std::io::Result<(u16, String)> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(Arc::new(config)).connect(name, tcp).await?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    // Go may close without close_notify after the body: keep what arrived.
    if let Err(e) = tls.read_to_end(&mut response).await {
        if response.is_empty() {
            return Err(e);
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    Ok((status, if chunked { dechunk(body) } else { body.to_owned() }))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
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
        directory: pebble.directory.clone(),
        domains: vec![DOMAIN.to_owned()],
        contact: vec!["mailto:ops@example.com".to_owned()],
        cache_dir: cache.to_owned(),
        challenge,
        renew_before: DEFAULT_RENEW_BEFORE,
        check_interval: DEFAULT_CHECK_INTERVAL,
        directory_ca: Some(pebble.https_ca.clone()),
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn_issue_renew_and_restart_from_cache() {
    let Some(program) = pebble_program() else { return };
    init_tracing();
    let dir = TempDir::new("acme-pebble-alpn");
    let cache = dir.path("cache");
    let resolver = Arc::new(CertResolver::new());
    let listener = TlsListener::start(resolver.clone()).await;
    let pebble = Pebble::start(&program, &dir, PebblePorts::new(listener.port, free_port())).await;

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
    let roots = pebble.issuing_roots().await;
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
    pebble.kill();
    let cached = cached_serial(&cache);
    let resolver = Arc::new(CertResolver::new());
    let listener = TlsListener::start(resolver.clone()).await;
    let restarted = AcmeManager::new(settings_after_restart(&dir, &cache), resolver).unwrap();
    assert!(restarted.load_cached().unwrap());
    let mut stream = connect(listener.port, &roots).await.expect("verified handshake");
    assert_eq!(served_serial(&stream), cached);
    echo(&mut stream).await;
    assert!(!restarted.check_once().await.unwrap(), "asked the CA for no reason");
    assert_eq!(account_id(&cache), account);
}

/// Settings pointing at a directory nobody listens on (the CA is gone).
fn settings_after_restart(dir: &TempDir, cache: &Path) -> AcmeSettings {
    AcmeSettings {
        directory: format!("https://localhost:{}/dir", free_port()),
        domains: vec![DOMAIN.to_owned()],
        contact: vec![],
        cache_dir: cache.to_owned(),
        challenge: AcmeChallenge::TlsAlpn01,
        renew_before: DEFAULT_RENEW_BEFORE,
        check_interval: DEFAULT_CHECK_INTERVAL,
        directory_ca: Some(dir.path("pebble-ca.pem")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_issue_and_failed_validation() {
    let Some(program) = pebble_program() else { return };
    init_tracing();
    let dir = TempDir::new("acme-pebble-http");
    let http_port = free_port();
    // Nothing listens on the TLS-ALPN-01 port: that validation must fail.
    let pebble = Pebble::start(&program, &dir, PebblePorts::new(free_port(), http_port)).await;

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
    let roots = pebble.issuing_roots().await;
    let stream = connect(listener.port, &roots).await.expect("verified handshake");
    assert_eq!(served_serial(&stream), cached_serial(&cache));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_lost_by_the_ca_is_replaced() {
    let Some(program) = pebble_program() else { return };
    init_tracing();
    let dir = TempDir::new("acme-pebble-lost");
    let cache = dir.path("cache");
    let resolver = Arc::new(CertResolver::new());
    let listener = TlsListener::start(resolver.clone()).await;
    let ports = PebblePorts::new(listener.port, free_port());
    let pebble = Pebble::start(&program, &dir, ports).await;
    let manager =
        AcmeManager::new(settings(&pebble, &cache, AcmeChallenge::TlsAlpn01), resolver.clone())
            .unwrap();
    assert!(manager.check_once().await.unwrap());
    let (account, serial) = (account_id(&cache), cached_serial(&cache));

    // Same address, empty state: the stored account is unknown there.
    pebble.kill();
    let pebble = Pebble::start(&program, &dir, ports).await;
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
    let roots = pebble.issuing_roots().await;
    let stream = connect(listener.port, &roots).await.expect("verified handshake");
    assert_eq!(served_serial(&stream), cached_serial(&cache));
}
