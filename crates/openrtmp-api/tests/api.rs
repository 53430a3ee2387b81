//! End to end: a real server on 127.0.0.1:0, the API served by `openrtmp_api::serve` on
//! another port, requests made with a blocking HTTP client (ureq) off the async workers.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openrtmp_api::{ApiOptions, ConfigPatcher, ConfigViewer, METRIC_NAMES};
use openrtmp_server::{Config, Server, ServerHandle};
use reqwest_free_http::Agent;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

struct Harness {
    base: String,
    rtmp: SocketAddr,
    handle: ServerHandle,
    server: JoinHandle<()>,
    token: Option<String>,
}

async fn start(options: ApiOptions) -> Harness {
    start_with(options, None).await
}

async fn start_with(options: ApiOptions, api_token: Option<&str>) -> Harness {
    let config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        api_listen: None,
        api_token: api_token.map(str::to_owned),
        ..Default::default()
    };
    start_config(config, options).await
}

async fn start_config(config: Config, options: ApiOptions) -> Harness {
    let server = Server::bind(config).await.unwrap();
    let rtmp = server.local_addrs()[0];
    let handle = server.handle();
    let server = tokio::spawn(server.run(std::future::pending()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let token = options.token.clone();
    tokio::spawn(openrtmp_api::serve(listener, handle.clone(), options, std::future::pending()));
    Harness { base, rtmp, handle, server, token }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    www_authenticate: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One request; `token` is sent as a bearer token when given.
async fn request(
    method: &'static str,
    url: String,
    token: Option<String>,
    body: Option<String>,
) -> Reply {
    tokio::task::spawn_blocking(move || {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let auth = token.map(|t| format!("Bearer {t}"));
        let result = match method {
            "GET" | "DELETE" => {
                let mut req = if method == "GET" { agent.get(&url) } else { agent.delete(&url) };
                if let Some(auth) = &auth {
                    req = req.header("authorization", auth);
                }
                req.call()
            }
            _ => {
                let mut req = if method == "POST" { agent.post(&url) } else { agent.patch(&url) };
                if let Some(auth) = &auth {
                    req = req.header("authorization", auth);
                }
                match body {
                    Some(body) => req.header("content-type", "application/json").send(body),
                    None => req.send_empty(),
                }
            }
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let www_authenticate = header("www-authenticate");
        Reply {
            status: response.status().as_u16(),
            content_type,
            www_authenticate,
            body: response.body_mut().read_to_string().unwrap(),
        }
    })
    .await
    .unwrap()
}

impl Harness {
    async fn get(&self, path: &str) -> Reply {
        request("GET", format!("{}{path}", self.base), self.token.clone(), None).await
    }
    async fn delete(&self, path: &str) -> Reply {
        request("DELETE", format!("{}{path}", self.base), self.token.clone(), None).await
    }
    async fn post(&self, path: &str) -> Reply {
        request("POST", format!("{}{path}", self.base), self.token.clone(), None).await
    }
    async fn post_json(&self, path: &str, body: &str) -> Reply {
        let body = Some(body.to_owned());
        request("POST", format!("{}{path}", self.base), self.token.clone(), body).await
    }
    async fn patch(&self, path: &str, body: &str) -> Reply {
        let body = Some(body.to_owned());
        request("PATCH", format!("{}{path}", self.base), self.token.clone(), body).await
    }

    /// Polls `/api/v1/connections` until `pred` holds for the list (5 s at most).
    async fn wait_connections(&self, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let reply = self.get("/api/v1/connections").await;
            assert_eq!(reply.status, 200);
            let list = reply.json()["connections"].as_array().unwrap().clone();
            if pred(&list) {
                return list;
            }
            assert!(Instant::now() < deadline, "connections never matched: {list:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_ready() {
    let h = start(ApiOptions::default()).await;
    let reply = h.get("/health").await;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.starts_with("application/json"));
    assert_eq!(reply.json(), json!({"status": "ok"}));
    let reply = h.get("/ready").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"status": "ready"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_required_everywhere_but_health() {
    let mut h = start(ApiOptions { token: Some("s3cret".into()), ..Default::default() }).await;
    // with the right token
    for path in [
        "/health",
        "/ready",
        "/metrics",
        "/api/v1/server",
        "/api/v1/streams",
        "/api/v1/connections",
    ] {
        assert_eq!(h.get(path).await.status, 200, "{path} with the token");
    }
    // with none
    h.token = None;
    assert_eq!(h.get("/health").await.status, 200);
    for path in [
        "/ready",
        "/metrics",
        "/api/v1/server",
        "/api/v1/streams",
        "/api/v1/connections",
        "/api/v1/config",
    ] {
        let reply = h.get(path).await;
        assert_eq!(reply.status, 401, "{path} without a token");
        assert_eq!(reply.www_authenticate.as_deref(), Some("Bearer"));
        assert!(reply.json()["error"].is_string());
    }
    assert_eq!(h.delete("/api/v1/connections/1").await.status, 401);
    assert_eq!(h.post("/api/v1/shutdown?force=true").await.status, 401);
    assert_eq!(h.patch("/api/v1/config", "{}").await.status, 401);
    assert!(h.handle.readiness().0, "an unauthorised shutdown must not happen");
    // with a wrong one
    h.token = Some("s3cre".into());
    assert_eq!(h.get("/api/v1/server").await.status, 401);
    h.token = Some("s3cret ".into());
    assert_eq!(
        h.get("/api/v1/server").await.status,
        200,
        "surrounding blanks are not part of the token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_from_the_server_config_follows_config_changes() {
    let mut h = start_with(ApiOptions::default(), Some("first")).await;
    assert_eq!(h.get("/api/v1/server").await.status, 401);
    h.token = Some("first".into());
    assert_eq!(h.get("/api/v1/server").await.status, 200);

    let mut config = h.handle.config();
    config.api_token = Some("second".into());
    h.handle.apply_config(config).unwrap();
    assert_eq!(h.get("/api/v1/server").await.status, 401, "old token after a change");
    h.token = Some("second".into());
    assert_eq!(h.get("/api/v1/server").await.status, 200);

    let mut config = h.handle.config();
    config.api_token = None;
    h.handle.apply_config(config).unwrap();
    h.token = None;
    assert_eq!(h.get("/api/v1/server").await.status, 200, "no token in force: open");

    // an explicit ApiOptions::token wins over the configuration
    let options = ApiOptions { token: Some("opt".into()), ..Default::default() };
    let mut h = start_with(options, Some("cfg")).await;
    h.token = Some("cfg".into());
    assert_eq!(h.get("/api/v1/server").await.status, 401);
    h.token = Some("opt".into());
    assert_eq!(h.get("/api/v1/server").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_shape() {
    let h = start(ApiOptions::default()).await;
    let reply = h.get("/api/v1/server").await;
    assert_eq!(reply.status, 200);
    let v = reply.json();
    assert!(v["version"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(v["uptime_secs"].as_f64().is_some_and(|s| s >= 0.0));
    assert!(v["process_cpu_secs"].as_f64().is_some());
    for field in [
        "connections",
        "publishers",
        "players",
        "streams",
        "accepted",
        "refused",
        "panics",
        "bytes_in",
        "bytes_out",
        "dropped_frames",
        "rss_bytes",
        "memory_bytes",
        "memory_budget",
    ] {
        assert!(v[field].as_u64().is_some(), "{field} in {v}");
    }
    assert_eq!(v["connections"], 0);
    assert_eq!(v["listeners"], json!([h.rtmp.to_string()]));
    assert!(v["errors"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_empty_and_unknown() {
    let h = start(ApiOptions::default()).await;
    let reply = h.get("/api/v1/streams").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"streams": []}));
    for reply in
        [h.get("/api/v1/streams/live/nope").await, h.delete("/api/v1/streams/live/nope").await]
    {
        assert_eq!(reply.status, 404);
        assert_eq!(reply.json()["error"], "stream live/nope not found");
    }
    let reply = h.get("/api/v1/no/such/route").await;
    assert_eq!(reply.status, 404);
    assert!(reply.json()["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_closes_a_connection() {
    let h = start(ApiOptions::default()).await;
    let mut raw = TcpStream::connect(h.rtmp).await.unwrap();
    let local = raw.local_addr().unwrap().to_string();
    let list = h.wait_connections(|l| l.iter().any(|c| c["peer"] == local.as_str())).await;
    let conn = list.iter().find(|c| c["peer"] == local.as_str()).unwrap();
    assert_eq!(conn["role"], "connecting");
    assert_eq!(conn["app"], Value::Null);
    for field in ["conn_id", "bytes_in", "bytes_out", "queue_bytes", "dropped_frames", "lag_ms"] {
        assert!(conn[field].as_u64().is_some(), "{field} in {conn}");
    }
    for field in ["connected_for_secs", "bitrate_in_kbps", "bitrate_out_kbps"] {
        assert!(conn[field].as_f64().is_some(), "{field} in {conn}");
    }
    let id = conn["conn_id"].as_u64().unwrap();

    let reply = h.delete(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"kicked": true, "conn_id": id}));
    h.wait_connections(|l| l.iter().all(|c| c["conn_id"] != id)).await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "socket still open: {read:?}");

    let reply = h.delete(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"], format!("connection {id} not found"));
    assert_eq!(h.delete("/api/v1/connections/abc").await.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_without_handlers_is_not_implemented() {
    let h = start(ApiOptions::default()).await;
    assert_eq!(h.get("/api/v1/config").await.status, 501);
    let reply = h.patch("/api/v1/config", r#"{"chunk_size": 8192}"#).await;
    assert_eq!(reply.status, 501);
    assert!(reply.json()["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_view_and_patch() {
    let view: ConfigViewer =
        Arc::new(|| json!({"rtmp": {"chunk_size": 4096}, "api": {"token": "<redacted>"}}));
    let patch: ConfigPatcher = Arc::new(|body| {
        if body.get("rtmp").and_then(|r| r.get("chunk_size")) == Some(&json!(1)) {
            Err(vec!["rtmp.chunk_size: 1 is out of range (128..=65536)".to_owned()])
        } else {
            Ok(json!({"applied": ["rtmp"], "needs_restart": []}))
        }
    });
    let options =
        ApiOptions { patch_config: Some(patch), view_config: Some(view), ..Default::default() };
    let h = start(options).await;

    let reply = h.get("/api/v1/config").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["rtmp"]["chunk_size"], 4096);

    let reply = h.patch("/api/v1/config", r#"{"rtmp": {"chunk_size": 8192}}"#).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"applied": ["rtmp"], "needs_restart": []}));

    let reply = h.patch("/api/v1/config", r#"{"rtmp": {"chunk_size": 1}}"#).await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["errors"], json!(["rtmp.chunk_size: 1 is out of range (128..=65536)"]));

    let reply = h.patch("/api/v1/config", "{not json").await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_graceful_then_forced() {
    let h = start(ApiOptions::default()).await;
    assert_eq!(h.post("/api/v1/shutdown?force=maybe").await.status, 400);
    assert!(h.handle.readiness().0);

    let reply = h.post("/api/v1/shutdown").await;
    assert_eq!(reply.status, 202);
    assert_eq!(reply.json(), json!({"status": "shutting_down", "force": false}));
    let reply = h.get("/ready").await;
    assert_eq!(reply.status, 503);
    let v = reply.json();
    assert_eq!(v["status"], "degraded");
    assert!(!v["reasons"].as_array().unwrap().is_empty(), "{v}");

    let reply = h.post("/api/v1/shutdown?force=true").await;
    assert_eq!(reply.status, 202);
    assert_eq!(reply.json()["force"], true);
    tokio::time::timeout(Duration::from_secs(10), h.server)
        .await
        .expect("server did not stop")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_valid_openmetrics_text() {
    let h = start(ApiOptions::default()).await;
    let _raw = TcpStream::connect(h.rtmp).await.unwrap();
    h.wait_connections(|l| !l.is_empty()).await;

    let reply = h.get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.content_type.starts_with("application/openmetrics-text"),
        "{}",
        reply.content_type
    );
    let samples = parse_exposition(&reply.body);
    let families: HashSet<&str> = samples.families.iter().map(|(name, _)| name.as_str()).collect();
    for name in METRIC_NAMES {
        assert!(families.contains(name), "{name} missing from\n{}", reply.body);
    }
    let value = |name: &str, labels: &str| {
        samples
            .series
            .iter()
            .find(|s| s.name == name && s.labels == labels)
            .map(|s| s.value)
            .unwrap_or_else(|| panic!("no {name}{{{labels}}} in\n{}", reply.body))
    };
    assert_eq!(value("openrtmp_connections", r#"role="connecting""#), 1.0);
    assert_eq!(value("openrtmp_connections", r#"role="publisher""#), 0.0);
    assert!(value("openrtmp_connections_accepted_total", "") >= 1.0);
    assert_eq!(value("openrtmp_streams", ""), 0.0);
    assert!(value("openrtmp_uptime_seconds", "") >= 0.0);
    assert_eq!(
        value("openrtmp_build_info", &format!("version=\"{}\"", h.handle.info().version)),
        1.0
    );
    assert!(
        samples.series.iter().all(|s| !s.name.starts_with("openrtmp_stream_")),
        "no per-stream series without streams"
    );
}

struct Sample {
    name: String,
    labels: String,
    value: f64,
}

struct Exposition {
    /// (name, type) from `# TYPE` lines, in order.
    families: Vec<(String, String)>,
    series: Vec<Sample>,
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

/// Validates the text exposition format line by line (`# HELP`, `# TYPE`, `# UNIT`,
/// `name{label="value",...} value`, `# EOF` last) and returns what it found.
fn parse_exposition(text: &str) -> Exposition {
    let mut out = Exposition { families: Vec::new(), series: Vec::new() };
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "must end with # EOF");
    assert!(text.ends_with('\n'));
    let mut helped = HashSet::new();
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _help) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(is_name(name, true), "bad HELP name: {line}");
            assert!(helped.insert(name.to_owned()), "duplicate HELP: {line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(is_name(name, true), "bad TYPE name: {line}");
            let kinds = [
                "counter",
                "gauge",
                "histogram",
                "summary",
                "info",
                "stateset",
                "unknown",
                "gaugehistogram",
            ];
            assert!(kinds.contains(&kind), "bad type: {line}");
            assert!(helped.contains(name), "TYPE before HELP: {line}");
            assert!(out.families.iter().all(|(n, _)| n != name), "duplicate TYPE: {line}");
            out.families.push((name.to_owned(), kind.to_owned()));
        } else if line.starts_with("# UNIT ") {
        } else {
            assert!(!line.starts_with('#'), "unknown comment: {line}");
            let sample = parse_sample(line);
            let (family, kind) = out.families.last().expect("sample before any TYPE");
            let expected = match kind.as_str() {
                "counter" => format!("{family}_total"),
                "info" => format!("{family}_info"),
                // A histogram's samples: `_bucket` (with `le`), `_sum`, `_count`.
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .map(|suffix| format!("{family}{suffix}"))
                    .find(|name| *name == sample.name)
                    .unwrap_or_else(|| format!("{family}_bucket")),
                _ => family.clone(),
            };
            assert_eq!(sample.name, expected, "sample outside its family: {line}");
            out.series.push(sample);
        }
    }
    out
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value: {line}"));
    let name = &line[..name_end];
    assert!(is_name(name, true), "bad metric name: {line}");
    let mut rest = &line[name_end..];
    let mut labels = String::new();
    if let Some(after) = rest.strip_prefix('{') {
        // label="value" pairs, values with \\ \" \n escapes
        let mut chars = after.char_indices().peekable();
        let end;
        loop {
            let start = chars.peek().map(|(i, _)| *i).expect(line);
            if after[start..].starts_with('}') {
                end = start;
                break;
            }
            let eq = after[start..].find('=').map(|i| start + i).expect(line);
            assert!(is_name(&after[start..eq], false), "bad label name: {line}");
            assert_eq!(after[eq + 1..].chars().next(), Some('"'), "unquoted label value: {line}");
            while chars.peek().is_some_and(|(i, _)| *i <= eq + 1) {
                chars.next();
            }
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => {
                        let (_, e) = chars.next().expect(line);
                        assert!(matches!(e, '\\' | '"' | 'n'), "bad escape: {line}");
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\n' => panic!("raw newline: {line}"),
                    _ => {}
                }
            }
            assert!(closed, "unterminated label value: {line}");
            match chars.next() {
                Some((_, ',')) => {}
                Some((i, '}')) => {
                    end = i;
                    break;
                }
                other => panic!("bad label separator {other:?}: {line}"),
            }
        }
        labels = after[..end].to_owned();
        rest = &after[end + 1..];
    }
    let value = rest.strip_prefix(' ').unwrap_or_else(|| panic!("no space before value: {line}"));
    let value = value.split(' ').next().unwrap_or_default(); // an optional timestamp may follow
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
    };
    Sample { name: name.to_owned(), labels, value }
}

#[test]
fn exposition_parser_rejects_bad_lines() {
    let ok = "# HELP a_b Help.\n# TYPE a_b gauge\na_b{x=\"1\\\"\",y=\"\"} 2.5\n# EOF\n";
    let parsed = parse_exposition(ok);
    assert_eq!(parsed.series[0].labels, "x=\"1\\\"\",y=\"\"");
    assert_eq!(parsed.series[0].value, 2.5);
    for bad in [
        "# HELP a Help.\n# TYPE a gauge\na{x=1} 2\n# EOF\n",
        "# HELP a Help.\n# TYPE a gauge\na 2\n",
        "# HELP a Help.\n# TYPE a gauge\nb 2\n# EOF\n",
        "# HELP a Help.\n# TYPE a counter\na 2\n# EOF\n",
        "# HELP a Help.\n# TYPE a gauge\na{x=\"1} 2\n# EOF\n",
        "# HELP a Help.\n# TYPE a gauge\na two\n# EOF\n",
    ] {
        assert!(std::panic::catch_unwind(|| parse_exposition(bad)).is_err(), "accepted: {bad:?}");
    }
}

/// Push targets through the API: attached before their stream exists (listed as
/// `connecting`), listed with their fields, refused when the URL or body is bad or a
/// duplicate, removed; the stream key never appears in an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_targets_are_attached_listed_and_removed() {
    const KEY: &str = "sk_live_s3cret";
    let h = start(ApiOptions { token: Some("tok".into()), ..Default::default() }).await;
    let targets = "/api/v1/streams/live/cam/targets";
    let mut bodies = Vec::new();

    for bad in [
        format!(r#"{{"url": "http://127.0.0.1:1/live/{KEY}"}}"#),
        r#"{"url": "rtmp://127.0.0.1:1/live"}"#.to_owned(),
        format!(r#"{{"url": "rtmp:///live/{KEY}"}}"#),
        format!(r#"{{"url": "not a url {KEY}"}}"#),
        format!(r#"{{"uri": "rtmp://127.0.0.1:1/live/{KEY}"}}"#),
        r#"{"url": 5}"#.to_owned(),
        "not json".to_owned(),
    ] {
        let reply = h.post_json(targets, &bad).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{bad}: {}", reply.body);
        bodies.push(reply.body);
    }

    // Attached while the stream does not exist: it waits, listed as `connecting`.
    let url = format!("rtmp://127.0.0.1:1/live/{KEY}");
    let reply = h.post_json(targets, &json!({ "url": url }).to_string()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let created = reply.json();
    let id = created["id"].as_u64().expect("an id");
    assert_eq!(created["url"], "rtmp://127.0.0.1:1/live/****");
    assert_eq!(created["state"], "connecting");
    assert_eq!(created["origin"], "api");
    bodies.push(reply.body);

    let reply = h.post_json(targets, &json!({ "url": url }).to_string()).await;
    assert_eq!(reply.status, 409, "a duplicate is refused: {}", reply.body);
    bodies.push(reply.body);

    let reply = h.get(targets).await;
    assert_eq!(reply.status, 200);
    let list = reply.json();
    let list = list.as_array().expect("a JSON list");
    assert_eq!(list.len(), 1, "{list:?}");
    for field in [
        "id",
        "url",
        "state",
        "bytes_sent",
        "frames_sent",
        "dropped_frames",
        "reconnects",
        "last_error",
        "since",
    ] {
        assert!(list[0].get(field).is_some(), "no {field} in {:?}", list[0]);
    }
    assert_eq!(list[0]["id"].as_u64(), Some(id));
    bodies.push(reply.body);
    assert_eq!(h.get("/api/v1/streams/live/other/targets").await.json(), json!([]));
    assert_eq!(list[0]["until_unpublish"], false);

    // Tied to the publication (the studio's targets): listed as such; the flag is a bool.
    let tied = json!({ "url": format!("rtmp://127.0.0.1:2/live/{KEY}"), "until_unpublish": true });
    let reply = h.post_json(targets, &tied.to_string()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.json()["until_unpublish"], true, "{}", reply.body);
    let tied_id = reply.json()["id"].as_u64().expect("an id");
    bodies.push(reply.body);
    let wrong =
        json!({ "url": format!("rtmp://127.0.0.1:3/live/{KEY}"), "until_unpublish": "yes" });
    let reply = h.post_json(targets, &wrong.to_string()).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    bodies.push(reply.body);
    assert_eq!(h.delete(&format!("{targets}/{tied_id}")).await.status, 204);

    // The same token as every other route.
    let anonymous = |method| request(method, format!("{}{targets}", h.base), None, None);
    assert_eq!(anonymous("GET").await.status, 401);
    assert_eq!(anonymous("POST").await.status, 401);
    let path = format!("{}{targets}/{id}", h.base);
    assert_eq!(request("DELETE", path, None, None).await.status, 401);

    // Unknown ids, and an id asked for under another stream, are 404.
    for path in [format!("{targets}/999999"), format!("/api/v1/streams/live/other/targets/{id}")] {
        let reply = h.delete(&path).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
        bodies.push(reply.body);
    }
    assert_eq!(h.delete(&format!("{targets}/x")).await.status, 400);
    let reply = h.delete(&format!("{targets}/{id}")).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(h.get(targets).await.json(), json!([]));
    assert_eq!(h.delete(&format!("{targets}/{id}")).await.status, 404);
    assert!(h.handle.push_targets().is_empty());

    for body in bodies {
        assert!(!body.contains(KEY), "the stream key shows in {body}");
    }
}

/// The source of a pulled stream (`relay.pull`): its state, the origin tried (key
/// redacted) and the last error; `404` for a stream that is not pulled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulled_stream_source_is_shown_with_its_origin_redacted() {
    use openrtmp_server::relay::{OriginSelect, PullMode, PullRule};
    // An origin that refuses connections: the pull keeps trying.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        api_listen: None,
        ..Default::default()
    };
    config.relay.pull = vec![PullRule {
        app: "live".into(),
        stream: "news".into(),
        origins: vec![format!("rtmp://{closed}/live/secret_key")],
        mode: PullMode::Always,
        select: OriginSelect::Order,
    }];
    let h = start_config(config, ApiOptions::default()).await;
    let mut source = Value::Null;
    for _ in 0..500 {
        let reply = h.get("/api/v1/streams/live/news/source").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(!reply.body.contains("secret_key"), "{}", reply.body);
        source = reply.json();
        if source["last_error"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(source["kind"], "pull");
    assert_eq!(source["mode"], "always");
    assert_eq!(source["origin"], format!("rtmp://{closed}/live/****"));
    assert_eq!(source["origin_index"], 0);
    assert!(
        source["last_error"].as_str().is_some_and(|e| e.contains("cannot connect")),
        "{source}"
    );
    assert!(
        ["connecting", "backoff"].contains(&source["state"].as_str().unwrap_or("")),
        "{source}"
    );
    assert_eq!(source["via"].as_str().map(str::len), Some(16));

    let metrics = h.get("/metrics").await.body;
    let live = format!(
        r#"openrtmp_pull_live{{app="live",stream="news",origin="rtmp://{closed}/live/****"}} 0"#
    );
    assert!(metrics.contains(&live), "{live} not in\n{metrics}");
    assert!(metrics.contains(r#"openrtmp_pull_switches_total{app="live",stream="news"} 0"#));
    assert!(!metrics.contains("secret_key"));

    let reply = h.get("/api/v1/streams/live/other/source").await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(reply.json()["error"], "stream live/other is not pulled from an origin");
}

/// A push target through the HTTP API while its stream is live (server A pushing to a
/// second server B, a synthetic stream published to A): `connecting`, then `live` once B
/// acknowledges (acknowledged bytes, a bitrate); `/metrics` has its series, labelled with
/// the redacted URL, never the stream key; deleted, it is gone from the list, from
/// `/metrics` and from B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_target_status_and_metrics_while_live() {
    use openrtmp_client::{publish_tags, Connection, PublishOptions, RtmpUrl};
    const KEY: &str = "sk_live_s3cret";
    let h = start(ApiOptions::default()).await;
    let b = Server::bind(Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        api_listen: None,
        ..Default::default()
    })
    .await
    .unwrap();
    let b_addr = b.local_addrs()[0];
    let b_handle = b.handle();
    tokio::spawn(b.run(std::future::pending()));

    let url = RtmpUrl::parse(&format!("rtmp://{}/live/cam", h.rtmp)).unwrap();
    let publisher = tokio::spawn(async move {
        let mut conn = Connection::connect(&url, Default::default()).await.unwrap();
        conn.publish(&url.stream, openrtmp_proto::command::PublishType::Live).await.unwrap();
        let tags = openrtmp_testkit::synthetic_av(0, 12);
        publish_tags(&mut conn, &tags, &PublishOptions::default()).await.unwrap();
        conn.close().await.unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !h.handle.streams().iter().any(|s| s.publishing && s.frames_in > 5) {
        assert!(Instant::now() < deadline, "A's stream did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let targets = "/api/v1/streams/live/cam/targets";
    let mut bodies = Vec::new();
    let body = json!({ "url": format!("rtmp://{b_addr}/live/{KEY}") }).to_string();
    let reply = h.post_json(targets, &body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.json()["id"].as_u64().expect("id");
    let first = reply.json()["state"].as_str().unwrap_or_default().to_owned();
    assert!(first == "connecting" || first == "live", "{}", reply.body);
    bodies.push(reply.body);

    let mut seen = vec![first];
    let deadline = Instant::now() + Duration::from_secs(15);
    let live = loop {
        let reply = h.get(targets).await;
        let list = reply.json();
        let target = list[0].clone();
        let state = target["state"].as_str().unwrap_or_default().to_owned();
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        bodies.push(reply.body);
        if state == "live" && target["bitrate_bps"].as_u64().unwrap_or(0) > 0 {
            break target;
        }
        assert!(Instant::now() < deadline, "not live: {seen:?} {target}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        seen.iter().map(String::as_str).filter(|s| *s != "connecting" && *s != "live").count(),
        0,
        "{seen:?}"
    );
    assert!(live["bytes_acked"].as_u64().unwrap_or(0) > 0, "{live}");
    assert_eq!(live["acknowledges"], true, "{live}");
    assert!(live["uptime_ms"].is_u64(), "{live}");
    for field in ["bytes_sent", "queue_frames", "queue_ms", "dropped_frames", "reconnects"] {
        assert!(live[field].is_u64(), "no {field} in {live}");
    }

    let metrics = h.get("/metrics").await;
    let labels =
        format!(r#"app="live",stream="cam",target="{id}",url="rtmp://{b_addr}/live/****""#);
    for series in [
        format!(r#"openrtmp_target_state{{{labels},state="live"}} 1"#),
        format!("openrtmp_target_bytes_acked_total{{{labels}}} "),
        format!("openrtmp_target_bitrate_bps{{{labels}}} "),
        format!("openrtmp_target_reconnects_total{{{labels}}} 0"),
    ] {
        assert!(
            metrics.body.lines().any(|l| l.starts_with(&series)),
            "no {series} in\n{}",
            metrics.body
        );
    }
    bodies.push(metrics.body);

    let reply = h.delete(&format!("{targets}/{id}")).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(h.get(targets).await.json(), json!([]));
    let metrics = h.get("/metrics").await;
    assert!(!metrics.body.contains("openrtmp_target_state{"), "{}", metrics.body);
    let deadline = Instant::now() + Duration::from_secs(10);
    while b_handle.streams().iter().any(|s| s.publishing) {
        assert!(Instant::now() < deadline, "B's stream did not end with the removal");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!publisher.is_finished(), "A's publication goes on");
    publisher.abort();
    for body in bodies {
        assert!(!body.contains(KEY), "the stream key shows in {body}");
    }
}
