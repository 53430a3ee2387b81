//! Audio and video in one timeline on the way out, as a muxer interleaves them. The AAC
//! encoder gives a frame back about 130 ms after its Opus went in (its lookahead,
//! `crate::audio`), and a browser's video encoder lags its audio by a varying amount under
//! load (300 ms seen on a busy 2-core machine), so tags pushed as they are made reach players
//! and platforms with one kind well ahead of the other kind's same moment. Muxers downstream
//! (FFmpeg, nginx-rtmp's recorder, the platforms' ingest) expect them interleaved, and
//! ffprobe on a target would see them apart. So while both flow, a tag goes out only once
//! the other kind has reached its timestamp, or when more than [`MAX_HOLD_MS`] of its own
//! kind waits (a stalled stream never holds the other for long). Without audio, or with
//! the silence generator (which follows the video clock itself), video passes straight
//! through.

use std::collections::VecDeque;

use super::{Tag, TagKind};

/// The most media, in milliseconds of one kind, held back for the other to catch up.
pub(super) const MAX_HOLD_MS: u32 = 500;

/// `a` is at or before `b`, on RTMP's wrapping 32-bit millisecond clock.
fn not_after(a: u32, b: u32) -> bool {
    // Reinterpreting the wrapped difference as signed is the point: a half-range window.
    (b.wrapping_sub(a) as i32) >= 0
}

/// One kind's tags waiting, and the newest timestamp of that kind seen.
#[derive(Debug, Default)]
struct Lane {
    held: VecDeque<Tag>,
    newest: Option<u32>,
}

impl Lane {
    /// More than [`MAX_HOLD_MS`] of this kind waits.
    fn overfull(&self) -> bool {
        match (self.held.front(), self.newest) {
            (Some(front), Some(newest)) => {
                not_after(front.timestamp, newest)
                    && newest.wrapping_sub(front.timestamp) > MAX_HOLD_MS
            }
            _ => false,
        }
    }
}

/// Tags waiting for the other kind.
#[derive(Debug, Default)]
pub(super) struct Interleaver {
    video: Lane,
    audio: Lane,
}

impl Interleaver {
    /// A tag: out now, or held while `both_flow` and the other kind is behind it.
    pub(super) fn push(&mut self, tag: Tag, both_flow: bool, out: &mut Vec<Tag>) {
        let lane = if tag.kind == TagKind::Video { &mut self.video } else { &mut self.audio };
        // Known even for what passes straight through: the other kind, once it flows,
        // need not wait for what already went out.
        lane.newest = Some(tag.timestamp);
        if !both_flow {
            self.flush(out);
            out.push(tag);
            return;
        }
        let lane = if tag.kind == TagKind::Video { &mut self.video } else { &mut self.audio };
        lane.held.push_back(tag);
        self.release(out);
    }

    /// Everything held goes out, in timestamp order (the other kind stopped mattering).
    pub(super) fn flush(&mut self, out: &mut Vec<Tag>) {
        while let Some(tag) = self.pop_earlier() {
            out.push(tag);
        }
    }

