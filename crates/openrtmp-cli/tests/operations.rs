//! `openrtmp serve` operated as an administrator would: configuration files and their
//! errors, reload on SIGHUP while FFmpeg streams, the HTTP API and metrics, JSON logs,
//! graceful and forced shutdown.
//!
//! These tests judge behaviour, never the machine's speed (they run beside the whole
//! workspace's suites on 2 busy cores): every wait is for a condition, with a deadline far
//! beyond what a loaded machine needs, and no assertion bounds how long something took from
//! above. Fixed sleeps only guarantee a minimum interval (more load only lengthens it).

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

fn openrtmp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_openrtmp"))
}

/// How long a condition may take on a loaded machine before a test gives up. Passing tests
/// never wait this long: waits end as soon as their condition holds.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running `openrtmp serve` with its addresses and collected log.
struct Serve {
    child: ChildGuard,
    rtmp: String,
    api: String,
    log: Arc<Mutex<String>>,
    /// Set when the server's stderr reached its end (the process exited): the log is whole.
    log_ended: Arc<AtomicBool>,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        Serve::start_with_env(args, &[])
    }

    /// Starts with extra environment variables; returns once the RTMP listener and the API
    /// are up and, with `--config`, the file is watched.
    fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut child = openrtmp()
            .args(["serve", "--listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("OPENRTMP_CONFIG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        let log_ended = Arc::new(AtomicBool::new(false));
        let ended = Arc::clone(&log_ended);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Append before announcing, so whoever sees a line finds it in the log.
                sink.lock().unwrap().push_str(&(line.clone() + "\n"));
                let _ = tx.send(line);
            }
            ended.store(true, Ordering::SeqCst);
        });
        let (mut rtmp, mut api) = (None, None);
        // The file watcher is installed after the API starts: a change written before it is
        // missed, so wait for it too.
        let mut watching = !args.contains(&"--config");
        let end = Instant::now() + PATIENCE;
        while rtmp.is_none() || api.is_none() || !watching {
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
            watching |= line.contains("watching the configuration file");
        }
        Serve { child: ChildGuard(child), rtmp: rtmp.unwrap(), api: api.unwrap(), log, log_ended }
    }

    fn url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.rtmp)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The whole log of a server that has exited (its stderr read to the end).
    fn final_log(&self) -> String {
        assert!(
            wait_for(PATIENCE, || self.log_ended.load(Ordering::SeqCst)),
            "stderr still open: {}",
            self.log()
        );
        self.log()
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
        let play = openrtmp_client::PlayOptions { idle_timeout: PATIENCE, ..Default::default() };
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
    assert!(wait_for(PATIENCE, || server.get("/api/v1/server")["players"] == 2));
    let mut publisher = ffmpeg_publish(&ffmpeg, &fixture, &url);

    // The API while streaming: codec facts and filled delay histograms (how long the delays
    // are depends on the machine's load, so they are printed, not bounded).
    let stream_path = "/api/v1/streams/live/ops";
    let filled = |s: &serde_json::Value| {
        s["ingest_delay_ms"]["count"].as_u64().unwrap_or_default() > 50
            && s["distribution_delay_ms"]["count"].as_u64().unwrap_or_default() > 100
            && s["video_codec"] == "H.264"
    };
    assert!(wait_for(PATIENCE, || {
        let (status, body) = http("GET", &server.api, stream_path, None, None);
        status == 200 && serde_json::from_str(&body).is_ok_and(|s| filled(&s))
    }));
    // The bit rate is the byte delta between two calls over the time between them. The
    // server's two instants lie within the calls, which bounds the rate from both sides
    // whatever the load; the sampler needs at least 1 s between samples (the sleeps only
    // guarantee that minimum).
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    let first = server.get(stream_path);
    let t1 = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let t2 = Instant::now();
    let stream = server.get(stream_path);
    let t3 = Instant::now();
    assert_eq!((stream["width"].as_u64(), stream["height"].as_u64()), (Some(640), Some(360)));
    assert_eq!(stream["viewers"], 2);
    let relay = &stream["distribution_delay_ms"];
    assert!(relay["mean"].as_f64().is_some(), "{stream}");
    let bytes = stream["bytes_in"].as_u64().unwrap() - first["bytes_in"].as_u64().unwrap();
    let kbits = bytes as f64 * 8.0 / 1000.0;
    let (low, high) = (kbits / (t3 - t0).as_secs_f64(), kbits / (t2 - t1).as_secs_f64());
    let kbps = stream["bitrate_in_kbps"].as_f64().unwrap_or_default();
    assert!(bytes > 0 && kbps >= low - 0.1 && kbps <= high + 0.1, "{kbps} not in {low}..={high}");
    eprintln!(
        "measured: API bit rate {kbps:.0} kbit/s (file {file_kbps:.0}); relay delay p99 {} ms",
        relay["p99"]
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
    assert!(wait_for(PATIENCE, || server.get("/api/v1/config")["limits"]["max_connections"] == 50));
    assert!(wait_for(PATIENCE, || server.log().contains("configuration reloaded")));
    // Debug was off before the reload. (After it, anything may log at debug at any time: a
    // viewer that lags on a loaded machine logs "viewer too slow". So only the lines before
    // the reload are checked, and the new connection's own "accepted" line after it.)
    let log = server.log();
    let before = &log[..log.find("reloading the configuration").unwrap()];
    assert!(!before.contains("DEBUG"), "{before}");
    drop(std::net::TcpStream::connect(&server.rtmp).unwrap());
    assert!(
        wait_for(PATIENCE, || server
            .log()
            .lines()
            .any(|l| l.contains("DEBUG") && l.contains("accepted"))),
        "debug lines after the reload"
    );
    // An invalid file is refused; the running configuration stays.
    write_atomically(&config, "rtmp:\n  chunk_size: 1\n").unwrap();
    server.signal("HUP");
    assert!(wait_for(PATIENCE, || server.log().contains("reload refused")));
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

    let status = publisher.wait_timeout(PATIENCE).expect("publisher finishes");
    assert!(status.success(), "publisher stayed connected through the reloads");
    // The FFmpeg player got every frame too: it exits on the end-of-stream notice.
    let status = ffmpeg_player.wait_timeout(PATIENCE).expect("ffmpeg player exits at the end");
    assert!(status.success());
    assert_same_frames(&sent, &read_tags(&ffmpeg_out), "ffmpeg player through the reloads");
    let (arrivals, end) = rt.block_on(player).unwrap();
    assert_eq!(end, Some(openrtmp_client::PlayEnd::Eof));
    let video: Vec<Instant> = arrivals
        .iter()
        .filter(|(_, t)| *t == openrtmp_media::TagType::VIDEO)
        .map(|(at, _)| *at)
        .collect();
    // No gap: the player stayed connected through the reloads (Eof above) and got the
    // stream's frames; the worst arrival gap depends on the load, so it is printed.
    let worst = video.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
    assert!(video.len() > 150, "{} frames", video.len());
    eprintln!("measured: {} video frames, worst arrival gap {worst:?}", video.len());
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
        wait_for(PATIENCE, || server.get("/api/v1/config")["streams"]["gop_cache"] == "4s"),
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
    assert!(wait_for(PATIENCE, || server.log().contains("publish stop")));
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
    assert!(wait_for(PATIENCE, || {
        let info = server.get("/api/v1/server");
        info["publishers"] == 1 && info["players"] == 1
    }));
    let started = Instant::now();
    server.signal("TERM");
    let status = server.child.wait_timeout(PATIENCE).expect("server exits");
    let took = started.elapsed();
    assert!(status.success());
    // The grace period was given (load only lengthens it), and its end, not the 10 s
    // stream's, ended the server: both clients were cut and the stream interrupted.
    assert!(took >= Duration::from_millis(1800), "took {took:?}");
    let log = server.final_log();
    let summary =
        log.lines().find(|l| l.contains("shutdown complete")).unwrap_or_else(|| panic!("{log}"));
    assert!(
        summary.contains("connections_terminated=2")
            && summary.contains("streams_interrupted=1")
            && summary.contains("forced=true"),
        "{summary}"
    );
    assert!(log.contains("told the client the server is shutting down"), "{log}");
}

#[test]
fn a_second_signal_forces_the_shutdown() {
    let Some(ffmpeg) = ffmpeg() else { return };
    let fixture = Fixture::H264Aac { seconds: 10 }.path(&ffmpeg);
    let mut server = Serve::start(&["--shutdown-grace", "600"]);
    let _publisher = ffmpeg_publish(&ffmpeg, &fixture, &server.url("live/force"));
    assert!(wait_for(PATIENCE, || server.get("/api/v1/server")["publishers"] == 1));
    server.signal("TERM");
    // Two signals sent before the first is handled are one: wait until it was.
    assert!(wait_for(PATIENCE, || server.log().contains("stop signal forced=false")));
    server.signal("TERM");
    let status = server.child.wait_timeout(PATIENCE).expect("server exits");
    assert!(status.success());
    // Forced by the signal: the server left within PATIENCE, far inside the 600 s grace, and
    // not because everyone had gone (that ends a shutdown with forced=false).
    let log = server.final_log();
    assert!(log.contains("stop signal forced=true"), "{log}");
    let summary =
        log.lines().find(|l| l.contains("shutdown complete")).unwrap_or_else(|| panic!("{log}"));
    assert!(summary.contains("forced=true"), "{summary}");
}

/// What Kubernetes puts into every pod for a Service named `openrtmp`.
const KUBERNETES_ENV: &[(&str, &str)] = &[
    ("OPENRTMP_SERVICE_HOST", "10.96.0.12"),
    ("OPENRTMP_SERVICE_PORT", "1935"),
    ("OPENRTMP_PORT", "tcp://10.96.0.12:1935"),
    ("OPENRTMP_PORT_1935_TCP", "tcp://10.96.0.12:1935"),
    ("OPENRTMP_PORT_1935_TCP_PROTO", "tcp"),
    ("OPENRTMP_PORT_1935_TCP_PORT", "1935"),
    ("OPENRTMP_PORT_1935_TCP_ADDR", "10.96.0.12"),
];

/// Regression (issue 10): with the variables Kubernetes injects, `serve` refused to start
/// (`port: unknown key (from OPENRTMP_PORT)`). Now it starts and warns once per variable,
/// naming it but not its value; `config check` and `config dump` say the same.
#[test]
fn kubernetes_service_variables_are_skipped_with_one_warning_each() {
    let server = Serve::start_with_env(&[], KUBERNETES_ENV);
    assert_eq!(server.get("/health")["status"], "ok");
    let log = server.log();
    for (name, _) in KUBERNETES_ENV {
        let warnings: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("WARN") && l.split_whitespace().any(|w| w == format!("variable={name}"))
            })
            .collect();
        assert_eq!(warnings.len(), 1, "one warning for {name}:\n{log}");
        assert!(warnings[0].contains("not a configuration key"), "{}", warnings[0]);
    }
    assert!(!log.contains("10.96.0.12"), "values stay out of the log:\n{log}");

    let dir = TempDir::new("ops-k8s");
    let file = dir.path("openrtmp.yaml");
    std::fs::write(&file, "streams:\n  gop_cache: 3s\n").unwrap();
    let check = openrtmp()
        .args(["config", "check"])
        .arg(&file)
        .envs(KUBERNETES_ENV.iter().copied())
        .output()
        .unwrap();
    let dump = openrtmp()
        .args(["config", "dump", "--config"])
        .arg(&file)
        .envs(KUBERNETES_ENV.iter().copied())
        .output()
        .unwrap();
    for (what, out) in [("check", check), ("dump", dump)] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "config {what}: {err}");
        for (name, _) in KUBERNETES_ENV {
            let line = format!("warning: environment variable {name}: not a configuration key");
            assert_eq!(err.matches(&line).count(), 1, "config {what}: {name}:\n{err}");
        }
        assert!(!err.contains("10.96.0.12"), "config {what}:\n{err}");
    }
}

