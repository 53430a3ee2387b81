//! The shared end-to-end test kit (external tools, fixtures, nginx-rtmp, frame comparison).
#![allow(unused_imports, dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use openrtmp_testkit::*;

/// Polls `cond` every 20 ms until it holds or `limit` passes; then one last look.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// An FFmpeg publishing `file` to `url` in real time (`-re`, codecs copied).
pub fn ffmpeg_publish(ffmpeg: &Path, file: &Path, url: &str) -> ChildGuard {
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
