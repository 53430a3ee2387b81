//! `openrtmp serve` operated as an administrator would: configuration files and their
//! errors, reload on SIGHUP while FFmpeg streams, the HTTP API and metrics, JSON logs,
//! graceful and forced shutdown.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

fn openrtmp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_openrtmp"))
}

/// A running `openrtmp serve` with its addresses and collected log.
struct Serve {
    child: ChildGuard,
    rtmp: String,
    api: String,
    log: Arc<Mutex<String>>,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        let mut child = openrtmp()
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
                let _ = tx.send(line.clone());
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let (mut rtmp, mut api) = (None, None);
        let end = Instant::now() + Duration::from_secs(10);
        while rtmp.is_none() || api.is_none() {
            let line = rx
                .recv_timeout(end.saturating_duration_since(Instant::now()))
                .expect("serve logs its addresses");
            if line.contains("listening (rtmp://") {
                rtmp = line
                    .split("rtmp://")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                    .map(str::to_owned);
            }
            if line.contains("HTTP API listening") {
                api = field(&line, "addr");
            }
        }
        Serve { child: ChildGuard(child), rtmp: rtmp.unwrap(), api: api.unwrap(), log }
    }

    fn url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.rtmp)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn signal(&self, name: &str) {
        let pid = self.child.0.id().to_string();
        assert!(Command::new("kill").args([&format!("-{name}"), &pid]).status().unwrap().success());
    }

    fn get(&self, path: &str) -> serde_json::Value {
        let (status, body) = http("GET", &self.api, path, None, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }
}

/// `key=value` (text logs) or `"key":"value"` (JSON logs) in a log line.
fn field(line: &str, key: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
        return v
            .get(key)
            .and_then(|f| f.as_str().map(str::to_owned).or_else(|| Some(f.to_string())));
    }
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    Some(line[start..].split_whitespace().next()?.trim_matches('"').to_owned())
}

/// Replaces a file the way editors and config managers do (a new file renamed over the old
/// one), so the server's file watcher never reads a half-written file.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
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

fn ffmpeg_publish(ffmpeg: &Path, file: &Path, url: &str) -> ChildGuard {
    ChildGuard(
        Command::new(ffmpeg)
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-i"])
            .arg(file)
            .args(["-c", "copy", "-f", "flv", url])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn ffmpeg publisher"),
    )
}

