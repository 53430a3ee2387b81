//! The client follows the Enhanced RTMP v2 reconnect request (spec: "Reconnect Request",
//! onStatus `NetConnection.Connect.ReconnectRequest`) while publishing:
//!
//! - to a server named by `tcUrl`: origin A is a raw `ServerSession` on a socket (so the
//!   test chooses the tcUrl: OpenRTMP B), B is a real OpenRTMP server with a player
//!   attached. The publisher moves at a keyframe, make-before-break: A gets every frame up
//!   to the switch, B's player every frame from it, on the same timeline; A's connection is
//!   unpublished and closed.
//! - to the same URL (no `tcUrl`) from a draining OpenRTMP server: the server stopped
//!   accepting, so the new connection fails and the publisher stays until A closes.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use openrtmp_client::{
    ClientError, FollowLimits, FollowingPublisher, PlayOptions, Player, PublishOptions, RtmpUrl,
};
use openrtmp_media::flv_file::FlvTag;
use openrtmp_media::TagType;
use openrtmp_proto::message::MessageType;
use openrtmp_proto::session::{ServerConfig, ServerEvent, ServerSession};
use openrtmp_server::Config;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The index a synthetic video frame carries (bytes 5..9), and whether it is a keyframe;
/// `None` for sequence headers and other tags.
fn video_frame(tag_type: TagType, data: &Bytes) -> Option<(u32, bool)> {
    if tag_type != TagType::VIDEO || data.get(1) != Some(&1) {
        return None;
    }
    let index = u32::from_be_bytes(data.get(5..9)?.try_into().ok()?);
    Some((index, data.first() == Some(&0x17)))
}

/// What the raw origin saw.
#[derive(Debug, Default)]
struct OriginReport {
    /// Video frames (index, timestamp) in arrival order (the index counts audio frames too).
    video: Vec<(u32, u32)>,
    /// The timestamp of the frame after which the reconnect request went out.
    requested_at: Option<u32>,
    /// Whether the publisher unpublished (FCUnpublish / deleteStream).
    unpublished: bool,
    /// Whether the publisher closed the socket.
    eof: bool,
}

async fn write_out(sock: &mut TcpStream, session: &mut ServerSession) {
    let out = session.transmit();
    while !out.is_empty() {
        let bytes = out.to_vec();
        sock.write_all(&bytes).await.expect("write to the publisher");
        out.advance(bytes.len());
    }
}

/// A raw RTMP origin: accepts one publisher and, at its first video frame at or after
/// `request_at_ms`, asks it to reconnect to `tc_url`; then serves it until it leaves.
async fn raw_origin(listener: TcpListener, tc_url: String, request_at_ms: u32) -> OriginReport {
    let (mut sock, _) = listener.accept().await.expect("accept");
    let random = vec![7u8; 3072];
    let mut session = ServerSession::new(ServerConfig::default(), Instant::now(), 0, &random);
    let mut report = OriginReport::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        write_out(&mut sock, &mut session).await;
        let n = sock.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            report.eof = true;
            return report;
        }
        session.handle_input(Instant::now(), &buf[..n]).expect("publisher input");
        while let Some(event) = session.poll_event() {
            match event {
                ServerEvent::Connect { request, command } => {
                    assert!(command.enhanced.supports_reconnect(), "capsEx Reconnect announced");
                    session.accept_connect(Instant::now(), request).expect("accept connect");
                }
                ServerEvent::Publish { request, stream_name, .. } => {
                    assert_eq!(stream_name, "cam?key=secret");
                    session.accept_publish(Instant::now(), request).expect("accept publish");
                }
                ServerEvent::Media { message, .. } if message.type_id == MessageType::VIDEO => {
                    let Some((index, _)) = video_frame(TagType::VIDEO, &message.payload) else {
                        continue;
                    };
                    report.video.push((index, message.timestamp));
                    if report.requested_at.is_none() && message.timestamp >= request_at_ms {
                        report.requested_at = Some(message.timestamp);
                        session.send_reconnect_request(Some(&tc_url), Some("moving you"));
                    }
                }
                ServerEvent::Unpublished { .. } => report.unpublished = true,
                _ => {}
            }
        }
    }
}

/// Plays `url` until the publisher leaves: the tags received.
async fn play_all(mut player: Player) -> Vec<FlvTag> {
    let mut tags = Vec::new();
    while let Some(tag) = player.next_tag().await.expect("play") {
        tags.push(tag);
    }
    tags
}

