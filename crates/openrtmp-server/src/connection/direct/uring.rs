//! Linux fast path of the run-to-completion fan-out: the writes of a round of lanes
//! (`openrtmp_hub::DIRECT_ROUND`) go to the kernel in one io_uring submission instead of
//! one `writev` system call each.
//!
//! Each lane's [`super::Lane::offer`] queues its write here (its lock held, its bytes
//! referenced); the first [`super::Lane::finish`] of the round submits them all as
//! non-blocking `sendmsg` operations (`MSG_DONTWAIT`: a socket that would block answers
//! `EAGAIN` at once, as a non-blocking `writev` does) and waits for every completion;
//! each `finish` then takes its own result. Nothing the kernel reads outlives the call
//! that submitted it: the submission and all its completions happen within
//! [`Batch::submit`], so the memory the operations point at (message headers, iovecs,
//! the bytes, kept by reference count) is alive throughout.
//!
//! One ring per thread that fans out, made at its first use. A kernel that refuses
//! io_uring (too old, disabled by `kernel.io_uring_disabled` or a seccomp filter) leaves
//! the thread on the portable path, once and for good.
//!
//! Measured (bench/README.md): one writev per viewer per frame is about 5 µs of fixed
//! kernel cost on this class of machine; an io_uring submission amortises the system
//! call over the round.

// The only `unsafe` here: pushing submission entries, whose pointers must stay valid until
// their completion (see the module docs), and an all-zero `msghdr`.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;

use bytes::Bytes;
use io_uring::{opcode, types, IoUring};
use parking_lot::{ArcMutexGuard, Mutex, RawMutex};

use super::State;

/// Ring entries: a round's operations, with room to spare.
const RING_ENTRIES: u32 = 2 * openrtmp_hub::DIRECT_ROUND as u32;

/// What a round's offers are for: a write queued for another (an offer interrupted before
/// its completion, which only a panic could do) is stale and dropped unwritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Round {
    pub(super) generation: u64,
    pub(super) first_seq: u64,
    pub(super) frames: usize,
    pub(super) len: usize,
}

/// One lane's queued write.
pub(super) struct Queued {
    /// The lane's state, locked from the offer to the completion: nobody else writes the
    /// socket (or changes the lane) meanwhile.
    pub(super) state: ArcMutexGuard<RawMutex, State>,
    /// The socket's descriptor, open while the lane lives: its stream's list holds the lane
    /// from the offer to the completion (a write of an unfinished round is never
    /// submitted; see [`queue`]).
    pub(super) fd: RawFd,
    /// The bytes to write, in order.
    pub(super) parts: Vec<Bytes>,
    /// The first frame of the round this write carries (after what the lane had).
    pub(super) skip: usize,
    pub(super) round: Round,
}

/// A queued write and what the kernel answered: bytes taken, or 0 (would block, failed).
pub(super) struct Done {
    pub(super) queued: Queued,
    pub(super) written: usize,
}

struct Slot {
    queued: Queued,
    /// The completion's result once the round was submitted.
    result: Option<i32>,
}

struct Batch {
    ring: IoUring,
    slots: Vec<Slot>,
    /// Reused from round to round: iovecs and message headers the submission points at,
    /// and the emptied vectors of bytes.
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::msghdr>,
    spare: Vec<Vec<Bytes>>,
}

enum Ring {
    Untried,
    Ready(Box<Batch>),
    Unavailable,
}

thread_local! {
    static RING: RefCell<Ring> = const { RefCell::new(Ring::Untried) };
}

/// Whether this thread can queue writes (makes its ring at the first call).
pub(super) fn available() -> bool {
    RING.with_borrow_mut(|ring| {
        if let Ring::Untried = ring {
            *ring = match make_ring() {
                Ok(made) => {
                    tracing::debug!("direct fan-out writes through io_uring on this thread");
                    Ring::Ready(Box::new(Batch {
                        ring: made,
                        slots: Vec::new(),
                        iovecs: Vec::new(),
                        headers: Vec::new(),
                        spare: Vec::new(),
                    }))
                }
                Err(e) => {
                    tracing::info!(error = %e, "io_uring unavailable: direct fan-out uses writev");
                    Ring::Unavailable
                }
            };
        }
        matches!(ring, Ring::Ready(_))
    })
}

fn make_ring() -> io::Result<IoUring> {
    // Cheaper completions where the kernel has them (5.19+, 6.0+); plain otherwise.
    IoUring::builder()
        .setup_submit_all()
        .setup_coop_taskrun()
        .setup_single_issuer()
        .build(RING_ENTRIES)
        .or_else(|_| IoUring::new(RING_ENTRIES))
}

/// Whether `state`'s lane has a write queued in this round (it appears twice in its
/// stream's list: the second offer must not lock it again).
pub(super) fn is_queued(state: &Arc<Mutex<State>>) -> bool {
    RING.with_borrow(|ring| match ring {
        Ring::Ready(batch) => {
            batch.slots.iter().any(|s| Arc::ptr_eq(ArcMutexGuard::mutex(&s.queued.state), state))
        }
        _ => false,
    })
}

/// An empty vector for a write's bytes (reused).
pub(super) fn parts_vec() -> Vec<Bytes> {
    RING.with_borrow_mut(|ring| match ring {
        Ring::Ready(batch) => batch.spare.pop().unwrap_or_default(),
        _ => Vec::new(),
    })
}

