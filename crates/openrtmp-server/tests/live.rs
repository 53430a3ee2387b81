//! Live streaming with our client on both ends: late joiners, chunk sizes, a second
//! publisher on a key in use.

mod support;

use std::time::{Duration, Instant};

use openrtmp_client::{ClientError, ConnectOptions, Connection, PlayEnd, PublishOptions};
use openrtmp_media::TagType;
use openrtmp_proto::command::PublishType;
use openrtmp_proto::message::{csid, Message, MessageType};
use support::{Fixture, TestServer};

/// A player joining a stream that has been running for 2.3 s gets, in this order: metadata
/// before any media, a video sequence header then a keyframe, an AAC sequence header first
/// among the audio; then an unbroken run of frames to the end.
#[test]
fn player_joining_mid_stream_starts_with_headers_and_a_keyframe() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 3 }.path(&ffmpeg);
    let sent = support::read_tags(&input);
    let server = TestServer::start(support::test_config());
    let url = server.rtmp_url("live/late");
    let rt = support::client_runtime();

    let publisher = support::publish_in_background(&rt, &input, &url);
    std::thread::sleep(Duration::from_millis(2300));
    assert!(!publisher.is_finished(), "the publisher finished early");
    let played =
        rt.block_on(support::play_all(url, support::quick_options(), Duration::from_secs(10)));
    rt.block_on(publisher).expect("publisher task").expect("publish");
    assert_eq!(played.end, PlayEnd::Eof);
    let got = played.tags();

    let first_media =
        got.iter().position(|t| t.tag_type != TagType::SCRIPT).expect("media arrived");
    let metadata =
        got.iter().position(|t| t.tag_type == TagType::SCRIPT).expect("metadata arrived");
    assert!(
        metadata < first_media,
        "metadata must come before media (at {metadata}, media at {first_media})"
    );

    let video: Vec<_> = got.iter().filter(|t| t.tag_type == TagType::VIDEO).collect();
    assert!(video.len() >= 3, "too little video: {}", video.len());
    assert!(
        support::is_sequence_header(video[0]),
        "first video tag is not the AVC sequence header"
    );
    assert!(support::is_keyframe(video[1]), "second video tag is not a keyframe");
    let audio: Vec<_> = got.iter().filter(|t| t.tag_type == TagType::AUDIO).collect();
    assert!(!audio.is_empty(), "no audio");
    assert!(
        support::is_sequence_header(audio[0]),
        "first audio tag is not the AAC sequence header"
    );

    let (v, a) = support::assert_suffix_frames(&sent, &got, "late player");
    // Joined at 2.3 s of 3 s: at least the last 0.7 s, from a keyframe at or before 2.3 s.
    assert!(v >= 17, "late player got only {v} video frames");
    eprintln!(
        "late player: {v} video and {a} audio frames, first video ts {} ms",
        video[1].timestamp
    );
}

/// Server chunk size 128 / 65536 (server to client) crossed with client chunk size 128 /
/// 65536 (client to server), all four at once: every frame intact. The 3 Mbit/s fixture has
/// frames larger than 64 KiB, so both sizes split messages.
#[test]
fn chunk_sizes_128_and_65536_in_both_directions() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264AacCbr { seconds: 2, kbps: 3000 }.path(&ffmpeg);
    let sent = support::read_tags(&input);
    let largest = sent.iter().map(|t| t.data.len()).max().unwrap_or(0);
    assert!(largest > 65536, "fixture has no frame over 64 KiB (largest {largest})");
    let rt = support::client_runtime();

    let combos = [(128u32, 128u32), (128, 65536), (65536, 128), (65536, 65536)];
    let servers: Vec<_> = combos
        .iter()
        .map(|&(server_chunk, _)| {
            let mut config = support::test_config();
            config.chunk_size = server_chunk;
            TestServer::start(config)
        })
        .collect();
    let runs: Vec<_> = combos
        .iter()
        .zip(&servers)
        .map(|(&(_, client_chunk), server)| {
            let options = ConnectOptions { chunk_size: client_chunk, ..support::quick_options() };
            let url = server.rtmp_url("live/chunks");
            let player =
                rt.spawn(support::play_all(url.clone(), options.clone(), Duration::from_secs(15)));
            (url, options, player)
        })
        .collect();
    for server in &servers {
        server.wait_viewers(1);
    }
    let publishers: Vec<_> = runs
        .iter()
        .map(|(url, options, _)| {
            let (input, url, options) = (input.clone(), url.clone(), options.clone());
            rt.spawn(async move {
                openrtmp_client::publish_file(&input, &url, options, PublishOptions::default())
                    .await
            })
        })
        .collect();
    for (((server_chunk, client_chunk), (_, _, player)), publisher) in
        combos.iter().zip(runs).zip(publishers)
    {
        let who = format!("server chunk {server_chunk}, client chunk {client_chunk}");
        let stats = rt
            .block_on(publisher)
            .expect("publisher task")
            .unwrap_or_else(|e| panic!("{who}: publish: {e}"));
        assert_eq!(stats.tags as usize, sent.len(), "{who}: tags published");
        let played = rt.block_on(player).expect("player task");
        assert_eq!(played.end, PlayEnd::Eof, "{who}: end");
        support::assert_same_frames(&sent, &played.tags(), &who);
    }
}

