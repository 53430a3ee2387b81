//! The cluster test rig: `openrtmp serve` processes, each on its own loopback address
//! (127.0.0.11 o1, 127.0.0.12 o2, 127.0.0.21 e1, 127.0.0.22 e2), sharing a real
//! `redis-server` as their stream directory; FFmpeg publishers that an outer loop restarts
//! against another node when they exit (as an encoder reconnecting through a load balancer
//! would land elsewhere); players that record the arrival time and timestamp of every tag.
//!
//! Faults are the real ones: SIGKILL, SIGSTOP/SIGCONT (a partition: the process keeps its
//! sockets but answers nothing, its lease expires), Redis killed and restarted empty.
//!
//! The cluster runs with short timers so that a scenario takes seconds: lease TTL 3 s,
//! heartbeat 1 s, claim wait 4 s, pull linger 1 s (the defaults are 5 s, 1.5 s, 6 s, 10 s).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use openrtmp_client::{ConnectOptions, PlayOptions, Player, RtmpUrl};
use openrtmp_media::TagType;
use openrtmp_testkit::{http, is_keyframe, is_sequence_header, ChildGuard};

/// How long a condition may take on a loaded machine before a test gives up (a failure
/// bound, never a speed requirement).
pub const PATIENCE: Duration = Duration::from_secs(30);
/// The short cluster timers of the rig (see the module docs).
pub const NODE_TTL: Duration = Duration::from_secs(3);
pub const HEARTBEAT: Duration = Duration::from_secs(1);
pub const CLAIM_WAIT: Duration = Duration::from_secs(4);

/// The loopback addresses of the rig's nodes.
pub const O1: &str = "127.0.0.11";
pub const O2: &str = "127.0.0.12";
pub const E1: &str = "127.0.0.21";
pub const E2: &str = "127.0.0.22";

/// Tests run one at a time: five server processes, FFmpeg and Redis on two cores.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A port that was free a moment ago on `ip`.
pub fn free_port_on(ip: &str) -> u16 {
    TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("bind")
}

/// Polls `cond` every 50 ms until it holds or `limit` passes; then one last look.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// The nodes share the machine: WebRTC's fixed media port is left alone.
pub const NO_WEBRTC: &str = "webrtc:\n  enabled: false\n";

/// The YAML of a node in the Redis cluster (`edge`: plays pull from the directory's owner).
pub fn cluster_yaml(id: &str, redis_url: &str, edge: bool) -> String {
    format!(
        "cluster:\n  node_id: {id}\n  claim_wait: {claim}ms\n  directory:\n    kind: redis\n    \
         url: {redis_url:?}\n    node_ttl: {ttl}ms\n    heartbeat: {hb}ms\n\
         edge:\n  enabled: {edge}\nrelay:\n  pull_linger: 1s\n{NO_WEBRTC}",
        claim = CLAIM_WAIT.as_millis(),
        ttl = NODE_TTL.as_millis(),
        hb = HEARTBEAT.as_millis(),
    )
}

/// One `openrtmp serve` process of the rig; SIGKILLed when dropped.
pub struct Node {
    pub name: String,
    /// `ip:port` of its RTMP listener.
    pub rtmp: String,
    /// `ip:port` of its HTTP API.
    pub api: String,
    child: ChildGuard,
    log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    /// Starts node `name` on `ip` with the configuration `yaml` (written under `dir`);
    /// `rtmp_port` 0 takes a free one. Returns once its RTMP listener and API listen.
    pub fn start(name: &str, ip: &str, rtmp_port: u16, yaml: &str, dir: &Path) -> Node {
        let port = if rtmp_port == 0 { free_port_on(ip) } else { rtmp_port };
        let config = dir.join(format!("{name}.yaml"));
        std::fs::write(&config, yaml).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_openrtmp"))
            .args(["serve", "--unpublished-wait", "0", "--shutdown-grace", "2", "--config"])
            .arg(&config)
            .args(["--listen", &format!("{ip}:{port}"), "--api-listen", &format!("{ip}:0")])
            .env_remove("OPENRTMP_CONFIG")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn openrtmp serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let (sink, tag) = (Arc::clone(&log), name.to_owned());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("CLUSTER_LOG").is_some() {
                    eprintln!("{tag}: {line}");
                }
                let _ = tx.send(line.clone());
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let mut api = None;
        let mut listening = false;
        let end = Instant::now() + PATIENCE;
        while !listening || api.is_none() {
            let Ok(line) = rx.recv_timeout(end.saturating_duration_since(Instant::now())) else {
                panic!("{name} did not start: {}", log.lock().expect("log").join("\n"));
            };
            listening |= line.contains("listening (rtmp://");
            if line.contains("HTTP API listening") {
                let at = line.find("addr=").map(|i| i + 5);
                api = at.and_then(|i| line[i..].split_whitespace().next()).map(str::to_owned);
            }
        }
        Node {
            name: name.to_owned(),
            rtmp: format!("{ip}:{port}"),
            api: api.expect("api"),
            child: ChildGuard(child),
            log,
        }
    }

