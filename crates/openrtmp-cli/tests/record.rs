//! `openrtmp serve --record-all --record-dir DIR` as a process: FFmpeg publishes in real
//! time, the server is killed with SIGKILL mid-recording, and the FLV file left behind
//! reads cleanly to its last tag, holds the frames published so far byte for byte, and
//! decodes in FFmpeg (crash safety: every tag is appended with one write).

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

#[test]
fn record_all_survives_a_sigkill_with_a_playable_file() {
    let Some(ffmpeg) = ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 10 }.path(&ffmpeg);
    let dir = TempDir::new("cli-record");
    let rec = dir.path("rec");
    let mut child = Command::new(env!("CARGO_BIN_EXE_openrtmp"))
        .args(["serve", "--listen", "127.0.0.1:0", "--no-api", "--record-all"])
        .args(["--record-format", "flv", "--record-dir"])
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

    let _publisher = ffmpeg_publish(&ffmpeg, &input, &format!("rtmp://{addr}/live/cam"));
    assert!(
        wait_for(PATIENCE, || segments(&rec)
            .first()
            .is_some_and(|f| { std::fs::metadata(f).is_ok_and(|m| m.len() > 0) })),
        "no recording appeared"
    );
    // A minimum: some seconds of media are written before the kill.
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let _ = server.0.kill(); // SIGKILL
    let _ = server.0.wait();
    eprintln!("killed {:.1} s after the file appeared", started.elapsed().as_secs_f64());

    let files = segments(&rec);
    assert_eq!(files.len(), 1, "{files:?}");
    let mut reader =
        openrtmp_media::FlvReader::new(std::fs::File::open(&files[0]).expect("open recording"));
    let got: Vec<_> = reader.by_ref().map(|t| t.expect("a whole tag")).collect();
    assert_eq!(reader.previous_tag_size_mismatches(), 0);
    let sent = read_tags(&input);
    let (have, want) = (frames(&got), frames(&sent));
    assert!(have.len() > 50, "only {} frames recorded", have.len());
    let start = want.iter().position(|f| f == &have[0]).expect("the first frame was published");
    assert!(want[start..].starts_with(&have), "the recorded frames are the published ones");
    let path = files[0].to_str().expect("path");
    let log = run_ffmpeg(&ffmpeg, &["-v", "error", "-xerror", "-i", path, "-f", "null", "-"])
        .unwrap_or_else(|e| panic!("the recording does not decode: {e}"));
    assert!(log.trim().is_empty(), "decoder complained:\n{log}");
    eprintln!("{} frames recorded before the SIGKILL play cleanly", have.len());
}
