//! The recordings API over real HTTP (issue 14): listing with filters and totals, downloads
//! with range requests (first bytes, middle, suffix, unsatisfiable), names from the URL that
//! try to leave the recording directory (`..`, encoded slashes, absolute paths), delete,
//! signed links bound to their path, and the deletion counter in `/metrics`.
//!
//! Requests are written by hand on a TCP socket so that paths reach the server exactly as
//! written (an HTTP client would normalise `..` away).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use openrtmp_record::name::from_unix_ms;
use openrtmp_record::{Format, SegmentName};
use openrtmp_server::{Config, Server};
use openrtmp_testkit::TempDir;
use serde_json::Value;

const TOKEN: &str = "rec-secret";
/// 2026-12-06T14:58:00.000Z.
const T0: u64 = 1_796_569_080_000;

struct Harness {
    api: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

fn start(dir: &Path) -> Harness {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let api = rt.block_on(async {
        let mut config =
            Config { listen: vec!["127.0.0.1:0".parse().unwrap()], ..Config::default() };
        config.record.dir = dir.to_owned();
        let server = Server::bind(config).await.unwrap();
        let handle = server.handle();
        tokio::spawn(server.run(std::future::pending()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = listener.local_addr().unwrap();
        let options = openrtmp_api::ApiOptions { token: Some(TOKEN.into()), ..Default::default() };
        tokio::spawn(openrtmp_api::serve(listener, handle, options, std::future::pending()));
        api
    });
    Harness { api, _rt: rt }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

impl Harness {
    /// One request, `path` sent verbatim; with the token unless `token` is false.
    fn send(&self, method: &str, path: &str, extra: &[(&str, &str)], token: bool) -> Reply {
        let mut s = TcpStream::connect(self.api).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.api);
        if token {
            req.push_str(&format!("Authorization: Bearer {TOKEN}\r\n"));
        }
        for (n, v) in extra {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("Content-Length: 0\r\n\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let cut = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
        let head = String::from_utf8_lossy(&raw[..cut]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Reply { status, headers, body: raw[cut + 4..].to_vec() }
    }
    fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], true)
    }
    fn range(&self, path: &str, range: &str) -> Reply {
        self.send("GET", path, &[("Range", range)], true)
    }
}

/// Bytes that differ at every offset of a small file.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A segment file under `dir`; returns its download path.
fn segment(
    dir: &Path,
    app: &str,
    stream: &str,
    rec: u64,
    seg: u64,
    fmt: Format,
    len: usize,
) -> (String, PathBuf) {
    let name = SegmentName::new(app, stream, from_unix_ms(rec), from_unix_ms(seg), fmt);
    let path = dir.join(name.relative_path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, pattern(len)).unwrap();
    (format!("/api/v1/recordings/{}", name.relative_path()), path)
}

#[test]
fn lists_recordings_newest_first_with_filters_and_totals() {
    let tmp = TempDir::new("api-rec-list");
    let dir = tmp.0.clone();
    segment(&dir, "live", "cam", T0, T0, Format::Mp4, 100);
    segment(&dir, "live", "cam", T0, T0 + 60_000, Format::Mp4, 200);
    segment(&dir, "tv", "news", T0 + 1000, T0 + 1000, Format::Flv, 300);
    let h = start(&dir);
    assert_eq!(h.send("GET", "/api/v1/recordings", &[], false).status, 401);
    let r = h.get("/api/v1/recordings");
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    assert_eq!(v["count"], 3);
    assert_eq!(v["total_bytes"], 600);
    assert_eq!(v["truncated"], false);
    let first = &v["recordings"][0];
    assert_eq!(first["app"], "live");
    assert_eq!(first["file"], "cam-20261206T145800.000Z-20261206T145900.000Z.mp4");
    assert_eq!(first["recording_id"], "cam-20261206T145800.000Z");
    assert_eq!(first["start"], "2026-12-06T14:59:00.000Z");
    assert_eq!(first["recording_start"], "2026-12-06T14:58:00.000Z");
    assert_eq!(first["format"], "mp4");
    assert_eq!(first["bytes"], 200);
    assert_eq!(first["recording"], false);
    assert_eq!(
        first["download"],
        "/api/v1/recordings/live/cam/cam-20261206T145800.000Z-20261206T145900.000Z.mp4"
    );
    assert_eq!(v["recordings"][1]["stream"], "news");
    let count = |q: &str| h.get(&format!("/api/v1/recordings?{q}")).json()["count"].clone();
    assert_eq!(count("app=tv"), 1);
    assert_eq!(count("app=live&stream=cam"), 2);
    assert_eq!(count("recording=cam-20261206T145800.000Z"), 2);
    // Durations are unknown here (not real recordings): a segment "ends" at its start.
    assert_eq!(count("from=2026-12-06T14:58:30Z"), 1);
    assert_eq!(count("to=1796569080"), 1, "Unix seconds");
    assert_eq!(count("from=2026-12-06T15:58:00.5%2B01:00&to=2026-12-06T14:58:01Z"), 1);
    assert_eq!(h.get("/api/v1/recordings?from=yesterday").status, 400);
    assert_eq!(h.get("/api/v1/recordings?bogus=1").status, 400);
}

#[test]
fn downloads_serve_ranges() {
    let tmp = TempDir::new("api-rec-range");
    let dir = tmp.0.clone();
    let (mp4, _) = segment(&dir, "live", "cam", T0, T0, Format::Mp4, 1000);
    let (flv, _) = segment(&dir, "live", "cam", T0, T0 + 1, Format::Flv, 10);
    let h = start(&dir);
    let data = pattern(1000);
    let whole = h.get(&mp4);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, data);
    assert_eq!(whole.header("content-type"), Some("video/mp4"));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.header("content-length"), Some("1000"));
    assert_eq!(h.get(&flv).header("content-type"), Some("video/x-flv"));
    for (range, first, last) in [
        ("bytes=0-99", 0, 99),
        ("bytes=500-599", 500, 599),
        ("bytes=-100", 900, 999),
        ("bytes=990-", 990, 999),
        ("bytes=995-5000", 995, 999),
    ] {
        let r = h.range(&mp4, range);
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {first}-{last}/1000").as_str()),
            "{range}"
        );
        assert_eq!(r.header("content-length"), Some((last - first + 1).to_string().as_str()));
        assert_eq!(r.body, data[first..=last], "{range}");
    }
    let r = h.range(&mp4, "bytes=1000-");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */1000"));
    // Several ranges: the whole file (RFC 9110 §14.2 lets a server ignore Range).
    assert_eq!(h.range(&mp4, "bytes=0-1,5-6").status, 200);
    // HEAD: the headers alone.
    let head = h.send("HEAD", &mp4, &[], true);
    assert_eq!((head.status, head.header("content-length")), (200, Some("1000")));
    assert!(head.body.is_empty());
    assert_eq!(h.send("GET", &mp4, &[], false).status, 401, "no token, no signature");
}

