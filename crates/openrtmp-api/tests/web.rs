//! End to end: browser and HTTP playback on the API listener (HTTP-FLV and WebSocket-FLV at
//! `/live/{app}/{stream}.flv`) and nginx-rtmp's `/stat`, against a real server on
//! 127.0.0.1:0, with FFmpeg/ffprobe as the HTTP-FLV player, a Rust WebSocket client, and
//! the server's own RTMP client as the RTMP viewer beside them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openrtmp_api::ApiOptions;
use openrtmp_client::{publish_tags, Connection, PlayOptions, Player, PublishOptions, RtmpUrl};
use openrtmp_media::{FlvDecoder, FlvHeader, FlvTag, TagType};
use openrtmp_server::{Config, Server, ServerHandle};
use openrtmp_testkit as kit;
use reqwest_free_http::Agent;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Everything logged by this test binary (tests run in parallel: search, do not compare).
fn logs() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOGS: std::sync::OnceLock<&'static std::sync::Mutex<Vec<u8>>> =
        std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer: &'static std::sync::Mutex<Vec<u8>> = Box::leak(Box::default());
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || LogWriter(buffer))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

struct LogWriter(&'static std::sync::Mutex<Vec<u8>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Web {
    api: SocketAddr,
    rtmp: SocketAddr,
    handle: ServerHandle,
}

impl Web {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    fn rtmp_url(&self, path: &str) -> RtmpUrl {
        RtmpUrl::parse(&format!("rtmp://{}/{path}", self.rtmp)).unwrap()
    }
}

fn config() -> Config {
    Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        api_listen: None,
        unpublished_wait: Duration::from_millis(300),
        ..Default::default()
    }
}

async fn start(config: Config, options: ApiOptions) -> Web {
    let server = Server::bind(config).await.unwrap();
    let rtmp = server.local_addrs()[0];
    let handle = server.handle();
    tokio::spawn(server.run(std::future::pending()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    tokio::spawn(openrtmp_api::serve(listener, handle.clone(), options, std::future::pending()));
    Web { api, rtmp, handle }
}

/// Publishes `tags` in real time on `path` (`app/stream`), then unpublishes.
fn publish(web: &Web, path: &str, tags: Vec<FlvTag>) -> JoinHandle<()> {
    let url = web.rtmp_url(path);
    tokio::spawn(async move {
        let mut conn = Connection::connect(&url, Default::default()).await.unwrap();
        conn.publish(&url.stream, openrtmp_proto::command::PublishType::Live).await.unwrap();
        let options = PublishOptions { realtime: true, repeat: 1 };
        publish_tags(&mut conn, &tags, &options).await.unwrap();
        conn.close().await.unwrap();
    })
}

/// Waits until `stream` has been live for `for_at_least` (bounded: 15 s).
async fn wait_live(handle: &ServerHandle, stream: &str, for_at_least: Duration) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let live = handle.streams().into_iter().any(|s| {
            s.name == stream && s.publishing && s.publishing_for.unwrap_or_default() >= for_at_least
        });
        if live {
            return;
        }
        assert!(Instant::now() < deadline, "{stream} did not go live");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn agent(limit: Duration) -> Agent {
    Agent::config_builder().http_status_as_error(false).timeout_global(Some(limit)).build().into()
}

/// What an HTTP-FLV viewer got.
#[derive(Debug, Default)]
struct HttpView {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
    header: Option<FlvHeader>,
    tags: Vec<FlvTag>,
    /// The body ended (EOF) rather than the time limit or `max_tags` stopping the read.
    ended: bool,
}

/// Reads `url` as HTTP-FLV on a blocking thread: at most `max_tags` tags, at most `limit`.
async fn http_flv(url: String, limit: Duration, max_tags: usize) -> HttpView {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut view = HttpView::default();
        let response = agent(limit).get(&url).call().expect("HTTP request");
        view.status = response.status().as_u16();
        for (name, value) in response.headers() {
            view.headers.insert(name.as_str().to_owned(), value.to_str().unwrap_or("").to_owned());
        }
        let mut reader = response.into_body().into_reader();
        if view.status != 200 {
            let _ = reader.read_to_string(&mut view.body);
            return view;
        }
        let mut decoder = FlvDecoder::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => {
                    view.ended = true;
                    break;
                }
                Ok(n) => decoder.handle_input(&buf[..n]),
                Err(_) => break,
            }
            if view.header.is_none() {
                view.header = decoder.poll_header().expect("FLV header");
            }
            if view.header.is_some() {
                while let Some(tag) = decoder.poll_tag().expect("FLV tag") {
                    view.tags.push(tag);
                }
            }
            if view.tags.len() >= max_tags {
                break;
            }
        }
        assert_eq!(decoder.previous_tag_size_mismatches(), 0, "PreviousTagSize mismatches");
        view
    })
    .await
    .unwrap()
}

