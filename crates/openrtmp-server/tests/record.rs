//! The recorder end to end: an in-process server records what real FFmpeg publishes into
//! FLV segments; the files hold the exact frames published and play in FFmpeg/ffprobe.
//! Rotation, a publisher that comes back, the API, and faults of the disk (a directory
//! that cannot be made, a file deleted under the writer, a full tmpfs) that never touch
//! the live stream.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use openrtmp_media::flv_file::FlvTag;
use openrtmp_record::SegmentName;
use openrtmp_server::record::{Format, RecordRule, RecordSettings, RecordingError, RecordingState};
use openrtmp_server::{Config, ServerHandle};
use support::{Ffmpeg, Fixture, TempDir, TestServer};

/// Every wait is bounded by this; conditions are polled, never timed.
const PATIENCE: Duration = Duration::from_secs(30);

/// A server recording `live/*` in FLV into `dir`, with `tune` applied to the settings.
fn recording_config(dir: &Path, tune: impl FnOnce(&mut RecordSettings)) -> Config {
    let mut record = RecordSettings {
        dir: dir.to_path_buf(),
        format: Format::Flv,
        rules: vec![RecordRule::new("live", "*")],
        ..RecordSettings::default()
    };
    tune(&mut record);
    Config { record, ..support::test_config() }
}

/// The segment files of `app`/`stream` under `dir`, in name (time) order.
fn segments(dir: &Path, app: &str, stream: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join(app).join(stream)) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    files
}

fn segment_name(path: &Path) -> SegmentName {
    let file = path.file_name().and_then(|f| f.to_str()).expect("file name");
    SegmentName::parse("live", file).unwrap_or_else(|| panic!("not a segment name: {file}"))
}

/// FFmpeg's reading of the file's duration (ffprobe, format duration), in seconds.
fn probe_duration(file: &Path) -> f64 {
    let ffprobe = support::require("ffprobe", None).expect("ffprobe");
    let out = std::process::Command::new(ffprobe)
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().unwrap_or_else(|_| panic!("ffprobe duration of {file:?}: {text:?}"))
}

/// The file decodes without a complaint.
fn assert_plays(ffmpeg: &Path, file: &Path) {
    let f = file.to_str().expect("path");
    let log = support::run_ffmpeg(ffmpeg, &["-v", "error", "-xerror", "-i", f, "-f", "null", "-"])
        .unwrap_or_else(|e| panic!("{f} does not decode: {e}"));
    assert!(log.trim().is_empty(), "{f}: decoder complained:\n{log}");
}

/// `got` holds every frame of `sent` from its first video keyframe on, byte-identical and
/// in order (a recording starts at a keyframe: the audio before it is not recorded), and
/// the same sequence headers.
fn assert_recorded(sent: &[FlvTag], got: &[FlvTag], who: &str) {
    let start = sent
        .iter()
        .position(|t| support::is_frame(t) && support::is_keyframe(t))
        .expect("a keyframe");
    let want = support::frames(&sent[start..]);
    let have = support::frames(got);
    let diff = want.iter().zip(&have).position(|(w, h)| w != h);
    assert!(
        want.len() == have.len() && diff.is_none(),
        "{who}: {} frames from the first keyframe, recorded {}; first difference at {diff:?}",
        want.len(),
        have.len()
    );
    assert_eq!(support::sequence_headers(got), support::sequence_headers(sent), "{who}");
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    assert!(support::wait_until(PATIENCE, &mut cond), "{what}: not within {PATIENCE:?}");
}

fn segments_closed(handle: &ServerHandle) -> u64 {
    handle.recording_stats().segments_closed
}

fn errors_of(handle: &ServerHandle, kind: &str) -> u64 {
    handle.recording_stats().errors.iter().find(|(k, _)| *k == kind).map_or(0, |(_, n)| *n)
}

/// Publishes `input` with FFmpeg (`-c copy`), as fast as it goes or in real time.
fn publish(ffmpeg: &Path, input: &Path, url: &str, log: PathBuf, realtime: bool) -> Ffmpeg {
    let input = input.to_str().expect("path");
    let mut args = vec![];
    if realtime {
        args.push("-re");
    }
    args.extend(["-i", input, "-c", "copy", "-f", "flv", url]);
    Ffmpeg::spawn(ffmpeg, "ffmpeg publisher", &args, log)
}

