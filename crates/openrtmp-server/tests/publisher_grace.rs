//! The publisher reconnect grace end to end (in-process server, our client on both sides):
//! a publisher whose socket just drops keeps its players, told nothing, for
//! `streams.publisher_grace`; one back within it is spliced in (from its first keyframe,
//! changed sequence headers first, timestamps continuing); without one the players get the
//! end of stream after the grace; a clean unpublish ends the stream at once.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use openrtmp_client::{Connection, PublishOptions};
use openrtmp_media::flv_file::FlvTag;
use openrtmp_media::TagType;
use openrtmp_proto::command::PublishType;
use openrtmp_proto::message::MessageType;
use openrtmp_proto::session::ClientEvent;
use openrtmp_server::Config;
use support::TestServer;

const NAME: &str = "grace";

fn config(grace: Duration) -> Config {
    Config { publisher_grace: grace, ..support::test_config() }
}

/// One source's media: AVC and AAC sequence headers (version `version`), then video every
/// 40 ms and audio every 20 ms for `ms`, with a keyframe every second; `mid_gop`: the first
/// keyframe comes at 600 ms (inter frames before it). Every media payload carries `marker`
/// at byte 5 (video) or 2 (audio), so the player can tell the sources apart.
fn source(marker: u8, version: u8, mid_gop: bool, ms: u32) -> Vec<FlvTag> {
    let tag =
        |tag_type, timestamp, data: Vec<u8>| FlvTag { tag_type, timestamp, data: data.into() };
    let mut tags = vec![
        tag(TagType::VIDEO, 0, vec![0x17, 0x00, 0, 0, 0, 1, 0x64, version]),
        tag(TagType::AUDIO, 0, vec![0xAF, 0x00, 0x12, version]),
    ];
    let shift = if mid_gop { 400 } else { 0 };
    for t in (0..ms).step_by(20) {
        if t % 40 == 0 {
            let head = if (t + shift) % 1000 == 0 { 0x17 } else { 0x27 };
            tags.push(tag(TagType::VIDEO, t, vec![head, 0x01, 0, 0, 0, marker, 0x5a, 0x5a]));
        }
        tags.push(tag(TagType::AUDIO, t, vec![0xAF, 0x01, marker, 0x5a]));
    }
    tags
}

/// Connects and publishes `tags` in real time; returns the connection, still open.
async fn publish(url: &openrtmp_client::RtmpUrl, tags: &[FlvTag]) -> Connection {
    let mut conn = Connection::connect(url, support::quick_options()).await.expect("connect");
    conn.publish(NAME, PublishType::Live).await.expect("publish");
    let once = PublishOptions { realtime: true, repeat: 1 };
    openrtmp_client::publish_tags(&mut conn, tags, &once).await.expect("publish tags");
    conn
}

/// What a player saw: media (arrival, type, timestamp, payload) until the end of stream.
#[derive(Debug, Default)]
struct Watched {
    media: Vec<(Instant, TagType, u32, Bytes)>,
    /// When StreamEOF (or UnpublishNotify) came, if it did.
    ended_at: Option<Instant>,
}

/// Plays `NAME` until its end of stream, at most `limit`.
async fn watch(url: openrtmp_client::RtmpUrl, limit: Duration) -> Watched {
    let mut conn = Connection::connect(&url, support::quick_options()).await.expect("connect");
    let stream_id = conn.play(NAME).await.expect("play");
    let mut watched = Watched::default();
    let until = tokio::time::Instant::now() + limit;
    loop {
        let Ok(event) = tokio::time::timeout_at(until, conn.next_event()).await else {
            return watched;
        };
        match event.expect("player connection") {
            Some(ClientEvent::Media { stream_id: id, message }) if id == stream_id => {
                let kind = if message.type_id == MessageType::AUDIO {
                    TagType::AUDIO
                } else {
                    TagType::VIDEO
                };
                watched.media.push((Instant::now(), kind, message.timestamp, message.payload));
            }
            Some(ClientEvent::StreamEof { stream_id: id }) if id == stream_id => {
                watched.ended_at = Some(Instant::now());
                return watched;
            }
            Some(_) => {}
            None => return watched,
        }
    }
}

fn is_header(kind: TagType, payload: &[u8]) -> bool {
    let second = payload.get(1).copied();
    (kind == TagType::VIDEO || kind == TagType::AUDIO) && second == Some(0x00)
}