/// What a player must see first: onMetaData (possibly again, enriched once the codecs are
/// known), the sequence headers, then a keyframe before any other video; timestamps never
/// going backwards per kind.
fn check_start(tags: &[FlvTag], who: &str) {
    assert!(tags.len() > 4, "{who}: only {} tags", tags.len());
    assert_eq!(tags[0].tag_type, TagType::SCRIPT, "{who}: onMetaData first");
    let media = tags.iter().position(|t| t.tag_type != TagType::SCRIPT).expect("media");
    let headers: Vec<_> =
        tags[media..media + 2].iter().map(|t| (t.tag_type, kit::is_sequence_header(t))).collect();
    assert!(headers.iter().all(|h| h.1), "{who}: sequence headers next: {headers:?}");
    let first_video = tags
        .iter()
        .find(|t| t.tag_type == TagType::VIDEO && !kit::is_sequence_header(t))
        .expect("video");
    assert!(kit::is_keyframe(first_video), "{who}: the first video frame is not a keyframe");
    for kind in [TagType::VIDEO, TagType::AUDIO] {
        let ts: Vec<u32> = tags
            .iter()
            .filter(|t| t.tag_type == kind && !kit::is_sequence_header(t))
            .map(|t| t.timestamp)
            .collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{who}: {kind:?} timestamps went back");
    }
}

/// Runs a program to completion within `limit`; returns its stdout and stderr.
fn run(program: &std::path::Path, args: &[&str], limit: Duration) -> (String, String) {
    let dir = kit::TempDir::new("web-run");
    let (out, err) = (dir.path("stdout"), dir.path("stderr"));
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let mut guard = kit::ChildGuard(child);
    let status = guard.wait_timeout(limit);
    let (stdout, stderr) = (
        std::fs::read_to_string(out).unwrap_or_default(),
        std::fs::read_to_string(err).unwrap_or_default(),
    );
    match status {
        Some(s) if s.success() => (stdout, stderr),
        other => panic!("{} {args:?}: {other:?}\n{stderr}", program.display()),
    }
}

