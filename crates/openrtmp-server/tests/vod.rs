//! Video on demand: an RTMP `play` of a recording's file name plays the file (FLV
//! recordings here: fixture files copied into a recording directory under segment names,
//! no recorder involved). FFmpeg plays one whole; our client plays with `start`,
//! `duration`, `seek` and `pause`; names that are not recordings play live as before.
//! Pacing is judged by order and totals, never by wall-clock thresholds.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use openrtmp_client::Connection;
use openrtmp_media::flv_file::FlvTag;
use openrtmp_media::TagType;
use openrtmp_proto::command::StatusCode;
use openrtmp_proto::message::MessageType;
use openrtmp_proto::session::ClientEvent;
use openrtmp_record::name::from_unix_ms;
use openrtmp_record::{Format, SegmentName};
use openrtmp_server::Config;
use support::{Fixture, TempDir, TestServer};

/// A recording directory holding `fixture` as a segment of `live/cam`; returns the
/// directory, the file name and the fixture's tags.
fn recording(ffmpeg: &Path, fixture: Fixture, test: &str) -> (TempDir, String, Vec<FlvTag>) {
    let input = fixture.path(ffmpeg);
    let dir = TempDir::new(test);
    let start = from_unix_ms(1_796_569_080_123);
    let name = SegmentName::new("live", "cam", start, start, Format::Flv);
    let path: PathBuf = dir.0.join(name.relative_path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(&input, &path).unwrap();
    (dir, name.file_name(), support::read_tags(&input))
}

fn config(dir: &TempDir) -> Config {
    let mut config = support::test_config();
    config.record.dir = dir.0.clone();
    config
}

fn tag_of(message: openrtmp_proto::message::Message) -> FlvTag {
    let tag_type = match message.type_id {
        MessageType::AUDIO => TagType::AUDIO,
        MessageType::VIDEO => TagType::VIDEO,
        _ => TagType::SCRIPT,
    };
    FlvTag { tag_type, timestamp: message.timestamp, data: message.payload }
}

/// What a player saw, in order: media tags and status codes.
#[derive(Debug)]
enum Seen {
    Tag(FlvTag),
    Status(String),
    Eof,
}

/// Reads events until `done` says so (at most 30 s of silence).
async fn read_until(conn: &mut Connection, seen: &mut Vec<Seen>, done: impl Fn(&Seen) -> bool) {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), conn.next_event())
            .await
            .expect("player idle for 30 s")
            .expect("player connection");
        let item = match event {
            Some(ClientEvent::Media { message, .. }) => Seen::Tag(tag_of(message)),
            Some(ClientEvent::Data { message, .. }) => Seen::Tag(tag_of(message)),
            Some(ClientEvent::Status { code, .. }) => Seen::Status(code),
            Some(ClientEvent::StreamEof { .. }) => Seen::Eof,
            Some(_) => continue,
            None => panic!("server closed the connection; seen {} items", seen.len()),
        };
        let stop = done(&item);
        seen.push(item);
        if stop {
            return;
        }
    }
}

fn is_status(s: &Seen, code: StatusCode) -> bool {
    matches!(s, Seen::Status(c) if c == code.code)
}

