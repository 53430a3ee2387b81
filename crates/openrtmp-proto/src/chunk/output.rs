//! Outbound byte queue of ordered segments for vectored writes (design.md "Performance model":
//! headers per viewer, payload shared by reference count).

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Scratch space reserved at a time for headers and small payloads, so that steady-state
/// encoding allocates once per this many bytes at most, and not at all once written segments
/// have been dropped (the scratch allocation is then reclaimed).
///
/// Sized for one batch of a player's headers (a video frame at chunk size 4096 needs about
/// 12 bytes of header per 4 KiB chunk; payloads under 256 bytes are copied here too): every
/// player holds a block from the moment media is queued until it is written, so 8 KiB
/// blocks cost up to 16 KiB per player (queued and in flight) for a few hundred bytes used.
/// Larger needs reserve more, one block at a time.
const SCRATCH_BLOCK: usize = 1024;

/// Bytes waiting to be written to the peer, in order: sealed segments (each either header
/// bytes split off the scratch buffer or a slice of a shared payload), then the open scratch
/// buffer still being filled.
///
/// Hand it to `write_vectored` with [`io_slices`](Self::io_slices) and
/// [`advance`](Self::advance), or use it as a [`bytes::Buf`] (e.g. tokio's `write_buf`).
#[derive(Debug, Default)]
pub struct ChunkOutput {
    /// Sealed segments, never empty ones.
    segments: VecDeque<Bytes>,
    /// Bytes after all of `segments`; split off into a segment whenever a shared payload
    /// slice has to follow it.
    scratch: BytesMut,
    /// Sum of segment lengths; the scratch length is added on demand.
    sealed_len: usize,
}

impl ChunkOutput {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.sealed_len + self.scratch.len()
    }

    /// Whether nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues a shared buffer without copying it.
    pub fn push_bytes(&mut self, b: Bytes) {
        if b.is_empty() {
            return;
        }
        self.seal_scratch();
        self.sealed_len += b.len();
        self.segments.push_back(b);
    }

    /// Appends everything queued in `other`, after what is queued here.
    pub fn append(&mut self, mut other: ChunkOutput) {
        other.seal_scratch();
        self.seal_scratch();
        self.sealed_len += other.sealed_len;
        self.segments.append(&mut other.segments);
    }

    /// Queues a copy of `b` (handshake packets, headers).
    pub fn push_slice(&mut self, b: &[u8]) {
        self.scratch_for(b.len()).put_slice(b);
    }

    /// The open scratch buffer, with room for at least `additional` more bytes.
    pub(super) fn scratch_for(&mut self, additional: usize) -> &mut BytesMut {
        if self.scratch.capacity() - self.scratch.len() < additional {
            self.scratch.reserve(additional.max(SCRATCH_BLOCK));
        }
        &mut self.scratch
    }

    /// Fills `dst` with the queued segments in order and returns how many were filled:
    /// `min(dst.len(), segment count)`.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let scratch = Some(self.scratch.as_ref()).filter(|s| !s.is_empty());
        let parts = self.segments.iter().map(Bytes::as_ref).chain(scratch);
        let mut filled = 0;
        for (slot, part) in dst.iter_mut().zip(parts) {
            *slot = IoSlice::new(part);
            filled += 1;
        }
        filled
    }

    /// Drops the first `n` bytes, after a (possibly partial) write. Advancing past the end
    /// empties the queue.
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.segments.front_mut() else {
                let take = n.min(self.scratch.len());
                self.scratch.advance(take);
                return;
            };
            if n < front.len() {
                front.advance(n);
                self.sealed_len -= n;
                return;
            }
            n -= front.len();
            self.sealed_len -= front.len();
            self.segments.pop_front();
        }
    }

    /// All queued bytes in one vector (tests and diagnostics).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        for s in &self.segments {
            v.extend_from_slice(s);
        }
        v.extend_from_slice(&self.scratch);
        v
    }

    /// Number of segments a vectored write would need (tests and diagnostics).
    pub fn segment_count(&self) -> usize {
        self.segments.len() + usize::from(!self.scratch.is_empty())
    }

    /// Iterates over the queued segments in order (tests and diagnostics).
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let scratch = Some(self.scratch.as_ref()).filter(|s| !s.is_empty());
        self.segments.iter().map(Bytes::as_ref).chain(scratch)
    }

    fn seal_scratch(&mut self) {
        if !self.scratch.is_empty() {
            let sealed = self.scratch.split().freeze();
            self.sealed_len += sealed.len();
            self.segments.push_back(sealed);
        }
    }
}

