//! ICE-TCP (RFC 6544) for peers whose UDP is blocked: passive host candidates on
//! `webrtc.tcp_port`, every packet framed as RFC 4571 says (a 2-byte big-endian length,
//! then the packet). A connection belongs to the session its first STUN request names;
//! from then on its frames go to that session, and the session's packets for the peer go
//! back through the connection's writer.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use openrtmp_webrtc::Transport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::router::{Inbound, Router};

/// Frames queued for one connection's writer; beyond, the session's packets are dropped
/// (as a UDP socket would under congestion).
const WRITE_QUEUE: usize = 256;
/// A connection whose first frame (a STUN request) has not come within this is closed.
const FIRST_FRAME_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The ICE-TCP listeners (IPv4 and, where the host has it, IPv6), bound at start and
/// taken by [`TcpListeners::start`].
#[derive(Debug, Default)]
pub(crate) struct TcpListeners {
    port: Option<u16>,
    listeners: Mutex<Vec<std::net::TcpListener>>,
}

impl TcpListeners {
    /// Binds `port` on every address (`None`: no ICE-TCP; `Some(0)`: any free port, the
    /// same for IPv6 when it can be had).
    pub(crate) fn bind(port: Option<u16>) -> std::io::Result<TcpListeners> {
        let Some(port) = port else { return Ok(TcpListeners::default()) };
        let v4 = bind_tcp(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))?;
        let port = v4.local_addr()?.port();
        let mut listeners = vec![v4];
        match bind_tcp(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))) {
            Ok(v6) => listeners.push(v6),
            Err(e) => tracing::debug!(port, error = %e, "WebRTC: no IPv6 ICE-TCP listener"),
        }
        Ok(TcpListeners { port: Some(port), listeners: Mutex::new(listeners) })
    }

    pub(crate) fn port(&self) -> Option<u16> {
        self.port
    }

    /// Starts the accept loops (once; later calls find nothing to start).
    pub(crate) fn start(
        &self,
        tracker: &tokio_util::task::TaskTracker,
        stop: &CancellationToken,
        router: &Arc<Router>,
    ) {
        let listeners =
            std::mem::take(&mut *self.listeners.lock().unwrap_or_else(|e| e.into_inner()));
        for listener in listeners {
            let Ok(listener) = TcpListener::from_std(listener) else { continue };
            let (router, stop, conns) = (Arc::clone(router), stop.clone(), tracker.clone());
            tracker.spawn(async move {
                loop {
                    let accepted = tokio::select! {
                        a = listener.accept() => a,
                        () = stop.cancelled() => return,
                    };
                    match accepted {
                        Ok((stream, remote)) => {
                            let (router, stop) = (Arc::clone(&router), stop.clone());
                            conns.spawn(async move {
                                tokio::select! {
                                    () = serve(stream, remote, router) => {}
                                    () = stop.cancelled() => {}
                                }
                            });
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "WebRTC ICE-TCP accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    }
                }
            });
        }
    }
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// Reads one RFC 4571 frame (`Ok(None)` at a clean end of the stream).
async fn read_frame<R: AsyncReadExt + Unpin>(rd: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match rd.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut frame = vec![0u8; usize::from(u16::from_be_bytes(len))];
    rd.read_exact(&mut frame).await?;
    Ok(Some(frame))
}

/// One ICE-TCP connection: its first frame decides the session, then frames flow both ways
/// until either side ends (the session ending drops the writer's queue).
async fn serve(stream: TcpStream, remote: SocketAddr, router: Arc<Router>) {
    let Ok(local) = stream.local_addr() else { return };
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let first = match tokio::time::timeout(FIRST_FRAME_TIMEOUT, read_frame(&mut rd)).await {
        Ok(Ok(Some(frame))) => frame,
        _ => return,
    };
    let Some((session, to_session)) = router.lookup(remote, &first) else {
        router.rate_limited(
            || tracing::debug!(%remote, "ICE-TCP connection names no session: closed"),
        );
        return;
    };
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    let open = Inbound::TcpOpen { remote, tx };
    let packet = |contents| Inbound::Packet {
        proto: Transport::Tcp,
        source: remote,
        destination: local,
        contents,
    };
    if to_session.send(open).await.is_err() || to_session.send(packet(first)).await.is_err() {
        return;
    }
    tracing::debug!(session, %remote, "ICE-TCP connection joined its session");
    let writer = async move {
        while let Some(frame) = rx.recv().await {
            let Ok(len) = u16::try_from(frame.len()) else { continue };
            // Length and packet in one (vectored) write.
            let len = len.to_be_bytes();
            let mut framed = bytes::Buf::chain(&len[..], &frame[..]);
            if wr.write_all_buf(&mut framed).await.is_err() {
                return;
            }
        }
    };
    let reader = async move {
        while let Ok(Some(frame)) = read_frame(&mut rd).await {
            // A full session queue drops the frame, as for UDP (media over TCP already
            // paced by the peer's congestion control; a drop is a loss str0m recovers).
            if let Err(mpsc::error::TrySendError::Closed(_)) = to_session.try_send(packet(frame)) {
                return;
            }
        }
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_are_length_prefixed() {
        let data: &[u8] = &[0, 3, b'a', b'b', b'c', 0, 0, 0, 1];
        let mut rd = data;
        assert_eq!(read_frame(&mut rd).await.unwrap(), Some(b"abc".to_vec()));
        assert_eq!(read_frame(&mut rd).await.unwrap(), Some(Vec::new()));
        // A frame cut short is an error, not a frame.
        assert!(read_frame(&mut rd).await.is_err());
        let mut empty: &[u8] = &[];
        assert_eq!(read_frame(&mut empty).await.unwrap(), None);
    }
}
