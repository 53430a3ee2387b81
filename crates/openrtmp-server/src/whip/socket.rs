//! The UDP side of WebRTC media: one socket per local address on `webrtc.udp_port` and a
//! reader task per socket giving each datagram to the [`Router`].
//!
//! Why one socket per address and not one wildcard socket: str0m matches every received
//! packet against its local candidates by the packet's *destination* address, and a socket
//! bound to `0.0.0.0` does not say which local address a datagram came in on. A socket
//! bound to `ip:port` does, and it also pins the source address of what the session sends
//! back (the browser checks that replies come from the candidate it sent to).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use openrtmp_webrtc::Transport;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::router::{Inbound, Router};
use super::WebrtcSettings;

/// Largest datagram read (WebRTC keeps packets under the path MTU, ~1200 bytes).
const MAX_DATAGRAM: usize = 2048;

/// Binds WHIP's sockets when `webrtc.enabled`; a failure leaves WHIP unavailable (logged),
/// not the server unable to start: RTMP does not depend on it.
pub(crate) fn bind(settings: &WebrtcSettings) -> Option<Bound> {
    if !settings.enabled {
        return None;
    }
    match Bound::bind(settings) {
        Ok(bound) => {
            let udp: Vec<String> = bound.udp.iter().map(|s| s.local.to_string()).collect();
            tracing::info!(?udp, tcp_port = bound.tcp_port(), "WebRTC (WHIP) media sockets bound");
            Some(bound)
        }
        Err(e) => {
            tracing::warn!(port = settings.udp_port, error = %e, "WebRTC: cannot bind UDP; WHIP ingest unavailable");
            None
        }
    }
}

/// One bound UDP socket.
#[derive(Debug)]
pub(crate) struct UdpSock {
    /// Its local address: a host candidate of every session.
    pub(crate) local: SocketAddr,
    pub(crate) socket: Arc<UdpSocket>,
}

/// The sockets WHIP sessions share, bound at `Server::bind`.
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) udp: Vec<UdpSock>,
    pub(crate) tcp: super::tcp::TcpListeners,
    pub(crate) router: Arc<Router>,
    pub(crate) public: Vec<IpAddr>,
}

impl Bound {
    /// Binds the UDP sockets (every local address, one port) and the ICE-TCP listeners.
    pub(crate) fn bind(settings: &WebrtcSettings) -> std::io::Result<Bound> {
        let ips = local_ips();
        let mut port = settings.udp_port;
        let mut udp = Vec::with_capacity(ips.len());
        let mut first_error = None;
        for ip in ips {
            match bind_udp(SocketAddr::new(ip, port)) {
                Ok(socket) => {
                    let local = socket.local_addr()?;
                    port = local.port();
                    udp.push(UdpSock { local, socket: Arc::new(socket) });
                }
                Err(e) => {
                    tracing::warn!(%ip, port, error = %e, "WebRTC: cannot bind UDP on this address; not a candidate");
                    first_error.get_or_insert(e);
                }
            }
        }
        if udp.is_empty() {
            return Err(first_error.unwrap_or_else(|| std::io::Error::other("no local address")));
        }
        let tcp = super::tcp::TcpListeners::bind(settings.tcp_port).unwrap_or_else(|e| {
            tracing::warn!(port = settings.tcp_port, error = %e, "WebRTC: cannot listen for ICE-TCP; UDP only");
            super::tcp::TcpListeners::default()
        });
        let router = Arc::new(Router::new(openrtmp_webrtc::demux::local_ufrag));
        Ok(Bound { udp, tcp, router, public: settings.public_addresses.clone() })
    }

    /// The ICE-TCP port, if ICE-TCP is on.
    pub(crate) fn tcp_port(&self) -> Option<u16> {
        self.tcp.port()
    }

