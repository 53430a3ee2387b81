//! The load generator against a real, independent server: nginx with the RTMP module
//! (Debian: nginx + libnginx-mod-rtmp), on a free loopback port. Skips with a printed
//! reason when nginx is missing locally; fails when `CI` is set.
//!
//! Also: against a closed loopback port, every connection fails fast and is counted.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openrtmp_bench::{execute, BenchArgs, Mode};

const NGINX_RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// nginx, or `None` after printing why the test skips (a panic in CI).
fn nginx_or_skip() -> Option<PathBuf> {
    let nginx = PathBuf::from("nginx");
    let runs = Command::new(&nginx)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let missing = if !runs {
        Some("nginx is not on PATH (apt-get install nginx libnginx-mod-rtmp)".to_owned())
    } else if !Path::new(NGINX_RTMP_MODULE).exists() {
        Some(format!("{NGINX_RTMP_MODULE} is missing (apt-get install libnginx-mod-rtmp)"))
    } else {
        None
    };
    match missing {
        None => Some(nginx),
        Some(why) => {
            openrtmp_testkit::skip_or_fail(&why);
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
}

/// nginx-rtmp on 127.0.0.1 with `application live { live on; wait_key on; }`; killed and
/// its directory removed on drop.
struct Nginx {
    port: u16,
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    fn start(nginx: &Path) -> Nginx {
        let port = free_port();
        let dir = std::env::temp_dir()
            .join(format!("openrtmp-bench-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = format!(
            "load_module {NGINX_RTMP_MODULE};\n\
             daemon off;\nmaster_process off;\nworker_processes 1;\n\
             error_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
               application live {{ live on; wait_key on; }} }} }}\n",
            d = dir.display()
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Nginx { port, child, dir };
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "nginx did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_five_players_against_nginx() {
    let Some(nginx) = nginx_or_skip() else { return };
    let server = Nginx::start(&nginx);
    let args = BenchArgs {
        mode: Mode::Fanout,
        url: format!("rtmp://127.0.0.1:{}/live", server.port),
        players: 5,
        duration: 3.0,
        warmup_secs: 1.0,
        bitrate_kbps: 1000,
        // nginx has no GOP cache: with `wait_key on` players start at the next keyframe,
        // which must come before the window opens.
        gop_secs: 0.5,
        server_pid: Some(server.child.id()),
        quiet: true,
        ..BenchArgs::default()
    };
    let started = Instant::now();
    let summary = execute(&args).await.unwrap();
    let j = summary.to_json();
    eprintln!("{j}");
    assert!(started.elapsed() < Duration::from_secs(10), "run not bounded in time");
    assert_eq!(j["mode"], "fanout");
    assert_eq!((j["players"].as_u64(), j["publishers_ok"].as_u64()), (Some(5), Some(1)));
    assert_eq!(j["errors"], serde_json::json!({}));
    assert_eq!(
        (j["connect_failures"].as_u64(), j["connections_established"].as_u64()),
        (Some(0), Some(6))
    );
    assert_eq!(j["players_keeping_up"], 5, "{j}");
    assert_eq!(j["stalls"], 0);
    assert_eq!(j["ttff_ms"]["samples"], 5);
    // 30 fps for 2 s, 5 players: about 300 frames, all marked.
    let frames = j["video_frames_delivered"].as_u64().unwrap();
    assert!((250..=350).contains(&frames), "{frames} frames");
    assert_eq!(j["latency_ms"]["samples"].as_u64(), Some(frames));
    let delivered = j["delivered_mbps"].as_f64().unwrap();
    assert!((4.0..6.0).contains(&delivered), "{delivered} Mbit/s");
    assert!(j["server"]["cpu_secs"].as_f64().is_some(), "no server figures: {j}");
    assert!(j["server"]["rss_kb_loaded"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_against_nginx() {
    let Some(nginx) = nginx_or_skip() else { return };
    let server = Nginx::start(&nginx);
    let args = BenchArgs {
        mode: Mode::Idle,
        url: format!("rtmp://127.0.0.1:{}/live", server.port),
        players: 20,
        duration: 1.5,
        warmup_secs: 0.5,
        ramp_ms: 0,
        // Exercises binding to several loopback source addresses.
        source_ips: 3,
        quiet: true,
        ..BenchArgs::default()
    };
    let j = execute(&args).await.unwrap().to_json();
    assert_eq!((j["mode"].as_str(), j["idle_connections"].as_u64()), (Some("idle"), Some(20)));
    assert_eq!(j["connections_established"], 20, "{j}");
    assert_eq!(j["errors"], serde_json::json!({}));
}

#[tokio::test]
async fn closed_port_fails_fast_and_is_counted() {
    let port = free_port(); // free a moment ago: nothing listens there
    let args = BenchArgs {
        url: format!("rtmp://127.0.0.1:{port}/live"),
        players: 3,
        duration: 1.0,
        warmup_secs: 0.0,
        connect_timeout_secs: 2.0,
        quiet: true,
        ..BenchArgs::default()
    };
    let started = Instant::now();
    let j = execute(&args).await.unwrap().to_json();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(j["connect_failures"], 4);
    assert_eq!(j["connections_established"], 0);
    assert_eq!(j["errors"], serde_json::json!({"tcp_connect": 4}));
    assert_eq!(j["players_keeping_up"], 0);
    assert_eq!(j["player_mbps"]["max"], 0.0);
}