/// The source marker of a media frame (not a header).
fn marker(kind: TagType, payload: &[u8]) -> Option<u8> {
    if is_header(kind, payload) {
        return None;
    }
    payload.get(if kind == TagType::VIDEO { 5 } else { 2 }).copied()
}

#[test]
fn a_publisher_back_within_the_grace_is_spliced_in() {
    let server = TestServer::start(config(Duration::from_secs(5)));
    let rt = support::client_runtime();
    let url = server.rtmp_url(&format!("live/{NAME}"));
    let player = rt.spawn(watch(url.clone(), Duration::from_secs(20)));
    server.wait_viewers(1);

    // Source 1 for a second, then its socket drops without an unpublish.
    let first = rt.block_on(publish(&url, &source(1, 1, false, 1000)));
    drop(first);
    let lost = support::wait_until(Duration::from_secs(10), || {
        server
            .hub
            .stream(&openrtmp_hub::StreamKey::new("live", NAME))
            .is_some_and(|s| s.source_lost)
    });
    assert!(lost, "the stream was not held for its publisher");
    std::thread::sleep(Duration::from_secs(1));
    // Source 2: its own clock from 0, other sequence headers, mid-GOP; then a clean end.
    let second = rt.block_on(publish(&url, &source(2, 2, true, 1000)));
    rt.block_on(second.close()).expect("unpublish");

    let watched = rt.block_on(player).expect("player task");
    assert!(watched.ended_at.is_some(), "no end of stream after the clean unpublish");
    let media = &watched.media;
    let from = |m| media.iter().filter(|(_, k, _, p)| marker(*k, p) == Some(m)).count();
    eprintln!("frames from source 1: {}, from source 2: {}", from(1), from(2));
    assert!(from(1) > 20 && from(2) > 20, "one source missing: {} / {}", from(1), from(2));

    // Nothing went backwards, headers included.
    let stamps: Vec<u32> = media.iter().map(|m| m.2).collect();
    let backwards = stamps.windows(2).find(|w| w[1] < w[0]);
    assert_eq!(backwards, None, "timestamps went backwards: {stamps:?}");
    // Around the splice: the changed video header, then a keyframe, before any other frame.
    let first_new = media.iter().position(|(_, k, _, p)| marker(*k, p) == Some(2)).unwrap();
    let (at, kind, ts, payload) = &media[first_new];
    assert!(*kind == TagType::VIDEO && payload[0] == 0x17, "first new frame is not a keyframe");
    let last_old = media[..first_new].iter().rposition(|(_, k, _, p)| marker(*k, p) == Some(1));
    let (old_at, _, old_ts, _) = &media[last_old.expect("old frames")];
    let new_header = media[..first_new]
        .iter()
        .rposition(|(_, k, _, p)| *k == TagType::VIDEO && is_header(*k, p) && p.get(7) == Some(&2));
    assert!(new_header.is_some_and(|h| h > last_old.unwrap()), "new header not before the splice");
    eprintln!(
        "splice: last old frame ts {old_ts}, first new keyframe ts {ts}; the player waited {} ms",
        at.duration_since(*old_at).as_millis()
    );
}

#[test]
fn without_a_publisher_back_players_end_after_the_grace() {
    let grace = Duration::from_secs(2);
    let server = TestServer::start(config(grace));
    let rt = support::client_runtime();
    let url = server.rtmp_url(&format!("live/{NAME}"));
    let player = rt.spawn(watch(url.clone(), Duration::from_secs(20)));
    server.wait_viewers(1);
    let conn = rt.block_on(publish(&url, &source(1, 1, false, 500)));
    drop(conn);
    let dropped = Instant::now();
    let watched = rt.block_on(player).expect("player task");
    let ended = watched.ended_at.expect("no end of stream after the grace");
    let after = ended.duration_since(dropped);
    eprintln!(
        "end of stream {} ms after the publisher dropped (grace {grace:?})",
        after.as_millis()
    );
    assert!(after >= grace, "end of stream before the grace was over: {after:?}");
    assert!(after < grace + Duration::from_secs(10), "end of stream far too late: {after:?}");
    assert!(watched.media.len() > 10);
    // Expired and drained: the stream is gone, its memory freed.
    let gone = support::wait_until(Duration::from_secs(5), || server.hub.memory_bytes() == 0);
    assert!(gone, "memory held after the grace: {}", server.hub.memory_bytes());
}

