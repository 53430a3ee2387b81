//! Session timers with an injected clock: each fires exactly at its deadline, not 1 ms before.

use super::*;
use crate::session::Timer;

const MS: Duration = Duration::from_millis(1);

fn expect_timeout(server: &mut ServerSession, deadline: Instant, timer: Timer) {
    assert_eq!(server.poll_timeout(), Some(deadline));
    assert_eq!(server.handle_timeout(deadline - MS), Ok(()), "{timer:?} fired 1 ms early");
    assert!(!server.is_closed());
    let err = SessionError::TimedOut { timer };
    assert_eq!(server.handle_timeout(deadline), Err(err.clone()));
    assert_eq!(err.disposition(), Disposition::Close);
    assert!(server.is_closed());
    assert_eq!(server.poll_timeout(), None, "a closed session times nothing");
    // Sticky, like every session error.
    assert_eq!(server.handle_input(deadline, &[0]), Err(err.clone()));
    assert_eq!(server.handle_timeout(deadline + Duration::from_secs(1)), Err(err));
}

/// A pair whose client is connected at `p.now`, 2 s after the pair was created.
fn connected() -> (Pair, Instant) {
    let mut p = Pair::new(ClientMode::Digest, None);
    p.now += Duration::from_secs(2);
    p.connect();
    let at = p.now;
    (p, at)
}

fn play_request(p: &mut Pair) -> RequestId {
    p.take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::Play { request, .. } => Some(request),
            _ => None,
        })
        .expect("play event")
}

fn publish_request(p: &mut Pair) -> RequestId {
    p.take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::Publish { request, .. } => Some(request),
            _ => None,
        })
        .expect("publish event")
}

#[test]
fn handshake_deadline_counts_from_creation() {
    let mut p = Pair::new(ClientMode::Digest, None);
    let created = p.now;
    // C0+C1 arrive, the handshake is not complete: the deadline does not move.
    let c0c1 = drain(p.client.transmit());
    p.now += Duration::from_secs(3);
    p.server.handle_input(p.now, &c0c1).unwrap();
    expect_timeout(&mut p.server, created + DEFAULT_HANDSHAKE_TIMEOUT, Timer::Handshake);
}

#[test]
fn connect_deadline_counts_from_the_handshake_and_includes_the_decision() {
    let mut p = Pair::new(ClientMode::Digest, None);
    p.now += Duration::from_secs(4);
    let handshake_done = p.now;
    p.pump().unwrap();
    // connect arrived and waits for a decision: it still counts.
    assert!(p.take_server().iter().any(|e| matches!(e, ServerEvent::Connect { .. })));
    assert!(p.server.is_waiting());
    expect_timeout(&mut p.server, handshake_done + DEFAULT_CONNECT_TIMEOUT, Timer::Connect);
}

#[test]
fn accepted_connect_stops_the_connect_timer_and_starts_idle() {
    let (p, connected_at) = connected();
    assert_eq!(p.server.poll_timeout(), Some(connected_at + DEFAULT_IDLE_TIMEOUT));
}

/// The bug: a client that connects and then neither publishes nor plays kept its connection
/// forever. Pings and commands do not keep it alive.
#[test]
fn idle_after_connect_without_play_even_with_pings_and_commands() {
    let (mut p, connected_at) = connected();
    for i in 1..=3u32 {
        p.now = connected_at + Duration::from_secs(u64::from(i) * 9);
        let ping =
            crate::control::ControlMessage::UserControl(crate::control::UserControl::PingRequest {
                timestamp: i,
            });
        raw_to_server(&mut p, ping.to_message(), None).unwrap();
        let create = crate::command::call("createStream", f64::from(10 + i), &[]);
        raw_to_server(&mut p, crate::command::command_message(0, create), None).unwrap();
        assert_eq!(p.server.handle_timeout(p.now), Ok(()));
    }
    expect_timeout(&mut p.server, connected_at + DEFAULT_IDLE_TIMEOUT, Timer::Idle);
}

/// A client that declares a large message and stops sending mid-message is idle too.
#[test]
fn idle_for_a_client_stalled_mid_message() {
    let (mut p, connected_at) = connected();
    p.now += Duration::from_secs(1);
    let big = crate::command::call("myCall", 5.0, &[Amf0Value::string("x".repeat(100_000))]);
    raw_to_server(&mut p, crate::command::command_message(0, big), Some(10_000)).unwrap();
    p.pump().unwrap();
    assert!(p.take_server().is_empty());
    expect_timeout(&mut p.server, connected_at + DEFAULT_IDLE_TIMEOUT, Timer::Idle);
}

