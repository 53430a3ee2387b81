//! End-to-end against a real, independent server: nginx with the RTMP module.
//!
//! Our client publishes an FFmpeg-made H.264 + AAC FLV; our client and FFmpeg play it back;
//! Debian's FFmpeg publishes and our client plays. Every audio and video frame must arrive
//! intact and in order.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use openrtmp_client::{ConnectOptions, PlayEnd, PlayOptions, Player, PublishOptions, RtmpUrl};
use openrtmp_media::flv_file::FlvTag;
use openrtmp_media::TagType;
use support::{
    frames, is_sequence_header, read_tags, sequence_headers, ChildGuard, Nginx, TempDir,
};

/// The fixture, made once per test binary.
fn fixture(ffmpeg: &Path) -> PathBuf {
    static FIXTURE: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let dir = TempDir::new("fixture");
            let path = dir.path("h264_aac.flv");
            support::make_h264_aac_flv(ffmpeg, &path, 3);
            (dir, path)
        })
        .1
        .clone()
}

/// Asserts `got` holds exactly the frames of `sent`, in order, with the same timestamps
/// relative to the first frame (`check_ts`).
fn assert_same_frames(sent: &[FlvTag], got: &[FlvTag], check_ts: bool, who: &str) {
    let (want, have) = (frames(sent), frames(got));
    assert_eq!(
        have.len(),
        want.len(),
        "{who}: frame count (sent {}, received {})",
        want.len(),
        have.len()
    );
    for (i, (w, h)) in want.iter().zip(&have).enumerate() {
        assert!(
            w == h,
            "{who}: frame {i} differs ({:?}, {} vs {} bytes)",
            w.0,
            w.1.len(),
            h.1.len()
        );
    }
    assert_eq!(sequence_headers(got), sequence_headers(sent), "{who}: sequence headers");
    if check_ts {
        let ts = |tags: &[FlvTag]| -> Vec<u32> {
            let media: Vec<_> = tags
                .iter()
                .filter(|t| t.tag_type != TagType::SCRIPT && !is_sequence_header(t))
                .collect();
            let base = media.first().map_or(0, |t| t.timestamp);
            media.iter().map(|t| t.timestamp.wrapping_sub(base)).collect()
        };
        assert_eq!(ts(got), ts(sent), "{who}: timestamps");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn quick_options() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

/// Plays `url` with our client until the stream ends; returns the tags.
async fn play_all(url: RtmpUrl) -> (Vec<FlvTag>, PlayEnd) {
    let play = PlayOptions {
        duration: Some(Duration::from_secs(20)),
        idle_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let mut player = Player::open(&url, quick_options(), play).await.expect("play");
    let mut tags = Vec::new();
    while let Some(tag) = player.next_tag().await.expect("next tag") {
        tags.push(tag);
    }
    let end = player.end().expect("end reason");
    (tags, end)
}

/// FFmpeg (5.1) playing from nginx-rtmp does not end when the publisher leaves (it keeps
/// waiting on the open connection), so the player is bounded by media time (`-t`) instead.
const FFMPEG_PLAY_SECONDS: &str = "2.5";

/// Asserts each of audio and video in `got` is a prefix (in order, byte-identical) of what
/// was sent, covering at least `min` of it.
fn assert_prefix_frames(sent: &[FlvTag], got: &[FlvTag], min: f64, who: &str) {
    for kind in [TagType::VIDEO, TagType::AUDIO] {
        let want: Vec<_> = frames(sent).into_iter().filter(|f| f.0 == kind).collect();
        let have: Vec<_> = frames(got).into_iter().filter(|f| f.0 == kind).collect();
        assert!(
            have.len() as f64 >= want.len() as f64 * min && have.len() <= want.len(),
            "{who}: {kind:?} got {} of {} frames",
            have.len(),
            want.len()
        );
        for (i, (w, h)) in want.iter().zip(&have).enumerate() {
            assert!(
                w == h,
                "{who}: {kind:?} frame {i} differs ({} vs {} bytes)",
                w.1.len(),
                h.1.len()
            );
        }
    }
    assert_eq!(sequence_headers(got), sequence_headers(sent), "{who}: sequence headers");
}

fn spawn_ffmpeg_player(ffmpeg: &Path, url: &str, out: &Path) -> ChildGuard {
    let child = Command::new(ffmpeg)
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            url,
            "-t",
            FFMPEG_PLAY_SECONDS,
            "-c",
            "copy",
            "-f",
            "flv",
        ])
        .arg(out)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn ffmpeg player");
    ChildGuard(child)
}

#[test]
fn our_client_publishes_through_nginx_and_ours_and_ffmpeg_play_it() {
    let (Some(ffmpeg), Some(nginx)) = (support::ffmpeg(), support::nginx()) else {
        return;
    };
    let input = fixture(&ffmpeg);
    let sent = read_tags(&input);
    let server = Nginx::start(&nginx);
    let dir = TempDir::new("pub-nginx");
    let url = server.url("live/ours");
    let rt = runtime();

    // Players first (nginx-rtmp has no GOP cache: a late player would start mid-stream).
    let ours = rt.spawn(play_all(RtmpUrl::parse(&url).unwrap()));
    let ffmpeg_out = dir.path("ffmpeg.flv");
    let mut ffmpeg_player = spawn_ffmpeg_player(&ffmpeg, &url, &ffmpeg_out);
    std::thread::sleep(Duration::from_millis(700));

    let stats = rt
        .block_on(openrtmp_client::publish_file(
            &input,
            &RtmpUrl::parse(&url).unwrap(),
            quick_options(),
            PublishOptions::default(),
        ))
        .expect("publish");
    assert_eq!(stats.tags as usize, sent.len());

    let (got, end) = rt.block_on(ours).expect("player task");
    assert_eq!(end, PlayEnd::Eof, "our player should see the end of the stream");
    assert_same_frames(&sent, &got, true, "our player");

    let status = ffmpeg_player.wait_timeout(Duration::from_secs(15)).expect("ffmpeg player exits");
    assert!(status.success(), "ffmpeg player failed: {status}");
    // 2.5 s of a 3 s stream.
    assert_prefix_frames(&sent, &read_tags(&ffmpeg_out), 0.75, "ffmpeg player");
}

#[test]
fn debian_ffmpeg_publishes_through_nginx_and_our_client_plays() {
    let (Some(ffmpeg), Some(nginx)) = (support::ffmpeg(), support::nginx()) else {
        return;
    };
    let input = fixture(&ffmpeg);
    let sent = read_tags(&input);
    let server = Nginx::start(&nginx);
    let url = server.url("live/ffmpeg");
    let rt = runtime();

    let ours = rt.spawn(play_all(RtmpUrl::parse(&url).unwrap()));
    std::thread::sleep(Duration::from_millis(500));
    let mut publisher = ChildGuard(
        Command::new(&ffmpeg)
            .args(["-hide_banner", "-loglevel", "error", "-re", "-i"])
            .arg(&input)
            .args(["-c", "copy", "-f", "flv", &url])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn ffmpeg publisher"),
    );
    let status =
        publisher.wait_timeout(Duration::from_secs(20)).expect("ffmpeg publisher finishes");
    assert!(status.success(), "ffmpeg publisher failed: {status}");
    let (got, end) = rt.block_on(ours).expect("player task");
    assert_eq!(end, PlayEnd::Eof);
    assert_same_frames(&sent, &got, false, "our player (ffmpeg publishing)");
}