impl Buf for ChunkOutput {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn chunk(&self) -> &[u8] {
        match self.segments.front() {
            Some(front) => front,
            None => &self.scratch,
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        self.io_slices(dst)
    }

    fn advance(&mut self, cnt: usize) {
        ChunkOutput::advance(self, cnt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(out: &ChunkOutput) -> Vec<Vec<u8>> {
        let mut slots = [IoSlice::new(&[]); 8];
        let n = out.io_slices(&mut slots);
        slots[..n].iter().map(|s| s.to_vec()).collect()
    }

    #[test]
    fn segments_keep_order_and_share_payload() {
        let payload = Bytes::from(vec![7u8; 1000]);
        let mut out = ChunkOutput::new();
        assert!(out.is_empty());
        out.push_slice(b"ab");
        out.push_bytes(payload.slice(10..510));
        out.push_slice(b"c");
        out.push_bytes(Bytes::new());
        assert_eq!(out.len(), 503);
        assert_eq!(out.segment_count(), 3);
        let parts = filled(&out);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], b"ab");
        assert_eq!(parts[2], b"c");
        let shared = out.segments().nth(1).map(<[u8]>::as_ptr);
        assert_eq!(shared, Some(payload[10..].as_ptr()));
    }

    #[test]
    fn advance_across_segments() {
        let mut out = ChunkOutput::new();
        out.push_slice(b"0123");
        out.push_bytes(Bytes::from_static(b"456789"));
        out.push_slice(b"ab");
        let all = out.to_vec();
        for n in 0..=all.len() + 2 {
            let mut o = ChunkOutput::new();
            o.push_slice(b"0123");
            o.push_bytes(Bytes::from_static(b"456789"));
            o.push_slice(b"ab");
            o.advance(n);
            assert_eq!(o.to_vec(), all[n.min(all.len())..], "advance {n}");
            assert_eq!(o.len(), all.len().saturating_sub(n));
            assert_eq!(filled(&o).concat(), o.to_vec());
        }
    }

    /// Regression (issue 11): a few header bytes reserved an 8 KiB block, held by every
    /// player with output queued or in flight.
    #[test]
    fn a_few_header_bytes_reserve_a_small_block() {
        let mut out = ChunkOutput::new();
        out.push_slice(&[0; 12]);
        out.push_bytes(Bytes::from(vec![1u8; 4096]));
        out.push_slice(&[0; 1]);
        assert!(out.scratch.capacity() <= SCRATCH_BLOCK, "{}", out.scratch.capacity());
        // A large copy still fits in one reservation.
        out.push_slice(&[2; 5000]);
        assert_eq!(out.len(), 12 + 4096 + 1 + 5000);
        assert_eq!(out.segments().last().map(<[u8]>::len), Some(5001));
    }

    #[test]
    fn io_slices_respects_dst_len() {
        let mut out = ChunkOutput::new();
        for i in 0..5u8 {
            out.push_bytes(Bytes::from(vec![i; 3]));
        }
        let mut slots = [IoSlice::new(&[]); 2];
        assert_eq!(out.io_slices(&mut slots), 2);
        assert_eq!(&slots[1][..], [1, 1, 1]);
    }

    #[test]
    fn works_as_buf() {
        let mut out = ChunkOutput::new();
        out.push_slice(b"he");
        out.push_bytes(Bytes::from_static(b"llo"));
        let mut collected = Vec::new();
        while out.has_remaining() {
            let c = out.chunk().to_vec();
            Buf::advance(&mut out, c.len());
            collected.extend(c);
        }
        assert_eq!(collected, b"hello");
    }
}
