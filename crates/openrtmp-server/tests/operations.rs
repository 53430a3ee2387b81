//! Operations through the server handle: figures while a real publisher streams, kicking,
//! run-time configuration changes without dropping anyone, graceful and forced shutdown.

mod support;

use std::time::{Duration, Instant};

use openrtmp_client::{PlayEnd, PublishOptions};
use support::*;

/// Publishes the H.264 fixture (repeated) in the background on `rt`.
fn publish_in_background(
    rt: &tokio::runtime::Runtime,
    server: &TestServer,
    name: &str,
    repeat: u32,
) -> Option<
    tokio::task::JoinHandle<Result<openrtmp_client::PublishStats, openrtmp_client::ClientError>>,
> {
    let ffmpeg = ffmpeg()?;
    let fixture = Fixture::H264Aac { seconds: 2 }.path(&ffmpeg);
    let url = server.rtmp_url(name);
    Some(rt.spawn(async move {
        openrtmp_client::publish_file(
            &fixture,
            &url,
            quick_options(),
            PublishOptions { realtime: true, repeat },
        )
        .await
    }))
}

#[test]
fn figures_kick_and_end_stream_while_publishing() {
    let server = TestServer::start(test_config());
    let rt = client_runtime();
    let Some(publisher) = publish_in_background(&rt, &server, "live/ops", 3) else { return };
    let player =
        rt.spawn(play_all(server.rtmp_url("live/ops"), quick_options(), Duration::from_secs(20)));
    server.wait_viewers(1);
    std::thread::sleep(Duration::from_millis(2500));

    let info = server.handle.info();
    assert_eq!(
        (info.connections, info.publishers, info.players, info.streams),
        (2, 1, 1, 1),
        "{info:?}"
    );
    assert!(info.bytes_in > 50_000 && info.bytes_out > 50_000, "{info:?}");
    let streams = server.handle.streams();
    let s = &streams[0];
    assert_eq!(
        (s.app.as_str(), s.name.as_str(), s.publishing, s.viewers),
        ("live", "ops", true, 1)
    );
    assert_eq!(
        (s.video_codec.as_deref(), s.width, s.height),
        (Some("H.264"), Some(320), Some(240)),
        "{s:?}"
    );
    assert_eq!((s.audio_codec.as_deref(), s.sample_rate), (Some("AAC"), Some(44100)));
    let fps = s.fps.unwrap_or_default();
    assert!((24.0..=26.0).contains(&fps), "fps {fps}");
    assert!(s.gop_cache_frames > 0 && s.gop_cache_bytes > 0);
    let conns = server.handle.connections();
    let player_conn = conns.iter().find(|c| c.role == "player").expect("player listed");
    assert_eq!(player_conn.stream, "ops");

    // Kick the player: it sees the server close; the publisher is unaffected.
    assert!(server.handle.kick(player_conn.id));
    assert!(!server.handle.kick(999_999));
    let played = rt.block_on(player).expect("player task");
    assert_eq!(played.end, PlayEnd::ServerClosed);
    assert!(server.handle.streams()[0].publishing);

    // End the stream: the publisher's connection is closed.
    assert!(server.handle.end_stream("live", "ops"));
    assert!(!server.handle.end_stream("live", "nope"));
    let result = rt.block_on(publisher).expect("publisher task");
    assert!(result.is_err(), "the publisher was cut off: {result:?}");
    assert!(wait_until(Duration::from_secs(2), || server.handle.connections().is_empty()));
}

#[test]
fn config_changes_apply_without_dropping_anyone() {
    let server = TestServer::start(test_config());
    let rt = client_runtime();
    let Some(publisher) = publish_in_background(&rt, &server, "live/reload", 2) else { return };
    let player = rt.spawn(play_all(
        server.rtmp_url("live/reload"),
        quick_options(),
        Duration::from_secs(20),
    ));
    server.wait_viewers(1);
    std::thread::sleep(Duration::from_millis(800));

    let mut new = server.handle.config();
    new.hub.viewer_max_lag_ms = 3000;
    new.max_connections = 500;
    new.listen = vec!["127.0.0.1:1".parse().unwrap()];
    let change = server.handle.apply_config(new).expect("valid config applies");
    assert!(
        change.applied.contains(&"limits".to_owned())
            && change.applied.contains(&"streams".to_owned()),
        "{change:?}"
    );
    assert_eq!(change.needs_restart, vec!["listen".to_owned()]);
    let now = server.handle.config();
    assert_eq!((now.hub.viewer_max_lag_ms, now.max_connections), (3000, 500));
    assert_ne!(
        now.listen,
        vec!["127.0.0.1:1".parse().unwrap()],
        "listeners are not changed at run time"
    );
    assert_eq!(server.hub.config().viewer_max_lag_ms, 3000, "the hub took the new settings");

    let mut bad = server.handle.config();
    bad.chunk_size = 64;
    assert!(server.handle.apply_config(bad).is_err());
    assert_eq!(
        server.handle.config().chunk_size,
        4096,
        "an invalid config is refused, the running one stays"
    );

    let _ = rt.block_on(publisher).expect("publisher task").expect("publisher finished normally");
    let played = rt.block_on(player).expect("player task");
    assert_eq!(played.end, PlayEnd::Eof);
    // No gap: consecutive video frames at most 200 ms apart in arrival (25 fps stream).
    let video: Vec<Instant> = played
        .tags
        .iter()
        .filter(|(_, t)| t.tag_type == openrtmp_media::TagType::VIDEO)
        .map(|(at, _)| *at)
        .collect();
    let worst = video.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
    assert!(
        video.len() > 80 && worst < Duration::from_millis(300),
        "{} frames, worst gap {worst:?}",
        video.len()
    );
}

#[test]
fn graceful_shutdown_waits_for_the_grace_period_then_closes() {
    let mut config = test_config();
    config.shutdown_grace = Duration::from_millis(1500);
    let server = TestServer::start(config);
    let rt = client_runtime();
    let Some(publisher) = publish_in_background(&rt, &server, "live/bye", 5) else { return };
    let player =
        rt.spawn(play_all(server.rtmp_url("live/bye"), quick_options(), Duration::from_secs(20)));
    server.wait_viewers(1);
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    server.handle.shutdown(false);
    assert!(!server.handle.readiness().0, "not ready while shutting down");
    // New connections are refused at once.
    std::thread::sleep(Duration::from_millis(100));
    assert!(std::net::TcpStream::connect(server.addr).is_err(), "the listener is closed");
    let played = rt.block_on(player).expect("player task");
    let took = played.ended_at.duration_since(started);
    assert!(
        took >= Duration::from_millis(1300) && took < Duration::from_millis(3000),
        "closed after {took:?}"
    );
    assert!(rt.block_on(publisher).expect("publisher task").is_err());
}

#[test]
fn forced_shutdown_closes_at_once() {
    let server = TestServer::start(test_config());
    let rt = client_runtime();
    let Some(_publisher) = publish_in_background(&rt, &server, "live/now", 5) else { return };
    let player =
        rt.spawn(play_all(server.rtmp_url("live/now"), quick_options(), Duration::from_secs(20)));
    server.wait_viewers(1);
    let started = Instant::now();
    server.handle.shutdown(true);
    let played = rt.block_on(player).expect("player task");
    let took = played.ended_at.duration_since(started);
    assert!(took < Duration::from_millis(500), "closed after {took:?}");
}
