//! The recording routes over HTTP (`/api/v1/streams/{app}/{stream}/recording`) and the
//! recording metrics, against a real server on 127.0.0.1:0 and our RTMP client publishing
//! synthetic media in real time (no external program needed).

use std::time::{Duration, Instant};

use openrtmp_client::{publish_tags, Connection, PublishOptions, RtmpUrl};
use openrtmp_server::record::RecordSettings;
use openrtmp_server::{Config, Server};
use reqwest_free_http::Agent;
use serde_json::Value;

/// Status and body of one request (no token: the server has none).
fn call(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let agent: Agent = Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let result = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        (_, Some(body)) => agent.post(url).header("content-type", "application/json").send(body),
        (_, None) => agent.post(url).send_empty(),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    (response.status().as_u16(), response.body_mut().read_to_string().unwrap())
}

async fn http(method: &'static str, url: String, body: Option<&'static str>) -> (u16, Value) {
    let (status, text) =
        tokio::task::spawn_blocking(move || call(method, &url, body)).await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_routes_start_show_and_stop_and_metrics_count() {
    let dir = std::env::temp_dir().join(format!("openrtmp-api-recording-{}", std::process::id()));
    let config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        api_listen: None,
        record: RecordSettings { dir: dir.clone(), ..RecordSettings::default() },
        ..Default::default()
    };
    let server = Server::bind(config).await.unwrap();
    let rtmp = server.local_addrs()[0];
    let handle = server.handle();
    tokio::spawn(server.run(std::future::pending()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base =
        format!("http://{}/api/v1/streams/live/cam/recording", listener.local_addr().unwrap());
    let metrics = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(openrtmp_api::serve(
        listener,
        handle.clone(),
        Default::default(),
        std::future::pending(),
    ));

    // Not live: 404 to a start, and nothing to show or stop.
    assert_eq!(http("POST", base.clone(), None).await.0, 404);
    assert_eq!(http("GET", base.clone(), None).await.0, 404);
    assert_eq!(http("DELETE", base.clone(), None).await.0, 404);

    let url = RtmpUrl::parse(&format!("rtmp://{rtmp}/live/cam")).unwrap();
    let publisher = tokio::spawn(async move {
        let mut conn = Connection::connect(&url, Default::default()).await.unwrap();
        conn.publish(&url.stream, openrtmp_proto::command::PublishType::Live).await.unwrap();
        let tags = openrtmp_testkit::synthetic_av(0, 6);
        publish_tags(&mut conn, &tags, &PublishOptions::default()).await.unwrap();
        conn.close().await.unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !handle.streams().iter().any(|s| s.publishing) {
        assert!(Instant::now() < deadline, "the stream did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_eq!(http("POST", base.clone(), Some(r#"{"format":"avi"}"#)).await.0, 400);
    let (status, body) = http("POST", base.clone(), Some(r#"{"format":"flv"}"#)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["format"].as_str(), body["origin"].as_str()), (Some("flv"), Some("api")));
    assert!(body["id"].as_str().is_some_and(|id| id.starts_with("cam-")), "{body}");
    assert_eq!(http("POST", base.clone(), None).await.0, 409);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = http("GET", base.clone(), None).await;
        assert_eq!(status, 200, "{body}");
        if body["state"] == "recording" && body["bytes_written"].as_u64() > Some(0) {
            assert!(body["path"].as_str().is_some_and(|p| p.ends_with(".flv")), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "never recording: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, text) = tokio::task::spawn_blocking(move || call("GET", &metrics, None)).await.unwrap();
    assert!(text.lines().any(|l| l == "openrtmp_recordings_active 1"), "{text}");
    assert!(text.lines().any(|l| l == "openrtmp_recording_errors_total{kind=\"disk_full\"} 0"));

    assert_eq!(http("DELETE", base.clone(), None).await.0, 204);
    assert_eq!(http("GET", base.clone(), None).await.0, 404);
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.recording_stats().segments_closed == 0 {
        assert!(Instant::now() < deadline, "the segment did not close");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    publisher.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