/// Element texts by path (`rtmp/server/application/name`), in document order.
fn xml_paths(xml: &str) -> HashMap<String, Vec<String>> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut path, mut out) = (Vec::<String>::new(), HashMap::<String, Vec<String>>::new());
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                let qname = e.name();
                let name: &str = qname.as_ref();
                path.push(name.to_owned());
            }
            Event::Empty(e) => {
                let qname = e.name();
                let name: &str = qname.as_ref();
                out.entry(format!("{}/{name}", path.join("/"))).or_default().push(String::new());
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = t.xml_content(quick_xml::XmlVersion::Implicit1_0).trim().to_owned();
                if !text.is_empty() {
                    out.entry(path.join("/")).or_default().push(text);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// FFmpeg publishes; ffprobe and FFmpeg play HTTP-FLV (joining mid-stream: the first video
/// packet is a keyframe, decoding has no error), a WebSocket client reads WebSocket-FLV
/// (metadata and sequence headers first, then a keyframe), `/stat` parses as XML with the
/// publish's size, codecs, rates and clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publish_plays_over_http_flv_and_websocket_flv_and_shows_in_stat() {
    let Some(ffmpeg) = kit::ffmpeg() else { return };
    let Some(ffprobe) = kit::require("ffprobe", None) else { return };
    let fixture = kit::Fixture::H264Aac { seconds: 12 }.path(&ffmpeg);
    let web = start(config(), ApiOptions::default()).await;
    let dir = kit::TempDir::new("web-ffmpeg");
    let target = format!("rtmp://{}/live/cam", web.rtmp);
    let fixture_arg = fixture.to_str().unwrap();
    let _publisher = kit::Ffmpeg::spawn(
        &ffmpeg,
        "publisher",
        &["-re", "-i", fixture_arg, "-c", "copy", "-f", "flv", &target],
        dir.path("publish.log"),
    );
    wait_live(&web.handle, "cam", Duration::from_millis(1500)).await;
    let url = web.url("/live/live/cam.flv");

    // ffprobe: 60 packets, joined 1.5 s in.
    let probe = {
        let (ffprobe, url) = (ffprobe.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            let args = [
                "-v",
                "error",
                "-show_entries",
                "packet=codec_type,dts_time,flags",
                "-of",
                "csv=p=0",
                "-read_intervals",
                "%+#60",
                &url,
            ];
            run(&ffprobe, &args, Duration::from_secs(20)).0
        })
    };
    // FFmpeg decodes 40 video frames, failing on any decoding error.
    let decode = {
        let (ffmpeg, url) = (ffmpeg.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            let args =
                ["-v", "error", "-xerror", "-i", &url, "-frames:v", "40", "-f", "framemd5", "-"];
            run(&ffmpeg, &args, Duration::from_secs(20))
        })
    };
    let packets = probe.await.unwrap();
    let rows: Vec<Vec<&str>> = packets.lines().map(|l| l.split(',').collect()).collect();
    let video: Vec<&Vec<&str>> = rows.iter().filter(|r| r.first() == Some(&"video")).collect();
    assert!(video.len() > 10, "ffprobe read too little video:\n{packets}");
    assert!(video[0][2].starts_with('K'), "first video packet is not a keyframe:\n{packets}");
    let first_dts: f64 = video[0][1].parse().unwrap();
    assert!(first_dts >= 1.0, "joined 1.5 s in, yet the first video dts is {first_dts}");
    for kind in ["video", "audio"] {
        let dts: Vec<f64> = rows
            .iter()
            .filter(|r| r.first() == Some(&kind))
            .map(|r| r[1].parse().unwrap())
            .collect();
        assert!(!dts.is_empty(), "no {kind} packets:\n{packets}");
        assert!(dts.windows(2).all(|w| w[0] <= w[1]), "{kind} packets out of order:\n{packets}");
    }
    let (frames, errors) = decode.await.unwrap();
    // Stream 0 is the video: its sequence header is the first media tag.
    let video_lines = frames.lines().filter(|l| l.starts_with("0,")).count();
    assert_eq!(video_lines, 40, "FFmpeg decoded {video_lines} video frames:\n{errors}");
    assert!(errors.trim().is_empty(), "FFmpeg reported errors decoding HTTP-FLV:\n{errors}");
    eprintln!(
        "ffprobe: {} packets, first video dts {first_dts} s; FFmpeg decoded {video_lines} video frames",
        rows.len()
    );

    // WebSocket-FLV, parsed with the FLV reader.
    let ws_url = format!("ws://{}/live/live/cam.flv", web.api);
    let (mut ws, response) =
        tokio_tungstenite::connect_async(ws_url.as_str()).await.expect("WebSocket");
    assert_eq!(response.status().as_u16(), 101);
    let mut decoder = FlvDecoder::new();
    let (mut header, mut tags) = (None, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    while tags.len() < 60 {
        use futures_util::StreamExt;
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, ws.next()).await.expect("WebSocket-FLV in time");
        let message = message.expect("open").expect("message");
        assert!(message.is_binary(), "WebSocket-FLV messages are binary: {message:?}");
        decoder.handle_input(&message.into_data());
        if header.is_none() {
            header = decoder.poll_header().unwrap();
        }
        if header.is_some() {
            while let Some(tag) = decoder.poll_tag().unwrap() {
                tags.push(tag);
            }
        }
    }
    let header = header.unwrap();
    assert!(header.has_audio && header.has_video, "FLV header flags: {header:?}");
    check_start(&tags, "WebSocket-FLV viewer");
    let listed = web.handle.connections();
    assert!(
        listed.iter().any(|c| c.protocol == "ws-flv" && c.role == "player" && c.stream == "cam"),
        "WebSocket viewer not listed: {listed:?}"
    );

    // /stat while the publisher and the WebSocket viewer are on (the FFmpeg players have
    // left: their connections go when the server next writes to them).
    let deadline = Instant::now() + Duration::from_secs(10);
    let stat = loop {
        let stat_url = web.url("/stat");
        let (status, content_type, body) = tokio::task::spawn_blocking(move || {
            let response = agent(Duration::from_secs(10)).get(&stat_url).call().unwrap();
            let ct = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), ct, response.into_body().read_to_string().unwrap())
        })
        .await
        .unwrap();
        assert_eq!(status, 200);
        assert!(content_type.unwrap_or_default().starts_with("text/xml"));
        let paths = xml_paths(&body);
        let stream = "rtmp/server/application/live/stream";
        if paths.get(&format!("{stream}/nclients")).is_some_and(|n| n == &["2"]) {
            break (paths, body);
        }
        assert!(Instant::now() < deadline, "nclients never reached 2:\n{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (paths, body) = stat;
    let get = |p: &str| paths.get(p).and_then(|v| v.first()).cloned().unwrap_or_default();
    let s = "rtmp/server/application/live/stream";
    assert_eq!(get("rtmp/server/application/name"), "live", "{body}");
    assert_eq!(get(&format!("{s}/name")), "cam");
    assert_eq!(get(&format!("{s}/meta/video/width")), "320");
    assert_eq!(get(&format!("{s}/meta/video/height")), "240");
    assert_eq!(get(&format!("{s}/meta/video/frame_rate")), "25");
    assert_eq!(get(&format!("{s}/meta/video/codec")), "H264");
    assert_eq!(get(&format!("{s}/meta/audio/codec")), "AAC");
    assert_eq!(get(&format!("{s}/meta/audio/sample_rate")), "44100");
    assert_eq!(get(&format!("{s}/meta/audio/channels")), "2");
    assert!(paths.contains_key(&format!("{s}/publishing")), "{body}");
    for field in ["bw_in", "bw_video", "bw_audio", "bytes_in", "bw_out"] {
        let value: u64 = get(&format!("{s}/{field}")).parse().unwrap_or(0);
        assert!(value > 0, "{field} is {value}:\n{body}");
    }
    let (bw_in, bw_video, bw_audio): (u64, u64, u64) = (
        get(&format!("{s}/bw_in")).parse().unwrap(),
        get(&format!("{s}/bw_video")).parse().unwrap(),
        get(&format!("{s}/bw_audio")).parse().unwrap(),
    );
    assert!(bw_video + bw_audio <= bw_in + bw_in / 10, "bw_video + bw_audio > bw_in:\n{body}");
    eprintln!("/stat: bw_in {bw_in} bit/s, bw_video {bw_video}, bw_audio {bw_audio}");
    let _ = ws.close(None).await;
}