/// FFmpeg publishes a 4 s fixture in real time (as an encoder does: the recorder joins
/// the stream at its newest keyframe, like a player); the one FLV segment holds every
/// frame published from the first keyframe, byte-identical and in order, after the same
/// sequence headers, and ffprobe reads its duration within 1 % of the fixture's.
#[test]
fn a_published_stream_is_recorded_to_flv_frame_for_frame() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    if support::require("ffprobe", None).is_none() {
        return;
    }
    let input = Fixture::H264Aac { seconds: 4 }.path(&ffmpeg);
    let dir = TempDir::new("record-flv");
    let server = TestServer::start(recording_config(&dir.0, |_| {}));
    let mut publisher =
        publish(&ffmpeg, &input, &server.url("live/cam"), dir.path("publisher.log"), true);
    publisher.wait_success(PATIENCE);
    wait_for("the segment closes", || segments_closed(&server.handle) >= 1);

    let files = segments(&dir.0, "live", "cam");
    assert_eq!(files.len(), 1, "{files:?}");
    let name = segment_name(&files[0]);
    assert_eq!(name.format, Format::Flv);
    let sent = support::read_tags(&input);
    assert_recorded(&sent, &support::read_tags(&files[0]), "recording");
    // The media recorded spans from the first keyframe to the last frame of the fixture
    // (FFmpeg reads a live FLV's duration from its last tag; the fixture's own reading
    // adds its metadata's last frame duration, which a live stream does not carry).
    let first_key = sent.iter().find(|t| support::is_frame(t) && support::is_keyframe(t));
    let last = sent.iter().map(|t| t.timestamp).max().unwrap_or(0);
    let want = f64::from(last - first_key.expect("keyframe").timestamp) / 1000.0;
    let got = probe_duration(&files[0]);
    eprintln!(
        "ffprobe: recording {got} s, fixture {} s, media span {want} s",
        probe_duration(&input)
    );
    assert!((got - want).abs() <= want * 0.01, "duration {got} s, media span {want} s");
    assert_plays(&ffmpeg, &files[0]);
    let stats = server.handle.recording_stats();
    assert_eq!(stats.bytes_written, std::fs::metadata(&files[0]).unwrap().len());
    assert_eq!(stats.dropped_frames, 0);
}

/// With 1 s segments, a 3 s stream (a keyframe every second) is cut at keyframes into
/// segments of one recording: together they hold every frame, and each plays on its own.
#[test]
fn segments_rotate_at_keyframes_by_duration() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 3 }.path(&ffmpeg);
    let dir = TempDir::new("record-rotate");
    let config = recording_config(&dir.0, |r| r.segment_duration = Some(Duration::from_secs(1)));
    let server = TestServer::start(config);
    let mut publisher =
        publish(&ffmpeg, &input, &server.url("live/rot"), dir.path("publisher.log"), true);
    publisher.wait_success(PATIENCE);
    wait_for("the last segment closes", || {
        server.handle.recording("live", "rot").is_none_or(|r| r.path.is_none())
            && segments_closed(&server.handle) >= 2
    });
    let files = segments(&dir.0, "live", "rot");
    assert!(files.len() >= 2, "{files:?}");
    let recording = segment_name(&files[0]).recording_ms;
    let mut all = Vec::new();
    for file in &files {
        assert_eq!(segment_name(file).recording_ms, recording, "{file:?}");
        let tags = support::read_tags(file);
        let first = tags.iter().find(|t| support::is_frame(t)).expect("a frame");
        assert!(support::is_keyframe(first), "{file:?} starts with a keyframe");
        assert_plays(&ffmpeg, file);
        all.extend(tags.into_iter().filter(support::is_frame));
    }
    // Together they hold every frame once (headers checked per file above).
    let sent = support::read_tags(&input);
    let start = sent.iter().position(|t| support::is_frame(t) && support::is_keyframe(t));
    let want = support::frames(&sent[start.expect("keyframe")..]);
    assert!(support::frames(&all) == want, "the segments together hold every frame once");

    // The whole recording plays over RTMP by its id: every segment in order, one stream.
    let id = segment_name(&files[0]).recording_id();
    let out = dir.path("whole.flv");
    let url = server.url(&format!("live/{id}"));
    let args = ["-rtmp_live", "recorded", "-rtmp_buffer", "10000", "-i", url.as_str()];
    let args: Vec<&str> =
        args.into_iter().chain(["-c", "copy", "-f", "flv", out.to_str().unwrap()]).collect();
    let mut player = Ffmpeg::spawn(&ffmpeg, "ffmpeg vod player", &args, dir.path("vod.log"));
    player.wait_success(PATIENCE);
    let played = support::read_tags(&out);
    assert!(support::frames(&played) == want, "the recording played by its id holds every frame");
    let times: Vec<u32> =
        played.iter().filter(|t| support::is_frame(t)).map(|t| t.timestamp).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1] + 50), "timestamps go on across segments");
    assert_plays(&ffmpeg, &out);
}

