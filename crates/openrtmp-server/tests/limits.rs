//! Limits and hostile peers: connection limits refuse with a reason, garbage and silence
//! cost only the offending connection, a player of an unknown stream is told so when the
//! server does not wait for publishers.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use openrtmp_client::{ClientError, Connection};
use openrtmp_proto::command::PublishType;
use openrtmp_proto::session::SessionError;
use support::TestServer;

/// Reads from `tcp` until the server closes it (EOF or reset); returns when that happened
/// and how many bytes came first. `None` if it stayed open for `limit`.
fn wait_closed(tcp: &mut TcpStream, limit: Duration) -> Option<(Duration, usize)> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        tcp.set_read_timeout(Some(left.max(Duration::from_millis(1)))).expect("set timeout");
        match tcp.read(&mut buf) {
            Ok(0) => return Some((start.elapsed(), total)),
            Ok(n) => total += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => return Some((start.elapsed(), total)),
        }
    }
}

/// With `max_connections = 2`, a third client's connect is refused with
/// NetConnection.Connect.Rejected and a description; once one of the two leaves, a new
/// client gets in.
#[test]
fn connection_limit_refuses_with_a_reason() {
    let mut config = support::test_config();
    config.max_connections = 2;
    let server = TestServer::start(config);
    let url = server.rtmp_url("live");
    let rt = support::client_runtime();
    rt.block_on(async {
        let first =
            Connection::connect(&url, support::quick_options()).await.expect("first connects");
        let _second =
            Connection::connect(&url, support::quick_options()).await.expect("second connects");
        match Connection::connect(&url, support::quick_options()).await {
            Err(ClientError::Protocol {
                source: SessionError::ConnectRejected { code, description },
                ..
            }) => {
                assert_eq!(code, "NetConnection.Connect.Rejected");
                assert!(description.contains("limit"), "description: {description:?}");
            }
            other => panic!("third connection was not rejected: {other:?}"),
        }
        first.close().await.expect("close");
        // The server notices the close and releases the slot.
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            match Connection::connect(&url, support::quick_options()).await {
                Ok(_) => break,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("slot not released 3 s after a client left: {e}"),
            }
        }
    });
    assert!(server.stats.refused.load(std::sync::atomic::Ordering::Relaxed) >= 1);
}

/// Handshake garbage (RTMP version 6; an HTTP request) closes that connection only: a
/// connection already established keeps working, and new ones are served.
#[test]
fn handshake_garbage_closes_only_that_connection() {
    let server = TestServer::start(support::test_config());
    let url = server.rtmp_url("live");
    let rt = support::client_runtime();
    let mut established =
        rt.block_on(Connection::connect(&url, support::quick_options())).expect("connect");

    let mut version6 = vec![6u8];
    version6.extend(std::iter::repeat_n(0x55, 1536));
    let http = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n".to_vec();
    for (what, bytes) in [("RTMP version 6", version6), ("HTTP GET", http)] {
        let mut tcp = TcpStream::connect(server.addr).expect("tcp connect");
        tcp.write_all(&bytes).expect("send garbage");
        let closed = wait_closed(&mut tcp, Duration::from_secs(3));
        let (after, answered) =
            closed.unwrap_or_else(|| panic!("{what}: connection not closed within 3 s"));
        eprintln!("{what}: closed after {} ms ({answered} bytes answered)", after.as_millis());
    }

    rt.block_on(async {
        // The established connection is unaffected: it can publish.
        established
            .publish("still-here", PublishType::Live)
            .await
            .expect("publish on the old connection");
        // And new connections are served.
        Connection::connect(&url, support::quick_options())
            .await
            .expect("new connection after garbage");
    });
}

/// A client that connects and sends nothing, and one that trickles a byte every 300 ms, are
/// both dropped at the 1 s handshake deadline.
#[test]
fn silent_and_trickling_clients_are_dropped_after_the_handshake_timeout() {
    let mut config = support::test_config();
    config.handshake_timeout = Duration::from_secs(1);
    let server = TestServer::start(config);

    let silent = std::thread::spawn({
        let addr = server.addr;
        move || {
            let mut tcp = TcpStream::connect(addr).expect("tcp connect");
            wait_closed(&mut tcp, Duration::from_secs(5))
        }
    });
    let trickle = std::thread::spawn({
        let addr = server.addr;
        move || {
            let mut tcp = TcpStream::connect(addr).expect("tcp connect");
            let start = Instant::now();
            let mut byte = [3u8];
            while start.elapsed() < Duration::from_secs(5) {
                if tcp.write_all(&byte).is_err() {
                    break;
                }
                byte[0] = 0x11;
                if let Some((_, _)) = wait_closed(&mut tcp, Duration::from_millis(300)) {
                    return Some(start.elapsed());
                }
            }
            None
        }
    });
    let (after, _) =
        silent.join().expect("silent client").expect("silent client not dropped within 5 s");
    eprintln!("silent client dropped after {} ms", after.as_millis());
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_millis(2500),
        "silent client dropped after {after:?}"
    );
    let after =
        trickle.join().expect("trickling client").expect("trickling client not dropped within 5 s");
    eprintln!("trickling client dropped after {} ms", after.as_millis());
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_millis(2500),
        "trickling client dropped after {after:?}"
    );
}

/// `wait_for_publisher = false`: playing a stream nobody publishes gets
/// NetStream.Play.StreamNotFound.
#[test]
fn play_of_unknown_stream_is_refused_when_not_waiting_for_publishers() {
    let mut config = support::test_config();
    config.hub.wait_for_publisher = false;
    let server = TestServer::start(config);
    let rt = support::client_runtime();
    let result = rt.block_on(async {
        let mut conn = Connection::connect(&server.rtmp_url("live"), support::quick_options())
            .await
            .expect("connect");
        conn.play("nobody-here").await
    });
    match result {
        Err(ClientError::Refused { code, description }) => {
            assert_eq!(code, "NetStream.Play.StreamNotFound");
            assert!(description.contains("nobody-here"), "description: {description:?}");
        }
        other => panic!("play of an unknown stream was not refused: {other:?}"),
    }
}