/// Enhanced RTMP codecs come out as Enhanced FLV: the current FFmpeg publishes HEVC + Opus
/// and reads the HTTP-FLV URL back as HEVC + Opus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enhanced_rtmp_codecs_play_as_enhanced_flv() {
    let Some(ffmpeg) = kit::ffmpeg_current() else { return };
    let fixture = kit::Fixture::HevcOpus { seconds: 8 }.path(&ffmpeg);
    let web = start(config(), ApiOptions::default()).await;
    let dir = kit::TempDir::new("web-enhanced");
    let target = format!("rtmp://{}/live/hevc", web.rtmp);
    let _publisher = kit::Ffmpeg::spawn(
        &ffmpeg,
        "publisher",
        &["-re", "-i", fixture.to_str().unwrap(), "-c", "copy", "-f", "flv", &target],
        dir.path("publish.log"),
    );
    wait_live(&web.handle, "hevc", Duration::from_millis(500)).await;
    let url = web.url("/live/live/hevc.flv");
    let codecs = tokio::task::spawn_blocking(move || {
        kit::stream_codecs(&ffmpeg, std::path::Path::new(&url))
    })
    .await
    .unwrap();
    assert_eq!(codecs, ["hevc", "opus"], "what FFmpeg found in the HTTP-FLV stream");
}