#[test]
fn invalid_configuration_lists_every_problem_and_binds_nothing() {
    let dir = TempDir::new("ops-config");
    let bad = dir.path("bad.yaml");
    std::fs::write(
        &bad,
        "listen: [\"0.0.0.0:65536\"]\nrtmp:\n  chunk_size: 64\nstreams:\n  gop_cach: 2s\nlog:\n  format: xml\n",
    )
    .unwrap();
    let out = openrtmp().args(["serve", "--config"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in ["listen[0]", "rtmp.chunk_size", "streams.gop_cach", "log.format"] {
        assert!(err.contains(want), "{want} missing from:\n{err}");
    }
    let out = openrtmp().args(["config", "check"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rtmp.chunk_size"));

    // dump -> check round trip, in both formats; secrets redacted.
    let good = dir.path("good.yaml");
    std::fs::write(&good, "streams:\n  gop_cache: 3s\nlimits:\n  max_connections: 77\n").unwrap();
    for format in ["yaml", "json"] {
        let out = openrtmp()
            .args(["config", "dump", "--format", format, "--config"])
            .arg(&good)
            .env("OPENRTMP_API__TOKEN", "s3cret")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!text.contains("s3cret") && text.contains("redacted"), "{text}");
        assert!(text.contains("77"), "{text}");
        let dumped = dir.path(&format!("dump.{format}"));
        std::fs::write(&dumped, text.replace("<redacted>", "s3cret")).unwrap();
        let out = openrtmp().args(["config", "check"]).arg(&dumped).output().unwrap();
        assert!(
            out.status.success(),
            "dump does not check: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn reload_and_api_while_ffmpeg_streams() {
    let Some(ffmpeg) = ffmpeg() else { return };
    let fixture = Fixture::H264AacCbr { seconds: 8, kbps: 800 }.path(&ffmpeg);
    let sent = read_tags(&fixture);
    let file_bytes: usize = sent.iter().filter(|t| is_frame(t)).map(|t| t.data.len()).sum();
    let file_ms = sent.iter().map(|t| t.timestamp).max().unwrap_or(1);
    let file_kbps = file_bytes as f64 * 8.0 / f64::from(file_ms);

    let dir = TempDir::new("ops-reload");
    let config = dir.path("openrtmp.yaml");
    write_atomically(&config, "log:\n  level: info\nlimits:\n  max_connections: 100\n").unwrap();
    let server = Serve::start(&["--config", config.to_str().unwrap()]);
    let url = server.url("live/ops");

    // Our player (in-process, records arrival times), then FFmpeg publishing.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let player_url = openrtmp_client::RtmpUrl::parse(&url).unwrap();
    let player = rt.spawn(async move {
        let play = openrtmp_client::PlayOptions {
            idle_timeout: Duration::from_secs(10),
            ..Default::default()
        };
        let mut p = openrtmp_client::Player::open(&player_url, Default::default(), play)
            .await
            .expect("play");
        let mut arrivals = Vec::new();
        while let Some(tag) = p.next_tag().await.expect("tag") {
            arrivals.push((Instant::now(), tag.tag_type));
        }
        (arrivals, p.end())
    });
    let ffmpeg_out = dir.path("ffmpeg-player.flv");
    let mut ffmpeg_player = ChildGuard(
        Command::new(&ffmpeg)
            .args([
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                "-i",
                &url,
                "-c",
                "copy",
                "-f",
                "flv",
            ])
            .arg(&ffmpeg_out)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn ffmpeg player"),
    );
    assert!(wait_for(Duration::from_secs(5), || server.get("/api/v1/server")["players"] == 2));
    let mut publisher = ffmpeg_publish(&ffmpeg, &fixture, &url);

    // The API while streaming.
    assert!(wait_for(Duration::from_secs(5), || server.get("/api/v1/streams")["streams"]
        .as_array()
        .is_some_and(|s| !s.is_empty())));
    std::thread::sleep(Duration::from_millis(2000));
    let _ = server.get("/api/v1/streams/live/ops"); // first sample
    std::thread::sleep(Duration::from_millis(2500));
    let stream = server.get("/api/v1/streams/live/ops");
    assert_eq!(stream["video_codec"], "H.264", "{stream}");
    assert_eq!((stream["width"].as_u64(), stream["height"].as_u64()), (Some(640), Some(360)));
    assert_eq!(stream["viewers"], 2);
    // Delay histograms: the publisher is paced in real time (-re), the server relays at once.
    assert!(stream["ingest_delay_ms"]["count"].as_u64().unwrap_or_default() > 50, "{stream}");
    let relay = &stream["distribution_delay_ms"];
    assert!(relay["count"].as_u64().unwrap_or_default() > 100, "{stream}");
    assert!(relay["p99"].as_f64().is_some_and(|p99| p99 <= 50.0), "{stream}");
    let kbps = stream["bitrate_in_kbps"].as_f64().unwrap_or_default();
    assert!(
        (kbps - file_kbps).abs() <= file_kbps * 0.10,
        "API bitrate {kbps:.0} kbit/s vs file {file_kbps:.0}"
    );
    let server_info = server.get("/api/v1/server");
    assert_eq!(
        (server_info["publishers"].as_u64(), server_info["players"].as_u64()),
        (Some(1), Some(2)),
        "{server_info}"
    );
    let (status, metrics) = http("GET", &server.api, "/metrics", None, None);
    assert_eq!(status, 200);
    assert!(
        metrics.contains("openrtmp_stream_viewers{")
            && metrics.contains("stream=\"ops\"")
            && metrics.contains("openrtmp_stream_distribution_delay_seconds_bucket{")
            && metrics.contains("openrtmp_stream_ingest_delay_seconds_count{"),
        "{metrics}"
    );
    assert_eq!(server.get("/health")["status"], "ok");

    // Reload: a new log level and a new limit, no gap for the player.
    write_atomically(&config, "log:\n  level: debug\nlimits:\n  max_connections: 50\n").unwrap();
    server.signal("HUP");
    assert!(wait_for(Duration::from_secs(3), || server.get("/api/v1/config")["limits"]
        ["max_connections"]
        == 50));
    assert!(wait_for(Duration::from_secs(3), || server.log().contains("configuration reloaded")));
    // A new connection logs "accepted" at debug level: seen only after the reload.
    assert!(!server.log().contains("DEBUG"));
    drop(std::net::TcpStream::connect(&server.rtmp).unwrap());
    assert!(
        wait_for(Duration::from_secs(3), || server.log().contains("DEBUG")),
        "debug lines after the reload"
    );
    // An invalid file is refused; the running configuration stays.
    write_atomically(&config, "rtmp:\n  chunk_size: 1\n").unwrap();
    server.signal("HUP");
    assert!(wait_for(Duration::from_secs(3), || server.log().contains("reload refused")));
    assert_eq!(server.get("/api/v1/config")["limits"]["max_connections"], 50);
    // PATCH through the API.
    let (status, body) = http(
        "PATCH",
        &server.api,
        "/api/v1/config",
        None,
        Some(r#"{"limits":{"max_connections":40}}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.get("/api/v1/config")["limits"]["max_connections"], 40);

    let status = publisher.wait_timeout(Duration::from_secs(20)).expect("publisher finishes");
    assert!(status.success(), "publisher stayed connected through the reloads");
    // The FFmpeg player got every frame too: it exits on the end-of-stream notice.
    let status = ffmpeg_player
        .wait_timeout(Duration::from_secs(10))
        .expect("ffmpeg player exits at the end");
    assert!(status.success());
    assert_same_frames(&sent, &read_tags(&ffmpeg_out), "ffmpeg player through the reloads");
    let (arrivals, end) = rt.block_on(player).unwrap();
    assert_eq!(end, Some(openrtmp_client::PlayEnd::Eof));
    let video: Vec<Instant> = arrivals
        .iter()
        .filter(|(_, t)| *t == openrtmp_media::TagType::VIDEO)
        .map(|(at, _)| *at)
        .collect();
    let worst = video.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
    assert!(
        video.len() > 150 && worst < Duration::from_millis(300),
        "{} frames, worst gap {worst:?}",
        video.len()
    );
}

#[test]
fn a_changed_config_file_is_reloaded_without_a_signal() {
    let dir = TempDir::new("ops-watch");
    let config = dir.path("openrtmp.yaml");
    write_atomically(&config, "streams:\n  gop_cache: 2s\n").unwrap();
    let server = Serve::start(&["--config", config.to_str().unwrap()]);
    assert_eq!(server.get("/api/v1/config")["streams"]["gop_cache"], "2s");
    // Written the way editors do: a new file renamed over the old one.
    let tmp = dir.path("openrtmp.yaml.tmp");
    std::fs::write(&tmp, "streams:\n  gop_cache: 4s\n").unwrap();
    std::fs::rename(&tmp, &config).unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || server.get("/api/v1/config")["streams"]["gop_cache"]
            == "4s"),
        "{}",
        server.log()
    );
    assert!(server.log().contains("file changed"), "{}", server.log());
}

#[test]
fn json_logs_carry_connection_fields() {
    let server = Serve::start(&["--log-json"]);
    let Some(ffmpeg) = ffmpeg() else { return };
    let fixture = Fixture::H264Aac { seconds: 2 }.path(&ffmpeg);
    let out = openrtmp()
        .arg("publish")
        .arg(&fixture)
        .arg(server.url("live/json"))
        .arg("--fast")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(wait_for(Duration::from_secs(3), || server.log().contains("publish stop")));
    let log = server.log();
    let mut saw_publish = false;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{line}");
        if v["message"] == "publish start" {
            saw_publish = true;
            let span = &v["span"];
            assert!(span["conn_id"].is_number() && span["peer"].is_string(), "{line}");
            assert_eq!(span["app"], "live", "{line}");
        }
    }
    assert!(saw_publish, "{log}");
}

#[test]
fn graceful_shutdown_with_ffmpeg_clients_ends_within_the_grace_period() {
    let Some(ffmpeg) = ffmpeg() else { return };
    let fixture = Fixture::H264Aac { seconds: 10 }.path(&ffmpeg);
    let mut server = Serve::start(&["--shutdown-grace", "2"]);
    let url = server.url("live/bye");
    let _publisher = ffmpeg_publish(&ffmpeg, &fixture, &url);
    let dir = TempDir::new("ops-bye");
    let _player = ChildGuard(
        Command::new(&ffmpeg)
            .args([
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                "-i",
                &url,
                "-c",
                "copy",
                "-f",
                "flv",
            ])
            .arg(dir.path("out.flv"))
            .spawn()
            .unwrap(),
    );
    assert!(wait_for(Duration::from_secs(8), || {
        let info = server.get("/api/v1/server");
        info["publishers"] == 1 && info["players"] == 1
    }));
    let started = Instant::now();
    server.signal("TERM");
    let status = server.child.wait_timeout(Duration::from_secs(6)).expect("server exits");
    let took = started.elapsed();
    assert!(status.success());
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_millis(3500),
        "took {took:?}"
    );
    std::thread::sleep(Duration::from_millis(100));
    let log = server.log();
    let summary =
        log.lines().find(|l| l.contains("shutdown complete")).unwrap_or_else(|| panic!("{log}"));
    assert!(
        summary.contains("connections_terminated=2") && summary.contains("streams_interrupted=1"),
        "{summary}"
    );
    assert!(log.contains("told the client the server is shutting down"), "{log}");
}

#[test]
fn a_second_signal_forces_the_shutdown() {
    let Some(ffmpeg) = ffmpeg() else { return };
    let fixture = Fixture::H264Aac { seconds: 10 }.path(&ffmpeg);
    let mut server = Serve::start(&["--shutdown-grace", "30"]);
    let _publisher = ffmpeg_publish(&ffmpeg, &fixture, &server.url("live/force"));
    assert!(wait_for(Duration::from_secs(5), || server.get("/api/v1/server")["publishers"] == 1));
    let started = Instant::now();
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    let status = server.child.wait_timeout(Duration::from_secs(5)).expect("server exits");
    assert!(status.success());
    assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
    std::thread::sleep(Duration::from_millis(100));
    assert!(server.log().contains("forced=true"), "{}", server.log());
}
