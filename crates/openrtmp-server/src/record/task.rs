//! The task of one recording: reads its stream through a [`MediaPump`] (as a relay push
//! does), cuts it into segments and hands the muxers' output to its writer thread.
//!
//! The task keeps the stream's newest metadata and sequence headers, so every segment
//! starts with them, then a keyframe (or, for a stream without video, an audio frame). A
//! segment ends at the first keyframe after `segment_duration` / `segment_bytes`, when a
//! new source is spliced in or the publisher comes back, when the writer's queue is full,
//! and on a fault of the disk; what follows each is in the one table
//! (`record/fault.rs`). The pump's own lag policy never applies in practice: the task
//! polls whenever frames come (it never waits for the disk), so it only falls behind if
//! the runtime itself does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use openrtmp_hub::{Frame, FrameKind, MediaPump, PumpConfig, PumpEvent, Subscriber};
use openrtmp_media::ScriptData;
use openrtmp_record::flv::FlvMuxer;
use openrtmp_record::fmp4::Fmp4Muxer;
use openrtmp_record::{Format, Message, Muxer, Output, SegmentName};
use tokio::sync::mpsc;

use super::fault::{End, Fault, Resume, RETRY_AFTER};
use super::recorder::{Recorder, Recording, RecordingState, RESUME_WITHIN};
use super::writer::{Report, WriterHandle};
use super::{OpenSegment, RecordSettings};
use crate::auth::Notification;

/// How long a recording that ends waits for its writer to finish the last segment (a
/// stalled disk must not hold the task forever; the writer thread finishes on its own).
const FINISH_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The muxer of a new segment: the one place a [`Format`] picks its muxer.
fn muxer(
    format: Format,
    has_audio: bool,
    has_video: bool,
    fragment_duration: Option<std::time::Duration>,
) -> Box<dyn Muxer> {
    match format {
        Format::Flv => Box::new(FlvMuxer::new(has_audio, has_video)),
        Format::Mp4 => Box::new(Fmp4Muxer::new(fragment_duration)),
    }
}

/// When the next segment may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// At the next start frame.
    Keyframe,
    /// At the next start frame once the writer's queue is empty.
    Drained,
    /// At the next start frame from this instant.
    RetryAt(Instant),
    /// Not before the next publication.
    Publication,
}

/// The segment being written.
#[derive(Debug)]
struct Segment {
    path: PathBuf,
    name: SegmentName,
    muxer: Box<dyn Muxer>,
    /// Bytes handed to the writer for this segment.
    bytes: u64,
}

/// A closed segment whose writer has not yet confirmed it.
#[derive(Debug)]
struct Closing {
    name: SegmentName,
    duration_ms: u64,
}

/// The state of one recording's task.
struct Session {
    recorder: Arc<Recorder>,
    recording: Arc<Recording>,
    settings: RecordSettings,
    writer: WriterHandle,
    meta: Option<Frame>,
    /// Newest sequence header (and description) per kind and track.
    headers: Vec<Frame>,
    has_video: bool,
    has_audio: bool,
    segment: Option<Segment>,
    /// What the segment's muxer gave during this pump batch: handed to the writer as one
    /// queue entry at the batch's end ([`Session::flush`]), not one per frame. Whole tags
    /// and fragments only, so it ends on a playable boundary like each output does.
    batch: Output,
    /// Frames and payload bytes in `batch` (counted as dropped if the queue refuses it).
    batch_frames: u64,
    batch_bytes: u64,
    closing: HashMap<PathBuf, Closing>,
    gate: Gate,
    /// Whether frames not recorded now count as dropped (after a drop or a fault).
    dropping: bool,
}

