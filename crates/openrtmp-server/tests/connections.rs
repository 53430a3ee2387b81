//! A thousand concurrent connections are accepted and served.
//!
//! Its own test binary: 2000 sockets in one process should not share it with other tests.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use openrtmp_client::{ConnectOptions, Connection, PublishOptions};
use openrtmp_media::flv_file::FlvTag;
use support::{Fixture, TestServer};

/// Plays `name` on an open connection until the end of the stream; returns the tags.
async fn play_on(conn: Connection, name: &str) -> Vec<FlvTag> {
    support::play_on(conn, name).await.into_iter().map(|(_, tag)| tag).collect()
}

/// 1000 clients connect at once (TCP, handshake, connect) and stay connected; then five of
/// them play a live stream and get every frame.
#[test]
fn a_thousand_concurrent_connections_are_accepted_and_served() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    const CLIENTS: usize = 1000;
    // Each connection costs two descriptors here (client and server side).
    match support::open_files_limit() {
        Some(n) if n >= 2500 => {}
        other => {
            support::skip_or_fail(&format!(
                "the open files limit ({other:?}) is below 2500; raise it (ulimit -n 4096) to run this test"
            ));
            return;
        }
    }
    let input = Fixture::H264Aac { seconds: 2 }.path(&ffmpeg);
    let sent = support::read_tags(&input);
    let mut config = support::test_config();
    // All clients come from 127.0.0.1; the per-IP default (1000) would refuse the publisher.
    config.max_connections_per_ip = 2 * CLIENTS;
    let server = TestServer::start(config);
    let url = server.rtmp_url("live/crowd");
    let rt = support::client_runtime();

    let started = Instant::now();
    let options =
        ConnectOptions { connect_timeout: Duration::from_secs(30), ..support::quick_options() };
    let results = rt.block_on(async {
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (url, options) = (url.clone(), options.clone());
                tokio::spawn(async move { Connection::connect(&url, options).await })
            })
            .collect();
        let mut results = Vec::with_capacity(CLIENTS);
        for task in tasks {
            results.push(task.await.expect("connect task"));
        }
        results
    });
    let connect_time = started.elapsed();
    let failures: Vec<_> =
        results.iter().filter_map(|r| r.as_ref().err()).map(ToString::to_string).collect();
    assert!(
        failures.is_empty(),
        "{} of {CLIENTS} connects failed, e.g. {:?}",
        failures.len(),
        failures.first()
    );
    let mut conns: Vec<Connection> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(server.stats.accepted.load(Ordering::Relaxed), CLIENTS as u64);
    assert_eq!(server.stats.refused.load(Ordering::Relaxed), 0);
    eprintln!(
        "{CLIENTS} connections (TCP + handshake + connect) in {} ms",
        connect_time.as_millis()
    );

    // Five of them play while the other 995 stay connected and idle.
    let players: Vec<_> =
        conns.split_off(CLIENTS - 5).into_iter().map(|c| rt.spawn(play_on(c, "crowd"))).collect();
    server.wait_viewers(5);
    let stats = rt
        .block_on(openrtmp_client::publish_file(
            &input,
            &url,
            support::quick_options(),
            PublishOptions::default(),
        ))
        .expect("publish");
    assert_eq!(stats.tags as usize, sent.len());
    for (i, player) in players.into_iter().enumerate() {
        let got = rt.block_on(player).expect("player task");
        support::assert_same_frames(&sent, &got, &format!("player {i} of {CLIENTS}"));
    }
    assert_eq!(server.stats.panics.load(Ordering::Relaxed), 0);
    eprintln!("total {} ms", started.elapsed().as_millis());
    drop(conns);
}