fn frames_of(seen: &[Seen]) -> Vec<FlvTag> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Tag(t) if support::is_frame(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// The fixture's frames in file order from its keyframe at or before `ms` (rebased to its
/// first frame), and that keyframe's time.
fn from_keyframe(tags: &[FlvTag], ms: u32) -> (u32, Vec<FlvTag>) {
    let base = tags.iter().find(|t| support::is_frame(t)).unwrap().timestamp;
    let rebased: Vec<FlvTag> = tags
        .iter()
        .filter(|t| support::is_frame(t))
        .map(|t| FlvTag { timestamp: t.timestamp - base, ..t.clone() })
        .collect();
    let key = rebased
        .iter()
        .rposition(|t| t.tag_type == TagType::VIDEO && support::is_keyframe(t) && t.timestamp <= ms)
        .unwrap();
    // Frames muxed just before the keyframe with its timestamp play with it.
    let key_ms = rebased[key].timestamp;
    let mut at = key;
    while at > 0 && rebased[at - 1].timestamp >= key_ms {
        at -= 1;
    }
    (key_ms, rebased[at..].to_vec())
}

/// The longest distance between two video keyframes of the fixture (one GOP), ms.
fn gop_ms(tags: &[FlvTag]) -> u32 {
    let keys: Vec<u32> = tags
        .iter()
        .filter(|t| t.tag_type == TagType::VIDEO && support::is_keyframe(t))
        .map(|t| t.timestamp)
        .collect();
    keys.windows(2).map(|w| w[1] - w[0]).max().unwrap()
}

fn same_payloads(got: &[FlvTag], want: &[FlvTag], who: &str) {
    assert_eq!(got.len(), want.len(), "{who}: frame count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!((g.tag_type, g.timestamp), (w.tag_type, w.timestamp), "{who}: frame {i}");
        assert!(g.data == w.data, "{who}: frame {i} payload differs");
    }
}

/// FFmpeg (`-rtmp_live recorded`) plays a 4 s recording whole with `-c copy`: every frame,
/// byte-identical and in order, the sequence headers, and FFmpeg ends by itself on
/// NetStream.Play.Stop. FFmpeg strips `.flv` from the play path: the name without the
/// extension finds the file too. Its 10 s buffer lets the server send it all at once.
#[test]
fn ffmpeg_plays_a_recording_whole() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let (dir, file, sent) = recording(&ffmpeg, Fixture::H264Aac { seconds: 4 }, "vod-ffmpeg");
    let server = TestServer::start(config(&dir));
    let out = dir.path("played.flv");
    let url = server.url(&format!("live/{file}"));
    let args = [
        "-rtmp_live",
        "recorded",
        "-rtmp_buffer",
        "10000",
        "-i",
        url.as_str(),
        "-c",
        "copy",
        "-f",
        "flv",
        out.to_str().unwrap(),
    ];
    let mut player = support::Ffmpeg::spawn(&ffmpeg, "ffmpeg vod player", &args, dir.path("p.log"));
    player.wait_success(Duration::from_secs(30));
    support::assert_same_frames(&sent, &support::read_tags(&out), "ffmpeg vod player");
}

/// Our client plays a 20 s recording with `start` = 10 s and `duration` = 2 s: Play.Start,
/// metadata and sequence headers, then the frames from the keyframe at or before 10 s
/// (within one GOP), byte-identical, up to 2 s after it, then onPlayStatus, StreamEOF and
/// Play.Stop. While it plays, the API lists it as an `rtmp-vod` player of the file.
#[test]
fn start_and_duration_play_a_part_from_the_keyframe_at_or_before() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let (dir, file, sent) = recording(&ffmpeg, Fixture::H264Aac { seconds: 20 }, "vod-start");
    let server = TestServer::start(config(&dir));
    let rt = support::client_runtime();
    let seen = rt.block_on(async {
        let mut conn = Connection::connect(&server.rtmp_url("live"), support::quick_options())
            .await
            .expect("connect");
        conn.session().play(&file, 10.0, 2.0, true).unwrap();
        conn.flush().await.unwrap();
        let mut seen = Vec::new();
        read_until(&mut conn, &mut seen, |s| matches!(s, Seen::Tag(t) if support::is_frame(t)))
            .await;
        let listed = server.handle.connections();
        let me = listed.iter().find(|c| c.role == "player").expect("listed");
        assert_eq!(
            (me.protocol, me.app.as_str(), me.stream.as_str()),
            ("rtmp-vod", "live", file.as_str())
        );
        read_until(&mut conn, &mut seen, |s| is_status(s, StatusCode::PLAY_STOP)).await;
        seen
    });
    let codes: Vec<&str> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Status(c) => Some(c.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(codes, ["NetStream.Play.Reset", "NetStream.Play.Start", "NetStream.Play.Stop"]);
    assert!(matches!(seen[seen.len() - 2], Seen::Eof), "StreamEOF before Play.Stop");
    let tags: Vec<&FlvTag> =
        seen.iter().filter_map(|s| if let Seen::Tag(t) = s { Some(t) } else { None }).collect();
    assert_eq!(tags[1].tag_type, TagType::SCRIPT, "onMetaData first after |RtmpSampleAccess");
    assert_eq!(support::sequence_headers(&seen_tags(&seen)), support::sequence_headers(&sent));
    let (key_ms, rest) = from_keyframe(&sent, 10_000);
    assert!(key_ms <= 10_000 && 10_000 - key_ms < gop_ms(&sent), "keyframe at {key_ms} ms");
    let want: Vec<FlvTag> = rest.into_iter().take_while(|t| t.timestamp <= key_ms + 2000).collect();
    let got = frames_of(&seen);
    let first_video = got.iter().find(|t| t.tag_type == TagType::VIDEO).unwrap();
    assert!(support::is_keyframe(first_video) && first_video.timestamp == key_ms);
    same_payloads(&got, &want, "start 10 s, duration 2 s");
    let scripts: Vec<String> = seen_tags(&seen)
        .into_iter()
        .filter(|t| t.tag_type == TagType::SCRIPT)
        .map(|t| openrtmp_media::ScriptData::parse(&t.data).unwrap().name)
        .collect();
    assert_eq!(scripts, ["|RtmpSampleAccess", "onMetaData", "onPlayStatus"]);
}

