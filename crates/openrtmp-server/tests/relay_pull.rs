//! Relay pulls end to end, with in-process servers: an edge E pulls a stream from origin O
//! on demand for its players (every frame in order, byte for byte) and stops after the
//! linger; an `always` pull runs without players; when the origin in use dies, E moves to
//! the next one and its player stays attached; two edges pulling from each other are
//! refused as a relay loop, without a storm of connections.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use openrtmp_client::PlayEnd;
use openrtmp_server::relay::{OriginSelect, PullMode, PullRule, PullState};
use openrtmp_server::Config;
use support::{Fixture, TestServer};

/// An edge that pulls every stream of app `live` from `origins` (`{stream}` substituted).
fn edge(origins: Vec<String>, mode: PullMode, stream: &str) -> Config {
    let mut config = support::test_config();
    config.relay.pull = vec![PullRule {
        app: "live".into(),
        stream: stream.into(),
        origins,
        mode,
        select: OriginSelect::Order,
    }];
    config.relay.pull_linger = Duration::from_millis(500);
    config
}

fn frames_in(server: &TestServer, name: &str) -> u64 {
    let streams = server.handle.streams();
    streams.iter().find(|s| s.app == "live" && s.name == name).map_or(0, |s| s.frames_in)
}

#[test]
fn on_demand_pull_serves_a_player_intact_and_stops_after_the_linger() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 3 }.path(&ffmpeg);
    let sent = support::read_tags(&input);
    let o = TestServer::start(support::test_config());
    let e = TestServer::start(edge(vec![o.url("{app}/{stream}")], PullMode::OnDemand, "*"));
    let rt = support::client_runtime();
    assert!(e.handle.pulls().is_empty(), "nothing pulled before a player asks");

    // The player on E asks first: E's pull plays on O and waits there for the publisher.
    let started = Instant::now();
    let player = rt.spawn(support::play_all(
        e.rtmp_url("live/cam"),
        support::quick_options(),
        Duration::from_secs(30),
    ));
    o.wait_viewers(1);
    let pull = e.handle.pull_of("live", "cam").expect("the player started a pull");
    assert_eq!(pull.mode, PullMode::OnDemand);
    assert_eq!(pull.origins, [format!("rtmp://{}/live/****", o.addr)]);
    assert!(pull.via.len() == 16 && pull.via == e.handle.node_id(), "{pull:?}");
    rt.block_on(support::publish_in_background(&rt, &input, &o.rtmp_url("live/cam")))
        .expect("task")
        .expect("publish");
    let played = rt.block_on(player).expect("player task");
    assert_eq!(played.end, PlayEnd::Eof, "E's stream ends after O's (within the grace)");
    let got = played.tags();
    let (v, a) = support::assert_suffix_frames(&sent, &got, "player on the edge");
    let sent_video = sent.iter().filter(|t| t.tag_type == openrtmp_media::TagType::VIDEO);
    assert_eq!(v, sent_video.filter(|t| support::is_frame(t)).count(), "every video frame");
    assert_eq!(support::sequence_headers(&got), support::sequence_headers(&sent));
    eprintln!("edge player: {v} video and {a} audio frames in {:?}", started.elapsed());

    // The player left: after the linger the pull stops and leaves O.
    assert!(
        support::wait_until(Duration::from_secs(15), || o.viewers() == 0
            && e.handle.pulls().is_empty()),
        "the pull did not stop: O has {} viewers, E pulls {:?}",
        o.viewers(),
        e.handle.pulls()
    );
    eprintln!("pull stopped {:?} after the start", started.elapsed());
}

/// Regression: the viewer check of a pull used to be a timer made anew at every frame, so
/// while the origin kept sending media it never fired and the pull never stopped.
#[test]
fn on_demand_pull_stops_after_the_linger_while_the_origin_still_publishes() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 12 }.path(&ffmpeg);
    let o = TestServer::start(support::test_config());
    let e = TestServer::start(edge(vec![o.url("{app}/{stream}")], PullMode::OnDemand, "*"));
    let rt = support::client_runtime();
    let publisher = support::publish_in_background(&rt, &input, &o.rtmp_url("live/cam"));
    assert!(support::wait_until(Duration::from_secs(10), || frames_in(&o, "cam") > 0));
    let played = rt.block_on(support::play_all(
        e.rtmp_url("live/cam"),
        support::quick_options(),
        Duration::from_millis(1500),
    ));
    assert_eq!(played.end, PlayEnd::Duration);
    assert!(played.tags.len() > 10, "the edge player got {} tags", played.tags.len());
    assert!(
        support::wait_until(Duration::from_secs(8), || o.viewers() == 0
            && e.handle.pulls().is_empty()),
        "the pull did not stop after the linger: O has {} viewers, E pulls {:?}",
        o.viewers(),
        e.handle.pulls()
    );
    assert!(!publisher.is_finished(), "the origin's publisher still runs");
    publisher.abort();
}

