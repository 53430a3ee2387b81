//! The `openrtmp` binary: publish, play, probe against nginx-rtmp, and its error messages.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{ChildGuard, Nginx, TempDir};

fn openrtmp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_openrtmp"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run openrtmp")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn version_and_help() {
    let out = run(openrtmp().arg("--version"));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout)
        .starts_with(concat!("openrtmp ", env!("CARGO_PKG_VERSION"))));
    let out = run(openrtmp().arg("--help"));
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["serve", "publish", "play", "probe"] {
        assert!(help.contains(sub), "help lists {sub}: {help}");
    }
}

#[test]
fn serve_starts_with_defaults_logs_them_and_serves() {
    use std::io::{BufRead, BufReader};
    let mut server = ChildGuard(
        openrtmp()
            .args(["serve", "--listen", "127.0.0.1:0", "--no-api"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn serve"),
    );
    let log = server.0.stderr.take().expect("stderr");
    let mut lines = BufReader::new(log).lines();
    let mut seen = String::new();
    let addr = loop {
        let Some(line) = lines.next() else {
            let status = server.0.wait();
            panic!("serve exited early ({status:?}); it logged:\n{seen}");
        };
        let line = line.expect("read log");
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.split("rtmp://").nth(1) {
            if line.contains("listening") {
                break rest.split('/').next().unwrap_or_default().to_owned();
            }
        }
    };
    assert!(
        seen.contains("starting with these settings") && seen.contains("chunk_size=4096"),
        "{seen}"
    );
    // It speaks RTMP: our client connects and is answered.
    let out = run(openrtmp().args([
        "probe",
        &format!("rtmp://{addr}/live/nothing"),
        "--duration",
        "0.5",
    ]));
    assert!(out.status.success(), "probe of a waiting stream: {}", stderr(&out));
}

#[test]
fn bad_urls_are_explained() {
    let dir = TempDir::new("cli-bad-url");
    let file = dir.path("x.flv");
    std::fs::write(&file, b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00").unwrap();
    let out = run(openrtmp().args(["play", "http://127.0.0.1/live/x"]));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unsupported scheme \"http\""), "{}", stderr(&out));
    let out = run(openrtmp().args(["probe", "rtmp://127.0.0.1"]));
    assert!(stderr(&out).contains("has no application name"), "{}", stderr(&out));
    let out = run(openrtmp().args(["play", "rtmp://127.0.0.1/live"]));
    assert!(stderr(&out).contains("has no stream name"), "{}", stderr(&out));
    let out = run(openrtmp().arg("publish").arg(&file).arg("rtmp://127.0.0.1/live"));
    assert!(
        stderr(&out).contains("no tags in file") || stderr(&out).contains("has no stream name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn refused_connection_is_explained() {
    let port = support::free_port();
    let out = run(openrtmp().args(["play", &format!("rtmp://127.0.0.1:{port}/live/x")]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot connect to 127.0.0.1:{port}")) && err.contains("refused"),
        "{err}"
    );
}

#[test]
fn missing_and_malformed_files_are_explained() {
    let dir = TempDir::new("cli-files");
    let out =
        run(openrtmp().arg("publish").arg(dir.path("nope.flv")).arg("rtmp://127.0.0.1/live/x"));
    assert!(
        // "No such file or directory (os error 2)" on Unix, "... (os error 2)" on Windows.
        stderr(&out).contains("nope.flv") && stderr(&out).contains("(os error 2)"),
        "{}",
        stderr(&out)
    );
    let junk = dir.path("junk.flv");
    std::fs::write(&junk, b"this is not an flv file at all").unwrap();
    let out = run(openrtmp().arg("publish").arg(&junk).arg("rtmp://127.0.0.1/live/x"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("junk.flv"), "{}", stderr(&out));
}

#[test]
fn publish_play_and_probe_through_nginx() {
    let (Some(ffmpeg), Some(nginx)) = (support::ffmpeg(), support::nginx()) else { return };
    let dir = TempDir::new("cli-nginx");
    let input = dir.path("in.flv");
    support::make_h264_aac_flv(&ffmpeg, &input, 4);
    let server = Nginx::start(&nginx);
    let url = server.url("live/cli?key=secret");

    let out_flv = dir.path("out.flv");
    let mut player = ChildGuard(
        openrtmp()
            .args(["play", &url, "-o"])
            .arg(&out_flv)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn play"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut publisher = ChildGuard(
        openrtmp()
            .arg("publish")
            .arg(&input)
            .arg(&url)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn publish"),
    );
    std::thread::sleep(Duration::from_millis(1500));

    // Probe mid-stream, while the publisher is live.
    let probe = run(openrtmp().args(["probe", &url, "--duration", "1.5"]));
    assert!(probe.status.success(), "probe failed: {}", stderr(&probe));
    let report: serde_json::Value =
        serde_json::from_slice(&probe.stdout).expect("probe prints JSON");
    assert_eq!(report["video"]["codec"], "H.264", "{report}");
    assert_eq!(
        (report["video"]["width"].as_u64(), report["video"]["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(report["audio"]["codec"], "AAC", "{report}");
    assert_eq!(report["audio"]["sample_rate"], 44100);
    let fps = report["video"]["fps"].as_f64().unwrap_or_default();
    assert!((20.0..=30.0).contains(&fps), "fps {fps}");
    assert!(report["bitrate_kbps"].as_f64().unwrap_or_default() > 10.0, "{report}");
    assert!(
        report["url"].as_str().is_some_and(|u| !u.contains("secret")),
        "keys never printed: {report}"
    );

    // A second publisher on the same key is refused by nginx with Publish.BadName.
    let second = run(openrtmp().arg("publish").arg(&input).arg(&url));
    assert!(!second.status.success());
    assert!(stderr(&second).contains("NetStream.Publish.BadName"), "{}", stderr(&second));

    let status = publisher.wait_timeout(Duration::from_secs(15)).expect("publisher ends");
    assert!(status.success());
    let status =
        player.wait_timeout(Duration::from_secs(10)).expect("player ends at end of stream");
    assert!(status.success());
    let file = std::fs::File::open(&out_flv).unwrap();
    let tags: Vec<_> = openrtmp_media::flv_file::FlvReader::new(file)
        .collect::<Result<_, _>>()
        .expect("valid FLV");
    let video = tags.iter().filter(|t| t.tag_type == openrtmp_media::TagType::VIDEO).count();
    assert!(video >= 100, "4 s at 25 fps: got {video} video tags");
}
