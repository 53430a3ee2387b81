//! In-memory client/server session pairs: no sockets, no sleeps.

use std::time::{Duration, Instant};

use bytes::Bytes;
use openrtmp_amf::{Amf0Value, AmfObject};

use super::*;
use crate::chunk::ChunkOutput;
use crate::command::{EnhancedCaps, PublishType, StatusCode};
use crate::handshake::{ClientMode, HandshakeScheme};
use crate::message::{Message, MessageType};

mod memory;
mod timer;
mod unknown_stream;

/// S0 + S1 + S2 (RTMP 1.0 §5.2.2, §5.2.3).
const HANDSHAKE_LEN: usize = 1 + 1536 + 1536;

fn drain(out: &mut ChunkOutput) -> Vec<u8> {
    let v = out.to_vec();
    let n = out.len();
    out.advance(n);
    v
}

struct Pair {
    client: ClientSession,
    server: ServerSession,
    /// The injected clock: the server's `now`, moved only by the test.
    now: Instant,
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
    /// Decodes what the server sent after the handshake, to inspect it message by message.
    server_out: crate::chunk::ChunkDecoder,
    /// Bytes the server sent so far (the first 3073 are the handshake).
    server_sent: usize,
}

impl Pair {
    fn new(mode: ClientMode, enhanced: Option<EnhancedCaps>) -> Pair {
        let mut config = ClientConfig::new("live", "rtmp://127.0.0.1:1935/live");
        config.handshake = mode;
        config.connect.enhanced = enhanced;
        let random: Vec<u8> = (0..3032u32).map(|i| (i * 7 + 3) as u8).collect();
        let now = Instant::now();
        Pair {
            client: ClientSession::new(config, 0, &random),
            server: ServerSession::new(ServerConfig::default(), now, 0, &random),
            now,
            client_events: Vec::new(),
            server_events: Vec::new(),
            server_out: crate::chunk::ChunkDecoder::new(Default::default()),
            server_sent: 0,
        }
    }

    /// Moves bytes both ways (in awkward 7-byte pieces) until nothing moves.
    fn pump(&mut self) -> Result<(), SessionError> {
        loop {
            let c2s = drain(self.client.transmit());
            let s2c = drain(self.server.transmit());
            if c2s.is_empty() && s2c.is_empty() {
                // Events of input fed around the pump (raw_to_server) too.
                while let Some(e) = self.server.poll_event() {
                    self.server_events.push(e);
                }
                return Ok(());
            }
            for piece in c2s.chunks(7) {
                self.server.handle_input(self.now, piece)?;
            }
            let handshake_left = HANDSHAKE_LEN.saturating_sub(self.server_sent);
            self.server_out.handle_input(s2c.get(handshake_left..).unwrap_or_default());
            self.server_sent += s2c.len();
            for piece in s2c.chunks(7) {
                self.client.handle_input(piece)?;
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
        }
    }

    /// Commands the server sent since the last call, with their message stream ids.
    fn server_commands(&mut self) -> Vec<(u32, crate::command::Command)> {
        let mut out = Vec::new();
        while let Some(msg) = self.server_out.poll_message().unwrap() {
            if msg.type_id == MessageType::COMMAND_AMF0 {
                let limits = openrtmp_amf::Limits::default();
                out.push((
                    msg.stream_id,
                    crate::command::Command::from_message(&msg, &limits).unwrap(),
                ));
            }
        }
        out
    }

    fn take_server(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.server_events)
    }

    fn take_client(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.client_events)
    }

    /// Runs the handshake and `connect`; returns the connect request the server asks about.
    fn connect_request(&mut self) -> RequestId {
        self.pump().unwrap();
        self.take_server()
            .into_iter()
            .find_map(|e| match e {
                ServerEvent::Connect { request, command } => {
                    assert_eq!(command.app, "live");
                    Some(request)
                }
                _ => None,
            })
            .expect("connect event")
    }

    fn connect(&mut self) {
        let request = self.connect_request();
        self.server.accept_connect(self.now, request).unwrap();
        self.pump().unwrap();
        assert!(self.client.is_connected());
    }
}

