//! WHIP end to end: a real server (RTMP on 127.0.0.1:0, WebRTC media on a free UDP port),
//! the API served by `openrtmp_api::serve`, plain HTTP/1.1 requests, and the crate's own
//! WebRTC sender (`openrtmp_webrtc::client::WhipSender`) on a real UDP socket publishing an
//! FFmpeg-made clip; the stream is played back over RTMP by FFmpeg and checked by ffprobe.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use openrtmp_server::auth::{AppKeys, AuthSettings, KeySecret, PublishKey};
use openrtmp_server::whip::WebrtcSettings;
use openrtmp_server::{Config, Server, ServerHandle};
use openrtmp_webrtc::client::clip::{annexb_access_units, ogg_opus_packets};
use openrtmp_webrtc::client::{ClientOutput, WhipSender};
use openrtmp_webrtc::ingest::Packet;
use openrtmp_webrtc::{Transmit, Transport};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

mod support {
    pub mod whip_client;
}

const KEY: &str = "s3cret";

struct Harness {
    api: SocketAddr,
    rtmp: SocketAddr,
    handle: ServerHandle,
}

async fn start() -> Harness {
    start_with(|_| {}).await
}

async fn start_with(tweak: impl FnOnce(&mut Config)) -> Harness {
    let key = PublishKey { secret: KeySecret::Plain(KEY.into()), stream: None };
    let config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        api_listen: None,
        auth: AuthSettings {
            publish_keys: vec![AppKeys { app: "live".into(), keys: vec![key] }],
            ..AuthSettings::default()
        },
        webrtc: WebrtcSettings { udp_port: 0, tcp_port: Some(0), ..WebrtcSettings::default() },
        ..Config::default()
    };
    let mut config = config;
    tweak(&mut config);
    let server = Server::bind(config).await.unwrap();
    let rtmp = server.local_addrs()[0];
    let handle = server.handle();
    tokio::spawn(server.run(std::future::pending()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    let options = openrtmp_api::ApiOptions::default();
    tokio::spawn(openrtmp_api::serve(listener, handle.clone(), options, std::future::pending()));
    Harness { api, rtmp, handle }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on its own connection (`Connection: close`, read to the end).
async fn http(
    api: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(api).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status =
        lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply { status, headers, body: body.to_owned() }
}

async fn post_offer(api: SocketAddr, path: &str, key: Option<&str>, offer: &str) -> Reply {
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![("Content-Type", "application/sdp")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    http(api, "POST", path, &headers, offer).await
}

fn assert_cors(reply: &Reply) {
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"), "{reply:?}");
    let methods = reply.header("access-control-allow-methods").unwrap_or_default();
    for m in ["POST", "PATCH", "DELETE", "OPTIONS"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = reply.header("access-control-allow-headers").unwrap_or_default();
    for h in ["Authorization", "Content-Type", "If-Match"] {
        assert!(allowed.contains(h), "{allowed}");
    }
    let exposed = reply.header("access-control-expose-headers").unwrap_or_default();
    for h in ["Location", "ETag", "Link", "Accept-Patch"] {
        assert!(exposed.contains(h), "{exposed}");
    }
}

/// A sender's offer (one local UDP candidate, which nobody listens on: enough for the
/// HTTP side).
fn offer() -> String {
    let local = (SocketAddr::from(([127, 0, 0, 1], 9)), Transport::Udp);
    WhipSender::new(Instant::now(), &[local], true, true).unwrap().1
}

async fn streams(h: &Harness) -> Vec<Value> {
    let reply = http(h.api, "GET", "/api/v1/streams", &[], "").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let v: Value = serde_json::from_str(&reply.body).unwrap();
    v.get("streams")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(|| v.as_array().cloned().unwrap_or_default())
}

async fn publishing(h: &Harness, name: &str) -> bool {
    streams(h).await.iter().any(|s| s["stream"] == name && s["publishing"] == true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_http_side_credentials_conflicts_cors_and_delete() {
    let h = start().await;
    // CORS preflight on both paths.
    let pre =
        http(h.api, "OPTIONS", "/whip/live/cam", &[("Origin", "http://elsewhere.example")], "")
            .await;
    assert_eq!(pre.status, 204, "{pre:?}");
    assert_cors(&pre);
    let pre = http(h.api, "OPTIONS", "/whip/live/cam/abc", &[], "").await;
    assert_eq!(pre.status, 204);
    assert_cors(&pre);
    // Not SDP: 415.
    let wrong = http(h.api, "POST", "/whip/live/cam", &[("Content-Type", "text/plain")], "x").await;
    assert_eq!(wrong.status, 415, "{wrong:?}");
    // No key: 401 with a Bearer challenge; a wrong key: 403. Neither claims the stream.
    let none = post_offer(h.api, "/whip/live/cam", None, &offer()).await;
    assert_eq!(none.status, 401, "{none:?}");
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    assert_cors(&none);
    let bad = post_offer(h.api, "/whip/live/cam", Some("guess"), &offer()).await;
    assert_eq!(bad.status, 403, "{bad:?}");
    assert!(!bad.body.contains("guess"), "the key is not echoed: {}", bad.body);
    assert!(!publishing(&h, "cam").await);
    // Garbage SDP: 400.
    let garbage = post_offer(h.api, "/whip/live/cam", Some(KEY), "v=0\r\nnonsense").await;
    assert!(matches!(garbage.status, 400 | 422), "{garbage:?}");
    // The right key: 201 with the answer, Location, ETag, Accept-Patch, CORS.
    let ok = post_offer(h.api, "/whip/live/cam", Some(KEY), &offer()).await;
    assert_eq!(ok.status, 201, "{ok:?}");
    assert_cors(&ok);
    assert_eq!(ok.header("content-type"), Some("application/sdp"));
    assert!(ok.body.starts_with("v=0"), "{}", ok.body);
    assert!(ok.body.contains("a=ice-lite"), "{}", ok.body);
    assert!(ok.body.contains("127.0.0.1"), "loopback is a candidate: {}", ok.body);
    assert_eq!(ok.header("accept-patch"), Some("application/trickle-ice-sdpfrag"));
    let location = ok.header("location").unwrap().to_owned();
    assert!(location.starts_with("/whip/live/cam/"), "{location}");
    let session = location.rsplit('/').next().unwrap().to_owned();
    assert!(session.len() >= 32, "an unguessable id: {session}");
    assert_eq!(ok.header("etag"), Some(format!("\"{session}\"").as_str()));
    // The publication is a stream like any other, and its session a connection.
    assert!(publishing(&h, "cam").await);
    let conns = h.handle.connections();
    let conn = conns.iter().find(|c| c.protocol == "webrtc").expect("a webrtc connection");
    assert_eq!((conn.role, conn.app.as_str(), conn.stream.as_str()), ("publisher", "live", "cam"));
    assert!(conn.peer.ip().is_loopback());
    // The same key again: 409.
    let again = post_offer(h.api, "/whip/live/cam", Some(KEY), &offer()).await;
    assert_eq!(again.status, 409, "{again:?}");
    // Trickle: wrong type 415, wrong ETag 412, fine 204; another stream's path 404.
    let frag = "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\na=end-of-candidates\r\n";
    let sdpfrag = [("Content-Type", "application/trickle-ice-sdpfrag")];
    let r = http(h.api, "PATCH", &location, &[("Content-Type", "text/plain")], frag).await;
    assert_eq!(r.status, 415);
    let r = http(h.api, "PATCH", &location, &[sdpfrag[0], ("If-Match", "\"other\"")], frag).await;
    assert_eq!(r.status, 412);
    let r = http(h.api, "PATCH", &location, &sdpfrag, frag).await;
    assert!(matches!(r.status, 204 | 400 | 422), "{r:?}");
    let r = http(h.api, "PATCH", &format!("/whip/live/other/{session}"), &sdpfrag, frag).await;
    assert_eq!(r.status, 404);
    // DELETE: 200, the stream ends within 3 s; a second DELETE is a 404.
    let started = Instant::now();
    let del = http(h.api, "DELETE", &location, &[], "").await;
    assert_eq!(del.status, 200, "{del:?}");
    assert_cors(&del);
    while publishing(&h, "cam").await {
        assert!(started.elapsed() < Duration::from_secs(3), "the stream ended within 3 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The session's entry goes as its task finishes, just after the stream ended.
    while h.handle.connections().iter().any(|c| c.protocol == "webrtc") {
        assert!(started.elapsed() < Duration::from_secs(5), "the session's entry went");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let del = http(h.api, "DELETE", &location, &[], "").await;
    assert_eq!(del.status, 404);
    // The key is free again; a kick through the API ends a session too.
    let ok = post_offer(h.api, "/whip/live/cam", Some(KEY), &offer()).await;
    assert_eq!(ok.status, 201, "{ok:?}");
    let id = h.handle.connections().iter().find(|c| c.protocol == "webrtc").map(|c| c.id).unwrap();
    assert!(h.handle.kick(id));
    let started = Instant::now();
    while publishing(&h, "cam").await {
        assert!(started.elapsed() < Duration::from_secs(3), "the kick ended the stream");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Shutdown: once draining, a new offer is 503; the shutdown ends a running session.
    let ok = post_offer(h.api, "/whip/live/cam", Some(KEY), &offer()).await;
    assert_eq!(ok.status, 201, "{ok:?}");
    h.handle.shutdown(false);
    let late = post_offer(h.api, "/whip/live/late", Some(KEY), &offer()).await;
    assert_eq!(late.status, 503, "{late:?}");
    h.handle.shutdown(true);
    let started = Instant::now();
    while h.handle.streams().iter().any(|s| s.publishing) {
        assert!(started.elapsed() < Duration::from_secs(3), "the shutdown ended the stream");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Makes the clip: 320x240 H.264 Baseline at 30 fps (a keyframe every second, AUD before
/// each access unit) and a 1 kHz tone as 20 ms Opus packets.
fn make_clip(ffmpeg: &Path, dir: &Path, seconds: u32) -> (Vec<Bytes>, Vec<(u64, Bytes)>) {
    let (h264, ogg) = openrtmp_testkit::webrtc_clip(ffmpeg, dir, "320x240", seconds).unwrap();
    let units = annexb_access_units(Bytes::from(std::fs::read(h264).unwrap()));
    let packets = ogg_opus_packets(&std::fs::read(ogg).unwrap()).unwrap();
    (units, packets)
}

/// A frame read from an ICE-TCP connection, with the server address it came from.
type Framed = (SocketAddr, Vec<u8>);

/// The sender's side of the wire: a UDP socket, or ICE-TCP connections (RFC 4571 framing)
/// opened to the server's passive candidates as the sender first sends to them.
struct Wire {
    udp: UdpSocket,
    /// The local candidate the sender was given (ICE-TCP: what str0m knows as its address).
    local: SocketAddr,
    tcp: Option<std::collections::HashMap<SocketAddr, tokio::net::tcp::OwnedWriteHalf>>,
    from_tcp: (mpsc::Sender<Framed>, mpsc::Receiver<Framed>),
}

impl Wire {
    async fn new(tcp: bool) -> Wire {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local =
            if tcp { SocketAddr::from(([127, 0, 0, 1], 9)) } else { udp.local_addr().unwrap() };
        let tcp = tcp.then(std::collections::HashMap::new);
        Wire { udp, local, tcp, from_tcp: mpsc::channel(1024) }
    }

    fn transport(&self) -> Transport {
        if self.tcp.is_some() {
            Transport::Tcp
        } else {
            Transport::Udp
        }
    }

    async fn send(&mut self, destination: SocketAddr, contents: &[u8]) {
        let Some(conns) = &mut self.tcp else {
            let _ = self.udp.send_to(contents, destination).await;
            return;
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = conns.entry(destination) {
            let Ok(stream) = TcpStream::connect(destination).await else { return };
            let (mut rd, wr) = stream.into_split();
            slot.insert(wr);
            let tx = self.from_tcp.0.clone();
            tokio::spawn(async move {
                let mut len = [0u8; 2];
                while rd.read_exact(&mut len).await.is_ok() {
                    let mut frame = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if rd.read_exact(&mut frame).await.is_err()
                        || tx.send((destination, frame)).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
        if let Some(wr) = conns.get_mut(&destination) {
            let len = (contents.len() as u16).to_be_bytes();
            let _ = wr.write_all(&[&len[..], contents].concat()).await;
        }
    }

    /// The next packet from the server: (source, bytes).
    async fn recv(&mut self, buf: &mut [u8]) -> (SocketAddr, Vec<u8>) {
        tokio::select! {
            r = self.udp.recv_from(buf) => {
                let (n, source) = r.unwrap();
                (source, buf[..n].to_vec())
            }
            Some(framed) = self.from_tcp.1.recv() => framed,
        }
    }
}

/// Publishes the clip over WHIP (UDP, or ICE-TCP only), paced in real time; returns the
/// session's `Location` once the clip is sent (the session stays up).
async fn publish_clip(
    api: SocketAddr,
    units: Vec<Bytes>,
    packets: Vec<(u64, Bytes)>,
    tcp: bool,
) -> (WhipSender, Wire, String) {
    let mut wire = Wire::new(tcp).await;
    let (local, transport) = (wire.local, wire.transport());
    let (mut sender, offer) =
        WhipSender::new(Instant::now(), &[(local, transport)], true, true).unwrap();
    let reply = post_offer(api, "/whip/live/cam", Some(KEY), &offer).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    sender.accept_answer(&reply.body).unwrap();
    let location = reply.header("location").unwrap().to_owned();
    let first_pts = packets.first().map_or(0, |p| p.0);
    let (mut v, mut a, mut started) = (0usize, 0usize, None::<Instant>);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = vec![0u8; 2048];
    while v < units.len() || a < packets.len() {
        assert!(
            Instant::now() < deadline,
            "the clip went out in time (connected: {})",
            started.is_some()
        );
        let now = Instant::now();
        let wake = loop {
            match sender.poll_output(now) {
                ClientOutput::Transmit(Transmit { destination, contents, .. }) => {
                    wire.send(destination, &contents).await;
                }
                ClientOutput::Connected => started = Some(Instant::now()),
                ClientOutput::KeyframeRequest => {}
                ClientOutput::Ended(reason) => panic!("the sender ended: {reason}"),
                ClientOutput::Timeout(t) => break t,
            }
        };
        let mut next_media = wake;
        if let Some(t0) = started {
            let elapsed = now - t0;
            while v < units.len() && Duration::from_micros(v as u64 * 33_333) <= elapsed {
                sender.write_video(now, v as u64 * 3000, &units[v]).unwrap();
                v += 1;
            }
            while a < packets.len()
                && Duration::from_micros((packets[a].0 - first_pts) * 1000 / 48) <= elapsed
            {
                let pts = packets[a].0 - first_pts;
                sender.write_audio(now, pts, &packets[a].1).unwrap();
                a += 1;
            }
            next_media = next_media
                .min(t0 + Duration::from_micros(v as u64 * 33_333))
                .min(now + Duration::from_millis(20));
        }
        tokio::select! {
            (source, contents) = wire.recv(&mut buf) => {
                let packet = Packet { proto: transport, source, destination: local, contents: &contents };
                let _ = sender.handle_packet(Instant::now(), packet);
            }
            () = tokio::time::sleep_until(next_media.max(now).into()) => {
                let _ = sender.handle_timeout(Instant::now());
            }
        }
    }
    (sender, wire, location)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_over_ice_tcp_only_goes_live() {
    let Some(ffmpeg) = openrtmp_testkit::ffmpeg() else { return };
    let dir = openrtmp_testkit::TempDir::new("whip-tcp");
    let (units, packets) = make_clip(&ffmpeg, &dir.0, 2);
    let h = start().await;
    let (_sender, _wire, location) = publish_clip(h.api, units, packets, true).await;
    let s = streams(&h).await.into_iter().find(|s| s["stream"] == "cam").unwrap();
    assert_eq!(s["publishing"], true, "{s}");
    assert_eq!(s["video_codec"], "H.264", "media came over ICE-TCP: {s}");
    let del = http(h.api, "DELETE", &location, &[], "").await;
    assert_eq!(del.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_publish_of_an_ffmpeg_clip_plays_back_over_rtmp_as_h264_and_aac() {
    let Some(ffmpeg) = openrtmp_testkit::ffmpeg() else { return };
    let Some(ffprobe) = openrtmp_testkit::require("ffprobe", None) else { return };
    let dir = openrtmp_testkit::TempDir::new("whip-e2e");
    let (units, packets) = make_clip(&ffmpeg, &dir.0, 6);
    let h = start().await;
    let publisher = tokio::spawn(publish_clip(h.api, units, packets, false));
    // Play it back over RTMP once it is live: 3 s copied to a file.
    let started = Instant::now();
    while !publishing(&h, "cam").await {
        assert!(started.elapsed() < Duration::from_secs(10), "the WHIP stream went live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = dir.path("played.flv");
    let url = format!("rtmp://{}/live/cam", h.rtmp);
    let (ffmpeg2, out2) = (ffmpeg.clone(), out.clone());
    let played = tokio::task::spawn_blocking(move || {
        openrtmp_testkit::run_ffmpeg(
            &ffmpeg2,
            &["-y", "-i", &url, "-t", "3", "-c", "copy", out2.to_str().unwrap()],
        )
    })
    .await
    .unwrap();
    played.unwrap_or_else(|e| panic!("ffmpeg played the stream: {e}"));
    let (_sender, _wire, location) = publisher.await.unwrap();
    // What the stream is, as the API and ffprobe see it.
    let s = streams(&h).await.into_iter().find(|s| s["stream"] == "cam").unwrap();
    assert_eq!(s["video_codec"], "H.264", "{s}");
    assert_eq!(s["audio_codec"], "AAC", "{s}");
    // The server-wide byte counters include WebRTC traffic.
    let info = h.handle.info();
    assert!(
        info.bytes_in > 100_000 && info.bytes_out > 0,
        "{} in, {} out",
        info.bytes_in,
        info.bytes_out
    );
    let probe = |args: &[&str]| {
        let o = std::process::Command::new(&ffprobe)
            .args(["-v", "error"])
            .args(args)
            .arg(&out)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let codecs = probe(&["-show_entries", "stream=codec_name", "-of", "csv=p=0"]);
    assert!(codecs.contains("h264") && codecs.contains("aac"), "{codecs}");
    let starts = probe(&["-show_entries", "stream=codec_type,start_time", "-of", "csv=p=0"]);
    let start_of = |kind: &str| -> f64 {
        starts
            .lines()
            .find(|l| l.starts_with(kind))
            .and_then(|l| l.split(',').nth(1))
            .and_then(|t| t.parse().ok())
            .unwrap()
    };
    let skew = (start_of("video") - start_of("audio")).abs();
    println!("A/V start skew {:.0} ms", skew * 1000.0);
    assert!(skew <= 0.1, "audio and video start within 100 ms: {starts}");
    let keys = probe(&[
        "-select_streams",
        "v",
        "-skip_frame",
        "nokey",
        "-show_entries",
        "frame=pts_time",
        "-of",
        "csv=p=0",
    ]);
    let times: Vec<f64> =
        keys.lines().filter_map(|l| l.trim().trim_end_matches(',').parse().ok()).collect();
    assert!(times.len() >= 2, "keyframes: {keys}");
    for w in times.windows(2) {
        assert!(w[1] - w[0] <= 2.0 + 1e-3, "keyframes at most 2 s apart: {times:?}");
    }
    // DELETE ends it within 3 s.
    let del = http(h.api, "DELETE", &location, &[], "").await;
    assert_eq!(del.status, 200);
    let ended = Instant::now();
    while publishing(&h, "cam").await {
        assert!(ended.elapsed() < Duration::from_secs(3), "DELETE ended the stream within 3 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_viewer_brings_a_keyframe_request() {
    use support::whip_client::{publish_clip as publish, Clip, Play};
    let Some(ffmpeg) = openrtmp_testkit::ffmpeg() else { return };
    let h = start().await;
    let base = format!("http://{}", h.api);
    let clip = Clip::standard(&ffmpeg);
    let mut p = publish(&base, "live", "cam", Some(KEY), clip, Play::Loop).await.unwrap();
    p.wait_connected(Duration::from_secs(10)).await;
    // The clip has an IDR every second: once video flows, nothing asks for one (the
    // keyframe timer is 1.8 s) until somebody joins.
    let flowing = p.wait_for(Duration::from_secs(10), |s| s.video_frames >= 45).await;
    assert!(flowing.video_frames >= 45, "{flowing:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = p.stats().keyframe_requests;
    let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let protocol = openrtmp_server::WebProtocol::HttpFlv;
    let viewer = h.handle.open_web_player("live", "cam", None, peer, protocol).await.ok();
    assert!(viewer.is_some(), "a web player attached");
    let after = p.wait_for(Duration::from_secs(3), |s| s.keyframe_requests > before).await;
    assert!(
        after.keyframe_requests > before,
        "a PLI followed the new viewer: {after:?} (before {before})"
    );
    let (status, _) = p.stop().await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_sessions_count_against_the_connection_limits() {
    let h = start_with(|c| c.max_connections_per_ip = 1).await;
    let first = post_offer(h.api, "/whip/live/one", Some(KEY), &offer()).await;
    assert_eq!(first.status, 201, "{first:?}");
    let second = post_offer(h.api, "/whip/live/two", Some(KEY), &offer()).await;
    assert_eq!(second.status, 503, "{second:?}");
    assert!(second.body.contains("too many connections"), "{}", second.body);
    let location = first.header("location").unwrap().to_owned();
    assert_eq!(http(h.api, "DELETE", &location, &[], "").await.status, 200);
    // The slot is free once the session has ended.
    let started = Instant::now();
    loop {
        let again = post_offer(h.api, "/whip/live/two", Some(KEY), &offer()).await;
        if again.status == 201 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "{again:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
