//! Relay push under faults, with real processes: one `openrtmp serve` (A) pushes a live
//! stream to three targets, each a separate `openrtmp serve`; one target is killed with
//! SIGKILL and restarted on the same port. The other two lose no frame; the killed one is
//! reported `backoff`, then `live` again, and its new publication starts with metadata,
//! sequence headers and a keyframe.
//!
//! The publisher is the repo's client publishing a synthetic stream (every frame carries
//! its index, so what each player got is checked frame by frame against what was sent).
//! The restart gap is 5 s, not the 10 s, to keep the test well under 40 s: the
//! backoff after 5 s of refused connections (waits of at most 1, 2 and 4 s) is the same
//! situation, a few attempts in.
//!
//! Waits are for conditions with generous deadlines, never bounds on how fast.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use openrtmp_client::{publish_tags, ConnectOptions, Connection, PlayOptions, Player, RtmpUrl};
use openrtmp_media::flv_file::FlvTag;
use openrtmp_media::TagType;
use openrtmp_proto::command::PublishType;
use support::*;

/// How long a condition may take on a loaded machine before the test gives up.
const PATIENCE: Duration = Duration::from_secs(40);

/// A running `openrtmp serve`: its RTMP address and, if it has one, its API address.
struct Serve {
    child: ChildGuard,
    rtmp: String,
    api: Option<String>,
}

/// Starts `openrtmp serve` with `args`; returns once it listens (and its API does).
fn serve(args: &[&str], api: bool) -> Serve {
    let mut command = Command::new(env!("CARGO_BIN_EXE_openrtmp"));
    command.args(["serve", "--unpublished-wait", "0", "--shutdown-grace", "1"]);
    if api {
        command.args(["--api-listen", "127.0.0.1:0"]);
    } else {
        command.arg("--no-api");
    }
    let mut child = command
        .args(args)
        .env_remove("OPENRTMP_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openrtmp serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if std::env::var_os("RELAY_FAULTS_LOG").is_some() {
                eprintln!("serve: {line}");
            }
            let _ = tx.send(line);
        }
    });
    let (mut rtmp, mut api_addr) = (None, None);
    let end = Instant::now() + PATIENCE;
    while rtmp.is_none() || (api && api_addr.is_none()) {
        let line = rx
            .recv_timeout(end.saturating_duration_since(Instant::now()))
            .expect("serve logs its addresses");
        if line.contains("listening (rtmp://") {
            rtmp =
                line.split("rtmp://").nth(1).and_then(|r| r.split('/').next()).map(str::to_owned);
        }
        if line.contains("HTTP API listening") {
            let start = line.find("addr=").map(|i| i + 5);
            api_addr = start.and_then(|i| line[i..].split_whitespace().next()).map(str::to_owned);
        }
    }
    std::thread::spawn(move || while rx.recv().is_ok() {});
    Serve { child: ChildGuard(child), rtmp: rtmp.expect("rtmp"), api: api_addr }
}

/// A target on a fixed port (so it can be restarted there).
fn target(port: u16) -> Serve {
    serve(&["--listen", &format!("127.0.0.1:{port}")], false)
}

fn options() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

/// Plays `url` until the stream ends or the connection breaks: the tags received.
async fn play(url: String) -> Vec<FlvTag> {
    let url = RtmpUrl::parse(&url).expect("url");
    let play = PlayOptions {
        duration: Some(PATIENCE),
        idle_timeout: Duration::from_secs(20),
        ..Default::default()
    };
    let mut player = Player::open(&url, options(), play).await.expect("play");
    let mut tags = Vec::new();
    while let Ok(Some(tag)) = player.next_tag().await {
        tags.push(tag);
    }
    tags
}

/// The state of push target `id` on A (API), with the whole entry.
fn target_state(a: &Serve, index: usize) -> (String, serde_json::Value) {
    let api = a.api.as_deref().expect("A has an API");
    let (status, body) = http("GET", api, "/api/v1/streams/live/cam/targets", None, None);
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).expect("json");
    let entry = list.get(index).cloned().unwrap_or(serde_json::Value::Null);
    (entry["state"].as_str().unwrap_or("absent").to_owned(), entry)
}

fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

fn video(tags: &[FlvTag]) -> usize {
    frames(tags).iter().filter(|f| f.0 == TagType::VIDEO).count()
}

