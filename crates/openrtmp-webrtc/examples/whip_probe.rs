//! Interop probe: a one-session WHIP endpoint on std sockets, for checking `IngestSession`
//! against a real browser. It serves a page on `http://127.0.0.1:<http>/` that publishes the
//! camera (H.264 + Opus) to `POST /whip`, answers with host candidates on 127.0.0.1 and the
//! given LAN addresses (one UDP socket per address, so each packet's `destination` is a
//! candidate), and prints what arrives: connection, frames, IDRs, keyframe requests, the end.
//!
//! With `PROBE_TCP=1` the answer carries passive ICE-TCP candidates only (RFC 6544, RFC 4571
//! framing) on the same port numbers.
//!
//! ```text
//! cargo run -p openrtmp-webrtc --example whip_probe -- 8480 8189 192.0.2.2
//! chromium --headless=new --no-sandbox --use-fake-device-for-media-stream \
//!     --use-fake-ui-for-media-stream http://127.0.0.1:8480/
//! ```
//!
//! The page stores its `getStats()` timeline in `window.result` after 12 s.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use openrtmp_webrtc::ingest::{IngestConfig, IngestOutput, IngestSession, Packet};
use openrtmp_webrtc::{Transmit, Transport};

const PAGE: &str = include_str!("whip_probe.html");

type Offer = (String, mpsc::Sender<Result<String, String>>);
/// One RFC 4571 frame from an ICE-TCP connection: (peer, local, frame).
type TcpFrame = (SocketAddr, SocketAddr, Vec<u8>);

