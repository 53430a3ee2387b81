//! Fragmented MP4 segments (ISO/IEC 14496-12 §8.8 movie fragments): `ftyp` + `moov`
//! (empty sample tables, `mvex`) written once, when the first coded frame arrives, then
//! one `moof` + `mdat` per fragment, each returned as one [`Output`] so that a file cut
//! short by a crash plays up to its last complete fragment.
//!
//! - Codecs: H.264 (legacy codec id 7, E-RTMP `avc1`), HEVC (`hvc1`, legacy id 12),
//!   AV1 (`av01`), VP9 (`vp09`); AAC (sound format 10, E-RTMP `mp4a`) and Opus (E-RTMP
//!   `Opus`). Any other codec, and the tracks of a multitrack stream other than the first
//!   of each kind, give [`RecordError::Unsupported`] once and are skipped. Script data
//!   (`onMetaData`) is not written.
//! - Fragments end at a video keyframe once `fragment_duration` of video is in them (every
//!   GOP when unset); a stream without video cuts about every second (or every
//!   `fragment_duration`). Whatever the stream does, a fragment is cut at the next frame
//!   once it holds [`MAX_FRAGMENT_BYTES`] or [`MAX_FRAGMENT_MS`]: memory stays bounded.
//! - Timing: video at 90 kHz, audio at its sample rate; the segment starts at 0 (the first
//!   coded frame), tracks share one unwrapped clock (see `timing`), so each `tfdt` is its
//!   first sample's time and A/V sync is kept. The newest sample of each track is held
//!   back until the next one gives its duration.
//! - Sequence headers that change after the `moov` is written are not recorded (the
//!   `stsd` is fixed): the recorder starts a new segment for a new configuration.
//! - [`Muxer::finish`] flushes the last fragment (its last samples get the previous
//!   sample's duration) and patches the `moov` durations (`mvhd`, `tkhd`, `mdhd`, `mehd`),
//!   re-encoded in place at the same size.

mod entry;
mod fragment;
mod timing;

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use mp4_atom::{
    Dinf, Dref, Encode, Ftyp, Hdlr, Mdhd, Mdia, Mehd, Minf, Moov, Mvex, Mvhd, Smhd, Stbl, Stco,
    Stsd, Tkhd, Trak, Trex, Url, Vmhd,
};
use openrtmp_media::{parse_audio, parse_video, FrameKind, TagType};

use crate::{Message, Muxer, Output, Patch, RecordError};
use entry::{Entry, Kind};
use fragment::{Run, Sample};
use timing::{Clock, TrackTime};

/// A fragment is cut at the next frame once it holds this many bytes (a huge GOP).
pub const MAX_FRAGMENT_BYTES: usize = 64 << 20;
/// A fragment is cut at the next frame once a track in it spans this long (no keyframe).
pub const MAX_FRAGMENT_MS: u64 = 20_000;
/// The fragment length of a stream without video when `fragment_duration` is unset.
const AUDIO_FRAGMENT_MS: u64 = 1_000;
/// The movie timescale (`mvhd`, `tkhd`, `mehd` durations): milliseconds.
const MOVIE_TIMESCALE: u32 = 1_000;

/// A sequence header seen before the `moov`: what its track will be made of.
#[derive(Debug)]
struct Config {
    kind: Kind,
    /// The RTMP track id (E-RTMP multitrack; 0 otherwise) this track records.
    rtmp_track: u8,
    body: Bytes,
    /// Display size from openrtmp-media's codec info (video).
    size: (Option<u32>, Option<u32>),
}

/// One MP4 track being written.
#[derive(Debug)]
struct Track {
    id: u32,
    kind: Kind,
    time: TrackTime,
    /// Samples of the current fragment, durations known.
    samples: Vec<Sample>,
    /// The newest sample: its duration waits for the next one.
    pending: Option<Sample>,
    /// The last known duration (for the last sample at `finish`).
    last_duration: Option<u32>,
    /// End of the last sample flushed, in ticks: the track's duration.
    end: u64,
    /// Whether the track has had its first random access point: video frames before the
    /// first keyframe cannot be decoded and are dropped, even when audio started the
    /// segment.
    started: bool,
}

impl Track {
    fn fragment_ticks(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.duration)).sum()
    }

    fn fragment_ms(&self) -> u64 {
        self.fragment_ticks() * 1000 / u64::from(self.time.timescale.max(1))
    }
}

