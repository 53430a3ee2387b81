//! Playback of FLV recordings (FLV 10.1 Annex E): the file is indexed once at open (one
//! index entry of 16 bytes per tag: offset, timestamp, size, kind), never loaded whole; tags
//! are then read one at a time, in file order, from a keyframe.
//!
//! A file cut short (a crash while recording) is read up to its last complete tag: the
//! index stops at the first tag whose header or data is not all there, or whose header is
//! not an audio, video or script tag (garbage after a torn write). A file with no complete
//! audio or video tag is [`RecordError::Invalid`].

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use bytes::Bytes;
use openrtmp_media::flv_file::FLV_HEADER_LEN;
use openrtmp_media::tag::TAG_HEADER_LEN;
use openrtmp_media::{parse_audio, parse_video, FlvHeader, ScriptData, TagHeader, TagType};

use crate::{Message, RecordError, VodSource};

mod index;

use index::{Entry, Kind};

/// Largest tag data the reader accepts (the FLV maximum, UI24).
const MAX_TAG_DATA: u32 = (1 << 24) - 1;

/// An FLV recording opened for playback.
#[derive(Debug)]
pub struct FlvSource {
    file: BufReader<File>,
    /// Where `file` is positioned (to skip a seek syscall when reading in order).
    file_pos: u64,
    /// One entry per complete tag, in file order.
    index: Vec<Entry>,
    /// The entry `next_message` reads next.
    next: usize,
    /// Timestamp of the first audio or video tag: every timestamp is rebased to it.
    base: u32,
    /// `onMetaData` and the first sequence header of each track, timestamps 0.
    headers: Vec<Message>,
    duration_ms: u64,
}

impl FlvSource {
    /// Opens and indexes `path`.
    pub fn open(path: &Path) -> Result<FlvSource, RecordError> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut file = BufReader::with_capacity(64 * 1024, file);
        let invalid = |why: &str| RecordError::Invalid(format!("{}: {why}", path.display()));
        let mut head = [0u8; FLV_HEADER_LEN];
        file.read_exact(&mut head).map_err(|_| invalid("shorter than an FLV header"))?;
        let header = FlvHeader::parse(&head).map_err(|e| invalid(&e.to_string()))?;
        // The body starts with PreviousTagSize0 (UI32) after DataOffset.
        let start = u64::from(header.data_offset) + 4;
        let (index, headers) = index::build(&mut file, start, len)?;
        let Some(first) = index.iter().find(|e| e.kind().is_media()) else {
            return Err(invalid("no complete audio or video tag"));
        };
        let base = first.timestamp;
        // The latest frame, not the file's last tag: FFmpeg writes the video end of sequence
        // after audio frames that are later than it.
        let duration_ms = index
            .iter()
            .filter(|e| e.kind().is_media())
            .map(|e| u64::from(e.timestamp.wrapping_sub(base)))
            .max()
            .unwrap_or(0);
        let mut source = FlvSource {
            file,
            // Unknown: the first read seeks.
            file_pos: u64::MAX,
            index,
            next: 0,
            base,
            headers: Vec::new(),
            duration_ms,
        };
        let mut read = Vec::with_capacity(headers.len());
        for i in headers {
            read.push(Message { timestamp: 0, ..source.read(i)? });
        }
        source.headers = read;
        Ok(source)
    }

    /// Tags indexed (complete tags in the file).
    pub fn tag_count(&self) -> usize {
        self.index.len()
    }

    /// Reads the tag of entry `i`, timestamp rebased.
    fn read(&mut self, i: usize) -> Result<Message, RecordError> {
        let Some(entry) = self.index.get(i).copied() else {
            return Err(RecordError::Invalid(format!("no tag {i}")));
        };
        let data_at = entry.offset + TAG_HEADER_LEN as u64;
        if self.file_pos != data_at {
            self.file.seek(SeekFrom::Start(data_at))?;
        }
        let mut data = vec![0u8; entry.size() as usize];
        self.file.read_exact(&mut data)?;
        // Skip the PreviousTagSize after the tag, so the next tag reads without a seek.
        let mut trailer = [0u8; 4];
        self.file_pos = match self.file.read_exact(&mut trailer) {
            Ok(()) => data_at + u64::from(entry.size()) + 4,
            Err(_) => u64::MAX,
        };
        Ok(Message {
            kind: entry.kind().tag_type(),
            timestamp: entry.timestamp.wrapping_sub(self.base),
            payload: Bytes::from(data),
        })
    }

    fn rebased(&self, e: &Entry) -> u64 {
        u64::from(e.timestamp.wrapping_sub(self.base))
    }
}

