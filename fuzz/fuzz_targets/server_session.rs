//! A whole server session fed arbitrary bytes after a valid handshake: commands, control
//! messages, media, in arbitrary chunking. Every request is decided (accepted or rejected,
//! by a bit of the input) so every path of the state machine is reachable. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrtmp_proto::command::StatusCode;
use openrtmp_proto::session::{ServerConfig, ServerEvent, ServerSession};

fuzz_target!(|data: &[u8]| {
    let random = [0x5Au8; 3032];
    let mut server = ServerSession::new(ServerConfig::default(), 0, &random);
    // C0 + C1 (zero version field: simple handshake) + C2.
    let mut handshake = vec![3u8];
    handshake.extend_from_slice(&[0u8; 1536 * 2]);
    if server.handle_input(&handshake).is_err() {
        return;
    }
    let (split_seed, body) = data.split_first().map_or((0, data), |(s, b)| (*s, b));
    let piece = usize::from(split_seed).max(1);
    let mut player_stream = None;
    for chunk in body.chunks(piece) {
        if server.handle_input(chunk).is_err() {
            break;
        }
        let mut decide = 0u32;
        while let Some(event) = server.poll_event() {
            decide = decide.wrapping_add(1);
            let accept = (u32::from(split_seed) ^ decide) & 1 == 0;
            let result = match event {
                ServerEvent::Connect { request, .. } if accept => server.accept_connect(request),
                ServerEvent::Connect { request, .. } => {
                    server.reject_connect(request, "fuzz");
                    Ok(())
                }
                ServerEvent::Publish { request, .. } if accept => server.accept_publish(request),
                ServerEvent::Publish { request, .. } => {
                    server.reject_publish(request, StatusCode::PUBLISH_BAD_NAME, "fuzz")
                }
                ServerEvent::Play { request, stream_id, .. } if accept => {
                    player_stream = Some(stream_id);
                    server.accept_play(request)
                }
                ServerEvent::Play { request, .. } => {
                    server.reject_play(request, StatusCode::PLAY_STREAM_NOT_FOUND, "fuzz")
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
    }
});