    /// Tags held.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.video.held.len() + self.audio.held.len()
    }

    /// The earlier of the two heads (video first on a tie), taken.
    fn pop_earlier(&mut self) -> Option<Tag> {
        let video_first = match (self.video.held.front(), self.audio.held.front()) {
            (Some(v), Some(a)) => not_after(v.timestamp, a.timestamp),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if video_first {
            self.video.held.pop_front()
        } else {
            self.audio.held.pop_front()
        }
    }

    /// Out what is due: the earlier head while both kinds wait; a lone kind's head once the
    /// other kind has reached its time, or while too much of it waits.
    fn release(&mut self, out: &mut Vec<Tag>) {
        loop {
            let due = match (self.video.held.front(), self.audio.held.front()) {
                (Some(_), Some(_)) => true,
                (Some(v), None) => {
                    self.audio.newest.is_some_and(|a| not_after(v.timestamp, a))
                        || self.video.overfull()
                }
                (None, Some(a)) => {
                    self.video.newest.is_some_and(|v| not_after(a.timestamp, v))
                        || self.audio.overfull()
                }
                (None, None) => false,
            };
            match due.then(|| self.pop_earlier()).flatten() {
                Some(tag) => out.push(tag),
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn tag(kind: TagKind, timestamp: u32) -> Tag {
        Tag { kind, timestamp, body: Bytes::new() }
    }

    fn v(i: &mut Interleaver, ts: u32, out: &mut Vec<Tag>) {
        i.push(tag(TagKind::Video, ts), true, out);
    }

    fn a(i: &mut Interleaver, ts: u32, out: &mut Vec<Tag>) {
        i.push(tag(TagKind::Audio, ts), true, out);
    }

    fn stamps(out: &[Tag]) -> Vec<(char, u32)> {
        out.iter()
            .map(|t| (if t.kind == TagKind::Video { 'v' } else { 'a' }, t.timestamp))
            .collect()
    }

    #[test]
    fn video_waits_for_audio_of_its_time() {
        let mut i = Interleaver::default();
        let mut out = Vec::new();
        a(&mut i, 0, &mut out);
        for ts in [0, 33, 66, 100, 133] {
            v(&mut i, ts, &mut out);
        }
        // A tie goes to video; the audio at 0 then knows video reached it.
        assert_eq!(stamps(&out), [('v', 0), ('a', 0)]);
        assert_eq!(i.held(), 4);
        out.clear();
        for ts in [21, 42, 64] {
            a(&mut i, ts, &mut out);
        }
        assert_eq!(stamps(&out), [('a', 21), ('v', 33), ('a', 42), ('a', 64)]);
        out.clear();
        a(&mut i, 106, &mut out);
        assert_eq!(stamps(&out), [('v', 66), ('v', 100), ('a', 106)]);
    }

    #[test]
    fn audio_waits_for_late_video_too() {
        // Regression: under load the browser's video arrived ~280 ms behind the audio of
        // its time, and only video was ever held.
        let mut i = Interleaver::default();
        let mut out = Vec::new();
        v(&mut i, 0, &mut out);
        for ts in (0..300).step_by(21) {
            a(&mut i, ts, &mut out);
        }
        assert_eq!(stamps(&out), [('v', 0), ('a', 0)]);
        out.clear();
        v(&mut i, 33, &mut out);
        assert_eq!(stamps(&out), [('a', 21), ('v', 33)]);
    }

    #[test]
    fn a_stalled_kind_holds_the_other_at_most_the_bound() {
        for kind in [TagKind::Audio, TagKind::Video] {
            let other = if kind == TagKind::Audio { TagKind::Video } else { TagKind::Audio };
            let mut i = Interleaver::default();
            let mut out = Vec::new();
            i.push(tag(other, 0), true, &mut out);
            out.clear();
            for n in 1..=60u32 {
                i.push(tag(kind, n * 20), true, &mut out);
            }
            let held_ms = 60 * 20 - out.last().map_or(0, |t| t.timestamp);
            assert!(held_ms <= MAX_HOLD_MS + 20, "{kind:?}: held {held_ms} ms");
            assert!(out.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        }
    }

    #[test]
    fn without_both_tags_pass_and_held_ones_are_flushed_in_order_first() {
        let mut i = Interleaver::default();
        let mut out = Vec::new();
        a(&mut i, 0, &mut out);
        v(&mut i, 40, &mut out);
        a(&mut i, 30, &mut out);
        i.push(tag(TagKind::Video, 80), false, &mut out);
        assert_eq!(stamps(&out), [('a', 0), ('a', 30), ('v', 40), ('v', 80)]);
        assert_eq!(i.held(), 0);
    }

    #[test]
    fn video_that_went_straight_through_counts_for_the_first_audio() {
        // Regression: video out before audio flowed was not remembered, so the first
        // audio waited for the next video frame.
        let mut i = Interleaver::default();
        let mut out = Vec::new();
        i.push(tag(TagKind::Video, 0), false, &mut out);
        a(&mut i, 0, &mut out);
        assert_eq!(stamps(&out), [('v', 0), ('a', 0)]);
    }

    #[test]
    fn the_clock_wraps() {
        let mut i = Interleaver::default();
        let mut out = Vec::new();
        a(&mut i, u32::MAX - 10, &mut out);
        v(&mut i, 5, &mut out);
        assert_eq!(i.held(), 1);
        a(&mut i, 6, &mut out);
        assert_eq!(stamps(&out)[1..], [('v', 5)]);
    }
}
