//! What was found not to hold when the server was tried as a hostile client and an operator
//! would try it (issue 10), each with real sockets: inactive connections, commands on
//! message streams that were never created, peers that never read, half-open sockets over
//! the per-address cap, a publisher faster than real time, and the distribution delay.

mod support;

use std::io::{IoSlice, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use openrtmp_amf::Amf0Value;
use openrtmp_proto::chunk::{ChunkDecoder, ChunkEncoder, ChunkOutput, DecoderLimits};
use openrtmp_proto::command::{self, RawCommand};
use openrtmp_proto::message::{Message, MessageType};
use openrtmp_proto::session::{ClientConfig, ClientEvent, ClientSession};
use support::TestServer;

/// A blocking client on a raw socket: the sans-IO client session for the handshake and
/// `connect`, then whatever bytes a test wants to send.
struct RawClient {
    socket: TcpStream,
    session: ClientSession,
    /// Our own encoder for hand-made messages (fresh chunk stream ids: fmt 0 headers).
    encoder: ChunkEncoder,
}

fn bytes_of(out: &ChunkOutput) -> Vec<u8> {
    let mut slices = [IoSlice::new(&[]); 1024];
    let n = out.io_slices(&mut slices);
    slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
}

impl RawClient {
    fn connect(addr: SocketAddr) -> RawClient {
        let socket = TcpStream::connect(addr).expect("connect");
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let tc_url = format!("rtmp://{addr}/live");
        let session = ClientSession::new(ClientConfig::new("live", tc_url), 0, &[7u8; 1528]);
        let mut c = RawClient { socket, session, encoder: ChunkEncoder::new() };
        c.flush();
        let connected =
            c.wait_event(Duration::from_secs(10), |e| matches!(e, ClientEvent::Connected { .. }));
        assert!(connected.is_some(), "connect was not accepted");
        c
    }

    fn flush(&mut self) {
        let out = std::mem::take(self.session.transmit());
        self.socket.write_all(&bytes_of(&out)).expect("write");
    }

    /// Reads until `want` matches an event (writing what the session answers), or `limit`.
    fn wait_event(
        &mut self,
        limit: Duration,
        mut want: impl FnMut(&ClientEvent) -> bool,
    ) -> Option<ClientEvent> {
        let end = Instant::now() + limit;
        let mut buf = [0u8; 16 * 1024];
        while Instant::now() < end {
            while let Some(event) = self.session.poll_event() {
                if want(&event) {
                    return Some(event);
                }
            }
            self.flush();
            match self.socket.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.session.handle_input(&buf[..n]).expect("input"),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// One hand-made message (small enough to be one chunk whatever the chunk size).
    fn send(&mut self, msg: &Message) {
        let mut out = ChunkOutput::new();
        self.encoder.write_message(msg, &mut out);
        self.socket.write_all(&bytes_of(&out)).expect("write");
    }

    /// Whether the server closed the connection within `limit` (reads and discards).
    fn closed_within(&mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        let mut buf = [0u8; 16 * 1024];
        self.socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        while Instant::now() < end {
            match self.socket.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return true,
            }
        }
        false
    }
}

fn command_message(csid: u32, stream_id: u32, name: &str, tid: f64, args: &[Amf0Value]) -> Message {
    Message {
        csid,
        timestamp: 0,
        type_id: MessageType::COMMAND_AMF0,
        stream_id,
        payload: command::call(name, tid, args),
    }
}

fn error_count(server: &TestServer, kind: &str) -> u64 {
    server.handle.info().errors.iter().find(|(k, _)| k == kind).map_or(0, |(_, n)| *n)
}

/// A client that connects and then neither publishes nor plays is closed after
/// `idle_timeout` (it used to stay forever), with the reason counted.
#[test]
fn a_connection_that_neither_publishes_nor_plays_is_closed_when_idle() {
    let config =
        openrtmp_server::Config { idle_timeout: Duration::from_secs(1), ..support::test_config() };
    let server = TestServer::start(config);
    let mut client = RawClient::connect(server.addr);
    let connected = Instant::now();
    assert!(client.closed_within(Duration::from_secs(30)), "an idle connection stayed open");
    assert!(connected.elapsed() >= Duration::from_millis(900), "closed before the idle timeout");
    assert!(
        support::wait_until(Duration::from_secs(5), || error_count(&server, "idle_timeout") == 1)
    );
}

/// A client that declares a large message and stops mid-message is closed too.
#[test]
fn a_client_stalled_mid_message_is_closed() {
    let config =
        openrtmp_server::Config { idle_timeout: Duration::from_secs(1), ..support::test_config() };
    let server = TestServer::start(config);
    let mut client = RawClient::connect(server.addr);
    // Chunk basic header fmt 0 on csid 9, timestamp 0, length 100000, type 20 (AMF0
    // command), stream 0; then 10 bytes of the 100000.
    let mut header = vec![0x09, 0, 0, 0, 0x01, 0x86, 0xA0, 20, 0, 0, 0, 0];
    header.extend_from_slice(&[0x02; 10]);
    client.socket.write_all(&header).expect("write");
    assert!(client.closed_within(Duration::from_secs(30)), "a stalled connection stayed open");
}

/// Commands on a message stream that was never created are answered (a call got nothing,
/// and the client hung; `publish` on stream 0 closed the connection).
#[test]
fn commands_on_a_stream_that_was_never_created_are_answered() {
    let server = TestServer::start(support::test_config());
    let mut client = RawClient::connect(server.addr);
    let publish = command_message(8, 0, "publish", 0.0, &[Amf0Value::string("x")]);
    client.send(&publish);
    let answer = client.wait_event(
        Duration::from_secs(10),
        |e| matches!(e, ClientEvent::Status { level, .. } if level == "error"),
    );
    assert!(answer.is_some(), "publish on stream 0 got no answer");
    // The client session drops answers to calls it did not make: read this one raw.
    let call = command_message(8, 0xFFFF_FFFF, "getStreamLength", 7.0, &[Amf0Value::string("x")]);
    client.send(&call);
    let mut decoder = ChunkDecoder::new(DecoderLimits::default());
    decoder.set_chunk_size(openrtmp_server::DEFAULT_CHUNK_SIZE).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 16 * 1024];
    let mut answered = false;
    while !answered && Instant::now() < end {
        let n = client.socket.read(&mut buf).expect("read");
        assert!(n > 0, "closed instead of answering");
        decoder.handle_input(&buf[..n]);
        while let Ok(Some(msg)) = decoder.poll_message() {
            if msg.type_id != MessageType::COMMAND_AMF0 {
                continue;
            }
            let limits = Default::default();
            if let Ok(raw) = RawCommand::decode(msg.type_id, &msg.payload, &limits) {
                answered |= raw.name == "_error" && raw.transaction_id == 7.0;
            }
        }
    }
    assert!(answered, "a call on stream 0xFFFFFFFF (never created) got no _error");
}

/// A peer that sends pings as fast as it can but never reads the responses: the server
/// stops reading once its output queue is full, so the queue stays bounded (it used to grow
/// until the write timeout), and the write timeout then closes the connection.
#[test]
fn a_peer_that_never_reads_cannot_grow_the_output_queue() {
    let config =
        openrtmp_server::Config { write_timeout: Duration::from_secs(2), ..support::test_config() };
    let server = TestServer::start(config);
    let mut client = RawClient::connect(server.addr);
    // User control PingRequest (event 6, §7.1.7), on csid 2 stream 0: 6 bytes each.
    let ping = Message {
        csid: 2,
        timestamp: 0,
        type_id: MessageType::USER_CONTROL,
        stream_id: 0,
        payload: bytes::Bytes::from_static(&[0, 6, 0, 0, 0, 1]),
    };
    let mut burst = Vec::new();
    for _ in 0..4096 {
        let mut out = ChunkOutput::new();
        client.encoder.write_message(&ping, &mut out);
        burst.extend_from_slice(&bytes_of(&out));
    }
    client.socket.set_write_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut max_queue = 0;
    let mut sent = 0usize;
    let end = Instant::now() + Duration::from_secs(4);
    while Instant::now() < end && sent < 64 << 20 {
        // A failed write timed out: the server stopped reading, as it should.
        if let Ok(n) = client.socket.write(&burst) {
            sent += n;
        }
        let queued = server.handle.connections().iter().map(|c| c.queue_bytes).max().unwrap_or(0);
        max_queue = max_queue.max(queued);
    }
    eprintln!("sent {sent} bytes of pings; largest output queue {max_queue} bytes");
    assert!(max_queue < 1 << 20, "the output queue grew to {max_queue} bytes");
    assert!(client.closed_within(Duration::from_secs(30)), "the stalled peer was never closed");
}

/// Sockets over the per-address cap are closed at accept (keeping only a few to carry the
/// RTMP error): 200 silent sockets from one address no longer all hold a connection.
#[test]
fn sockets_over_the_per_address_cap_are_closed_at_accept() {
    let config = openrtmp_server::Config { max_connections_per_ip: 8, ..support::test_config() };
    let server = TestServer::start(config);
    let sockets: Vec<TcpStream> =
        (0..200).map(|_| TcpStream::connect(server.addr).expect("connect")).collect();
    assert!(support::wait_until(Duration::from_secs(20), || {
        server.stats.accepted.load(std::sync::atomic::Ordering::Relaxed)
            + server.stats.refused.load(std::sync::atomic::Ordering::Relaxed)
            >= 200
    }));
    let held = server.handle.connections().len();
    eprintln!("200 silent sockets from one address: {held} held");
    assert!(held <= 8 + 16, "{held} connections held for one address (cap 8)");
    drop(sockets);
}

/// A publisher pushing as fast as it can (FFmpeg without `-re`, an encoder flushing a
/// backlog): a player that joins skips to newer keyframes as it must, but is not cut off as
/// "too slow" because media time ran ahead of the wall clock (it used to be, 0.3 s after
/// joining: "for too long" was counted in media time).
#[test]
fn a_publisher_faster_than_real_time_does_not_cut_its_players_off() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = support::Fixture::H264Aac { seconds: 4 }.path(&ffmpeg);
    let mut config = support::test_config();
    config.hub.viewer_disconnect_after_ms = 10_000;
    let server = TestServer::start(config);
    let url = server.rtmp_url("live/fast");
    let rt = support::client_runtime();
    let fast = openrtmp_client::PublishOptions { realtime: false, repeat: 60 };
    let publisher = {
        let (input, url) = (input.clone(), url.clone());
        rt.spawn(async move {
            openrtmp_client::publish_file(&input, &url, support::quick_options(), fast).await
        })
    };
    let publishing = support::wait_until(Duration::from_secs(20), || {
        server.hub.streams().iter().any(|s| s.publishing && s.frames_in > 0)
    });
    assert!(publishing, "the publisher did not start");
    let played =
        rt.block_on(support::play_all(url, support::quick_options(), Duration::from_secs(120)));
    let stats = rt.block_on(publisher).expect("publisher task").expect("publish");
    let frames = played.tags.iter().filter(|(_, t)| support::is_frame(t)).count();
    eprintln!(
        "published {} tags as fast as possible; the player got {frames} frames, end: {}",
        stats.tags, played.end
    );
    assert_eq!(error_count(&server, "too_slow"), 0, "a player was cut off as too slow");
    assert_eq!(played.end, openrtmp_client::PlayEnd::Eof, "the player did not play to the end");
    assert!(frames > 0);
}

