//! HTTP callbacks over HTTPS: the authorisation service presents a self-signed certificate;
//! the server trusts it by pinned key or by CA file, and refuses to talk to it (fail closed)
//! when the pin does not match, without the request ever reaching the service.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::post;
use openrtmp_client::{ClientError, Connection};
use openrtmp_proto::session::SessionError;
use openrtmp_server::auth::{AuthAction, CallbackSettings};
use openrtmp_tls::{CertSource, ClientTls, Fingerprint, ServerTls, ServerTlsSettings};
use support::{TempDir, TestServer};

/// axum over TLS: accepts TCP, completes the TLS handshake, hands the stream to axum.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, peer)) = self.tcp.accept().await else { continue };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An HTTPS decision service that allows everything; returns its port, its certificate's
/// key pin and the count of decisions it answered.
fn https_service(
    rt: &tokio::runtime::Runtime,
    dir: &TempDir,
) -> (u16, Fingerprint, Arc<AtomicUsize>) {
    let (cert, key, dev) = openrtmp_tls::dev::write(&dir.0, &[]).expect("service cert");
    let tls = ServerTls::new(&ServerTlsSettings {
        source: CertSource::Files { cert, key },
        min_version: Default::default(),
        client_auth: None,
        reload_interval: openrtmp_tls::DEFAULT_RELOAD_INTERVAL,
    })
    .expect("service TLS");
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let app = axum::Router::new().route(
        "/auth",
        post(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { "ok" }
        }),
    );
    let tcp = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let port = tcp.local_addr().expect("addr").port();
    let listener = TlsListener { tcp, acceptor: tls.acceptor() };
    rt.spawn(async move { axum::serve(listener, app).await });
    (port, dev.info.spki_pin, calls)
}

fn server_with(port: u16, tls: ClientTls) -> TestServer {
    let mut callback = CallbackSettings::new(format!("https://localhost:{port}/auth"));
    callback.actions = vec![AuthAction::Connect];
    callback.tls = tls;
    let mut config = support::test_config();
    config.auth.callback = Some(callback);
    TestServer::start(config)
}

#[test]
fn https_callback_trusted_by_pin_or_ca_and_refused_on_a_wrong_pin() {
    let rt = support::client_runtime();
    let dir = TempDir::new("callback_tls");
    let (port, pin, calls) = https_service(&rt, &dir);

    // Pinned key: the service is asked and allows.
    let server = server_with(port, ClientTls { pinned_keys: vec![pin], ..ClientTls::default() });
    let url = server.rtmp_url("live");
    rt.block_on(Connection::connect(&url, support::quick_options())).expect("allowed");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the service answered the connect");
    drop(server);

    // Trusted by CA file (the self-signed certificate names localhost).
    let ca = ClientTls { ca_files: vec![dir.path("cert.pem")], ..ClientTls::default() };
    let server = server_with(port, ca);
    let url = server.rtmp_url("live");
    rt.block_on(Connection::connect(&url, support::quick_options())).expect("allowed");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    drop(server);

    // A wrong pin: the TLS handshake fails, nothing reaches the service, and the connect
    // is refused (fail closed) as "unavailable".
    let wrong = ClientTls { pinned_keys: vec![Fingerprint([9; 32])], ..ClientTls::default() };
    let server = server_with(port, wrong);
    let url = server.rtmp_url("live");
    match rt.block_on(Connection::connect(&url, support::quick_options())) {
        Err(ClientError::Protocol {
            source: SessionError::ConnectRejected { code, description },
            ..
        }) => {
            assert_eq!(code, "NetConnection.Connect.Rejected");
            assert!(description.contains("unavailable"), "{description}");
        }
        other => panic!("connect was not refused: {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "no request reached the service");
    let info = server.handle.info();
    assert_eq!(info.auth.denied.get("callback_unavailable"), Some(&1), "{:?}", info.auth);
}