/// The fragmented-MP4 [`Muxer`].
#[derive(Debug)]
pub struct Fmp4Muxer {
    /// Minimum video (or audio-only) fragment length; `None`: one fragment per GOP.
    fragment_duration: Option<Duration>,
    video: Option<Config>,
    audio: Option<Config>,
    /// Set once the `ftyp` + `moov` are out; video track first.
    tracks: Vec<Track>,
    /// The `moov` as written, its offset and length, for the duration patch.
    moov: Option<(Moov, u64, usize)>,
    clock: Clock,
    /// Unwrapped time of the first coded frame: the segment's 0.
    base_ms: Option<i64>,
    /// Latest rebased sample time, for [`Muxer::duration_ms`].
    last_ms: i64,
    /// Bytes handed out so far (the next fragment's offset).
    written: u64,
    /// `mfhd` sequence number of the next fragment (from 1).
    sequence: u32,
    /// Bytes held in the current fragment.
    held: usize,
    /// Unsupported codecs and tracks already reported (each once).
    reported: HashSet<String>,
}

impl Fmp4Muxer {
    /// A muxer whose fragments hold at least `fragment_duration` of media (cut at the
    /// next video keyframe after it), or one GOP each when `None`.
    pub fn new(fragment_duration: Option<Duration>) -> Self {
        Self {
            fragment_duration,
            video: None,
            audio: None,
            tracks: Vec::new(),
            moov: None,
            clock: Clock::default(),
            base_ms: None,
            last_ms: 0,
            written: 0,
            sequence: 1,
            held: 0,
            reported: HashSet::new(),
        }
    }

    /// `Err(e)` the first time this error is seen in the segment, `Ok` after: what cannot
    /// be recorded is reported once and then skipped silently.
    fn report(&mut self, e: RecordError) -> Result<(), RecordError> {
        if self.reported.insert(e.to_string()) {
            Err(e)
        } else {
            Ok(())
        }
    }

    fn push_video(&mut self, m: &Message, out: &mut Output) -> Result<(), RecordError> {
        let tag = parse_video(&m.payload)?;
        let mut result = Ok(());
        for t in &tag.tracks {
            let chosen = self.video.as_ref().map(|c| c.rtmp_track);
            if chosen.is_some_and(|id| id != t.track_id) {
                let e = entry::unsupported(format!("video track {} (multitrack)", t.track_id));
                result = result.and(self.report(e));
                continue;
            }
            let r = match t.kind {
                FrameKind::SequenceHeader if self.moov.is_none() => match Kind::video(t.codec) {
                    Ok(kind) => {
                        let info = openrtmp_media::video_info(&tag).and_then(Result::ok);
                        let size = info.map_or((None, None), |i| (i.width, i.height));
                        // Checked now, so a bad record is reported with its message.
                        entry::video_entry(kind, &t.body, size, None).map(|_| {
                            let body = t.body.clone();
                            self.video = Some(Config { kind, rtmp_track: t.track_id, body, size });
                        })
                    }
                    Err(e) => self.report(e),
                },
                FrameKind::Keyframe | FrameKind::InterFrame => match &self.video {
                    Some(_) => {
                        let sync = t.kind == FrameKind::Keyframe;
                        self.frame(true, m.timestamp, sync, t.composition_time, &t.body, out)
                    }
                    None => Kind::video(t.codec).map(|_| ()).or_else(|e| self.report(e)),
                },
                _ => Ok(()),
            };
            result = result.and(r);
        }
        result
    }

    fn push_audio(&mut self, m: &Message, out: &mut Output) -> Result<(), RecordError> {
        let tag = parse_audio(&m.payload)?;
        let mut result = Ok(());
        for t in &tag.tracks {
            let chosen = self.audio.as_ref().map(|c| c.rtmp_track);
            if chosen.is_some_and(|id| id != t.track_id) {
                let e = entry::unsupported(format!("audio track {} (multitrack)", t.track_id));
                result = result.and(self.report(e));
                continue;
            }
            let r = match t.kind {
                FrameKind::SequenceHeader if self.moov.is_none() => match Kind::audio(t.codec) {
                    Ok(kind) => entry::audio_entry(kind, &t.body).map(|_| {
                        let body = t.body.clone();
                        let size = (None, None);
                        self.audio = Some(Config { kind, rtmp_track: t.track_id, body, size });
                    }),
                    Err(e) => self.report(e),
                },
                FrameKind::Keyframe => match &self.audio {
                    Some(_) => self.frame(false, m.timestamp, true, 0, &t.body, out),
                    None => Kind::audio(t.codec).map(|_| ()).or_else(|e| self.report(e)),
                },
                _ => Ok(()),
            };
            result = result.and(r);
        }
        result
    }

