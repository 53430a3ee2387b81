//! `getStreamLength` (sent by Flash-era players before `play`): a recording's duration in
//! seconds, 0 for a live stream or a name that is not a recording. Our client does not make
//! this call, so the test speaks raw chunks after the client session's handshake.

mod support;

use std::io::{IoSlice, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use openrtmp_amf::Amf0Value;
use openrtmp_proto::chunk::{ChunkDecoder, ChunkEncoder, ChunkOutput, DecoderLimits};
use openrtmp_proto::command::{self, RawCommand};
use openrtmp_proto::message::{Message, MessageType};
use openrtmp_proto::session::{ClientConfig, ClientEvent, ClientSession};
use openrtmp_record::name::from_unix_ms;
use openrtmp_record::{Format, SegmentName};
use support::{Fixture, TempDir, TestServer};

fn bytes_of(out: &ChunkOutput) -> Vec<u8> {
    let mut slices = [IoSlice::new(&[]); 1024];
    let n = out.io_slices(&mut slices);
    slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
}

/// Handshake and `connect` to app `live` with the client session, on a blocking socket.
fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).expect("connect");
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let config = ClientConfig::new("live", format!("rtmp://{addr}/live"));
    let mut session = ClientSession::new(config, 0, &[7u8; 1528]);
    let end = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 16 * 1024];
    while Instant::now() < end {
        while let Some(event) = session.poll_event() {
            if matches!(event, ClientEvent::Connected { .. }) {
                let out = std::mem::take(session.transmit());
                socket.write_all(&bytes_of(&out)).expect("write");
                return socket;
            }
        }
        let out = std::mem::take(session.transmit());
        socket.write_all(&bytes_of(&out)).expect("write");
        let n = socket.read(&mut buf).expect("read");
        assert!(n > 0, "closed before connect was accepted");
        session.handle_input(&buf[..n]).expect("input");
    }
    panic!("connect was not accepted");
}

/// Sends `getStreamLength(name)` with transaction id `tid` and returns the number answered.
/// (One decoder for the whole connection: the server compresses later chunk headers.)
fn stream_length(socket: &mut TcpStream, decoder: &mut ChunkDecoder, name: &str, tid: f64) -> f64 {
    let call = Message {
        csid: 8,
        timestamp: 0,
        type_id: MessageType::COMMAND_AMF0,
        stream_id: 0,
        payload: command::call("getStreamLength", tid, &[Amf0Value::string(name)]),
    };
    let mut out = ChunkOutput::new();
    ChunkEncoder::new().write_message(&call, &mut out);
    socket.write_all(&bytes_of(&out)).expect("write");
    let end = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 16 * 1024];
    while Instant::now() < end {
        let n = socket.read(&mut buf).expect("read");
        assert!(n > 0, "closed instead of answering");
        decoder.handle_input(&buf[..n]);
        while let Ok(Some(msg)) = decoder.poll_message() {
            if msg.type_id != MessageType::COMMAND_AMF0 {
                continue;
            }
            let Ok(raw) = RawCommand::decode(msg.type_id, &msg.payload, &Default::default()) else {
                continue;
            };
            if raw.transaction_id == tid {
                assert_eq!(raw.name, "_result", "{raw:?}");
                return raw.args.iter().find_map(Amf0Value::as_number).expect("a number");
            }
        }
    }
    panic!("getStreamLength({name}) got no answer");
}

#[test]
fn get_stream_length_answers_a_recordings_duration() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 4 }.path(&ffmpeg);
    let dir = TempDir::new("vod-length");
    let start = from_unix_ms(1_796_569_080_123);
    let name = SegmentName::new("live", "cam", start, start, Format::Flv);
    let path = dir.0.join(name.relative_path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(&input, &path).unwrap();
    let tags = support::read_tags(&input);
    let media: Vec<u32> =
        tags.iter().filter(|t| support::is_frame(t)).map(|t| t.timestamp).collect();
    let want = f64::from(media.last().unwrap() - media[0]) / 1000.0;

    let mut config = support::test_config();
    config.record.dir = dir.0.clone();
    let server = TestServer::start(config);
    let mut socket = connect(server.addr);
    let mut decoder = ChunkDecoder::new(DecoderLimits::default());
    decoder.set_chunk_size(openrtmp_server::DEFAULT_CHUNK_SIZE).unwrap();
    let mut length = |name: &str, tid: f64| stream_length(&mut socket, &mut decoder, name, tid);
    assert_eq!(length(&name.file_name(), 5.0), want);
    assert_eq!(length(&format!("flv:{}", name.file_name()), 6.0), want);
    assert_eq!(length("cam", 7.0), 0.0, "a live name");
    assert_eq!(length("../x.flv", 8.0), 0.0, "not a recording");
}
