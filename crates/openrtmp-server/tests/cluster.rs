//! The cluster with in-process servers sharing one in-memory directory (the `local`
//! backend's rules, which the Redis backend is tested against): an edge finds where a
//! stream is live and pulls it from there; a second publish of the stream elsewhere is
//! refused with the owner's name; a draining origin lets another node claim its stream and
//! leaves the directory when it stops. The multi-process rig with Redis, FFmpeg and faults
//! is `crates/openrtmp-cli/tests/cluster.rs`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use openrtmp_hub::StreamKey;
use openrtmp_server::cluster::{Directory, MemoryDirectory, NodeState};
use openrtmp_server::Config;
use support::{Fixture, TestServer};

const PATIENCE: Duration = Duration::from_secs(20);

fn node(id: &str, edge: bool) -> Config {
    let mut config = support::test_config();
    config.cluster.node_id = id.into();
    config.cluster.directory.node_ttl = Duration::from_secs(2);
    config.cluster.directory.heartbeat = Duration::from_millis(200);
    config.cluster.claim_wait = Duration::from_millis(300);
    config.edge.enabled = edge;
    config
}

/// Starts a node on `directory` and waits until the directory lists it.
fn start(config: Config, directory: &Arc<MemoryDirectory>) -> TestServer {
    let id = config.cluster.node_id.clone();
    let server = TestServer::start(config);
    server.handle.cluster().set_directory(Arc::clone(directory) as Arc<dyn Directory>);
    let rt = support::client_runtime();
    let listed = support::wait_until(PATIENCE, || {
        let nodes = rt.block_on(directory.nodes()).unwrap_or_default();
        nodes.iter().any(|n| n.node_id == id)
    });
    assert!(listed, "{id} joined the directory");
    server
}

fn owner(directory: &MemoryDirectory, rt: &tokio::runtime::Runtime) -> Option<String> {
    let key = StreamKey::new("live", "cam");
    rt.block_on(directory.resolve(&key)).ok().flatten().map(|r| r.owner)
}

#[test]
fn an_edge_pulls_from_the_owner_and_a_second_publish_elsewhere_is_refused() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 6 }.path(&ffmpeg);
    let directory = Arc::new(MemoryDirectory::new());
    let o1 = start(node("o1", false), &directory);
    let e1 = start(node("e1", true), &directory);
    let rt = support::client_runtime();

    let publisher = support::publish_in_background(&rt, &input, &o1.rtmp_url("live/cam"));
    assert!(support::wait_until(PATIENCE, || owner(&directory, &rt).as_deref() == Some("o1")));
    let player = rt.spawn(support::play_all(
        e1.rtmp_url("live/cam"),
        support::quick_options(),
        Duration::from_secs(3),
    ));
    // One upstream: the edge plays on the origin once, for its player.
    o1.wait_viewers(1);
    let route = rt.block_on(e1.handle.stream_route("live", "cam"));
    assert_eq!(route.owner.as_deref(), Some("o1"));
    assert!(!route.local);
    let upstream = route.upstream.expect("the edge pulls");
    assert!(upstream.starts_with(&format!("rtmp://{}/live/", o1.addr)), "{upstream}");

    // A publish of the same stream on the edge is refused: o1 owns it.
    let refused = rt
        .block_on(support::publish_in_background(&rt, &input, &e1.rtmp_url("live/cam")))
        .expect("task")
        .expect_err("a second publisher is refused");
    assert!(refused.to_string().contains("live on node o1"), "{refused}");
    let status = rt.block_on(e1.handle.cluster_status());
    assert_eq!(status.claims[1], 1, "one claim refused");

    let played = rt.block_on(player).expect("player");
    let video = played.tags().iter().filter(|t| support::is_keyframe(t)).count();
    assert!(video >= 1, "the edge's player got the stream from o1");
    drop(publisher);
}

#[test]
fn a_draining_origin_yields_its_stream_and_leaves_the_directory() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 6 }.path(&ffmpeg);
    let directory = Arc::new(MemoryDirectory::new());
    let o1 = start(node("o1", false), &directory);
    let o2 = start(node("o2", false), &directory);
    let rt = support::client_runtime();
    let _first = support::publish_in_background(&rt, &input, &o1.rtmp_url("live/cam"));
    assert!(support::wait_until(PATIENCE, || owner(&directory, &rt).as_deref() == Some("o1")));

    assert!(o1.handle.drain(), "the drain starts");
    assert!(!o1.handle.drain(), "only once");
    let (ready, reasons) = o1.handle.readiness();
    assert!(!ready && reasons.iter().any(|r| r.starts_with("draining")), "{reasons:?}");
    let draining = support::wait_until(PATIENCE, || {
        let nodes = rt.block_on(directory.nodes()).unwrap_or_default();
        nodes.iter().any(|n| n.node_id == "o1" && n.state == NodeState::Draining)
    });
    assert!(draining, "the lease says draining");

    // o2 may now claim the stream o1 still owns (its publisher reconnecting there).
    let _second = support::publish_in_background(&rt, &input, &o2.rtmp_url("live/cam"));
    assert!(support::wait_until(PATIENCE, || owner(&directory, &rt).as_deref() == Some("o2")));

    // o1 stops at the end of its grace and leaves the directory.
    rt.block_on(async { tokio::time::timeout(PATIENCE, o1.handle.stopped()).await })
        .expect("o1 stops");
    let gone = support::wait_until(PATIENCE, || {
        let nodes = rt.block_on(directory.nodes()).unwrap_or_default();
        !nodes.iter().any(|n| n.node_id == "o1")
    });
    assert!(gone, "o1 left the directory");
    assert_eq!(owner(&directory, &rt).as_deref(), Some("o2"));
}

#[test]
fn a_publisher_taking_over_on_an_edge_keeps_the_edges_players() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 8 }.path(&ffmpeg);
    let directory = Arc::new(MemoryDirectory::new());
    let o1 = start(node("o1", false), &directory);
    let e1 = start(node("e1", true), &directory);
    let rt = support::client_runtime();
    let _first = support::publish_in_background(&rt, &input, &o1.rtmp_url("live/cam"));
    assert!(support::wait_until(PATIENCE, || owner(&directory, &rt).as_deref() == Some("o1")));
    let player = rt.spawn(support::play_all(
        e1.rtmp_url("live/cam"),
        support::quick_options(),
        Duration::from_secs(6),
    ));
    o1.wait_viewers(1);
    // o1 drains and its publisher is sent to e1 (the least-loaded peer may be an edge that
    // already pulls the stream): e1's claim wins, its pull hands the players over.
    assert!(o1.handle.drain());
    assert!(support::wait_until(PATIENCE, || {
        let nodes = rt.block_on(directory.nodes()).unwrap_or_default();
        nodes.iter().any(|n| n.node_id == "o1" && n.state == NodeState::Draining)
    }));
    let second = support::publish_in_background(&rt, &input, &e1.rtmp_url("live/cam"));
    assert!(support::wait_until(PATIENCE, || owner(&directory, &rt).as_deref() == Some("e1")));
    let moved = std::time::Instant::now();
    let played = rt.block_on(player).expect("player");
    assert_eq!(played.end, openrtmp_client::PlayEnd::Duration, "the edge's player stayed");
    let after = played.tags.iter().filter(|(at, _)| *at > moved).count();
    assert!(after > 10, "media went on from the new publisher: {after} tags");
    assert!(e1.handle.pull_of("live", "cam").is_none(), "the pull stopped");
    second.abort();
}
