//! Scale-out under faults, with real processes (issue 16, "How it must be shown"): every
//! node is its own `openrtmp serve` on its own loopback address (o1 127.0.0.11, o2
//! 127.0.0.12, e1 127.0.0.21, e2 127.0.0.22), their directory a real Debian `redis-server`
//! started here, publishers FFmpeg (restarted against another node when they exit, as an
//! encoder behind a load balancer would be) or our following client, players our client
//! (every tag's arrival time and timestamp recorded) and FFmpeg.
//!
//! The cluster's timers are short so that each scenario takes seconds: lease TTL 3 s,
//! heartbeat 1 s, claim wait 4 s, pull linger 1 s (`cluster_rig`). Each test prints a
//! `figures:` line. Waits are for conditions with generous deadlines; the only timing
//! assertions are failure bounds, except the drain's gap, which is on media timestamps.
//!
//! `CLUSTER_LOG=1` echoes every node's log.

mod cluster_rig;
mod support;

use std::time::{Duration, Instant};

use cluster_rig::*;
use openrtmp_client::{ConnectOptions, FollowLimits, FollowingPublisher, PublishOptions, RtmpUrl};
use openrtmp_testkit::redis::RedisServer;
use support::{ffmpeg, synthetic_av, Ffmpeg, Fixture, TempDir};

/// The encoder's retry after its connection failed (the publisher loop's pause).
const ENCODER_RETRY: Duration = Duration::from_millis(500);
/// One GOP of the fixture (a keyframe every 25 frames at 25 fps).
const GOP: Duration = Duration::from_secs(1);
/// The stream record's key in Redis (`cluster/redis.rs`: `{openrtmp}:stream:<len(app)>:app/name`).
const CAM_RECORD: &str = "{openrtmp}:stream:4:live/cam";

/// FFmpeg, the H.264 + AAC fixture (GOP 1 s) and a Redis, or `None` (skipped locally,
/// failed in CI).
fn tools() -> Option<(std::path::PathBuf, std::path::PathBuf, RedisServer)> {
    let ffmpeg = ffmpeg()?;
    let redis = RedisServer::start()?;
    let input = Fixture::H264Aac { seconds: 4 }.path(&ffmpeg);
    Some((ffmpeg, input, redis))
}

fn origin(name: &str, ip: &str, redis: &RedisServer, dir: &TempDir) -> Node {
    Node::start(name, ip, 0, &cluster_yaml(name, &redis.url(), false), &dir.0)
}

fn edge(name: &str, ip: &str, redis: &RedisServer, dir: &TempDir) -> Node {
    Node::start(name, ip, 0, &cluster_yaml(name, &redis.url(), true), &dir.0)
}

fn publisher(
    ffmpeg: &std::path::Path,
    input: &std::path::Path,
    url: &str,
    restart: bool,
    dir: &TempDir,
    name: &str,
) -> FfmpegPublisher {
    FfmpegPublisher::start(
        ffmpeg,
        input,
        url,
        restart,
        ENCODER_RETRY,
        dir.path(&format!("{name}.log")),
    )
}

/// Waits until `watch` receives video frames, with a readable failure.
fn receiving(watch: &Watch, frames: usize) {
    assert!(
        watch.wait_frames(frames, PATIENCE),
        "{} received {} video frames, ended: {:?}",
        watch.name,
        watch.video_frames(),
        watch.ended()
    );
}

