//! A viewer that stops reading must not slow the other players or grow the server's memory.
//!
//! Its own test binary: it measures this process's RSS, which another test running in
//! parallel would disturb.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::hash::{Hash, Hasher};

use bytes::Bytes;
use openrtmp_client::{Connection, PlayEnd, PlayOptions, Player, PublishOptions, RtmpUrl};
use openrtmp_media::TagType;
use support::{Fixture, TestServer};

/// What a player received, without keeping payloads (so that the RSS measures the server,
/// not the test's players): per tag its arrival, type, timestamp and a hash of its bytes.
struct Digest {
    at: Instant,
    frame: bool,
    timestamp: u32,
    hash: u64,
}

fn hash_frame(tag_type: TagType, data: &Bytes) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (tag_type, data).hash(&mut h);
    h.finish()
}

/// Plays `url` to the end of the stream, keeping digests only.
async fn play_digests(url: RtmpUrl) -> (Vec<Digest>, PlayEnd) {
    let limit = Duration::from_secs(20);
    let options = PlayOptions { duration: Some(limit), idle_timeout: limit, ..Default::default() };
    let mut player = Player::open(&url, support::quick_options(), options).await.expect("play");
    let mut got = Vec::new();
    while let Some(tag) = player.next_tag().await.expect("next tag") {
        got.push(Digest {
            at: Instant::now(),
            frame: support::is_frame(&tag),
            timestamp: tag.timestamp,
            hash: hash_frame(tag.tag_type, &tag.data),
        });
    }
    (got, player.end().expect("end reason"))
}

/// How a player kept up: media time delivered per wall time between its first and last
/// frame, and the worst lateness of a frame against the first one's schedule.
fn pace(got: &[Digest]) -> (f64, i64) {
    let media: Vec<_> = got.iter().filter(|d| d.frame).collect();
    let (first, last) =
        (media.first().expect("media arrived"), media.last().expect("media arrived"));
    let wall_ms = last.at.duration_since(first.at).as_secs_f64() * 1000.0;
    let media_ms = f64::from(last.timestamp.wrapping_sub(first.timestamp));
    let worst_late = media
        .iter()
        .map(|d| {
            let wall = d.at.duration_since(first.at).as_millis() as i64;
            wall - i64::from(d.timestamp.wrapping_sub(first.timestamp))
        })
        .max()
        .unwrap_or(0);
    (media_ms / wall_ms, worst_late)
}

/// One raw client plays and then never reads (its socket buffers fill up and stay full);
/// three normal players must still get the stream at its real rate, every frame intact,
/// while the hub's memory and the process's RSS stay bounded; the stalled viewer is
/// disconnected `write_timeout` (1 s here) after its socket stopped taking data.
///
/// The bitrate is high (~12 Mbit/s) on purpose: loopback TCP buffers up to ~4 MB for a
/// reader that does not read (the sender's buffer autotunes to `tcp_wmem` max), so at
/// 3 Mbit/s the server itself would never see the viewer stall within a few seconds.
///
/// Run twice: with the publisher's task writing through io_uring (Linux builds with the
/// `io-uring` feature, where the kernel allows it; `writev` elsewhere) and with one
/// `writev` per viewer (`streams.io_uring: false`).
#[test]
fn a_viewer_that_stops_reading_does_not_slow_the_others() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264AacCbr { seconds: 2, kbps: 10_000 }.path(&ffmpeg);
    for io_uring in [true, false] {
        eprintln!("streams.io_uring: {io_uring}");
        stalled_viewer_run(&input, io_uring);
    }
}