/// The live relay delay is reported apart from the join catch-up: a player that joins a
/// running stream gets the GOP cache (seconds old) as catch-up, then live frames; only the
/// live ones count in `distribution_delay`.
#[test]
fn join_catch_up_is_reported_apart_from_the_live_relay_delay() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = support::Fixture::H264Aac { seconds: 12 }.path(&ffmpeg);
    let server = TestServer::start(support::test_config());
    let url = server.rtmp_url("live/delay");
    let rt = support::client_runtime();
    let publisher = {
        let (input, url) = (input.clone(), url.clone());
        rt.spawn(async move {
            let options = openrtmp_client::PublishOptions::default();
            openrtmp_client::publish_file(&input, &url, support::quick_options(), options).await
        })
    };
    // Join once the cache holds about two seconds of media.
    let cached = support::wait_until(Duration::from_secs(20), || {
        server.handle.streams().iter().any(|s| s.publishing && s.gop_cache_ms >= 1500)
    });
    assert!(cached, "the stream did not fill its cache");
    // Two seconds of play; the histograms are read while the stream is still live.
    let played =
        rt.block_on(support::play_all(url, support::quick_options(), Duration::from_secs(2)));
    let status = server.handle.streams();
    let stream = status.iter().find(|s| s.name == "delay").expect("the stream is listed");
    let (live, catch_up) = (&stream.distribution_delay, &stream.catch_up_delay);
    let frames = played.tags.iter().filter(|(_, t)| support::is_frame(t)).count() as u64;
    eprintln!("{frames} frames: {} live, {} catch-up", live.count, catch_up.count);
    assert!(catch_up.count > 0, "the join catch-up was not counted apart");
    assert!(live.count > 0, "no live frame counted");
    assert!(live.count + catch_up.count >= frames, "frames missing from the histograms");
    rt.block_on(publisher).expect("publisher task").expect("publish");
}