/// The task of `recording`, reading its stream through `subscriber` (made before the
/// publisher's first frame), until the stream has ended, the recording is stopped or the
/// server shuts down.
pub(super) async fn run(
    recorder: Arc<Recorder>,
    recording: Arc<Recording>,
    subscriber: Subscriber,
    settings: RecordSettings,
) {
    let (app, stream) = (recording.key.app.clone(), recording.key.name.clone());
    let (tx, mut reports) = mpsc::unbounded_channel();
    let thread = format!("record-{}", recording.id);
    let writer = match WriterHandle::spawn(thread, settings.queue_bytes, tx) {
        Ok(writer) => writer,
        Err(e) => {
            tracing::error!(%app, %stream, error = %e, "recording not started: no writer thread");
            recorder.retire_if_ended(&recording);
            return;
        }
    };
    let mut pump = MediaPump::new(subscriber, PumpConfig::default());
    let mut session = Session {
        recorder: Arc::clone(&recorder),
        recording: Arc::clone(&recording),
        settings,
        writer,
        meta: None,
        headers: Vec::new(),
        has_video: false,
        has_audio: false,
        segment: None,
        batch: Output::new(),
        batch_frames: 0,
        batch_bytes: 0,
        closing: HashMap::new(),
        gate: Gate::Keyframe,
        dropping: false,
    };
    let mut events = Vec::new();
    let mut ended_at: Option<tokio::time::Instant> = None;
    let end = loop {
        let linger = async {
            match ended_at {
                Some(at) => tokio::time::sleep_until(at + RESUME_WITHIN).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = recording.cancel.cancelled() => {
                break if recorder.shutdown.is_cancelled() { End::Shutdown } else { End::Stopped };
            }
            Some(report) = reports.recv() => session.report(report),
            _ = pump.ready() => {
                events.clear();
                pump.poll_batch(Instant::now(), &mut events);
                for event in events.drain(..) {
                    match event {
                        PumpEvent::Frame { frame, .. } => session.frame(frame),
                        PumpEvent::Unpublished => {
                            session.close(End::Republished);
                            ended_at = Some(tokio::time::Instant::now());
                        }
                        PumpEvent::Published => {
                            session.published();
                            ended_at = None;
                        }
                    }
                }
                session.end_batch();
                session.sync_status();
            }
            () = linger => {
                if recorder.retire_if_ended(&recording) {
                    break End::StreamEnded;
                }
                ended_at = None;
            }
        }
    };
    session.close(end.clone());
    recorder.retire_if_ended(&recording);
    drop(pump);
    // The writer ends when its commands end; its last reports (the last segment closed)
    // come first.
    session.writer.detach();
    let finish = async {
        while let Some(report) = reports.recv().await {
            session.report(report);
        }
    };
    let _ = tokio::time::timeout(FINISH_WAIT, finish).await;
    tracing::info!(%app, %stream, reason = %end.reason(), "recording ends");
    recorder.event(&recording, "stopped", None, Some(end.reason()));
}

impl Session {
    fn frame(&mut self, frame: Frame) {
        match frame.kind {
            FrameKind::Video => self.has_video = true,
            FrameKind::Audio => self.has_audio = true,
            FrameKind::Data => {}
        }
        if frame.kind == FrameKind::Data
            && ScriptData::parse(&frame.payload).is_ok_and(|s| s.is_on_meta_data())
        {
            self.meta = Some(frame.clone());
        } else if frame.sequence_header {
            // One per kind and track, and one description (E-RTMP video metadata: no
            // codec information) beside it.
            let rank = |h: &Frame| (h.kind, h.track, h.codec.is_some());
            let this = rank(&frame);
            // A codec configuration that changes mid-segment (an encoder switching
            // resolution without reconnecting): an MP4 segment's `moov` holds the old one,
            // so the segment ends at the next keyframe and the next one starts with the new
            // configuration. FLV carries the new header inline and goes on.
            let changed = self
                .headers
                .iter()
                .any(|h| rank(h) == this && h.codec.is_some() && h.payload != frame.payload);
            if changed && self.recording.format == Format::Mp4 && self.segment.is_some() {
                tracing::info!(app = %self.recording.key.app, stream = %self.recording.key.name,
                    kind = ?frame.kind, "codec configuration changed: new segment at the next keyframe");
                self.recording.rotate.store(true, Ordering::Release);
            }
            self.headers.retain(|h| rank(h) != this);
            self.headers.push(frame.clone());
        }
        let start = self.is_start(&frame);
        if start && self.segment.is_some() && self.due() {
            self.close(End::Rotated);
        }
        if self.segment.is_some() {
            self.push(&frame);
        } else if start && self.gate_open() {
            self.open(&frame);
        } else if self.dropping && frame.kind != FrameKind::Data {
            self.recording.status().dropped_frames += 1;
            self.recording.status().dropped_bytes += frame.len() as u64;
            self.recorder.counters.dropped_frames.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether a segment may start at `frame`: a video keyframe, or any audio frame of a
    /// stream without video (sequence headers never).
    fn is_start(&self, frame: &Frame) -> bool {
        !frame.sequence_header
            && match frame.kind {
                FrameKind::Video => frame.keyframe,
                FrameKind::Audio => !self.has_video,
                FrameKind::Data => false,
            }
    }

    /// Whether the current segment should end at this start frame.
    fn due(&self) -> bool {
        let Some(segment) = &self.segment else { return false };
        let rule = &self.recording.rule;
        let duration = rule.segment_duration.or(self.settings.segment_duration);
        let bytes = rule.segment_bytes.or(self.settings.segment_bytes);
        self.recording.rotate.swap(false, Ordering::AcqRel)
            || duration.is_some_and(|d| segment.muxer.duration_ms() >= d.as_millis() as u64)
            || bytes.is_some_and(|b| segment.bytes >= b)
    }

    fn gate_open(&mut self) -> bool {
        let open = match self.gate {
            Gate::Keyframe => true,
            Gate::Drained => self.writer.queued() == 0,
            Gate::RetryAt(at) => Instant::now() >= at,
            Gate::Publication => false,
        };
        if open {
            self.gate = Gate::Keyframe;
        }
        open
    }

    fn published(&mut self) {
        // The new publication sends its own start sequence next.
        self.meta = None;
        self.headers.clear();
        self.has_audio = false;
        self.has_video = false;
        self.recording.rotate.store(false, Ordering::Release);
        if self.gate == Gate::Publication {
            self.gate = Gate::Keyframe;
        }
    }

    fn open(&mut self, first: &Frame) {
        let rec = &self.recording;
        let format = rec.format;
        let name =
            SegmentName::new(&rec.key.app, &rec.key.name, rec.started, SystemTime::now(), format);
        let dir = rec.rule.dir.clone().unwrap_or_else(|| self.settings.dir.clone());
        let path = dir.join(&name.app).join(&name.stream).join(name.file_name());
        // Listed as being written before the file exists: the retention sweep never takes
        // a new segment for a finished one.
        self.recorder.open_segments.set(
            path.clone(),
            OpenSegment {
                app: rec.key.app.clone(),
                stream: rec.key.name.clone(),
                started: super::from_unix_ms(name.segment_ms),
                bytes: 0,
                duration_ms: 0,
            },
        );
        self.writer.open(path.clone());
        let has_audio = self.has_audio || self.headers.iter().any(|h| h.kind == FrameKind::Audio);
        let has_video = self.has_video || self.headers.iter().any(|h| h.kind == FrameKind::Video);
        self.segment = Some(Segment {
            path: path.clone(),
            name,
            muxer: muxer(rec.format, has_audio, has_video, self.settings.fragment_duration),
            bytes: 0,
        });
        let resumed = self.dropping;
        self.dropping = false;
        {
            let mut status = rec.status();
            status.state = RecordingState::Recording;
            status.path = Some(path.clone());
            status.segments += 1;
            status.segment_duration_ms = 0;
        }
        tracing::info!(app = %rec.key.app, stream = %rec.key.name, path = %path.display(),
            "recording segment opens");
        if resumed {
            self.recorder.event(rec, "resumed", Some(&path), None);
        }
        let lead: Vec<Frame> = self.meta.iter().chain(&self.headers).cloned().collect();
        for frame in lead.iter().chain(std::iter::once(first)) {
            if self.segment.is_none() {
                break;
            }
            self.push(frame);
        }
    }

    /// Muxes `frame` into the segment and queues the output; a full queue ends the segment.
    fn push(&mut self, frame: &Frame) {
        let Some(segment) = self.segment.as_mut() else { return };
        let message = Message {
            kind: frame.kind.into(),
            timestamp: frame.timestamp,
            payload: frame.payload.clone(),
        };
        let before = self.batch.len();
        if let Err(e) = segment.muxer.push(&message, &mut self.batch) {
            tracing::debug!(app = %self.recording.key.app, stream = %self.recording.key.name,
                error = %e, "frame not recorded");
            return;
        }
        let added = self.batch.get(before..).unwrap_or_default();
        segment.bytes += added.iter().map(|b| b.len() as u64).sum::<u64>();
        self.batch_frames += 1;
        self.batch_bytes += frame.len() as u64;
    }

    /// Hands the batch to the writer; `false` (the frames counted as dropped) when its
    /// queue has no room for it.
    fn flush(&mut self) -> bool {
        let frames = std::mem::take(&mut self.batch_frames);
        let bytes = std::mem::take(&mut self.batch_bytes);
        let batch = std::mem::take(&mut self.batch);
        if batch.is_empty() || self.writer.try_append(batch) {
            return true;
        }
        self.recording.status().dropped_frames += frames;
        self.recording.status().dropped_bytes += bytes;
        self.recorder.counters.dropped_frames.fetch_add(frames, Ordering::Relaxed);
        false
    }

    /// The end of a pump batch: what it gave goes to the writer, or the segment is dropped.
    fn end_batch(&mut self) {
        if !self.flush() {
            self.close(End::QueueFull);
        }
    }

    /// Ends the segment (if any) for `end` and applies its disposition.
    fn close(&mut self, end: End) {
        // What this batch gave the segment goes first; if the queue refuses it, the
        // segment is dropped whatever ended it.
        let end = if self.flush() { end } else { End::QueueFull };
        let path = if let Some(mut segment) = self.segment.take() {
            let mut tail = Output::new();
            let patches = segment.muxer.finish(&mut tail);
            let closing = Closing { name: segment.name, duration_ms: segment.muxer.duration_ms() };
            self.closing.insert(segment.path.clone(), closing);
            self.writer.close(tail, patches);
            Some(segment.path)
        } else {
            None
        };
        self.ended(end, path);
    }

    /// The disposition of `end` for the segment at `path` (already closed or abandoned).
    fn ended(&mut self, end: End, path: Option<PathBuf>) {
        let disposition = end.disposition();
        let rec = &self.recording;
        let (app, stream) = (rec.key.app.as_str(), rec.key.name.as_str());
        let shown = path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        let reason = end.reason();
        if let Some(label) = disposition.metric {
            self.recorder.counters.error(label);
            tracing::warn!(app, stream, path = %shown, %reason, "recording error");
            self.recorder.event(rec, "error", path.as_deref(), Some(reason.clone()));
            let mut status = rec.status();
            status.errors += 1;
            status.last_error = Some(reason);
            status.state = match &end {
                End::Fault(Fault { kind, reason }) => {
                    RecordingState::Error { kind: *kind, reason: reason.clone() }
                }
                _ => RecordingState::Dropping,
            };
            self.dropping = true;
        } else if path.is_some() {
            tracing::info!(app, stream, path = %shown, %reason, "recording segment ends");
            let mut status = rec.status();
            if status.state == RecordingState::Recording {
                status.state = RecordingState::Waiting;
            }
        }
        self.gate = match disposition.resume {
            Resume::NextKeyframe => Gate::Keyframe,
            Resume::WhenDrained => Gate::Drained,
            Resume::AfterRetryDelay => Gate::RetryAt(Instant::now() + RETRY_AFTER),
            Resume::NextPublication | Resume::Never => Gate::Publication,
        };
        let mut status = rec.status();
        status.path = self.segment.as_ref().map(|s| s.path.clone());
    }

    fn report(&mut self, report: Report) {
        match report {
            Report::Written(n) => {
                self.recording.status().bytes_written += n;
                self.recorder.counters.bytes_written.fetch_add(n, Ordering::Relaxed);
            }
            Report::Closed { path, bytes } => {
                self.recorder.open_segments.remove(&path);
                self.recorder.counters.segments_closed.fetch_add(1, Ordering::Relaxed);
                let Some(closing) = self.closing.remove(&path) else { return };
                self.done(&path, &closing, bytes);
            }
            Report::Failed { path, fault } => {
                self.recorder.open_segments.remove(&path);
                self.closing.remove(&path);
                if self.segment.as_ref().is_some_and(|s| s.path == path) {
                    // The writer discards the rest of it: nothing to finish.
                    self.segment = None;
                }
                self.ended(End::Fault(fault), Some(path));
            }
        }
    }

    /// A segment is complete on disk: log, `record_done` notification, event.
    fn done(&self, path: &std::path::Path, closing: &Closing, bytes: u64) {
        let rec = &self.recording;
        tracing::info!(app = %rec.key.app, stream = %rec.key.name, path = %path.display(),
            bytes, duration_ms = closing.duration_ms, "recording segment closed");
        self.recorder.auth.notify(Notification::RecordDone {
            app: rec.key.app.clone(),
            stream: rec.key.name.clone(),
            path: path.display().to_string(),
            recording_id: closing.name.recording_id(),
            duration_ms: closing.duration_ms,
            bytes,
            format: closing.name.format.extension(),
        });
        self.recorder.event(rec, "segment_closed", Some(path), None);
    }

    /// Status and open segment figures, once per batch.
    fn sync_status(&self) {
        let Some(segment) = &self.segment else { return };
        let duration_ms = segment.muxer.duration_ms();
        self.recording.status().segment_duration_ms = duration_ms;
        self.recorder.open_segments.set(
            segment.path.clone(),
            OpenSegment {
                app: self.recording.key.app.clone(),
                stream: self.recording.key.name.clone(),
                started: super::from_unix_ms(segment.name.segment_ms),
                bytes: segment.bytes,
                duration_ms,
            },
        );
    }
}
