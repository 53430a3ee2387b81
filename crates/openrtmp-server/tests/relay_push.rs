//! Relay push targets end to end: our client publishes to server A, which pushes the stream
//! to server B (a second OpenRTMP in this process) or to nginx-rtmp; a player on the target
//! gets every frame in order. A target that is down at first goes `backoff` and becomes
//! `live` when it appears. A target attached through the server handle before its stream
//! goes live starts with it, outlives the publication, and ends B's stream when removed.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use openrtmp_client::{PlayEnd, RtmpUrl};
use openrtmp_server::relay::{PushRule, RelayError, TargetOrigin, TargetState, TargetStatus};
use openrtmp_server::Config;
use support::{Fixture, TestServer};

/// Server A, pushing every stream of app `live` to `url`.
fn pushing_to(url: String) -> Config {
    let mut config = support::test_config();
    config.relay.push = vec![PushRule { app: "live".into(), stream: "*".into(), url }];
    config
}

fn video_frames(tags: &[openrtmp_media::flv_file::FlvTag]) -> usize {
    support::frames(tags).iter().filter(|f| f.0 == openrtmp_media::TagType::VIDEO).count()
}

fn the_target(server: &TestServer) -> Option<TargetStatus> {
    server.handle.push_targets().into_iter().next()
}

/// Waits (at most `limit`) until the first push target is in a state `want` accepts.
fn wait_state(server: &TestServer, limit: Duration, want: impl Fn(&TargetState) -> bool) -> bool {
    support::wait_until(limit, || the_target(server).is_some_and(|t| want(&t.state)))
}

#[test]
fn pushed_stream_reaches_a_player_on_the_second_server_intact() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 3 }.path(&ffmpeg);
    let sent = support::read_tags(&input);
    let b = TestServer::start(support::test_config());
    let a = TestServer::start(pushing_to(format!("rtmp://{}/{{app}}/{{stream}}", b.addr)));
    let rt = support::client_runtime();

    // The player waits on B for a stream nobody publishes yet.
    let player = rt.spawn(support::play_all(
        b.rtmp_url("live/cam"),
        support::quick_options(),
        Duration::from_secs(30),
    ));
    b.wait_viewers(1);
    rt.block_on(support::publish_in_background(&rt, &input, &a.rtmp_url("live/cam")))
        .expect("task")
        .expect("publish");
    let played = rt.block_on(player).expect("player task");
    assert_eq!(played.end, PlayEnd::Eof, "the push ends with the stream");
    // Every video frame, in order, byte for byte; audio from the first keyframe on (the
    // target's subscriber starts at a keyframe: audio the encoder sent before its first
    // video frame is not pushed).
    let got = played.tags();
    let (v, _) = support::assert_suffix_frames(&sent, &got, "player on the push target");
    assert_eq!(v, video_frames(&sent), "every video frame is pushed");
    assert_eq!(support::sequence_headers(&got), support::sequence_headers(&sent));

    // The target ended with its stream.
    assert!(
        support::wait_until(Duration::from_secs(10), || a.handle.push_targets().is_empty()),
        "push target still listed after its stream ended: {:?}",
        a.handle.push_targets()
    );
}