#[test]
fn digest_handshake_and_connect() {
    let mut p = Pair::new(ClientMode::Digest, None);
    p.pump().unwrap();
    assert!(matches!(
        p.server_events.first(),
        Some(ServerEvent::HandshakeDone {
            scheme: HandshakeScheme::Digest(_),
            client_version: Some(_)
        })
    ));
    p.connect();
    let connected = p.take_client().into_iter().find_map(|e| match e {
        ClientEvent::Connected { properties, info } => Some((properties, info)),
        _ => None,
    });
    let (props, info) = connected.expect("Connected");
    assert_eq!(props.get("fmsVer").and_then(Amf0Value::as_str), Some(crate::command::FMS_VERSION));
    assert_eq!(info.get("code").and_then(Amf0Value::as_str), Some("NetConnection.Connect.Success"));
    // A legacy client gets no Enhanced RTMP properties.
    assert!(props.get("capsEx").is_none());
}

#[test]
fn simple_handshake_works_too() {
    let mut p = Pair::new(ClientMode::Simple, None);
    p.connect();
    assert!(p.client.is_connected());
}

#[test]
fn enhanced_client_gets_capabilities() {
    let caps = EnhancedCaps {
        fourcc_list: vec!["hvc1".into(), "av01".into()],
        caps_ex: crate::command::CAPS_EX_RECONNECT,
        ..EnhancedCaps::default()
    };
    let mut p = Pair::new(ClientMode::Digest, Some(caps));
    p.connect();
    assert!(p.server.peer_caps().supports_reconnect());
    let props = p
        .take_client()
        .into_iter()
        .find_map(|e| match e {
            ClientEvent::Connected { properties, .. } => Some(properties),
            _ => None,
        })
        .unwrap();
    let answer = EnhancedCaps::from_object(&props);
    assert_eq!(answer.fourcc_list, vec!["hvc1".to_owned(), "av01".to_owned()]);
    assert!(answer.video_fourcc_info.iter().any(|(k, _)| k == "*"));
    assert!(answer.supports_reconnect());
}

#[test]
fn reconnect_request_reaches_the_client_as_its_own_event() {
    let caps =
        EnhancedCaps { caps_ex: crate::command::CAPS_EX_RECONNECT, ..EnhancedCaps::default() };
    let mut p = Pair::new(ClientMode::Digest, Some(caps));
    p.connect();
    p.take_client();
    p.server.send_reconnect_request(Some("rtmp://other:1936/live"), Some("draining"));
    p.server.send_reconnect_request(None, None);
    p.pump().unwrap();
    let got: Vec<_> = p
        .take_client()
        .into_iter()
        .filter(|e| matches!(e, ClientEvent::ReconnectRequest { .. } | ClientEvent::Status { .. }))
        .collect();
    assert_eq!(
        got,
        vec![
            ClientEvent::ReconnectRequest {
                tc_url: Some("rtmp://other:1936/live".into()),
                description: Some("draining".into()),
            },
            // No tcUrl: reconnect to the current one; the code's default description.
            ClientEvent::ReconnectRequest {
                tc_url: None,
                description: Some("The server is requesting the client to reconnect.".into()),
            },
        ]
    );
}

fn media(type_id: MessageType, timestamp: u32, payload: &'static [u8]) -> Message {
    Message { csid: 6, timestamp, type_id, stream_id: 0, payload: Bytes::from_static(payload) }
}