#[test]
fn no_idle_while_a_decision_is_pending_then_idle_from_the_refusal() {
    let (mut p, _) = connected();
    p.client.play("cam", -2.0, -1.0, true).unwrap();
    p.pump().unwrap();
    let request = play_request(&mut p);
    assert!(p.server.is_waiting());
    assert_eq!(p.server.poll_timeout(), None);
    p.now += Duration::from_secs(100);
    assert_eq!(p.server.handle_timeout(p.now), Ok(()));
    let refused_at = p.now;
    p.server.reject_play(p.now, request, StatusCode::PLAY_STREAM_NOT_FOUND, "no").unwrap();
    expect_timeout(&mut p.server, refused_at + DEFAULT_IDLE_TIMEOUT, Timer::Idle);
}

/// A player (even of a stream nobody publishes yet) is not idle; when it stops playing the
/// idle deadline starts from that moment.
#[test]
fn no_idle_while_playing() {
    let (mut p, _) = connected();
    p.client.play("cam", -2.0, -1.0, true).unwrap();
    p.pump().unwrap();
    let request = play_request(&mut p);
    p.server.accept_play(p.now, request).unwrap();
    assert_eq!(p.server.poll_timeout(), None);
    p.now += Duration::from_secs(3600);
    assert_eq!(p.server.handle_timeout(p.now), Ok(()));
    p.client.stop_play();
    p.pump().unwrap();
    let stopped_at = p.now;
    assert!(p.take_server().iter().any(|e| matches!(e, ServerEvent::PlayStopped { .. })));
    expect_timeout(&mut p.server, stopped_at + DEFAULT_IDLE_TIMEOUT, Timer::Idle);
}

fn publishing() -> (Pair, Instant) {
    let (mut p, _) = connected();
    p.client.publish("key", PublishType::Live).unwrap();
    p.pump().unwrap();
    let request = publish_request(&mut p);
    p.now += Duration::from_secs(1);
    p.server.accept_publish(p.now, request).unwrap();
    p.pump().unwrap();
    let at = p.now;
    (p, at)
}

#[test]
fn publisher_silence_is_rearmed_by_complete_media_only() {
    let (mut p, accepted_at) = publishing();
    // No Idle while publishing: the only deadline is the silence one.
    assert_eq!(p.server.poll_timeout(), Some(accepted_at + DEFAULT_PUBLISHER_TIMEOUT));
    // A complete video message re-arms it.
    p.now = accepted_at + Duration::from_secs(3);
    let media_at = p.now;
    p.client.send_media(&media(MessageType::VIDEO, 0, b"\x17\x01frame")).unwrap();
    p.pump().unwrap();
    assert!(p.take_server().iter().any(|e| matches!(e, ServerEvent::Media { .. })));
    // Metadata is not media, and a video message declared but never completed is not either.
    p.now = media_at + Duration::from_secs(2);
    p.client.send_metadata(AmfObject::new()).unwrap();
    p.pump().unwrap();
    let big: &'static [u8] = Box::leak(vec![0x27u8; 50_000].into_boxed_slice());
    let stream_id = 1;
    raw_to_server(&mut p, Message { stream_id, ..media(MessageType::VIDEO, 40, big) }, Some(9000))
        .unwrap();
    p.pump().unwrap();
    assert!(!p.take_server().iter().any(|e| matches!(e, ServerEvent::Media { .. })));
    expect_timeout(&mut p.server, media_at + DEFAULT_PUBLISHER_TIMEOUT, Timer::PublisherSilence);
}

#[test]
fn unpublish_swaps_silence_for_idle() {
    let (mut p, _) = publishing();
    p.now += Duration::from_secs(2);
    let unpublished_at = p.now;
    p.client.unpublish().unwrap();
    p.pump().unwrap();
    assert!(p.take_server().iter().any(|e| matches!(e, ServerEvent::Unpublished { .. })));
    expect_timeout(&mut p.server, unpublished_at + DEFAULT_IDLE_TIMEOUT, Timer::Idle);
}

#[test]
fn configured_timeouts_are_used() {
    let random: Vec<u8> = (0..3032u32).map(|i| i as u8).collect();
    let t0 = Instant::now();
    let config =
        ServerConfig { handshake_timeout: Duration::from_millis(1500), ..ServerConfig::default() };
    let mut server = ServerSession::new(config, t0, 0, &random);
    expect_timeout(&mut server, t0 + Duration::from_millis(1500), Timer::Handshake);
}

#[test]
fn closed_sessions_time_nothing() {
    let mut p = Pair::new(ClientMode::Digest, None);
    let request = p.connect_request();
    p.server.reject_connect(request, "no");
    assert_eq!(p.server.poll_timeout(), None);
    assert_eq!(p.server.handle_timeout(p.now + Duration::from_secs(3600)), Ok(()));
}