    /// A coded frame of the configured video (`video`) or audio track.
    fn frame(
        &mut self,
        video: bool,
        ts: u32,
        sync: bool,
        composition_ms: i32,
        body: &Bytes,
        out: &mut Output,
    ) -> Result<(), RecordError> {
        if self.moov.is_none() {
            // A segment starts at a keyframe: video before the first one cannot decode.
            if video && !sync {
                return Ok(());
            }
            self.write_init(video.then_some(&body[..]), out)?;
        }
        let Some(index) = self.tracks.iter().position(|t| t.kind.is_video() == video) else {
            return Ok(()); // configured after the moov: not in this segment
        };
        match self.tracks.get_mut(index) {
            Some(t) if t.started || sync => t.started = true,
            _ => return Ok(()),
        }
        let ext = self.clock.unwrap(ts);
        let ms = ext - *self.base_ms.get_or_insert(ext);
        self.last_ms = self.last_ms.max(ms);
        let Some(track) = self.tracks.get_mut(index) else { return Ok(()) };
        let dts = track.time.dts(ms);
        let pts = track.time.ticks(ms.saturating_add(i64::from(composition_ms)));
        let cts = i32::try_from(i128::from(pts) - i128::from(dts)).unwrap_or(0);
        let sample = Sample { dts, duration: 0, cts, sync, data: track.kind.payload(body) };
        if let Some(mut prev) = track.pending.take() {
            let d = u32::try_from(dts.saturating_sub(prev.dts)).unwrap_or(u32::MAX);
            prev.duration = d;
            track.last_duration = Some(d);
            track.samples.push(prev);
        }
        let size = sample.size();
        if self.should_cut(video, sync) {
            self.flush(out)?;
        }
        self.held += size;
        if let Some(track) = self.tracks.get_mut(index) {
            track.pending = Some(sample);
        }
        Ok(())
    }

    /// Whether the fragment ends before this frame (see the module documentation).
    fn should_cut(&self, video: bool, sync: bool) -> bool {
        let target_ms = self.fragment_duration.map(|d| d.as_millis() as u64);
        if self.held >= MAX_FRAGMENT_BYTES
            || self.tracks.iter().any(|t| t.fragment_ms() >= MAX_FRAGMENT_MS)
        {
            return true;
        }
        let video_track = self.tracks.iter().find(|t| t.kind.is_video());
        let has_video = video_track.is_some_and(|t| !t.samples.is_empty() || t.pending.is_some());
        if video && sync {
            return video_track.is_some_and(|t| {
                !t.samples.is_empty() && target_ms.is_none_or(|ms| t.fragment_ms() >= ms)
            });
        }
        // No video in this fragment (audio-only stream, or video not yet started).
        !has_video
            && self.tracks.iter().any(|t| {
                !t.kind.is_video() && t.fragment_ms() >= target_ms.unwrap_or(AUDIO_FRAGMENT_MS)
            })
    }

    /// Writes the ftyp and moov for the configured tracks.
    fn write_init(&mut self, keyframe: Option<&[u8]>, out: &mut Output) -> Result<(), RecordError> {
        let mut entries: Vec<Entry> = Vec::new();
        if let Some(c) = &self.video {
            entries.push(entry::video_entry(c.kind, &c.body, c.size, keyframe)?);
        }
        if let Some(c) = &self.audio {
            entries.push(entry::audio_entry(c.kind, &c.body)?);
        }
        let moov = moov(&entries);
        let mut buf = Vec::new();
        ftyp().encode(&mut buf)?;
        let offset = buf.len();
        moov.encode(&mut buf)?;
        let len = buf.len() - offset;
        self.tracks = entries
            .iter()
            .zip(1u32..)
            .map(|(e, id)| Track {
                id,
                kind: e.kind,
                time: TrackTime::new(e.timescale),
                samples: Vec::new(),
                pending: None,
                last_duration: None,
                end: 0,
                started: false,
            })
            .collect();
        self.written = buf.len() as u64;
        out.push(Bytes::from(buf));
        self.moov = Some((moov, offset as u64, len));
        Ok(())
    }

    /// Emits the samples held (not the pending ones) as one fragment.
    fn flush(&mut self, out: &mut Output) -> Result<(), RecordError> {
        let runs: Vec<Run<'_>> = self
            .tracks
            .iter()
            .map(|t| Run { track_id: t.id, video: t.kind.is_video(), samples: &t.samples })
            .collect();
        if runs.iter().all(|r| r.samples.is_empty()) {
            return Ok(());
        }
        let bytes = fragment::encode(self.sequence, &runs);
        for t in &mut self.tracks {
            if let Some(last) = t.samples.last() {
                t.end = last.dts + u64::from(last.duration);
            }
            t.samples.clear();
        }
        self.held = self.tracks.iter().filter_map(|t| t.pending.as_ref()).map(Sample::size).sum();
        let bytes = bytes?;
        self.sequence = self.sequence.wrapping_add(1);
        self.written += bytes.iter().map(|b| b.len() as u64).sum::<u64>();
        out.extend(bytes);
        Ok(())
    }
}