#[test]
fn publish_flow_relays_media_and_metadata() {
    let mut p = Pair::new(ClientMode::Digest, None);
    p.connect();
    p.take_client();
    p.client.publish("key?token=abc", PublishType::Live).unwrap();
    p.pump().unwrap();
    let (request, name) = p
        .take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::Publish {
                request, stream_name, publish_type: PublishType::Live, ..
            } => Some((request, stream_name)),
            _ => None,
        })
        .expect("publish event");
    assert_eq!(name, "key?token=abc");
    p.server.accept_publish(p.now, request).unwrap();
    p.pump().unwrap();
    // Regression: Publish.Start's description quoted the name with its query (a key or
    // token in the client's and relays' logs).
    let shown = format!("{:?}", p.server_commands());
    assert!(shown.contains("key is now published."), "{shown}");
    assert!(!shown.contains("token=abc"), "{shown}");
    assert!(p.take_client().iter().any(|e| matches!(e, ClientEvent::PublishStarted { .. })));

    let meta = AmfObject::from_pairs([("width", Amf0Value::Number(320.0))]);
    p.client.send_metadata(meta).unwrap();
    let big: &'static [u8] = Box::leak(vec![0x17u8; 10_000].into_boxed_slice());
    p.client.send_media(&media(MessageType::VIDEO, 0, big)).unwrap();
    p.client.send_media(&media(MessageType::AUDIO, 0xFF_FFFF + 5, b"\xaf\x01aac")).unwrap();
    p.pump().unwrap();
    let events = p.take_server();
    let data = events.iter().find_map(|e| match e {
        ServerEvent::Data { data, .. } => Some(data.clone()),
        _ => None,
    });
    let data = data.expect("metadata");
    assert_eq!(data.name, "onMetaData");
    assert_eq!(
        data.metadata().and_then(|m| m.get("width")).and_then(Amf0Value::as_number),
        Some(320.0)
    );
    let frames: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Media { message, .. } => {
                Some((message.type_id, message.timestamp, message.payload.len()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        frames,
        vec![(MessageType::VIDEO, 0, 10_000), (MessageType::AUDIO, 0xFF_FFFF + 5, 5)]
    );

    p.client.unpublish().unwrap();
    p.pump().unwrap();
    assert!(p.take_server().iter().any(|e| matches!(e, ServerEvent::Unpublished { stream_name, .. } if stream_name == "key?token=abc")));
}

#[test]
fn rejected_publish_reports_bad_name_and_drops_media() {
    let mut p = Pair::new(ClientMode::Digest, None);
    p.connect();
    p.client.publish("busy", PublishType::Live).unwrap();
    p.pump().unwrap();
    let request = p
        .take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::Publish { request, .. } => Some(request),
            _ => None,
        })
        .unwrap();
    p.server
        .reject_publish(
            p.now,
            request,
            StatusCode::PUBLISH_BAD_NAME,
            "stream key busy is already in use",
        )
        .unwrap();
    p.pump().unwrap();
    let status = p.take_client().into_iter().find_map(|e| match e {
        ClientEvent::Status { code, description, level, .. } => Some((level, code, description)),
        _ => None,
    });
    assert_eq!(
        status,
        Some((
            "error".into(),
            "NetStream.Publish.BadName".into(),
            "stream key busy is already in use".into()
        ))
    );
    // The client no longer thinks it publishes; a raw media message is not relayed either.
    assert!(p.client.send_media(&media(MessageType::VIDEO, 0, b"x")).is_err());
}

#[test]
fn play_flow_receives_media_and_eof() {
    let mut p = Pair::new(ClientMode::Digest, None);
    p.connect();
    p.client.play("cam", -2.0, -1.0, true).unwrap();
    p.pump().unwrap();
    let (request, stream_id) = p
        .take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::Play { request, stream_id, stream_name, .. } if stream_name == "cam" => {
                Some((request, stream_id))
            }
            _ => None,
        })
        .unwrap();
    p.server.accept_play(p.now, request).unwrap();
    let shared = Bytes::from(vec![0x27u8; 50_000]);
    let frame = Message {
        csid: 9,
        timestamp: 40,
        type_id: MessageType::VIDEO,
        stream_id: 99,
        payload: shared.clone(),
    };
    p.server.send_media(stream_id, &frame);
    p.server.notify_unpublished(stream_id);
    p.pump().unwrap();
    let events = p.take_client();
    let codes: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Status { code, .. } => Some(code.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        codes,
        ["NetStream.Play.Reset", "NetStream.Play.Start", "NetStream.Play.UnpublishNotify"]
    );
    let got = events.iter().find_map(|e| match e {
        ClientEvent::Media { message, stream_id: s } if *s == stream_id => Some(message.clone()),
        _ => None,
    });
    let got = got.expect("media");
    assert_eq!((got.timestamp, got.payload), (40, shared));
    assert!(events
        .iter()
        .any(|e| matches!(e, ClientEvent::StreamEof { stream_id: s } if *s == stream_id)));
}

#[test]
fn rejected_connect_is_reported_with_description() {
    let mut p = Pair::new(ClientMode::Digest, None);
    let request = p.connect_request();
    p.server.reject_connect(request, "connection limit reached");
    assert!(p.server.is_closed());
    let err = p.pump().unwrap_err();
    assert_eq!(
        err,
        SessionError::ConnectRejected {
            code: "NetConnection.Connect.Rejected".into(),
            description: "connection limit reached".into()
        }
    );
}