#[test]
fn target_down_at_first_backs_off_then_goes_live() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 12 }.path(&ffmpeg);
    let sent = support::read_tags(&input);
    let port = support::free_port();
    let b_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let a = TestServer::start(pushing_to(format!("rtmp://{b_addr}/{{app}}/{{stream}}")));
    let rt = support::client_runtime();

    let publisher = support::publish_in_background(&rt, &input, &a.rtmp_url("live/cam"));
    assert!(
        wait_state(&a, Duration::from_secs(10), |s| matches!(s, TargetState::Backoff { .. })),
        "no backoff while the target is down: {:?}",
        the_target(&a)
    );
    let status = the_target(&a).expect("a target");
    assert_eq!(status.url, format!("rtmp://{b_addr}/live/****"), "the key is redacted");
    assert!(status.last_error.is_some(), "the failure is reported: {status:?}");
    if let TargetState::Backoff { retry_in } = status.state {
        assert!(retry_in <= openrtmp_server::relay::BACKOFF_MAX, "{retry_in:?}");
    }

    // B appears; the target connects within the backoff bound (generous: a loaded machine).
    let mut config = support::test_config();
    config.listen = vec![b_addr];
    let b = TestServer::start(config);
    let player = rt.spawn(support::play_all(
        b.rtmp_url("live/cam"),
        support::quick_options(),
        Duration::from_secs(30),
    ));
    assert!(
        wait_state(&a, Duration::from_secs(40), |s| *s == TargetState::Live),
        "the target did not go live after it appeared: {:?}",
        the_target(&a)
    );
    let live = the_target(&a).expect("a target");
    assert!(live.reconnects >= 1, "{live:?}");

    rt.block_on(publisher).expect("task").expect("publish");
    let played = rt.block_on(player).expect("player task");
    assert_eq!(played.end, PlayEnd::Eof);
    let got = played.tags();
    // A (re)connection starts with the sequence headers and a keyframe.
    let video: Vec<_> =
        got.iter().filter(|t| t.tag_type == openrtmp_media::TagType::VIDEO).collect();
    assert!(video.len() >= 3, "too little video: {}", video.len());
    assert!(support::is_sequence_header(video[0]), "first video tag is not a sequence header");
    assert!(support::is_keyframe(video[1]), "second video tag is not a keyframe");
    let (v, a_frames) = support::assert_suffix_frames(&sent, &got, "player on the late target");
    eprintln!("late target: {v} video and {a_frames} audio frames");
}

#[test]
fn pushed_stream_reaches_nginx_rtmp() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let Some(nginx) = support::nginx() else { return };
    let nginx = support::Nginx::start(&nginx);
    let input = Fixture::H264Aac { seconds: 3 }.path(&ffmpeg);
    let sent = support::read_tags(&input);
    let a = TestServer::start(pushing_to(nginx.url("live/{stream}")));
    let rt = support::client_runtime();

    let target = RtmpUrl::parse(&nginx.url("live/cam")).expect("url");
    let player =
        rt.spawn(support::play_all(target, support::quick_options(), Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(300));
    rt.block_on(support::publish_in_background(&rt, &input, &a.rtmp_url("live/cam")))
        .expect("task")
        .expect("publish");
    let played = rt.block_on(player).expect("player task");
    let got = played.tags();
    let (v, _) = support::assert_suffix_frames(&sent, &got, "player on nginx-rtmp");
    let sent_video = video_frames(&sent);
    assert!(v * 10 >= sent_video * 9, "nginx player got {v} of {sent_video} video frames");
}

/// The frames B's stream `live/cam` has received.
fn frames_in(server: &TestServer) -> u64 {
    let streams = server.handle.streams();
    streams.iter().find(|s| s.app == "live" && s.name == "cam").map_or(0, |s| s.frames_in)
}

