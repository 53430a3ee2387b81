//! What a session keeps allocated for its life (issue 11: an idle connection's memory).

use std::sync::Arc;

use super::*;

fn publish_request(p: &mut Pair) -> RequestId {
    p.client.publish("key", PublishType::Live).unwrap();
    p.pump().unwrap();
    p.take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::Publish { request, .. } => Some(request),
            _ => None,
        })
        .expect("publish event")
}

/// Regression: a connected session that neither publishes nor plays kept its drained event
/// queue (about 600 bytes) for its whole life.
#[test]
fn an_idle_connected_session_keeps_no_event_buffer() {
    let mut p = Pair::new(ClientMode::Digest, None);
    p.connect();
    assert_eq!(p.server.poll_event(), None);
    assert_eq!(p.server.event_capacity(), 0);
}

/// A publisher gets an event per media message: its queue is kept, not reallocated per
/// message.
#[test]
fn a_publishing_session_keeps_its_event_buffer() {
    let mut p = Pair::new(ClientMode::Digest, None);
    p.connect();
    let request = publish_request(&mut p);
    p.server.accept_publish(p.now, request).unwrap();
    p.pump().unwrap();
    p.client.send_media(&media(MessageType::AUDIO, 0, b"\xaf\x01aac")).unwrap();
    p.pump().unwrap();
    assert!(p.take_server().iter().any(|e| matches!(e, ServerEvent::Media { .. })));
    assert!(p.server.event_capacity() > 0);
    // Once it stops publishing the buffer goes with the next drain.
    p.client.unpublish().unwrap();
    p.pump().unwrap();
    assert_eq!(p.server.event_capacity(), 0);
}

/// The one pending decision is a single slot: a decision naming another request changes
/// nothing, the right one is applied once.
#[test]
fn a_decision_for_another_request_leaves_the_pending_one() {
    let mut p = Pair::new(ClientMode::Digest, None);
    let request = p.connect_request();
    assert!(p.server.is_waiting());
    p.server.accept_connect(p.now, RequestId(request.0 + 1)).unwrap();
    assert!(p.server.is_waiting(), "an unknown request must not consume the pending one");
    p.server.accept_connect(p.now, request).unwrap();
    assert!(!p.server.is_waiting());
    p.pump().unwrap();
    assert!(p.client.is_connected());
    // Applied once: deciding again sends nothing.
    p.server.accept_connect(p.now, request).unwrap();
    assert!(p.server.transmit().is_empty());
}

/// Every default server config shares one copy of the Enhanced RTMP answer.
#[test]
fn default_configs_share_the_enhanced_caps() {
    let (a, b) = (ServerConfig::default(), ServerConfig::default());
    assert!(Arc::ptr_eq(&a.enhanced, &b.enhanced));
    assert_eq!(*a.enhanced, EnhancedCaps::relay_server());
}