/// Feeds `msg` straight to the server as the client would send it after connect (chunk size
/// 4096), on a chunk stream of its own so the client's header compression is not disturbed.
/// `cut` keeps only the first bytes of the encoded message (a message declared, not completed).
fn raw_to_server(p: &mut Pair, msg: Message, cut: Option<usize>) -> Result<(), SessionError> {
    let mut enc = crate::chunk::ChunkEncoder::new();
    enc.set_chunk_size(crate::session::DEFAULT_CHUNK_SIZE).unwrap();
    let mut out = ChunkOutput::new();
    enc.write_message(&Message { csid: 40, ..msg }, &mut out);
    let bytes = out.to_vec();
    let bytes = &bytes[..cut.unwrap_or(bytes.len()).min(bytes.len())];
    p.server.handle_input(p.now, bytes)
}

/// Sends one AMF0 command message on csid 3 using a fresh encoder with the server's state.
fn raw_command_bytes(payload: Bytes) -> Vec<u8> {
    let mut enc = crate::chunk::ChunkEncoder::new();
    let mut out = ChunkOutput::new();
    enc.write_message(&crate::command::command_message(0, payload), &mut out);
    out.to_vec()
}

fn handshaken_server() -> ServerSession {
    let mut p = Pair::new(ClientMode::Simple, None);
    // Complete only the handshake: pump until the client queued connect, drop it.
    let c0c1 = drain(p.client.transmit());
    p.server.handle_input(p.now, &c0c1).unwrap();
    let s = drain(p.server.transmit());
    p.client.handle_input(&s).unwrap();
    let c2_and_connect = drain(p.client.transmit());
    p.server.handle_input(p.now, &c2_and_connect[..1536]).unwrap();
    p.server
}

#[test]
fn command_before_connect_is_refused() {
    let mut server = handshaken_server();
    let bytes = raw_command_bytes(crate::command::call("createStream", 2.0, &[]));
    assert_eq!(
        server.handle_input(Instant::now(), &bytes),
        Err(SessionError::ConnectExpected { command: "createStream".into() })
    );
    assert!(server.is_closed());
}

#[test]
fn nan_transaction_id_is_a_precise_error() {
    let mut server = handshaken_server();
    let mut payload = bytes::BytesMut::new();
    openrtmp_amf::amf0::encode_all(
        &[Amf0Value::string("connect"), Amf0Value::Number(f64::NAN)],
        &mut payload,
    );
    let bytes = raw_command_bytes(payload.freeze());
    assert_eq!(
        server.handle_input(Instant::now(), &bytes),
        Err(SessionError::Command(crate::command::CommandError::InvalidTransactionId {
            name: "connect".into()
        }))
    );
}

#[test]
fn too_many_streams_is_refused() {
    let mut p = Pair::new(ClientMode::Digest, None);
    p.connect();
    for _ in 0..DEFAULT_MAX_STREAMS {
        p.client.play("x", -2.0, -1.0, true).unwrap();
        p.pump().unwrap();
        let request = p.take_server().into_iter().find_map(|e| match e {
            ServerEvent::Play { request, .. } => Some(request),
            _ => None,
        });
        p.server.accept_play(p.now, request.expect("play event")).unwrap();
    }
    p.client.play("x", -2.0, -1.0, true).unwrap();
    assert_eq!(p.pump(), Err(SessionError::TooManyStreams { limit: DEFAULT_MAX_STREAMS }));
}

#[test]
fn amf3_command_message_is_understood() {
    // Type 17: a format byte 0 then AMF0 values; the command object switches to AMF3 (0x11).
    let mut server = handshaken_server();
    let mut payload = bytes::BytesMut::from(&[0u8][..]);
    openrtmp_amf::amf0::encode_all(
        &[Amf0Value::string("connect"), Amf0Value::Number(1.0)],
        &mut payload,
    );
    let obj = openrtmp_amf::Amf3Value::Object(openrtmp_amf::Amf3Object {
        class_name: String::new(),
        dynamic: true,
        sealed: Vec::new(),
        dynamic_members: vec![("app".into(), openrtmp_amf::Amf3Value::String("live".into()))],
    });
    openrtmp_amf::amf0::encode(&Amf0Value::Avmplus(obj), &mut payload);
    let msg = Message {
        csid: 3,
        timestamp: 0,
        type_id: MessageType::COMMAND_AMF3,
        stream_id: 0,
        payload: payload.freeze(),
    };
    let mut enc = crate::chunk::ChunkEncoder::new();
    let mut out = ChunkOutput::new();
    enc.write_message(&msg, &mut out);
    server.handle_input(Instant::now(), &out.to_vec()).unwrap();
    let app = std::iter::from_fn(|| server.poll_event()).find_map(|e| match e {
        ServerEvent::Connect { command, .. } => Some(command.app),
        _ => None,
    });
    assert_eq!(app.as_deref(), Some("live"));
}

