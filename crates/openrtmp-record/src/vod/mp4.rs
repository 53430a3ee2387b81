//! Playback of MP4 recordings (ISO/IEC 14496-12): fragmented MP4 as our muxer and FFmpeg
//! (`-movflags +frag_keyframe+empty_moov+default_base_moof`) write it, and plain MP4 with
//! sample tables.
//!
//! Opening walks the top-level boxes by their headers only, seeking over `mdat` payloads:
//! only `moov` and each `moof` are read (boxes of a few KB, each checked against the
//! file's length before a byte is allocated), and every sample's place and time goes into
//! a compact per-track index (module `index`). Playback then reads one sample at a time. A
//! trailing fragment cut short (a crash; a segment still being written) ends the index at
//! the last complete fragment; it is never an error.
//!
//! Codecs: H.264, HEVC, AV1, VP9 video; AAC and Opus audio (module `track`). Other tracks are
//! skipped. Times are decoding times on the movie timeline (each track's edit list
//! applied, as FFmpeg's demuxer does), from the earliest of them.

mod index;
mod track;

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use bytes::Bytes;
use mp4_atom::{Atom, FourCC, Header, Moof, Moov, ReadFrom};
use openrtmp_amf::{Amf0Value, AmfObject};
use openrtmp_media::{ScriptData, TagType};

use self::index::{Sample, TrackIndex};
use crate::{Message, RecordError, VodSource};

/// The largest `moov` or `moof` read into memory. A moov of a plain one-hour recording
/// with every sample table is a few MB; a larger box is not a recording of ours.
const MAX_META_BOX: u64 = 64 << 20;

/// An MP4 recording opened for playback.
#[derive(Debug)]
pub struct Mp4Source {
    file: BufReader<File>,
    tracks: Vec<TrackIndex>,
    /// Per track, the next sample to send.
    cursors: Vec<usize>,
    /// The earliest decoding time of any track on the movie timeline (edit lists applied),
    /// in ms: time 0 of the messages.
    start_ms: i128,
    duration_ms: u64,
}

/// `value * 1000 / timescale`, rounded down (times never exceed 2^64 ms).
fn to_ms(value: i128, timescale: u32) -> i128 {
    value.saturating_mul(1000) / i128::from(timescale.max(1))
}

/// A decoding time of `track` on the movie timeline (its edit list applied), in ms.
fn movie_ms(track: &TrackIndex, dts: u64) -> i128 {
    to_ms(i128::from(dts) + i128::from(track.info.offset), track.info.timescale)
}

impl Mp4Source {
    /// Opens `path` and indexes it. Fails with [`RecordError::Invalid`] when the file is
    /// not MP4, has no `moov`, or nothing playable (no supported track with a complete
    /// sample); with [`RecordError::Io`] when it cannot be read.
    pub fn open(path: &Path) -> Result<Mp4Source, RecordError> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut file = BufReader::new(file);
        let invalid = |why: &str| RecordError::Invalid(format!("{}: {why}", path.display()));
        let tracks = read_boxes(&mut file, len).map_err(|e| match e {
            Walk::Invalid(why) => invalid(&why),
            Walk::Io(e) => RecordError::Io(e),
        })?;
        if !tracks.iter().any(|t| !t.samples.is_empty()) {
            return Err(invalid("no complete sample of a playable track"));
        }
        let first_ms = |t: &TrackIndex| t.samples.first().map(|s| movie_ms(t, s.dts));
        let start = tracks.iter().filter_map(first_ms).min().unwrap_or(0);
        let end = tracks
            .iter()
            .filter(|t| !t.samples.is_empty())
            .map(|t| movie_ms(t, t.end_dts()))
            .max()
            .unwrap_or(start);
        let cursors = vec![0; tracks.len()];
        Ok(Mp4Source {
            file,
            tracks,
            cursors,
            start_ms: start,
            duration_ms: u64::try_from(end - start).unwrap_or(0),
        })
    }

    /// A sample's decoding time in ms from the start of the file.
    fn time_ms(&self, track: &TrackIndex, sample: &Sample) -> u64 {
        u64::try_from(movie_ms(track, sample.dts) - self.start_ms).unwrap_or(0)
    }

    fn video(&self) -> Option<usize> {
        self.tracks.iter().position(|t| t.info.kind.is_video() && !t.samples.is_empty())
    }

    fn metadata(&self) -> Message {
        let mut meta = AmfObject::new();
        #[allow(clippy::cast_precision_loss)] // ms durations are far below 2^52
        meta.insert("duration", Amf0Value::Number(self.duration_ms as f64 / 1000.0));
        if let Some(v) = self.video().and_then(|i| self.tracks.get(i)) {
            meta.insert("width", Amf0Value::Number(f64::from(v.info.width)));
            meta.insert("height", Amf0Value::Number(f64::from(v.info.height)));
            meta.insert("videocodecid", Amf0Value::Number(track::codec_id(v.info.kind)));
            let span = v.end_dts().saturating_sub(v.samples.first().map_or(0, |s| s.dts));
            if span > 0 {
                #[allow(clippy::cast_precision_loss)]
                let fps = v.samples.len() as f64 * f64::from(v.info.timescale) / span as f64;
                meta.insert("framerate", Amf0Value::Number((fps * 1000.0).round() / 1000.0));
            }
        }
        if let Some(a) =
            self.tracks.iter().find(|t| !t.info.kind.is_video() && !t.samples.is_empty())
        {
            meta.insert("audiocodecid", Amf0Value::Number(track::codec_id(a.info.kind)));
            meta.insert("audiosamplerate", Amf0Value::Number(f64::from(a.info.sample_rate)));
            meta.insert("audiochannels", Amf0Value::Number(f64::from(a.info.channels)));
            meta.insert("stereo", Amf0Value::Boolean(a.info.channels == 2));
        }
        let count = u32::try_from(meta.len()).unwrap_or(0);
        let data = ScriptData::new(
            openrtmp_media::script::ON_META_DATA,
            vec![Amf0Value::EcmaArray { count, entries: meta }],
        );
        Message { kind: TagType::SCRIPT, timestamp: 0, payload: data.to_bytes() }
    }

    fn read_sample(&mut self, offset: u64, size: u32) -> Result<Bytes, RecordError> {
        self.file.seek(SeekFrom::Start(offset))?;
        let mut data = vec![0; size as usize];
        self.file.read_exact(&mut data)?;
        Ok(Bytes::from(data))
    }
}

