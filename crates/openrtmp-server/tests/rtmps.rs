//! RTMPS end to end: the current FFmpeg (TLS-enabled, verifying our certificate) publishes
//! and plays over `rtmps://` while RTMP serves on its own port; a TLS 1.1 client is refused;
//! our client trusts by CA file or by pinned key and refuses a wrong pin; certificate files
//! replaced on disk are served to new connections while established ones go on; mutual TLS
//! accepts only pinned client certificates.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use openrtmp_client::{ClientError, ConnectOptions, Connection, PlayEnd, RtmpUrl};
use openrtmp_server::Config;
use openrtmp_tls::{
    CertSource, ClientAuthSettings, ClientTls, Fingerprint, MinTlsVersion, ServerTlsSettings,
};
use support::{Ffmpeg, Fixture, TempDir, TestServer};

/// A server with RTMP and RTMPS side by side, serving `cert.pem`/`key.pem` from `dir`.
fn tls_config(dir: &TempDir, client_auth: Option<ClientAuthSettings>) -> Config {
    let (cert, key, _) =
        openrtmp_tls::dev::write(&dir.0, &["openrtmp.test".to_owned()]).expect("dev cert");
    Config {
        rtmps_listen: vec!["127.0.0.1:0".parse().expect("addr")],
        tls: Some(ServerTlsSettings {
            source: CertSource::Files { cert, key },
            min_version: MinTlsVersion::Tls12,
            client_auth,
            reload_interval: Duration::from_millis(200),
        }),
        ..support::test_config()
    }
}

fn tls_options(tls: ClientTls) -> ConnectOptions {
    ConnectOptions { tls, ..support::quick_options() }
}

fn pinned(server: &TestServer) -> ClientTls {
    let cert = server.handle.info().tls_certificate.expect("a certificate is served");
    ClientTls { pinned_keys: vec![cert.spki_pin], ..ClientTls::default() }
}

#[test]
fn current_ffmpeg_publishes_and_plays_over_rtmps_beside_rtmp() {
    let Some(ffmpeg) = support::ffmpeg_current() else { return };
    let dir = TempDir::new("rtmps_ffmpeg");
    let server = TestServer::start(tls_config(&dir, None));
    assert!(!server.addrs.is_empty() && !server.rtmps.is_empty(), "both listeners bound");
    let input = Fixture::H264Aac { seconds: 3 }.path(&ffmpeg);
    let sent = support::read_tags(&input);
    let ca = dir.path("cert.pem");
    let ca = ca.to_str().expect("path");
    let rt = support::client_runtime();

    // Our client plays over plain RTMP and over RTMPS (trusting the pinned key).
    let plain = rt.spawn(support::play_all(
        server.rtmp_url("live/secure"),
        support::quick_options(),
        Duration::from_secs(20),
    ));
    let tls_url = RtmpUrl::parse(&server.rtmps_url("live/secure")).expect("url");
    let over_tls =
        rt.spawn(support::play_all(tls_url, tls_options(pinned(&server)), Duration::from_secs(20)));
    // FFmpeg plays over RTMPS, verifying the server certificate against the CA file.
    let url = server.rtmps_url("live/secure");
    let out = dir.path("ffmpeg_tls_player.flv");
    let mut player = Ffmpeg::spawn(
        &ffmpeg,
        "current ffmpeg rtmps player",
        &["-ca_file", ca, "-i", &url, "-c", "copy", "-f", "flv", out.to_str().expect("path")],
        dir.path("player.log"),
    );
    server.wait_viewers(3);
    let mut publisher = Ffmpeg::spawn(
        &ffmpeg,
        "current ffmpeg rtmps publisher",
        &[
            "-re",
            "-i",
            input.to_str().expect("path"),
            "-c",
            "copy",
            "-f",
            "flv",
            "-ca_file",
            ca,
            &url,
        ],
        dir.path("publisher.log"),
    );
    publisher.wait_success(Duration::from_secs(20));
    player.wait_success(Duration::from_secs(10));

    for (who, task) in [("rtmp player", plain), ("rtmps player", over_tls)] {
        let played = rt.block_on(task).expect("player task");
        assert_eq!(played.end, PlayEnd::Eof, "{who} sees the end of the stream");
        support::assert_same_frames(&sent, &played.tags(), who);
    }
    support::assert_same_frames(&sent, &support::read_tags(&out), "ffmpeg rtmps player");
    let conns = server.handle.info();
    assert_eq!(conns.errors, Vec::<(String, u64)>::new(), "no connection ended in error");
}