/// Regression (issue 10): the start-up line said `auth="none (any app, any stream)"` whatever
/// was configured. It now names what is enforced, and no secret.
#[test]
fn the_start_up_log_says_which_auth_is_enforced() {
    let dir = TempDir::new("ops-auth");
    let config = dir.path("openrtmp.yaml");
    std::fs::write(
        &config,
        "auth:\n  publish_keys:\n    live: [{ key: pub-s3cret }]\n    cam: [{ key: cam-s3cret }]\n  \
         play_tokens: { secret: tok-s3cret }\n  \
         acl: { publish: { allow: [127.0.0.1/32], deny: [10.0.0.0/8] }, play: { deny: [192.0.2.0/24] } }\n",
    )
    .unwrap();
    let server = Serve::start(&["--config", config.to_str().unwrap()]);
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("starting with these settings"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains(
            "auth=publish keys for 2 apps (cam, live); play tokens (every app); \
             ACL: 1 allow, 2 deny; brute-force limit: 5 failures per 60s"
        ),
        "{line}"
    );
    assert!(!log.contains("s3cret"), "{log}");

    let open = Serve::start(&[]);
    let log = open.log();
    assert!(log.contains("auth=none (any app, any stream)"), "{log}");
}

/// Regression (issue 10): a reload reported the whole `log` section as applied, but only the
/// level changes in a running server. Now the level is applied and the outputs (format,
/// file, rotation, stderr) are reported as needing a restart, and the running
/// configuration keeps the outputs in use.
#[test]
fn a_log_reload_reports_what_needs_a_restart() {
    let server = Serve::start(&[]);
    let (status, body) = http(
        "PATCH",
        &server.api,
        "/api/v1/config",
        None,
        Some(r#"{"log":{"level":"debug","format":"json","rotate_daily":true}}"#),
    );
    assert_eq!(status, 200, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["applied"], serde_json::json!(["log.level"]), "{reply}");
    assert_eq!(
        reply["needs_restart"],
        serde_json::json!(["log.format", "log.rotate_daily"]),
        "{reply}"
    );
    let log = &server.get("/api/v1/config")["log"];
    assert_eq!((log["level"].as_str(), log["format"].as_str()), (Some("debug"), Some("text")));
    assert_eq!(log["rotate_daily"], false);
    // True to the reply: the level changed (a new connection logs at debug), and the lines
    // are still text.
    drop(std::net::TcpStream::connect(&server.rtmp).unwrap());
    assert!(wait_for(PATIENCE, || server
        .log()
        .lines()
        .any(|l| l.contains("DEBUG") && l.contains("accepted") && !l.starts_with('{'))));
}
