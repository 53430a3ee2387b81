//! A whole server session fed arbitrary bytes after a valid handshake: commands, control
//! messages, media, in arbitrary chunking. Every request is decided (accepted or rejected,
//! by a bit of the input) so every path of the state machine is reachable. Time advances by an
//! amount drawn from the input after every piece and `handle_timeout` runs, so timers expire at
//! arbitrary points of the flow. Must never panic, and `poll_timeout` never lies: a session
//! whose earliest deadline has passed times out, one that did not time out has no deadline in
//! the past.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use openrtmp_proto::command::StatusCode;
use openrtmp_proto::session::{ServerConfig, ServerEvent, ServerSession};

fuzz_target!(|data: &[u8]| {
    let random = [0x5Au8; 3032];
    let mut now = Instant::now();
    let mut server = ServerSession::new(ServerConfig::default(), now, 0, &random);
    // C0 + C1 (zero version field: simple handshake) + C2.
    let mut handshake = vec![3u8];
    handshake.extend_from_slice(&[0u8; 1536 * 2]);
    if server.handle_input(now, &handshake).is_err() {
        return;
    }
    let (split_seed, body) = data.split_first().map_or((0, data), |(s, b)| (*s, b));
    let piece = usize::from(split_seed).max(1);
    let mut player_stream = None;
    for chunk in body.chunks(piece) {
        if server.handle_input(now, chunk).is_err() {
            break;
        }
        let mut decide = 0u32;
        while let Some(event) = server.poll_event() {
            decide = decide.wrapping_add(1);
            let accept = (u32::from(split_seed) ^ decide) & 1 == 0;
            let result = match event {
                ServerEvent::Connect { request, .. } if accept => {
                    server.accept_connect(now, request)
                }
                ServerEvent::Connect { request, .. } => {
                    server.reject_connect(request, "fuzz");
                    Ok(())
                }
                ServerEvent::Publish { request, .. } if accept => server.accept_publish(now, request),
                ServerEvent::Publish { request, .. } => {
                    server.reject_publish(now, request, StatusCode::PUBLISH_BAD_NAME, "fuzz")
                }
                ServerEvent::Play { request, stream_id, .. } if accept => {
                    player_stream = Some(stream_id);
                    server.accept_play(now, request)
                }
                ServerEvent::Play { request, .. } => {
                    server.reject_play(now, request, StatusCode::PLAY_STREAM_NOT_FOUND, "fuzz")
                }
                ServerEvent::Media { message, .. } => {
                    if let Some(id) = player_stream {
                        server.send_media(id, &message);
                    }
                    Ok(())
                }
                _ => Ok(()),
            };
            if result.is_err() {
                return;
            }
        }
        let n = server.transmit().len();
        server.transmit().advance(n);
        // 0 to ~6.5 s per piece, from the piece's first byte: every timer is reachable.
        let step = chunk.first().map_or(0, |b| u64::from(*b));
        now += Duration::from_millis(step * step / 10);
        let due = server.poll_timeout().is_some_and(|deadline| deadline <= now);
        match server.handle_timeout(now) {
            Ok(()) => {
                assert!(!due, "a deadline passed and nothing timed out");
                assert!(server.poll_timeout().is_none_or(|deadline| deadline > now));
            }
            Err(_) => break,
        }
    }
});
