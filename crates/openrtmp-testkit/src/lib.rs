//! Test support shared by OpenRTMP's end-to-end suites (`tests/` of the server and the CLI):
//! external programs (Debian's FFmpeg 5.1, a current FFmpeg with Enhanced RTMP, nginx with
//! the RTMP module), cached fixtures, FLV frame comparison, process guards.
//!
//! A missing external program fails the test loudly in CI (`CI` set) and skips it with a
//! printed reason locally. Every test in the workspace that can skip does so through
//! [`skip_or_fail`], so no skip goes unnoticed in CI. What CI cannot have is not a skip: a
//! test for another OS is `#[cfg_attr(not(target_os = ...), ignore = "why")]`, which the
//! test runner reports as ignored, with the reason.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fixture;
pub mod pebble;
pub mod redis;
mod synthetic;

pub use fixture::{webrtc_clip, Fixture};
pub use synthetic::synthetic_av;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use openrtmp_media::flv_file::{FlvReader, FlvTag};
use openrtmp_media::{FrameKind, TagType};

// ---------------------------------------------------------------------------------------
// External tools
// ---------------------------------------------------------------------------------------

/// Where the current FFmpeg (with Enhanced RTMP) is when `FFMPEG_CURRENT` is unset.
pub const FFMPEG_CURRENT_FALLBACK: &str = "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v9.0.2";

/// Skips (locally: prints `SKIP: msg`) or fails (in CI, `CI` set, with `msg`): the one
/// way a test of this workspace skips. The caller returns after it.
#[track_caller]
pub fn skip_or_fail(msg: &str) {
    if in_ci() {
        panic!("{msg}: CI must provide it (see .ci/run)");
    }
    eprintln!("SKIP: {msg}");
}

/// Whether this is a CI run (`CI` set, to anything).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Returns `Some(path)` when `tool` runs. When it cannot: in CI (`CI` set) the test fails
/// loudly; locally it prints why it skips and returns `None`.
pub fn require(tool: &str, path: Option<PathBuf>) -> Option<PathBuf> {
    require_with(tool, path, &["-version"])
}

/// Like [`require`], for tools that answer another probe (`openssl version`, `pebble -h`).
pub fn require_with(tool: &str, path: Option<PathBuf>, probe: &[&str]) -> Option<PathBuf> {
    let path = path.unwrap_or_else(|| PathBuf::from(tool));
    let ok = Command::new(&path)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(path);
    }
    skip_or_fail(&format!("{tool} ({}) is not available", path.display()));
    None
}

/// Debian's FFmpeg 5.1 (`ffmpeg` on PATH): H.264/AAC over classic RTMP.
pub fn ffmpeg() -> Option<PathBuf> {
    require("ffmpeg", None)
}

/// The current FFmpeg (Enhanced RTMP: HEVC, AV1, VP9, Opus): `FFMPEG_CURRENT`, else
/// the local fallback path.
pub fn ffmpeg_current() -> Option<PathBuf> {
    let path = std::env::var_os("FFMPEG_CURRENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(FFMPEG_CURRENT_FALLBACK));
    require("ffmpeg (current, FFMPEG_CURRENT)", Some(path))
}

/// The soft limit on open files of this process (from /proc/self/limits).
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Resident memory of this process, bytes (VmRSS from /proc/self/status).
pub fn vm_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

// ---------------------------------------------------------------------------------------
// Processes and files
// ---------------------------------------------------------------------------------------

/// Kills (SIGKILL) the child when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ChildGuard {
    /// Waits for the child to exit, at most `limit`; kills it after that (and returns None).
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        None
    }
}

/// A fresh temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "openrtmp-test-{name}-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An FFmpeg process whose stderr goes to a log file (shown when it fails).
#[derive(Debug)]
pub struct Ffmpeg {
    pub child: ChildGuard,
    pub log: PathBuf,
    pub name: String,
}

