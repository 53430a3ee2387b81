//! The publisher reconnect grace with real programs: `openrtmp serve`, an FFmpeg publisher
//! (lavfi testsrc + sine, libx264/aac) killed with SIGKILL and restarted 2 s later, and an
//! FFmpeg player that decodes throughout. The player must keep its one connection across the
//! kill (no reconnect), see timestamps that never go backwards, and, once the publisher is
//! killed for good, get its end of stream after the grace. A second `openrtmp serve`, an
//! edge pulling the stream on demand (`relay.pull`), has its own FFmpeg player, which must
//! ride through the same restart and end at most about a second after the origin's.
//!
//! Behaviour, not speed: waits are for conditions with generous deadlines; the figures
//! (longest gap, end-of-stream delay) are printed, and only bounded loosely.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

/// The grace the server is started with: 2 s of restart delay plus an FFmpeg start-up on a
/// busy machine fit well inside it.
const GRACE: Duration = Duration::from_secs(5);
const PATIENCE: Duration = Duration::from_secs(60);

/// `openrtmp serve` on a free port, with the grace from the environment
/// (`OPENRTMP_STREAMS__PUBLISHER_GRACE`) and players closed at the end of stream; `config`
/// is a configuration file (the edge's `relay.pull`).
fn serve(config: Option<&Path>) -> (ChildGuard, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_openrtmp"));
    command.args(["serve", "--listen", "127.0.0.1:0", "--no-api"]);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let child = command
        .env_remove("OPENRTMP_CONFIG")
        .env("OPENRTMP_STREAMS__PUBLISHER_GRACE", format!("{}s", GRACE.as_secs()))
        .env("OPENRTMP_STREAMS__UNPUBLISHED_WAIT", "0s")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let mut guard = ChildGuard(child);
    let stderr = guard.0.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if std::env::var_os("GRACE_TEST_LOG").is_some() {
                eprintln!("serve: {line}");
            }
            let _ = tx.send(line);
        }
    });
    let end = Instant::now() + PATIENCE;
    loop {
        let line = rx
            .recv_timeout(end.saturating_duration_since(Instant::now()))
            .expect("serve logs its address");
        if let Some(rest) = line.split("rtmp://").nth(1).filter(|_| line.contains("listening")) {
            let addr = rest.split('/').next().unwrap_or_default().to_owned();
            // Keep draining the log so the server never blocks on a full pipe.
            std::thread::spawn(move || while rx.recv().is_ok() {});
            return (guard, addr);
        }
    }
}

fn publisher(ffmpeg: &Path, url: &str) -> ChildGuard {
    let child = Command::new(ffmpeg)
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-bf", "0"])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn ffmpeg publisher");
    ChildGuard(child)
}

/// One decoded frame as the player's framecrc reports it: arrival, stream index, pts.
type Decoded = (Instant, u32, i64);

/// A running FFmpeg player: the process, its decoded frames so far, its log.
struct Player {
    child: ChildGuard,
    frames: Arc<Mutex<Vec<Decoded>>>,
    log: Arc<Mutex<String>>,
}

/// An FFmpeg player that decodes everything (timestamps passed through, never fixed up)
/// into framecrc on its stdout, read line by line as it arrives.
fn player(ffmpeg: &Path, url: &str) -> Player {
    let mut child = Command::new(ffmpeg)
        .args(["-hide_banner", "-nostdin", "-loglevel", "warning", "-i", url])
        .args(["-map", "0:v", "-map", "0:a", "-fps_mode", "passthrough"])
        .args(["-flush_packets", "1", "-f", "framecrc", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg player");
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let frames = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&frames);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let cols: Vec<&str> = line.split(',').map(str::trim).collect();
            if line.starts_with('#') || cols.len() < 3 {
                continue;
            }
            if let (Ok(stream), Ok(pts)) = (cols[0].parse(), cols[2].parse()) {
                sink.lock().unwrap().push((Instant::now(), stream, pts));
            }
        }
    });
    let log = Arc::new(Mutex::new(String::new()));
    let log_sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            log_sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    Player { child: ChildGuard(child), frames, log }
}

fn kill(child: &mut ChildGuard) {
    child.0.kill().expect("SIGKILL");
    let _ = child.0.wait();
}