#[test]
fn names_that_leave_the_recording_directory_are_refused() {
    let tmp = TempDir::new("api-rec-traversal");
    let dir = tmp.0.join("rec");
    // A real segment outside the recording directory, reachable only by climbing out.
    let (_, secret) = segment(&tmp.0.join("outside"), "live", "cam", T0, T0, Format::Mp4, 64);
    let file = secret.file_name().unwrap().to_str().unwrap().to_owned();
    segment(&dir, "live", "cam", T0, T0 + 1, Format::Mp4, 8);
    let h = start(&dir);
    let abs = secret.display().to_string().replace('/', "%2F");
    for path in [
        format!("/api/v1/recordings/../outside/live/cam/{file}"),
        format!("/api/v1/recordings/..%2Foutside%2Flive/cam/{file}"),
        format!("/api/v1/recordings/live/..%2F..%2Foutside%2Flive%2Fcam/{file}"),
        format!("/api/v1/recordings/live/cam/..%2F..%2F..%2Foutside%2Flive%2Fcam%2F{file}"),
        format!("/api/v1/recordings/live/cam/{abs}"),
        format!("/api/v1/recordings/%2Fetc/cam/{file}"),
        "/api/v1/recordings/live/cam/%2Fetc%2Fpasswd".to_owned(),
        "/api/v1/recordings/live/cam/..".to_owned(),
    ] {
        let r = h.get(&path);
        assert!(matches!(r.status, 400 | 404), "{path}: {r:?}");
        assert_ne!(r.body, pattern(64), "{path} served the outside file");
        let d = h.send("DELETE", &path, &[], true);
        assert!(matches!(d.status, 400 | 404), "DELETE {path}: {d:?}");
    }
    assert!(secret.exists());
}

