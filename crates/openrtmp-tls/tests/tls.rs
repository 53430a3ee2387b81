//! End-to-end TLS over real sockets: tokio-rustls on both sides of a 127.0.0.1 connection.
//! Covers development certificates, protocol versions, certificate reload (files), mutual
//! TLS with pinned client certificates, our client configurations (pins, CA files) and the
//! error messages operators see.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openrtmp_testkit::{skip_or_fail, TempDir};
use openrtmp_tls::dev::{self, DevCert};
use openrtmp_tls::{
    certified_key_from_pem, load_certified_key, AcmeChallenge, AcmeSettings, CertSource,
    CertificateInfo, ClientAuthSettings, ClientTls, Fingerprint, MinTlsVersion, ServerTls,
    ServerTlsSettings, TlsError, ACME_TLS_ALPN,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::version::{TLS12, TLS13};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const BOTH: &[&SupportedProtocolVersion] = &[&TLS13, &TLS12];
const ONLY_12: &[&SupportedProtocolVersion] = &[&TLS12];

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(tracing::Level::DEBUG)
        .try_init();
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(5), fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: timed out"),
    }
}

fn settings(source: CertSource) -> ServerTlsSettings {
    ServerTlsSettings {
        source,
        min_version: MinTlsVersion::Tls12,
        client_auth: None,
        reload_interval: Duration::from_millis(100),
    }
}

fn self_signed_settings() -> ServerTlsSettings {
    settings(CertSource::SelfSigned { names: vec![] })
}

fn files_settings(cert: &Path, key: &Path) -> ServerTlsSettings {
    settings(CertSource::Files { cert: cert.to_owned(), key: key.to_owned() })
}

/// An echo server behind `tls`; handshake failures just drop the connection.
async fn serve(tls: &ServerTls) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.acceptor();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(tcp).await else { return };
                let mut buf = [0u8; 256];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// The DER certificate `tls` presents now.
fn served_cert(tls: &ServerTls) -> CertificateDer<'static> {
    tls.resolver().current().unwrap().cert[0].clone()
}

fn cert_der(cert: &DevCert) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()
}

/// A plain rustls client trusting `trusted` as roots, optionally with a client certificate.
fn client(
    versions: &[&'static SupportedProtocolVersion],
    trusted: &[CertificateDer<'static>],
    identity: Option<&DevCert>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in trusted {
        roots.add(cert.clone()).unwrap();
    }
    let builder = ClientConfig::builder_with_provider(openrtmp_tls::provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(vec![cert_der(id)], key).unwrap()
        }
    };
    Arc::new(config)
}

async fn connect(config: Arc<ClientConfig>, addr: SocketAddr) -> io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(config).connect(name, tcp).await
}

/// One round trip of application data.
async fn echo(stream: &mut TlsStream<TcpStream>) -> io::Result<()> {
    stream.write_all(b"ping").await?;
    stream.flush().await?;
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"ping");
    Ok(())
}

/// Connects and exchanges data (with TLS 1.3, a refused client certificate only shows when
/// data is read).
async fn session(config: Arc<ClientConfig>, addr: SocketAddr) -> io::Result<TlsStream<TcpStream>> {
    within("session", async {
        let mut stream = connect(config, addr).await?;
        echo(&mut stream).await?;
        Ok(stream)
    })
    .await
}

fn peer_fingerprint(stream: &TlsStream<TcpStream>) -> Fingerprint {
    Fingerprint::of(&stream.get_ref().1.peer_certificates().unwrap()[0])
}

/// Replaces `dir/cert.pem` and `dir/key.pem` the way deployment tools should: write
/// elsewhere, then rename (key first; the pair is inconsistent in between, which the
/// reloader must tolerate).
fn replace_files(dir: &Path, cert: &DevCert) {
    std::fs::write(dir.join("key.pem.new"), &cert.key_pem).unwrap();
    std::fs::write(dir.join("cert.pem.new"), &cert.cert_pem).unwrap();
    std::fs::rename(dir.join("key.pem.new"), dir.join("key.pem")).unwrap();
    std::fs::rename(dir.join("cert.pem.new"), dir.join("cert.pem")).unwrap();
}

