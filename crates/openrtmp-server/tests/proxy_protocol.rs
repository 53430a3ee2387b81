//! PROXY protocol end to end, over real sockets with our client standing in for a load
//! balancer (it writes the header, then speaks RTMP or TLS on the same socket): the address
//! a trusted peer's v2 or v1 header names is the connection's peer in the API, for the ACL
//! and for the per-IP limit; a header from an untrusted peer is not believed; a trusted
//! peer without a header, or with a garbage one, is closed with the reason counted while
//! other connections go on; on RTMPS the header comes before the ClientHello; a reload
//! applies to new connections.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openrtmp_client::{ClientError, Connection, RtmpUrl};
use openrtmp_proto::command::PublishType;
use openrtmp_proto::proxy_header::{encode_v1, encode_v2, ProxiedAddresses};
use openrtmp_server::{Config, ConnectionInfo, ProxyProtocolSettings};
use openrtmp_tls::{CertSource, ClientTls, MinTlsVersion, ServerTlsSettings};
use support::{TempDir, TestServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const CLIENT: &str = "203.0.113.7:54321";
const OTHER_CLIENT: &str = "198.51.100.9:40000";

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("address")
}

/// A server that trusts `trusted` (our test client connects from 127.0.0.1).
fn config(trusted: &str) -> Config {
    Config {
        proxy_protocol: ProxyProtocolSettings {
            trusted: vec![trusted.parse().expect("net")],
            required: true,
        },
        ..support::test_config()
    }
}

/// What a load balancer sends for `client` connecting to `server`.
fn v2(client: &str, server: SocketAddr) -> Vec<u8> {
    encode_v2(Some(&ProxiedAddresses { source: addr(client), destination: server }))
}

fn v1(client: &str, server: SocketAddr) -> Vec<u8> {
    encode_v1(Some(&ProxiedAddresses { source: addr(client), destination: server }))
}

/// Connects to the server as a load balancer would: `header` first, then RTMP `connect`.
async fn connect_with(
    server: SocketAddr,
    url: &RtmpUrl,
    header: &[u8],
) -> Result<Connection, ClientError> {
    let mut tcp = TcpStream::connect(server).await.expect("tcp");
    tcp.write_all(header).await.expect("header");
    Connection::over(Box::new(tcp), url, support::quick_options()).await
}

/// Waits (at most 10 s) for a live connection that `matches`.
fn wait_for(server: &TestServer, what: &str, matches: impl Fn(&ConnectionInfo) -> bool) {
    let ok = support::wait_until(Duration::from_secs(10), || {
        server.handle.connections().iter().any(&matches)
    });
    assert!(ok, "{what}: {:?}", server.handle.connections());
}

fn errors(server: &TestServer, kind: &str) -> u64 {
    let errors = server.handle.info().errors;
    errors.iter().find(|(k, _)| k == kind).map_or(0, |(_, n)| *n)
}

/// The v2 and v1 headers of a trusted peer name the publisher and the player in the API;
/// a LOCAL header (the balancer's health check) leaves the socket's address.
#[test]
fn a_trusted_header_names_the_client_everywhere() {
    let server = TestServer::start(config("127.0.0.1/32"));
    let url = server.rtmp_url("live");
    let rt = support::client_runtime();
    rt.block_on(async {
        let mut publisher = connect_with(server.addr, &url, &v2(CLIENT, server.addr))
            .await
            .expect("publisher through the proxy");
        publisher.publish("cam", PublishType::Live).await.expect("publish");
        let mut player = connect_with(server.addr, &url, &v1(OTHER_CLIENT, server.addr))
            .await
            .expect("player through the proxy");
        player.play("cam").await.expect("play");
        let local = encode_v2(None);
        let _health = connect_with(server.addr, &url, &local).await.expect("health check");
        wait_for(&server, "the publisher as 203.0.113.7", |c| {
            c.peer == addr(CLIENT) && c.role == "publisher" && c.stream == "cam"
        });
        wait_for(&server, "the player as 198.51.100.9", |c| {
            c.peer == addr(OTHER_CLIENT) && c.role == "player"
        });
        wait_for(&server, "the health check as itself", |c| c.peer.ip().is_loopback());
    });
    assert_eq!(errors(&server, "proxy_header"), 0);
}

/// The ACL and the per-IP limit judge the address from the header, not the balancer's.
#[test]
fn acl_and_per_ip_limit_see_the_real_client() {
    let mut config = config("127.0.0.0/8");
    config.auth.acl.connect.deny = vec!["203.0.113.0/24".parse().expect("net")];
    config.max_connections_per_ip = 1;
    let server = TestServer::start(config);
    let url = server.rtmp_url("live");
    let rt = support::client_runtime();
    rt.block_on(async {
        let denied = connect_with(server.addr, &url, &v2(CLIENT, server.addr)).await;
        assert!(denied.is_err(), "203.0.113.7 is denied by the ACL");
        // Two clients behind the one balancer address: each within its own limit of 1.
        let first = connect_with(server.addr, &url, &v2(OTHER_CLIENT, server.addr)).await;
        let other = connect_with(server.addr, &url, &v2("192.0.2.1:1000", server.addr)).await;
        let (first, other) = (first.expect("first client"), other.expect("second client"));
        // The same client again: over its limit.
        let again = connect_with(server.addr, &url, &v2("198.51.100.9:40001", server.addr)).await;
        assert!(again.is_err(), "a second connection from 198.51.100.9 is over the limit");
        drop((first, other));
    });
}

