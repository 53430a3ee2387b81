//! A player's lane: its socket as its stream's publisher task writes it while the player
//! keeps up (run-to-completion fan-out, `openrtmp_hub::DirectOutput`).
//!
//! The connection's task hands its player to the publisher's task when it is in sync and
//! has nothing queued ([`Lane::arm`]); the publisher's task then writes each frame (or
//! batch) with one non-blocking vectored write of bytes chunked once per stream. When a
//! write would block, what it did not take is kept ([`Taken::leftover`]) and the lane goes
//! back to the connection's task, which writes it first and continues from the media pump
//! (lag policy included). The connection's task also takes the lane back whenever it needs
//! the socket (a reply, a pause, the end). The mode is switched under the lane's lock, and
//! only the side that owns the mode writes, so the two never interleave bytes.

use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use openrtmp_hub::{DirectOutput, Frame};
use openrtmp_media::TagType;
use openrtmp_proto::chunk::ChunkOutput;
use openrtmp_proto::message::{Message, MessageType};
use openrtmp_proto::session::ServerSession;
use parking_lot::{Mutex, MutexGuard};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::delay::StreamDelays;
use crate::registry::ConnEntry;
use crate::shared::Shared;

#[cfg(all(target_os = "linux", feature = "io-uring"))]
mod uring;

/// Slices per direct write: a batch of several frames at any chunk size.
const MAX_SLICES: usize = 256;

/// Who writes the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The connection's task (pump, replies, anything).
    Task,
    /// The publisher's task: frames from `next_seq` of publishing `generation`.
    Direct { generation: u64, next_seq: u64 },
    /// Handed back by the publisher's task (a write would block, a gap, the publisher
    /// left): the connection's task takes over at its next turn.
    Returned { next_seq: u64 },
    /// The connection is ending: nobody else writes.
    Closed,
}

#[derive(Debug)]
pub(crate) struct State {
    mode: Mode,
    /// The unwritten rest of the last batch (a write that would block).
    leftover: Vec<Bytes>,
    /// Frames and payload bytes written since the lane was armed.
    frames: u64,
    payload: u64,
    /// Socket bytes written since the lane was armed.
    sent: u64,
    /// The socket's descriptor (read here, with the lock, rather than from the socket).
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    fd: std::os::fd::RawFd,
}

/// What the connection's task gets back with the lane.
#[derive(Debug)]
pub(crate) struct Taken {
    /// The first frame the lane did not write.
    pub(crate) next_seq: u64,
    pub(crate) frames: u64,
    pub(crate) payload: u64,
    pub(crate) sent: u64,
    /// Bytes of a frame the socket did not take: to write before anything else.
    pub(crate) leftover: ChunkOutput,
}

/// One player's lane (see the module docs).
pub(crate) struct Lane {
    socket: Arc<TcpStream>,
    chunking: Chunking,
    state: Arc<Mutex<State>>,
    /// Writes go through the thread's io_uring when it has one (Linux, `io-uring` feature,
    /// `streams.io_uring`).
    #[cfg_attr(not(all(target_os = "linux", feature = "io-uring")), allow(dead_code))]
    uring: bool,
    /// Wakes the connection's task when the lane comes back.
    returned: Notify,
    entry: Arc<ConnEntry>,
    shared: Arc<Shared>,
    delays: Arc<StreamDelays>,
    /// True while the connection's local address is on a cellular network.
    cellular: Arc<AtomicBool>,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("chunking", &self.chunking)
            .field("mode", &self.lock().mode)
            .finish()
    }
}

