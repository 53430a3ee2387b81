//! The WHIP test client (`support/whip_client.rs`) against a minimal WHIP endpoint built
//! here from `openrtmp_webrtc::ingest::IngestSession` (axum + one UDP socket on 127.0.0.1):
//! real HTTP, real sockets, real pacing, so the driver is known to work before the server's
//! own WHIP routes use it. The endpoint is deliberately small: it is not the server's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::Router;
use openrtmp_webrtc::ingest::{IngestConfig, IngestOutput, IngestSession, Packet};
use openrtmp_webrtc::Transport;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, Notify};

mod support {
    pub mod whip_client;
}

use support::whip_client::{post_raw, publish_clip, sample_offer, Clip, Play, WhipError};

const KEY: &str = "whip-secret";

/// What the endpoint's session saw.
#[derive(Debug, Default, Clone)]
struct Seen {
    connected: bool,
    video: Vec<u64>,
    audio: Vec<u64>,
    /// Access units that carried an IDR slice.
    idr: usize,
    ended: Option<String>,
}

/// A running session of the endpoint: its id, its close signal, what it saw.
type Entry = (String, Arc<Notify>, Arc<Mutex<Seen>>);

#[derive(Clone, Default)]
struct Endpoint {
    /// One session per stream key (`app/stream`).
    sessions: Arc<Mutex<HashMap<String, Entry>>>,
}

async fn start() -> (String, Endpoint) {
    let endpoint = Endpoint::default();
    let app = Router::new()
        .route("/whip/{app}/{stream}", post(offer))
        .route("/whip/{app}/{stream}/{id}", delete(end))
        .with_state(endpoint.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, endpoint)
}

async fn offer(
    State(endpoint): State<Endpoint>,
    Path((app, stream)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    if header("content-type") != "application/sdp" {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    match header("authorization").strip_prefix("Bearer ") {
        None => return StatusCode::UNAUTHORIZED.into_response(),
        Some(key) if key != KEY => return StatusCode::FORBIDDEN.into_response(),
        Some(_) => {}
    }
    let key = format!("{app}/{stream}");
    if endpoint.sessions.lock().unwrap().contains_key(&key) {
        return StatusCode::CONFLICT.into_response();
    }
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let config = IngestConfig { candidates: vec![(local, Transport::Udp)], ..Default::default() };
    let now = std::time::Instant::now();
    let (session, answer) = match IngestSession::accept_offer(now, &body, &config) {
        Ok(ok) => ok,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let id = format!("s{}", local.port());
    let (close, seen) = (Arc::new(Notify::new()), Arc::new(Mutex::new(Seen::default())));
    endpoint.sessions.lock().unwrap().insert(key, (id.clone(), close.clone(), seen.clone()));
    tokio::spawn(drive(session, socket, local, close, seen));
    let location = format!("/whip/{app}/{stream}/{id}");
    (StatusCode::CREATED, [("content-type", "application/sdp"), ("location", &location)], answer)
        .into_response()
}

async fn end(
    State(endpoint): State<Endpoint>,
    Path((app, stream, id)): Path<(String, String, String)>,
) -> StatusCode {
    let mut sessions = endpoint.sessions.lock().unwrap();
    match sessions.get(&format!("{app}/{stream}")) {
        Some((known, close, _)) if *known == id => {
            close.notify_one();
            sessions.remove(&format!("{app}/{stream}"));
            StatusCode::OK
        }
        _ => StatusCode::NOT_FOUND,
    }
}

/// The session's task: the same loop shape as the client's driver.
async fn drive(
    mut session: IngestSession,
    socket: UdpSocket,
    local: SocketAddr,
    close: Arc<Notify>,
    seen: Arc<Mutex<Seen>>,
) {
    let (tx, mut rx) = mpsc::channel::<(SocketAddr, Vec<u8>)>(256);
    let socket = Arc::new(socket);
    let reader = socket.clone();
    let read = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((len, from)) = reader.recv_from(&mut buf).await {
            if tx.send((from, buf[..len].to_vec())).await.is_err() {
                break;
            }
        }
    });
    loop {
        let timeout = loop {
            match session.poll_output(std::time::Instant::now()) {
                IngestOutput::Timeout(at) => break at,
                IngestOutput::Transmit { destination, contents, .. } => {
                    let _ = socket.send_to(&contents, destination).await;
                }
                IngestOutput::Connected => seen.lock().unwrap().connected = true,
                IngestOutput::Video(frame) => {
                    let idr =
                        frame.data.windows(4).any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5);
                    let mut seen = seen.lock().unwrap();
                    seen.video.push(frame.rtp_time);
                    seen.idr += usize::from(idr);
                }
                IngestOutput::Audio(frame) => seen.lock().unwrap().audio.push(frame.rtp_time),
                IngestOutput::Ended(reason) => {
                    seen.lock().unwrap().ended = Some(reason);
                    read.abort();
                    return;
                }
            }
        };
        tokio::select! {
            Some((from, data)) = rx.recv() => {
                let packet = Packet { proto: Transport::Udp, source: from, destination: local, contents: &data };
                let _ = session.handle_packet(std::time::Instant::now(), packet);
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(timeout)) => {}
            _ = close.notified() => session.close(),
        }
        let now = std::time::Instant::now();
        if now >= timeout {
            let _ = session.handle_timeout(now);
        }
    }
}