#[test]
fn garbage_after_handshake_closes_with_error() {
    let mut server = handshaken_server();
    // fmt 3 on a chunk stream never seen.
    let err = server.handle_input(Instant::now(), &[0xC7, 1, 2, 3, 4, 5]).unwrap_err();
    assert!(matches!(err, SessionError::Chunk(_)), "{err:?}");
    assert_eq!(server.handle_input(Instant::now(), &[0]), Err(err));
}

/// Feeds a real client's capture to a server session in the given pieces, accepting every
/// request; returns a summary of what the session reported.
fn replay(capture: &[u8], pieces: &[usize]) -> Result<Vec<String>, SessionError> {
    replay_with(capture, pieces, false)
}

/// [`replay`], the pieces copied in with `handle_input`, or (`read_into`) appended to the
/// session's input buffer and handed over with `handle_read`, as the server's driver does.
fn replay_with(
    capture: &[u8],
    pieces: &[usize],
    read_into: bool,
) -> Result<Vec<String>, SessionError> {
    let random: Vec<u8> = (0..3032u32).map(|i| (i * 13 + 1) as u8).collect();
    let t0 = Instant::now();
    let mut server = ServerSession::new(ServerConfig::default(), t0, 0, &random);
    let mut summary = Vec::new();
    let mut rest = capture;
    let mut sizes = pieces.iter().copied().cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        if read_into {
            server.input_buffer().extend_from_slice(piece);
            server.handle_read(t0, piece.len())?;
        } else {
            server.handle_input(t0, piece)?;
        }
        while let Some(event) = server.poll_event() {
            summary.push(match event {
                ServerEvent::HandshakeDone { scheme, .. } => format!("handshake {scheme:?}"),
                ServerEvent::Connect { request, command } => {
                    server.accept_connect(t0, request).unwrap();
                    format!(
                        "connect app={} fourcc={:?} flashVer={:?}",
                        command.app, command.enhanced.fourcc_list, command.flash_ver
                    )
                }
                ServerEvent::Publish { request, stream_name, .. } => {
                    server.accept_publish(t0, request).unwrap();
                    format!("publish {stream_name}")
                }
                ServerEvent::Data { data, .. } => format!("data {}", data.name),
                ServerEvent::Media { message, .. } => {
                    format!(
                        "media {} {} {}",
                        message.type_id.0,
                        message.timestamp,
                        message.payload.len()
                    )
                }
                ServerEvent::Unpublished { stream_name, .. } => {
                    format!("unpublished {stream_name}")
                }
                other => format!("{other:?}"),
            });
        }
        let n = server.transmit().len();
        server.transmit().advance(n);
    }
    Ok(summary)
}

const FFMPEG5: &[u8] = include_bytes!("testdata/ffmpeg_publish.bin");
const FFMPEG9: &[u8] = include_bytes!("testdata/ffmpeg9_hevc_opus_publish.bin");

#[test]
fn real_ffmpeg5_publish_capture() {
    let summary = replay(FFMPEG5, &[usize::MAX]).unwrap();
    assert!(summary[0].starts_with("handshake Digest"), "{summary:?}");
    assert!(
        summary[1]
            .starts_with("connect app=live fourcc=[] flashVer=Some(\"FMLE/3.0 (compatible; Lavf59"),
        "{summary:?}"
    );
    assert_eq!(summary[2], "publish capture");
    assert_eq!(summary[3], "data onMetaData");
    let video = summary.iter().filter(|s| s.starts_with("media 9 ")).count();
    let audio = summary.iter().filter(|s| s.starts_with("media 8 ")).count();
    assert_eq!(video, 17, "the sequence header, 15 frames, the end of sequence");
    assert!(audio > 20, "{audio}");
    assert_eq!(summary.last().map(String::as_str), Some("unpublished capture"));
}

