//! The dashboard in a real browser (issue 13, "How it must be shown"): Debian's headless
//! Chromium driven over WebDriver (Debian's chromedriver, a few JSON requests with ureq)
//! against an in-process server and API while Debian's FFmpeg publishes a live test
//! pattern and a real FFmpeg player plays it over RTMP.
//!
//! Shown: the stream is listed, its charts hold history points (the charts' `data-points`),
//! kicking the player from the Connections page closes its connection (and FFmpeg exits),
//! and the preview plays over HTTP-FLV (first frame within 2 s, `currentTime` advancing,
//! less than 2 s buffered behind the received live edge; the figures are printed).
//! The API has a token: the test signs in through the page's form, and checks that no URL
//! the page loaded carries it. Screenshots of the overview, the streams list, the stream
//! page and the connections page go to
//! `target/tmp/screenshots/` (the path is printed).
//!
//! Every wait polls a condition until a generous deadline: nothing judges the machine's
//! speed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openrtmp_server::{Config, Server, ServerHandle};
use openrtmp_testkit::{require_with, Ffmpeg, TempDir};
use serde_json::json;

mod support {
    pub mod browser;
}

use support::browser::{wait_for, Browser, CHROMEDRIVER, CHROMIUM};
/// The API token: the page must ask for it, and never put it in a URL.
const TOKEN: &str = "dash-secret-token";

/// The server and API on a runtime of their own; the test thread drives the browser.
struct Harness {
    rt: tokio::runtime::Runtime,
    handle: ServerHandle,
    rtmp: SocketAddr,
    base: String,
}