    /// `rtmp://ip:port/path`.
    pub fn url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.rtmp)
    }

    /// Its log so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Lines of its log containing every one of `needles`.
    pub fn count(&self, needles: &[&str]) -> usize {
        self.log().iter().filter(|l| needles.iter().all(|n| l.contains(n))).count()
    }

    /// `GET path` on its API: status and JSON (`Null` when not JSON).
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let (status, body) = http("GET", &self.api, path, None, None);
        (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
    }

    /// `POST path` on its API.
    pub fn post(&self, path: &str) -> (u16, String) {
        http("POST", &self.api, path, None, Some("{}"))
    }

    /// `GET /api/v1/streams/live/{stream}/route` (`Null` on 404).
    pub fn route(&self, stream: &str) -> serde_json::Value {
        let (status, body) = self.get(&format!("/api/v1/streams/live/{stream}/route"));
        if status == 200 {
            body
        } else {
            serde_json::Value::Null
        }
    }

    /// The route's owner as this node sees it.
    pub fn owner(&self, stream: &str) -> Option<String> {
        self.route(stream)["owner"].as_str().map(str::to_owned)
    }

    /// Connections with `role` on `live/{stream}` (`GET /api/v1/connections`).
    pub fn connections(&self, role: &str, stream: &str) -> usize {
        let (_, list) = self.get("/api/v1/connections");
        let list = list["connections"].as_array().cloned().unwrap_or_default();
        list.iter().filter(|c| c["role"] == role && c["stream"] == stream).count()
    }

    pub fn pid(&self) -> i32 {
        self.child.0.id() as i32
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status =
            Command::new("kill").args([&format!("-{signal}"), &self.pid().to_string()]).status();
        let ok = status.is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {}", self.name);
    }

    /// SIGKILL, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }

    /// Waits (at most `limit`) for it to exit by itself.
    pub fn exited_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A stopped process must be continued to die cleanly from SIGKILL's point of view
        // (it dies either way; this keeps its sockets from lingering in the rig's output).
        let pid = self.pid().to_string();
        let _ = Command::new("kill").args(["-CONT", &pid]).stderr(Stdio::null()).status();
    }
}

/// An FFmpeg publisher in a loop: `-re -stream_loop -1` of `input` to the current target;
/// when FFmpeg exits (refused, connection lost) it is started again against the target
/// then current after `retry` (the encoder's retry), unless `restart` is off.
pub struct FfmpegPublisher {
    target: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    child: Arc<Mutex<Option<Child>>>,
    starts: Arc<AtomicU32>,
    exited: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FfmpegPublisher {
    pub fn start(
        ffmpeg: &Path,
        input: &Path,
        url: &str,
        restart: bool,
        retry: Duration,
        log: PathBuf,
    ) -> FfmpegPublisher {
        let target = Arc::new(Mutex::new(url.to_owned()));
        let stop = Arc::new(AtomicBool::new(false));
        let child: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(None));
        let starts = Arc::new(AtomicU32::new(0));
        let exited = Arc::new(AtomicBool::new(false));
        let (ffmpeg, input) = (ffmpeg.to_owned(), input.to_owned());
        let (t, s, c, n, x) = (
            Arc::clone(&target),
            Arc::clone(&stop),
            Arc::clone(&child),
            Arc::clone(&starts),
            Arc::clone(&exited),
        );
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let url = t.lock().expect("target").clone();
                let file = std::fs::OpenOptions::new().create(true).append(true).open(&log);
                let spawned = Command::new(&ffmpeg)
                    .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
                    .args(["-stream_loop", "-1", "-i"])
                    .arg(&input)
                    .args(["-c", "copy", "-f", "flv", &url])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(file.map(Stdio::from).unwrap_or_else(|_| Stdio::null()))
                    .spawn()
                    .expect("spawn ffmpeg publisher");
                n.fetch_add(1, Ordering::SeqCst);
                *c.lock().expect("child") = Some(spawned);
                loop {
                    let done = c
                        .lock()
                        .expect("child")
                        .as_mut()
                        .is_none_or(|ch| ch.try_wait().ok().flatten().is_some());
                    if done || s.load(Ordering::SeqCst) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                if !restart {
                    break;
                }
                std::thread::sleep(retry);
            }
            x.store(true, Ordering::SeqCst);
        });
        FfmpegPublisher { target, stop, child, starts, exited, thread: Some(thread) }
    }

    /// Where the next start goes (the load balancer's choice).
    pub fn set_target(&self, url: &str) {
        *self.target.lock().expect("target") = url.to_owned();
    }

    /// FFmpeg processes started so far.
    pub fn starts(&self) -> u32 {
        self.starts.load(Ordering::SeqCst)
    }

    /// Whether the loop ended (a publisher without restart whose FFmpeg exited).
    pub fn ended(&self) -> bool {
        self.exited.load(Ordering::SeqCst)
    }
}

