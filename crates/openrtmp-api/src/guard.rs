//! The API's listener: every accepted connection gets `TCP_NODELAY`, its peer address for
//! the handlers ([`Peer`]), and a write deadline ([`StallGuard`]).
//!
//! Why a write deadline: an HTTP-FLV viewer that stops reading leaves hyper waiting on a
//! socket that never becomes writable, and hyper then polls neither the body (so no lag
//! policy runs) nor anything else for that connection. The guard fails a write that has
//! been pending for the server's `write_timeout`, which makes hyper drop the connection:
//! the viewer is unregistered and the socket closed, as an RTMP viewer is cut off.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use openrtmp_server::ServerHandle;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// The API's [`Listener`]: a TCP listener whose connections are [`StallGuard`]ed.
pub(crate) struct GuardedListener {
    listener: TcpListener,
    handle: ServerHandle,
}

impl GuardedListener {
    pub(crate) fn new(listener: TcpListener, handle: ServerHandle) -> GuardedListener {
        GuardedListener { listener, handle }
    }
}

impl Listener for GuardedListener {
    type Io = StallGuard<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.listener).await;
        let _ = stream.set_nodelay(true);
        // Read per connection, so a configuration change applies to the next one.
        let limit = self.handle.config().write_timeout;
        (StallGuard::new(stream, limit, addr), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// The client's address, for the handlers (`ConnectInfo<Peer>`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) SocketAddr);

impl Connected<IncomingStream<'_, GuardedListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// An IO whose writes fail with `TimedOut` once one has been pending for `limit`.
pub(crate) struct StallGuard<T> {
    inner: T,
    limit: Duration,
    peer: SocketAddr,
    /// Armed when a write returns `Pending`, disarmed by any progress.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<T> StallGuard<T> {
    pub(crate) fn new(inner: T, limit: Duration, peer: SocketAddr) -> StallGuard<T> {
        StallGuard { inner, limit, peer, deadline: None }
    }

    /// Called when the inner write is pending: arms the deadline, or fails once it passed.
    fn pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let limit = self.limit;
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if deadline.as_mut().poll(cx).is_ready() {
            tracing::info!(peer = %self.peer, limit_ms = limit.as_millis() as u64,
                "HTTP client took no data for write_timeout: closing");
            deadline.as_mut().reset(Instant::now() + limit);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took no data for write_timeout",
            )));
        }
        Poll::Pending
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.pending(cx),
            ready => {
                self.deadline = None;
                ready
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.pending(cx),
            ready => {
                self.deadline = None;
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.pending(cx).map_ok(|_| ()),
            ready => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A peer that reads nothing: writes fill the socket buffers, then the guard fails the
    /// pending write after its limit instead of waiting forever.
    #[tokio::test]
    async fn a_write_pending_past_the_limit_fails_with_timed_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (server, peer) = listener.accept().await.expect("accept");
        let mut guarded = StallGuard::new(server, Duration::from_millis(200), peer);
        let chunk = vec![0u8; 64 * 1024];
        let result = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Err(e) = guarded.write_all(&chunk).await {
                    return e;
                }
            }
        })
        .await
        .expect("the stalled write failed within the bound");
        assert_eq!(result.kind(), io::ErrorKind::TimedOut);
    }
}
