//! The stream's delivered timeline across a change of source: when the frames of a stream
//! start coming from a new source on the same publication (a pull moved to the next
//! origin, [`crate::Publisher::splice`]; a publisher reconnected within its grace,
//! [`crate::Publisher::lose`]), viewers stay attached, so what they receive must stay
//! decodable and monotonic although the new source has its own clock (usually restarting
//! at 0) and starts mid-GOP or with other codec parameters.
//!
//! The rules, applied at push time (so the ring, every viewer and every late joiner see
//! one timeline, and the cost is one branch per frame while no splice is pending):
//!
//! - **Sync point**: after a splice nothing of the new source is delivered until its first
//!   video keyframe, audio included, so sound and picture start together (a viewer hears
//!   no audio over a frozen picture). A stream that has shown no video (audio-only before
//!   the splice, and no video from the new source) starts at the first audio frame. If
//!   the old stream had video but the new source sends only audio for
//!   [`AUDIO_ONLY_AFTER_MS`] (its media time), it is taken as audio-only and starts there.
//! - **Rebasing**: one offset for audio, video and data, fixed at that first frame: it lands
//!   1 ms after the largest timestamp delivered before the splice
//!   (`new = source + offset`, wrapping at 2^32 as RTMP timestamps do). Audio of the new
//!   source stamped before that first frame (the interleaving of its two timelines) is
//!   dropped until the source is [`SETTLE_MS`] past it, so nothing goes backwards.
//! - **Configuration first**: sequence headers and metadata of the new source pass during
//!   the wait, stamped at the splice point; the stream caches them and, when they differ
//!   from what viewers have, queues them in order, so they arrive before the first frame.
//!   Configuration and data frames are never stamped before the last delivered frame.
//!
//! Time is RTMP ms compared by serial-number arithmetic (`wrapping_sub` as `i32`), like the
//! rest of the hub.

use crate::{Frame, FrameKind};

/// An old stream with video whose new source sends only audio for this long (its media
/// ms) is taken to have become audio-only: audio starts rather than waiting for a keyframe
/// that will not come.
pub(crate) const AUDIO_ONLY_AFTER_MS: u32 = 2000;

/// After the first frame of a new source, its frames stamped before that frame are dropped
/// until one is stamped this far past it (the normal A/V interleaving is well within).
pub(crate) const SETTLE_MS: u32 = 1000;

/// Where a stream's delivered timestamps are, and how the current source's map onto them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Timeline {
    /// Added (wrapping) to every timestamp of the current source.
    offset: u32,
    /// The largest audio/video timestamp delivered (serial order), after rebasing.
    last: Option<u32>,
    /// A splice waits for the new source's sync point.
    wait: Option<Wait>,
    /// The source timestamp of the new source's first delivered frame: earlier ones are
    /// dropped until the source is [`SETTLE_MS`] past it.
    floor: Option<u32>,
}

/// A splice waiting for the new source's first sync point.
#[derive(Clone, Copy, Debug)]
struct Wait {
    /// Wait for a video keyframe: the stream had video, or the new source showed some.
    expect_video: bool,
    /// The new source showed video (a header or a frame): audio waits for its keyframe.
    saw_video: bool,
    /// The new source's first audio timestamp while waiting.
    audio_since: Option<u32>,
}

/// `a` is later than `b` in serial order.
fn later(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl Timeline {
    /// The next frames come from a new source. `had_video`: the stream has shown video.
    /// A stream that has delivered nothing yet has nothing to continue: no wait, no offset.
    pub(crate) fn splice(&mut self, had_video: bool) {
        if self.last.is_none() {
            self.offset = 0;
            return;
        }
        self.wait = Some(Wait { expect_video: had_video, saw_video: false, audio_since: None });
        self.floor = None;
    }

    /// Whether a splice waits for the new source's sync point.
    pub(crate) fn is_waiting(&self) -> bool {
        self.wait.is_some()
    }

    /// Rebases `frame` (in place), or returns `None` when it must be dropped.
    pub(crate) fn admit(&mut self, mut frame: Frame) -> Option<Frame> {
        if self.wait.is_none() && self.floor.is_none() && self.offset == 0 {
            // The common case: one source, timestamps as received.
            if frame.kind != FrameKind::Data && !frame.sequence_header {
                self.note(frame.timestamp);
            }
            return Some(frame);
        }
        if frame.sequence_header || frame.kind == FrameKind::Data {
            if frame.kind == FrameKind::Video {
                if let Some(wait) = &mut self.wait {
                    wait.saw_video = true;
                    wait.expect_video = true;
                }
            }
            frame.timestamp = self.stamp_config(frame.timestamp);
            return Some(frame);
        }
        let ts = frame.timestamp;
        if let Some(wait) = &mut self.wait {
            if !Self::starts(wait, &frame) {
                return None;
            }
            let anchor = self.last.map_or(ts, |last| last.wrapping_add(1));
            self.offset = anchor.wrapping_sub(ts);
            self.wait = None;
            self.floor = Some(ts);
        } else if let Some(floor) = self.floor {
            if later(floor, ts) {
                return None;
            }
            if ts.wrapping_sub(floor) >= SETTLE_MS {
                self.floor = None;
            }
        }
        frame.timestamp = ts.wrapping_add(self.offset);
        self.note(frame.timestamp);
        Some(frame)
    }

    /// Whether the waiting splice starts at this media frame (see the module docs).
    fn starts(wait: &mut Wait, frame: &Frame) -> bool {
        match frame.kind {
            FrameKind::Video => {
                wait.saw_video = true;
                wait.expect_video = true;
                frame.keyframe
            }
            FrameKind::Audio if wait.saw_video => false,
            FrameKind::Audio if !wait.expect_video => true,
            FrameKind::Audio => {
                let since = *wait.audio_since.get_or_insert(frame.timestamp);
                frame.timestamp.wrapping_sub(since) >= AUDIO_ONLY_AFTER_MS
                    && !later(since, frame.timestamp)
            }
            FrameKind::Data => true,
        }
    }

    /// The timestamp of a configuration or data frame stamped `ts` by its source: at the
    /// splice point while waiting, else rebased, and never before the last delivered frame.
    /// A stream never spliced keeps its publisher's stamps (onMetaData at 0, say).
    pub(crate) fn stamp_config(&self, ts: u32) -> u32 {
        let Some(last) = self.last else { return ts };
        if self.wait.is_none() && self.floor.is_none() && self.offset == 0 {
            return ts;
        }
        if self.wait.is_some() {
            return last.wrapping_add(1);
        }
        let rebased = ts.wrapping_add(self.offset);
        if later(last, rebased) {
            last
        } else {
            rebased
        }
    }

    fn note(&mut self, ts: u32) {
        if self.last.is_none_or(|last| later(ts, last)) {
            self.last = Some(ts);
        }
    }
}

#[cfg(test)]
mod tests;
