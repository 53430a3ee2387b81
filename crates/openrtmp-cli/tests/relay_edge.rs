//! The edge test with real processes: an edge `openrtmp serve` pulls on demand from
//! origin A with origin B as fall-back (each a separate `openrtmp serve` fed by its own
//! FFmpeg publisher of the same source); an FFmpeg player on the edge keeps decoding while
//! A is killed with SIGKILL. The longest gap in its frames and whether its timestamps stay
//! monotonic are measured and printed; the pull stops after the last player leaves (B's
//! player count through its API).
//!
//! Behaviour only, never speed: every wait is for a condition with a generous deadline.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

/// How long a condition may take on a loaded machine before the test gives up.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running `openrtmp serve` with its RTMP and API addresses.
struct Serve {
    child: ChildGuard,
    rtmp: String,
    api: String,
    log: Arc<Mutex<String>>,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_openrtmp"))
            .args(["serve", "--listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("OPENRTMP_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line.clone() + "\n"));
                let _ = tx.send(line);
            }
        });
        let (mut rtmp, mut api) = (None, None);
        let end = Instant::now() + PATIENCE;
        while rtmp.is_none() || api.is_none() {
            let line = rx
                .recv_timeout(end.saturating_duration_since(Instant::now()))
                .expect("serve logs its addresses");
            if line.contains("listening (rtmp://") {
                rtmp =
                    line.split("rtmp://").nth(1).and_then(|r| r.split('/').next()).map(Into::into);
            }
            if line.contains("HTTP API listening") {
                api = line
                    .split("addr=")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .map(|a| a.trim_matches('"').to_owned());
            }
        }
        Serve { child: ChildGuard(child), rtmp: rtmp.unwrap(), api: api.unwrap(), log }
    }

    fn url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.rtmp)
    }

    fn get(&self, path: &str) -> serde_json::Value {
        let (status, body) = http("GET", &self.api, path, None, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    fn players(&self) -> u64 {
        self.get("/api/v1/server")["players"].as_u64().unwrap_or(0)
    }

    fn streams(&self) -> usize {
        self.get("/api/v1/streams")["streams"].as_array().map_or(0, Vec::len)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// Decoded video frames of an FFmpeg player: arrival time and pts (ms), from `framemd5`.
type Frames = Arc<Mutex<Vec<(Instant, i64)>>>;

/// An FFmpeg player decoding `url` (video, timestamps passed through) into `framemd5`
/// lines, read as they come.
fn ffmpeg_player(ffmpeg: &Path, url: &str) -> (ChildGuard, Frames) {
    let mut child = Command::new(ffmpeg)
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i", url])
        .args(["-map", "0:v", "-copyts", "-vsync", "passthrough", "-f", "framemd5", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg player");
    let stdout = child.stdout.take().expect("stdout");
    let frames: Frames = Arc::default();
    let sink = Arc::clone(&frames);
    std::thread::spawn(move || {
        let mut time_base = 1.0f64;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // `#tb 0: 1/1000`, then `0, dts, pts, duration, size, md5`.
            if let Some(tb) = line.strip_prefix("#tb 0: ") {
                if let Some((n, d)) = tb.split_once('/') {
                    let (n, d) = (n.trim().parse().unwrap_or(1.0), d.trim().parse().unwrap_or(1.0));
                    time_base = n / d * 1000.0;
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if let Some(pts) = fields.get(2).and_then(|p| p.parse::<f64>().ok()) {
                sink.lock().unwrap().push((Instant::now(), (pts * time_base) as i64));
            }
        }
    });
    (ChildGuard(child), frames)
}

#[test]
fn edge_player_survives_its_origin_being_killed_and_the_pull_stops_after_it() {
    let Some(ffmpeg) = ffmpeg() else { return };
    let fixture = Fixture::H264Aac { seconds: 30 }.path(&ffmpeg);
    let mut a = Serve::start(&[]);
    let b = Serve::start(&[]);
    let _pa = ffmpeg_publish(&ffmpeg, &fixture, &a.url("live/cam"));
    let _pb = ffmpeg_publish(&ffmpeg, &fixture, &b.url("live/cam"));
    assert!(wait_for(PATIENCE, || a.streams() == 1 && b.streams() == 1), "origins not live");

    let dir = TempDir::new("relay-edge");
    let config = dir.path("edge.yaml");
    let yaml = format!(
        "relay:\n  pull_linger: 1s\n  pull:\n    - {{ app: live, origins: [\"{}\", \"{}\"] }}\n",
        a.url("{app}/{stream}"),
        b.url("{app}/{stream}")
    );
    std::fs::write(&config, yaml).unwrap();
    let edge = Serve::start(&["--config", config.to_str().unwrap()]);

    let (mut player, frames) = ffmpeg_player(&ffmpeg, &edge.url("live/cam"));
    assert!(
        wait_for(PATIENCE, || frames.lock().unwrap().len() >= 50),
        "the edge player decodes nothing: {}",
        edge.log()
    );
    assert_eq!((a.players(), b.players()), (1, 0), "the edge pulls from A first");

    // SIGKILL origin A under the pull.
    let killed = Instant::now();
    a.child.0.kill().expect("kill A");
    let _ = a.child.0.wait();
    let before = frames.lock().unwrap().len();
    assert!(
        wait_for(PATIENCE, || frames.lock().unwrap().len() >= before + 100),
        "the edge player stopped decoding after A died: {} frames; edge log:\n{}",
        frames.lock().unwrap().len(),
        edge.log()
    );
    assert!(player.0.try_wait().expect("player status").is_none(), "the player left");
    assert_eq!(b.players(), 1, "the edge moved to B");

    let frames = frames.lock().unwrap().clone();
    let gap = frames.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap_or_default();
    let backwards = frames.windows(2).filter(|w| w[1].1 < w[0].1).count();
    let after_kill: Vec<_> = frames.iter().filter(|(at, _)| *at >= killed).collect();
    let gap_at_kill = after_kill.first().map(|(at, _)| *at - killed);
    eprintln!(
        "edge fail-over (FFmpeg player): {} frames, longest gap {gap:?}, first frame {gap_at_kill:?} \
         after A was killed, pts went backwards {backwards} times (monotonic: {})",
        frames.len(),
        backwards == 0
    );
    assert_eq!(backwards, 0, "timestamps went backwards across the origin change");
    assert!(edge.log().contains("pull origin lost"), "{}", edge.log());

    // The last player leaves: after the linger the pull stops and leaves B.
    drop(player);
    assert!(
        wait_for(PATIENCE, || b.players() == 0),
        "the pull did not stop after the player left; edge log:\n{}",
        edge.log()
    );
    assert!(edge.log().contains("pull stops"), "{}", edge.log());
}
