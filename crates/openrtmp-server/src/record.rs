//! Recording: live streams written to FLV or fragmented MP4 segment files, and the files
//! listed, served, expired and played back.
//!
//! Pieces (each in its own module):
//! - the recorder (`record/` task, writer, segments): which streams are recorded (rules,
//!   `--record-all`, the API), one task per recorded stream reading its stream through a
//!   [`openrtmp_hub::MediaPump`] like any output, handing bytes to a bounded writer off the
//!   media path; faults (disk full, missing or read-only directory, a file deleted under
//!   the writer) stop or rotate the recording with an error, a metric and an event, and it
//!   resumes when it can;
//! - the catalog (`record/catalog.rs`, `record/retention.rs`): the files on disk, listed
//!   and filtered for the API, deleted, expired by age and total size;
//! - playback of a recording over RTMP (`crate::vod`).
//!
//! File names and formats are `openrtmp-record`'s ([`openrtmp_record::SegmentName`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

pub use catalog::{CatalogError, Recording, RecordingFilter, RecordingList, MAX_LISTED};
pub use openrtmp_record::Format;
pub use retention::SWEEP_INTERVAL;

pub(crate) mod catalog;
pub(crate) mod retention;

mod fault;
pub(crate) mod recorder;
mod task;
mod writer;

pub use fault::{Fault, FaultKind, RETRY_AFTER};
pub(crate) use recorder::Recorder;
pub use recorder::{
    RecordingError, RecordingEvent, RecordingOrigin, RecordingState, RecordingStats,
    RecordingStatus, RESUME_WITHIN,
};
pub use writer::IDENTITY_CHECK_EVERY;

use openrtmp_hub::StreamKey;
use openrtmp_record::name::from_unix_ms;

/// The task of a recording (the recorder starts it; the task reports to the recorder:
/// wired here so neither module names the other both ways).
fn task_of(
    recorder: std::sync::Arc<Recorder>,
    recording: std::sync::Arc<recorder::Recording>,
    subscriber: openrtmp_hub::Subscriber,
    settings: RecordSettings,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    task::run(recorder, recording, subscriber, settings)
}

/// How long a shutdown waits for the recordings to close their last segments (each task
/// waits up to 5 s for its writer).
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(6);

/// Matches every application or stream name in a [`RecordRule`].
pub const ANY: &str = "*";

/// Default [`RecordSettings::dir`].
pub const DEFAULT_RECORD_DIR: &str = "recordings";
/// Default [`RecordSettings::segment_duration`]: one hour.
pub const DEFAULT_SEGMENT_DURATION: Duration = Duration::from_secs(3600);
/// Default [`RecordSettings::queue_bytes`]: what a recording may have waiting for the disk
/// before it is dropped (then resumed at a keyframe in a new segment).
pub const DEFAULT_QUEUE_BYTES: usize = 32 * 1024 * 1024;

/// Which streams are recorded, how, and for how long files are kept (`record` in the
/// configuration; `--record-all`, `--record-dir` on the command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSettings {
    /// Where recordings go unless a rule says otherwise ([`DEFAULT_RECORD_DIR`]); files are
    /// `{dir}/{app}/{stream}/{stream}-{recording start}-{segment start}.{mp4|flv}`.
    pub dir: PathBuf,
    /// Record every published stream (`--record-all`), with the defaults below.
    pub all: bool,
    /// Streams recorded; the first rule that matches a stream applies (after `all`).
    pub rules: Vec<RecordRule>,
    /// Format of `all`, of API-started recordings and of rules without one ([`Format::Mp4`]).
    pub format: Format,
    /// A new segment starts at the first keyframe after this much media
    /// ([`DEFAULT_SEGMENT_DURATION`]; `None`: no limit).
    pub segment_duration: Option<Duration>,
    /// A new segment starts at the first keyframe after this many bytes (`None`: no limit).
    pub segment_bytes: Option<u64>,
    /// An MP4 fragment ends at the first keyframe after this much media (`None`: one
    /// fragment per GOP).
    pub fragment_duration: Option<Duration>,
    /// Bytes a recording may have waiting for the disk ([`DEFAULT_QUEUE_BYTES`]).
    pub queue_bytes: usize,
    /// Expiry of finished files, per directory.
    pub retention: Retention,
}

impl Default for RecordSettings {
    fn default() -> Self {
        RecordSettings {
            dir: PathBuf::from(DEFAULT_RECORD_DIR),
            all: false,
            rules: Vec::new(),
            format: Format::default(),
            segment_duration: Some(DEFAULT_SEGMENT_DURATION),
            segment_bytes: None,
            fragment_duration: None,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            retention: Retention::default(),
        }
    }
}

