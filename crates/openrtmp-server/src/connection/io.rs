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

use bytes::BytesMut;
use openrtmp_proto::chunk::ChunkOutput;
use openrtmp_proto::session::ServerSession;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::close::Close;
use crate::registry::ConnEntry;
use crate::shared::Shared;

/// Most bytes read per socket read: a publisher sending as fast as we read reaches it (one
/// read per 256 KiB, four times fewer syscalls and wake-ups than at 64 KiB).
const MAX_READ_SIZE: usize = 256 * 1024;
/// The read size a connection starts with, and shrinks back to: most connections are
/// players or idle and read a few bytes now and then.
const MIN_READ_SIZE: usize = 1024;
/// IoSlices per vectored write.
const MAX_IOVECS: usize = 128;
/// Time allowed to flush a final `_error`/onStatus before closing, and to linger after.
pub(crate) const FINAL_FLUSH: Duration = Duration::from_secs(1);

/// How a connection reads: straight into its session's input buffer
/// ([`ServerSession::input_buffer`]), so that no read is copied again and a media message
/// that arrives in one chunk is a slice of the memory the kernel wrote it to.
///
/// The read size starts at [`MIN_READ_SIZE`], doubles while reads fill it (a publisher's
/// do) up to [`MAX_READ_SIZE`], and halves after each read that uses under a quarter of it.
/// Back at the minimum (an idle connection, a player, a publisher gone quiet), a buffer
/// much larger than that is let go, so only publishers hold large buffers.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    /// Within `MIN_READ_SIZE..=MAX_READ_SIZE`.
    size: usize,
    /// Capacity of the last allocation made here: one smaller than `size` is replaced
    /// (growth), never read into piecemeal.
    allocated: usize,
}

impl ReadBuf {
    pub(crate) fn new() -> ReadBuf {
        ReadBuf { size: MIN_READ_SIZE, allocated: 0 }
    }