#[test]
fn always_pull_starts_without_a_player() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 12 }.path(&ffmpeg);
    let o = TestServer::start(support::test_config());
    let rt = support::client_runtime();
    let publisher = support::publish_in_background(&rt, &input, &o.rtmp_url("live/news"));
    assert!(support::wait_until(Duration::from_secs(10), || frames_in(&o, "news") > 0));
    // E pulls always and pushes what it pulls on to P (`relay.push` applies to pulls too).
    let p = TestServer::start(support::test_config());
    let mut config = edge(vec![o.url("live/news")], PullMode::Always, "news");
    config.relay.push = vec![openrtmp_server::relay::PushRule {
        app: "live".into(),
        stream: "*".into(),
        url: p.url("live/{stream}"),
    }];
    let e = TestServer::start(config);
    assert!(
        support::wait_until(Duration::from_secs(15), || frames_in(&e, "news") > 25),
        "the always pull brought nothing: {:?}",
        e.handle.pulls()
    );
    let pull = e.handle.pull_of("live", "news").expect("listed");
    assert_eq!((pull.mode, pull.state.clone()), (PullMode::Always, PullState::Live));
    assert_eq!(pull.origin, Some((0, format!("rtmp://{}/live/****", o.addr))));
    assert!(pull.frames_in > 25 && pull.publishing, "{pull:?}");
    assert_eq!(o.viewers(), 1, "one upstream connection");
    // A local publisher on the pulled key is refused: the stream comes from the origin.
    let local = rt.block_on(support::publish_in_background(&rt, &input, &e.rtmp_url("live/news")));
    match local.expect("task") {
        Err(openrtmp_client::ClientError::Refused { code, description }) => {
            assert_eq!(code, "NetStream.Publish.BadName");
            assert!(description.contains("relayed from an origin"), "{description}");
        }
        other => panic!("a local publish on a pulled key was not refused: {other:?}"),
    }
    assert!(
        support::wait_until(Duration::from_secs(15), || frames_in(&p, "news") > 25),
        "the pulled stream is not pushed on: {:?}",
        e.handle.push_targets()
    );
    drop(e);
    publisher.abort();
}

#[test]
fn origin_failure_moves_to_the_next_origin_and_the_player_stays() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 12 }.path(&ffmpeg);
    let a = TestServer::start(support::test_config());
    let b = TestServer::start(support::test_config());
    let rt = support::client_runtime();
    let pa = support::publish_in_background(&rt, &input, &a.rtmp_url("live/cam"));
    let pb = support::publish_in_background(&rt, &input, &b.rtmp_url("live/cam"));
    assert!(support::wait_until(Duration::from_secs(10), || frames_in(&a, "cam") > 0
        && frames_in(&b, "cam") > 0));
    let origins = vec![a.url("live/{stream}"), b.url("live/{stream}")];
    let e = TestServer::start(edge(origins, PullMode::OnDemand, "*"));

    let player = rt.spawn(support::play_all(
        e.rtmp_url("live/cam"),
        support::quick_options(),
        Duration::from_secs(7),
    ));
    assert!(
        support::wait_until(Duration::from_secs(10), || frames_in(&e, "cam") > 40),
        "the pull does not flow: {:?}",
        e.handle.pulls()
    );
    assert_eq!(e.handle.pull_of("live", "cam").and_then(|p| p.origin).map(|o| o.0), Some(0));
    let killed = Instant::now();
    drop(a); // origin A shuts down under the pull
    assert!(
        support::wait_until(Duration::from_secs(15), || e
            .handle
            .pull_of("live", "cam")
            .is_some_and(
                |p| p.origin.as_ref().map(|o| o.0) == Some(1) && p.state == PullState::Live
            )),
        "E did not move to origin B: {:?}",
        e.handle.pulls()
    );
    let moved = killed.elapsed();
    let played = rt.block_on(player).expect("player task");
    assert_eq!(played.end, PlayEnd::Duration, "the player stayed attached to the end");
    let after = played.tags.iter().filter(|(at, _)| *at > killed + moved).count();
    assert!(after > 10, "the player got only {after} tags from origin B");
    let pull = e.handle.pull_of("live", "cam").expect("pull");
    assert!(pull.switches >= 1, "{pull:?}");
    assert!(pull.last_error.is_some(), "{pull:?}");

    // Figures: the longest gap between media tags, and timestamps going backwards.
    let media: Vec<_> =
        played.tags.iter().filter(|(_, t)| t.tag_type != openrtmp_media::TagType::SCRIPT).collect();
    let gap = media.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap_or_default();
    let video: Vec<u32> = media
        .iter()
        .filter(|(_, t)| t.tag_type == openrtmp_media::TagType::VIDEO)
        .map(|(_, t)| t.timestamp)
        .collect();
    let backwards = video.windows(2).filter(|w| w[1] < w[0]).count();
    eprintln!(
        "fail-over: moved to B {moved:?} after A stopped; longest gap {gap:?}; \
         video timestamps went backwards {backwards} times; {} tags",
        played.tags.len()
    );
    assert_eq!(backwards, 0, "timestamps went backwards across the origin change");
    pa.abort();
    pb.abort();
}