impl VodSource for FlvSource {
    fn duration_ms(&self) -> u64 {
        self.duration_ms
    }

    fn headers(&self) -> Vec<Message> {
        self.headers.clone()
    }

    fn seek(&mut self, ms: u64) -> Result<u64, RecordError> {
        if ms > self.duration_ms {
            self.next = self.index.len();
            return Ok(self.duration_ms);
        }
        let has_video = self.index.iter().any(|e| e.kind() == Kind::VideoKey);
        let wanted = if has_video { Kind::VideoKey } else { Kind::Audio };
        let target = |e: &Entry| e.kind() == wanted;
        let at_or_before = self
            .index
            .iter()
            .enumerate()
            .rfind(|(_, e)| target(e) && self.rebased(e) <= ms)
            .or_else(|| self.index.iter().enumerate().find(|(_, e)| target(e)));
        match at_or_before {
            Some((i, e)) => {
                let t = self.rebased(e);
                // Tags just before the keyframe in file order with its time or later (the
                // audio frame muxed first at the same timestamp) play too; from the first
                // keyframe on, the whole file plays.
                let first_key = self.index.iter().position(target) == Some(i);
                let mut start = if first_key { 0 } else { i };
                while let Some(prev) = start.checked_sub(1).and_then(|p| self.index.get(p)) {
                    if first_key || self.rebased(prev) < t {
                        break;
                    }
                    start -= 1;
                }
                self.next = start;
                // From the first keyframe on, the file plays from its start (time 0).
                Ok(if first_key { 0 } else { t })
            }
            None => {
                self.next = 0;
                Ok(0)
            }
        }
    }

    fn next_message(&mut self) -> Result<Option<Message>, RecordError> {
        while let Some(entry) = self.index.get(self.next).copied() {
            let i = self.next;
            self.next += 1;
            // What `headers` carries is not sent again.
            if entry.in_headers() {
                continue;
            }
            return self.read(i).map(Some);
        }
        Ok(None)
    }
}

/// Whether a script tag's payload is `onMetaData`.
fn is_metadata(data: &[u8]) -> bool {
    ScriptData::parse(data).is_ok_and(|d| d.is_on_meta_data())
}

/// The kind of an audio or video tag's payload.
fn classify(tag_type: TagType, data: Bytes) -> Kind {
    match tag_type {
        TagType::VIDEO => match parse_video(&data) {
            Ok(v) if v.is_sequence_header() => Kind::VideoHeader,
            Ok(v) if v.is_keyframe() => Kind::VideoKey,
            _ => Kind::Video,
        },
        TagType::AUDIO => match parse_audio(&data) {
            Ok(a) if a.is_sequence_header() => Kind::AudioHeader,
            _ => Kind::Audio,
        },
        _ => Kind::Script,
    }
}

/// Parses the tag header at the start of `buf` if it is one a recording holds.
fn tag_header(buf: &[u8]) -> Option<TagHeader> {
    let h = TagHeader::parse(buf).ok()?;
    let known = matches!(h.tag_type, TagType::AUDIO | TagType::VIDEO | TagType::SCRIPT);
    (known && h.data_size <= MAX_TAG_DATA).then_some(h)
}

#[cfg(test)]
mod tests;