/// A viewer that joins a stream which has sent only its onMetaData gets the FLV header once
/// media arrives (its flags from the media), the onMetaData first: what came before the
/// media is held, not dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_joining_before_any_media_still_gets_the_metadata_first() {
    let web = start(config(), ApiOptions::default()).await;
    let mut tags = kit::synthetic_av(0, 3);
    let rest = tags.split_off(1);
    assert_eq!(tags[0].tag_type, TagType::SCRIPT);
    let url = web.rtmp_url("live/late");
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let publisher = tokio::spawn(async move {
        let mut conn = Connection::connect(&url, Default::default()).await.unwrap();
        conn.publish(&url.stream, openrtmp_proto::command::PublishType::Live).await.unwrap();
        let options = PublishOptions { realtime: true, repeat: 1 };
        publish_tags(&mut conn, &tags, &options).await.unwrap();
        go_rx.await.unwrap();
        publish_tags(&mut conn, &rest, &options).await.unwrap();
        conn.close().await.unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !web
        .handle
        .streams()
        .iter()
        .any(|s| s.name == "late" && s.publishing && s.gop_cache_frames >= 1)
    {
        assert!(Instant::now() < deadline, "the stream did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let viewer =
        tokio::spawn(http_flv(web.url("/live/live/late.flv"), Duration::from_secs(20), usize::MAX));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !web.handle.connections().iter().any(|c| c.protocol == "http-flv") {
        assert!(Instant::now() < deadline, "the viewer did not join");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let the viewer's first (metadata-only) batch be polled before media arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    go_tx.send(()).unwrap();
    publisher.await.unwrap();
    let view = viewer.await.unwrap();
    assert_eq!(view.status, 200);
    let header = view.header.expect("FLV header");
    assert!(header.has_audio && header.has_video, "{header:?}");
    check_start(&view.tags, "viewer that joined before media");
}

/// Plays `url` over RTMP to its end; returns the tags.
async fn rtmp_tags(url: RtmpUrl) -> Vec<FlvTag> {
    let limit = Duration::from_secs(30);
    let options = PlayOptions { duration: Some(limit), idle_timeout: limit, ..Default::default() };
    let mut player = Player::open(&url, Default::default(), options).await.expect("play");
    let mut tags = Vec::new();
    while let Some(tag) = player.next_tag().await.expect("next tag") {
        tags.push(tag);
    }
    tags
}

/// An HTTP-FLV client that sends its GET and never reads (a 4 KiB receive buffer) is cut
/// off (`write_timeout`, 1 s here) while the stream runs, and an HTTP-FLV viewer and an
/// RTMP viewer beside it receive every frame from their keyframe to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_http_viewer_is_cut_off_while_others_receive_every_frame() {
    let mut config = config();
    config.write_timeout = Duration::from_secs(1);
    let web = start(config, ApiOptions::default()).await;
    // 50 KB video frames (10 Mbit/s): enough to fill the socket and hyper's buffers in a
    // few seconds (the padding follows the frame index the comparison reads).
    let sent: Vec<FlvTag> = kit::synthetic_av(0, 8)
        .into_iter()
        .map(|mut tag| {
            if tag.tag_type == TagType::VIDEO && !kit::is_sequence_header(&tag) {
                let mut data = tag.data.to_vec();
                data.resize(50_000, 0x55);
                tag.data = data.into();
            }
            tag
        })
        .collect();
    let publisher = publish(&web, "live/cam", sent.clone());
    wait_live(&web.handle, "cam", Duration::from_millis(200)).await;

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4 * 1024).unwrap();
    let mut stalled = socket.connect(web.api).await.unwrap();
    let request = format!("GET /live/live/cam.flv HTTP/1.1\r\nHost: {}\r\n\r\n", web.api);
    stalled.write_all(request.as_bytes()).await.unwrap();
    let stalled_addr = stalled.local_addr().unwrap();

    let http_viewer =
        tokio::spawn(http_flv(web.url("/live/live/cam.flv"), Duration::from_secs(30), usize::MAX));
    let rtmp_viewer = tokio::spawn(rtmp_tags(web.rtmp_url("live/cam")));

    // Listed while it lasts, then gone before the publisher is done.
    let started = Instant::now();
    let (mut seen, mut taken) = (false, 0);
    loop {
        let found = web.handle.connections().into_iter().find(|c| c.peer == stalled_addr);
        let listed = found.is_some();
        taken = found.map_or(taken, |c| c.bytes_out);
        seen |= listed;
        if seen && !listed {
            break;
        }
        assert!(!publisher.is_finished(), "the stalled viewer outlived the stream (seen: {seen})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "stalled HTTP viewer cut off {:?} after it joined, having been handed {} KiB",
        started.elapsed(),
        taken / 1024
    );
    publisher.await.unwrap();

    let http = http_viewer.await.unwrap();
    assert_eq!(http.status, 200);
    assert!(http.ended, "the HTTP-FLV body did not end after the stream did");
    check_start(&http.tags, "HTTP-FLV viewer");
    let (video, audio) = kit::assert_suffix_frames(&sent, &http.tags, "HTTP-FLV viewer");
    let rtmp = rtmp_viewer.await.unwrap();
    let (rtmp_video, rtmp_audio) = kit::assert_suffix_frames(&sent, &rtmp, "RTMP viewer");
    eprintln!("HTTP-FLV viewer: {video} video + {audio} audio frames; RTMP viewer: {rtmp_video} + {rtmp_audio}");
    drop(stalled);
}

/// Play authorisation as for RTMP (a play token in the query: none is 401; an ACL refusal
/// is 403), counted in the auth stats; CORS headers on answers and the preflight; 404 for a
/// stream nobody publishes; the viewer listed in `/api/v1/connections` as `http-flv` and
/// closed by `DELETE /api/v1/connections/{id}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_auth_cors_listing_and_kick() {
    const SECRET: &str = "web-play-secret";
    let logs = logs();
    let mut config = config();
    config.auth.play_tokens = Some(openrtmp_server::auth::PlayTokenSettings {
        secret: SECRET.into(),
        apps: vec!["live".into()],
    });
    let web = start(config, ApiOptions::default()).await;
    let publisher = publish(&web, "live/cam", kit::synthetic_av(0, 20));
    wait_live(&web.handle, "cam", Duration::from_millis(100)).await;

    let refused = http_flv(web.url("/live/live/cam.flv"), Duration::from_secs(10), 1).await;
    assert_eq!(refused.status, 401, "no token: {refused:?}");
    assert_eq!(refused.headers.get("access-control-allow-origin").map(String::as_str), Some("*"));
    assert!(refused.body.contains("token"), "reason: {}", refused.body);
    let denied = web.handle.info().auth.denied;
    assert_eq!(denied.get("bad_token"), Some(&1), "auth stats: {denied:?}");
    // Logged with the client's address, the stream and the reason (by the authorisation
    // layer, as for RTMP), and the HTTP answer.
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let refusal = text.lines().find(|l| {
        l.contains("refused") && l.contains("kind=\"bad_token\"") || l.contains("kind=bad_token")
    });
    let refusal = refusal.unwrap_or_else(|| panic!("no refusal logged:\n{text}"));
    for field in ["client_ip=127.0.0.1", "action=\"play\"", "stream=\"cam\"", "reason="] {
        assert!(refusal.contains(field), "{field} missing from {refusal}");
    }
    assert!(
        text.lines().any(|l| l.contains("web play refused") && l.contains("status=401")),
        "{text}"
    );

    let missing = http_flv(web.url("/live/other/cam.flv"), Duration::from_secs(10), 1).await;
    assert_eq!(missing.status, 404, "{missing:?}");

    let preflight = {
        let url = web.url("/live/live/cam.flv");
        tokio::task::spawn_blocking(move || {
            let response = agent(Duration::from_secs(10)).options(&url).call().unwrap();
            let header =
                |n: &str| response.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
            (
                response.status().as_u16(),
                header("access-control-allow-origin"),
                header("access-control-allow-methods"),
            )
        })
        .await
        .unwrap()
    };
    assert_eq!(preflight.0, 204);
    assert_eq!(preflight.1.as_deref(), Some("*"));
    assert!(preflight.2.unwrap_or_default().contains("GET"));

    let expires =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let token = openrtmp_server::auth::sign_play_token(SECRET, "live", "cam", expires);
    let url = web.url(&format!("/live/live/cam.flv?expires={expires}&token={token}"));
    let viewer = tokio::spawn(http_flv(url, Duration::from_secs(30), usize::MAX));
    let deadline = Instant::now() + Duration::from_secs(10);
    let conn_id = loop {
        let found = web.handle.connections().into_iter().find(|c| c.protocol == "http-flv");
        if let Some(c) = found.filter(|c| c.bytes_out > 0) {
            assert_eq!((c.role, c.app.as_str(), c.stream.as_str()), ("player", "live", "cam"));
            break c.id;
        }
        assert!(Instant::now() < deadline, "the HTTP-FLV viewer was not listed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Listed by the API too, with its protocol.
    let list_url = web.url("/api/v1/connections");
    let listed = tokio::task::spawn_blocking(move || {
        agent(Duration::from_secs(10))
            .get(&list_url)
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap()
    })
    .await
    .unwrap();
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let entry =
        listed["connections"].as_array().unwrap().iter().find(|c| c["conn_id"] == conn_id).cloned();
    assert_eq!(entry.as_ref().map(|e| e["protocol"].clone()), Some("http-flv".into()), "{listed}");
    let kick_url = web.url(&format!("/api/v1/connections/{conn_id}"));
    let kicked = tokio::task::spawn_blocking(move || {
        agent(Duration::from_secs(10)).delete(&kick_url).call().unwrap().status().as_u16()
    })
    .await
    .unwrap();
    assert_eq!(kicked, 200);
    let view = viewer.await.unwrap();
    assert_eq!(view.status, 200);
    assert_eq!(view.headers.get("content-type").map(String::as_str), Some("video/x-flv"));
    assert_eq!(view.headers.get("access-control-allow-origin").map(String::as_str), Some("*"));
    assert!(view.ended, "the kicked viewer's body did not end");
    check_start(&view.tags, "token viewer");
    assert!(
        !web.handle.connections().iter().any(|c| c.id == conn_id),
        "still listed after the kick"
    );
    publisher.abort();

    // An ACL refusal: 403.
    let mut config = self::config();
    config.auth.acl.play.deny = vec!["127.0.0.0/8".parse().unwrap()];
    let web = start(config, ApiOptions::default()).await;
    let publisher = publish(&web, "live/cam", kit::synthetic_av(0, 5));
    wait_live(&web.handle, "cam", Duration::from_millis(100)).await;
    let refused = http_flv(web.url("/live/live/cam.flv"), Duration::from_secs(10), 1).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(web.handle.info().auth.denied.get("acl"), Some(&1));
    publisher.abort();
}

/// Web viewers count against `max_connections_per_ip` as RTMP connections do: with 2 per
/// address, the publisher and one viewer fit, a second viewer is answered 503 (and counted
/// as refused), and its place is free again once the first one leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_viewers_count_against_the_connection_limits() {
    let mut config = config();
    config.max_connections_per_ip = 2;
    let web = start(config, ApiOptions::default()).await;
    let publisher = publish(&web, "live/cam", kit::synthetic_av(0, 20));
    wait_live(&web.handle, "cam", Duration::from_millis(100)).await;
    let url = web.url("/live/live/cam.flv");
    let first = tokio::spawn(http_flv(url.clone(), Duration::from_secs(20), usize::MAX));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !web.handle.connections().iter().any(|c| c.protocol == "http-flv") {
        assert!(Instant::now() < deadline, "the first viewer did not join");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = http_flv(url.clone(), Duration::from_secs(10), 1).await;
    assert_eq!(second.status, 503, "{second:?}");
    assert!(second.body.contains("too many connections"), "{}", second.body);
    assert_eq!(web.handle.info().refused, 1);
    let id = web.handle.connections().into_iter().find(|c| c.protocol == "http-flv").unwrap().id;
    assert!(web.handle.kick(id));
    assert!(first.await.unwrap().ended);
    let third = http_flv(url, Duration::from_secs(10), 3).await;
    assert_eq!(third.status, 200, "the place was not released: {third:?}");
    publisher.abort();
}

/// `/stat` takes the API token unless `ApiOptions::stat_public` or the configuration's
/// `api_stat_public` (applied live) opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_takes_the_token_unless_public() {
    let status = |web: &Web| {
        let url = web.url("/stat");
        tokio::task::spawn_blocking(move || {
            agent(Duration::from_secs(10)).get(&url).call().unwrap().status().as_u16()
        })
    };
    let closed =
        start(config(), ApiOptions { token: Some("t".into()), ..Default::default() }).await;
    assert_eq!(status(&closed).await.unwrap(), 401);
    let mut reloaded = closed.handle.config();
    reloaded.api_stat_public = true;
    let change = closed.handle.apply_config(reloaded).unwrap();
    assert!(change.applied.contains(&"api.stat_public".to_owned()), "{change:?}");
    assert_eq!(status(&closed).await.unwrap(), 200, "api_stat_public applied live");
    let open = ApiOptions { token: Some("t".into()), stat_public: true, ..Default::default() };
    let open = start(config(), open).await;
    assert_eq!(status(&open).await.unwrap(), 200);
}

/// A WebSocket-FLV viewer that sends a large message is cut off (what a viewer may send is
/// bounded at 4 KiB, not tungstenite's 64 MiB default), and only that viewer: another one
/// on the same stream keeps receiving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_viewer_sending_a_large_message_is_closed_alone() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let web = start(config(), ApiOptions::default()).await;
    let publisher = publish(&web, "live/big", kit::synthetic_av(0, 30));
    wait_live(&web.handle, "big", Duration::from_millis(200)).await;
    let url = format!("ws://{}/live/live/big.flv", web.api);
    let (mut rude, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("rude");
    let (mut polite, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("polite");
    let _ = rude.send(Message::Binary(vec![0u8; 1 << 20].into())).await;
    // The rude viewer's connection ends (a close or an error) while the 30 s stream is
    // still live: a bound on the failure, not on speed.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rude.next()).await.expect("the rude viewer was not closed")
        {
            Some(Ok(Message::Binary(_))) | Some(Ok(Message::Ping(_))) => continue,
            _ => break,
        }
    }
    assert!(
        web.handle.streams().iter().any(|s| s.name == "big" && s.publishing),
        "the rude viewer was only closed by the stream's end"
    );
    // The other viewer still gets media after that.
    let mut got = 0;
    while got < 20 {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, polite.next()).await.expect("polite viewer fed");
        if message.expect("open").expect("message").is_binary() {
            got += 1;
        }
    }
    publisher.abort();
}