/// Without the reconnect grace, a publisher that unpublishes and publishes again within
/// `RESUME_WITHIN` continues the same recording in a second segment.
#[test]
fn a_publisher_back_after_unpublishing_continues_the_recording() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 2 }.path(&ffmpeg);
    let dir = TempDir::new("record-again");
    let mut config = recording_config(&dir.0, |_| {});
    config.publisher_grace = Duration::ZERO;
    let server = TestServer::start(config);
    let url = server.url("live/again");
    for i in 0..2 {
        let log = dir.path(&format!("publisher{i}.log"));
        publish(&ffmpeg, &input, &url, log, true).wait_success(PATIENCE);
        wait_for("the segment closes", || segments_closed(&server.handle) > i);
    }
    assert_two_segments_of_one_recording(&ffmpeg, &dir.0, "again");
}

/// With the reconnect grace, a publisher killed and back within it is spliced in: the
/// recording goes on in a second segment from the new publisher's first keyframe.
#[test]
fn a_publisher_back_within_its_grace_starts_a_new_segment() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 2 }.path(&ffmpeg);
    let dir = TempDir::new("record-grace");
    let mut config = recording_config(&dir.0, |_| {});
    config.publisher_grace = Duration::from_secs(10);
    let server = TestServer::start(config);
    let url = server.url("live/grace");
    let first = publish(&ffmpeg, &input, &url, dir.path("first.log"), true);
    wait_for("recording", || {
        server.handle.recording("live", "grace").is_some_and(|r| r.bytes_written > 0)
    });
    drop(first.child); // SIGKILL: an abrupt loss, held for the grace
    publish(&ffmpeg, &input, &url, dir.path("second.log"), true).wait_success(PATIENCE);
    wait_for("both segments close", || segments_closed(&server.handle) >= 2);
    assert_two_segments_of_one_recording(&ffmpeg, &dir.0, "grace");
}

fn assert_two_segments_of_one_recording(ffmpeg: &Path, dir: &Path, stream: &str) {
    let files = segments(dir, "live", stream);
    assert_eq!(files.len(), 2, "{files:?}");
    let (a, b) = (segment_name(&files[0]), segment_name(&files[1]));
    assert_eq!(a.recording_ms, b.recording_ms, "one recording");
    assert!(a.segment_ms < b.segment_ms);
    for file in &files {
        assert_plays(ffmpeg, file);
        let first = support::read_tags(file).into_iter().find(support::is_frame).expect("frame");
        assert!(support::is_keyframe(&first), "{file:?} starts with a keyframe");
    }
}