impl VodSource for Mp4Source {
    fn duration_ms(&self) -> u64 {
        self.duration_ms
    }

    fn headers(&self) -> Vec<Message> {
        let mut out = vec![self.metadata()];
        for t in self.tracks.iter().filter(|t| !t.samples.is_empty()) {
            // A sequence header cannot fail to serialise (one track, no composition time);
            // skipping it rather than failing keeps the trait's infallible signature.
            if let Ok(payload) = t.info.sequence_header() {
                let kind = if t.info.kind.is_video() { TagType::VIDEO } else { TagType::AUDIO };
                out.push(Message { kind, timestamp: 0, payload });
            }
        }
        out
    }

    fn seek(&mut self, ms: u64) -> Result<u64, RecordError> {
        if ms > self.duration_ms {
            for (c, t) in self.cursors.iter_mut().zip(&self.tracks) {
                *c = t.samples.len();
            }
            return Ok(self.duration_ms);
        }
        // The reference track: video when there is any, else the first with samples.
        let Some(r) =
            self.video().or_else(|| self.tracks.iter().position(|t| !t.samples.is_empty()))
        else {
            return Ok(0);
        };
        let Some(reference) = self.tracks.get(r) else { return Ok(0) };
        let at_or_before = reference.samples.partition_point(|s| self.time_ms(reference, s) <= ms);
        let sync =
            reference.samples.get(..at_or_before).and_then(|s| s.iter().rposition(|s| s.sync));
        let chosen = sync.or_else(|| reference.samples.iter().position(|s| s.sync)).unwrap_or(0);
        let at = reference.samples.get(chosen).map_or(0, |s| self.time_ms(reference, s));
        let positions: Vec<usize> = self
            .tracks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if i == r {
                    chosen
                } else {
                    t.samples.partition_point(|s| self.time_ms(t, s) < at)
                }
            })
            .collect();
        self.cursors = positions;
        Ok(at)
    }

    fn next_message(&mut self) -> Result<Option<Message>, RecordError> {
        let next = self
            .tracks
            .iter()
            .zip(&self.cursors)
            .enumerate()
            .filter_map(|(i, (t, &c))| t.samples.get(c).map(|s| (self.time_ms(t, s), i, *s)))
            .min_by_key(|&(ms, i, _)| (ms, i));
        let Some((ms, i, sample)) = next else { return Ok(None) };
        if let Some(c) = self.cursors.get_mut(i) {
            *c += 1;
        }
        let data = self.read_sample(sample.offset, sample.size)?;
        let Some(t) = self.tracks.get(i) else { return Ok(None) };
        let scale = t.info.timescale;
        let dts = i128::from(sample.dts) + i128::from(t.info.offset);
        let cts_ms = to_ms(dts + i128::from(sample.cts), scale) - to_ms(dts, scale);
        let cts_ms = i32::try_from(cts_ms).unwrap_or(0);
        let payload = t.info.frame(sample.sync, cts_ms, data)?;
        let kind = if t.info.kind.is_video() { TagType::VIDEO } else { TagType::AUDIO };
        #[allow(clippy::cast_possible_truncation)] // RTMP timestamps wrap at 2^32 ms
        Ok(Some(Message { kind, timestamp: ms as u32, payload }))
    }
}