#[test]
fn edges_pull_one_upstream_each_and_release_it() {
    let _serial = serial();
    let Some((ffmpeg, input, redis)) = tools() else { return };
    let dir = TempDir::new("cluster-fanout");
    let o1 = origin("o1", O1, &redis, &dir);
    let e1 = edge("e1", E1, &redis, &dir);
    let e2 = edge("e2", E2, &redis, &dir);
    let _publisher = publisher(&ffmpeg, &input, &o1.url("live/cam"), false, &dir, "publisher");
    assert!(
        wait_for(PATIENCE, || e1.owner("cam").as_deref() == Some("o1")),
        "o1 never owned live/cam"
    );

    let rt = runtime();
    let mut players = vec![
        Watch::start(&rt, "e1 player 1", &e1.url("live/cam")),
        Watch::start(&rt, "e1 player 2", &e1.url("live/cam")),
    ];
    let on_e2 = Watch::start(&rt, "e2 player", &e2.url("live/cam"));
    for p in players.iter().chain([&on_e2]) {
        receiving(p, 25);
    }
    let upstreams = o1.connections("player", "cam");
    assert_eq!(
        upstreams,
        2,
        "o1 serves one upstream per edge: {:?}",
        o1.get("/api/v1/connections").1
    );
    let route = e1.route("cam");
    assert_eq!(route["owner"], "o1", "{route}");
    let upstream = route["upstream"].as_str().unwrap_or_default();
    assert!(upstream.contains(&o1.rtmp), "e1's upstream is o1: {route}");
    assert_eq!(route["upstream_state"], "live", "{route}");

    // e1's players leave: after the pull linger (1 s) o1 serves e2's upstream only.
    let left = Instant::now();
    players.clear();
    assert!(
        wait_for(PATIENCE, || o1.connections("player", "cam") == 1),
        "e1's upstream outlived its players: {:?}",
        o1.get("/api/v1/connections").1
    );
    let e1_released = left.elapsed();
    assert!(on_e2.ended().is_none(), "e2's player ended: {:?}", on_e2.ended());
    let left = Instant::now();
    drop(on_e2);
    assert!(wait_for(PATIENCE, || o1.connections("player", "cam") == 0), "e2's upstream stayed");
    let e2_released = left.elapsed();
    println!(
        "figures: upstreams on o1 with 3 players on 2 edges: {upstreams}; upstream closed {} ms \
         after e1's last player left, {} ms after e2's (pull linger 1000 ms)",
        e1_released.as_millis(),
        e2_released.as_millis()
    );
}

#[test]
fn origin_killed_players_stay_attached() {
    let _serial = serial();
    let Some((ffmpeg, input, redis)) = tools() else { return };
    let dir = TempDir::new("cluster-kill");
    let mut o1 = origin("o1", O1, &redis, &dir);
    let o2 = origin("o2", O2, &redis, &dir);
    let e1 = edge("e1", E1, &redis, &dir);
    let e2 = edge("e2", E2, &redis, &dir);
    let encoder = publisher(&ffmpeg, &input, &o1.url("live/cam"), true, &dir, "publisher");
    assert!(
        wait_for(PATIENCE, || e1.owner("cam").as_deref() == Some("o1")),
        "o1 never owned live/cam"
    );

    let rt = runtime();
    let players = [
        Watch::start(&rt, "e1 player", &e1.url("live/cam")),
        Watch::start(&rt, "e2 player", &e2.url("live/cam")),
    ];
    let mut ffplayer = Ffmpeg::spawn(
        &ffmpeg,
        "ffmpeg player on e2",
        &["-i", &e2.url("live/cam"), "-c", "copy", "-f", "null", "-"],
        dir.path("ffplayer.log"),
    );
    for p in &players {
        receiving(p, 50);
    }

    // The crash: the encoder's next connection lands on o2, whose publish waits for o1's
    // lease to expire (claim wait), then starts.
    encoder.set_target(&o2.url("live/cam"));
    let killed = Instant::now();
    o1.kill();
    assert!(
        wait_for(PATIENCE, || e1.owner("cam").as_deref() == Some("o2")),
        "o2 never took live/cam: {}",
        e1.route("cam")
    );
    let moved = killed.elapsed();
    for p in &players {
        receiving(p, 50);
    }
    let resumed = killed.elapsed();
    let start = players[0].arrivals().first().map(|a| a.at).unwrap_or(killed);
    let mut figures = Vec::new();
    for p in &players {
        assert!(p.ended().is_none(), "{} was disconnected: {:?}", p.name, p.ended());
        let gaps = p.gaps(start);
        assert_eq!(gaps.decreases, 0, "{}: timestamps went backwards: {gaps:?}", p.name);
        assert!(gaps.longest_wall < Duration::from_secs(20), "{}: {gaps:?}", p.name);
        figures.push(format!(
            "{}: longest gap {} ms (timestamps {} -> {})",
            p.name,
            gaps.longest_wall.as_millis(),
            gaps.wall_gap_at.0,
            gaps.wall_gap_at.1
        ));
    }
    let running = ffplayer.child.0.try_wait().ok().flatten();
    assert!(running.is_none(), "the FFmpeg player exited ({running:?}): {}", ffplayer.log_text());
    let goal = NODE_TTL + ENCODER_RETRY + GOP;
    println!(
        "figures: SIGKILL o1; o2 owns the stream after {} ms, players resumed within {} ms; {}; \
         goal lease TTL + encoder retry + GOP = {} ms; encoder starts {}; FFmpeg player attached",
        moved.as_millis(),
        resumed.as_millis(),
        figures.join("; "),
        goal.as_millis(),
        encoder.starts()
    );
}