fn start_server() -> Harness {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (handle, rtmp, base) = rt.block_on(async {
        let config = Config { listen: vec!["127.0.0.1:0".parse().unwrap()], ..Config::default() };
        let server = Server::bind(config).await.expect("bind");
        let rtmp = server.local_addrs()[0];
        let handle = server.handle();
        tokio::spawn(server.run(std::future::pending()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind API");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let options = openrtmp_api::ApiOptions { token: Some(TOKEN.into()), ..Default::default() };
        tokio::spawn(openrtmp_api::serve(
            listener,
            handle.clone(),
            options,
            std::future::pending(),
        ));
        (handle, rtmp, base)
    });
    Harness { rt, handle, rtmp, base }
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Status of a GET on the API listener, without reading a (possibly endless) body.
fn status_of(url: &str) -> u16 {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return 0 };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!("GET /{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return 0;
    }
    let mut head = [0u8; 64];
    let n = s.read(&mut head).unwrap_or(0);
    let text = String::from_utf8_lossy(&head[..n]);
    text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[test]
fn chromium_shows_the_live_stream_with_history_and_kicks_a_player() {
    let Some(ffmpeg) = openrtmp_testkit::ffmpeg() else { return };
    let Some(_) = require_with("chromium", Some(CHROMIUM.into()), &["--version"]) else { return };
    let Some(_) = require_with("chromedriver", Some(CHROMEDRIVER.into()), &["--version"]) else {
        return;
    };
    let started = Instant::now();
    let h = start_server();
    let tmp = TempDir::new("dashboard");
    let url = format!("rtmp://{}/live/cam", h.rtmp);
    // A live test pattern with audio, a keyframe every second, for at most a minute.
    let _publisher = Ffmpeg::spawn(
        &ffmpeg,
        "ffmpeg publisher",
        &[
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "60",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-f",
            "flv",
            &url,
        ],
        tmp.path("publisher.log"),
    );
    let history = wait_for(Duration::from_secs(20), || {
        h.handle.stream_history("live", "cam").filter(|s| s.samples.len() >= 4)
    });
    assert!(history.is_some(), "no history for live/cam within 20 s: {:?}", h.handle.streams());
    // A real RTMP player, to be kicked from the page.
    let mut player = Ffmpeg::spawn(
        &ffmpeg,
        "ffmpeg player",
        &["-i", &url, "-f", "null", "-"],
        tmp.path("player.log"),
    );
    let player_id = wait_for(Duration::from_secs(15), || {
        h.handle.connections().into_iter().find(|c| c.role == "player").map(|c| c.id)
    })
    .expect("the FFmpeg player's connection");

    let browser = Browser::start();
    let shots = screenshots_dir();

    // Sign-in: the API has a token; the page asks for it.
    browser.go(&format!("{}/", h.base));
    browser.wait_js(
        "the sign-in form",
        "return document.getElementById('token')",
        Duration::from_secs(15),
    );
    browser.type_into("#token", TOKEN);
    browser.click("form.signin button[type=submit]");

    // Overview: health, readiness, counts and the throughput chart with history.
    let points = browser.wait_js(
        "overview throughput chart with history",
        "const c = document.querySelector('[data-chart=throughput]');
         return c && Number(c.dataset.points) >= 4 && document.querySelector('[data-card=ready] .value').textContent === 'Ready'
           ? Number(c.dataset.points) : 0",
        Duration::from_secs(20),
    );
    println!("overview: throughput chart holds {points} points");
    browser.wait_js(
        "overview cards filled",
        "return document.querySelector('[data-card=connections] .value').textContent === '2'",
        Duration::from_secs(10),
    );
    // Let uPlot paint the newest data before the picture.
    std::thread::sleep(Duration::from_millis(300));
    browser.screenshot(&shots.join("dashboard-overview.png"));

    // Streams: listed, every chart with history points, a verdict shown.
    browser.go(&format!("{}/#/streams", h.base));
    let charts = browser.wait_js(
        "live/cam listed with charted history",
        "const s = document.querySelector('[data-stream=\"live/cam\"]');
         if (!s) return null;
         const charts = [...s.querySelectorAll('[data-chart]')].map(c => Number(c.dataset.points));
         const verdicts = s.querySelectorAll('.verdict').length;
         return charts.length === 5 && charts.every(n => n >= 4) && verdicts > 0 ? charts : null",
        Duration::from_secs(20),
    );
    println!("streams page: live/cam charts hold {charts} points");
    browser.screenshot(&shots.join("dashboard-streams.png"));
    let text =
        browser.eval("return document.querySelector('[data-stream=\"live/cam\"]').innerText");
    let text = text.as_str().unwrap_or_default().to_owned();
    assert!(text.contains("H.264") && text.contains("640×360"), "stream figures: {text}");

    // The stream's page: charts, viewers, targets; the preview once HTTP-FLV exists.
    browser.go(&format!("{}/#/stream/live/cam", h.base));
    browser.wait_js(
        "stream page with charts and its RTMP viewer",
        &format!(
            "const c = document.querySelector('[data-chart=\"live/cam-bitrate\"]');
             return c && Number(c.dataset.points) >= 4 && document.querySelector('tr[data-conn=\"{player_id}\"]')"
        ),
        Duration::from_secs(20),
    );
    let flv = format!("{}/live/live/cam.flv", h.base);
    assert_eq!(status_of(&flv), 200, "GET {flv}: the preview's HTTP-FLV source");
    preview(&browser);
    ws_preview(&browser);
    std::thread::sleep(Duration::from_millis(300));
    browser.screenshot(&shots.join("dashboard-stream.png"));

    // Connections: drill down into the player, kick it from its row.
    browser.go(&format!("{}/#/connections/{player_id}", h.base));
    browser.wait_js(
        "connection detail",
        &format!("return document.querySelector('[data-detail=\"{player_id}\"]')"),
        Duration::from_secs(10),
    );
    browser.screenshot(&shots.join("dashboard-connections.png"));
    browser.click(&format!("button[data-kick=\"{player_id}\"]"));
    let gone = wait_for(Duration::from_secs(10), || {
        (!h.handle.connections().iter().any(|c| c.id == player_id)).then_some(())
    });
    assert!(gone.is_some(), "connection {player_id} still open after the kick");
    assert!(
        player.child.wait_timeout(Duration::from_secs(10)).is_some(),
        "the kicked FFmpeg player did not exit"
    );
    browser.wait_js(
        "the kicked connection leaves the list",
        &format!("return !document.querySelector('tr[data-conn=\"{player_id}\"]')"),
        Duration::from_secs(10),
    );
    // The token went in headers only: no URL the page loaded carries it.
    let leaked = browser.eval(&format!(
        "return performance.getEntriesByType('resource').map(e => e.name)
           .concat([location.href]).filter(u => u.includes('{TOKEN}'))"
    ));
    assert_eq!(leaked, json!([]), "the token appeared in a URL");
    let csp: Vec<String> = browser
        .console()
        .into_iter()
        .filter(|m| m.contains("Content Security Policy") || m.contains("Uncaught"))
        .collect();
    assert!(csp.is_empty(), "the page broke its policy or threw: {csp:#?}");
    println!(
        "screenshots in {} (overview, streams, stream, connections); test took {:.1} s",
        shots.display(),
        started.elapsed().as_secs_f64()
    );
    drop(browser);
    h.rt.shutdown_timeout(Duration::from_secs(1));
}

/// WebSocket-FLV in the browser: mpegts.js in the page plays `ws://<host>/live/live/cam.flv`
/// (a second player made by the test, under the page's CSP): the first frame shows and
/// `currentTime` advances. Then it is destroyed.
fn ws_preview(browser: &Browser) {
    browser.eval(
        "const v = document.createElement('video');
         v.id = 'ws-preview'; v.muted = true; document.body.appendChild(v);
         const url = 'ws://' + location.host + '/live/live/cam.flv';
         const p = mpegts.createPlayer({ type: 'flv', isLive: true, url },
           { enableWorker: false, enableStashBuffer: false, liveBufferLatencyChasing: true });
         p.attachMediaElement(v); p.load(); const r = p.play(); if (r && r.catch) r.catch(() => {});
         window.wsPreview = p; window.wsStarted = performance.now();
         v.addEventListener('playing', () => { v.dataset.firstFrameMs =
           String(Math.round(performance.now() - window.wsStarted)); });
         return true",
    );
    let first = browser.wait_js(
        "the WebSocket-FLV preview's first frame",
        "const v = document.getElementById('ws-preview'); return v && v.dataset.firstFrameMs",
        Duration::from_secs(15),
    );
    let t0 = browser.eval("return document.getElementById('ws-preview').currentTime");
    let t0 = t0.as_f64().unwrap_or_default();
    std::thread::sleep(Duration::from_secs(1));
    let t1 = browser.eval("return document.getElementById('ws-preview').currentTime");
    let t1 = t1.as_f64().unwrap_or_default();
    println!("ws-flv preview: first frame {first} ms; currentTime {t0:.2} -> {t1:.2} s over 1 s");
    assert!(t1 > t0 + 0.3, "the WebSocket-FLV preview does not advance: {t0} -> {t1}");
    browser.eval(
        "window.wsPreview.destroy(); document.getElementById('ws-preview').remove(); return true",
    );
}

/// The preview plays: first frame within 2 s of creating the player, `currentTime`
/// advancing, and less than 2 s of media buffered behind the live edge. Measured and
/// printed.
fn preview(browser: &Browser) {
    let first = browser.wait_js(
        "the preview's first frame",
        "const v = document.getElementById('preview'); return v && v.dataset.firstFrameMs",
        Duration::from_secs(15),
    );
    let first_ms: f64 = first.as_str().and_then(|s| s.parse().ok()).expect("first-frame ms");
    let t0 = browser.eval("return document.getElementById('preview').currentTime");
    let t0 = t0.as_f64().unwrap_or_default();
    std::thread::sleep(Duration::from_secs(2));
    let probe = browser.eval(
        "const v = document.getElementById('preview');
         const b = v.buffered;
         return [v.currentTime, b.length ? b.end(b.length - 1) - v.currentTime : null, v.paused]",
    );
    let t1 = probe[0].as_f64().unwrap_or_default();
    let behind = probe[1].as_f64();
    println!(
        "preview: first frame {first_ms:.0} ms after the player started; currentTime {t0:.2} → \
         {t1:.2} s over 2 s; buffered ahead of the playhead (delay behind the received live \
         edge) {:?} s",
        behind
    );
    assert!(first_ms < 2000.0, "first frame after {first_ms} ms");
    assert!(t1 > t0 + 0.5, "currentTime does not advance: {t0} → {t1}");
    assert!(behind.is_some_and(|b| b < 2.0), "preview runs {behind:?} s behind live");
}
