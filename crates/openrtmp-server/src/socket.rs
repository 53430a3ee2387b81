//! A TCP socket shared by two tasks: its connection's task reads and writes it through
//! [`SharedRead`] and [`SharedWrite`], and while the connection plays a stream in sync its
//! stream's publisher task writes frames to it without blocking (`connection/direct.rs`).
//! Who may write is decided under the player's lane lock: never both at once.
//!
//! Readiness-based, as tokio's own halves are: wait for readiness, try the call, and a
//! `WouldBlock` clears the readiness. Only the connection's task waits (registers a
//! waker); the publisher's task only tries.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The reading side of a shared socket.
#[derive(Debug)]
pub(crate) struct SharedRead(pub(crate) Arc<TcpStream>);

/// The writing side of a shared socket (the connection task's).
#[derive(Debug)]
pub(crate) struct SharedWrite(pub(crate) Arc<TcpStream>);

impl AsyncRead for SharedRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl SharedWrite {
    /// Waits for write readiness and tries `write` until it does not block.
    fn poll_try_write(
        &self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match write(&self.0) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }
}

impl AsyncWrite for SharedWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_try_write(cx, |socket| socket.try_write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_try_write(cx, |socket| socket.try_write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = socket2::SockRef::from(&*self.0).shutdown(Shutdown::Write);
        match result {
            // Already closed by the peer: nothing left to shut.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            other => Poll::Ready(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[tokio::test]
    async fn reads_writes_and_shuts_down() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let server = Arc::new(server);
        let (mut rd, mut wr) = (SharedRead(Arc::clone(&server)), SharedWrite(server));
        client.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        rd.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"ping");
        let parts = [IoSlice::new(b"po"), IoSlice::new(b"ng")];
        let n = wr.write_vectored(&parts).await.expect("writev");
        assert_eq!(n, 4);
        wr.shutdown().await.expect("shutdown");
        let mut all = Vec::new();
        client.read_to_end(&mut all).await.expect("read to end");
        assert_eq!(all, b"pong");
    }
}
