//! Run-to-completion fan-out: outputs that take frames straight from the publisher's task.
//!
//! An output whose viewer keeps up (its subscriber has delivered everything, nothing is
//! queued for its socket) registers a [`DirectOutput`] with the stream
//! ([`crate::Subscriber::go_direct`]). From then on the publisher's task, right after
//! pushing a frame (or a batch: audio waiting for the next video frame, or
//! [`crate::HubConfig::max_batch_ms`]), offers it to every registered output, which writes
//! it to its socket without blocking. There is no task wake-up, select or `Notify` per viewer
//! per frame: the cost of a frame is one non-blocking vectored write per viewer.
//!
//! An output leaves the list when its write would block (the rest of its frame goes to its
//! own task, which then follows the ordinary [`crate::MediaPump`] and its lag policy), when
//! its task needs the socket for something else, or when the publisher goes. A stalled
//! viewer therefore costs the publisher one failed write, once; it never delays anyone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::registry::lock;
use crate::Frame;

/// An output fed by the publisher's task while it keeps up (see the module docs).
pub trait DirectOutput: Send + Sync {
    /// Called once as the output is registered, under the stream's lock (so before any
    /// frame from `next_seq` can be pushed): from now on it is offered frames of publishing
    /// `generation` from `next_seq`.
    fn start(&self, generation: u64, next_seq: u64);

    /// Frames `first_seq`, `first_seq + 1`, ... of the stream's publishing `generation`,
    /// just pushed, in order. Returns whether the output still takes frames this way;
    /// `false` removes it from the stream's list (it went back to its own task). An output
    /// that already has some of these frames skips them; one that misses frames before
    /// `first_seq` must return `false` and let its task catch up from the ring.
    fn offer(&self, generation: u64, first_seq: u64, frames: &[Frame]) -> bool;

    /// Completes an offer that returned `true`, with the same arguments. An output may
    /// queue its write in [`DirectOutput::offer`] so that the writes of a round of up to
    /// [`DIRECT_ROUND`] outputs reach the kernel together (one io_uring submission on
    /// Linux); it performs it here. Called in the order of the offers, after the whole
    /// round was offered, on the same thread and with no other offer in between. Returns
    /// whether the output still takes frames this way. The default has nothing to complete.
    fn finish(&self, generation: u64, first_seq: u64, frames: &[Frame]) -> bool {
        let _ = (generation, first_seq, frames);
        true
    }

    /// The publisher left or was replaced: the output's task takes over again (and tells
    /// its viewer). Called once; the output is no longer in the list.
    fn release(&self);
}

/// Most outputs one stream feeds from its publisher's task. One core writes a 3 Mbit/s
/// frame to about 4000 sockets in a frame interval; past this, viewers are served by their
/// own tasks, which the runtime spreads over its worker threads.
pub const MAX_DIRECT_OUTPUTS: usize = 2000;

/// Outputs offered a batch before the offers are completed ([`DirectOutput::finish`]): the
/// writes a round submits together. Large enough to amortise a submission; small enough
/// that a viewer's task waiting for its socket waits for one round, not the whole list.
pub const DIRECT_ROUND: usize = 64;

/// A stream's direct outputs.
#[derive(Default)]
pub(crate) struct DirectList {
    outputs: Mutex<Vec<Arc<dyn DirectOutput>>>,
    /// Outputs in the list plus those being offered a batch right now.
    count: AtomicUsize,
}

impl std::fmt::Debug for DirectList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectList").field("count", &self.len()).finish()
    }
}

impl DirectList {
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Adds `output` (started at `next_seq` of `generation`), unless the list is full.
    pub(crate) fn add(
        &self,
        output: Arc<dyn DirectOutput>,
        generation: u64,
        next_seq: u64,
    ) -> bool {
        let mut outputs = lock(&self.outputs);
        if self.count.load(Ordering::Relaxed) >= MAX_DIRECT_OUTPUTS {
            return false;
        }
        output.start(generation, next_seq);
        outputs.push(output);
        self.count.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Offers `frames` (from `first_seq`) to every output; those that decline leave. The
    /// list is taken out while offering, so an output may register meanwhile (it then
    /// misses this batch, notices the gap in the next and catches up from the ring).
    pub(crate) fn offer(&self, generation: u64, first_seq: u64, frames: &[Frame]) {
        if frames.is_empty() || self.len() == 0 {
            return;
        }
        let mut taken = std::mem::take(&mut *lock(&self.outputs));
        let before = taken.len();
        // Round by round: offer, then finish; the outputs that stay are moved to the front
        // in order (no allocation per batch).
        let mut kept = 0;
        let mut offered = [false; DIRECT_ROUND];
        for start in (0..before).step_by(DIRECT_ROUND) {
            let end = (start + DIRECT_ROUND).min(before);
            for (flag, output) in offered.iter_mut().zip(taken.get(start..end).unwrap_or_default())
            {
                *flag = output.offer(generation, first_seq, frames);
            }
            for (i, &was_offered) in (start..end).zip(&offered) {
                let stays = was_offered
                    && taken.get(i).is_some_and(|o| o.finish(generation, first_seq, frames));
                if stays {
                    taken.swap(kept, i);
                    kept += 1;
                }
            }
        }
        taken.truncate(kept);
        let left = before - taken.len();
        let mut outputs = lock(&self.outputs);
        if outputs.is_empty() {
            *outputs = taken;
        } else {
            outputs.append(&mut taken);
        }
        self.count.fetch_sub(left, Ordering::Relaxed);
    }

    /// Empties the list, releasing every output (the publisher left or was replaced).
    pub(crate) fn release_all(&self) {
        let taken = std::mem::take(&mut *lock(&self.outputs));
        self.count.fetch_sub(taken.len(), Ordering::Relaxed);
        for output in taken {
            output.release();
        }
    }
}

#[cfg(test)]
mod tests;
