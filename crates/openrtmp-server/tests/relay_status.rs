//! Push target status that tells the truth, end to end, with a synthetic stream (no external
//! program): a target that accepts TCP but never reads is never `live`; a target that
//! refuses the key ends `failed` with the server's reason and is not retried; a target
//! added while the stream runs goes `connecting` then `live` (acknowledged bytes, bitrate,
//! uptime) and is gone when removed; a target that connects while the publisher has sent
//! only audio starts at the first video keyframe; an `rtmps://` target trusted through
//! `relay.tls` gets every frame.

mod support;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openrtmp_client::{publish_tags, Connection, PlayEnd, PublishOptions, RtmpUrl};
use openrtmp_media::flv_file::FlvTag;
use openrtmp_media::TagType;
use openrtmp_proto::command::PublishType;
use openrtmp_server::auth::{AppKeys, KeySecret, PublishKey};
use openrtmp_server::relay::{PushRule, TargetState, TargetStatus};
use openrtmp_server::Config;
use support::TestServer;

/// Server A, pushing every stream of app `live` to `url`.
fn pushing_to(url: String) -> Config {
    let mut config = support::test_config();
    config.relay.push = vec![PushRule { app: "live".into(), stream: "*".into(), url }];
    config
}

fn the_target(server: &TestServer) -> Option<TargetStatus> {
    server.handle.push_targets().into_iter().next()
}

/// Publishes `tags` to `url` in real time, in the background.
fn publish(
    rt: &tokio::runtime::Runtime,
    tags: Vec<FlvTag>,
    url: RtmpUrl,
) -> tokio::task::JoinHandle<openrtmp_client::PublishStats> {
    rt.spawn(async move {
        let mut conn = Connection::connect(&url, support::quick_options()).await.expect("connect");
        conn.publish(&url.stream, PublishType::Live).await.expect("publish");
        let stats =
            publish_tags(&mut conn, &tags, &PublishOptions::default()).await.expect("publish tags");
        conn.close().await.expect("close");
        stats
    })
}

