//! ACME through the real server, against a real Pebble (`openrtmp_testkit::pebble`): the
//! server starts on a temporary self-signed certificate, its certificate upkeep
//! (`ServerTls::maintain`) has Pebble issue one at once, validated with TLS-ALPN-01 on the
//! RTMPS listener itself (the port RTMP clients use), and serves it to our RTMP client, which
//! verifies the chain against Pebble's root; then renews it without a restart while RTMPS
//! connections opened before the renewal go on (a player keeps receiving the stream); and a
//! restart serves the cached certificate at once, with the CA gone.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openrtmp_client::{ClientError, ConnectOptions, Connection, PublishOptions, RtmpUrl};
use openrtmp_media::flv_file::FlvTag;
use openrtmp_server::Config;
use openrtmp_tls::{
    AcmeChallenge, AcmeSettings, CertSource, CertificateInfo, ClientTls, Fingerprint,
    MinTlsVersion, ServerTlsSettings, DEFAULT_CHECK_INTERVAL, DEFAULT_RELOAD_INTERVAL,
    DEFAULT_RENEW_BEFORE,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use support::pebble::Pebble;
use support::{Fixture, TempDir, TestServer};

const DOMAIN: &str = "localhost";
/// Longer than any certificate Pebble issues (5 years): every check renews.
const ALWAYS_RENEW: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
const CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// How long the first issuance, then the renewal, may take.
const ISSUE_LIMIT: Duration = Duration::from_secs(20);
const RENEW_LIMIT: Duration = Duration::from_secs(15);
/// Times the 1 s fixture is published (real time): long enough to span the renewal.
const ROUNDS: u32 = 6;

/// A server with RTMP on a free port and RTMPS on `rtmps_port`, its certificate from ACME.
fn acme_config(
    pebble: &Pebble,
    rtmps_port: u16,
    cache: &Path,
    renew_before: Duration,
    check_interval: Duration,
) -> Config {
    Config {
        rtmps_listen: vec![([127, 0, 0, 1], rtmps_port).into()],
        tls: Some(ServerTlsSettings {
            source: CertSource::Acme(AcmeSettings {
                directory: pebble.directory_url(),
                domains: vec![DOMAIN.to_owned()],
                contact: vec![],
                cache_dir: cache.to_owned(),
                challenge: AcmeChallenge::TlsAlpn01,
                renew_before,
                check_interval,
                directory_ca: Some(pebble.ca_file()),
            }),
            min_version: MinTlsVersion::Tls12,
            client_auth: None,
            reload_interval: DEFAULT_RELOAD_INTERVAL,
        }),
        ..support::test_config()
    }
}

/// The certificate new RTMPS handshakes get.
fn served(server: &TestServer) -> CertificateInfo {
    server.handle.info().tls_certificate.expect("a certificate is served")
}

/// Polls `f` every 10 ms until it gives something or `limit` passes.
fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(value) = f() {
            return Some(value);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn options(tls: &ClientTls) -> ConnectOptions {
    ConnectOptions { tls: tls.clone(), ..support::quick_options() }
}

/// Connects like `Connection::connect` (the same client TLS configuration, SNI and name
/// check for the URL's host), and also says which certificate the server presented.
async fn connect_verified(url: &RtmpUrl, tls: &ClientTls) -> (Connection, CertificateInfo) {
    let config = tls.client_config().expect("client config");
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", url.port)).await.expect("tcp connect");
    let name = rustls::pki_types::ServerName::try_from(url.host.clone()).expect("server name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake verified against Pebble's root");
    let leaf = stream.get_ref().1.peer_certificates().expect("server certificate")[0].clone();
    let served = CertificateInfo::from_der(&leaf).expect("certificate");
    let conn = Connection::over(Box::new(stream), url, support::quick_options())
        .await
        .expect("RTMP handshake and connect over TLS");
    (conn, served)
}

/// The leaf of `cache/cert.pem`.
fn cached_certificate(cache: &Path) -> CertificateInfo {
    let pem = std::fs::read(cache.join("cert.pem")).expect("cert.pem");
    let der = CertificateDer::from_pem_slice(&pem).expect("PEM certificate");
    CertificateInfo::from_der(&der).expect("certificate")
}

/// The account URL in `cache/account.json`.
fn account_id(cache: &Path) -> String {
    let json = std::fs::read(cache.join("account.json")).expect("account.json");
    let value: serde_json::Value = serde_json::from_slice(&json).expect("account JSON");
    value["id"].as_str().expect("account id").to_owned()
}

fn short(fingerprint: &Fingerprint) -> String {
    fingerprint.to_string().chars().take(16).collect()
}

#[test]
fn acme_certificate_is_issued_served_and_renewed_without_restart() {
    let rtmps_port = support::free_port();
    let Some(mut pebble) = Pebble::start(rtmps_port, support::free_port()) else { return };
    // Media across the renewal needs Debian's FFmpeg for its fixture (required in CI).
    let fixture = support::ffmpeg().map(|ffmpeg| Fixture::H264Aac { seconds: 1 }.path(&ffmpeg));
    let dir = TempDir::new("acme_server");
    let cache = dir.path("acme-cache");
    let config = acme_config(&pebble, rtmps_port, &cache, ALWAYS_RENEW, CHECK_INTERVAL);
    let server = TestServer::start(config);
    let started = Instant::now();
    assert_eq!(server.rtmps[0].port(), rtmps_port);

    // Until the first issuance: a temporary self-signed certificate for the domain.
    let temporary = served(&server);
    assert_eq!(temporary.issuer, temporary.subject, "self-signed: {temporary:?}");
    assert!(temporary.subject.contains("temporary"), "{}", temporary.subject);
    assert!(temporary.names.iter().any(|n| n == DOMAIN), "{:?}", temporary.names);

    // Issuance at once, validated through the RTMPS listener itself.
    let issued = wait_for(ISSUE_LIMIT, || {
        Some(served(&server)).filter(|c| c.fingerprint != temporary.fingerprint)
    })
    .unwrap_or_else(|| panic!("no certificate issued within {ISSUE_LIMIT:?}:\n{}", pebble.log()));
    let issued_at = Instant::now();
    let lifetime = issued.not_after.duration_since(issued.not_before).unwrap_or_default();
    println!(
        "issued after {:?}: {} by {}, valid {} days",
        issued_at - started,
        short(&issued.fingerprint),
        issued.issuer,
        lifetime.as_secs() / 86_400
    );
    assert!(lifetime < ALWAYS_RENEW, "renew_before exceeds the lifetime: {lifetime:?}");
    assert!(issued.issuer.contains("Pebble"), "issued by Pebble: {}", issued.issuer);
    assert_eq!(issued.names, vec![DOMAIN.to_owned()]);
    let account = account_id(&cache);

    let rt = support::client_runtime();
    let url = RtmpUrl::parse(&format!("rtmps://{DOMAIN}:{rtmps_port}/live/acme")).expect("url");
    let trust_pebble = ClientTls { ca_files: vec![pebble.root_file()], ..ClientTls::default() };
    // Connections opened before the renewal: one stays idle, one plays the stream.
    let (mut idle, idle_got) = rt.block_on(connect_verified(&url, &trust_pebble));
    let (player, player_got) = rt.block_on(connect_verified(&url, &trust_pebble));
    for got in [&idle_got, &player_got] {
        assert!(got.issuer.contains("Pebble"), "a Pebble certificate is served: {got:?}");
    }
    rt.block_on(async {
        // Our client as the CLI uses it: verified with Pebble's root, refused without.
        Connection::connect(&url, options(&trust_pebble)).await.expect("trusted by Pebble root");
        let err = Connection::connect(&url, options(&ClientTls::default()))
            .await
            .expect_err("Pebble's root is not among the Mozilla roots");
        assert!(matches!(err, ClientError::Tls { .. }), "{err}");
    });
    let media = fixture.map(|input| {
        let sent = support::read_tags(&input);
        let player = rt.spawn(support::play_on(player, "acme"));
        server.wait_viewers(1);
        let publish_options = options(&trust_pebble);
        let publish_url = url.clone();
        let publisher = rt.spawn(async move {
            let realtime = PublishOptions { realtime: true, repeat: ROUNDS };
            openrtmp_client::publish_file(&input, &publish_url, publish_options, realtime).await
        });
        (sent, player, publisher)
    });

    // Renewal (renew_before exceeds the lifetime): a certificate neither connection got.
    let before = [idle_got.fingerprint, player_got.fingerprint];
    let renewed = wait_for(RENEW_LIMIT, || {
        Some(served(&server)).filter(|c| !before.contains(&c.fingerprint))
    })
    .unwrap_or_else(|| panic!("not renewed within {RENEW_LIMIT:?}:\n{}", pebble.log()));
    let renewed_at = Instant::now();
    println!(
        "renewed after {:?} ({:?} after issuance): {} -> {} by {}",
        renewed_at - started,
        renewed_at - issued_at,
        short(&player_got.fingerprint),
        short(&renewed.fingerprint),
        renewed.issuer
    );
    assert!(renewed.issuer.contains("Pebble"), "{}", renewed.issuer);
    assert_eq!(renewed.names, vec![DOMAIN.to_owned()]);

    rt.block_on(async {
        // A new connection verifies against the new certificate.
        let (mut fresh, fresh_got) = connect_verified(&url, &trust_pebble).await;
        assert!(!before.contains(&fresh_got.fingerprint), "a renewed certificate is served");
        fresh.play("acme").await.expect("play on a connection opened after the renewal");
        fresh.close().await.expect("close");
        // The connection opened before the renewal is still usable.
        idle.play("acme").await.expect("play on a connection opened before the renewal");
    });
    if let Some((sent, player, publisher)) = media {
        let stats = rt.block_on(publisher).expect("publisher task").expect("published over RTMPS");
        let played = rt.block_on(player).expect("player task");
        let after = played.iter().filter(|(at, _)| *at > renewed_at).count();
        println!(
            "player connected before the renewal: {} tags, {after} after the renewal; \
             publisher sent {} tags",
            played.len(),
            stats.tags
        );
        assert!(after > 0, "the player got nothing after the renewal (renewed too late?)");
        let got: Vec<FlvTag> = played.into_iter().map(|(_, tag)| tag).collect();
        let sent: Vec<FlvTag> = (0..ROUNDS).flat_map(|_| sent.iter().cloned()).collect();
        support::assert_same_frames(&sent, &got, "player across the renewal");
    }

    // The cache: the same account throughout, the latest certificate and its key.
    for file in ["account.json", "cert.pem", "key.pem"] {
        assert!(cache.join(file).is_file(), "{file} in the cache");
    }
    assert_eq!(account_id(&cache), account, "account reused for renewals");
    let cached = cached_certificate(&cache);
    assert!(!before.contains(&cached.fingerprint), "renewed certificate cached");
    // Pebble's validation handshakes all succeeded on the listener: the one failed TLS
    // handshake is the client that does not trust Pebble's root.
    let errors = server.handle.info().errors;
    println!("connection ends by error kind: {errors:?}");
    let failed = errors.iter().find(|(kind, _)| kind == "tls_handshake").map(|(_, n)| *n);
    assert_eq!(failed, Some(1), "{errors:?}");
    drop(server);

    // A restart serves the cached certificate at once, the CA gone.
    pebble.stop();
    let cached = cached_certificate(&cache);
    let config = acme_config(&pebble, 0, &cache, DEFAULT_RENEW_BEFORE, DEFAULT_CHECK_INTERVAL);
    let server = TestServer::start(config);
    assert_eq!(served(&server).fingerprint, cached.fingerprint, "cached certificate served");
    let url = RtmpUrl::parse(&server.rtmps_url("live/acme")).expect("url");
    let (_, got) = rt.block_on(connect_verified(&url, &trust_pebble));
    assert_eq!(got.fingerprint, cached.fingerprint);
    println!("restarted from the cache: {} served", short(&cached.fingerprint));
}

/// A renewal interrupted between writing `key.pem` and `cert.pem` (the process killed)
/// leaves a certificate and a key that do not match: the server still starts, on the
/// temporary certificate, and issues anew.
#[test]
fn a_torn_cache_does_not_stop_the_server_which_issues_anew() {
    let rtmps_port = support::free_port();
    let Some(pebble) = Pebble::start(rtmps_port, support::free_port()) else { return };
    let dir = TempDir::new("acme_server_torn");
    let cache = dir.path("acme-cache");
    let other = TempDir::new("acme_server_torn_other");
    let names = [DOMAIN.to_owned()];
    openrtmp_tls::dev::write(&cache, &names).expect("certificate");
    let (_, other_key, _) = openrtmp_tls::dev::write(&other.0, &names).expect("other key");
    std::fs::copy(other_key, cache.join("key.pem")).expect("tear the cache");

    let config =
        acme_config(&pebble, rtmps_port, &cache, DEFAULT_RENEW_BEFORE, DEFAULT_CHECK_INTERVAL);
    let server = TestServer::start(config);
    let started = Instant::now();
    let issued =
        wait_for(ISSUE_LIMIT, || Some(served(&server)).filter(|c| c.issuer.contains("Pebble")))
            .unwrap_or_else(|| {
                panic!("no certificate issued within {ISSUE_LIMIT:?}:\n{}", pebble.log())
            });
    println!("issued after {:?} despite the torn cache", started.elapsed());
    assert_eq!(cached_certificate(&cache).fingerprint, issued.fingerprint, "cache repaired");
}