#[test]
fn delete_removes_a_segment_and_counts_it() {
    let tmp = TempDir::new("api-rec-delete");
    let dir = tmp.0.clone();
    let (url, path) = segment(&dir, "live", "cam", T0, T0, Format::Mp4, 10);
    let h = start(&dir);
    assert_eq!(h.send("DELETE", &url, &[], false).status, 401);
    let r = h.send("DELETE", &url, &[], true);
    assert_eq!(r.status, 204, "{r:?}");
    assert!(!path.exists());
    assert!(!dir.join("live").exists(), "emptied directories removed");
    assert_eq!(h.send("DELETE", &url, &[], true).status, 404);
    assert_eq!(h.get(&url).status, 404);
    assert_eq!(h.get("/api/v1/recordings").json()["count"], 0);
    let metrics = String::from_utf8(h.get("/metrics").body).unwrap();
    assert!(metrics.contains("openrtmp_recordings_deleted_total{reason=\"api\"} 1"), "{metrics}");
}

#[test]
fn signed_links_open_their_own_path_without_the_token() {
    let tmp = TempDir::new("api-rec-link");
    let dir = tmp.0.clone();
    let (url, _) = segment(&dir, "live", "cam", T0, T0, Format::Mp4, 100);
    let (other, _) = segment(&dir, "live", "cam", T0, T0 + 1, Format::Mp4, 100);
    let h = start(&dir);
    assert_eq!(h.send("POST", &format!("{url}/link"), &[], false).status, 401);
    let missing = url.replace("145800.000Z.mp4", "145800.005Z.mp4");
    assert_eq!(h.send("POST", &format!("{missing}/link"), &[], true).status, 404);
    let r = h.send("POST", &format!("{url}/link"), &[], true);
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    let link = v["url"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&format!("{url}?expires=")), "{link}");
    assert!(!link.contains(TOKEN));
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let expires = v["expires"].as_u64().unwrap();
    assert!(expires > now && expires <= now + 301, "{expires} vs {now}");
    let r = h.send("GET", &link, &[("Range", "bytes=10-19")], false);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, pattern(100)[10..20]);
    // Bound to its path and to its expiry.
    let query = link.split_once('?').unwrap().1;
    assert_eq!(h.send("GET", &format!("{other}?{query}"), &[], false).status, 401);
    let later =
        query.replace(&format!("expires={expires}"), &format!("expires={}", expires + 3600));
    assert_eq!(h.send("GET", &format!("{url}?{later}"), &[], false).status, 401);
    let past = query.replace(&format!("expires={expires}"), "expires=1");
    assert_eq!(h.send("GET", &format!("{url}?{past}"), &[], false).status, 401);
    // A link never deletes.
    assert_eq!(h.send("DELETE", &link, &[], false).status, 401);
}

mod support {
    pub mod browser;
}