    /// The host candidates of a new session: every bound UDP address, the public
    /// addresses on the same port, and the same for ICE-TCP (passive).
    pub(crate) fn candidates(&self) -> Vec<(SocketAddr, Transport)> {
        let mut out: Vec<(SocketAddr, Transport)> =
            self.udp.iter().map(|s| (s.local, Transport::Udp)).collect();
        let port = self.udp.first().map_or(0, |s| s.local.port());
        out.extend(self.public.iter().map(|ip| (SocketAddr::new(*ip, port), Transport::Udp)));
        if let Some(tcp) = self.tcp_port() {
            let ips: Vec<IpAddr> =
                self.udp.iter().map(|s| s.local.ip()).chain(self.public.iter().copied()).collect();
            out.extend(ips.into_iter().map(|ip| (SocketAddr::new(ip, tcp), Transport::Tcp)));
        }
        out
    }

    /// The socket to send from `source` (a local candidate address); a public address
    /// sends through the first socket of its family that is not loopback.
    pub(crate) fn socket_for(&self, source: SocketAddr) -> Option<&UdpSock> {
        self.udp.iter().find(|s| s.local == source).or_else(|| {
            self.udp
                .iter()
                .find(|s| s.local.is_ipv4() == source.is_ipv4() && !s.local.ip().is_loopback())
        })
    }

    /// Starts a reader per socket and the ICE-TCP accept loops; they end with `stop`.
    pub(crate) fn start(&self, tracker: &tokio_util::task::TaskTracker, stop: &CancellationToken) {
        for s in &self.udp {
            let (socket, router, stop) =
                (Arc::clone(&s.socket), Arc::clone(&self.router), stop.clone());
            let local = s.local;
            let public = self.public.clone();
            tracker.spawn(async move {
                tokio::select! {
                    () = read_loop(socket, local, public, router) => {}
                    () = stop.cancelled() => {}
                }
            });
        }
        self.tcp.start(tracker, stop, &self.router);
    }
}

/// Reads datagrams for as long as the socket works, routing each.
async fn read_loop(
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    public: Vec<IpAddr>,
    router: Arc<Router>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, source) = match socket.recv_from(&mut buf).await {
            Ok(read) => read,
            Err(e) => {
                // ICMP port unreachable and the like surface here on some systems: not fatal.
                router
                    .rate_limited(|| tracing::debug!(%local, error = %e, "WebRTC UDP read failed"));
                tokio::task::yield_now().await;
                continue;
            }
        };
        let Some(contents) = buf.get(..n) else { continue };
        let destination = destination_of(local, source.ip(), &public);
        let packet = Inbound::Packet {
            proto: Transport::Udp,
            source,
            destination,
            contents: contents.to_vec(),
        };
        router.route(packet);
    }
}

/// The candidate address a packet from `peer` arrived on: the socket's own, unless a public
/// address of the same family is configured and the peer is not on a local network (it
/// came through the NAT that forwards the public address here).
pub(crate) fn destination_of(local: SocketAddr, peer: IpAddr, public: &[IpAddr]) -> SocketAddr {
    let remote_peer = match peer.to_canonical() {
        IpAddr::V4(v4) => !(v4.is_private() || v4.is_loopback() || v4.is_link_local()),
        IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unicast_link_local() || v6.is_unique_local()),
    };
    let via_nat = remote_peer && !local.ip().is_loopback();
    match public.iter().find(|ip| ip.is_ipv4() == local.is_ipv4()) {
        Some(ip) if via_nat => SocketAddr::new(*ip, local.port()),
        _ => local,
    }
}

/// The addresses candidates are offered on: loopback (a browser on this machine) and every
/// interface address, without IPv6 link-local ones (they need a scope to be bound).
pub(crate) fn local_ips() -> Vec<IpAddr> {
    let mut ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    match if_addrs::get_if_addrs() {
        Ok(ifaces) => {
            for ip in ifaces.into_iter().map(|i| i.ip()) {
                let skip = match ip {
                    IpAddr::V4(v4) => v4.is_unspecified() || v4.is_broadcast(),
                    IpAddr::V6(v6) => v6.is_unspecified() || v6.is_unicast_link_local(),
                };
                if !skip && !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "WebRTC: cannot list interface addresses; loopback only")
        }
    }
    ips
}

/// Binds one UDP socket. Without `SO_REUSEADDR` on purpose: on Linux it lets a second
/// process bind the same `ip:port` and take the datagrams meant for the first; a second
/// server on the port should fail (and run without WHIP), not steal media. Sockets on
/// different addresses of one port need no option.
fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests;
