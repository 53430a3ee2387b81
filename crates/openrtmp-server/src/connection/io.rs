//! The socket side of a connection: reads, vectored writes of the session's output, the
//! byte counters, the final flush and the linger that lets a peer read our last words.
//!
//! Output is double-buffered: the session queues into its transmit buffer while the
//! previous batch ([`Output::pending`]) is being written, so new output never waits for a
//! write in flight. Writes are vectored: chunk headers are written from the encoder's small
//! buffer and payloads straight from the shared frames (no per-viewer copy).

use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openrtmp_proto::chunk::ChunkOutput;
use openrtmp_proto::session::ServerSession;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::close::Close;
use crate::registry::ConnEntry;
use crate::shared::Shared;

/// Most bytes read per socket read (the read buffer grows to this).
const READ_SIZE: usize = 64 * 1024;
/// The read buffer a connection starts with, once its first bytes arrive.
const MIN_READ_SIZE: usize = 4 * 1024;
/// IoSlices per vectored write.
const MAX_IOVECS: usize = 128;
/// Time allowed to flush a final `_error`/onStatus before closing, and to linger after.
pub(crate) const FINAL_FLUSH: Duration = Duration::from_secs(1);

/// The read buffer: starts small (most connections are players or idle and read little)
/// and grows, up to [`READ_SIZE`], while reads fill it, as a publisher's do.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
}

impl ReadBuf {
    pub(crate) fn new() -> ReadBuf {
        ReadBuf { buf: vec![0u8; MIN_READ_SIZE] }
    }

    /// Reads once; `Ok(None)` when the peer closed.
    pub(crate) async fn read<R: AsyncRead + Unpin>(
        &mut self,
        rd: &mut R,
    ) -> std::io::Result<Option<&[u8]>> {
        let n = match rd.read(&mut self.buf).await {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            // A TLS peer that closes without close_notify (FFmpeg does) has left.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        };
        if n == self.buf.len() && self.buf.len() < READ_SIZE {
            // Filled: grow for the next read, keeping what was read.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        Ok(self.buf.get(..n))
    }
}

/// What is being written, and when the socket last accepted bytes.
#[derive(Debug)]
pub(crate) struct Output {
    /// The batch being written (taken from the session's transmit buffer when empty).
    pub(crate) pending: ChunkOutput,
    pub(crate) last_write: Instant,
}

impl Output {
    pub(crate) fn new() -> Output {
        Output { pending: ChunkOutput::new(), last_write: Instant::now() }
    }

    /// Takes the session's queued output when the previous batch is written.
    pub(crate) fn refill(&mut self, session: &mut ServerSession) {
        if self.pending.is_empty() {
            self.pending = std::mem::take(session.transmit());
            self.last_write = Instant::now();
        }
    }

    /// Bytes queued here and in the session.
    pub(crate) fn queued(&self, session: &mut ServerSession) -> usize {
        self.pending.len() + session.transmit().len()
    }

    pub(crate) fn is_writing(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The outcome of a write: bytes counted, or why the connection ends.
    pub(crate) fn wrote(
        &mut self,
        written: std::io::Result<usize>,
        traffic: &mut Traffic,
    ) -> Result<(), Close> {
        match written {
            Ok(0) => Err(Close::PeerClosed),
            Ok(n) => {
                self.pending.advance(n);
                self.last_write = Instant::now();
                traffic.sent(n);
                Ok(())
            }
            Err(e) => Err(Close::Io(e)),
        }
    }

    /// When a write in flight counts as stalled (the peer accepted nothing since the last
    /// write); `None` when nothing is being written.
    pub(crate) fn deadline(&self, write_timeout: Duration) -> Option<Instant> {
        self.is_writing().then(|| self.last_write + write_timeout)
    }

    /// Sends what is queued (an `_error` or onStatus explaining a close) for at most
    /// [`FINAL_FLUSH`], then closes the write side.
    pub(crate) async fn flush_final<W: AsyncWrite + Unpin>(
        &mut self,
        session: &mut ServerSession,
        wr: &mut W,
    ) {
        let pending = &mut self.pending;
        let flush = async {
            loop {
                if pending.is_empty() {
                    *pending = std::mem::take(session.transmit());
                    if pending.is_empty() {
                        break;
                    }
                }
                match write_some(wr, pending).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => pending.advance(n),
                }
            }
        };
        let _ = tokio::time::timeout(FINAL_FLUSH, flush).await;
        let _ = wr.shutdown().await;
    }
}

/// One vectored write of as much of `out` as the socket takes.
///
/// The slices are gathered on the stack at each poll, not kept in the future: 2 KiB of
/// `IoSlice`s held across the await made every connection's state that much larger.
pub(crate) fn write_some<'a, W: AsyncWrite + Unpin>(
    wr: &'a mut W,
    out: &'a ChunkOutput,
) -> impl std::future::Future<Output = std::io::Result<usize>> + 'a {
    std::future::poll_fn(move |cx| {
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let n = out.io_slices(&mut slices);
        std::pin::Pin::new(&mut *wr).poll_write_vectored(cx, slices.get(..n).unwrap_or_default())
    })
}

/// After our FIN, reads and discards what the peer still sends until it closes too (at
/// most [`FINAL_FLUSH`]). Closing a socket with unread data makes the kernel answer with a
/// reset, which can destroy our last messages (an `_error`, an onStatus) in the peer's
/// receive buffer before it reads them.
pub(crate) async fn linger<R: AsyncRead + Unpin>(rd: &mut R) {
    // On the heap, only now: an array here would sit in every connection's future.
    let mut sink = vec![0u8; 4096];
    let drain = async {
        while let Ok(n) = rd.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(FINAL_FLUSH, drain).await;
}

/// Bytes in and out of one connection, mirrored into the registry (API), the server-wide
/// counters (metrics) and the cellular budget.
#[derive(Debug)]
pub(crate) struct Traffic {
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    shared: Arc<Shared>,
    entry: Arc<ConnEntry>,
    /// True while this connection's local address is on a cellular network.
    cellular: Arc<AtomicBool>,
}

impl Traffic {
    pub(crate) fn new(
        shared: Arc<Shared>,
        entry: Arc<ConnEntry>,
        cellular: Arc<AtomicBool>,
    ) -> Self {
        Traffic { bytes_in: 0, bytes_out: 0, shared, entry, cellular }
    }

    pub(crate) fn received(&mut self, n: usize) {
        self.bytes_in += n as u64;
        self.entry.add_in(n);
        self.shared.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn sent(&mut self, n: usize) {
        self.bytes_out += n as u64;
        self.entry.add_out(n);
        self.shared.stats.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
        if self.cellular.load(Ordering::Relaxed) {
            self.shared.platform.add_cellular_out(n as u64);
        }
    }
}