#[test]
fn publisher_moves_to_the_server_named_in_the_reconnect_request() {
    let b =
        TestServer::start(Config { unpublished_wait: Duration::from_secs(10), ..test_config() });
    let rt = client_runtime();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind origin");
    let a_url = format!("rtmp://{}/live/cam?key=secret", listener.local_addr().expect("addr"));
    // Redirect to B: an absolute tcUrl (the relative forms are unit-tested with the URL).
    let origin = rt.spawn(raw_origin(listener, format!("rtmp://{}/live", b.addr), 300));

    // A player waits on B before the publisher arrives there.
    let play = PlayOptions {
        duration: Some(Duration::from_secs(20)),
        idle_timeout: Duration::from_secs(10),
        ..PlayOptions::default()
    };
    let player = rt
        .block_on(Player::open(&b.rtmp_url("live/cam"), quick_options(), play))
        .expect("player on B");
    let played = rt.spawn(play_all(player));

    // 3 s of 25 fps video (a keyframe every second) with AAC, in real time.
    let tags = synthetic_av(0, 3);
    let started = Instant::now();
    let publisher = rt.block_on(async {
        let url = RtmpUrl::parse(&a_url).expect("url");
        let mut publisher =
            FollowingPublisher::connect(&url, quick_options(), FollowLimits::default())
                .await
                .expect("publish on A");
        publisher.send_tags(&tags, &PublishOptions::default()).await.expect("send tags");
        let state = (publisher.switches(), publisher.url().authority());
        publisher.close().await.expect("close");
        state
    });
    let origin = rt.block_on(origin).expect("origin task");
    let got = rt.block_on(played).expect("player task");
    eprintln!("published and followed in {:?}", started.elapsed());

    assert_eq!(publisher, (1, b.addr.to_string()), "moved once, to B");
    assert!(origin.unpublished && origin.eof, "A's connection was unpublished and closed");

    let sent: Vec<(u32, u32, bool)> = tags
        .iter()
        .filter_map(|t| video_frame(t.tag_type, &t.data).map(|(i, k)| (i, t.timestamp, k)))
        .collect();
    let on_b: Vec<(u32, u32, bool)> = got
        .iter()
        .filter_map(|t| video_frame(t.tag_type, &t.data).map(|(i, k)| (i, t.timestamp, k)))
        .collect();
    let on_a: Vec<(u32, u32)> = origin.video;
    let requested = origin.requested_at.expect("the request went out");
    let &(first_b, switch_ts, keyframe) = on_b.first().expect("B's player got video");
    assert!(keyframe, "B's player starts at a keyframe");
    // Make before break: A kept getting frames after it asked, up to the switch.
    let &(_, last_a_ts) = on_a.last().expect("A got video");
    assert!(last_a_ts > requested, "A got frames after the request (until the switch)");
    // Every frame went to exactly one server: A up to the switch, B from it on.
    let position = sent.iter().position(|f| f.0 == first_b).expect("B's first frame was sent");
    let want_a: Vec<(u32, u32)> = sent[..position].iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(on_a, want_a, "A got every frame before the switch");
    assert_eq!(on_b, sent[position..].to_vec(), "B's player got every frame from the switch on");
    // Same timeline: B's frames continue A's (no reset to 0), one frame interval later.
    assert_eq!(switch_ts, last_a_ts + 40, "timestamps continue across the switch");
    // The headers were replayed on B before its first frame.
    let first_frame = got.iter().position(|t| video_frame(t.tag_type, &t.data).is_some());
    let headers = got[..first_frame.unwrap_or(0)].iter().filter(|t| is_sequence_header(t)).count();
    assert_eq!(headers, 2, "AAC and AVC sequence headers before B's first frame");
}

#[test]
fn failed_follow_keeps_the_old_connection_until_the_server_closes() {
    let a = TestServer::start(Config { shutdown_grace: Duration::from_secs(1), ..test_config() });
    let rt = client_runtime();
    let url = a.rtmp_url("live/cam?key=secret");
    let tags = synthetic_av(0, 10);
    let handle = a.handle.clone();
    let (attempts, switches, drained_at, last_sent, error) = rt.block_on(async move {
        let mut publisher =
            FollowingPublisher::connect(&url, quick_options(), FollowLimits::default())
                .await
                .expect("publish on A");
        let start = tokio::time::Instant::now();
        let (mut drained_at, mut last_sent) = (None, 0);
        let mut error = None;
        for tag in &tags {
            if drained_at.is_none() && tag.timestamp >= 500 {
                // A graceful shutdown: A stops accepting and asks its clients to reconnect
                // (to the same URL: no tcUrl); it closes them after the grace.
                handle.shutdown(false);
                drained_at = Some(tag.timestamp);
            }
            let due = start + Duration::from_millis(u64::from(tag.timestamp));
            let result = match publisher.wait_until(due).await {
                Ok(()) => publisher.send(&support_message(tag)).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => last_sent = tag.timestamp,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        (publisher.attempts(), publisher.switches(), drained_at, last_sent, error)
    });
    assert_eq!((attempts, switches), (1, 0), "followed once, could not move");
    let drained_at = drained_at.expect("drained");
    assert!(
        matches!(error, Some(ClientError::Closed { .. } | ClientError::Io { .. })),
        "the old connection ended when A closed it: {error:?}"
    );
    // The old connection kept carrying the stream through A's grace (1 s).
    assert!(
        last_sent >= drained_at + 500,
        "published up to {last_sent} ms after a drain at {drained_at} ms"
    );
}

/// A tag as the message the publisher sends (audio and video as they are, metadata as
/// `@setDataFrame`).
fn support_message(tag: &FlvTag) -> openrtmp_proto::message::Message {
    openrtmp_client::tag_message(tag, tag.timestamp)
}
