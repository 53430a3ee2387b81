//! Debian's FFmpeg 5.1 against the server: FFmpeg publishes H.264 + AAC over classic RTMP,
//! FFmpeg and our client play. Every frame must arrive intact and in order, and players must
//! learn promptly that a publisher died.

mod support;

use std::time::{Duration, Instant};

use openrtmp_client::PlayEnd;
use openrtmp_server::Config;
use support::{Ffmpeg, Fixture, TempDir, TestServer};

/// Three FFmpeg players wait for the stream, then FFmpeg publishes a 3 s fixture in real
/// time. Each player records with `-c copy`; the recordings must hold every frame of the
/// fixture, byte-identical and in order, and decode cleanly.
#[test]
fn debian_ffmpeg_publishes_and_three_ffmpeg_players_get_every_frame() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 3 }.path(&ffmpeg);
    let sent = support::read_tags(&input);
    let server = TestServer::start(support::test_config());
    let url = server.url("live/three");
    let dir = TempDir::new("three-players");

    let started = Instant::now();
    let mut players: Vec<(Ffmpeg, std::path::PathBuf)> = (0..3)
        .map(|i| {
            let out = dir.path(&format!("player{i}.flv"));
            let args = ["-i", url.as_str(), "-c", "copy", "-f", "flv", out.to_str().unwrap()];
            let p = Ffmpeg::spawn(
                &ffmpeg,
                &format!("ffmpeg player {i}"),
                &args,
                dir.path(&format!("player{i}.log")),
            );
            (p, out)
        })
        .collect();
    // Every player must be attached before the publisher starts, so that each gets it all.
    server.wait_viewers(3);

    let mut publisher = Ffmpeg::spawn(
        &ffmpeg,
        "ffmpeg publisher",
        &["-re", "-i", input.to_str().unwrap(), "-c", "copy", "-f", "flv", url.as_str()],
        dir.path("publisher.log"),
    );
    publisher.wait_success(Duration::from_secs(20));
    let published = started.elapsed();

    // unpublished_wait = 0: the server closes players right after the end-of-stream
    // notice, so FFmpeg sees the end of its input and finishes the file.
    for (player, _) in &mut players {
        player.wait_success(Duration::from_secs(10));
    }
    eprintln!(
        "published in {:.2} s, players done {:.2} s after start",
        published.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    for (i, (_, out)) in players.iter().enumerate() {
        let got = support::read_tags(out);
        support::assert_same_frames(&sent, &got, &format!("ffmpeg player {i}"));
        // And the recording decodes without errors.
        let out = out.to_str().unwrap();
        let log =
            support::run_ffmpeg(&ffmpeg, &["-v", "error", "-xerror", "-i", out, "-f", "null", "-"])
                .unwrap_or_else(|e| panic!("player {i}: recording does not decode: {e}"));
        assert!(log.trim().is_empty(), "player {i}: decoder complained:\n{log}");
    }
}

/// FFmpeg publishes (looping its input) and is killed with SIGKILL after 2 s: with the
/// reconnect grace off (`streams.publisher_grace: 0s`), both of our players must get the end
/// of the stream within 1 s of the kill. (With the grace on, tests/publisher_grace.rs.)
#[test]
fn publisher_killed_with_sigkill_ends_players_within_a_second() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 3 }.path(&ffmpeg);
    let config = Config { publisher_grace: Duration::ZERO, ..support::test_config() };
    let server = TestServer::start(config);
    let url = server.url("live/killed");
    let dir = TempDir::new("sigkill");
    let rt = support::client_runtime();

    let players: Vec<_> = (0..2)
        .map(|_| {
            rt.spawn(support::play_all(
                server.rtmp_url("live/killed"),
                support::quick_options(),
                Duration::from_secs(15),
            ))
        })
        .collect();
    server.wait_viewers(2);
    let mut publisher = Ffmpeg::spawn(
        &ffmpeg,
        "ffmpeg publisher",
        &[
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            input.to_str().unwrap(),
            "-c",
            "copy",
            "-f",
            "flv",
            url.as_str(),
        ],
        dir.path("publisher.log"),
    );
    std::thread::sleep(Duration::from_secs(2));
    if let Ok(Some(status)) = publisher.child.0.try_wait() {
        panic!("publisher exited early ({status}):\n{}", publisher.log_text());
    }
    let killed_at = Instant::now();
    publisher.child.0.kill().expect("SIGKILL the publisher");
    let _ = publisher.child.0.wait();

    for (i, player) in players.into_iter().enumerate() {
        let played = rt.block_on(player).expect("player task");
        let latency = played.ended_at.saturating_duration_since(killed_at);
        eprintln!(
            "player {i}: {} tags, end {:?}, {} ms after SIGKILL",
            played.tags.len(),
            played.end,
            latency.as_millis()
        );
        assert!(
            played.tags.len() > 50,
            "player {i} got only {} tags before the kill",
            played.tags.len()
        );
        assert_eq!(played.end, PlayEnd::Eof, "player {i} should see the end of the stream");
        assert!(
            latency < Duration::from_secs(1),
            "player {i}: end of stream {latency:?} after the kill"
        );
    }
}