/// A peer outside the trusted networks cannot pass as another address: its header is not
/// read, so its RTMP handshake fails, and nothing lists the address it claimed.
#[test]
fn an_untrusted_peers_header_is_not_believed() {
    let server = TestServer::start(config("10.0.0.0/8"));
    let url = server.rtmp_url("live");
    let rt = support::client_runtime();
    rt.block_on(async {
        let refused = connect_with(server.addr, &url, &v2(CLIENT, server.addr)).await;
        assert!(refused.is_err(), "the handshake fails on the header's bytes");
        let plain = Connection::connect(&url, support::quick_options()).await;
        let plain = plain.expect("plain RTMP from an untrusted peer is served as before");
        assert!(server.handle.connections().iter().all(|c| c.peer != addr(CLIENT)));
        drop(plain);
    });
    let ok = support::wait_until(Duration::from_secs(10), || errors(&server, "protocol") == 1);
    assert!(ok, "{:?}", server.handle.info().errors);
}

/// A trusted peer must send a header: without one, or with garbage, the connection is
/// closed and counted as `proxy_header`, while a publisher already through goes on.
#[test]
fn a_trusted_peer_without_a_valid_header_is_closed_and_others_go_on() {
    let server = TestServer::start(config("127.0.0.1/32"));
    let url = server.rtmp_url("live");
    let rt = support::client_runtime();
    rt.block_on(async {
        let mut publisher =
            connect_with(server.addr, &url, &v2(CLIENT, server.addr)).await.expect("publisher");
        publisher.publish("cam", PublishType::Live).await.expect("publish");
        let missing = Connection::connect(&url, support::quick_options()).await;
        assert!(missing.is_err(), "plain RTMP from a trusted peer is refused");
        for garbage in [
            b"PROXY TCP4 203.0.113.7 nonsense\r\n".as_slice(),
            b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 and more and more and more and more and more and more and more and more ",
        ] {
            let refused = connect_with(server.addr, &url, garbage).await;
            assert!(refused.is_err(), "{:?}", String::from_utf8_lossy(garbage));
        }
        let ok = support::wait_until(Duration::from_secs(10), || {
            errors(&server, "proxy_header") == 4
        });
        assert!(ok, "{:?}", server.handle.info().errors);
        // The publisher's connection is unaffected: it can still talk to the server.
        let mut player =
            connect_with(server.addr, &url, &v1(OTHER_CLIENT, server.addr)).await.expect("player");
        player.play("cam").await.expect("the stream is still live");
        wait_for(&server, "the publisher", |c| c.peer == addr(CLIENT) && c.role == "publisher");
    });
}

/// `required: false`: a trusted peer may also connect without a header (served with its
/// own address), and one with a header is still believed.
#[test]
fn an_optional_header_may_be_left_out() {
    let mut config = config("127.0.0.1/32");
    config.proxy_protocol.required = false;
    let server = TestServer::start(config);
    let url = server.rtmp_url("live");
    let rt = support::client_runtime();
    rt.block_on(async {
        let _plain = Connection::connect(&url, support::quick_options()).await.expect("plain");
        let _proxied =
            connect_with(server.addr, &url, &v2(CLIENT, server.addr)).await.expect("proxied");
        wait_for(&server, "the plain one", |c| c.peer.ip().is_loopback());
        wait_for(&server, "the proxied one", |c| c.peer == addr(CLIENT));
    });
}

/// RTMPS behind a TCP balancer: the header comes first, then the TLS ClientHello.
#[test]
fn on_rtmps_the_header_comes_before_the_client_hello() {
    let dir = TempDir::new("proxy_rtmps");
    let (cert, key, _) =
        openrtmp_tls::dev::write(&dir.0, &["openrtmp.test".to_owned()]).expect("dev cert");
    let server = TestServer::start(Config {
        listen: Vec::new(),
        rtmps_listen: vec!["127.0.0.1:0".parse().expect("addr")],
        tls: Some(ServerTlsSettings {
            source: CertSource::Files { cert, key },
            min_version: MinTlsVersion::Tls12,
            client_auth: None,
            reload_interval: Duration::from_secs(60),
        }),
        ..config("127.0.0.1/32")
    });
    let rtmps = server.rtmps[0];
    let url = RtmpUrl::parse(&server.rtmps_url("live")).expect("url");
    let pin = server.handle.info().tls_certificate.expect("certificate").spki_pin;
    let tls = ClientTls { pinned_keys: vec![pin], ..ClientTls::default() };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls.client_config().expect("tls")));
    let rt = support::client_runtime();
    rt.block_on(async {
        let mut tcp = TcpStream::connect(rtmps).await.expect("tcp");
        tcp.write_all(&v2(CLIENT, rtmps)).await.expect("header");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = connector.connect(name, tcp).await.expect("TLS after the header");
        let mut conn = Connection::over(Box::new(tls), &url, support::quick_options())
            .await
            .expect("RTMP over TLS");
        conn.publish("cam", PublishType::Live).await.expect("publish");
        wait_for(&server, "the RTMPS publisher as 203.0.113.7", |c| {
            c.peer == addr(CLIENT) && c.role == "publisher"
        });
    });
}

/// A reload turns it on for the connections accepted after it (reported as applied).
#[test]
fn a_reload_applies_to_new_connections() {
    let server = TestServer::start(support::test_config());
    let url = server.rtmp_url("live");
    let rt = support::client_runtime();
    rt.block_on(async {
        let before = connect_with(server.addr, &url, &v2(CLIENT, server.addr)).await;
        assert!(before.is_err(), "off: the header reaches the RTMP handshake");
        let config = Config { listen: vec![server.addr], ..config("127.0.0.1/32") };
        let change = server.handle.apply_config(config).expect("reload");
        assert!(change.applied.contains(&"proxy_protocol".to_owned()), "{change:?}");
        let _after = connect_with(server.addr, &url, &v2(CLIENT, server.addr)).await.expect("on");
        wait_for(&server, "the client named by the header", |c| c.peer == addr(CLIENT));
    });
}