fn err_text<T: std::fmt::Debug>(result: Result<T, TlsError>) -> String {
    result.unwrap_err().to_string()
}

fn openssl(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?} failed");
    out.stdout
}

fn openssl_available() -> bool {
    Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success())
}

// ---------------------------------------------------------------------------------------
// Development certificates
// ---------------------------------------------------------------------------------------

#[test]
fn dev_cert_is_written_loaded_back_and_matches_openssl() {
    let dir = TempDir::new("tls-dev");
    let names = vec!["rtmp.test".to_owned(), "192.0.2.7".to_owned()];
    let (cert_path, key_path, cert) = dev::write(&dir.path("certs"), &names).unwrap();
    assert_eq!(cert_path, dir.path("certs").join("cert.pem"));
    assert_eq!(key_path, dir.path("certs").join("key.pem"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    }

    let loaded = load_certified_key(&cert_path, &key_path).unwrap();
    assert_eq!(loaded.cert.len(), 1);
    let info = CertificateInfo::from_der(&loaded.cert[0]).unwrap();
    assert_eq!(info, cert.info);
    assert_eq!(info.names, ["localhost", "rtmp.test", "127.0.0.1", "::1", "192.0.2.7"]);
    assert_eq!(info.subject, "CN=OpenRTMP development certificate");
    assert_eq!(info.fingerprint, Fingerprint::of(&loaded.cert[0]));
    assert_eq!(openrtmp_tls::spki_fingerprint(&loaded.cert[0]).unwrap(), info.spki_pin);
    certified_key_from_pem(&cert.cert_pem, &cert.key_pem).unwrap();

    if !openssl_available() {
        skip_or_fail("openssl is not on PATH: fingerprints not compared with openssl's");
        return;
    }
    let pem = cert.cert_pem.as_bytes();
    // "sha256 Fingerprint=AB:CD:..." (the case of the prefix varies between versions).
    let out = String::from_utf8(openssl(&["x509", "-noout", "-fingerprint", "-sha256"], Some(pem)))
        .unwrap();
    let theirs = out.trim().rsplit('=').next().unwrap().to_ascii_lowercase();
    assert_eq!(theirs, info.fingerprint.to_string());
    assert_eq!(theirs.parse::<Fingerprint>().unwrap(), info.fingerprint);

    let spki = openssl(&["x509", "-noout", "-pubkey"], Some(pem));
    let spki_der = openssl(&["pkey", "-pubin", "-outform", "der"], Some(&spki));
    assert_eq!(Fingerprint::of(&spki_der), info.spki_pin);

    let san = String::from_utf8(openssl(&["x509", "-noout", "-ext", "subjectAltName"], Some(pem)))
        .unwrap();
    for expected in
        ["DNS:localhost", "DNS:rtmp.test", "IP Address:127.0.0.1", "IP Address:192.0.2.7"]
    {
        assert!(san.contains(expected), "{expected} not in {san}");
    }
}

// ---------------------------------------------------------------------------------------
// Protocol versions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn tls12_and_tls13_clients_connect_and_min_tls13_refuses_tls12() {
    init_logs();
    let tls = ServerTls::new(&self_signed_settings()).unwrap();
    let addr = serve(&tls).await;
    let trusted = [served_cert(&tls)];

    let s12 = session(client(ONLY_12, &trusted, None), addr).await.unwrap();
    assert_eq!(s12.get_ref().1.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    let s13 = session(client(BOTH, &trusted, None), addr).await.unwrap();
    assert_eq!(s13.get_ref().1.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    // No ALPN unless ACME TLS-ALPN-01 is configured.
    assert!(tls.config().alpn_protocols.is_empty());

    let mut only13 = self_signed_settings();
    only13.min_version = MinTlsVersion::Tls13;
    let tls = ServerTls::new(&only13).unwrap();
    let addr = serve(&tls).await;
    let trusted = [served_cert(&tls)];
    let refused = session(client(ONLY_12, &trusted, None), addr).await.unwrap_err();
    assert!(refused.to_string().contains("ProtocolVersion"), "{refused}");
    let s13 = session(client(BOTH, &trusted, None), addr).await.unwrap();
    assert_eq!(s13.get_ref().1.protocol_version(), Some(ProtocolVersion::TLSv1_3));
}

// ---------------------------------------------------------------------------------------
// Reload
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn reload_swaps_the_certificate_for_new_connections_only() {
    init_logs();
    let dir = TempDir::new("tls-reload");
    let (cert_path, key_path, old) = dev::write(&dir.0, &[]).unwrap();
    let tls = ServerTls::new(&files_settings(&cert_path, &key_path)).unwrap();
    assert_eq!(tls.certificate().unwrap(), old.info);
    let addr = serve(&tls).await;
    let new = dev::self_signed(&[]).unwrap();
    // A fresh client configuration per connection: a shared one would resume the TLS
    // session, and a resumed session keeps the certificate it was established with.
    let trusted = [cert_der(&old), cert_der(&new)];
    let config = || client(BOTH, &trusted, None);

    let mut before = session(config(), addr).await.unwrap();
    assert_eq!(peer_fingerprint(&before), old.info.fingerprint);
    assert!(!tls.reload_now().unwrap(), "unchanged files must not count as a reload");

    replace_files(&dir.0, &new);
    assert!(tls.reload_now().unwrap());
    assert!(!tls.reload_now().unwrap());
    assert_eq!(tls.certificate().unwrap().fingerprint, new.info.fingerprint);
    let after = session(config(), addr).await.unwrap();
    assert_eq!(peer_fingerprint(&after), new.info.fingerprint);
    // The connection opened before keeps its certificate and still works.
    within("old connection", echo(&mut before)).await.unwrap();
    assert_eq!(peer_fingerprint(&before), old.info.fingerprint);

    // Half-written or garbage files fail the reload; the current certificate stays.
    let half = &new.cert_pem[..new.cert_pem.len() / 2];
    for (bad, expected) in [
        (half, "is not valid PEM"),
        ("garbage\n", "contains no certificate"),
        (old.cert_pem.as_str(), "does not match certificate file"),
    ] {
        std::fs::write(&cert_path, bad).unwrap();
        let err = err_text(tls.reload_now());
        assert!(err.contains(expected), "{err}");
        assert!(err.contains(&cert_path.display().to_string()), "{err}");
        let still = session(config(), addr).await.unwrap();
        assert_eq!(peer_fingerprint(&still), new.info.fingerprint);
    }
    std::fs::remove_file(&key_path).unwrap();
    let err = err_text(tls.reload_now());
    assert_eq!(err, format!("private key file {} does not exist", key_path.display()));
    assert_eq!(tls.certificate().unwrap().fingerprint, new.info.fingerprint);
}

#[tokio::test]
async fn maintain_picks_up_replaced_files() {
    init_logs();
    let dir = TempDir::new("tls-maintain");
    let (cert_path, key_path, old) = dev::write(&dir.0, &[]).unwrap();
    let tls = ServerTls::new(&files_settings(&cert_path, &key_path)).unwrap();
    let maintainer = tokio::spawn({
        let tls = tls.clone();
        async move { tls.maintain().await }
    });
    // A half-written file first: ignored, then the complete pair.
    std::fs::write(&cert_path, &old.cert_pem[..100]).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(tls.certificate().unwrap().fingerprint, old.info.fingerprint);

    let new = dev::self_signed(&[]).unwrap();
    replace_files(&dir.0, &new);
    let start = Instant::now();
    while tls.certificate().unwrap().fingerprint != new.info.fingerprint {
        assert!(start.elapsed() < Duration::from_secs(1), "not reloaded within 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let addr = serve(&tls).await;
    let stream = session(client(BOTH, &[cert_der(&new)], None), addr).await.unwrap();
    assert_eq!(peer_fingerprint(&stream), new.info.fingerprint);
    maintainer.abort();
}

// ---------------------------------------------------------------------------------------
// Mutual TLS
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn mutual_tls_accepts_exactly_the_pinned_client_certificates() {
    init_logs();
    let pinned = dev::self_signed(&[]).unwrap();
    let other = dev::self_signed(&[]).unwrap();
    for required in [true, false] {
        let mut settings = self_signed_settings();
        settings.client_auth =
            Some(ClientAuthSettings { pinned: vec![pinned.info.fingerprint], required });
        let tls = ServerTls::new(&settings).unwrap();
        let addr = serve(&tls).await;
        let trusted = [served_cert(&tls)];
        for versions in [BOTH, ONLY_12] {
            let label = format!("required={required} versions={versions:?}");
            session(client(versions, &trusted, Some(&pinned)), addr)
                .await
                .unwrap_or_else(|e| panic!("{label}: pinned client refused: {e}"));
            let unpinned = session(client(versions, &trusted, Some(&other)), addr).await;
            let err = unpinned.expect_err(&format!("{label}: unpinned client accepted"));
            assert!(err.to_string().contains("AccessDenied"), "{label}: {err}");
            let anonymous = session(client(versions, &trusted, None), addr).await;
            match anonymous {
                Ok(_) => assert!(!required, "{label}: client without certificate accepted"),
                Err(e) => {
                    assert!(required, "{label}: client without certificate refused: {e}");
                    assert!(e.to_string().contains("CertificateRequired"), "{label}: {e}");
                }
            }
        }
    }
}

#[test]
fn mutual_tls_without_pins_is_refused_at_start() {
    let mut settings = self_signed_settings();
    settings.client_auth = Some(ClientAuthSettings { pinned: vec![], required: true });
    assert_eq!(
        err_text(ServerTls::new(&settings)),
        "client authentication is enabled but no client certificate fingerprint is pinned"
    );
}

// ---------------------------------------------------------------------------------------
// Our clients
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn client_tls_pins_ca_files_and_default_roots() {
    init_logs();
    let dir = TempDir::new("tls-client");
    let (cert_path, key_path, server_cert) = dev::write(&dir.0, &[]).unwrap();
    let tls = ServerTls::new(&files_settings(&cert_path, &key_path)).unwrap();
    let addr = serve(&tls).await;
    let config = |client_tls: ClientTls| Arc::new(client_tls.client_config().unwrap());

    let pinned = ClientTls { pinned_keys: vec![server_cert.info.spki_pin], ..Default::default() };
    session(config(pinned), addr).await.unwrap();

    let wrong = Fingerprint([7; 32]);
    let mismatch = ClientTls { pinned_keys: vec![wrong], ..Default::default() };
    let err = session(config(mismatch), addr).await.unwrap_err().to_string();
    let expected = format!(
        "server key pin mismatch: got {}, expected one of {wrong}",
        server_cert.info.spki_pin
    );
    assert!(err.contains(&expected), "{err}");

    let with_ca = ClientTls { ca_files: vec![cert_path.clone()], ..Default::default() };
    session(config(with_ca), addr).await.unwrap();

    let err = session(config(ClientTls::default()), addr).await.unwrap_err().to_string();
    assert!(err.contains("UnknownIssuer"), "{err}");

    let insecure = ClientTls { insecure: true, ..Default::default() };
    session(config(insecure), addr).await.unwrap();
}

#[test]
fn client_tls_reports_bad_ca_files() {
    let dir = TempDir::new("tls-ca");
    let missing = dir.path("missing.pem");
    let ca = |path: &Path| ClientTls { ca_files: vec![path.to_owned()], ..Default::default() };
    assert_eq!(
        err_text(ca(&missing).client_config()),
        format!("CA file {} does not exist", missing.display())
    );
    let empty = dir.path("empty.pem");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(
        err_text(ca(&empty).client_config()),
        format!(
            "CA file {}: no certificate found (expected PEM \"BEGIN CERTIFICATE\" blocks)",
            empty.display()
        )
    );
}

// ---------------------------------------------------------------------------------------
// ACME source (no CA involved: nothing cached yet)
// ---------------------------------------------------------------------------------------

#[test]
fn acme_without_cached_certificate_serves_a_temporary_one_and_offers_acme_alpn() {
    let dir = TempDir::new("tls-acme");
    let acme = AcmeSettings {
        directory: "https://acme.invalid/directory".into(),
        domains: vec!["rtmp.example.com".into()],
        contact: vec![],
        cache_dir: dir.path("cache"),
        challenge: AcmeChallenge::TlsAlpn01,
        renew_before: openrtmp_tls::DEFAULT_RENEW_BEFORE,
        check_interval: openrtmp_tls::DEFAULT_CHECK_INTERVAL,
        directory_ca: None,
    };
    let tls = ServerTls::new(&settings(CertSource::Acme(acme.clone()))).unwrap();
    let info = tls.certificate().unwrap();
    assert_eq!(info.names, ["rtmp.example.com"]);
    assert!(info.subject.contains("temporary"), "{}", info.subject);
    assert_eq!(tls.config().alpn_protocols, [ACME_TLS_ALPN.to_vec()]);
    assert!(!tls.reload_now().unwrap());

    let http01 = AcmeSettings {
        challenge: AcmeChallenge::Http01 { listen: "127.0.0.1:0".parse().unwrap() },
        ..acme
    };
    let tls = ServerTls::new(&settings(CertSource::Acme(http01))).unwrap();
    assert!(tls.config().alpn_protocols.is_empty());
}

// ---------------------------------------------------------------------------------------
// Bad inputs
// ---------------------------------------------------------------------------------------

#[test]
fn bad_certificate_and_key_files_are_named_with_the_problem() {
    let dir = TempDir::new("tls-bad");
    let (cert, key, _) = dev::write(&dir.path("a"), &[]).unwrap();
    let (other_cert, other_key, _) = dev::write(&dir.path("b"), &[]).unwrap();
    let missing = dir.path("missing.pem");
    let empty = dir.path("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let bad_key = dir.path("bad-key.pem");
    std::fs::write(&bad_key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        .unwrap();
    let d = |p: &PathBuf| p.display().to_string();

    let cases: [(&PathBuf, &PathBuf, String); 7] = [
        (&missing, &key, format!("certificate file {} does not exist", d(&missing))),
        (&cert, &missing, format!("private key file {} does not exist", d(&missing))),
        (
            &cert,
            &other_key,
            format!(
                "private key file {} does not match certificate file {} (their public keys differ)",
                d(&other_key),
                d(&cert)
            ),
        ),
        (
            &empty,
            &key,
            format!(
                "certificate file {} contains no certificate (expected a PEM \"BEGIN \
                 CERTIFICATE\" block)",
                d(&empty)
            ),
        ),
        // A key where the certificate should be: no certificate in it.
        (
            &key,
            &key,
            format!(
                "certificate file {} contains no certificate (expected a PEM \"BEGIN \
                 CERTIFICATE\" block)",
                d(&key)
            ),
        ),
        (
            &other_cert,
            &empty,
            format!(
                "private key file {} contains no private key (expected a PEM \"BEGIN PRIVATE \
                 KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" block)",
                d(&empty)
            ),
        ),
        (&cert, &bad_key, format!("private key file {}: unsupported key type (", d(&bad_key))),
    ];
    for (cert, key, expected) in cases {
        let err = err_text(load_certified_key(cert, key));
        assert!(err.starts_with(&expected), "got: {err}\nexpected: {expected}");
        // The same error stops the server at start.
        let err = err_text(ServerTls::new(&files_settings(cert, key)));
        assert!(err.starts_with(&expected), "got: {err}\nexpected: {expected}");
    }

    let err = err_text(certified_key_from_pem("", ""));
    assert!(err.starts_with("certificate file <certificate PEM text> contains no certificate"));
}