impl Ffmpeg {
    /// Starts `ffmpeg -hide_banner -nostdin -loglevel error <args>`, stderr into `log`.
    pub fn spawn(ffmpeg: &Path, name: &str, args: &[&str], log: PathBuf) -> Ffmpeg {
        let file = std::fs::File::create(&log).expect("create ffmpeg log");
        let child = Command::new(ffmpeg)
            .args(["-hide_banner", "-nostdin", "-loglevel", "error"])
            .args(args)
            .env("SVT_LOG", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Ffmpeg { child: ChildGuard(child), log, name: name.to_owned() }
    }

    /// What it printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits at most `limit` and asserts it exited successfully.
    pub fn wait_success(&mut self, limit: Duration) {
        let status = self.child.wait_timeout(limit);
        match status {
            Some(s) if s.success() => {}
            Some(s) => panic!("{} failed ({s}):\n{}", self.name, self.log_text()),
            None => panic!("{} did not finish within {limit:?}:\n{}", self.name, self.log_text()),
        }
    }
}

/// Runs FFmpeg to completion (fixture making, decode checks); returns its stderr on failure.
pub fn run_ffmpeg(ffmpeg: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(ffmpeg)
        .args(["-hide_banner", "-nostdin"])
        .args(args)
        .env("SVT_LOG", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", ffmpeg.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(stderr)
    } else {
        Err(format!("{} {args:?} failed ({}):\n{stderr}", ffmpeg.display(), out.status))
    }
}

/// The codec names FFmpeg reports for the streams of `file` (`Stream #0:0: Video: hevc ...`),
/// e.g. `["hevc", "opus"]`. Works with the current FFmpeg, which reads Enhanced FLV (Debian's
/// ffprobe 5.1 does not).
pub fn stream_codecs(ffmpeg: &Path, file: &Path) -> Vec<String> {
    let out = Command::new(ffmpeg)
        .arg("-hide_banner")
        .arg("-i")
        .arg(file)
        .output()
        .expect("run ffmpeg -i");
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .filter(|l| l.trim_start().starts_with("Stream #"))
        .filter_map(|l| {
            let rest = l.split_once("Video: ").or_else(|| l.split_once("Audio: "))?.1;
            Some(rest.split([' ', ',']).next()?.to_owned())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// FLV tags and frame comparison
// ---------------------------------------------------------------------------------------

pub fn read_tags(path: &Path) -> Vec<FlvTag> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    FlvReader::new(std::io::BufReader::new(file)).map(|t| t.expect("valid flv tag")).collect()
}

/// Configuration rather than a frame: sequence headers, and Enhanced RTMP metadata packets
/// (video colorInfo, audio MultichannelConfig). Servers cache these and may send them to a
/// player in another order than the publisher did, so comparisons treat them as a set.
pub fn is_sequence_header(t: &FlvTag) -> bool {
    let config = |kind: FrameKind| kind == FrameKind::SequenceHeader || kind == FrameKind::Metadata;
    match t.tag_type {
        TagType::VIDEO => openrtmp_media::parse_video(&t.data)
            .is_ok_and(|v| v.is_sequence_header() || v.tracks.iter().any(|k| config(k.kind))),
        TagType::AUDIO => openrtmp_media::parse_audio(&t.data)
            .is_ok_and(|a| a.is_sequence_header() || a.tracks.iter().any(|k| config(k.kind))),
        _ => false,
    }
}

pub fn is_keyframe(t: &FlvTag) -> bool {
    t.tag_type == TagType::VIDEO
        && openrtmp_media::parse_video(&t.data).is_ok_and(|v| v.is_keyframe())
}

fn is_sequence_end(t: &FlvTag) -> bool {
    t.tag_type == TagType::VIDEO
        && openrtmp_media::parse_video(&t.data)
            .is_ok_and(|v| v.tracks.iter().all(|k| k.kind == FrameKind::SequenceEnd))
}

/// Audio and video frames (not sequence headers or ends, not metadata): what must arrive
/// intact. (FFmpeg's FLV muxer adds an end-of-sequence tag when it closes a file.)
pub fn frames(tags: &[FlvTag]) -> Vec<(TagType, Bytes)> {
    tags.iter().filter(|t| is_frame(t)).map(|t| (t.tag_type, t.data.clone())).collect()
}

/// Whether `t` is an audio or video frame (see [`frames`]).
pub fn is_frame(t: &FlvTag) -> bool {
    (t.tag_type == TagType::AUDIO || t.tag_type == TagType::VIDEO)
        && !is_sequence_header(t)
        && !is_sequence_end(t)
}

/// The distinct sequence headers, sorted (servers may send cached ones in another order).
pub fn sequence_headers(tags: &[FlvTag]) -> Vec<(TagType, Bytes)> {
    let mut v: Vec<_> = tags
        .iter()
        .filter(|t| is_sequence_header(t))
        .map(|t| (t.tag_type, t.data.clone()))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A frame for a failure message: type, length and the first bytes.
fn head(frame: &(TagType, Bytes)) -> String {
    let bytes: Vec<String> = frame.1.iter().take(24).map(|b| format!("{b:02x}")).collect();
    format!("{:?} {} bytes: {}", frame.0, frame.1.len(), bytes.join(" "))
}

/// Asserts `got` holds exactly the frames of `sent`, in order, byte-identical, and the same
/// sequence headers.
pub fn assert_same_frames(sent: &[FlvTag], got: &[FlvTag], who: &str) {
    let (want, have) = (frames(sent), frames(got));
    let first_diff = want.iter().zip(&have).position(|(w, h)| w != h);
    let shown = first_diff
        .map(|i| format!("\n  sent     {}\n  received {}", head(&want[i]), head(&have[i])));
    assert!(
        have.len() == want.len() && first_diff.is_none(),
        "{who}: sent {} frames, received {}; first difference at {first_diff:?}{}",
        want.len(),
        have.len(),
        shown.unwrap_or_default()
    );
    assert_eq!(sequence_headers(got), sequence_headers(sent), "{who}: sequence headers");
}

/// Asserts the frames of `got` are a contiguous run of the frames of `sent` (in order,
/// byte-identical), per media type, ending at the end of `sent`: what a player that joined
/// late must see. Returns how many frames of each type (video, audio) it received.
pub fn assert_suffix_frames(sent: &[FlvTag], got: &[FlvTag], who: &str) -> (usize, usize) {
    let mut counts = [0usize; 2];
    for (i, kind) in [TagType::VIDEO, TagType::AUDIO].into_iter().enumerate() {
        let want: Vec<_> = frames(sent).into_iter().filter(|f| f.0 == kind).collect();
        let have: Vec<_> = frames(got).into_iter().filter(|f| f.0 == kind).collect();
        assert!(!have.is_empty(), "{who}: no {kind:?} frames");
        assert!(have.len() <= want.len(), "{who}: more {kind:?} frames than sent");
        let tail = &want[want.len() - have.len()..];
        let diff = tail.iter().zip(&have).position(|(w, h)| w != h);
        assert!(
            diff.is_none(),
            "{who}: {kind:?} frames are not the last {} sent (differs at {diff:?})",
            have.len()
        );
        counts[i] = have.len();
    }
    (counts[0], counts[1])
}

/// A number unlikely to repeat within this process (temporary names).
fn unique() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish() % 1_000_000_000
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind port 0")
}

/// Copies the H.264 + AAC fixture (320x240, 25 fps, keyframe every second, 44.1 kHz stereo,
/// `seconds` long) to `out`.
pub fn make_h264_aac_flv(ffmpeg: &Path, out: &Path, seconds: u32) {
    std::fs::copy(Fixture::H264Aac { seconds }.path(ffmpeg), out).expect("copy fixture");
}

// ---------------------------------------------------------------------------------------
// nginx with the RTMP module: an independent server to interoperate with
// ---------------------------------------------------------------------------------------

/// Where nginx's RTMP module lives on Debian.
pub const NGINX_RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// nginx with the RTMP module (Debian `nginx` + `libnginx-mod-rtmp`).
pub fn nginx() -> Option<PathBuf> {
    let ok = Command::new("nginx").arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !ok.is_ok_and(|s| s.success()) {
        skip_or_fail("nginx is not available (apt-get install nginx libnginx-mod-rtmp)");
        return None;
    }
    if !Path::new(NGINX_RTMP_MODULE).exists() {
        skip_or_fail(&format!(
            "{NGINX_RTMP_MODULE} is missing (apt-get install libnginx-mod-rtmp)"
        ));
        return None;
    }
    Some(PathBuf::from("nginx"))
}

/// nginx with the RTMP module on a free loopback port: `application live { live on; }`.
#[derive(Debug)]
pub struct Nginx {
    pub port: u16,
    _child: ChildGuard,
    _dir: TempDir,
}

impl Nginx {
    pub fn start(nginx: &Path) -> Nginx {
        let dir = TempDir::new("nginx");
        let port = free_port();
        let conf = format!(
            "load_module {NGINX_RTMP_MODULE};\n\
             daemon off;\nmaster_process off;\nworker_processes 1;\n\
             error_log {dir}/error.log info;\npid {dir}/nginx.pid;\n\
             events {{ worker_connections 256; }}\n\
             rtmp {{\n  server {{\n    listen 127.0.0.1:{port};\n    chunk_size 4096;\n\
                 application live {{ live on; }}\n  }}\n}}\n",
            dir = dir.0.display()
        );
        let conf_path = dir.path("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new(nginx)
            .arg("-p")
            .arg(&dir.0)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let guard = ChildGuard(child);
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "nginx did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx { port, _child: guard, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{path}", self.port)
    }
}

// ---------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client for API tests (one request per connection)
// ---------------------------------------------------------------------------------------

/// Sends one HTTP request to `addr` and returns the status code and body.
pub fn http(
    method: &str,
    addr: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    (status, if chunked { dechunk(rest) } else { rest.to_owned() })
}

/// Decodes a chunked transfer-encoded body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
