//! A recording of several segments played as one: each segment's media follows the one
//! before, its timestamps moved on by the playing time of all before it, so a player sees
//! one stream from the recording's start to its end.
//!
//! A segment may carry another codec configuration than the one before (a publisher that
//! came back with other settings): its sequence headers are sent before its first frame,
//! as an encoder sends them mid-stream. Seeking finds the segment holding the time and
//! seeks inside it (its sequence headers first when it is not the first segment).

use std::collections::VecDeque;

use openrtmp_media::TagType;

use crate::{Message, RecordError, VodSource};

/// Segments of one recording, in order, read as one source.
#[derive(Debug)]
pub struct ChainSource {
    parts: Vec<Box<dyn VodSource>>,
    /// Where each segment starts on the recording's timeline, in ms.
    offsets: Vec<u64>,
    current: usize,
    /// Sequence headers of the segment just entered, sent before its media.
    pending: VecDeque<Message>,
}

impl ChainSource {
    /// The recording made of `parts` (at least one), in order.
    pub fn new(parts: Vec<Box<dyn VodSource>>) -> Result<ChainSource, RecordError> {
        if parts.is_empty() {
            return Err(RecordError::Invalid("a recording without segments".into()));
        }
        // Each segment starts 1 ms after the last frame of the one before (a segment's
        // duration ends at its last frame or after it: timestamps never go back).
        let mut offsets = Vec::with_capacity(parts.len());
        let mut at = 0u64;
        for part in &parts {
            offsets.push(at);
            at = at.saturating_add(part.duration_ms()).saturating_add(1);
        }
        Ok(ChainSource { parts, offsets, current: 0, pending: VecDeque::new() })
    }

    /// The segments' count.
    pub fn segments(&self) -> usize {
        self.parts.len()
    }

    fn offset(&self, part: usize) -> u64 {
        self.offsets.get(part).copied().unwrap_or(0)
    }

    /// Queues the sequence headers of segment `part` at its start on the timeline.
    fn enter(&mut self, part: usize) {
        self.pending.clear();
        let at = self.offset(part) as u32;
        if let Some(source) = self.parts.get(part) {
            let headers = source.headers().into_iter().filter(|m| m.kind != TagType::SCRIPT);
            self.pending.extend(headers.map(|m| Message { timestamp: at, ..m }));
        }
    }
}

impl VodSource for ChainSource {
    fn duration_ms(&self) -> u64 {
        let last = self.parts.len() - 1;
        self.offset(last) + self.parts.get(last).map_or(0, |p| p.duration_ms())
    }

    fn headers(&self) -> Vec<Message> {
        self.parts.first().map(|p| p.headers()).unwrap_or_default()
    }

    fn seek(&mut self, ms: u64) -> Result<u64, RecordError> {
        let part = self.offsets.iter().rposition(|&o| o <= ms).unwrap_or(0);
        let offset = self.offset(part);
        let Some(source) = self.parts.get_mut(part) else { return Ok(0) };
        let at = source.seek(ms - offset)?;
        self.current = part;
        self.pending.clear();
        if part > 0 {
            self.enter(part);
        }
        Ok(offset + at)
    }

    fn next_message(&mut self) -> Result<Option<Message>, RecordError> {
        loop {
            if let Some(message) = self.pending.pop_front() {
                return Ok(Some(message));
            }
            let offset = self.offset(self.current);
            let Some(source) = self.parts.get_mut(self.current) else { return Ok(None) };
            if let Some(message) = source.next_message()? {
                let timestamp = message.timestamp.wrapping_add(offset as u32);
                return Ok(Some(Message { timestamp, ..message }));
            }
            if self.current + 1 >= self.parts.len() {
                return Ok(None);
            }
            self.current += 1;
            let next = self.current;
            if let Some(source) = self.parts.get_mut(next) {
                source.seek(0)?;
            }
            self.enter(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    /// A segment of `frames` video messages 40 ms apart, keyframes every 5, after one
    /// sequence header tagged `tag`.
    #[derive(Debug)]
    struct Fake {
        tag: u8,
        frames: u32,
        next: u32,
    }

    impl VodSource for Fake {
        fn duration_ms(&self) -> u64 {
            u64::from(self.frames.saturating_sub(1) * 40)
        }
        fn headers(&self) -> Vec<Message> {
            vec![
                Message { kind: TagType::SCRIPT, timestamp: 0, payload: Bytes::from_static(b"m") },
                Message {
                    kind: TagType::VIDEO,
                    timestamp: 0,
                    payload: Bytes::from(vec![0x17, 0, self.tag]),
                },
            ]
        }
        fn seek(&mut self, ms: u64) -> Result<u64, RecordError> {
            let frame = (ms / 40).min(u64::from(self.frames)) as u32;
            self.next = frame - frame % 5;
            Ok(u64::from(self.next) * 40)
        }
        fn next_message(&mut self) -> Result<Option<Message>, RecordError> {
            if self.next >= self.frames {
                return Ok(None);
            }
            let ts = self.next * 40;
            self.next += 1;
            Ok(Some(Message {
                kind: TagType::VIDEO,
                timestamp: ts,
                payload: Bytes::from(vec![0x27, 1, self.tag]),
            }))
        }
    }

    fn chain() -> ChainSource {
        let parts: Vec<Box<dyn VodSource>> = vec![
            Box::new(Fake { tag: 1, frames: 10, next: 0 }),
            Box::new(Fake { tag: 2, frames: 10, next: 0 }),
        ];
        ChainSource::new(parts).unwrap()
    }

    fn all(source: &mut ChainSource) -> Vec<Message> {
        std::iter::from_fn(|| source.next_message().unwrap()).collect()
    }

    #[test]
    fn segments_follow_each_other_on_one_timeline() {
        let mut source = chain();
        assert_eq!(source.duration_ms(), 360 + 1 + 360);
        assert_eq!(source.headers().len(), 2);
        let got = all(&mut source);
        // 10 frames, the second segment's sequence header, 10 frames.
        assert_eq!(got.len(), 21);
        assert_eq!(&got[10].payload[..], &[0x17, 0, 2]);
        assert_eq!(got[10].timestamp, 361);
        let times: Vec<u32> = got.iter().map(|m| m.timestamp).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        assert_eq!(got[20].timestamp, 361 + 360);
    }

    #[test]
    fn a_seek_lands_in_the_segment_holding_the_time() {
        let mut source = chain();
        // 361 + 200 ms: the second segment's keyframe at 200 ms.
        assert_eq!(source.seek(561).unwrap(), 561);
        let got = all(&mut source);
        assert_eq!(&got[0].payload[..], &[0x17, 0, 2], "its sequence header first");
        assert_eq!(got[1].timestamp, 561);
        assert_eq!(got.len(), 1 + 5);
        // Back into the first segment: no extra header, then both segments.
        assert_eq!(source.seek(100).unwrap(), 0);
        assert_eq!(all(&mut source).len(), 21);
        assert!(ChainSource::new(Vec::new()).is_err());
    }
}
