//! Relay push under faults, with real processes: one `openrtmp serve` (A) pushes a live
//! stream to three targets, each a separate `openrtmp serve`; one target is killed with
//! SIGKILL and restarted on the same port. The other two lose no frame; the killed one is
//! reported `backoff`, then `live` again, and its new publication starts with metadata,
//! sequence headers and a keyframe.
//!
//! The publisher is the repo's client publishing a synthetic stream (every frame carries
//! its index, so what each player got is checked frame by frame against what was sent).
//! The target is restarted 10 s after the kill, as the issue asks: by then the backoff
//! waits have grown to 4-8 s (1, 2, 4, 8 s with jitter in [d/2, d]), and the target must
//! be `live` again within the next wait plus the time to connect.
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
    let sent = synthetic_av(0, 32);
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

    // Restarted on the same port 10 s after the kill, with a player waiting on it.
    std::thread::sleep(Duration::from_secs(10).saturating_sub(killed_at.elapsed()));
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

/// FFmpeg publishes to A, which pushes to a real nginx-rtmp and, over RTMPS (trusted
/// through `relay.tls.ca_files`), to a second `openrtmp serve`; an FFmpeg player on each
/// receives the frames in order: all of them from OpenRTMP, nearly all from nginx-rtmp
/// (which may start its players a little late).
#[test]
fn ffmpeg_to_nginx_and_to_openrtmp_over_rtmps() {
    let Some(ffmpeg) = ffmpeg() else { return };
    let Some(nginx) = nginx() else { return };
    let nginx = Nginx::start(&nginx);
    let dir = TempDir::new("relay-faults-rtmps");
    let (cert, key, _) =
        openrtmp_tls::dev::write(&dir.0, &["openrtmp.test".to_owned()]).expect("dev cert");
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let rtmps_port = free_port();
    let rtmps_listen = format!("127.0.0.1:{rtmps_port}");
    let b = serve(
        &[
            "--listen",
            "127.0.0.1:0",
            "--rtmps-listen",
            &rtmps_listen,
            "--tls-cert",
            &cert_s,
            "--tls-key",
            &key_s,
        ],
        false,
    );
    let config = dir.path("a.yaml");
    std::fs::write(&config, format!("relay:\n  tls:\n    ca_files: [{cert_s:?}]\n"))
        .expect("config");
    let to_b = format!("rtmps://localhost:{rtmps_port}/{{app}}/{{stream}}");
    let to_nginx = nginx.url("{app}/{stream}");
    let config_s = config.display().to_string();
    let a = serve(
        &["--config", &config_s, "--listen", "127.0.0.1:0", "--push", &to_b, "--push", &to_nginx],
        true,
    );

    let input = Fixture::H264Aac { seconds: 6 }.path(&ffmpeg);
    let sent = read_tags(&input);
    // `-rw_timeout`: nginx-rtmp keeps a player connected after the stream ends; FFmpeg ends
    // (and finishes its file) after 3 s without data.
    let player = |name: &str, url: String| {
        let out = dir.path(&format!("{name}.flv"));
        let out_s = out.to_str().expect("path");
        let args = ["-rw_timeout", "3000000", "-i", url.as_str(), "-c", "copy", "-f", "flv", out_s];
        (Ffmpeg::spawn(&ffmpeg, name, &args, dir.path(&format!("{name}.log"))), out)
    };
    let (mut on_b, b_out) = player("player-b", format!("rtmp://{}/live/cam", b.rtmp));
    let (mut on_nginx, nginx_out) = player("player-nginx", nginx.url("live/cam"));
    std::thread::sleep(Duration::from_millis(500));
    let mut publisher = Ffmpeg::spawn(
        &ffmpeg,
        "ffmpeg publisher",
        &[
            "-re",
            "-i",
            input.to_str().expect("path"),
            "-c",
            "copy",
            "-f",
            "flv",
            &format!("rtmp://{}/live/cam", a.rtmp),
        ],
        dir.path("publisher.log"),
    );
    assert!(
        wait_for(PATIENCE, || (0..2).all(|i| target_state(&a, i).0 == "live")),
        "targets not live: {:?}",
        (0..2).map(|i| target_state(&a, i).1).collect::<Vec<_>>()
    );
    publisher.wait_success(PATIENCE);
    on_b.wait_success(PATIENCE);
    let ended = on_nginx.child.wait_timeout(PATIENCE);
    assert!(ended.is_some(), "FFmpeg on nginx-rtmp did not end: {}", on_nginx.log_text());

    let got_b = read_tags(&b_out);
    let (v, a_frames) =
        assert_suffix_frames(&sent, &got_b, "FFmpeg player on OpenRTMP (RTMPS push)");
    assert_eq!(v, video(&sent), "every video frame reaches the RTMPS target");
    let got_nginx = read_tags(&nginx_out);
    let (nv, na) = assert_suffix_frames(&sent, &got_nginx, "FFmpeg player on nginx-rtmp");
    assert!(nv * 10 >= video(&sent) * 9, "nginx player got {nv} of {} video frames", video(&sent));
    eprintln!("openrtmp over rtmps: {v} video {a_frames} audio; nginx: {nv} video {na} audio; sent {} video", video(&sent));
}