/// `openssl s_client` offering only TLS 1.1 is refused; TLS 1.2 and 1.3 are served.
#[test]
fn tls_1_1_is_refused_and_1_2_and_1_3_are_served() {
    // OpenSSL 3 refuses `-version`: probe with `openssl version`.
    let Some(openssl) = support::require_with("openssl", None, &["version"]) else { return };
    let dir = TempDir::new("rtmps_versions");
    let server = TestServer::start(tls_config(&dir, None));
    let connect = format!("127.0.0.1:{}", server.rtmps[0].port());
    let s_client = |version: &str| {
        // SECLEVEL=0 lets this OpenSSL offer TLS 1.1 at all: the refusal must be the server's.
        let out = Command::new(&openssl)
            .args(["s_client", "-connect", &connect, version, "-cipher", "DEFAULT:@SECLEVEL=0"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run openssl");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = s_client("-tls1_1");
    assert!(!ok, "a TLS 1.1 client must be refused:\n{text}");
    // rustls refuses it with a handshake_failure alert: a TLS 1.1 ClientHello lacks the
    // signature_algorithms extension TLS 1.2+ requires.
    assert!(
        text.contains("alert handshake failure") || text.contains("alert protocol version"),
        "refused during the handshake:\n{text}"
    );
    for (flag, name) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let (ok, text) = s_client(flag);
        assert!(ok && text.contains(name), "{flag} must be served:\n{text}");
    }
    // Only the TLS 1.1 attempt counts as a failed TLS handshake.
    let failed = server.handle.info().errors;
    assert_eq!(failed, vec![("tls_handshake".to_owned(), 1)], "{failed:?}");
}

/// Our client: trusted by CA file or pinned key; refused for a wrong pin or an unknown CA.
#[test]
fn client_trusts_by_ca_file_or_pin_and_refuses_otherwise() {
    let dir = TempDir::new("rtmps_client_trust");
    let server = TestServer::start(tls_config(&dir, None));
    let url = RtmpUrl::parse(&server.rtmps_url("live")).expect("url");
    let rt = support::client_runtime();
    rt.block_on(async {
        let by_ca = ClientTls { ca_files: vec![dir.path("cert.pem")], ..ClientTls::default() };
        Connection::connect(&url, tls_options(by_ca)).await.expect("trusted by CA file");
        Connection::connect(&url, tls_options(pinned(&server))).await.expect("trusted by pin");
        let wrong = ClientTls { pinned_keys: vec![Fingerprint([7; 32])], ..ClientTls::default() };
        let err = Connection::connect(&url, tls_options(wrong)).await.expect_err("wrong pin");
        assert!(matches!(err, ClientError::Tls { .. }), "{err}");
        assert!(err.to_string().contains("pin"), "{err}");
        let err = Connection::connect(&url, tls_options(ClientTls::default()))
            .await
            .expect_err("self-signed, not trusted");
        assert!(matches!(err, ClientError::Tls { .. }), "{err}");
    });
}

/// New certificate files are served to new connections within the reload interval, while
/// a player connected before keeps receiving media.
#[test]
fn replaced_certificate_files_are_served_without_dropping_connections() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let dir = TempDir::new("rtmps_reload");
    let server = TestServer::start(tls_config(&dir, None));
    let before = server.handle.info().tls_certificate.expect("certificate");
    let rt = support::client_runtime();
    let url = RtmpUrl::parse(&server.rtmps_url("live/reload")).expect("url");
    let player = rt.spawn(support::play_all(
        url.clone(),
        tls_options(pinned(&server)),
        Duration::from_secs(20),
    ));
    server.wait_viewers(1);
    let input = Fixture::H264Aac { seconds: 3 }.path(&ffmpeg);
    let sent = support::read_tags(&input);
    let publish_url = server.rtmp_url("live/reload");
    let publisher = rt.spawn(async move {
        let realtime = openrtmp_client::PublishOptions { realtime: true, repeat: 1 };
        openrtmp_client::publish_file(&input, &publish_url, support::quick_options(), realtime)
            .await
    });
    std::thread::sleep(Duration::from_millis(500));
    // Replace the files as a certificate tool would: write elsewhere, rename over.
    let fresh = TempDir::new("rtmps_reload_new");
    let (cert, key, _) = openrtmp_tls::dev::write(&fresh.0, &[]).expect("new cert");
    std::fs::rename(&cert, dir.path("cert.pem")).expect("rename cert");
    std::fs::rename(&key, dir.path("key.pem")).expect("rename key");
    let changed = support::wait_until(Duration::from_secs(3), || {
        server.handle.info().tls_certificate.is_some_and(|c| c.fingerprint != before.fingerprint)
    });
    assert!(changed, "the new certificate was not picked up within 3 s");
    let after = server.handle.info().tls_certificate.expect("certificate");
    rt.block_on(async {
        // A new connection sees the new key: the old pin no longer matches, the new one does.
        let old_pin = ClientTls { pinned_keys: vec![before.spki_pin], ..ClientTls::default() };
        Connection::connect(&url, tls_options(old_pin)).await.expect_err("old key is gone");
        let new_pin = ClientTls { pinned_keys: vec![after.spki_pin], ..ClientTls::default() };
        Connection::connect(&url, tls_options(new_pin)).await.expect("new key served");
    });
    rt.block_on(publisher).expect("publisher task").expect("published");
    let played = rt.block_on(player).expect("player task");
    assert_eq!(played.end, PlayEnd::Eof, "the player connected before the reload kept going");
    support::assert_same_frames(&sent, &played.tags(), "player across the reload");
}

/// Mutual TLS: a client presenting a pinned certificate gets through to RTMP; one with an
/// unpinned certificate, or none, is refused during the TLS handshake.
#[test]
fn mutual_tls_accepts_only_pinned_client_certificates() {
    let dir = TempDir::new("rtmps_mtls");
    let client_dir = TempDir::new("rtmps_mtls_client");
    let other_dir = TempDir::new("rtmps_mtls_other");
    let (_, _, client) = openrtmp_tls::dev::write(&client_dir.0, &[]).expect("client cert");
    openrtmp_tls::dev::write(&other_dir.0, &[]).expect("other cert");
    let auth = ClientAuthSettings { pinned: vec![client.info.fingerprint], required: true };
    let server = TestServer::start(tls_config(&dir, Some(auth)));
    let url = RtmpUrl::parse(&server.rtmps_url("live")).expect("url");
    let server_pin = pinned(&server);
    let rt = support::client_runtime();
    rt.block_on(async {
        let attempt = |cert_dir: Option<&TempDir>| {
            let url = url.clone();
            let server_pin = server_pin.clone();
            let files = cert_dir.map(|d| (d.path("cert.pem"), d.path("key.pem")));
            async move {
                let mut config = server_pin.client_config().expect("client config");
                if let Some((cert, key)) = files {
                    let key = openrtmp_tls::load_certified_key(&cert, &key).expect("client key");
                    config = with_client_cert(config, key);
                }
                let tcp = tokio::net::TcpStream::connect(("127.0.0.1", url.port)).await?;
                let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
                let tls =
                    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await?;
                Connection::over(Box::new(tls), &url, support::quick_options())
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))
            }
        };
        attempt(Some(&client_dir)).await.expect("pinned client certificate accepted");
        attempt(Some(&other_dir)).await.expect_err("unpinned client certificate refused");
        attempt(None).await.expect_err("no client certificate refused");
    });
}

/// The same client config with a client certificate (the verifier and roots are kept).
fn with_client_cert(
    config: rustls::ClientConfig,
    key: rustls::sign::CertifiedKey,
) -> rustls::ClientConfig {
    #[derive(Debug)]
    struct One(Arc<rustls::sign::CertifiedKey>);
    impl rustls::client::ResolvesClientCert for One {
        fn resolve(
            &self,
            _hints: &[&[u8]],
            _schemes: &[rustls::SignatureScheme],
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(Arc::clone(&self.0))
        }
        fn has_certs(&self) -> bool {
            true
        }
    }
    let mut config = config;
    config.client_auth_cert_resolver = Arc::new(One(Arc::new(key)));
    config
}