/// Our client publishing synthetic tags (25 fps, a keyframe a second) to `url`, following
/// reconnect requests: returns (moves, the authority it ended on).
async fn follow_publish(url: String, seconds: u32) -> (u32, String) {
    let url = RtmpUrl::parse(&url).expect("url");
    let options = ConnectOptions {
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(5),
        reconnect: true,
        ..Default::default()
    };
    let mut publisher = FollowingPublisher::connect(&url, options, FollowLimits::default())
        .await
        .expect("publish on o1");
    let tags = synthetic_av(0, seconds);
    publisher.send_tags(&tags, &PublishOptions::default()).await.expect("send tags");
    let state = (publisher.switches(), publisher.url().authority());
    let _ = publisher.close().await;
    state
}

/// The summary `shutdown complete` line of a node's log, and its `reconnect_requests`.
fn shutdown_summary(node: &Node) -> (String, u64) {
    let line = node.log().into_iter().find(|l| l.contains("shutdown complete")).unwrap_or_default();
    let requests = line
        .split("reconnect_requests=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (line, requests)
}

#[test]
fn planned_drain_moves_publisher_and_players() {
    let _serial = serial();
    let Some((ffmpeg, input, redis)) = tools() else { return };
    let dir = TempDir::new("cluster-drain");
    let mut o1 = origin("o1", O1, &redis, &dir);
    let o2 = origin("o2", O2, &redis, &dir);
    // e1 carries the players, so o2 (no connections) is the least-loaded active peer.
    let e1 = edge("e1", E1, &redis, &dir);
    let rt = runtime();

    // 1. Our client follows the reconnect request: make-before-break, same timeline.
    let publishing = rt.spawn(follow_publish(o1.url("live/cam"), 12));
    assert!(
        wait_for(PATIENCE, || e1.owner("cam").as_deref() == Some("o1")),
        "o1 never owned live/cam"
    );
    let players = [
        Watch::start(&rt, "e1 player 1", &e1.url("live/cam")),
        Watch::start(&rt, "e1 player 2", &e1.url("live/cam")),
    ];
    for p in &players {
        receiving(p, 25);
    }
    // The drain right after a keyframe: the publisher's switch waits for the next one, so
    // o1's heartbeats run while it still publishes there (the window where o1 fenced it).
    let keyframes = || players[0].arrivals().iter().filter(|a| a.keyframe).count();
    let seen = keyframes();
    assert!(wait_for(PATIENCE, || keyframes() > seen), "no keyframe");
    let drained = Instant::now();
    let (status, body) = o1.post("/api/v1/drain");
    assert!((200..300).contains(&status), "drain: {status} {body}");
    assert!(
        wait_for(PATIENCE, || e1.owner("cam").as_deref() == Some("o2")),
        "the stream did not move to o2: {}",
        e1.route("cam")
    );
    let moved = drained.elapsed();
    for p in &players {
        receiving(p, 25);
    }
    let exit = o1.exited_within(PATIENCE);
    assert!(exit.is_some(), "o1 did not exit by itself after the drain");
    let (summary, requests) = shutdown_summary(&o1);
    assert!(requests >= 1, "o1's summary: {summary:?}");
    let (switches, authority) = rt.block_on(publishing).expect("publisher");
    assert_eq!(
        (switches, authority.as_str()),
        (1, o2.rtmp.as_str()),
        "the publisher moved once, to o2"
    );
    let mut figures = Vec::new();
    for p in &players {
        assert!(
            p.ended().is_none() || p.ended().is_some_and(|e| e.contains("Eof")),
            "{}: {:?}",
            p.name,
            p.ended()
        );
        let gaps = p.gaps(drained);
        assert_eq!(gaps.decreases, 0, "{}: timestamps went backwards: {gaps:?}", p.name);
        assert!(
            gaps.longest_media_ms <= 40 + 100,
            "{}: media gap over one frame + 100 ms: {gaps:?}",
            p.name
        );
        figures.push(format!(
            "{}: longest media gap {} ms, wall gap {} ms",
            p.name,
            gaps.longest_media_ms,
            gaps.longest_wall.as_millis()
        ));
    }
    // Every frame once, in order: o1's up to the switch, o2's from it on.
    let sent: Vec<u32> = synthetic_av(0, 12)
        .iter()
        .filter(|t| t.tag_type == openrtmp_media::TagType::VIDEO && t.data.len() > 100)
        .filter_map(|t| t.data.get(5..9).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes))
        .collect();
    for p in &players {
        let got: Vec<u32> = p
            .arrivals()
            .iter()
            .filter(|a| a.frame && a.kind == openrtmp_media::TagType::VIDEO)
            .filter_map(|a| a.index)
            .collect();
        let first = got.first().and_then(|f| sent.iter().position(|s| s == f)).expect("frames");
        let want = sent.get(first..first + got.len()).unwrap_or(&sent[first..]);
        if got != want {
            let at = got.iter().zip(want).position(|(g, w)| g != w).unwrap_or(0);
            let video: Vec<_> = p
                .arrivals()
                .into_iter()
                .filter(|a| a.kind == openrtmp_media::TagType::VIDEO)
                .collect();
            let near = video.iter().position(|a| a.index == got.get(at).copied()).unwrap_or(0);
            let context: Vec<_> = video[near.saturating_sub(4)..(near + 4).min(video.len())]
                .iter()
                .map(|a| (a.index, a.timestamp, a.keyframe, a.frame))
                .collect();
            panic!("{}: frames lost or repeated across the move near {context:?}", p.name);
        }
    }
    drop(players);
    let client_moved = moved;

    // 2. FFmpeg has no reconnect capability: it is dropped at the end of o1's grace and
    // its restart lands on o2 (the load balancer took o1 out).
    let o1 = origin("o1", O1, &redis, &dir);
    let encoder = publisher(&ffmpeg, &input, &o1.url("live/ffcam"), true, &dir, "ffmpeg");
    assert!(
        wait_for(PATIENCE, || e1.owner("ffcam").as_deref() == Some("o1")),
        "o1 never owned live/ffcam"
    );
    let player = Watch::start(&rt, "e1 player (ffmpeg publisher)", &e1.url("live/ffcam"));
    receiving(&player, 25);
    encoder.set_target(&o2.url("live/ffcam"));
    let drained = Instant::now();
    let (status, body) = o1.post("/api/v1/drain");
    assert!((200..300).contains(&status), "drain: {status} {body}");
    assert!(
        wait_for(PATIENCE, || e1.owner("ffcam").as_deref() == Some("o2")),
        "live/ffcam did not move to o2: {}",
        e1.route("ffcam")
    );
    let ff_moved = drained.elapsed();
    receiving(&player, 25);
    assert!(player.ended().is_none(), "the player was disconnected: {:?}", player.ended());
    let gaps = player.gaps(drained);
    assert_eq!(gaps.decreases, 0, "timestamps went backwards: {gaps:?}");
    println!(
        "figures: drain with our client: o2 owns the stream {} ms after POST /drain, {}; o1's \
         summary reconnect_requests={requests}; drain with FFmpeg (grace 2 s, retry {} ms): moved \
         after {} ms, longest gap {} ms (media {} ms), encoder starts {}",
        client_moved.as_millis(),
        figures.join("; "),
        ENCODER_RETRY.as_millis(),
        ff_moved.as_millis(),
        gaps.longest_wall.as_millis(),
        gaps.longest_media_ms,
        encoder.starts()
    );
}