#[test]
fn a_clean_unpublish_ends_the_stream_at_once() {
    // A grace far longer than the bound asserted: a clean end must not wait for it.
    let server = TestServer::start(config(Duration::from_secs(60)));
    let rt = support::client_runtime();
    let url = server.rtmp_url(&format!("live/{NAME}"));
    let player = rt.spawn(watch(url.clone(), Duration::from_secs(30)));
    server.wait_viewers(1);
    let conn = rt.block_on(publish(&url, &source(1, 1, false, 500)));
    rt.block_on(conn.close()).expect("unpublish");
    let closed = Instant::now();
    let watched = rt.block_on(player).expect("player task");
    let ended = watched.ended_at.expect("no end of stream after the unpublish");
    let after = ended.saturating_duration_since(closed);
    eprintln!("end of stream {} ms after a clean unpublish", after.as_millis());
    assert!(after < Duration::from_secs(10), "a clean unpublish waited: {after:?}");
    assert!(watched.media.len() > 10);
}

#[test]
fn a_silent_publisher_is_held_like_a_dropped_one() {
    let (timeout, grace) = (Duration::from_secs(1), Duration::from_secs(1));
    let server = TestServer::start(Config { publisher_timeout: timeout, ..config(grace) });
    let rt = support::client_runtime();
    let url = server.rtmp_url(&format!("live/{NAME}"));
    let player = rt.spawn(watch(url.clone(), Duration::from_secs(20)));
    server.wait_viewers(1);
    // The publisher's socket stays open, but nothing more comes.
    let _silent = rt.block_on(publish(&url, &source(1, 1, false, 500)));
    let last_sent = Instant::now();
    let watched = rt.block_on(player).expect("player task");
    let ended = watched.ended_at.expect("no end of stream");
    let after = ended.duration_since(last_sent);
    eprintln!("end of stream {} ms after the last frame (timeout + grace)", after.as_millis());
    assert!(after >= timeout + grace, "the silent publisher was not held: {after:?}");
    assert!(after < timeout + grace + Duration::from_secs(10), "far too late: {after:?}");
}

#[test]
fn shutdown_ends_a_held_stream_at_once() {
    let server = TestServer::start(config(Duration::from_secs(60)));
    let rt = support::client_runtime();
    let url = server.rtmp_url(&format!("live/{NAME}"));
    let key = openrtmp_hub::StreamKey::new("live", NAME);
    drop(rt.block_on(publish(&url, &source(1, 1, false, 300))));
    let held = support::wait_until(Duration::from_secs(10), || {
        server.hub.stream(&key).is_some_and(|s| s.source_lost)
    });
    assert!(held, "the stream was not held");
    server.handle.shutdown(false);
    // Far less than the 60 s grace: the held publication ends when the shutdown starts.
    let ended = support::wait_until(Duration::from_secs(10), || {
        server.hub.stream(&key).is_none_or(|s| !s.publishing)
    });
    assert!(ended, "a shutdown left the stream held: {:?}", server.hub.stream(&key));
}

/// Ending a stream through the API while its players are held for the grace ends it now:
/// `end_stream` used to answer false (no publisher to kick) and leave it held.
#[test]
fn ending_a_held_stream_cuts_its_grace_short() {
    let server = TestServer::start(config(Duration::from_secs(60)));
    let rt = support::client_runtime();
    let url = server.rtmp_url(&format!("live/{NAME}"));
    let key = openrtmp_hub::StreamKey::new("live", NAME);
    drop(rt.block_on(publish(&url, &source(1, 1, false, 300))));
    let held = support::wait_until(Duration::from_secs(10), || {
        server.hub.stream(&key).is_some_and(|s| s.source_lost)
    });
    assert!(held, "the stream was not held");
    let listed = server.handle.streams().into_iter().find(|s| s.name == NAME);
    assert!(listed.is_some_and(|s| s.source_lost && s.publishing), "not listed as held");
    assert!(server.handle.end_stream("live", NAME), "end_stream refused a held stream");
    let ended = support::wait_until(Duration::from_secs(10), || {
        server.hub.stream(&key).is_none_or(|s| !s.publishing)
    });
    assert!(ended, "the held stream did not end: {:?}", server.hub.stream(&key));
    assert!(!server.handle.end_stream("live", NAME), "an ended stream ended twice");
}