/// The dashboard's Recordings view in headless Chromium: it lists an MP4 and an FLV segment
/// made by FFmpeg, plays the MP4 in its `<video>` (`currentTime` advances) and the FLV
/// through mpegts.js, both over signed links; no URL the page loads carries the token.
#[test]
fn chromium_lists_and_plays_recordings() {
    use support::browser::{Browser, CHROMEDRIVER, CHROMIUM};
    let Some(ffmpeg) = openrtmp_testkit::ffmpeg() else { return };
    let probe = &["--version"];
    let Some(_) = openrtmp_testkit::require_with("chromium", Some(CHROMIUM.into()), probe) else {
        return;
    };
    let Some(_) = openrtmp_testkit::require_with("chromedriver", Some(CHROMEDRIVER.into()), probe)
    else {
        return;
    };
    let started = std::time::Instant::now();
    let tmp = TempDir::new("api-rec-chromium");
    let dir = tmp.0.join("rec");
    let now = openrtmp_record::name::unix_ms(SystemTime::now());
    let mp4 = SegmentName::new("live", "cam", from_unix_ms(now), from_unix_ms(now), Format::Mp4);
    let flv = SegmentName::new(
        "live",
        "cam",
        from_unix_ms(now - 60_000),
        from_unix_ms(now - 60_000),
        Format::Flv,
    );
    for name in [&mp4, &flv] {
        std::fs::create_dir_all(dir.join(name.relative_path()).parent().unwrap()).unwrap();
    }
    // A fragmented MP4, as the recorder writes: 4 s of H.264 + AAC, a keyframe a second.
    let out = dir.join(mp4.relative_path());
    let made = openrtmp_testkit::run_ffmpeg(
        &ffmpeg,
        &[
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-movflags",
            "+frag_keyframe+empty_moov+default_base_moof",
            out.to_str().unwrap(),
        ],
    );
    made.unwrap_or_else(|e| panic!("ffmpeg: {e}"));
    openrtmp_testkit::make_h264_aac_flv(&ffmpeg, &dir.join(flv.relative_path()), 4);
    let h = start(&dir);
    let base = format!("http://{}", h.api);
    let browser = Browser::start();
    browser.go(&format!("{base}/"));
    browser.wait_js(
        "sign-in form",
        "return document.getElementById('token')",
        Duration::from_secs(20),
    );
    browser.type_into("#token", TOKEN);
    browser.click("form.signin button[type=submit]");
    browser.wait_js(
        "signed in",
        "return document.querySelector('header nav')",
        Duration::from_secs(20),
    );
    browser.go(&format!("{base}/#/recordings"));
    let rows = browser.wait_js(
        "both segments listed",
        "const r = document.querySelectorAll('table.recordings tbody tr'); return r.length === 2 && r.length",
        Duration::from_secs(20),
    );
    assert_eq!(rows, 2);
    let text = browser.eval("return document.querySelector('table.recordings').innerText");
    let text = text.as_str().unwrap_or_default();
    assert!(text.contains("MP4") && text.contains("FLV") && text.contains("live"), "{text}");
    for (name, what) in [(&mp4, "MP4 in <video>"), (&flv, "FLV through mpegts.js")] {
        browser.click(&format!("tr[data-file=\"{}\"] button.play", name.file_name()));
        let script = format!(
            "const v = document.getElementById('recording-video');
             return v && v.dataset.file === '{}' && v.currentTime > 0.5 && v.currentTime",
            name.file_name()
        );
        let t = browser.wait_js(what, &script, Duration::from_secs(30));
        eprintln!("{what}: currentTime {t} s");
    }
    let leaks = browser.eval(&format!(
        "return performance.getEntriesByType('resource').map(e => e.name)
           .concat([location.href]).filter(u => u.includes('{TOKEN}'))"
    ));
    assert_eq!(leaks, serde_json::json!([]), "the token is in a URL");
    let signed = browser.eval(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(u => u.includes('sig=')).length",
    );
    assert!(signed.as_u64().unwrap_or(0) >= 1, "the player used signed links: {signed}");
    eprintln!("chromium recordings test: {:?}", started.elapsed());
}