#[test]
fn edges_pulling_from_each_other_are_refused_as_a_relay_loop() {
    let p1 = support::free_port();
    let e2 = TestServer::start(edge(
        vec![format!("rtmp://127.0.0.1:{p1}/live/{{stream}}")],
        PullMode::OnDemand,
        "*",
    ));
    let mut c1 = edge(vec![e2.url("live/{stream}")], PullMode::OnDemand, "*");
    c1.listen = vec![([127, 0, 0, 1], p1).into()];
    let e1 = TestServer::start(c1);
    let rt = support::client_runtime();

    let player = rt.spawn(support::play_all(
        e1.rtmp_url("live/cam"),
        support::quick_options(),
        Duration::from_secs(20),
    ));
    let refused = || {
        e1.handle
            .pulls()
            .into_iter()
            .chain(e2.handle.pulls())
            .any(|p| p.last_error.as_deref().is_some_and(|e| e.contains("relay loop")))
    };
    assert!(
        support::wait_until(Duration::from_secs(10), refused),
        "no relay loop reported: E1 {:?}, E2 {:?}",
        e1.handle.pulls(),
        e2.handle.pulls()
    );
    let played = rt.block_on(player).expect("player task");
    assert!(played.tags.iter().all(|(_, t)| t.tag_type == openrtmp_media::TagType::SCRIPT));
    // Both pulls stop once nobody watches; meanwhile their retries are backed off.
    assert!(
        support::wait_until(Duration::from_secs(15), || e1.handle.pulls().is_empty()
            && e2.handle.pulls().is_empty()),
        "the pulls did not stop: E1 {:?}, E2 {:?}",
        e1.handle.pulls(),
        e2.handle.pulls()
    );
    let accepted =
        (e1.stats.accepted.load(Ordering::Relaxed), e2.stats.accepted.load(Ordering::Relaxed));
    eprintln!("relay loop: player ended with {:?}; connections accepted {accepted:?}", played.end);
    assert!(accepted.0 + accepted.1 <= 16, "a storm of connections: {accepted:?}");
}

/// A publish or play whose relay chain (`openrtmpVia`) already holds this server, or is
/// longer than `relay.max_hops`, is refused with "relay loop"; a shorter foreign chain is
/// accepted.
#[test]
fn chains_through_this_server_or_too_long_are_refused() {
    use openrtmp_client::{ClientError, ConnectOptions, Connection};
    use openrtmp_proto::command::PublishType;
    let e =
        TestServer::start(edge(vec!["rtmp://127.0.0.1:1/live/x".into()], PullMode::OnDemand, "*"));
    let me = e.handle.node_id();
    let rt = support::client_runtime();
    let attempt = |via: String, publish: bool| {
        let url = e.rtmp_url(if publish { "other/cam" } else { "live/cam" });
        rt.block_on(async move {
            let options = ConnectOptions { via: Some(via), ..support::quick_options() };
            let mut conn = Connection::connect(&url, options).await.expect("connect");
            let result = if publish {
                conn.publish(&url.stream, PublishType::Live).await
            } else {
                conn.play(&url.stream).await
            };
            result.map(|_| ())
        })
    };
    let refused = |result: Result<(), ClientError>, want: &str| match result {
        Err(ClientError::Refused { code, description }) => {
            assert_eq!(code, want);
            assert!(description.starts_with("relay loop"), "{description}");
        }
        other => panic!("not refused as a loop: {other:?}"),
    };
    refused(attempt(format!("00000000000000aa,{me}"), true), "NetStream.Publish.BadName");
    refused(attempt(me.clone(), false), "NetStream.Play.Failed");
    refused(attempt("a,b,c,d,e".into(), false), "NetStream.Play.Failed");
    attempt("a,b,c,d".into(), true).expect("a chain of max_hops is accepted");
    assert!(e.handle.pulls().is_empty(), "a refused play starts no pull");
}

/// An `always` pull added by a configuration reload starts at once (it used to wait for a
/// restart), from a thread outside the server's runtime as an embedder's reload would be.
#[test]
fn an_always_pull_added_by_a_reload_starts_at_once() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 8 }.path(&ffmpeg);
    let o = TestServer::start(support::test_config());
    let rt = support::client_runtime();
    let _publisher = support::publish_in_background(&rt, &input, &o.rtmp_url("live/news"));
    assert!(support::wait_until(Duration::from_secs(10), || frames_in(&o, "news") > 0));
    let e = TestServer::start(support::test_config());
    assert!(e.handle.pulls().is_empty());
    let mut config = e.handle.config();
    config.relay.pull = edge(vec![o.url("live/news")], PullMode::Always, "news").relay.pull;
    let change = e.handle.apply_config(config).expect("reload");
    assert!(change.applied.iter().any(|a| a == "relay.pull"), "{change:?}");
    assert!(
        support::wait_until(Duration::from_secs(15), || frames_in(&e, "news") > 25),
        "the reloaded always pull brought nothing: {:?}",
        e.handle.pulls()
    );
}