impl Drop for FfmpegPublisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a recorded player received: one entry per tag.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    pub at: Instant,
    pub timestamp: u32,
    pub kind: TagType,
    /// A video keyframe (not a sequence header).
    pub keyframe: bool,
    /// A coded frame (not a sequence header, not metadata).
    pub frame: bool,
    /// The frame's index when it comes from `synthetic_av` (payload bytes 5..9 of video).
    pub index: Option<u32>,
}

/// Our client playing `url`, every tag's arrival recorded; it plays until the test ends
/// (then the task is aborted) unless the server ends it, which is recorded with why.
pub struct Watch {
    pub name: String,
    pub arrivals: Arc<Mutex<Vec<Arrival>>>,
    pub ended: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    pub fn start(rt: &tokio::runtime::Runtime, name: &str, url: &str) -> Watch {
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(Mutex::new(None));
        let url = RtmpUrl::parse(url).expect("url");
        let (a, e) = (Arc::clone(&arrivals), Arc::clone(&ended));
        let task = rt.spawn(async move {
            let options = ConnectOptions {
                connect_timeout: Duration::from_secs(5),
                command_timeout: Duration::from_secs(5),
                ..Default::default()
            };
            let play = PlayOptions { idle_timeout: PATIENCE, ..Default::default() };
            let mut player = match Player::open(&url, options, play).await {
                Ok(p) => p,
                Err(error) => {
                    *e.lock().expect("ended") = Some(format!("open: {error}"));
                    return;
                }
            };
            let why = loop {
                match player.next_tag().await {
                    Ok(Some(tag)) => {
                        let header = is_sequence_header(&tag);
                        let arrival = Arrival {
                            at: Instant::now(),
                            timestamp: tag.timestamp,
                            kind: tag.tag_type,
                            keyframe: tag.tag_type == TagType::VIDEO && is_keyframe(&tag),
                            frame: tag.tag_type != TagType::SCRIPT && !header,
                            index: tag
                                .data
                                .get(5..9)
                                .and_then(|b| b.try_into().ok())
                                .map(u32::from_be_bytes),
                        };
                        a.lock().expect("arrivals").push(arrival);
                    }
                    Ok(None) => break format!("ended: {:?}", player.end()),
                    Err(error) => break format!("error: {error}"),
                }
            };
            *e.lock().expect("ended") = Some(why);
        });
        Watch { name: name.to_owned(), arrivals, ended, task }
    }

    /// Video frames received so far.
    pub fn video_frames(&self) -> usize {
        self.arrivals().iter().filter(|a| a.frame && a.kind == TagType::VIDEO).count()
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Why it ended, if it did.
    pub fn ended(&self) -> Option<String> {
        self.ended.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until it received `more` video frames beyond what it had.
    pub fn wait_frames(&self, more: usize, limit: Duration) -> bool {
        let start = self.video_frames();
        wait_for(limit, || self.video_frames() >= start + more)
    }

    /// The gaps between consecutive video frames received at or after `since`.
    pub fn gaps(&self, since: Instant) -> Gaps {
        Gaps::of(&self.arrivals(), since)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a player's video frames show.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gaps {
    pub frames: usize,
    /// The longest wall-clock time between two consecutive video frames.
    pub longest_wall: Duration,
    /// The media timestamps of the frames on each side of that gap.
    pub wall_gap_at: (u32, u32),
    /// The longest timestamp step between two consecutive video frames.
    pub longest_media_ms: u32,
    /// Times a track's timestamp went backwards (video or audio).
    pub decreases: usize,
}

impl Gaps {
    pub fn of(arrivals: &[Arrival], since: Instant) -> Gaps {
        let mut gaps = Gaps::default();
        let mut last_video: Option<Arrival> = None;
        let mut last_audio: Option<u32> = None;
        for a in arrivals.iter().filter(|a| a.frame && a.at >= since) {
            if a.kind == TagType::AUDIO {
                gaps.decreases += usize::from(last_audio.is_some_and(|t| a.timestamp < t));
                last_audio = Some(a.timestamp);
                continue;
            }
            gaps.frames += 1;
            if let Some(prev) = last_video {
                gaps.decreases += usize::from(a.timestamp < prev.timestamp);
                let wall = a.at.duration_since(prev.at);
                if wall > gaps.longest_wall {
                    gaps.longest_wall = wall;
                    gaps.wall_gap_at = (prev.timestamp, a.timestamp);
                }
                let media = a.timestamp.saturating_sub(prev.timestamp);
                gaps.longest_media_ms = gaps.longest_media_ms.max(media);
            }
            last_video = Some(*a);
        }
        gaps
    }
}

/// A client runtime for the players and our publisher.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
