//! `openrtmp serve --record-all --record-dir DIR` as a process: FFmpeg publishes in real
//! time, the server is killed with SIGKILL 10 s into the recording, and the file left
//! behind plays (crash safety: every FLV tag and every MP4 fragment is appended with one
//! write). FLV: it reads cleanly to its last tag, holds the frames published so far byte for
//! byte, and decodes in FFmpeg. Fragmented MP4 (the default format): FFmpeg decodes it
//! without an error and its frames are counted (every complete fragment: all but the GOP
//! being gathered at the kill).

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Bounds every wait; passing tests end their waits as soon as the condition holds.
const PATIENCE: Duration = Duration::from_secs(60);

/// The recordings of `live/cam` under `dir`.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join("live").join("cam")) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    files
}

/// How long the recording runs before the SIGKILL (the figure).
const KILL_AFTER: Duration = Duration::from_secs(10);

/// Starts `serve --record-all` (in `format`, or the default with `None`), lets FFmpeg
/// publish a 20 s fixture in real time, SIGKILLs the server [`KILL_AFTER`] into the
/// recording, and returns the one file left behind with the fixture.
fn record_then_sigkill(ffmpeg: &Path, format: Option<&str>, dir: &TempDir) -> (PathBuf, PathBuf) {
    let input = Fixture::H264Aac { seconds: 20 }.path(ffmpeg);
    let rec = dir.path("rec");
    let mut command = Command::new(env!("CARGO_BIN_EXE_openrtmp"));
    command.args(["serve", "--listen", "127.0.0.1:0", "--no-api", "--record-all"]);
    if let Some(format) = format {
        command.args(["--record-format", format]);
    }
    let mut child = command
        .arg("--record-dir")
        .arg(&rec)
        .env_remove("OPENRTMP_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut server = ChildGuard(child);
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let addr = lines
        .find_map(|l| Some(l.split("rtmp://").nth(1)?.split('/').next()?.to_owned()))
        .expect("serve logs its address");
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));

    let _publisher = ffmpeg_publish(ffmpeg, &input, &format!("rtmp://{addr}/live/cam"));
    assert!(
        wait_for(PATIENCE, || segments(&rec)
            .first()
            .is_some_and(|f| { std::fs::metadata(f).is_ok_and(|m| m.len() > 0) })),
        "no recording appeared"
    );
    let started = Instant::now();
    std::thread::sleep(KILL_AFTER);
    let _ = server.0.kill(); // SIGKILL
    let _ = server.0.wait();
    eprintln!("killed {:.1} s after the file appeared", started.elapsed().as_secs_f64());

    let files = segments(&rec);
    assert_eq!(files.len(), 1, "{files:?}");
    (files[0].clone(), input)
}

#[test]
fn record_all_flv_survives_a_sigkill_with_a_playable_file() {
    let Some(ffmpeg) = ffmpeg() else { return };
    let dir = TempDir::new("cli-record-flv");
    let (file, input) = record_then_sigkill(&ffmpeg, Some("flv"), &dir);
    let files = [file];
    let mut reader =
        openrtmp_media::FlvReader::new(std::fs::File::open(&files[0]).expect("open recording"));
    let got: Vec<_> = reader.by_ref().map(|t| t.expect("a whole tag")).collect();
    assert_eq!(reader.previous_tag_size_mismatches(), 0);
    let sent = read_tags(&input);
    let (have, want) = (frames(&got), frames(&sent));
    assert!(have.len() > 250, "only {} frames recorded in 10 s", have.len());
    let start = want.iter().position(|f| f == &have[0]).expect("the first frame was published");
    assert!(want[start..].starts_with(&have), "the recorded frames are the published ones");
    let path = files[0].to_str().expect("path");
    let log = run_ffmpeg(&ffmpeg, &["-v", "error", "-xerror", "-i", path, "-f", "null", "-"])
        .unwrap_or_else(|e| panic!("the recording does not decode: {e}"));
    assert!(log.trim().is_empty(), "decoder complained:\n{log}");
    eprintln!("{} frames recorded before the SIGKILL play cleanly", have.len());
}