#[test]
fn duplicate_publish_and_partitioned_owner_is_fenced() {
    let _serial = serial();
    let Some((ffmpeg, input, redis)) = tools() else { return };
    let dir = TempDir::new("cluster-fence");
    let o1 = origin("o1", O1, &redis, &dir);
    let o2 = origin("o2", O2, &redis, &dir);
    let e1 = edge("e1", E1, &redis, &dir);
    let nodes = [&o1, &o2, &e1];
    // Publish.Start is sent where `publish start` is logged ("publish start waits" is not).
    let starts = |n: &Node| n.count(&["publish start stream=live/cam"]);
    let first = publisher(&ffmpeg, &input, &o1.url("live/cam"), false, &dir, "first");
    assert!(
        wait_for(PATIENCE, || o2.owner("cam").as_deref() == Some("o1")),
        "o1 never owned live/cam"
    );

    // A duplicate on o2: refused once the claim wait is over, and refused again on retry.
    let second = publisher(&ffmpeg, &input, &o2.url("live/cam"), true, &dir, "second");
    let refusal = "publish refused: the stream is live on another node";
    assert!(wait_for(PATIENCE, || o2.count(&[refusal]) >= 1), "o2 did not refuse the duplicate");
    assert_eq!((starts(&o1), starts(&o2)), (1, 0), "exactly one Publish.Start");
    let refused = o2.count(&[refusal]);

    // o1 partitioned: its lease expires, o2's retrying publisher gets the stream.
    let stopped = Instant::now();
    o1.signal("STOP");
    assert!(
        wait_for(PATIENCE, || starts(&o2) == 1),
        "o2 never took live/cam after o1's lease expired"
    );
    let taken = stopped.elapsed();
    assert!(wait_for(PATIENCE, || e1.owner("cam").as_deref() == Some("o2")), "{}", e1.route("cam"));

    // o1 comes back: its heartbeat finds the stream lost and drops its publisher.
    let resumed = Instant::now();
    o1.signal("CONT");
    assert!(
        wait_for(PATIENCE, || o1.count(&["publisher dropped", "fenced"]) >= 1),
        "o1 did not drop its fenced publisher"
    );
    let fenced = resumed.elapsed();
    assert!(wait_for(PATIENCE, || first.ended()), "o1's FFmpeg publisher is still connected");
    for n in nodes {
        assert!(
            wait_for(PATIENCE, || n.owner("cam").as_deref() == Some("o2")),
            "{} routes live/cam to {}",
            n.name,
            n.route("cam")
        );
    }
    assert_eq!(starts(&o2), 1, "o2 started the stream once");
    println!(
        "figures: duplicate refused {refused} time(s) before the partition (claim wait {} ms); \
         o2 took the stream {} ms after SIGSTOP o1 (lease TTL {} ms); o1 dropped its publisher \
         {} ms after SIGCONT; o2's encoder starts {}",
        CLAIM_WAIT.as_millis(),
        taken.as_millis(),
        NODE_TTL.as_millis(),
        fenced.as_millis(),
        second.starts()
    );
}