/// While one publisher streams, a second one on the same key is refused with
/// NetStream.Publish.BadName ("in use"); the first goes on unaffected and its player gets
/// every frame.
#[test]
fn second_publisher_on_the_same_key_is_refused() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 3 }.path(&ffmpeg);
    let sent = support::read_tags(&input);
    let server = TestServer::start(support::test_config());
    let url = server.rtmp_url("live/taken");
    let rt = support::client_runtime();

    let player =
        rt.spawn(support::play_all(url.clone(), support::quick_options(), Duration::from_secs(15)));
    server.wait_viewers(1);
    let started = Instant::now();
    let first = rt.spawn({
        let (input, url) = (input.clone(), url.clone());
        async move {
            openrtmp_client::publish_file(
                &input,
                &url,
                support::quick_options(),
                PublishOptions::default(),
            )
            .await
        }
    });
    std::thread::sleep(Duration::from_millis(1000));

    let (refusal, still_usable) = rt.block_on(async {
        let mut second =
            Connection::connect(&url, support::quick_options()).await.expect("second connects");
        let refusal = second.publish("taken", PublishType::Live).await;
        // A refused publish is a stream-level error: the connection stays up and can
        // publish another key.
        let other = second.publish("other", PublishType::Live).await;
        (refusal, other)
    });
    match refusal {
        Err(ClientError::Refused { code, description }) => {
            assert_eq!(code, "NetStream.Publish.BadName");
            assert!(description.contains("in use"), "description: {description}");
        }
        other => panic!("second publisher was not refused: {other:?}"),
    }
    still_usable.expect("the refused connection can publish another key");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the first publisher should still be running"
    );

    let stats = rt.block_on(first).expect("publisher task").expect("first publisher unaffected");
    assert_eq!(stats.tags as usize, sent.len());
    let played = rt.block_on(player).expect("player task");
    assert_eq!(played.end, PlayEnd::Eof);
    support::assert_same_frames(&sent, &played.tags(), "player of the first publisher");
}

/// Regression: with `streams.max_batch`, a frame waited for a later frame to close its
/// batch, so a publisher that pauses (a slide show, a stalled encoder) held its last frame
/// back until it sent again. The batch now goes out at its first frame's arrival plus
/// `max_batch`, later frame or not.
#[test]
fn a_batched_frame_goes_out_at_its_deadline_without_a_later_frame() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 1 }.path(&ffmpeg);
    let tags = support::read_tags(&input);
    let is_video = |t: &&openrtmp_media::flv_file::FlvTag| t.tag_type == TagType::VIDEO;
    let key = tags.iter().position(support::is_keyframe).expect("a keyframe");
    let next = tags.iter().skip(key + 1).find(is_video).expect("a video frame after it").clone();
    let mut config = support::test_config();
    config.hub.max_batch_ms = 300;
    // Longer than the wait below: a silent publisher's end would flush the batch too.
    config.publisher_timeout = Duration::from_secs(60);
    let server = TestServer::start(config);
    let url = server.rtmp_url("live/pause");
    let rt = support::client_runtime();
    rt.block_on(async {
        let mut publisher =
            Connection::connect(&url, support::quick_options()).await.expect("connect");
        publisher.publish("pause", PublishType::Live).await.expect("publish");
        let start = PublishOptions { realtime: false, repeat: 1 };
        openrtmp_client::publish_tags(&mut publisher, &tags[..=key], &start)
            .await
            .expect("headers and a keyframe");
        let limit = Duration::from_secs(10);
        let options = openrtmp_client::PlayOptions { idle_timeout: limit, ..Default::default() };
        let mut player = openrtmp_client::Player::open(&url, support::quick_options(), options)
            .await
            .expect("play");
        // The cached keyframe first.
        loop {
            let tag = player.next_tag().await.expect("next tag").expect("a tag");
            if support::is_keyframe(&tag) {
                break;
            }
        }
        // One more video frame, then the publisher pauses (its connection stays open).
        let message = Message {
            csid: csid::VIDEO,
            timestamp: next.timestamp,
            type_id: MessageType::VIDEO,
            stream_id: 0,
            payload: next.data.clone(),
        };
        publisher.session().send_media(&message).expect("send");
        publisher.flush().await.expect("flush");
        let got = tokio::time::timeout(limit, async {
            loop {
                let tag = player.next_tag().await.expect("next tag").expect("a tag");
                if tag.tag_type == TagType::VIDEO {
                    return tag;
                }
            }
        })
        .await
        .expect("the frame never came while the publisher paused");
        assert_eq!((got.timestamp, got.data), (next.timestamp, next.data));
        drop(publisher);
    });
}