#[test]
fn real_ffmpeg9_enhanced_publish_capture() {
    let summary = replay(FFMPEG9, &[usize::MAX]).unwrap();
    assert!(summary[1].starts_with("connect app=live fourcc=[\"hvc1\", \"Opus\"]"), "{summary:?}");
    assert_eq!(summary[2], "publish capture9");
    assert!(summary.iter().filter(|s| s.starts_with("media 9 ")).count() >= 15);
    assert_eq!(summary.last().map(String::as_str), Some("unpublished capture9"));
}

#[test]
fn captures_split_at_every_byte_boundary_of_the_command_phase() {
    for capture in [FFMPEG5, FFMPEG9] {
        let whole = replay(capture, &[usize::MAX]).unwrap();
        // The handshake is 3073 bytes; the commands and metadata follow within ~1 KB.
        for split in 1..4200 {
            assert_eq!(replay(capture, &[split, usize::MAX]).unwrap(), whole, "split at {split}");
        }
        assert_eq!(replay(capture, &[1]).unwrap(), whole, "one byte at a time");
    }
}

/// Reads straight into the session's buffer (handshake, then chunks) report what copied
/// input reports, split anywhere in the handshake and command phase.
#[test]
fn captures_read_into_the_session_buffer_split_at_every_byte_of_the_command_phase() {
    for capture in [FFMPEG5, FFMPEG9] {
        let whole = replay(capture, &[usize::MAX]).unwrap();
        assert_eq!(replay_with(capture, &[usize::MAX], true).unwrap(), whole, "one read");
        for split in 1..4200 {
            let read = replay_with(capture, &[split, usize::MAX], true).unwrap();
            assert_eq!(read, whole, "split at {split}");
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    #[test]
    fn captures_in_random_pieces(pieces in proptest::collection::vec(1usize..3000, 1..40)) {
        for capture in [FFMPEG5, FFMPEG9] {
            let whole = replay(capture, &[usize::MAX]).unwrap();
            proptest::prop_assert_eq!(replay(capture, &pieces).unwrap(), whole.clone());
            proptest::prop_assert_eq!(replay_with(capture, &pieces, true).unwrap(), whole);
        }
    }
}

/// The client learns what the server received from its Acknowledgements (§5.4.3), sent
/// for the window the client announced, and counts past the 32-bit wrap.
#[test]
fn client_counts_the_peers_acknowledgements_past_the_wrap() {
    let mut config = ClientConfig::new("live", "rtmp://127.0.0.1:1935/live");
    config.window_ack_size = 4096;
    let random: Vec<u8> = (0..3032u32).map(|i| (i * 7 + 3) as u8).collect();
    let now = Instant::now();
    let mut p = Pair::new(ClientMode::Simple, None);
    p.client = ClientSession::new(config, 0, &random);
    p.server = ServerSession::new(ServerConfig::default(), now, 0, &random);
    p.connect();
    assert!(p.client.bytes_acknowledged().is_none_or(|n| n < 4096 * 2));
    let before = p.client.bytes_acknowledged().unwrap_or(0);
    let big: &'static [u8] = Box::leak(vec![0x17u8; 20_000].into_boxed_slice());
    p.client.publish("key", PublishType::Live).unwrap();
    p.pump().unwrap();
    let request = p
        .take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::Publish { request, .. } => Some(request),
            _ => None,
        })
        .expect("publish event");
    p.server.accept_publish(p.now, request).unwrap();
    p.pump().unwrap();
    p.client.send_media(&media(MessageType::VIDEO, 0, big)).unwrap();
    p.pump().unwrap();
    let acked = p.client.bytes_acknowledged().expect("acknowledged");
    assert!(acked >= before + 16_384, "{before} -> {acked}");

    // Sequence numbers wrap at 2^32: the count goes on.
    let mut feed = |sequence: u32| {
        let msg = crate::control::ControlMessage::Acknowledgement { sequence }.to_message();
        for piece in crate::chunk::encode_standalone(&msg, 128) {
            p.client.handle_input(&piece).unwrap();
        }
    };
    feed(u32::MAX - 10);
    feed(5);
    assert_eq!(p.client.bytes_acknowledged(), Some(u64::from(u32::MAX) + 6));
}
