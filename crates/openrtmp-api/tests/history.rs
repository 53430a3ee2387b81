//! End to end, without a browser: the dashboard's files (content types, CSP, ETag
//! revalidation, open without the token), the history routes and the server-sent events
//! (behind the token), and the history sampler's battery rule (parked while the server is
//! idle, woken by a connection). A real server on 127.0.0.1:0, a synthetic publish with
//! the RTMP client, raw HTTP/1.1 over TCP.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use openrtmp_api::ApiOptions;
use openrtmp_server::{Config, Server, ServerHandle};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "dash-token";

async fn start(token: Option<&str>) -> (ServerHandle, SocketAddr, SocketAddr) {
    let config = Config { listen: vec!["127.0.0.1:0".parse().unwrap()], ..Default::default() };
    let server = Server::bind(config).await.unwrap();
    let rtmp = server.local_addrs()[0];
    let handle = server.handle();
    tokio::spawn(server.run(std::future::pending()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    let options = ApiOptions { token: token.map(str::to_owned), ..Default::default() };
    tokio::spawn(openrtmp_api::serve(listener, handle.clone(), options, std::future::pending()));
    (handle, rtmp, api)
}

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One GET (`Connection: close`, so the body ends with the connection; not for endless
/// bodies), with extra header lines.
async fn get(api: SocketAddr, path: &str, headers: &[&str]) -> Reply {
    let mut s = TcpStream::connect(api).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await.unwrap().unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Reply { status, head, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
    out
}

#[tokio::test]
async fn dashboard_files_are_open_typed_cached_and_under_a_strict_policy() {
    let (_handle, _rtmp, api) = start(Some(TOKEN)).await;
    let index = get(api, "/", &[]).await;
    assert_eq!(index.status, 200, "the dashboard needs no token");
    assert_eq!(index.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = index.header("content-security-policy").unwrap();
    for part in
        ["default-src 'self'", "script-src 'self'", "media-src 'self' blob:", "object-src 'none'"]
    {
        assert!(csp.contains(part), "CSP {csp:?} lacks {part:?}");
    }
    assert!(csp.contains(&format!("connect-src 'self' ws://{api} wss://{api}")), "{csp}");
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    assert!(String::from_utf8_lossy(&index.body).contains("/assets/app.js"));
    let etag = index.header("etag").unwrap().to_owned();
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    let again = get(api, "/", &[&format!("If-None-Match: {etag}")]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    for (path, ty) in [
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/style.css", "text/css; charset=utf-8"),
        ("/assets/vendor/htm/preact-htm.module.js", "text/javascript; charset=utf-8"),
        ("/assets/vendor/uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
        ("/assets/vendor/mpegts/mpegts.js", "text/javascript; charset=utf-8"),
    ] {
        let r = get(api, path, &[]).await;
        assert_eq!((r.status, r.header("content-type")), (200, Some(ty)), "{path}");
        assert!(r.body.len() > 1000, "{path}");
        assert_ne!(r.header("etag"), Some(etag.as_str()));
    }
    assert_eq!(get(api, "/assets/nope.js", &[]).await.status, 404);
    assert_eq!(get(api, "/assets/../src/lib.rs", &[]).await.status, 404);
    // The data behind it needs the token.
    for path in ["/api/v1/history", "/api/v1/events", "/api/v1/streams/live/x/history"] {
        assert_eq!(get(api, path, &[]).await.status, 401, "{path}");
    }
}

#[tokio::test]
async fn history_routes_and_events_follow_a_live_stream() {
    use openrtmp_client::{publish_tags, Connection, PublishOptions, RtmpUrl};
    let (handle, rtmp, api) = start(Some(TOKEN)).await;
    let auth = format!("Authorization: Bearer {TOKEN}");
    let url = RtmpUrl::parse(&format!("rtmp://{rtmp}/live/cam")).unwrap();
    let publisher = tokio::spawn(async move {
        let mut conn = Connection::connect(&url, Default::default()).await.unwrap();
        conn.publish(&url.stream, openrtmp_proto::command::PublishType::Live).await.unwrap();
        let tags = openrtmp_testkit::synthetic_av(0, 20);
        publish_tags(&mut conn, &tags, &PublishOptions::default()).await.unwrap();
    });
    // Polled until three samples with media: a sample a second, so a few seconds.
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        let r = get(api, "/api/v1/streams/live/cam/history", &[&auth]).await;
        if r.status == 200 {
            let v = r.json();
            let kbps = v["samples"]["video_kbps"].as_array().unwrap().clone();
            if kbps.iter().filter(|k| k.as_f64() > Some(0.0)).count() >= 3 {
                break v;
            }
        }
        assert!(Instant::now() < deadline, "no history for live/cam: {}", r.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let samples = &stream["samples"];
    let n = samples["at_ms"].as_array().unwrap().len();
    for column in
        ["video_kbps", "audio_kbps", "fps", "keyframe_interval_ms", "viewers", "ingest_delay_ms"]
    {
        assert_eq!(samples[column].as_array().unwrap().len(), n, "{column}");
    }
    assert_eq!(stream["period_ms"], 1000);
    assert_eq!(stream["capacity"], 900);
    // The synthetic stream: a keyframe every second, ~420 kbit/s in all.
    let last = |c: &str| samples[c].as_array().unwrap().last().unwrap().as_f64().unwrap();
    assert_eq!(last("keyframe_interval_ms"), 1000.0);
    assert!(last("video_kbps") > 100.0 && last("audio_kbps") > 0.0, "{samples}");
    let verdicts = stream["verdicts"].as_array().unwrap();
    assert!(!verdicts.is_empty());
    assert!(verdicts.iter().all(|v| v["level"].is_string() && v["message"].is_string()));

    let server = get(api, "/api/v1/history", &[&auth]).await.json();
    let cols = &server["samples"];
    assert!(cols["at_ms"].as_array().unwrap().len() >= 3);
    assert_eq!(cols["streams"].as_array().unwrap().last().unwrap(), 1);
    assert!(cols["bitrate_in_kbps"].as_array().unwrap().last().unwrap().as_f64() > Some(100.0));
    assert_eq!(get(api, "/api/v1/streams/live/none/history", &[&auth]).await.status, 404);

    // Server-sent events: two `sample` events, each with the stream's newest sample.
    let mut s = TcpStream::connect(api).await.unwrap();
    let req = format!("GET /api/v1/events HTTP/1.1\r\nHost: {api}\r\n{auth}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while text.matches("event: sample").count() < 2 {
        let mut buf = [0u8; 8192];
        let n = tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "event stream closed: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    let data = text.lines().find(|l| l.starts_with("data: ")).unwrap();
    let event: Value = serde_json::from_str(&data["data: ".len()..]).unwrap();
    assert_eq!(event["server"]["at_ms"].as_array().unwrap().len(), 1);
    let stream = &event["streams"][0];
    assert_eq!((stream["app"].as_str(), stream["stream"].as_str()), (Some("live"), Some("cam")));
    assert_eq!(stream["samples"]["video_kbps"].as_array().unwrap().len(), 1);
    assert!(handle.stream_history("live", "cam").is_some());
    publisher.abort();
}

/// The battery rule: an idle server takes no samples (no timer runs), and a connection
/// wakes the sampler.
#[tokio::test]
async fn an_idle_server_parks_the_sampler_and_a_connection_wakes_it() {
    let (handle, rtmp, _api) = start(None).await;
    let updates = handle.history_updates();
    let deadline = Instant::now() + Duration::from_secs(10);
    while *updates.borrow() == 0 {
        assert!(Instant::now() < deadline, "no first sample");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The first sample found nothing: parked. Nothing for more than two periods.
    let parked_at = *updates.borrow();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(*updates.borrow(), parked_at, "the sampler ticked while the server was idle");
    let series = handle.history();
    assert_eq!(series.last().map(|s| s.connections), Some(0));
    assert!(series.len() >= 2, "the parked stretch reads as a zero sample for now");
    // A connection (it needs to say nothing) wakes it.
    let _conn = TcpStream::connect(rtmp).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !handle.history().iter().any(|s| s.connections == 1) {
        assert!(Instant::now() < deadline, "the sampler did not wake: {:?}", handle.history());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