/// The API starts recording a live stream that no rule records, refuses a second start
/// and a stream that is not live, shows the status, and stops it (the segment closes).
#[test]
fn the_api_starts_and_stops_a_recording() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 8 }.path(&ffmpeg);
    let dir = TempDir::new("record-api");
    let config = recording_config(&dir.0, |r| r.rules.clear());
    let server = TestServer::start(config);
    let handle = &server.handle;
    assert_eq!(
        handle.start_recording("live", "api", None),
        Err(RecordingError::NotLive { app: "live".into(), stream: "api".into() })
    );
    let _publisher = publish(&ffmpeg, &input, &server.url("live/api"), dir.path("pub.log"), true);
    wait_for("live", || server.hub.streams().iter().any(|s| s.publishing));
    assert!(handle.recording("live", "api").is_none(), "no rule records it");
    let status = handle.start_recording("live", "api", Some(Format::Flv)).expect("start");
    assert_eq!((status.format, status.origin.name()), (Format::Flv, "api"));
    assert!(matches!(
        handle.start_recording("live", "api", None),
        Err(RecordingError::AlreadyRecorded { .. })
    ));
    wait_for("bytes written", || {
        handle.recording("live", "api").is_some_and(|r| {
            r.state == RecordingState::Recording && r.bytes_written > 0 && r.path.is_some()
        })
    });
    assert!(handle.stop_recording("live", "api"));
    assert!(!handle.stop_recording("live", "api"));
    assert!(handle.recording("live", "api").is_none());
    wait_for("the segment closes", || segments_closed(handle) >= 1);
    let files = segments(&dir.0, "live", "api");
    assert_eq!(files.len(), 1);
    assert_plays(&ffmpeg, &files[0]);
}

/// A recording directory that cannot be made (below a regular file: root ignores
/// permission bits) is an error in the status and the metric; the live stream and a
/// player are untouched, and the recording keeps retrying.
#[test]
fn a_directory_that_cannot_be_made_is_an_error_and_the_stream_goes_on() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 3 }.path(&ffmpeg);
    let dir = TempDir::new("record-nodir");
    let blocker = dir.path("a-file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let server = TestServer::start(recording_config(&blocker.join("rec"), |_| {}));
    let rt = support::client_runtime();
    let player = rt.spawn(support::play_all(
        server.rtmp_url("live/nodir"),
        support::quick_options(),
        PATIENCE,
    ));
    server.wait_viewers(1);
    let mut publisher =
        publish(&ffmpeg, &input, &server.url("live/nodir"), dir.path("pub.log"), true);
    wait_for("the error shows", || {
        server.handle.recording("live", "nodir").is_some_and(|r| {
            matches!(&r.state, RecordingState::Error { kind, .. } if kind.name() == "no_directory")
        })
    });
    assert!(errors_of(&server.handle, "no_directory") >= 1);
    publisher.wait_success(PATIENCE);
    let played = rt.block_on(player).expect("player");
    support::assert_same_frames(&support::read_tags(&input), &played.tags(), "player");
}

/// The segment's file deleted under the writer: noticed, counted (`deleted`), and the
/// recording goes on in a new file from the next keyframe.
#[test]
fn a_file_deleted_under_the_writer_rotates_to_a_new_file() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 8 }.path(&ffmpeg);
    let dir = TempDir::new("record-deleted");
    let server = TestServer::start(recording_config(&dir.0, |_| {}));
    let _publisher = publish(&ffmpeg, &input, &server.url("live/del"), dir.path("pub.log"), true);
    let mut first = None;
    wait_for("recording", || {
        first = server.handle.recording("live", "del").and_then(|r| r.path);
        first.is_some()
    });
    let first = first.unwrap();
    wait_for("the file exists", || first.exists());
    std::fs::remove_file(&first).unwrap();
    wait_for("a new file", || {
        server.handle.recording("live", "del").is_some_and(|r| {
            r.errors >= 1 && r.path.as_ref().is_some_and(|p| *p != first && p.exists())
        })
    });
    assert!(errors_of(&server.handle, "deleted") >= 1);
    let files = segments(&dir.0, "live", "del");
    assert_eq!(files.len(), 1, "only the new file is there: {files:?}");
}