/// Queues a write for the round's submission. Writes queued for another round are stale
/// (their lanes keep their place and catch up after noticing the gap) and are dropped.
pub(super) fn queue(queued: Queued) {
    RING.with_borrow_mut(|ring| {
        let Ring::Ready(batch) = ring else { return };
        if batch.slots.first().is_some_and(|s| s.queued.round != queued.round) {
            tracing::warn!(stale = batch.slots.len(), "dropping writes of an unfinished round");
            batch.slots.clear();
        }
        batch.slots.push(Slot { queued, result: None });
    });
}

/// `state`'s queued write with its result, submitting the round's writes first if they
/// were not yet. `None` if the lane queued nothing this round.
pub(super) fn complete(state: &Arc<Mutex<State>>) -> Option<Done> {
    RING.with_borrow_mut(|ring| {
        let Ring::Ready(batch) = ring else { return None };
        let at = batch
            .slots
            .iter()
            .position(|s| Arc::ptr_eq(ArcMutexGuard::mutex(&s.queued.state), state))?;
        if batch.slots.get(at).is_some_and(|s| s.result.is_none()) && batch.submit().is_err() {
            // Unreachable in practice (see `Batch::submit`): this thread stops using the
            // ring; the round's lanes are handed back as if their writes would block.
            let mut slots = std::mem::take(&mut batch.slots);
            *ring = Ring::Unavailable;
            let slot = slots.swap_remove(at);
            return Some(Done { queued: slot.queued, written: 0 });
        }
        let slot = batch.slots.swap_remove(at);
        let written = usize::try_from(slot.result.unwrap_or(0)).unwrap_or(0);
        Some(Done { queued: slot.queued, written })
    })
}

/// Returns an emptied vector of bytes for reuse.
pub(super) fn recycle(mut parts: Vec<Bytes>) {
    parts.clear();
    RING.with_borrow_mut(|ring| {
        if let Ring::Ready(batch) = ring {
            if batch.spare.len() < openrtmp_hub::DIRECT_ROUND {
                batch.spare.push(parts);
            }
        }
    });
}

impl Batch {
    /// Submits every queued write not yet submitted and waits for all their completions.
    /// An error leaves the operations' memory leaked on purpose: the kernel may still hold
    /// pointers into it (no error of `io_uring_enter` but `EINTR`/`EBUSY`, retried, can
    /// happen once the ring is set up with valid entries).
    fn submit(&mut self) -> io::Result<()> {
        // A round is submitted once, by its first completion: every slot is pending.
        let count = self.slots.len();
        self.iovecs.clear();
        self.headers.clear();
        // Capacity reserved up front: no reallocation moves what the headers point at.
        self.iovecs.reserve(self.slots.iter().map(|s| s.queued.parts.len()).sum());
        self.headers.reserve(count);
        for slot in &self.slots {
            self.iovecs.extend(slot.queued.parts.iter().map(|part| libc::iovec {
                iov_base: part.as_ptr() as *mut libc::c_void,
                iov_len: part.len(),
            }));
        }
        let mut start = 0;
        for slot in &self.slots {
            let parts = slot.queued.parts.len();
            // SAFETY: all-zero is a valid `msghdr` (no name, no control data).
            let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
            header.msg_iov =
                self.iovecs.get_mut(start..).map_or(std::ptr::null_mut(), |s| s.as_mut_ptr());
            header.msg_iovlen = parts as _;
            self.headers.push(header);
            start += parts;
        }
        let mut submitted = 0;
        let mut reaped = 0;
        while reaped < count {
            // Push what fits; the ring has room for a round, so normally all at once.
            {
                let mut queue = self.ring.submission();
                while submitted < count && !queue.is_full() {
                    let (Some(header), Some(slot)) =
                        (self.headers.get(submitted), self.slots.get(submitted))
                    else {
                        break;
                    };
                    let fd = types::Fd(slot.queued.fd);
                    let entry = opcode::SendMsg::new(fd, header)
                        .flags((libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) as u32)
                        .build()
                        .user_data(submitted as u64);
                    // SAFETY: the header, its iovecs and the bytes they point at live in
                    // `self` (and the slots' `Bytes`) until every completion is reaped
                    // below, before this function returns; the descriptor is the open
                    // socket of a lane its stream's list holds meanwhile.
                    if unsafe { queue.push(&entry) }.is_err() {
                        break;
                    }
                    submitted += 1;
                }
            }
            match self.ring.submit_and_wait(submitted - reaped) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(e) => {
                    std::mem::forget(std::mem::take(&mut self.iovecs));
                    std::mem::forget(std::mem::take(&mut self.headers));
                    for slot in &mut self.slots {
                        std::mem::forget(std::mem::take(&mut slot.queued.parts));
                    }
                    tracing::error!(error = %e, "io_uring submission failed; using writev");
                    return Err(e);
                }
            }
            for completion in self.ring.completion() {
                let at = usize::try_from(completion.user_data()).unwrap_or(usize::MAX);
                if let Some(slot) = self.slots.get_mut(at) {
                    slot.result = Some(completion.result());
                    reaped += 1;
                }
            }
        }
        Ok(())
    }
}