/// Why the box walk stopped short of a source.
enum Walk {
    Invalid(String),
    Io(std::io::Error),
}

impl From<std::io::Error> for Walk {
    fn from(e: std::io::Error) -> Self {
        Walk::Io(e)
    }
}

/// Walks the top-level boxes: `moov` makes the tracks, each `moof` adds a fragment. Stops
/// quietly at the first box that is cut short or cannot be used once the `moov` is known.
fn read_boxes(file: &mut BufReader<File>, len: u64) -> Result<Vec<TrackIndex>, Walk> {
    let mut tracks: Option<Vec<TrackIndex>> = None;
    let mut pos = 0u64;
    while pos.saturating_add(8) <= len {
        file.seek(SeekFrom::Start(pos))?;
        let header = match <Option<Header> as ReadFrom>::read_from(file) {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) if tracks.is_none() => return Err(Walk::Invalid(format!("box header: {e}"))),
            Err(_) => break,
        };
        let body_start = file.stream_position()?;
        let size = header.size.map_or(len.saturating_sub(body_start), |s| s as u64);
        let Some(end) = body_start.checked_add(size).filter(|&end| end <= len) else {
            break; // cut short: what came before is what plays
        };
        if pos == 0 && !is_known_top_level(header.kind) {
            return Err(Walk::Invalid(format!("starts with a '{}' box, not MP4", header.kind)));
        }
        if header.kind == Moov::KIND && tracks.is_none() {
            let body = read_body(file, size)?;
            let moov = Moov::decode_body(&mut body.as_slice())
                .map_err(|e| Walk::Invalid(format!("moov: {e}")))?;
            tracks = Some(moov_tracks(&moov, len)?);
        } else if header.kind == Moof::KIND {
            let Some(tracks) = tracks.as_mut() else {
                return Err(Walk::Invalid("a moof before the moov".into()));
            };
            if size > MAX_META_BOX {
                break;
            }
            let body = read_body(file, size)?;
            let Ok(moof) = Moof::decode_body(&mut body.as_slice()) else { break };
            if !index::add_fragment(tracks, &moof, pos, len) {
                break;
            }
        }
        pos = end;
    }
    tracks.ok_or_else(|| Walk::Invalid("no complete moov box".into()))
}

/// Box types that may open an MP4 file; anything else first is not MP4 (garbage, FLV).
fn is_known_top_level(kind: FourCC) -> bool {
    [b"ftyp", b"styp", b"moov", b"free", b"skip", b"wide", b"mdat", b"pdin", b"uuid", b"sidx"]
        .iter()
        .any(|k| kind == FourCC::new(k))
}

/// Reads a box body of `size` bytes, already checked to lie within the file.
fn read_body(file: &mut BufReader<File>, size: u64) -> Result<Vec<u8>, Walk> {
    if size > MAX_META_BOX {
        return Err(Walk::Invalid(format!("a metadata box of {size} bytes")));
    }
    let mut body = vec![0; size as usize];
    file.read_exact(&mut body)?;
    Ok(body)
}

/// The playable tracks of the movie, with a plain file's sample tables indexed.
fn moov_tracks(moov: &Moov, len: u64) -> Result<Vec<TrackIndex>, Walk> {
    let mut tracks = Vec::new();
    for trak in &moov.trak {
        let info = track::track_info(trak).map_err(|e| Walk::Invalid(e.to_string()))?;
        let Some(mut info) = info else { continue };
        info.offset = track::edit_offset(trak, moov.mvhd.timescale, info.timescale);
        let trex = moov.mvex.as_ref().and_then(|m| m.trex.iter().find(|t| t.track_id == info.id));
        let mut t = TrackIndex::new(info, trex);
        index::add_sample_table(&mut t, &trak.mdia.minf.stbl, len);
        tracks.push(t);
    }
    if tracks.is_empty() {
        return Err(Walk::Invalid("no H.264, HEVC, AV1, VP9, AAC or Opus track".into()));
    }
    Ok(tracks)
}