/// A writer that cannot keep up (a queue of 1 byte: nothing fits) drops the recording,
/// counted, never the stream: a player gets every frame.
#[test]
fn a_writer_that_cannot_keep_up_drops_the_recording_not_the_stream() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 2 }.path(&ffmpeg);
    let dir = TempDir::new("record-stall");
    let server = TestServer::start(recording_config(&dir.0, |r| r.queue_bytes = 1));
    let rt = support::client_runtime();
    let player = rt.spawn(support::play_all(
        server.rtmp_url("live/stall"),
        support::quick_options(),
        PATIENCE,
    ));
    server.wait_viewers(1);
    publish(&ffmpeg, &input, &server.url("live/stall"), dir.path("pub.log"), false)
        .wait_success(PATIENCE);
    let played = rt.block_on(player).expect("player");
    support::assert_same_frames(&support::read_tags(&input), &played.tags(), "player");
    let stats = server.handle.recording_stats();
    assert!(stats.dropped_frames > 0, "{stats:?}");
    assert!(errors_of(&server.handle, "queue_full") >= 1);
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at a new directory; `None` (skipped locally, a failure in
    /// CI) where `mount` is not allowed.
    fn mount(name: &str, size: &str) -> Option<Tmpfs> {
        let dir = std::env::temp_dir().join(format!("openrtmp-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let opts = format!("size={size}");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::fs::remove_dir(&dir);
            support::skip_or_fail("mount -t tmpfs is not allowed here (needs root)");
            return None;
        }
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The recording directory on a 1 MiB tmpfs that fills up mid-stream: a player receives
/// every frame, the error (`disk_full`) is in the status and the metric, the file left
/// behind ends on a whole tag, and freeing space resumes the recording in a new segment.
#[test]
fn a_full_disk_stops_the_recording_not_the_stream_and_freeing_space_resumes_it() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let Some(tmpfs) = Tmpfs::mount("record-full", "1m") else { return };
    // ~2 Mbit/s: 1 MiB fills in about four seconds.
    let input = Fixture::H264AacCbr { seconds: 12, kbps: 2000 }.path(&ffmpeg);
    let dir = TempDir::new("record-full");
    let server = TestServer::start(recording_config(&tmpfs.0, |_| {}));
    let rt = support::client_runtime();
    let player = rt.spawn(support::play_all(
        server.rtmp_url("live/full"),
        support::quick_options(),
        PATIENCE,
    ));
    server.wait_viewers(1);
    let mut publisher =
        publish(&ffmpeg, &input, &server.url("live/full"), dir.path("pub.log"), true);
    wait_for("the disk fills", || {
        server.handle.recording("live", "full").is_some_and(|r| {
            matches!(&r.state, RecordingState::Error { kind, .. } if kind.name() == "disk_full")
        })
    });
    assert!(errors_of(&server.handle, "disk_full") >= 1);
    let full = segments(&tmpfs.0, "live", "full");
    assert_eq!(full.len(), 1, "{full:?}");
    // What was written ends on a whole tag (the partial one was cut off).
    let mut reader = openrtmp_media::FlvReader::new(std::fs::File::open(&full[0]).unwrap());
    assert!(reader.by_ref().all(|t| t.is_ok()), "the full file reads to its end");
    assert_eq!(reader.previous_tag_size_mismatches(), 0);
    drop(reader); // an open file keeps its space after the unlink
    std::fs::remove_file(&full[0]).unwrap();
    wait_for("recording resumes", || {
        server.handle.recording("live", "full").is_some_and(|r| {
            r.state == RecordingState::Recording
                && r.path.as_ref().is_some_and(|p| p.exists() && *p != full[0])
        })
    });
    publisher.wait_success(PATIENCE);
    let played = rt.block_on(player).expect("player");
    support::assert_same_frames(&support::read_tags(&input), &played.tags(), "player");
}

/// A segment that closes is announced to `auth.callback.notify_url` as `record_done`,
/// signed like every notification, with path, recording id, duration, bytes and format.
#[test]
fn a_closed_segment_is_announced_as_a_signed_record_done() {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};
    const SECRET: &str = "record-secret";
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 2 }.path(&ffmpeg);
    let dir = TempDir::new("record-done");
    let rt = support::client_runtime();
    /// Each notification: its signature header and its body.
    type Seen = Arc<Mutex<Vec<(Option<String>, Bytes)>>>;
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sink = Arc::clone(&sink);
            async move {
                let signature = headers
                    .get("x-openrtmp-signature")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                sink.lock().unwrap().push((signature, body));
                "ok"
            }
        }),
    );
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let notify = format!("http://{}/notify", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await });

    let mut config = recording_config(&dir.0, |_| {});
    let mut callback = openrtmp_server::auth::CallbackSettings::new(notify.clone());
    callback.actions = Vec::new();
    callback.notify_url = Some(notify);
    callback.signing_secret = Some(SECRET.into());
    config.auth.callback = Some(callback);
    let server = TestServer::start(config);
    publish(&ffmpeg, &input, &server.url("live/done"), dir.path("pub.log"), true)
        .wait_success(PATIENCE);
    let mut done = None;
    wait_for("record_done", || {
        done = seen.lock().unwrap().iter().find_map(|(signature, body)| {
            let json: serde_json::Value = serde_json::from_slice(body).ok()?;
            (json["event"] == "record_done").then(|| (signature.clone(), body.clone(), json))
        });
        done.is_some()
    });
    let (signature, body, json) = done.unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let mac: String =
        ring::hmac::sign(&key, &body).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(signature, Some(format!("sha256={mac}")));
    let files = segments(&dir.0, "live", "done");
    assert_eq!(files.len(), 1);
    assert_eq!(json["path"], files[0].display().to_string());
    assert_eq!((json["app"].as_str(), json["stream"].as_str()), (Some("live"), Some("done")));
    assert_eq!(json["format"], "flv");
    assert_eq!(json["bytes"].as_u64(), Some(std::fs::metadata(&files[0]).unwrap().len()));
    assert_eq!(
        json["recording_id"].as_str(),
        Some(segment_name(&files[0]).recording_id().as_str())
    );
    assert!(json["duration_ms"].as_u64().is_some_and(|d| d > 1000), "{json}");
}