#[test]
fn ffmpeg_players_on_origin_and_edge_stay_through_a_publisher_restart_and_end_after_the_grace() {
    let Some(ffmpeg) = ffmpeg() else { return };
    let (_server, addr) = serve(None);
    let url = format!("rtmp://{addr}/live/grace");
    let dir = std::env::temp_dir().join(format!("openrtmp-grace-edge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let edge_config = dir.join("edge.yaml");
    std::fs::write(
        &edge_config,
        format!(
            "relay:\n  pull:\n    - {{ app: live, stream: \"*\", origins: [\"rtmp://{addr}/live/{{stream}}\"] }}\n"
        ),
    )
    .unwrap();
    let (_edge, edge_addr) = serve(Some(&edge_config));
    let edge_url = format!("rtmp://{edge_addr}/live/grace");

    let mut first = publisher(&ffmpeg, &url);
    let Player { child: mut play, frames, log } = player(&ffmpeg, &url);
    let count = |stream: u32| frames.lock().unwrap().iter().filter(|f| f.1 == stream).count();
    assert!(
        wait_for(PATIENCE, || count(0) >= 50),
        "the player decodes no video: {}",
        log.lock().unwrap()
    );
    let edge_player = player(&ffmpeg, &edge_url);
    let edge_count =
        |stream: u32| edge_player.frames.lock().unwrap().iter().filter(|f| f.1 == stream).count();
    assert!(
        wait_for(PATIENCE, || edge_count(0) >= 25),
        "the edge player decodes no video: {}",
        edge_player.log.lock().unwrap()
    );
    let mut edge_play = edge_player.child;

    kill(&mut first);
    let killed = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    assert!(play.0.try_wait().unwrap().is_none(), "the player left while the publisher was away");
    assert!(edge_play.0.try_wait().unwrap().is_none(), "the edge player left");
    let before = count(0);
    let edge_before = edge_count(0);
    let mut second = publisher(&ffmpeg, &url);
    let restarted = Instant::now();
    let resumed = wait_for(PATIENCE, || count(0) >= before + 50);
    assert!(resumed, "no video from the restarted publisher:\n{}", log.lock().unwrap());
    assert!(play.0.try_wait().unwrap().is_none(), "the player reconnected or left");
    let edge_log = &edge_player.log;
    let resumed = wait_for(PATIENCE, || edge_count(0) >= edge_before + 50);
    assert!(resumed, "no video at the edge after the restart:\n{}", edge_log.lock().unwrap());
    assert!(edge_play.0.try_wait().unwrap().is_none(), "the edge player reconnected or left");

    kill(&mut second);
    let killed_again = Instant::now();
    let exited = play.wait_timeout(GRACE + PATIENCE);
    let ended_after = killed_again.elapsed();
    assert!(exited.is_some(), "the player never got its end of stream");
    let edge_exited = edge_play.wait_timeout(PATIENCE);
    let edge_ended_after = killed_again.elapsed();
    assert!(edge_exited.is_some(), "the edge player never got its end of stream");

    let frames = frames.lock().unwrap().clone();
    let log = log.lock().unwrap().clone();
    // Timestamps never went backwards, in either stream.
    for stream in [0, 1] {
        let pts: Vec<i64> = frames.iter().filter(|f| f.1 == stream).map(|f| f.2).collect();
        let back = pts.windows(2).position(|w| w[1] < w[0]);
        assert_eq!(back, None, "stream {stream}: pts went backwards at {back:?}: {pts:?}");
    }
    // The longest wait between two decoded frames, from before the first kill to the
    // restarted publisher's 50th video frame.
    let window = frames.iter().filter(|f| f.0 <= killed_again);
    let arrivals: Vec<Instant> = window.map(|f| f.0).collect();
    let (longest, at) = arrivals
        .windows(2)
        .map(|w| (w[1].duration_since(w[0]), w[0]))
        .max()
        .unwrap_or((Duration::ZERO, killed));
    eprintln!(
        "longest gap starts {} ms after the kill (restart at {} ms)",
        at.saturating_duration_since(killed).as_millis() as i64
            - killed.saturating_duration_since(at).as_millis() as i64,
        restarted.duration_since(killed).as_millis()
    );
    eprintln!(
        "player: {} frames decoded, longest gap across the restart {} ms (restart 2 s after the \
         kill); end of stream (player exit) {} ms after the final kill (grace {} ms)",
        frames.len(),
        longest.as_millis(),
        ended_after.as_millis(),
        GRACE.as_millis()
    );
    assert!(!log.contains("Non-monotonic") && !log.contains("non monotonically"), "{log}");
    let edge_frames = edge_player.frames.lock().unwrap().clone();
    let edge_log = edge_player.log.lock().unwrap().clone();
    for stream in [0, 1] {
        let pts: Vec<i64> = edge_frames.iter().filter(|f| f.1 == stream).map(|f| f.2).collect();
        let back = pts.windows(2).position(|w| w[1] < w[0]);
        assert_eq!(back, None, "edge stream {stream}: pts went backwards at {back:?}: {pts:?}");
    }
    let edge_arrivals: Vec<Instant> =
        edge_frames.iter().filter(|f| f.0 <= killed_again).map(|f| f.0).collect();
    let edge_longest =
        edge_arrivals.windows(2).map(|w| w[1].duration_since(w[0])).max().unwrap_or_default();
    eprintln!(
        "edge player: {} frames decoded, longest gap across the restart {} ms; end of stream \
         {} ms after the final kill ({} ms after the origin's player)",
        edge_frames.len(),
        edge_longest.as_millis(),
        edge_ended_after.as_millis(),
        edge_ended_after.saturating_sub(ended_after).as_millis()
    );
    assert!(!edge_log.contains("Non-monotonic"), "{edge_log}");
    assert!(
        edge_ended_after >= GRACE,
        "the edge player ended before the grace: {edge_ended_after:?}"
    );
    assert!(edge_ended_after < GRACE + Duration::from_secs(15), "edge end of stream far too late");
    let _ = std::fs::remove_dir_all(&dir);
    // The player was held through the grace, and not much longer.
    assert!(ended_after >= GRACE, "the player ended before the grace was over: {ended_after:?}");
    assert!(ended_after < GRACE + Duration::from_secs(15), "end of stream far too late");
}
