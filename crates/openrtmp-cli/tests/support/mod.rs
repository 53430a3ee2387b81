//! Shared helpers for the end-to-end tests: external programs (FFmpeg, nginx with the RTMP
//! module), free loopback ports, fixtures and process guards.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where nginx's RTMP module lives on Debian.
pub const NGINX_RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// Returns `Some(path)` when `tool` can run. When it cannot: in CI (`CI` set) the test fails
/// loudly; locally it prints why it skips and returns `None`.
pub fn require(tool: &str, path: Option<PathBuf>) -> Option<PathBuf> {
    let path = path.unwrap_or_else(|| PathBuf::from(tool));
    let ok = Command::new(&path)
        .arg(if tool == "nginx" { "-v" } else { "-version" })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(path);
    }
    let msg = format!("{tool} ({}) is not available", path.display());
    if std::env::var_os("CI").is_some() {
        panic!("{msg}: CI must install it (see .ci/run)");
    }
    eprintln!("SKIP: {msg}; install it to run this test");
    None
}

/// Debian's FFmpeg (`ffmpeg` on PATH).
pub fn ffmpeg() -> Option<PathBuf> {
    require("ffmpeg", None)
}

/// nginx with the RTMP module.
pub fn nginx() -> Option<PathBuf> {
    let nginx = require("nginx", None)?;
    if Path::new(NGINX_RTMP_MODULE).exists() {
        return Some(nginx);
    }
    let msg = format!("{NGINX_RTMP_MODULE} is missing (apt-get install libnginx-mod-rtmp)");
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("SKIP: {msg}");
    None
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind port 0")
}

/// Kills the child when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ChildGuard {
    /// Waits for the child to exit, at most `limit`; kills it after that.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        None
    }
}

/// A fresh temporary directory under the target dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "openrtmp-test-{name}-{}-{}",
            std::process::id(),
            rand_suffix()
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

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish() % 1_000_000
}

/// Makes an H.264 + AAC FLV with FFmpeg: `seconds` long, 320x240 at 25 fps, a keyframe every
/// second, 44.1 kHz stereo AAC.
pub fn make_h264_aac_flv(ffmpeg: &Path, out: &Path, seconds: u32) {
    let status = Command::new(ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &seconds.to_string()])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-ac", "2", "-b:a", "64k"])
        .args(["-f", "flv"])
        .arg(out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg failed to make the fixture");
}

/// nginx with the RTMP module on a free loopback port: `application live { live on; }`.
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
                 application live {{ live on; }}\n\
                 application closed {{ live on; deny publish all; deny play all; }}\n  }}\n}}\n",
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
            .stderr(Stdio::piped())
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