#[test]
fn record_all_mp4_survives_a_sigkill_with_a_playable_file() {
    let Some(ffmpeg) = ffmpeg() else { return };
    let Some(ffprobe) = openrtmp_testkit::require("ffprobe", None) else { return };
    let dir = TempDir::new("cli-record-mp4");
    // No --record-format: fragmented MP4 is the default.
    let (file, _input) = record_then_sigkill(&ffmpeg, None, &dir);
    assert_eq!(file.extension().and_then(|e| e.to_str()), Some("mp4"), "{}", file.display());
    let path = file.to_str().expect("path");
    // Every frame FFmpeg decodes, counted per stream; no decoding error.
    let out = Command::new(&ffmpeg)
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i", path, "-f", "framecrc", "-"])
        .output()
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the recording does not decode:\n{stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    let video = text.lines().filter(|l| l.starts_with("0,")).count();
    let audio = text.lines().filter(|l| l.starts_with("1,")).count();
    let probe = Command::new(&ffprobe)
        .args(["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", path])
        .output()
        .expect("run ffprobe");
    let codecs =
        String::from_utf8_lossy(&probe.stdout).split_whitespace().collect::<Vec<_>>().join(",");
    eprintln!("{video} video and {audio} audio frames decode from the MP4 left by the SIGKILL ({codecs}); decoder said: {stderr:?}");
    assert_eq!(codecs, "h264,aac");
    // 10 s at 25 fps, less the GOP (1 s) being gathered when the server died, with room
    // for the time FFmpeg took to start: at least 7 s of frames.
    assert!(video >= 175, "only {video} video frames play");
    assert!(audio >= 7 * 43, "only {audio} audio frames play");
}

/// A graceful stop (SIGTERM) while a publisher is still sending: the server exits only once
/// the recording has closed its last segment (the GOP being gathered written as the last
/// fragment, the duration patched, the file synced, `record_done` sent), even when the
/// shutdown grace runs out with the publisher still there. Regression: the process exited
/// while the recording was closing, so the close could be lost.
#[test]
fn a_graceful_stop_closes_the_last_mp4_segment() {
    let Some(ffmpeg) = ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 20 }.path(&ffmpeg);
    let dir = TempDir::new("cli-record-term");
    let rec = dir.path("rec");
    let mut child = Command::new(env!("CARGO_BIN_EXE_openrtmp"))
        .args(["serve", "--listen", "127.0.0.1:0", "--no-api", "--record-all"])
        .args(["--shutdown-grace", "1", "--record-dir"])
        .arg(&rec)
        .env_remove("OPENRTMP_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let pid = child.id().to_string();
    let stderr = child.stderr.take().expect("stderr");
    let mut server = ChildGuard(child);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = rx
        .iter()
        .find_map(|l| Some(l.split("rtmp://").nth(1)?.split('/').next()?.to_owned()))
        .expect("serve logs its address");
    let _publisher = ffmpeg_publish(&ffmpeg, &input, &format!("rtmp://{addr}/live/cam"));
    assert!(
        wait_for(PATIENCE, || segments(&rec)
            .first()
            .is_some_and(|f| std::fs::metadata(f).is_ok_and(|m| m.len() > 0))),
        "no recording appeared"
    );
    std::thread::sleep(Duration::from_millis(2500));
    let term = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
    assert!(term.success());
    let status = wait_exit(&mut server.0, PATIENCE).expect("serve exits after SIGTERM");
    assert!(status.success(), "serve exit status {status:?}");
    let log: Vec<String> = rx.try_iter().collect();
    let closed = log.iter().any(|l| l.contains("recording segment closed"));
    let ended = log.iter().position(|l| l.contains("shutdown complete"));
    assert!(closed && ended.is_some(), "the segment closed before the exit:\n{}", log.join("\n"));

    let files = segments(&rec);
    assert_eq!(files.len(), 1, "{files:?}");
    let path = files[0].to_str().expect("path");
    let log = run_ffmpeg(&ffmpeg, &["-v", "error", "-xerror", "-i", path, "-f", "null", "-"])
        .unwrap_or_else(|e| panic!("the recording does not decode: {e}"));
    assert!(log.trim().is_empty(), "decoder complained:\n{log}");
}

/// Waits for `child` to exit, at most `limit`.
fn wait_exit(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}