#[test]
fn redis_restarted_empty_is_repopulated() {
    let _serial = serial();
    let Some((ffmpeg, input, mut redis)) = tools() else { return };
    let dir = TempDir::new("cluster-redis");
    let o1 = origin("o1", O1, &redis, &dir);
    let e1 = edge("e1", E1, &redis, &dir);
    let encoder = publisher(&ffmpeg, &input, &o1.url("live/cam"), false, &dir, "publisher");
    let rt = runtime();
    let player = Watch::start(&rt, "e1 player", &e1.url("live/cam"));
    receiving(&player, 25);
    assert_eq!(redis.query(&["EXISTS", CAM_RECORD]).as_deref(), Ok("1"), "the stream record");

    let killed = Instant::now();
    redis.kill();
    let failed = "heartbeat failed";
    assert!(
        wait_for(PATIENCE, || o1.count(&[failed]) >= 1 && e1.count(&[failed]) >= 1),
        "the nodes did not notice the directory was gone"
    );
    std::thread::sleep((2 * HEARTBEAT).saturating_sub(killed.elapsed()));
    let during = player.video_frames();
    assert!(player.wait_frames(10, PATIENCE), "the player stopped receiving while Redis was down");

    redis.restart_empty();
    let restarted = Instant::now();
    let down_for = killed.elapsed();
    let back = wait_for(PATIENCE, || redis.query(&["EXISTS", CAM_RECORD]).as_deref() == Ok("1"));
    let repopulated = restarted.elapsed();
    assert!(back, "the stream record never came back");
    let heartbeats = repopulated.as_secs_f64() / HEARTBEAT.as_secs_f64();
    assert!(heartbeats <= 5.0, "repopulated after {heartbeats:.1} heartbeats");
    receiving(&player, 25);
    assert!(player.ended().is_none(), "the player noticed: {:?}", player.ended());
    assert!(!encoder.ended(), "the publisher noticed");
    let gaps = player.gaps(killed);
    assert_eq!(gaps.decreases, 0, "{gaps:?}");
    assert_eq!(e1.owner("cam").as_deref(), Some("o1"));
    println!(
        "figures: Redis down {} ms (player got {} video frames meanwhile, longest gap {} ms); \
         restarted empty: the stream record back after {} ms = {heartbeats:.2} heartbeats of {} ms",
        down_for.as_millis(),
        player.video_frames() - during + 10,
        gaps.longest_wall.as_millis(),
        repopulated.as_millis(),
        HEARTBEAT.as_millis()
    );
}