fn stalled_viewer_run(input: &std::path::Path, io_uring: bool) {
    let sent = support::read_tags(input);
    let repeat = 3;
    let mut config = support::test_config();
    config.write_timeout = Duration::from_secs(1);
    config.io_uring = io_uring;
    let server = TestServer::start(config);
    let url = server.rtmp_url("live/fast");
    let rt = support::client_runtime();

    // The stalled viewer: a small receive buffer, handshake + connect + play, then nothing.
    let mut stalled = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(8 * 1024).expect("SO_RCVBUF");
        let tcp = socket.connect(server.addr).await.expect("tcp connect");
        let mut conn =
            Connection::over(Box::new(tcp), &url, support::quick_options()).await.expect("connect");
        conn.play("fast").await.expect("play");
        conn
    });
    let players: Vec<_> = (0..3).map(|_| rt.spawn(play_digests(url.clone()))).collect();
    server.wait_viewers(4);

    // Sample the hub's memory, the RSS and the viewer count while the stream runs.
    let rss_before = support::vm_rss().unwrap_or(0);
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, hub) = (Arc::clone(&done), server.hub.clone());
        let started = Instant::now();
        std::thread::spawn(move || {
            let (mut hub_max, mut rss_max, mut three_at, mut direct_max) = (0usize, 0u64, None, 0);
            while !done.load(Ordering::Relaxed) {
                hub_max = hub_max.max(hub.memory_bytes());
                rss_max = rss_max.max(support::vm_rss().unwrap_or(0));
                let viewers: usize = hub.streams().iter().map(|s| s.viewers).sum();
                let direct: usize = hub.streams().iter().map(|s| s.direct_viewers).sum();
                direct_max = direct_max.max(direct);
                if viewers == 3 && three_at.is_none() && hub.streams().iter().any(|s| s.publishing)
                {
                    three_at = Some(started.elapsed());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (hub_max, rss_max, three_at, direct_max)
        })
    };
    let publish = PublishOptions { realtime: true, repeat };
    let stats = rt
        .block_on(openrtmp_client::publish_file(input, &url, support::quick_options(), publish))
        .expect("publish");
    done.store(true, Ordering::Relaxed);
    let (hub_max, rss_max, stalled_dropped_at, direct_max) = sampler.join().expect("sampler");
    // The three that keep up were written by the publisher's task (run-to-completion
    // fan-out) beside the stalled one (which was too, until its socket filled up).
    eprintln!("viewers fed by the publisher's task at once: at most {direct_max}");
    assert!(direct_max >= 3, "the viewers keeping up were not fed by the publisher's task");

    let want: Vec<u64> = support::frames(&sent).iter().map(|(t, d)| hash_frame(*t, d)).collect();
    let want: Vec<u64> = std::iter::repeat_n(want, repeat as usize).flatten().collect();
    let mbit = stats.bytes as f64 * 8.0 / stats.media_seconds / 1e6;
    eprintln!(
        "published {:.1} s of media ({mbit:.2} Mbit/s) in {:.2} s",
        stats.media_seconds, stats.elapsed_seconds
    );
    for (i, player) in players.into_iter().enumerate() {
        let (got, end) = rt.block_on(player).expect("player task");
        assert_eq!(end, PlayEnd::Eof, "player {i}");
        let (rate, worst_late) = pace(&got);
        eprintln!("player {i}: media/wall {rate:.3}, worst lateness {worst_late} ms");
        assert!((0.9..=1.1).contains(&rate), "player {i}: media time / wall time = {rate:.3}");
        assert!(worst_late < 500, "player {i}: a frame arrived {worst_late} ms late");
        let have: Vec<u64> = got.iter().filter(|d| d.frame).map(|d| d.hash).collect();
        let diff = want.iter().zip(&have).position(|(w, h)| w != h);
        assert!(
            have.len() == want.len() && diff.is_none(),
            "player {i}: sent {} frames, received {}, first difference at {diff:?}",
            want.len(),
            have.len()
        );
    }

    // What the stalled viewer got, and whether the server cut it off before the end.
    let drained = rt.block_on(async {
        let mut closed = false;
        while let Ok(read) =
            tokio::time::timeout(Duration::from_secs(2), stalled.read_input()).await
        {
            if !matches!(read, Ok(true)) {
                closed = true;
                break;
            }
            while stalled.session().poll_event().is_some() {}
        }
        (closed, stalled.session().bytes_received())
    });
    let rss_growth = rss_max.saturating_sub(rss_before);
    eprintln!(
        "stalled viewer: received {} KiB, closed by server: {}, dropped at {stalled_dropped_at:?}; \
         hub memory max {} KiB; RSS growth {} MiB",
        drained.1 / 1024,
        drained.0,
        hub_max / 1024,
        rss_growth >> 20
    );
    assert!(drained.0, "the server never closed the stalled viewer");
    assert!(
        stalled_dropped_at.is_some(),
        "the stalled viewer was not disconnected while the stream ran (write_timeout 1 s)"
    );
    // The ring keeps max(gop_cache 2 s, viewer_max_lag 5 s) of media: ~7.5 MB at this rate.
    assert!(hub_max < 24 << 20, "hub memory reached {hub_max} bytes");
    assert!(rss_growth < 50 << 20, "RSS grew by {rss_growth} bytes");
}