#[test]
fn three_targets_one_killed_and_restarted() {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut targets: Vec<Serve> = ports.iter().map(|&p| target(p)).collect();
    let push: Vec<String> =
        ports.iter().map(|p| format!("rtmp://127.0.0.1:{p}/{{app}}/{{stream}}")).collect();
    let mut args = vec!["--listen", "127.0.0.1:0"];
    for url in &push {
        args.extend(["--push", url.as_str()]);
    }
    let a = serve(&args, true);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // A player on every target, waiting for the stream.
    let players: Vec<_> =
        targets.iter().map(|t| rt.spawn(play(format!("rtmp://{}/live/cam", t.rtmp)))).collect();
    std::thread::sleep(Duration::from_millis(500));
    let sent = synthetic_av(0, 20);
    let url = RtmpUrl::parse(&format!("rtmp://{}/live/cam", a.rtmp)).expect("url");
    let to_publish = sent.clone();
    let publisher = rt.spawn(async move {
        let mut conn = Connection::connect(&url, options()).await.expect("connect");
        conn.publish(&url.stream, PublishType::Live).await.expect("publish");
        let stats = publish_tags(&mut conn, &to_publish, &Default::default()).await.expect("send");
        conn.close().await.expect("close");
        stats
    });
    assert!(
        wait_for(PATIENCE, || (0..3).all(|i| target_state(&a, i).0 == "live")),
        "not every target went live: {:?}",
        (0..3).map(|i| target_state(&a, i).1).collect::<Vec<_>>()
    );
    std::thread::sleep(Duration::from_secs(2));

    // SIGKILL the third target.
    let killed_at = Instant::now();
    let _ = targets[2].child.0.kill();
    let _ = targets[2].child.0.wait();
    assert!(
        wait_for(PATIENCE, || target_state(&a, 2).0 == "backoff"),
        "the killed target is not in backoff: {}",
        target_state(&a, 2).1
    );
    let (_, backoff) = target_state(&a, 2);
    eprintln!("killed target: backoff after {} ms: {backoff}", killed_at.elapsed().as_millis());
    assert!(backoff["retry_in_ms"].as_u64().is_some(), "{backoff}");
    assert!(backoff["last_error"].is_string(), "{backoff}");

    // Restarted on the same port 5 s after the kill, with a player waiting on it.
    std::thread::sleep(Duration::from_secs(5).saturating_sub(killed_at.elapsed()));
    targets[2] = target(ports[2]);
    let restarted_at = Instant::now();
    let late = rt.spawn(play(format!("rtmp://{}/live/cam", targets[2].rtmp)));
    let bound = Duration::from_secs(30) + Duration::from_secs(10);
    assert!(
        wait_for(bound, || target_state(&a, 2).0 == "live"),
        "the restarted target is not live again: {}",
        target_state(&a, 2).1
    );
    let (_, again) = target_state(&a, 2);
    eprintln!(
        "restarted target: live {} ms after the restart: {again}",
        restarted_at.elapsed().as_millis()
    );
    assert!(again["reconnects"].as_u64().unwrap_or(0) >= 1, "{again}");

    let stats = rt.block_on(publisher).expect("publisher");
    eprintln!("published {} tags", stats.tags);
    for (i, player) in players.into_iter().enumerate().take(2) {
        let got = rt.block_on(player).expect("player");
        assert_same_frames(&sent, &got, &format!("player on target {i}"));
    }
    let got = rt.block_on(late).expect("late player");
    // The new publication: metadata, sequence headers, then a keyframe first.
    let first = got.iter().position(is_frame).expect("frames after the restart");
    assert!(got[..first].iter().any(|t| t.tag_type == TagType::SCRIPT), "no metadata first");
    assert_eq!(sequence_headers(&got[..first]), sequence_headers(&sent), "sequence headers first");
    assert_eq!(got[first].tag_type, TagType::VIDEO, "the restart resumes with {:?}", got[first]);
    assert!(is_keyframe(&got[first]), "the restart does not resume on a keyframe");
    let (v, a_frames) = assert_suffix_frames(&sent, &got, "player on the restarted target");
    eprintln!("restarted target's player: {v} of {} video, {a_frames} audio frames", video(&sent));
}
