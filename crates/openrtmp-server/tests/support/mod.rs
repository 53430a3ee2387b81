//! Helpers for the server's end-to-end tests: the shared test kit (external tools, fixtures,
//! frame comparison) and the server in-process on its own tokio runtime.
//!
//! Each test binary compiles this module separately and uses a part of it.
#![allow(dead_code, unused_imports)]

pub use openrtmp_testkit::*;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use openrtmp_client::{ConnectOptions, PlayEnd, PlayOptions, Player, RtmpUrl};
use openrtmp_media::flv_file::FlvTag;
use openrtmp_server::{Config, Server};

// ---------------------------------------------------------------------------------------
// The server, in-process
// ---------------------------------------------------------------------------------------

/// Log output for a test binary (`RUST_LOG=openrtmp_server=debug` to see it).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// The configuration the tests start from: loopback, port 0, players closed right after the
/// end-of-stream notice (so FFmpeg players exit when the publisher leaves).
pub fn test_config() -> Config {
    Config {
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        unpublished_wait: Duration::ZERO,
        // Tests end by dropping the server: don't wait long for clients still attached.
        shutdown_grace: Duration::from_millis(300),
        api_listen: None,
        ..Config::default()
    }
}

/// A server running on its own 2-thread runtime; shut down when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Every RTMP listener (the first is `addr`).
    pub addrs: Vec<SocketAddr>,
    /// RTMPS listeners.
    pub rtmps: Vec<SocketAddr>,
    pub hub: openrtmp_hub::Hub,
    pub stats: std::sync::Arc<openrtmp_server::ServerStats>,
    pub handle: openrtmp_server::ServerHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl TestServer {
    pub fn start(config: Config) -> TestServer {
        init_tracing();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("server")
            .enable_all()
            .build()
            .expect("server runtime");
        let server = rt.block_on(Server::bind(config)).expect("bind server");
        let addrs = server.local_addrs();
        let rtmps = server.rtmps_addrs();
        let addr = addrs.first().or(rtmps.first()).copied().expect("a listener");
        let hub = server.hub();
        let stats = server.stats();
        let handle = server.handle();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = rt.spawn(server.run(async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            addrs,
            rtmps,
            hub,
            stats,
            handle,
            stop: Some(tx),
            task: Some(task),
            rt: Some(rt),
        }
    }

    /// `rtmp://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.addr)
    }

    /// `rtmps://localhost:PORT/path` (the first RTMPS listener; `localhost` is on the test
    /// certificates).
    pub fn rtmps_url(&self, path: &str) -> String {
        format!("rtmps://localhost:{}/{path}", self.rtmps[0].port())
    }

    pub fn rtmp_url(&self, path: &str) -> RtmpUrl {
        RtmpUrl::parse(&self.url(path)).expect("url")
    }

    /// Players attached to any stream.
    pub fn viewers(&self) -> usize {
        self.hub.streams().iter().map(|s| s.viewers).sum()
    }

    /// Waits until at least `n` players are attached (at most 10 s).
    pub fn wait_viewers(&self, n: usize) {
        let ok = wait_until(Duration::from_secs(10), || self.viewers() >= n);
        assert!(ok, "{n} players did not attach within 10 s (have {})", self.viewers());
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let (Some(rt), Some(task)) = (self.rt.take(), self.task.take()) {
            let stopped =
                rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await });
            if stopped.is_err() && !std::thread::panicking() {
                eprintln!("warning: the server did not stop within 5 s of shutdown");
            }
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// A runtime for the test's clients (separate from the server's).
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("client")
        .enable_all()
        .build()
        .expect("client runtime")
}

/// Publishes `input` to `url` in real time (default publish options) on `rt`, in the
/// background.
pub fn publish_in_background(
    rt: &tokio::runtime::Runtime,
    input: &std::path::Path,
    url: &RtmpUrl,
) -> tokio::task::JoinHandle<Result<openrtmp_client::PublishStats, openrtmp_client::ClientError>> {
    let (input, url) = (input.to_path_buf(), url.clone());
    rt.spawn(async move {
        openrtmp_client::publish_file(&input, &url, quick_options(), Default::default()).await
    })
}

pub fn quick_options() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

/// What a player received.
#[derive(Debug)]
pub struct Played {
    /// Tags with their arrival times.
    pub tags: Vec<(Instant, FlvTag)>,
    pub end: PlayEnd,
    /// When `next_tag` returned `None`.
    pub ended_at: Instant,
}

impl Played {
    pub fn tags(&self) -> Vec<FlvTag> {
        self.tags.iter().map(|(_, t)| t.clone()).collect()
    }
}

/// Plays `url` with our client until the stream ends (bounded by `limit`).
pub async fn play_all(url: RtmpUrl, options: ConnectOptions, limit: Duration) -> Played {
    let play = PlayOptions { duration: Some(limit), idle_timeout: limit, ..Default::default() };
    let mut player = Player::open(&url, options, play).await.expect("play");
    let mut tags = Vec::new();
    while let Some(tag) = player.next_tag().await.expect("next tag") {
        tags.push((Instant::now(), tag));
    }
    let ended_at = Instant::now();
    let end = player.end().expect("end reason");
    Played { tags, end, ended_at }
}

/// Polls `cond` every 10 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Plays `name` on an open connection until the end of the stream: the tags, each with
/// its arrival time.
pub async fn play_on(mut conn: openrtmp_client::Connection, name: &str) -> Vec<(Instant, FlvTag)> {
    let stream_id = conn.play(name).await.expect("play");
    let mut tags = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), conn.next_event())
            .await
            .expect("player idle for 10 s")
            .expect("player connection");
        match event {
            Some(openrtmp_proto::session::ClientEvent::Media { message, stream_id: id })
                if id == stream_id =>
            {
                let tag_type = if message.type_id == openrtmp_proto::message::MessageType::AUDIO {
                    openrtmp_media::TagType::AUDIO
                } else if message.type_id == openrtmp_proto::message::MessageType::VIDEO {
                    openrtmp_media::TagType::VIDEO
                } else {
                    openrtmp_media::TagType::SCRIPT
                };
                let tag = openrtmp_media::flv_file::FlvTag {
                    tag_type,
                    timestamp: message.timestamp,
                    data: message.payload,
                };
                tags.push((Instant::now(), tag));
            }
            Some(openrtmp_proto::session::ClientEvent::StreamEof { stream_id: id })
                if id == stream_id && !tags.is_empty() =>
            {
                break
            }
            Some(openrtmp_proto::session::ClientEvent::Status { code, .. })
                if code == openrtmp_proto::command::StatusCode::PLAY_UNPUBLISH_NOTIFY.code
                    && !tags.is_empty() =>
            {
                break
            }
            Some(_) => {}
            None => panic!("server closed a player before the end of the stream"),
        }
    }
    tags
}