fn seen_tags(seen: &[Seen]) -> Vec<FlvTag> {
    seen.iter().filter_map(|s| if let Seen::Tag(t) = s { Some(t.clone()) } else { None }).collect()
}

/// Pacing: with the client's 3 s buffer (SetBufferLength), no frame arrives earlier than
/// its media time minus that lead after `play` was sent (a lower bound only: a slow machine
/// makes frames later, never earlier); and every frame arrives, in order.
#[test]
fn media_is_paced_to_the_clients_buffer() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let (dir, file, sent) = recording(&ffmpeg, Fixture::H264Aac { seconds: 4 }, "vod-pacing");
    let server = TestServer::start(config(&dir));
    let rt = support::client_runtime();
    let (asked, arrivals) = rt.block_on(async {
        let mut conn = Connection::connect(&server.rtmp_url("live"), support::quick_options())
            .await
            .expect("connect");
        let asked = std::time::Instant::now();
        conn.session().play(&file, -2.0, -1.0, true).unwrap();
        conn.flush().await.unwrap();
        let mut arrivals = Vec::new();
        loop {
            let mut seen = Vec::new();
            read_until(&mut conn, &mut seen, |_| true).await;
            match seen.pop() {
                Some(Seen::Tag(t)) => arrivals.push((std::time::Instant::now(), t)),
                Some(s) if is_status(&s, StatusCode::PLAY_STOP) => break,
                _ => {}
            }
        }
        (asked, arrivals)
    });
    let tags: Vec<FlvTag> = arrivals.iter().map(|(_, t)| t.clone()).collect();
    support::assert_same_frames(&sent, &tags, "paced player");
    let lead_ms = 3000;
    for (at, tag) in &arrivals {
        let earliest = u64::from(tag.timestamp).saturating_sub(lead_ms);
        let waited = at.duration_since(asked).as_millis() as u64;
        assert!(waited >= earliest, "frame at {} ms arrived {waited} ms after play", tag.timestamp);
    }
}

/// Seek: after NetStream.Seek.Notify the next frames are the fixture's from the keyframe
/// at or before the target (headers again first). Pause: after NetStream.Pause.Notify no
/// media arrives until unpaused, and then playback goes on where it stopped (no frame
/// lost or repeated).
#[test]
fn seek_and_pause() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let (dir, file, sent) = recording(&ffmpeg, Fixture::H264Aac { seconds: 20 }, "vod-seek");
    let server = TestServer::start(config(&dir));
    let rt = support::client_runtime();
    rt.block_on(async {
        let mut conn = Connection::connect(&server.rtmp_url("live"), support::quick_options())
            .await
            .expect("connect");
        // Wowza-style prefix, no extension.
        let name = format!("flv:{}", file.trim_end_matches(".flv"));
        conn.session().play(&name, -2.0, -1.0, false).unwrap();
        conn.flush().await.unwrap();
        let mut seen = Vec::new();
        read_until(&mut conn, &mut seen, |s| matches!(s, Seen::Tag(t) if support::is_frame(t)))
            .await;

        // Seek to 12 s.
        conn.session().seek(12_000.0);
        conn.flush().await.unwrap();
        let mut after = Vec::new();
        read_until(&mut conn, &mut after, |s| is_status(s, StatusCode::SEEK_NOTIFY)).await;
        let mut after = Vec::new();
        read_until(
            &mut conn,
            &mut after,
            |s| matches!(s, Seen::Tag(t) if t.tag_type == TagType::VIDEO && support::is_frame(t)),
        )
        .await;
        assert!(
            after.iter().any(|s| is_status(s, StatusCode::PLAY_START)),
            "Play.Start after the seek"
        );
        assert_eq!(support::sequence_headers(&seen_tags(&after)), support::sequence_headers(&sent));
        let (key_ms, rest) = from_keyframe(&sent, 12_000);
        let first = frames_of(&after);
        same_payloads(&first, &rest[..first.len()], "after seek");

        // Pause, then nothing until unpaused.
        let position = first.last().unwrap().timestamp;
        conn.session().pause(true, f64::from(position));
        conn.flush().await.unwrap();
        let mut before_pause = Vec::new();
        read_until(&mut conn, &mut before_pause, |s| is_status(s, StatusCode::PAUSE_NOTIFY)).await;
        let mut paused = Vec::new();
        let quiet = tokio::time::timeout(
            Duration::from_millis(1500),
            read_until(&mut conn, &mut paused, |_| false),
        )
        .await;
        assert!(quiet.is_err() && paused.is_empty(), "sent while paused: {paused:?}");
        conn.session().pause(false, f64::from(position));
        conn.flush().await.unwrap();
        let mut resumed = Vec::new();
        read_until(&mut conn, &mut resumed, |s| is_status(s, StatusCode::UNPAUSE_NOTIFY)).await;
        read_until(
            &mut conn,
            &mut resumed,
            |s| matches!(s, Seen::Tag(t) if t.timestamp > key_ms + 2000),
        )
        .await;
        let mut all = first.clone();
        all.extend(frames_of(&before_pause));
        all.extend(frames_of(&resumed));
        same_payloads(&all, &rest[..all.len()], "seek, pause, unpause");
    });
}