impl Muxer for Fmp4Muxer {
    fn push(&mut self, message: &Message, out: &mut Output) -> Result<(), RecordError> {
        match message.kind {
            TagType::VIDEO => self.push_video(message, out),
            TagType::AUDIO => self.push_audio(message, out),
            _ => Ok(()), // onMetaData and other script data: not in the MP4
        }
    }

    fn finish(&mut self, out: &mut Output) -> Vec<Patch> {
        for t in &mut self.tracks {
            if let Some(mut last) = t.pending.take() {
                last.duration =
                    t.last_duration.unwrap_or_else(|| t.kind.default_duration(t.time.timescale));
                t.samples.push(last);
            }
        }
        // A fragment that cannot be encoded is lost, the file stays whole.
        let _ = self.flush(out);
        let Some((moov, offset, len)) = &self.moov else { return Vec::new() };
        let mut moov = moov.clone();
        set_durations(&mut moov, &self.tracks);
        let mut buf = Vec::new();
        // Every box holding a duration is written as version 1 (64-bit fields), so the
        // re-encoded moov has the size of the one in the file.
        match moov.encode(&mut buf) {
            Ok(()) if buf.len() == *len => vec![Patch { offset: *offset, bytes: Bytes::from(buf) }],
            _ => Vec::new(),
        }
    }

    fn duration_ms(&self) -> u64 {
        u64::try_from(self.last_ms).unwrap_or(0)
    }
}

fn ftyp() -> Ftyp {
    Ftyp {
        major_brand: b"iso6".into(),
        minor_version: 0,
        compatible_brands: vec![b"iso6".into(), b"isom".into(), b"mp41".into()],
    }
}

/// The `moov`: one `trak` per track with empty sample tables, and `mvex`.
fn moov(entries: &[Entry]) -> Moov {
    let trak = entries.iter().zip(1u32..).map(|(e, id)| trak(e, id)).collect();
    let trex = (1u32..)
        .take(entries.len())
        .map(|track_id| Trex {
            track_id,
            default_sample_description_index: 1,
            ..Default::default()
        })
        .collect();
    Moov {
        mvhd: Mvhd {
            timescale: MOVIE_TIMESCALE,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: entries.len() as u32 + 1,
            ..Default::default()
        },
        mvex: Some(Mvex { mehd: Some(Mehd { fragment_duration: 0 }), trex }),
        trak,
        ..Default::default()
    }
}

fn trak(e: &Entry, id: u32) -> Trak {
    let video = e.kind.is_video();
    let (handler, name) = if video { (b"vide", "VideoHandler") } else { (b"soun", "SoundHandler") };
    Trak {
        tkhd: Tkhd {
            track_id: id,
            enabled: true,
            in_movie: true,
            volume: if video { 0.into() } else { 1.into() },
            width: e.width.into(),
            height: e.height.into(),
            ..Default::default()
        },
        mdia: Mdia {
            mdhd: Mdhd { timescale: e.timescale, language: "und".into(), ..Default::default() },
            hdlr: Hdlr { handler: handler.into(), name: name.into() },
            minf: Minf {
                vmhd: video.then(Vmhd::default),
                smhd: (!video).then(Smhd::default),
                dinf: Dinf { dref: Dref { entries: vec![Url::default().into()] } },
                stbl: Stbl {
                    stsd: Stsd { codecs: vec![e.codec.clone()] },
                    stco: Some(Stco::default()),
                    ..Default::default()
                },
                ..Default::default()
            },
        },
        ..Default::default()
    }
}

/// Fills in the durations of a finished segment: each track's end, the longest as the
/// movie's.
fn set_durations(moov: &mut Moov, tracks: &[Track]) {
    let mut movie = 0;
    for (trak, t) in moov.trak.iter_mut().zip(tracks) {
        trak.mdia.mdhd.duration = t.end;
        let ms = t.end * u64::from(MOVIE_TIMESCALE) / u64::from(t.time.timescale.max(1));
        trak.tkhd.duration = ms;
        movie = movie.max(ms);
    }
    moov.mvhd.duration = movie;
    if let Some(mehd) = moov.mvex.as_mut().and_then(|m| m.mehd.as_mut()) {
        mehd.fragment_duration = movie;
    }
}

#[cfg(test)]
mod tests;