#[test]
fn edges_parenting_each_other_are_refused() {
    let _serial = serial();
    // No directory needed: two nodes whose relay.pull rules name each other.
    let dir = TempDir::new("cluster-loop");
    let (p1, p2) = (free_port_on(E1), free_port_on(E2));
    let rule = |ip: &str, port: u16| {
        format!(
            "relay:\n  pull:\n    - app: live\n      origins: [\"rtmp://{ip}:{port}/{{app}}/{{stream}}\"]\n{NO_WEBRTC}"
        )
    };
    let e1 = Node::start("e1", E1, p1, &rule(E2, p2), &dir.0);
    let e2 = Node::start("e2", E2, p2, &rule(E1, p1), &dir.0);
    let rt = runtime();
    let started = Instant::now();
    let player = Watch::start(&rt, "e1 player", &e1.url("live/cam"));
    let refused = wait_for(PATIENCE, || e1.count(&["relay loop"]) + e2.count(&["relay loop"]) >= 1);
    assert!(refused, "no node refused the loop: {:?} {:?}", e1.log(), e2.log());
    let window = Duration::from_secs(5);
    std::thread::sleep(window.saturating_sub(started.elapsed()));
    let elapsed = started.elapsed().as_secs_f64();
    let attempts = |n: &Node| n.count(&["pull origin lost"]) + n.count(&["refused: relay loop"]);
    let (a1, a2) = (attempts(&e1), attempts(&e2));
    let reason =
        e1.log().into_iter().chain(e2.log()).find(|l| l.contains("relay loop")).unwrap_or_default();
    for (name, n) in [("e1", a1), ("e2", a2)] {
        assert!((n as f64) / elapsed < 5.0, "{name}: {n} upstream attempts in {elapsed:.1} s");
    }
    assert_eq!(player.video_frames(), 0);
    println!(
        "figures: loop refused; upstream attempts in {elapsed:.1} s: e1 {a1}, e2 {a2} \
         ({:.2}/s, {:.2}/s); reason: {reason}",
        a1 as f64 / elapsed,
        a2 as f64 / elapsed
    );
}