#[test]
fn target_attached_before_the_stream_starts_with_it_and_removal_ends_it() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let short = Fixture::H264Aac { seconds: 3 }.path(&ffmpeg);
    let long = Fixture::H264Aac { seconds: 12 }.path(&ffmpeg);
    let sent = support::read_tags(&short);
    let b = TestServer::start(support::test_config());
    let a = TestServer::start(support::test_config());
    let rt = support::client_runtime();

    // Attached before anything is published on A: listed, waiting as `connecting`.
    let url = format!("rtmp://{}/live/cam", b.addr);
    let id = a.handle.add_push_target("live", "cam", &url).expect("attach");
    let listed = a.handle.push_targets_of("live", "cam");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0].id, &listed[0].state), (id, &TargetState::Connecting));
    assert_eq!(listed[0].origin, TargetOrigin::Api);
    assert_eq!(listed[0].url, format!("rtmp://{}/live/****", b.addr));
    assert!(a.handle.push_targets_of("live", "other").is_empty());
    assert!(matches!(
        a.handle.add_push_target("live", "cam", &url),
        Err(RelayError::Duplicate { id: dup, .. }) if dup == id
    ));
    assert!(matches!(
        a.handle.add_push_target("live", "cam", "rtmp://h/live"),
        Err(RelayError::InvalidUrl { .. })
    ));

    // First publication: the target starts with it; B's player gets the whole stream.
    let player = rt.spawn(support::play_all(
        b.rtmp_url("live/cam"),
        support::quick_options(),
        Duration::from_secs(30),
    ));
    b.wait_viewers(1);
    rt.block_on(support::publish_in_background(&rt, &short, &a.rtmp_url("live/cam")))
        .expect("task")
        .expect("publish");
    let played = rt.block_on(player).expect("player task");
    assert_eq!(played.end, PlayEnd::Eof, "the push ends with the publication");
    let (v, _) = support::assert_suffix_frames(&sent, &played.tags(), "player on B");
    assert_eq!(v, video_frames(&sent), "every video frame is pushed");

    // The API target outlives the publication: listed again as waiting.
    assert!(
        wait_state(&a, Duration::from_secs(10), |s| *s == TargetState::Connecting),
        "the target does not wait for the next publication: {:?}",
        a.handle.push_targets()
    );
    let waiting = the_target(&a).expect("still attached");
    assert_eq!(waiting.id, id);
    assert!(waiting.frames_sent > 0, "{waiting:?}");

    // Second publication: it starts again; removing it ends B's stream while A's goes on.
    let player = rt.spawn(support::play_all(
        b.rtmp_url("live/cam"),
        support::quick_options(),
        Duration::from_secs(30),
    ));
    b.wait_viewers(1);
    let before = frames_in(&b);
    let publisher = support::publish_in_background(&rt, &long, &a.rtmp_url("live/cam"));
    assert!(
        support::wait_until(Duration::from_secs(20), || frames_in(&b) > before + 10),
        "the target did not start with the second publication: {:?}",
        a.handle.push_targets()
    );
    assert!(!a.handle.remove_push_target("live", "other", id), "another stream's id");
    assert!(a.handle.remove_push_target("live", "cam", id));
    assert!(a.handle.push_targets_of("live", "cam").is_empty());
    assert!(!a.handle.remove_push_target("live", "cam", id), "removed twice");
    let played = rt.block_on(player).expect("player task");
    assert_eq!(played.end, PlayEnd::Eof, "removal ends the publication on B");
    assert!(!publisher.is_finished(), "B's stream ended only with A's publication");
    let got = video_frames(&played.tags());
    assert!(got > 0, "B's player got nothing of the second publication");
    rt.block_on(publisher).expect("task").expect("A's publisher is not disturbed");
    assert!(a.handle.push_targets().is_empty(), "{:?}", a.handle.push_targets());
}

/// The studio page's targets: attached "until unpublish", a target is removed when the
/// publisher it was attached for ends (here an RTMP publisher that finishes its clip),
/// while a plain API target on the same stream stays attached, waiting for the next one.
#[test]
fn target_until_unpublish_is_removed_when_its_publisher_ends() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let clip = Fixture::H264Aac { seconds: 3 }.path(&ffmpeg);
    let b = TestServer::start(support::test_config());
    let a = TestServer::start(support::test_config());
    let rt = support::client_runtime();

    let tied_url = format!("rtmp://{}/live/tied", b.addr);
    let kept_url = format!("rtmp://{}/live/kept", b.addr);
    let tied = a.handle.add_push_target_until_unpublish("live", "cam", &tied_url).expect("tied");
    let kept = a.handle.add_push_target("live", "cam", &kept_url).expect("kept");
    let listed = a.handle.push_targets_of("live", "cam");
    let flags: Vec<(u64, bool)> = listed.iter().map(|t| (t.id, t.until_unpublish)).collect();
    assert_eq!(flags, [(tied, true), (kept, false)], "{listed:?}");

    let publisher = support::publish_in_background(&rt, &clip, &a.rtmp_url("live/cam"));
    let tied_went_live = support::wait_until(Duration::from_secs(20), || {
        a.handle
            .push_targets_of("live", "cam")
            .iter()
            .any(|t| t.id == tied && (t.frames_sent > 0 || t.state == TargetState::Live))
            || publisher.is_finished()
    });
    rt.block_on(publisher).expect("task").expect("publish");
    assert!(tied_went_live, "the tied target never pushed: {:?}", a.handle.push_targets());

    // The publisher ended: the tied target is gone, the plain one waits as `connecting`.
    assert!(
        support::wait_until(Duration::from_secs(10), || {
            let left = a.handle.push_targets_of("live", "cam");
            left.len() == 1 && left[0].id == kept && left[0].state == TargetState::Connecting
        }),
        "after the publisher ended: {:?}",
        a.handle.push_targets()
    );
    assert!(!a.handle.remove_push_target("live", "cam", tied), "the tied target is gone");
    assert!(a.handle.remove_push_target("live", "cam", kept));
}