    /// Reads once, appending to `buf` (the session's input buffer); the count read, or
    /// `Ok(None)` when the peer closed. Cancel-safe: nothing is appended unless it returns.
    pub(crate) async fn read<R: AsyncRead + Unpin>(
        &mut self,
        rd: &mut R,
        buf: &mut BytesMut,
    ) -> std::io::Result<Option<usize>> {
        let room = self.make_room(buf);
        let n = match rd.read_buf(buf).await {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            // A TLS peer that closes without close_notify (FFmpeg does) has left.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        };
        self.adapt(buf, n, room);
        Ok(Some(n))
    }

    /// Ensures room for a read of about `size` bytes and returns the room. A buffer nobody
    /// else holds is reused in place (the undecoded rest moves to the front). One that
    /// frames sliced from it still pin is read into where the last read ended while a
    /// quarter of a read fits, so that neighbouring frames share (and free) an allocation;
    /// otherwise a new allocation is made.
    fn make_room(&mut self, buf: &mut BytesMut) -> usize {
        let want = self.size.saturating_sub(buf.len()).max(self.size / 4);
        let room = buf.capacity() - buf.len();
        if buf.try_reclaim(want) || (self.allocated >= self.size && room >= self.size / 4) {
            return buf.capacity() - buf.len();
        }
        // Geometric in what is held, so that a message arriving in one huge chunk is not
        // copied once per read.
        let capacity = (buf.len() + self.size).max(2 * buf.len());
        let mut fresh = BytesMut::with_capacity(capacity);
        fresh.extend_from_slice(buf);
        *buf = fresh;
        self.allocated = capacity;
        buf.capacity() - buf.len()
    }

    /// Adapts the read size to a read of `n` bytes into `room`, and lets go of a large
    /// buffer once the connection reads little.
    fn adapt(&mut self, buf: &mut BytesMut, n: usize, room: usize) {
        if n >= room {
            self.size = (self.size * 2).min(MAX_READ_SIZE);
        } else if n < self.size / 4 {
            self.size = (self.size / 2).max(MIN_READ_SIZE);
        }
        if self.size == MIN_READ_SIZE && buf.capacity() > 2 * MIN_READ_SIZE.max(buf.len()) {
            *buf = BytesMut::from(&buf[..]);
            self.allocated = buf.capacity();
        }
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

    /// Puts `first` before what is being written (the rest of a frame the publisher's task
    /// could not write).
    pub(crate) fn put_first(&mut self, mut first: ChunkOutput) {
        first.append(std::mem::take(&mut self.pending));
        self.pending = first;
        self.last_write = Instant::now();
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

    /// Bytes the stream's publisher task wrote to this socket (run-to-completion fan-out):
    /// the shared counters have them already.
    pub(crate) fn sent_directly(&mut self, n: u64) {
        self.bytes_out += n;
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

#[cfg(test)]
mod tests {
    use bytes::Buf;

    use super::*;

    /// Reads `n` bytes into `buf` as a socket read would.
    fn read(rb: &mut ReadBuf, buf: &mut BytesMut, n: usize) -> usize {
        let room = rb.make_room(buf);
        let n = n.min(room);
        buf.extend_from_slice(&vec![7u8; n]);
        rb.adapt(buf, n, room);
        n
    }

    #[test]
    fn read_size_grows_while_reads_fill_it_and_shrinks_back() {
        let (mut rb, mut buf) = (ReadBuf::new(), BytesMut::new());
        let mut sizes = Vec::new();
        for _ in 0..9 {
            read(&mut rb, &mut buf, usize::MAX);
            buf.clear();
            sizes.push(rb.size / 1024);
        }
        assert_eq!(sizes, [2, 4, 8, 16, 32, 64, 128, 256, 256]);
        assert!(buf.capacity() >= MAX_READ_SIZE);
        // A publisher gone quiet (or a player): small reads halve the size down to the
        // minimum, and then the large buffer is let go.
        let mut sizes = Vec::new();
        for _ in 0..9 {
            read(&mut rb, &mut buf, 100);
            sizes.push(rb.size / 1024);
        }
        assert_eq!(sizes, [128, 64, 32, 16, 8, 4, 2, 1, 1]);
        assert!(buf.capacity() <= 4 * MIN_READ_SIZE, "capacity {}", buf.capacity());
        assert_eq!(buf.len(), 9 * 100, "unread bytes kept");
    }

    #[test]
    fn an_idle_connection_holds_one_small_buffer() {
        let (mut rb, mut buf) = (ReadBuf::new(), BytesMut::new());
        for _ in 0..100 {
            read(&mut rb, &mut buf, 20);
            buf.clear();
        }
        assert_eq!(rb.size, MIN_READ_SIZE);
        assert!(buf.capacity() <= MIN_READ_SIZE, "capacity {}", buf.capacity());
    }

    /// Frames sliced off the buffer pin its allocation; the next reads go into the rest of
    /// it (neighbours, freed together), and a buffer nobody else holds is reused in place.
    #[test]
    fn reads_append_where_the_last_one_ended() {
        let (mut rb, mut buf) = (ReadBuf { size: 64 * 1024, allocated: 0 }, BytesMut::new());
        read(&mut rb, &mut buf, 20_000);
        let frame = buf.split_to(20_000).freeze();
        let end = frame.as_ptr_range().end;
        read(&mut rb, &mut buf, 20_000);
        assert_eq!(buf.as_ptr(), end, "second read right after the first");
        drop(frame);
        // Consumed up to a 10-byte partial chunk; the whole allocation is reclaimed.
        let start = end.wrapping_sub(20_000);
        buf.advance(20_000 - 10);
        read(&mut rb, &mut buf, 0);
        assert_eq!(buf.as_ptr(), start, "the partial chunk moved to the front");
        assert_eq!(buf.len(), 10);
    }
}