impl Lane {
    pub(crate) fn new(
        socket: Arc<TcpStream>,
        session: &ServerSession,
        stream_id: u32,
        entry: Arc<ConnEntry>,
        shared: Arc<Shared>,
        delays: Arc<StreamDelays>,
        cellular: Arc<AtomicBool>,
    ) -> Lane {
        let state = State {
            mode: Mode::Task,
            leftover: Vec::new(),
            frames: 0,
            payload: 0,
            sent: 0,
            #[cfg(all(target_os = "linux", feature = "io-uring"))]
            fd: std::os::fd::AsRawFd::as_raw_fd(&*socket),
        };
        Lane {
            socket,
            chunking: Chunking { stream_id, chunk_size: session.outbound_chunk_size() },
            state: Arc::new(Mutex::new(state)),
            uring: shared.config_arc().io_uring,
            returned: Notify::new(),
            entry,
            shared,
            delays,
            cellular,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Whether this lane serves a player on `stream_id` of `session` (a lane is made per
    /// message stream and chunk size; the session's chunk size is set once, at connect).
    pub(crate) fn serves(&self, stream_id: u32, session: &ServerSession) -> bool {
        self.chunking == Chunking { stream_id, chunk_size: session.outbound_chunk_size() }
    }

    /// Whether the publisher's task writes this socket now.
    pub(crate) fn is_direct(&self) -> bool {
        matches!(self.lock().mode, Mode::Direct { .. })
    }

    /// Resolves when the publisher's task hands the lane back.
    pub(crate) async fn wait_returned(&self) {
        self.returned.notified().await;
    }

    /// Takes the socket back for the connection's task (`closing`: for good). `None` if the
    /// task had it already.
    pub(crate) fn take(&self, closing: bool) -> Option<Taken> {
        let mut st = self.lock();
        let next_seq = match st.mode {
            Mode::Direct { next_seq, .. } | Mode::Returned { next_seq } => next_seq,
            Mode::Task | Mode::Closed => {
                if closing {
                    st.mode = Mode::Closed;
                }
                return None;
            }
        };
        st.mode = if closing { Mode::Closed } else { Mode::Task };
        let mut leftover = ChunkOutput::new();
        for part in st.leftover.drain(..) {
            leftover.push_bytes(part);
        }
        Some(Taken { next_seq, frames: st.frames, payload: st.payload, sent: st.sent, leftover })
    }

    /// Hands the lane back to the connection's task (called with the lock held).
    fn give_back(&self, st: &mut State, next_seq: u64) {
        st.mode = Mode::Returned { next_seq };
        self.returned.notify_one();
    }

    /// Writes `parts` without blocking, in vectored writes of at most [`MAX_SLICES`]
    /// slices (one, unless a publisher's read held a large backlog); returns how many bytes
    /// the socket took. Stops at the first write that takes less than it was given.
    fn write_parts<'a>(&self, parts: impl Iterator<Item = &'a Bytes>) -> usize {
        let mut parts = parts.peekable();
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let mut written = 0;
        while parts.peek().is_some() {
            let (mut n, mut want) = (0, 0);
            for slot in &mut slices {
                let Some(part) = parts.next() else { break };
                *slot = IoSlice::new(part);
                n += 1;
                want += part.len();
            }
            match self.socket.try_write_vectored(slices.get(..n).unwrap_or_default()) {
                Ok(took) => {
                    written += took;
                    if took < want {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        written
    }

    /// Where this lane stands in an offered batch: `Ok((next_seq, skip))`, the first
    /// frame it has not written and its index in `frames`; `Err(answer)` when there is
    /// nothing to write (`true`: it had them all; `false`: it left, handed back).
    fn due(
        &self,
        st: &mut State,
        generation: u64,
        first_seq: u64,
        frames: &[Frame],
    ) -> Result<(u64, usize), bool> {
        let Mode::Direct { generation: ours, next_seq } = st.mode else { return Err(false) };
        if ours != generation || first_seq > next_seq {
            // Another publisher, or frames this lane never saw: the task catches up.
            self.give_back(st, next_seq);
            return Err(false);
        }
        let skip = usize::try_from(next_seq - first_seq).unwrap_or(usize::MAX);
        if skip >= frames.len() {
            return Err(true);
        }
        Ok((next_seq, skip))
    }

    /// Accounts for a write of `frames` (from `next_seq`) that took `written` of the bytes
    /// `parts` yields; keeps what it did not take and hands the lane back unless it took
    /// everything. Returns whether the lane stays direct.
    fn settle<'a, I: Iterator<Item = &'a Bytes>>(
        &self,
        st: &mut State,
        generation: u64,
        next_seq: u64,
        frames: &[Frame],
        parts: impl Fn() -> I,
        written: usize,
    ) -> bool {
        if written == 0 {
            // Would block (or failed: the task's next write meets the error).
            self.give_back(st, next_seq);
            return false;
        }
        let now = Instant::now();
        for frame in frames {
            if let Some(arrived) = frame.received {
                self.delays.distribution.record(now.saturating_duration_since(arrived));
            }
        }
        st.frames += frames.len() as u64;
        st.payload += frames.iter().map(|f| f.len() as u64).sum::<u64>();
        st.sent += written as u64;
        self.entry.add_out(written);
        self.shared.stats.bytes_out.fetch_add(written as u64, Ordering::Relaxed);
        if self.cellular.load(Ordering::Relaxed) {
            self.shared.platform.add_cellular_out(written as u64);
        }
        let next_seq = next_seq + frames.len() as u64;
        let total: usize = parts().map(Bytes::len).sum();
        if written >= total {
            st.mode = Mode::Direct { generation, next_seq };
            return true;
        }
        // The socket took part of the batch: its rest goes first when the task takes over.
        let mut skip = written;
        for part in parts() {
            if skip >= part.len() {
                skip -= part.len();
                continue;
            }
            st.leftover.push(part.slice(skip..));
            skip = 0;
        }
        self.give_back(st, next_seq);
        false
    }

    /// Completes this lane's queued write of the round, if it queued one ([`Lane::queue`]).
    /// (Not conditioned on `self.uring`: a lane that queued nothing is not in the batch.)
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    fn complete(&self, generation: u64, first_seq: u64, frames: &[Frame]) -> bool {
        let Some(uring::Done { mut queued, written }) = uring::complete(&self.state) else {
            return true;
        };
        let frames = frames.get(queued.skip..).unwrap_or_default();
        let next_seq = first_seq + queued.skip as u64;
        let parts = std::mem::take(&mut queued.parts);
        let still =
            self.settle(&mut queued.state, generation, next_seq, frames, || parts.iter(), written);
        uring::recycle(parts);
        still
    }

    /// Queues this lane's part of a round for the thread's io_uring submission
    /// ([`DirectOutput::finish`] completes it); a batch too large for one submission is
    /// written at once instead.
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    fn queue(&self, generation: u64, first_seq: u64, frames: &[Frame]) -> bool {
        if uring::is_queued(&self.state) {
            // Listed twice: the first entry writes the round.
            return false;
        }
        let mut st = self.state.lock_arc();
        let (next_seq, skip) = match self.due(&mut st, generation, first_seq, frames) {
            Ok(due) => due,
            Err(answer) => return answer,
        };
        let due = frames.get(skip..).unwrap_or_default();
        let chunking = self.chunking;
        let mut parts = uring::parts_vec();
        for frame in due {
            match chunking.shared(frame) {
                Some(shared) => parts.extend(shared.iter().cloned()),
                None => parts.extend(chunking.encode(frame)),
            }
        }
        if parts.len() > MAX_SLICES {
            let written = self.write_parts(parts.iter());
            let still = self.settle(&mut st, generation, next_seq, due, || parts.iter(), written);
            uring::recycle(parts);
            return still;
        }
        let round = uring::Round {
            generation,
            first_seq,
            frames: frames.as_ptr() as usize,
            len: frames.len(),
        };
        let fd = st.fd;
        uring::queue(uring::Queued { state: st, fd, parts, skip, round });
        true
    }
}

/// How a player's frames are chunked: its message stream id and the session's outbound
/// chunk size. Every player with the same chunking shares one encoding of each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunking {
    pub(crate) stream_id: u32,
    pub(crate) chunk_size: u32,
}

impl Chunking {
    /// `frame` chunked on its own for this chunking.
    pub(crate) fn encode(self, frame: &Frame) -> Vec<Bytes> {
        ServerSession::prepare_media(self.stream_id, &media_message(frame), self.chunk_size)
    }

    /// The frame's shared encoding ([`Frame::encoded`]), made now if it has none yet;
    /// `None` when it was made for another chunking (then [`Chunking::encode`]).
    pub(crate) fn shared(self, frame: &Frame) -> Option<&[Bytes]> {
        let key = (u64::from(self.chunk_size) << 32) | u64::from(self.stream_id);
        frame.encoded(key, |f| self.encode(f))
    }
}

/// The message a player gets for `frame` (the chunk stream and message stream are the
/// session's to set).
pub(crate) fn media_message(frame: &Frame) -> Message {
    Message {
        csid: 0,
        timestamp: frame.timestamp,
        type_id: MessageType::from(TagType::from(frame.kind)),
        stream_id: 0,
        payload: frame.payload.clone(),
    }
}

impl DirectOutput for Lane {
    fn start(&self, generation: u64, next_seq: u64) {
        let mut st = self.lock();
        let mode = Mode::Direct { generation, next_seq };
        st.mode = mode;
        st.leftover.clear();
        (st.frames, st.payload, st.sent) = (0, 0, 0);
    }

    fn offer(&self, generation: u64, first_seq: u64, frames: &[Frame]) -> bool {
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        if self.uring && uring::available() {
            return self.queue(generation, first_seq, frames);
        }
        let mut st = self.lock();
        let (next_seq, skip) = match self.due(&mut st, generation, first_seq, frames) {
            Ok(due) => due,
            Err(answer) => return answer,
        };
        let frames = frames.get(skip..).unwrap_or_default();
        // The batch's slices, in order, walked again as needed (no allocation per viewer):
        // shared encodings, and this lane's own for frames encoded for another chunking.
        let chunking = self.chunking;
        let own: Vec<Vec<Bytes>> = frames
            .iter()
            .filter(|f| chunking.shared(f).is_none())
            .map(|f| chunking.encode(f))
            .collect();
        let parts = || {
            let mut own = own.iter();
            frames.iter().flat_map(move |f| {
                let parts = chunking.shared(f).or_else(|| own.next().map(Vec::as_slice));
                parts.unwrap_or_default().iter()
            })
        };
        let written = self.write_parts(parts());
        self.settle(&mut st, generation, next_seq, frames, parts, written)
    }

    fn finish(&self, generation: u64, first_seq: u64, frames: &[Frame]) -> bool {
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        return self.complete(generation, first_seq, frames);
        #[cfg(not(all(target_os = "linux", feature = "io-uring")))]
        {
            let _ = (generation, first_seq, frames);
            true
        }
    }

    fn release(&self) {
        let mut st = self.lock();
        if let Mode::Direct { next_seq, .. } = st.mode {
            self.give_back(&mut st, next_seq);
        }
    }
}
