//! Enhanced RTMP end to end with the current FFmpeg: it publishes HEVC + Opus, AV1 + AAC and
//! VP9 + Opus; the current FFmpeg records the stream with `-c copy` (the codecs must survive)
//! and our client plays it (every payload byte-identical to what was published).

mod support;

use std::time::Duration;

use openrtmp_client::PlayEnd;
use openrtmp_media::{TagType, VideoCodec};
use support::{Ffmpeg, Fixture, TempDir, TestServer};

/// Publishes `fixture` with the current FFmpeg (`-rtmp_enhanced_codecs fourccs`) while the
/// current FFmpeg and our client play; checks what both received.
fn enhanced_round_trip(fixture: Fixture, fourccs: &str, codecs: [&str; 2], video_fourcc: &[u8; 4]) {
    let Some(ffmpeg) = support::ffmpeg_current() else { return };
    let input = fixture.path(&ffmpeg);
    // The fixture itself is what we think it is.
    assert_eq!(support::stream_codecs(&ffmpeg, &input), codecs, "fixture {}", input.display());
    let name = codecs.join("_");
    let dir = TempDir::new(&name);
    // What FFmpeg publishes is its FLV muxer's remux of the fixture, which is not always
    // the fixture byte for byte (FFmpeg 9 rewrites the colorInfo metadata packet with more
    // fields), so the reference is the same remux into a file.
    let published = dir.path("as_published.flv");
    support::run_ffmpeg(
        &ffmpeg,
        &[
            "-v",
            "error",
            "-i",
            input.to_str().unwrap(),
            "-c",
            "copy",
            "-f",
            "flv",
            published.to_str().unwrap(),
        ],
    )
    .expect("remux the fixture");
    let sent = support::read_tags(&published);

    let server = TestServer::start(support::test_config());
    let url = server.url(&format!("live/{name}"));
    let rt = support::client_runtime();

    let ours = rt.spawn(support::play_all(
        server.rtmp_url(&format!("live/{name}")),
        support::quick_options(),
        Duration::from_secs(20),
    ));
    let out = dir.path("ffmpeg.flv");
    let mut player = Ffmpeg::spawn(
        &ffmpeg,
        "current ffmpeg player",
        &["-i", url.as_str(), "-c", "copy", "-f", "flv", out.to_str().unwrap()],
        dir.path("player.log"),
    );
    server.wait_viewers(2);

    let mut publisher = Ffmpeg::spawn(
        &ffmpeg,
        "current ffmpeg publisher",
        &[
            "-re",
            "-i",
            input.to_str().unwrap(),
            "-c",
            "copy",
            "-f",
            "flv",
            "-rtmp_enhanced_codecs",
            fourccs,
            url.as_str(),
        ],
        dir.path("publisher.log"),
    );
    publisher.wait_success(Duration::from_secs(20));
    player.wait_success(Duration::from_secs(10));

    // Our client: every payload as published.
    let played = rt.block_on(ours).expect("player task");
    assert_eq!(played.end, PlayEnd::Eof, "our player should see the end of the stream");
    let got = played.tags();
    support::assert_same_frames(&sent, &got, &format!("our player ({name})"));
    let first_video = got
        .iter()
        .find(|t| t.tag_type == TagType::VIDEO)
        .map(|t| openrtmp_media::parse_video(&t.data).expect("video parses"))
        .expect("video arrived");
    assert!(first_video.is_enhanced(), "{name}: video is not Enhanced RTMP");
    assert!(
        first_video
            .tracks
            .iter()
            .any(|t| t.codec == VideoCodec::FourCc(openrtmp_media::FourCc(*video_fourcc))),
        "{name}: first video tag is not {}: {first_video:?}",
        String::from_utf8_lossy(video_fourcc)
    );

    // The current FFmpeg: same codecs, every frame, and the recording decodes.
    assert_eq!(support::stream_codecs(&ffmpeg, &out), codecs, "codecs in FFmpeg's recording");
    support::assert_same_frames(
        &sent,
        &support::read_tags(&out),
        &format!("ffmpeg player ({name})"),
    );
    let log = support::run_ffmpeg(
        &ffmpeg,
        &["-v", "error", "-i", out.to_str().unwrap(), "-f", "null", "-"],
    )
    .unwrap_or_else(|e| panic!("{name}: recording does not decode: {e}"));
    assert!(log.trim().is_empty(), "{name}: decoder complained:\n{log}");
}

#[test]
fn hevc_and_opus_over_enhanced_rtmp() {
    enhanced_round_trip(Fixture::HevcOpus { seconds: 2 }, "hvc1,Opus", ["hevc", "opus"], b"hvc1");
}

#[test]
fn av1_and_aac_over_enhanced_rtmp() {
    enhanced_round_trip(Fixture::Av1Aac { seconds: 2 }, "av01,mp4a", ["av1", "aac"], b"av01");
}

#[test]
fn vp9_and_opus_over_enhanced_rtmp() {
    enhanced_round_trip(Fixture::Vp9Opus { seconds: 2 }, "vp09,Opus", ["vp9", "opus"], b"vp09");
}

/// Our client publishes each Enhanced RTMP fixture (as fast as it can) while our client plays
/// it: every frame byte-identical to the file (no FFmpeg remux in between).
#[test]
fn our_client_relays_enhanced_fixtures_byte_for_byte() {
    let Some(ffmpeg) = support::ffmpeg_current() else { return };
    let fixtures = [
        Fixture::HevcOpus { seconds: 2 },
        Fixture::Av1Aac { seconds: 2 },
        Fixture::Vp9Opus { seconds: 2 },
    ];
    let server = TestServer::start(support::test_config());
    let rt = support::client_runtime();
    let runs: Vec<_> = fixtures
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let url = server.rtmp_url(&format!("live/ours{i}"));
            let player = rt.spawn(support::play_all(
                url.clone(),
                support::quick_options(),
                Duration::from_secs(10),
            ));
            (f.path(&ffmpeg), url, player)
        })
        .collect();
    server.wait_viewers(fixtures.len());
    let publishers: Vec<_> = runs
        .iter()
        .map(|(input, url, _)| {
            let (input, url) = (input.clone(), url.clone());
            let fast = openrtmp_client::PublishOptions { realtime: false, repeat: 1 };
            rt.spawn(async move {
                openrtmp_client::publish_file(&input, &url, support::quick_options(), fast).await
            })
        })
        .collect();
    for ((input, _, player), publisher) in runs.into_iter().zip(publishers) {
        let who = input.file_name().unwrap().to_string_lossy().into_owned();
        rt.block_on(publisher)
            .expect("publisher task")
            .unwrap_or_else(|e| panic!("{who}: publish: {e}"));
        let played = rt.block_on(player).expect("player task");
        assert_eq!(played.end, PlayEnd::Eof, "{who}");
        support::assert_same_frames(&support::read_tags(&input), &played.tags(), &who);
    }
}