/// CPU time of process `pid` (user + system), from `/proc/PID/stat` (Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 (1-based), 12 and 13 after the name.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// Cost of pushing: one 6 Mbit/s stream pushed to 10 targets (all on one second `openrtmp
/// serve`), CPU seconds of the pushing server per Gbit pushed. A figure, not a check:
///
/// `cargo test --release -p openrtmp-cli --test relay_faults -- --ignored push_cost --nocapture`
#[test]
#[ignore = "a measurement: run it on purpose, in release"]
fn push_cost_ten_targets_of_a_6_mbit_stream() {
    const TARGETS: usize = 10;
    const SECONDS: u32 = 20;
    let b = serve(&["--listen", "127.0.0.1:0"], false);
    let push: Vec<String> =
        (0..TARGETS).map(|i| format!("rtmp://{}/live/{{stream}}-{i}", b.rtmp)).collect();
    let mut args = vec!["--listen", "127.0.0.1:0"];
    for url in &push {
        args.extend(["--push", url.as_str()]);
    }
    let a = serve(&args, true);
    // The synthetic stream with 60 KB keyframes and 28 KB other frames: about 6 Mbit/s.
    let sent: Vec<FlvTag> = synthetic_av(0, SECONDS)
        .into_iter()
        .map(|mut t| {
            if t.tag_type == TagType::VIDEO && t.data.len() > 100 {
                let mut data = t.data.to_vec();
                data.resize(if data[0] == 0x17 { 60_000 } else { 28_000 }, 0x55);
                t.data = data.into();
            }
            t
        })
        .collect();
    let bits: usize = sent.iter().map(|t| t.data.len() * 8).sum();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let rt = rt.expect("runtime");
    let url = RtmpUrl::parse(&format!("rtmp://{}/live/cam", a.rtmp)).expect("url");
    let publisher = rt.spawn(async move {
        let mut conn = Connection::connect(&url, options()).await.expect("connect");
        conn.publish(&url.stream, PublishType::Live).await.expect("publish");
        publish_tags(&mut conn, &sent, &Default::default()).await.expect("send");
        conn.close().await.expect("close");
    });
    assert!(
        wait_for(PATIENCE, || (0..TARGETS).all(|i| target_state(&a, i).0 == "live")),
        "not every target went live"
    );
    let pid = a.child.0.id();
    let (cpu0, t0) = (cpu_seconds(pid).expect("/proc"), Instant::now());
    let bytes0: u64 =
        (0..TARGETS).map(|i| target_state(&a, i).1["bytes_sent"].as_u64().unwrap_or(0)).sum();
    std::thread::sleep(Duration::from_secs(u64::from(SECONDS) - 6));
    let bytes1: u64 =
        (0..TARGETS).map(|i| target_state(&a, i).1["bytes_sent"].as_u64().unwrap_or(0)).sum();
    let (cpu1, wall) = (cpu_seconds(pid).expect("/proc"), t0.elapsed().as_secs_f64());
    let states: Vec<String> = (0..TARGETS).map(|i| target_state(&a, i).0).collect();
    rt.block_on(publisher).expect("publisher");
    let gbit = (bytes1 - bytes0) as f64 * 8.0 / 1e9;
    let cpu = cpu1 - cpu0;
    eprintln!(
        "push cost: stream {:.2} Mbit/s, {TARGETS} targets, {wall:.1} s: {gbit:.3} Gbit pushed \
         ({:.1} Mbit/s), server CPU {cpu:.2} s ({:.1} % of a core): {:.2} CPU s per pushed Gbit; \
         states {states:?}",
        bits as f64 / f64::from(SECONDS) / 1e6,
        gbit * 1e3 / wall,
        cpu / wall * 100.0,
        cpu / gbit,
    );
    assert!(states.iter().all(|s| s == "live"), "{states:?}");
}