/// One recording rule (`record.rules[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRule {
    /// Application name, or [`ANY`].
    pub app: String,
    /// Stream name, or [`ANY`].
    pub stream: String,
    /// Format (default: [`RecordSettings::format`]).
    pub format: Option<Format>,
    /// Directory (default: [`RecordSettings::dir`]).
    pub dir: Option<PathBuf>,
    /// Segment duration (default: [`RecordSettings::segment_duration`]).
    pub segment_duration: Option<Duration>,
    /// Segment size (default: [`RecordSettings::segment_bytes`]).
    pub segment_bytes: Option<u64>,
}

impl RecordRule {
    /// A rule for every stream of `app` named `stream` (each may be [`ANY`]), with the
    /// defaults of [`RecordSettings`].
    pub fn new(app: impl Into<String>, stream: impl Into<String>) -> RecordRule {
        RecordRule {
            app: app.into(),
            stream: stream.into(),
            format: None,
            dir: None,
            segment_duration: None,
            segment_bytes: None,
        }
    }

    /// Whether the rule applies to the stream `key`.
    pub fn matches(&self, key: &StreamKey) -> bool {
        (self.app == ANY || self.app == key.app) && (self.stream == ANY || self.stream == key.name)
    }
}

/// How long finished recordings are kept, per recording directory (`record.retention`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Files older than this (by their segment's start) are deleted (`None`: kept).
    pub max_age: Option<Duration>,
    /// The oldest files are deleted while a directory holds more than this (`None`: no
    /// limit). Files being written are never deleted.
    pub max_bytes: Option<u64>,
}

/// A segment being written now, as the recorder reports it to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenSegment {
    pub(crate) app: String,
    pub(crate) stream: String,
    pub(crate) started: SystemTime,
    /// Bytes written so far.
    pub(crate) bytes: u64,
    /// Media written so far, in ms.
    pub(crate) duration_ms: u64,
}

/// The segments being written now, by path: the recorder keeps it, the catalog reads it
/// (a file being written is listed as such and never expired or deleted).
#[derive(Debug, Default)]
pub(crate) struct OpenSegments(Mutex<HashMap<PathBuf, OpenSegment>>);

impl OpenSegments {
    /// Records (or updates) the segment at `path`.
    pub(crate) fn set(&self, path: PathBuf, segment: OpenSegment) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(path, segment);
    }

    /// The segment at `path` is finished (or abandoned).
    pub(crate) fn remove(&self, path: &std::path::Path) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(path);
    }

    /// The segment being written at `path`, if any.
    pub(crate) fn get(&self, path: &std::path::Path) -> Option<OpenSegment> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(path).cloned()
    }
}

impl crate::ServerHandle {
    /// Starts recording the live stream `app`/`stream` now, in `format` (default: the
    /// matching rule's, else `record.format`), from its next keyframe. Refused when the
    /// stream is not live or is recorded already.
    pub fn start_recording(
        &self,
        app: &str,
        stream: &str,
        format: Option<Format>,
    ) -> Result<RecordingStatus, RecordingError> {
        let settings = &self.shared.config_arc().record;
        self.shared.recorder.start(&StreamKey::new(app, stream), settings, format)
    }

    /// Stops the recording of `app`/`stream` (its segment is closed); false if it is not
    /// recorded. A stream that matches a rule is recorded again with its next publication.
    pub fn stop_recording(&self, app: &str, stream: &str) -> bool {
        self.shared.recorder.stop(&StreamKey::new(app, stream))
    }

    /// The recording of `app`/`stream`, if it is recorded.
    pub fn recording(&self, app: &str, stream: &str) -> Option<RecordingStatus> {
        self.shared.recorder.status(&StreamKey::new(app, stream))
    }

    /// Every running recording.
    pub fn recordings_active(&self) -> Vec<RecordingStatus> {
        self.shared.recorder.all()
    }

    /// Server-wide recording counters (metrics).
    pub fn recording_stats(&self) -> RecordingStats {
        self.shared.recorder.stats()
    }

    /// Recording events as they happen (segment closed, error, resumed, ...). A reader
    /// that falls behind misses events (`Lagged`), never slows a recording.
    pub fn recording_events(&self) -> tokio::sync::broadcast::Receiver<RecordingEvent> {
        self.shared.recorder.events.subscribe()
    }
}