fn main() {
    // RUST_LOG=is=debug,str0m=debug shows ICE and DTLS decisions.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let http_port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8480);
    let udp_port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8189);
    let mut ips: Vec<IpAddr> = vec![IpAddr::from([127, 0, 0, 1])];
    ips.extend(args.filter_map(|a| a.parse::<IpAddr>().ok()));
    let sockets: Vec<UdpSocket> = ips
        .iter()
        .map(|ip| {
            let s = UdpSocket::bind((*ip, udp_port)).expect("bind udp");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    let (offers_tx, offers) = mpsc::channel::<Offer>();
    let listener = TcpListener::bind(("127.0.0.1", http_port)).expect("bind http");
    std::thread::spawn(move || http(listener, offers_tx));
    println!("probe: page http://127.0.0.1:{http_port}/, ICE on {ips:?} port {udp_port}");

    let tcp_mode = std::env::var_os("PROBE_TCP").is_some();
    let (frames_tx, tcp_frames) = mpsc::channel::<TcpFrame>();
    let (conns_tx, new_conns) = mpsc::channel::<(SocketAddr, TcpStream)>();
    let mut conns: HashMap<SocketAddr, TcpStream> = HashMap::new();
    let candidates = if tcp_mode {
        ips.iter()
            .map(|ip| {
                let listener = TcpListener::bind((*ip, udp_port)).expect("bind ice-tcp");
                let addr = listener.local_addr().expect("addr");
                let (frames_tx, conns_tx) = (frames_tx.clone(), conns_tx.clone());
                std::thread::spawn(move || ice_tcp(listener, frames_tx, conns_tx));
                (addr, Transport::Tcp)
            })
            .collect()
    } else {
        sockets.iter().map(|s| (s.local_addr().expect("addr"), Transport::Udp)).collect()
    };
    let config = IngestConfig { candidates, ..IngestConfig::default() };
    let mut session: Option<(IngestSession, Instant)> = None;
    let mut buf = vec![0u8; 2000];
    let (mut frames, mut idrs, mut audio) = (0u64, 0u64, 0u64);
    loop {
        let now = Instant::now();
        if let Ok((offer, reply)) = offers.try_recv() {
            match IngestSession::accept_offer(now, &offer, &config) {
                Ok((s, answer)) => {
                    println!("probe: answered, ufrag {}", s.local_ufrag());
                    session = Some((s, now));
                    let _ = reply.send(Ok(answer));
                }
                Err(e) => {
                    println!("probe: refused: {e}");
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
        let Some((s, start)) = session.as_mut() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        let ms = |t: Instant| t.duration_since(*start).as_millis();
        for sock in &sockets {
            while let Ok((n, source)) = sock.recv_from(&mut buf) {
                let packet = Packet {
                    proto: Transport::Udp,
                    source,
                    destination: sock.local_addr().expect("addr"),
                    contents: &buf[..n],
                };
                if let Err(e) = s.handle_packet(Instant::now(), packet) {
                    println!("probe: packet error: {e}");
                }
            }
        }
        while let Ok((peer, stream)) = new_conns.try_recv() {
            conns.insert(peer, stream);
        }
        while let Ok((source, destination, frame)) = tcp_frames.try_recv() {
            let packet = Packet { proto: Transport::Tcp, source, destination, contents: &frame };
            if let Err(e) = s.handle_packet(Instant::now(), packet) {
                println!("probe: tcp packet error: {e}");
            }
        }
        let now = Instant::now();
        let _ = s.handle_timeout(now);
        loop {
            match s.poll_output(now) {
                IngestOutput::Timeout(_) => break,
                IngestOutput::Transmit(Transmit {
                    proto: Transport::Tcp,
                    destination,
                    contents,
                    ..
                }) => {
                    // RFC 4571: a 2-byte length before each packet.
                    if let Some(conn) = conns.get_mut(&destination) {
                        let len = u16::try_from(contents.len()).unwrap_or(u16::MAX);
                        let _ = conn.write_all(&len.to_be_bytes());
                        let _ = conn.write_all(&contents);
                    }
                }
                IngestOutput::Transmit(Transmit { source, destination, contents, .. }) => {
                    if let Some(sock) = sockets.iter().find(|x| x.local_addr().ok() == Some(source))
                    {
                        let _ = sock.send_to(&contents, destination);
                    }
                }
                IngestOutput::Connected => println!("probe: {} ms connected", ms(now)),
                IngestOutput::Video(f) => {
                    frames += 1;
                    let idr = f.data.windows(4).any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5);
                    if idr {
                        idrs += 1;
                        println!(
                            "probe: {} ms IDR #{idrs} ({} bytes, frame {frames}, rtp {}, sr {})",
                            ms(now),
                            f.data.len(),
                            f.rtp_time,
                            f.sender_report.is_some()
                        );
                    }
                    if !f.contiguous {
                        println!("probe: {} ms non-contiguous frame", ms(now));
                    }
                    if frames % 100 == 0 {
                        println!("probe: {} ms {frames} video frames, {audio} audio", ms(now));
                    }
                }
                IngestOutput::Audio(_) => audio += 1,
                IngestOutput::Ended(reason) => {
                    println!(
                        "probe: {} ms ended: {reason} ({frames} video frames, {idrs} IDRs, {audio} audio)",
                        ms(now)
                    );
                    session = None;
                    frames = 0;
                    idrs = 0;
                    audio = 0;
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Accepts ICE-TCP connections and forwards their RFC 4571 frames (2-byte length, packet).
fn ice_tcp(
    listener: TcpListener,
    frames: mpsc::Sender<TcpFrame>,
    conns: mpsc::Sender<(SocketAddr, TcpStream)>,
) {
    let local = listener.local_addr().expect("addr");
    for mut stream in listener.incoming().flatten() {
        let Ok(peer) = stream.peer_addr() else { continue };
        println!("probe: ice-tcp connection from {peer} to {local}");
        let Ok(writer) = stream.try_clone() else { continue };
        let _ = conns.send((peer, writer));
        let frames = frames.clone();
        std::thread::spawn(move || {
            let mut len = [0u8; 2];
            while stream.read_exact(&mut len).is_ok() {
                let mut frame = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut frame).is_err() {
                    break;
                }
                let _ = frames.send((peer, local, frame));
            }
        });
    }
}

/// GET / serves the page; POST /whip hands the offer over and answers 201 with the SDP.
fn http(listener: TcpListener, offers: mpsc::Sender<Offer>) {
    for stream in listener.incoming().flatten() {
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            continue;
        }
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; len];
        let _ = reader.read_exact(&mut body);
        let (status, ctype, reply) = if request_line.starts_with("POST /whip") {
            let (tx, rx) = mpsc::channel();
            let _ = offers.send((String::from_utf8_lossy(&body).into_owned(), tx));
            match rx.recv() {
                Ok(Ok(answer)) => ("201 Created", "application/sdp", answer),
                Ok(Err(e)) => ("406 Not Acceptable", "text/plain", e),
                Err(_) => ("500 Internal Server Error", "text/plain", String::new()),
            }
        } else if request_line.starts_with("DELETE") {
            ("200 OK", "text/plain", String::new())
        } else {
            ("200 OK", "text/html", PAGE.to_string())
        };
        let mut stream = reader.into_inner();
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nLocation: /whip/1\r\nConnection: close\r\n\r\n{reply}",
            reply.len()
        );
    }
}