/// Polls `cond` on what the session saw until it holds or `limit` passes.
async fn wait_seen(seen: &Mutex<Seen>, limit: Duration, cond: impl Fn(&Seen) -> bool) -> Seen {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let now = seen.lock().unwrap().clone();
        if cond(&now) || tokio::time::Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_a_looping_clip_and_stops_with_delete() {
    let Some(ffmpeg) = openrtmp_testkit::ffmpeg() else { return };
    let clip = Clip::standard(&ffmpeg);
    assert_eq!(clip.video.len(), 90);
    assert!((150..=152).contains(&clip.audio.len()), "{}", clip.audio.len());
    let (base, endpoint) = start().await;
    let mut publish =
        publish_clip(&base, "live", "cam", Some(KEY), clip.clone(), Play::Loop).await.expect("201");
    assert!(
        publish.location.starts_with(&format!("{base}/whip/live/cam/")),
        "{}",
        publish.location
    );
    assert!(publish.answer.contains("a=ice-lite"), "{}", publish.answer);
    publish.wait_connected(Duration::from_secs(10)).await;
    let seen = endpoint.sessions.lock().unwrap()["live/cam"].2.clone();
    // More than one pass of the 3 s clip: the loop keeps RTP time rising and starts each
    // pass on its IDR.
    let got =
        wait_seen(&seen, Duration::from_secs(20), |s| s.video.len() >= 100 && s.audio.len() >= 170)
            .await;
    assert!(got.connected);
    assert!(got.video.len() >= 100, "video frames at the endpoint: {}", got.video.len());
    assert!(got.audio.len() >= 170, "audio packets at the endpoint: {}", got.audio.len());
    for pair in got.video.windows(2) {
        assert_eq!(pair[1] - pair[0], 3000, "30 fps on the 90 kHz clock: {:?}", &got.video[..10]);
    }
    for pair in got.audio.windows(2) {
        assert_eq!(pair[1] - pair[0], 960, "20 ms on the 48 kHz clock");
    }
    assert!(got.idr >= 4, "GOP 30 over 100 frames: {} IDRs", got.idr);
    let stats = publish.stats();
    assert!(stats.video_frames >= 100 && stats.audio_packets >= 170, "{stats:?}");
    let (status, stats) = publish.stop().await;
    assert_eq!(status, 200, "DELETE");
    assert!(stats.ended.is_some(), "the sender ended: {stats:?}");
    let got = wait_seen(&seen, Duration::from_secs(5), |s| s.ended.is_some()).await;
    assert!(got.ended.is_some(), "the endpoint's session ended after DELETE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_once_and_video_only() {
    let Some(ffmpeg) = openrtmp_testkit::ffmpeg() else { return };
    let clip = Arc::new(Clip::standard(&ffmpeg).video_only());
    let (base, endpoint) = start().await;
    let mut publish =
        publish_clip(&base, "live", "once", Some(KEY), clip, Play::Once).await.expect("201");
    assert!(!publish.answer.contains("m=audio"), "video-only offer: {}", publish.answer);
    let stats = publish.wait_for(Duration::from_secs(20), |s| s.video_frames == 90).await;
    assert_eq!(stats.video_frames, 90);
    assert_eq!(stats.audio_packets, 0);
    let seen = endpoint.sessions.lock().unwrap()["live/once"].2.clone();
    let got = wait_seen(&seen, Duration::from_secs(5), |s| s.video.len() == 90).await;
    assert_eq!(got.video.len(), 90, "all of the clip, once");
    // Nothing more after the clip ends.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(publish.stats().video_frames, 90);
    assert_eq!(publish.stop().await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_come_back_as_statuses() {
    let (base, endpoint) = start().await;
    let path = "/whip/live/cam";
    let sdp = Some("application/sdp");
    assert_eq!(
        post_raw(&base, path, Some("text/plain"), Some(KEY), sample_offer()).await.status,
        415
    );
    assert_eq!(post_raw(&base, path, sdp, None, sample_offer()).await.status, 401);
    assert_eq!(post_raw(&base, path, sdp, Some("wrong"), sample_offer()).await.status, 403);
    let first = post_raw(&base, path, sdp, Some(KEY), sample_offer()).await;
    assert_eq!(first.status, 201, "{first:?}");
    assert!(first.location.is_some() && first.content_type.as_deref() == Some("application/sdp"));
    assert_eq!(post_raw(&base, path, sdp, Some(KEY), sample_offer()).await.status, 409);
    let clip = Arc::new(Clip {
        video: vec![bytes::Bytes::from_static(&[0, 0, 1, 9, 0xf0])],
        audio: vec![],
    });
    match publish_clip(&base, "live", "cam", Some(KEY), clip, Play::Once).await {
        Err(WhipError::Refused(409, _)) => {}
        other => panic!("expected a 409 refusal, got {other:?}"),
    }
    let location = format!("{base}{}", first.location.unwrap());
    assert_eq!(support::whip_client::delete(&location).await, 200);
    assert!(endpoint.sessions.lock().unwrap().is_empty());
}