/// Names that are not recordings play live as before (a player waiting for a publisher of
/// that name, or StreamNotFound); names that try to leave the recording directory (`/`,
/// `%`, `:`) are refused by the name rules before any look-up, and never play a file.
#[test]
fn other_names_play_live_and_traversal_is_refused() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let (dir, file, _) = recording(&ffmpeg, Fixture::H264Aac { seconds: 4 }, "vod-names");
    // A copy right in the recording directory, where a traversal would find it.
    std::fs::copy(dir.0.join("live/cam").join(&file), dir.0.join(&file)).unwrap();
    let server = TestServer::start(config(&dir));
    let rt = support::client_runtime();
    let missing = file.replace("20261206T145800.123Z-", "20261206T145800.124Z-");
    let cases = [
        (missing, None),
        (format!("../../{file}"), Some("NetStream.Play.Failed")),
        (format!("..%2F..%2F{file}"), Some("NetStream.Play.Failed")),
        (format!("flv:../{file}"), Some("NetStream.Play.Failed")),
    ];
    for (name, refused) in cases {
        rt.block_on(async {
            let mut conn = Connection::connect(&server.rtmp_url("live"), support::quick_options())
                .await
                .expect("connect");
            let result = conn.play(&name).await;
            let listed = server.handle.connections();
            assert!(listed.iter().all(|c| c.protocol != "rtmp-vod"), "{name}: played as VOD");
            match (result, refused) {
                (Ok(_), None) => {
                    // The live path: a player waiting for a publisher of that name.
                    let key = openrtmp_hub::StreamKey::new("live", name.as_str());
                    assert_eq!(server.hub.stream(&key).map(|s| s.viewers), Some(1), "{name}");
                }
                (Err(openrtmp_client::ClientError::Refused { code, .. }), None) => {
                    assert_eq!(code, "NetStream.Play.StreamNotFound", "{name}")
                }
                (Err(openrtmp_client::ClientError::Refused { code, .. }), Some(want)) => {
                    assert_eq!(code, want, "{name}")
                }
                (other, _) => panic!("{name}: {other:?}"),
            }
        });
    }
}

/// Whether this process has `path` open (Linux: /proc/self/fd).
fn is_open(path: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else { return false };
    fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
}

/// A VOD player is a connection like any other: the API kicks it, and its recording file
/// is closed once it is gone (its reader thread ended).
#[test]
fn a_vod_player_is_kicked_and_its_file_closed() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let (dir, file, _) = recording(&ffmpeg, Fixture::H264Aac { seconds: 20 }, "vod-kick");
    let path = dir.0.join("live/cam").join(&file).canonicalize().unwrap();
    let server = TestServer::start(config(&dir));
    let rt = support::client_runtime();
    rt.block_on(async {
        let mut conn = Connection::connect(&server.rtmp_url("live"), support::quick_options())
            .await
            .expect("connect");
        conn.session().play(&file, -2.0, -1.0, true).unwrap();
        conn.flush().await.unwrap();
        let mut seen = Vec::new();
        read_until(&mut conn, &mut seen, |s| matches!(s, Seen::Tag(t) if support::is_frame(t)))
            .await;
        assert!(is_open(&path), "the recording is open while it plays");
        let listed = server.handle.connections();
        let me = listed.iter().find(|c| c.protocol == "rtmp-vod").expect("listed");
        assert!(server.handle.kick(me.id));
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match conn.next_event().await {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => return,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the kicked player's connection stayed open");
    });
    assert!(support::wait_until(Duration::from_secs(10), || !is_open(&path)), "file left open");
    assert!(server.handle.connections().iter().all(|c| c.protocol != "rtmp-vod"));
}