/// Records every state the first target of `server` is seen in (polled every 10 ms on a
/// thread) until `stop` is set.
fn watch_states(
    server: &TestServer,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<String>> {
    let handle = server.handle.clone();
    std::thread::spawn(move || {
        let mut seen: Vec<String> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if let Some(t) = handle.push_targets().into_iter().next() {
                let name = t.state.name().to_owned();
                if seen.last() != Some(&name) {
                    seen.push(name);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        seen
    })
}

fn count(tags: &[FlvTag], kind: TagType) -> usize {
    support::frames(tags).iter().filter(|f| f.0 == kind).count()
}

/// A target that accepts the TCP connection but never reads (nor answers the handshake) is
/// never reported `live`: it stays `connecting` until the connect timeout, then `backoff`
/// with the reason. Meanwhile the publisher and a player on A lose no frame.
#[test]
fn a_target_that_never_reads_is_never_live() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let done = Arc::new(AtomicBool::new(false));
    let held_done = Arc::clone(&done);
    let held = std::thread::spawn(move || {
        // Accept and hold the sockets (never read) until the test ends.
        let mut sockets = Vec::new();
        listener.set_nonblocking(true).expect("nonblocking");
        let end = std::time::Instant::now() + Duration::from_secs(40);
        while std::time::Instant::now() < end && !held_done.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((s, _)) => sockets.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        sockets.len()
    });
    let a = TestServer::start(pushing_to(format!("rtmp://{addr}/{{app}}/{{stream}}")));
    let rt = support::client_runtime();
    let sent = support::synthetic_av(0, 13);
    let player = rt.spawn(support::play_all(
        a.rtmp_url("live/cam"),
        support::quick_options(),
        Duration::from_secs(40),
    ));
    a.wait_viewers(1);
    let stop = Arc::new(AtomicBool::new(false));
    let states = watch_states(&a, Arc::clone(&stop));
    let publisher = publish(&rt, sent.clone(), a.rtmp_url("live/cam"));

    let backoff = support::wait_until(Duration::from_secs(30), || {
        the_target(&a).is_some_and(|t| matches!(t.state, TargetState::Backoff { .. }))
    });
    let status = the_target(&a);
    assert!(backoff, "the target never went to backoff: {status:?}");
    let status = status.expect("a target");
    let error = status.last_error.clone().unwrap_or_default();
    assert!(error.contains("timed out"), "the reason is not the timeout: {status:?}");
    assert_eq!(status.bytes_acked, 0, "{status:?}");

    let stats = rt.block_on(publisher).expect("publisher");
    stop.store(true, Ordering::Relaxed);
    let seen = states.join().expect("watcher");
    eprintln!("states seen: {seen:?}; publisher sent {} tags", stats.tags);
    assert!(!seen.iter().any(|s| s == "live"), "reported live: {seen:?}");
    assert!(seen.iter().any(|s| s == "connecting"), "{seen:?}");
    // Taking TCP but never answering is reported as what it is: stuck.
    assert!(seen.iter().any(|s| s == "stalled"), "never reported stalled: {seen:?}");

    let played = rt.block_on(player).expect("player");
    assert_eq!(played.end, PlayEnd::Eof);
    support::assert_same_frames(&sent, &played.tags(), "player on A");
    drop(a);
    done.store(true, Ordering::Relaxed);
    assert!(held.join().expect("listener") >= 1, "the target was never connected to");
}

/// A target whose server refuses the stream key ends `failed` with the server's answer, and
/// is not tried again while the stream runs.
#[test]
fn a_target_with_a_wrong_key_fails_for_good() {
    let mut config = support::test_config();
    config.auth.publish_keys = vec![AppKeys {
        app: "live".into(),
        keys: vec![PublishKey { secret: KeySecret::Plain("right".into()), stream: None }],
    }];
    let b = TestServer::start(config);
    let a = TestServer::start(pushing_to(format!("rtmp://{}/live/cam?key=wrong", b.addr)));
    let rt = support::client_runtime();
    let publisher = publish(&rt, support::synthetic_av(0, 6), a.rtmp_url("live/cam"));

    let failed = support::wait_until(Duration::from_secs(15), || {
        the_target(&a).is_some_and(|t| matches!(t.state, TargetState::Failed { .. }))
    });
    assert!(failed, "the target did not fail: {:?}", the_target(&a));
    // Still failed, never retried, a few seconds later (BACKOFF_INITIAL is 1 s).
    std::thread::sleep(Duration::from_secs(3));
    let status = the_target(&a).expect("listed while its stream runs");
    let TargetState::Failed { reason } = &status.state else {
        panic!("not failed any more: {status:?}");
    };
    eprintln!("wrong key: {reason}");
    assert!(reason.contains("NetStream.Publish."), "not the server's answer: {reason}");
    assert!(!reason.contains("wrong"), "the key shows in {reason}");
    assert_eq!(status.reconnects, 0, "retried: {status:?}");
    assert_eq!(b.hub.streams().iter().filter(|s| s.publishing).count(), 0);
    rt.block_on(publisher).expect("publisher");
}

/// A target added while the stream runs: `connecting` at once, `live` once B acknowledges
/// (with acknowledged bytes, a bitrate and an uptime), gone when removed — and B's stream
/// ends with it.
#[test]
fn target_added_while_live_reports_each_step() {
    let b = TestServer::start(support::test_config());
    let a = TestServer::start(support::test_config());
    let rt = support::client_runtime();
    let publisher = publish(&rt, support::synthetic_av(0, 10), a.rtmp_url("live/cam"));
    assert!(support::wait_until(Duration::from_secs(10), || a
        .hub
        .streams()
        .iter()
        .any(|s| s.publishing && s.frames_in > 10)));

    let url = format!("rtmp://{}/live/cam", b.addr);
    let id = a.handle.add_push_target("live", "cam", &url).expect("add");
    let first = a.handle.push_targets_of("live", "cam");
    assert_eq!(first.len(), 1);
    assert!(
        matches!(first[0].state, TargetState::Connecting | TargetState::Live),
        "{:?}",
        first[0]
    );
    assert!(
        support::wait_until(Duration::from_secs(15), || the_target(&a)
            .is_some_and(|t| t.state == TargetState::Live)),
        "not live: {:?}",
        the_target(&a)
    );
    let live = the_target(&a).expect("target");
    assert!(live.acknowledges && live.bytes_acked > 0, "{live:?}");
    assert!(live.bytes_acked <= live.bytes_sent, "{live:?}");
    assert!(live.uptime.is_some(), "{live:?}");
    // The bitrate is measured over a window: poll until it shows.
    assert!(
        support::wait_until(Duration::from_secs(10), || the_target(&a)
            .is_some_and(|t| t.bitrate_bps > 50_000)),
        "no bitrate: {:?}",
        the_target(&a)
    );
    // B's stream counts the target as a viewer of A's stream.
    let viewers = a.hub.streams().iter().find(|s| s.key.name == "cam").map_or(0, |s| s.viewers);
    assert_eq!(viewers, 1, "the push target is A's stream's one viewer");

    assert!(a.handle.remove_push_target("live", "cam", id));
    assert!(a.handle.push_targets_of("live", "cam").is_empty());
    assert!(
        support::wait_until(Duration::from_secs(10), || !b
            .hub
            .streams()
            .iter()
            .any(|s| s.publishing)),
        "B's stream did not end with the removal"
    );
    assert!(!publisher.is_finished(), "A's publication goes on");
    rt.block_on(publisher).expect("publisher");
}

/// Regression: a target that connected while the publisher had sent only audio got that
/// audio first, video starting later. Its start must be metadata, sequence headers and the
/// first keyframe, with no audio frame before it.
#[test]
fn a_target_starts_at_the_first_keyframe_not_at_leading_audio() {
    let b = TestServer::start(support::test_config());
    let a = TestServer::start(pushing_to(format!("rtmp://{}/{{app}}/{{stream}}", b.addr)));
    let rt = support::client_runtime();
    let sent = support::synthetic_av(1500, 4);
    let player = rt.spawn(support::play_all(
        b.rtmp_url("live/cam"),
        support::quick_options(),
        Duration::from_secs(30),
    ));
    b.wait_viewers(1);
    rt.block_on(publish(&rt, sent.clone(), a.rtmp_url("live/cam"))).expect("publisher");
    let played = rt.block_on(player).expect("player");
    let got = played.tags();
    let first_frame = got.iter().position(support::is_frame).expect("frames");
    let first = &got[first_frame];
    assert_eq!(
        first.tag_type,
        TagType::VIDEO,
        "the push starts with {:?} at {} ms",
        first.tag_type,
        first.timestamp
    );
    assert!(support::is_keyframe(first), "the first pushed frame is not a keyframe");
    let headers: BTreeSet<_> = got[..first_frame].iter().map(|t| t.tag_type).collect();
    assert!(headers.contains(&TagType::SCRIPT), "no metadata before the keyframe");
    let (v, a_frames) = support::assert_suffix_frames(&sent, &got, "player on B");
    assert_eq!(v, count(&sent, TagType::VIDEO), "every video frame is pushed");
    eprintln!("pushed {v} video and {a_frames} audio frames");
}

/// An `rtmps://` target (a second OpenRTMP listening RTMPS with a self-signed certificate),
/// trusted through `relay.tls.ca_files`: every video frame arrives intact, in order.
#[test]
fn rtmps_target_trusted_by_relay_tls_gets_every_frame() {
    let dir = support::TempDir::new("relay-rtmps");
    let (cert, key, _) =
        openrtmp_tls::dev::write(&dir.0, &["openrtmp.test".to_owned()]).expect("dev cert");
    let b = TestServer::start(Config {
        rtmps_listen: vec!["127.0.0.1:0".parse().expect("addr")],
        tls: Some(openrtmp_tls::ServerTlsSettings {
            source: openrtmp_tls::CertSource::Files { cert: cert.clone(), key },
            min_version: openrtmp_tls::MinTlsVersion::Tls12,
            client_auth: None,
            reload_interval: Duration::from_secs(10),
        }),
        ..support::test_config()
    });
    let mut config = pushing_to(b.rtmps_url("{app}/{stream}"));
    config.relay.tls.ca_files = vec![cert];
    let a = TestServer::start(config);
    let rt = support::client_runtime();
    let sent = support::synthetic_av(0, 4);
    let player = rt.spawn(support::play_all(
        b.rtmp_url("live/cam"),
        support::quick_options(),
        Duration::from_secs(30),
    ));
    b.wait_viewers(1);
    rt.block_on(publish(&rt, sent.clone(), a.rtmp_url("live/cam"))).expect("publisher");
    let played = rt.block_on(player).expect("player");
    assert_eq!(played.end, PlayEnd::Eof);
    let got = played.tags();
    let (v, a_frames) = support::assert_suffix_frames(&sent, &got, "player on the RTMPS target");
    assert_eq!(v, count(&sent, TagType::VIDEO), "every video frame is pushed over RTMPS");
    assert_eq!(support::sequence_headers(&got), support::sequence_headers(&sent));
    eprintln!("rtmps push: {v} video and {a_frames} audio frames");
}
