//! Audio and video in one timeline on the way out. The AAC encoder gives a frame back about
//! 130 ms after its Opus went in (its lookahead, `crate::audio`), so tags pushed as they
//! are made reach players and platforms with video that much ahead of the audio of the same
//! time. Muxers downstream (FFmpeg, nginx-rtmp's recorder, the platforms' ingest) expect
//! them interleaved, and ffprobe on a target would see them apart. So while real audio flows,
//! a video tag waits until audio has reached its timestamp, at most [`MAX_HOLD_MS`] of video
//! (a stalled audio stream never holds the picture for long). Without audio, or with the
//! silence generator (which follows the video clock itself), video passes straight through.

use std::collections::VecDeque;

use super::Tag;

/// The most video, in media milliseconds, held back for audio to catch up.
pub(super) const MAX_HOLD_MS: u32 = 300;

/// `a` is at or before `b`, on RTMP's wrapping 32-bit millisecond clock.
fn not_after(a: u32, b: u32) -> bool {
    // Reinterpreting the wrapped difference as signed is the point: a half-range window.
    (b.wrapping_sub(a) as i32) >= 0
}

/// Video tags waiting for audio.
#[derive(Debug, Default)]
pub(super) struct Interleaver {
    held: VecDeque<Tag>,
    /// Timestamp of the newest audio tag out.
    audio: Option<u32>,
}

impl Interleaver {
    /// A video tag: out now, or held while `audio_flows` and audio is behind it.
    pub(super) fn video(&mut self, tag: Tag, audio_flows: bool, out: &mut Vec<Tag>) {
        if !audio_flows {
            self.flush(out);
            out.push(tag);
            return;
        }
        self.held.push_back(tag);
        self.release(None, out);
    }

    /// Audio tags, in order: each goes out after the held video at or before its time.
    pub(super) fn audio(&mut self, tags: impl IntoIterator<Item = Tag>, out: &mut Vec<Tag>) {
        for tag in tags {
            self.release(Some(tag.timestamp), out);
            self.audio = Some(tag.timestamp);
            out.push(tag);
        }
        self.release(None, out);
    }

    /// Everything held goes out (audio stopped mattering).
    pub(super) fn flush(&mut self, out: &mut Vec<Tag>) {
        out.extend(self.held.drain(..));
    }

    /// Video tags held.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.held.len()
    }

    /// Held video out while it is not after `upto` (or the newest audio out), or while
    /// more than [`MAX_HOLD_MS`] of it waits.
    fn release(&mut self, upto: Option<u32>, out: &mut Vec<Tag>) {
        let upto = upto.or(self.audio);
        while let Some(front) = self.held.front() {
            let newest = self.held.back().map_or(front.timestamp, |t| t.timestamp);
            let reached = upto.is_some_and(|a| not_after(front.timestamp, a));
            let too_long = newest.wrapping_sub(front.timestamp) > MAX_HOLD_MS
                && not_after(front.timestamp, newest);
            if !(reached || too_long) {
                break;
            }
            if let Some(tag) = self.held.pop_front() {
                out.push(tag);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::TagKind;
    use super::*;

    fn tag(kind: TagKind, timestamp: u32) -> Tag {
        Tag { kind, timestamp, body: Bytes::new() }
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
        i.audio([tag(TagKind::Audio, 0)], &mut out);
        for ts in [0, 33, 66, 100, 133] {
            i.video(tag(TagKind::Video, ts), true, &mut out);
        }
        assert_eq!(stamps(&out), [('a', 0), ('v', 0)]);
        assert_eq!(i.held(), 4);
        out.clear();
        i.audio(
            [tag(TagKind::Audio, 21), tag(TagKind::Audio, 42), tag(TagKind::Audio, 64)],
            &mut out,
        );
        assert_eq!(stamps(&out), [('a', 21), ('v', 33), ('a', 42), ('a', 64)]);
        out.clear();
        i.audio([tag(TagKind::Audio, 106)], &mut out);
        assert_eq!(stamps(&out), [('v', 66), ('v', 100), ('a', 106)]);
    }

    #[test]
    fn stalled_audio_holds_video_at_most_the_bound() {
        let mut i = Interleaver::default();
        let mut out = Vec::new();
        i.audio([tag(TagKind::Audio, 0)], &mut out);
        out.clear();
        for n in 1..=30u32 {
            i.video(tag(TagKind::Video, n * 33), true, &mut out);
        }
        let held_ms = 30 * 33 - out.last().map_or(0, |t| t.timestamp);
        assert!(held_ms <= MAX_HOLD_MS + 33, "held {held_ms} ms");
        assert!(out.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    }

    #[test]
    fn without_audio_video_passes_and_held_video_is_flushed_first() {
        let mut i = Interleaver::default();
        let mut out = Vec::new();
        i.audio([tag(TagKind::Audio, 0)], &mut out);
        i.video(tag(TagKind::Video, 40), true, &mut out);
        i.video(tag(TagKind::Video, 80), false, &mut out);
        assert_eq!(stamps(&out), [('a', 0), ('v', 40), ('v', 80)]);
        assert_eq!(i.held(), 0);
    }

    #[test]
    fn the_clock_wraps() {
        let mut i = Interleaver::default();
        let mut out = Vec::new();
        i.audio([tag(TagKind::Audio, u32::MAX - 10)], &mut out);
        i.video(tag(TagKind::Video, 5), true, &mut out);
        assert_eq!(i.held(), 1);
        i.audio([tag(TagKind::Audio, 6)], &mut out);
        assert_eq!(stamps(&out)[1..], [('v', 5), ('a', 6)]);
    }
}
