//! Retention of recordings in a running server (issue 14): the sweep started with the
//! server deletes finished segments older than `record.retention.max_age`, then the oldest
//! while the directory holds more than `record.retention.max_bytes`; each deletion counted
//! by reason; emptied stream directories removed. (That a segment being written is never
//! deleted is shown by the unit tests of `record::retention`: only the recorder marks one.)
//!
//! The wait polls the files until a generous deadline: one sweep comes within
//! `SWEEP_INTERVAL` (5 s) of the start.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use openrtmp_record::{Format, SegmentName};
use openrtmp_server::record::{Retention, SWEEP_INTERVAL};
use openrtmp_server::{Config, Server};
use openrtmp_testkit::TempDir;

fn segment(dir: &Path, stream: &str, age: Duration, len: usize) -> PathBuf {
    let start = SystemTime::now() - age;
    let name = SegmentName::new("live", stream, start, start, Format::Mp4);
    let path = dir.join(name.relative_path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, vec![0u8; len]).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_expires_by_age_then_by_bytes() {
    let tmp = TempDir::new("retention-e2e");
    let dir = tmp.0.clone();
    let min = |m: u64| Duration::from_secs(60 * m);
    let old = segment(&dir, "old", min(120), 100);
    let a = segment(&dir, "cam", min(3), 100);
    let b = segment(&dir, "cam", min(2), 100);
    let c = segment(&dir, "cam", min(1), 100);
    let mut config = Config { listen: vec!["127.0.0.1:0".parse().unwrap()], ..Config::default() };
    config.record.dir = dir.clone();
    config.record.retention = Retention { max_age: Some(min(60)), max_bytes: Some(250) };
    let server = Server::bind(config).await.unwrap();
    let handle = server.handle();
    tokio::spawn(server.run(std::future::pending()));

    let deadline = Instant::now() + SWEEP_INTERVAL * 6;
    while (old.exists() || a.exists()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!old.exists(), "over max_age");
    assert!(!a.exists(), "oldest while over max_bytes");
    assert!(b.exists() && c.exists(), "200 bytes are within 250");
    assert!(!dir.join("live/old").exists(), "emptied stream directory removed");
    assert_eq!(handle.recordings_deleted(), [("max_age", 1), ("max_bytes", 1), ("api", 0)]);
    let listed = handle.recordings(Default::default()).await;
    let paths: Vec<&PathBuf> = listed.recordings.iter().map(|r| &r.path).collect();
    assert_eq!(paths, [&c, &b], "newest first");
    handle.shutdown(true);
}