/// An encoder that switches resolution without reconnecting (a new AVC sequence header
/// mid-stream): the MP4 segment whose `moov` holds the old configuration ends, and a new
/// segment of the same recording starts at the next keyframe with the new one; both play
/// at their own size. Regression: the frames after the change went into the old segment,
/// which then held one segment at 320x240 only.
#[test]
fn a_codec_change_mid_stream_starts_a_new_mp4_segment() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let Some(ffprobe) = support::require("ffprobe", None) else { return };
    let small = support::read_tags(&Fixture::H264Aac { seconds: 2 }.path(&ffmpeg));
    let large = support::read_tags(&Fixture::H264AacCbr { seconds: 2, kbps: 500 }.path(&ffmpeg));
    // One FLV: the 320x240 stream, then the 640x360 one with its own sequence headers,
    // its timestamps going on from where the first ended.
    let dir = TempDir::new("record-codec-change");
    let input = dir.path("switch.flv");
    let offset = small.iter().map(|t| t.timestamp).max().unwrap_or(0) + 40;
    let header = openrtmp_media::FlvHeader::new(true, true);
    let file = std::fs::File::create(&input).expect("create");
    let mut w = openrtmp_media::FlvWriter::new(std::io::BufWriter::new(file), &header).unwrap();
    for tag in &small {
        w.write_tag(tag).unwrap();
    }
    for tag in large.iter().filter(|t| t.tag_type != openrtmp_media::TagType::SCRIPT) {
        w.write_tag(&FlvTag { timestamp: tag.timestamp + offset, ..tag.clone() }).unwrap();
    }
    w.flush().unwrap();
    drop(w);

    let config = recording_config(&dir.0, |r| r.format = Format::Mp4);
    let server = TestServer::start(config);
    let mut publisher =
        publish(&ffmpeg, &input, &server.url("live/switch"), dir.path("publisher.log"), true);
    publisher.wait_success(PATIENCE);
    wait_for("both segments close", || segments_closed(&server.handle) >= 2);
    let files: Vec<PathBuf> = segments(&dir.0, "live", "switch")
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "mp4"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(segment_name(&files[0]).recording_ms, segment_name(&files[1]).recording_ms);
    let size = |file: &Path| {
        let out = std::process::Command::new(&ffprobe)
            .args(["-v", "error", "-select_streams", "v", "-show_entries", "stream=width,height"])
            .args(["-of", "csv=p=0"])
            .arg(file)
            .output()
            .expect("ffprobe");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!([size(&files[0]), size(&files[1])], ["320,240", "640,360"]);
    for file in &files {
        assert_plays(&ffmpeg, file);
    }
}
