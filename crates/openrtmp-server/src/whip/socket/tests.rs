//! Binding: one port on every address, loopback always; the NAT mapping of destinations.

use super::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn a_nat_peer_arrives_on_the_public_address() {
    let local = addr("192.168.1.10:8189");
    let public: Vec<IpAddr> = vec!["203.0.113.7".parse().unwrap()];
    let internet_peer: IpAddr = "198.51.100.9".parse().unwrap();
    let lan_peer: IpAddr = "192.168.1.20".parse().unwrap();
    assert_eq!(destination_of(local, internet_peer, &public), addr("203.0.113.7:8189"));
    assert_eq!(destination_of(local, lan_peer, &public), local);
    assert_eq!(destination_of(local, internet_peer, &[]), local);
    let loopback = addr("127.0.0.1:8189");
    assert_eq!(destination_of(loopback, internet_peer, &public), loopback);
}

#[test]
fn loopback_is_always_a_local_address() {
    let ips = local_ips();
    assert!(ips.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "{ips:?}");
    assert!(ips.iter().all(|ip| match ip {
        IpAddr::V6(v6) => !v6.is_unicast_link_local(),
        IpAddr::V4(v4) => !v4.is_unspecified(),
    }));
}

#[tokio::test]
async fn binds_one_port_on_every_address() {
    let settings = WebrtcSettings { udp_port: 0, tcp_port: Some(0), ..WebrtcSettings::default() };
    let bound = Bound::bind(&settings).expect("bind");
    let port = bound.udp.first().expect("a socket").local.port();
    assert_ne!(port, 0);
    assert!(bound.udp.iter().all(|s| s.local.port() == port));
    assert!(bound.udp.iter().any(|s| s.local.ip().is_loopback()));
    let candidates = bound.candidates();
    assert!(candidates.contains(&(addr(&format!("127.0.0.1:{port}")), Transport::Udp)));
    let tcp = bound.tcp_port().expect("ICE-TCP on");
    assert!(candidates.contains(&(addr(&format!("127.0.0.1:{tcp}")), Transport::Tcp)));
    // A packet from a peer goes out through the socket of its source candidate.
    let source = addr(&format!("127.0.0.1:{port}"));
    assert_eq!(bound.socket_for(source).map(|s| s.local), Some(source));
}

#[tokio::test]
async fn a_second_server_on_the_port_does_not_share_it() {
    let first =
        Bound::bind(&WebrtcSettings { udp_port: 0, tcp_port: None, ..WebrtcSettings::default() })
            .expect("bind");
    let port = first.udp.first().expect("a socket").local.port();
    // Every address the first one holds is refused to the second (no SO_REUSEADDR: a
    // second process must not receive the first one's media).
    let second = Bound::bind(&WebrtcSettings {
        udp_port: port,
        tcp_port: None,
        ..WebrtcSettings::default()
    });
    assert!(second.is_err(), "the port is taken: {:?}", second.map(|b| b.udp.len()));
}
