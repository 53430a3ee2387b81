//! The router: STUN requests name their session by ufrag and bind the sender's
//! address; other packets follow the address; full queues drop without blocking; an ended
//! session's routes are gone. (`fake_ufrag` stands in for `openrtmp_webrtc::demux`: the
//! router only needs "which ufrag does this packet name".)

use super::*;

/// Packets starting with `STUN:` name the ufrag up to the next `:`.
fn fake_ufrag(datagram: &[u8]) -> Option<&str> {
    let rest = datagram.strip_prefix(b"STUN:")?;
    let end = rest.iter().position(|b| *b == b':')?;
    std::str::from_utf8(rest.get(..end)?).ok()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn packet(source: &str, contents: &[u8]) -> Inbound {
    Inbound::Packet {
        proto: Transport::Udp,
        source: addr(source),
        destination: addr("127.0.0.1:8189"),
        contents: contents.to_vec(),
    }
}

fn received(rx: &mut mpsc::Receiver<Inbound>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Ok(Inbound::Packet { contents, .. }) = rx.try_recv() {
        out.push(contents);
    }
    out
}

#[test]
fn stun_names_the_session_then_the_address_routes() {
    let router = Router::new(fake_ufrag);
    let (a_tx, mut a) = mpsc::channel(8);
    let (b_tx, mut b) = mpsc::channel(8);
    router.add(1, "ua", a_tx);
    router.add(2, "ub", b_tx);
    // Media before any STUN check: nobody knows the address.
    assert_eq!(router.route(packet("192.0.2.2:5000", b"dtls")), Routed::Unknown);
    assert_eq!(router.route(packet("192.0.2.2:5000", b"STUN:ua:peer")), Routed::Delivered(1));
    assert_eq!(router.route(packet("192.0.2.3:6000", b"STUN:ub:peer")), Routed::Delivered(2));
    assert_eq!(router.route(packet("192.0.2.2:5000", b"dtls-a")), Routed::Delivered(1));
    assert_eq!(router.route(packet("192.0.2.3:6000", b"srtp-b")), Routed::Delivered(2));
    // An unknown ufrag from a known address goes by the address.
    assert_eq!(router.route(packet("192.0.2.3:6000", b"STUN:zz:peer")), Routed::Delivered(2));
    assert_eq!(received(&mut a), [b"STUN:ua:peer".to_vec(), b"dtls-a".to_vec()]);
    assert_eq!(received(&mut b).len(), 3);
    assert_eq!(router.unknown.load(Ordering::Relaxed), 1);
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let router = Router::new(fake_ufrag);
    let (tx, mut rx) = mpsc::channel(2);
    router.add(7, "u", tx);
    assert_eq!(router.route(packet("192.0.2.2:5000", b"STUN:u:p")), Routed::Delivered(7));
    assert_eq!(router.route(packet("192.0.2.2:5000", b"x")), Routed::Delivered(7));
    assert_eq!(router.route(packet("192.0.2.2:5000", b"y")), Routed::Full(7));
    assert_eq!(router.dropped.load(Ordering::Relaxed), 1);
    assert_eq!(received(&mut rx).len(), 2);
    assert_eq!(router.route(packet("192.0.2.2:5000", b"z")), Routed::Delivered(7));
}

#[test]
fn an_ended_session_is_forgotten() {
    let router = Router::new(fake_ufrag);
    let (tx, _rx) = mpsc::channel(8);
    router.add(3, "u3", tx);
    assert_eq!(router.route(packet("192.0.2.2:5000", b"STUN:u3:p")), Routed::Delivered(3));
    router.remove(3);
    assert_eq!(router.route(packet("192.0.2.2:5000", b"srtp")), Routed::Unknown);
    assert_eq!(router.route(packet("192.0.2.2:5000", b"STUN:u3:p")), Routed::Unknown);
    let r = router.lock();
    assert!(r.by_addr.is_empty() && r.by_ufrag.is_empty() && r.routes.is_empty());
}

#[test]
fn a_peer_cannot_grow_the_address_map_without_bound() {
    let router = Router::new(fake_ufrag);
    let (tx, _rx) = mpsc::channel(1024);
    router.add(1, "u", tx);
    for port in 0..100u16 {
        router.route(packet(&format!("192.0.2.2:{}", 1000 + port), b"STUN:u:p"));
    }
    let r = router.lock();
    assert_eq!(r.by_addr.len(), MAX_ADDRS_PER_SESSION);
    assert_eq!(r.routes.get(&1).map(|route| route.addrs.len()), Some(MAX_ADDRS_PER_SESSION));
    // The newest addresses are the ones kept.
    assert!(r.by_addr.contains_key(&addr("192.0.2.2:1099")));
}
