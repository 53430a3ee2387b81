//! The shared ring of one stream: its recent frames, stored once, addressed by absolute
//! sequence numbers with cumulative counters, so that every viewer is just a cursor.
//!
//! A [`Position`] is "everything before frame `seq`": the sequence number plus cumulative
//! byte and per-kind frame counts since the generation began. The distance between two
//! positions (a viewer's backlog, a skip's drop count) is a subtraction, whatever was
//! trimmed in between.

use std::collections::VecDeque;

use crate::{Frame, FrameKind, HubConfig};

/// Timestamp steps larger than this (forwards or backwards, ms) are discontinuities: a
/// publisher reset its clock, an encoder stalled, a relay spliced two sources. The media
/// clock does not advance across them, so one bad timestamp cannot make every viewer look
/// minutes behind (or freeze lag measurement for minutes). Smaller backward steps are the
/// normal jitter between interleaved audio and video timelines and hold the clock.
pub const MAX_TIMESTAMP_STEP_MS: u32 = 10_000;

/// A point between frames: everything before frame `seq`, with cumulative counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Position {
    /// The sequence number of the next frame.
    pub(crate) seq: u64,
    /// Payload bytes of all frames before `seq`.
    pub(crate) bytes: u64,
    /// Audio frames before `seq`.
    pub(crate) audio: u64,
    /// Video frames before `seq`.
    pub(crate) video: u64,
}

impl Position {
    /// The position just after `frame`, which sits at `self`.
    pub(crate) fn after(self, frame: &Frame) -> Position {
        Position {
            seq: self.seq + 1,
            bytes: self.bytes + frame.len() as u64,
            audio: self.audio + u64::from(frame.kind == FrameKind::Audio),
            video: self.video + u64::from(frame.kind == FrameKind::Video),
        }
    }

    /// Frames between `self` and a later position `to`, counting only the kinds a viewer
    /// receives (data frames always count). Zero if `to` is not later.
    pub(crate) fn frames_until(self, to: Position, audio: bool, video: bool) -> u64 {
        let total = to.seq.saturating_sub(self.seq);
        let a = to.audio.saturating_sub(self.audio);
        let v = to.video.saturating_sub(self.video);
        let data = total.saturating_sub(a + v);
        data + if audio { a } else { 0 } + if video { v } else { 0 }
    }
}

/// A monotonic media clock in ms built from RTMP timestamps: wrap-free (u64) and immune
/// to jitter and discontinuities (see [`MAX_TIMESTAMP_STEP_MS`]). All lag and retention
/// arithmetic uses it; frames keep their original timestamps for delivery.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MediaClock {
    /// The newest timestamp accepted as the clock's reference.
    last: Option<u32>,
    /// Media ms elapsed since the generation's first frame.
    now: u64,
}

impl MediaClock {
    /// Accounts for a frame stamped `ts` and returns the clock value to store with it.
    fn advance(&mut self, ts: u32) -> u64 {
        let Some(last) = self.last else {
            self.last = Some(ts);
            return self.now;
        };
        // Reinterpreting the wrapping difference as signed gives the short way round the
        // 2^32 circle: correct across the wrap for steps under 24 days.
        let step = ts.wrapping_sub(last) as i32;
        if step > 0 && step.unsigned_abs() <= MAX_TIMESTAMP_STEP_MS {
            self.now += u64::from(step.unsigned_abs());
            self.last = Some(ts);
        } else if step.unsigned_abs() > MAX_TIMESTAMP_STEP_MS {
            // Discontinuity: re-anchor without advancing.
            self.last = Some(ts);
        }
        self.now
    }
}

/// One stored frame.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The frame as delivered.
    pub(crate) frame: Frame,
    /// The media clock when it arrived.
    pub(crate) time: u64,
    /// The position just before it (`pos.seq` is its sequence number).
    pub(crate) pos: Position,
}

/// The frames of one publisher generation, oldest first.
///
/// Invariants: `entries[i].pos.seq == entries[0].pos.seq + i`; `head` is the position
/// after the last entry; `keyframes` holds, in order, the sequence numbers of the video
/// keyframes still in `entries`.
#[derive(Debug, Default)]
pub(crate) struct Ring {
    entries: VecDeque<Entry>,
    head: Position,
    keyframes: VecDeque<u64>,
    clock: MediaClock,
    /// The generation has shown video: only video keyframes are sync points. Until then
    /// (audio-only) every frame is one.
    has_video: bool,
}

impl Ring {
    /// Appends a frame, then trims the front per `config` (see [`Ring::trim`]).
    pub(crate) fn push(&mut self, frame: Frame, config: &HubConfig) {
        // Data messages (onMetaData, cue points) are often stamped 0 whatever the media
        // time: they take the current time instead of moving the clock.
        let time = match frame.kind {
            FrameKind::Data => self.clock.now,
            _ => self.clock.advance(frame.timestamp),
        };
        let pos = self.head;
        if frame.kind == FrameKind::Video {
            self.has_video = true;
            if frame.keyframe && !frame.sequence_header {
                self.keyframes.push_back(pos.seq);
            }
        }
        self.head = pos.after(&frame);
        self.entries.push_back(Entry { frame, time, pos });
        self.trim(config);
    }

