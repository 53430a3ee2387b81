//! Handing a viewer to its publisher's task and back (run-to-completion fan-out,
//! [`crate::DirectOutput`]): the subscriber stands still while the publisher writes for it.

use std::sync::Arc;

use super::{Phase, Subscriber};
use crate::{DirectOutput, FrameKind};

impl Subscriber {
    /// Hands this viewer to the publisher's task ([`crate::DirectOutput`], run-to-completion
    /// fan-out) if it is exactly in sync: playing the live generation, not paused, audio
    /// and video on, nothing owed or awaited, everything up to the ring's head delivered,
    /// and the stream's direct list not full. Then [`DirectOutput::start`] tells `output`
    /// where it starts, and the subscriber stands still until
    /// [`Subscriber::back_from_direct`]. Returns whether it was handed over.
    pub fn go_direct(&mut self, output: Arc<dyn DirectOutput>) -> bool {
        let stream = Arc::clone(&self.stream);
        let st = stream.lock();
        let in_sync = self.phase == Phase::Playing
            && self.gen == st.generation
            && st.publishing
            && !self.paused
            && !self.reposition
            && self.audio
            && self.video
            && !self.owed.any()
            && self.await_sync.is_none()
            && (!self.video_await_keyframe || st.ring.is_audio_only())
            && self.cursor.seq == st.ring.head().seq;
        // Registered under the stream lock: no frame is pushed between the check and the
        // registration, so the output's first frame is the ring's head.
        in_sync && stream.direct.add(output, self.gen, self.cursor.seq)
    }

    /// Back from the publisher's task: it wrote `frames` frames (`bytes` payload bytes) and
    /// `next_seq` is the first frame it did not write. The cursor moves there (or, if the
    /// ring no longer holds it, the next poll skips to a keyframe as for any late viewer).
    pub fn back_from_direct(&mut self, next_seq: u64, frames: u64, bytes: u64) {
        self.stats.delivered_frames += frames;
        self.stats.delivered_bytes += bytes;
        self.seen = None;
        let st = self.stream.lock();
        if self.gen != st.generation {
            return;
        }
        let ring = &st.ring;
        // An audio-only stream went direct still awaiting a video keyframe (for video that
        // might come): if one was written meanwhile, video is in sync now.
        if self.video_await_keyframe {
            let video_key = (self.cursor.seq..next_seq).filter_map(|seq| ring.get(seq)).any(|e| {
                e.frame.kind == FrameKind::Video && e.frame.keyframe && !e.frame.sequence_header
            });
            self.video_await_keyframe = !video_key;
        }
        match ring.position(next_seq) {
            Some(pos) => {
                self.cursor = pos;
                self.cursor_time = ring.get(next_seq).map_or(ring.now(), |e| e.time);
            }
            // Trimmed away meanwhile: the next poll skips ahead as for any late viewer.
            None if next_seq < ring.first_seq() => self.cursor.seq = next_seq,
            None => {
                self.cursor = ring.head();
                self.cursor_time = ring.now();
            }
        }
    }
}
