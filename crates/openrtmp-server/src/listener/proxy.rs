//! The PROXY protocol at accept (see [`crate::ProxyProtocolSettings`]): a trusted load
//! balancer's header, read before anything else and exactly up to its end (the RTMP or TLS
//! bytes behind it stay in the socket for the connection), by the handshake deadline; and
//! the warning for a header sent by a peer that is not trusted.

use std::io::ErrorKind;
use std::net::SocketAddr;

use openrtmp_proto::proxy_header::{
    self, Decoded, ProxiedAddresses, ProxyHeader, ProxyHeaderError, MAX_HEADER_LEN,
};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::connection::Close;

/// Reads the header a trusted peer sends first, by `deadline`. `Ok(None)`: no header, and
/// none is `required`; a header without addresses (the balancer's own health check)
/// is `Ok(Some(_))` with `addresses: None`.
pub(crate) async fn read_header(
    socket: &TcpStream,
    required: bool,
    deadline: Instant,
    shutdown: &CancellationToken,
) -> Result<Option<ProxyHeader>, Close> {
    tokio::select! {
        read = read(socket, required) => read,
        _ = tokio::time::sleep_until(deadline) => Err(Close::HandshakeTimeout),
        _ = shutdown.cancelled() => Err(Close::Shutdown),
    }
}

async fn read(socket: &TcpStream, required: bool) -> Result<Option<ProxyHeader>, Close> {
    if !required {
        // The first byte tells: a header starts with 'P' or '\r', RTMP with 3, TLS with
        // 0x16. Peeked, so that a connection without a header loses nothing.
        let mut first = [0u8; 1];
        if socket.peek(&mut first).await.map_err(Close::Io)? == 0 {
            return Err(Close::PeerClosed);
        }
        if !proxy_header::looks_like_header(&first) {
            return Ok(None);
        }
    }
    let mut buf = [0u8; MAX_HEADER_LEN];
    let mut have = 0;
    loop {
        let received = buf.get(..have).unwrap_or_default();
        let needed = match proxy_header::decode(received) {
            Ok(Decoded::Complete { header, .. }) => return Ok(Some(header)),
            Ok(Decoded::Incomplete { needed }) => needed,
            // Not even the start of a header: the balancer sent none (or the peer is not
            // the balancer the operator thinks it is).
            Err(ProxyHeaderError::NotAHeader { .. })
                if !proxy_header::looks_like_header(received.get(..1).unwrap_or_default()) =>
            {
                return Err(Close::ProxyHeaderMissing);
            }
            Err(e) => return Err(Close::ProxyHeader(e)),
        };
        // Exactly what the decoder asks for: never a byte of what follows the header.
        let Some(into) = buf.get_mut(have..have + needed) else {
            return Err(Close::ProxyHeader(ProxyHeaderError::V1TooLong));
        };
        socket.readable().await.map_err(Close::Io)?;
        match socket.try_read(into) {
            Ok(0) => return Err(Close::PeerClosed),
            Ok(n) => have += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(Close::Io(e)),
        }
    }
}

/// The client a header names, and the balancer it came through; the socket's own peer
/// when the header names nobody.
pub(crate) fn client(
    lb: SocketAddr,
    header: Option<&ProxyHeader>,
) -> (SocketAddr, Option<SocketAddr>) {
    match header.and_then(|h| h.addresses) {
        Some(ProxiedAddresses { source, .. }) => (source, Some(lb)),
        None => (lb, None),
    }
}

/// With the feature on, a connection from a peer that is not trusted and starts like a
/// PROXY header is warned about: it is served as plain RTMP (the header is not believed,
/// so its RTMP handshake fails), and the operator sees why (a balancer missing from
/// `proxy_protocol.trusted`, or someone trying to pass as another address).
pub(crate) async fn warn_if_untrusted_header(socket: &TcpStream) {
    let mut start = [0u8; 16];
    // The first bytes have arrived: the peek does not wait.
    let Ok(n) = socket.peek(&mut start).await else { return };
    if proxy_header::looks_like_header(start.get(..n).unwrap_or_default()) {
        // The connection's span names the peer.
        tracing::warn!(
            "PROXY header from untrusted peer: not believed, the connection goes on without \
             it and its handshake will fail (add the load balancer to proxy_protocol.trusted \
             if it is one)"
        );
    }
}