    /// Records that the generation carries video (a video sequence header was cached
    /// without entering the ring), so audio frames stop being sync points.
    pub(crate) fn note_video(&mut self) {
        self.has_video = true;
    }

    /// Drops frames from the front. In order of precedence:
    /// 1. caps: at most `gop_max_frames` frames and `gop_max_bytes` bytes;
    /// 2. age: nothing older than twice the retention (bounds publishers that never send
    ///    a keyframe);
    /// 3. retention: the front moves to the newest sync point (video keyframe, or any
    ///    frame for audio-only) that still leaves `retention_ms` of media in the ring.
    ///
    /// The newest frame is always kept, so a frame larger than the caps still reaches the
    /// viewers that are caught up. Amortised O(1): every frame and keyframe index entry is
    /// popped once.
    fn trim(&mut self, config: &HubConfig) {
        while self.entries.len() > 1
            && (self.entries.len() > config.gop_max_frames
                || self.bytes() > config.gop_max_bytes as u64)
        {
            self.pop_front();
        }
        let retention = config.retention_ms();
        while self.entries.len() > 1 && self.front_age() > 2 * retention {
            self.pop_front();
        }
        if self.has_video {
            // The newest keyframe that is at least `retention` old becomes the front.
            while let Some(&next) = self.keyframes.get(1) {
                if self.age_of(next) < retention {
                    break;
                }
                self.keyframes.pop_front();
            }
            if let Some(&first) = self.keyframes.front() {
                if self.age_of(first) >= retention {
                    while self.first_seq() < first {
                        self.pop_front();
                    }
                }
            }
        } else {
            while self.entries.get(1).is_some_and(|e| self.clock.now - e.time >= retention) {
                self.pop_front();
            }
        }
    }

    fn pop_front(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            if self.keyframes.front() == Some(&e.pos.seq) {
                self.keyframes.pop_front();
            }
        }
    }

    fn front_age(&self) -> u64 {
        self.entries.front().map_or(0, |e| self.clock.now - e.time)
    }

    /// Media ms between frame `seq` and the newest frame (0 if `seq` is not stored).
    pub(crate) fn age_of(&self, seq: u64) -> u64 {
        self.get(seq).map_or(0, |e| self.clock.now - e.time)
    }

    /// The stored frame `seq`, if it has not been trimmed and exists.
    pub(crate) fn get(&self, seq: u64) -> Option<&Entry> {
        let index = seq.checked_sub(self.first_seq())?;
        self.entries.get(usize::try_from(index).ok()?)
    }

    /// The position before frame `seq`, or the head; `None` when trimmed or in the future.
    pub(crate) fn position(&self, seq: u64) -> Option<Position> {
        if seq == self.head.seq {
            Some(self.head)
        } else {
            self.get(seq).map(|e| e.pos)
        }
    }

    /// The sequence number of the oldest stored frame (the head when empty).
    pub(crate) fn first_seq(&self) -> u64 {
        self.entries.front().map_or(self.head.seq, |e| e.pos.seq)
    }

    /// The position after the newest frame.
    pub(crate) fn head(&self) -> Position {
        self.head
    }

    /// Frames stored.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Payload bytes stored.
    pub(crate) fn bytes(&self) -> u64 {
        self.entries.front().map_or(0, |e| self.head.bytes - e.pos.bytes)
    }

    /// Media ms covered by the stored frames.
    pub(crate) fn span_ms(&self) -> u64 {
        self.front_age()
    }

    /// The media clock: the time of the newest frame.
    pub(crate) fn now(&self) -> u64 {
        self.clock.now
    }

    /// Whether only audio (and data) has been seen: every frame is a sync point.
    pub(crate) fn is_audio_only(&self) -> bool {
        !self.has_video
    }

    /// The newest video keyframe stored.
    pub(crate) fn newest_keyframe(&self) -> Option<u64> {
        self.keyframes.back().copied()
    }

    /// The start of the GOP cache: the newest keyframe at least `gop_ms` old, or failing
    /// that the oldest one; but none older than `max_ms` (a viewer starting there would
    /// be lagging at once). Falls back to the newest keyframe. O(keyframes in the ring).
    pub(crate) fn gop_start(&self, gop_ms: u64, max_ms: u64) -> Option<u64> {
        let mut best = None;
        for &k in self.keyframes.iter().rev() {
            let age = self.age_of(k);
            if age > max_ms {
                break;
            }
            best = Some(k);
            if age >= gop_ms {
                break;
            }
        }
        best.or(self.newest_keyframe())
    }

    /// The oldest stored frame at most `ms` old (the head if none is).
    pub(crate) fn oldest_within(&self, ms: u64) -> u64 {
        let now = self.clock.now;
        // Times are non-decreasing along the ring, so this is a binary search.
        let index = self.entries.partition_point(|e| now - e.time > ms);
        self.first_seq() + index as u64
    }

    /// The timestamp of the newest frame.
    pub(crate) fn last_timestamp(&self) -> Option<u32> {
        self.entries.back().map(|e| e.frame.timestamp)
    }
}

#[cfg(test)]
mod tests;
