//! The recordings of the server: which streams are recorded (rules, `record.all`, the
//! API), one task per recorded stream, their status and the server-wide counters.
//!
//! A publisher that starts tells [`Recorder::published`] (next to the relay's hook); a
//! stream that matches is recorded from its first keyframe. A stream already recorded
//! (its publisher came back, or was spliced in within its grace) keeps its recording,
//! which goes on in a new segment. The task ends itself when its stream has ended for
//! [`RESUME_WITHIN`]: no second hook on the way out, so no end of a publication can leave
//! a recording running.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use openrtmp_hub::{Hub, StreamKey};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::fault::FaultKind;
use super::{Format, OpenSegments, RecordRule, RecordSettings, ANY};
use crate::auth::Auth;

/// A recording whose stream ended waits this long for a new publication of the same
/// stream, which it records in a new segment of the same recording; then it ends.
pub const RESUME_WITHIN: Duration = Duration::from_secs(10);

/// Hub owner ids of recordings: apart from connections (counting up from 1) and relay
/// targets (from 2^62).
const OWNER_BASE: u64 = (1 << 62) + (1 << 61);

/// Recording events kept for a slow reader of [`crate::ServerHandle::recording_events`].
const EVENT_CAPACITY: usize = 256;

/// Who started a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingOrigin {
    /// `record.all` or a rule.
    Config,
    /// `POST /api/v1/streams/{app}/{stream}/recording`.
    Api,
}

impl RecordingOrigin {
    /// `config` or `api`.
    pub fn name(self) -> &'static str {
        match self {
            RecordingOrigin::Config => "config",
            RecordingOrigin::Api => "api",
        }
    }
}

/// Where a recording stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingState {
    /// Waiting for a keyframe (or for the publisher) to start a segment.
    Waiting,
    /// Writing a segment.
    Recording,
    /// The disk fell behind: frames are dropped until the writer's queue drains.
    Dropping,
    /// A fault of the disk; retried every [`super::RETRY_AFTER`].
    Error {
        /// What kind.
        kind: FaultKind,
        /// What happened, in words.
        reason: String,
    },
}

impl RecordingState {
    /// `waiting`, `recording`, `dropping`, `error`.
    pub fn name(&self) -> &'static str {
        match self {
            RecordingState::Waiting => "waiting",
            RecordingState::Recording => "recording",
            RecordingState::Dropping => "dropping",
            RecordingState::Error { .. } => "error",
        }
    }
}

/// One recording as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingStatus {
    /// Application.
    pub app: String,
    /// Stream.
    pub stream: String,
    /// The recording's id (`{stream}-{recording start}`), shared by its segments.
    pub id: String,
    /// File format.
    pub format: Format,
    /// Who started it.
    pub origin: RecordingOrigin,
    /// Where it stands.
    pub state: RecordingState,
    /// When it started.
    pub started: SystemTime,
    /// The segment being written, if any.
    pub path: Option<std::path::PathBuf>,
    /// Segments opened so far.
    pub segments: u64,
    /// Bytes written, all segments.
    pub bytes_written: u64,
    /// Media ms of the current segment.
    pub segment_duration_ms: u64,
    /// Frames, and their payload bytes, not recorded (queue full, faults).
    pub dropped_frames: u64,
    /// See `dropped_frames`.
    pub dropped_bytes: u64,
    /// Faults and drops so far.
    pub errors: u64,
    /// The last error, in words.
    pub last_error: Option<String>,
}

/// Something that happened to a recording (`recording` events on the API's event stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingEvent {
    /// Application.
    pub app: String,
    /// Stream.
    pub stream: String,
    /// What: `started`, `segment_closed`, `error`, `resumed`, `stopped`.
    pub what: &'static str,
    /// The segment concerned, if any.
    pub path: Option<std::path::PathBuf>,
    /// Details in words (the error's reason).
    pub detail: Option<String>,
}

/// Server-wide recording counters (metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingStats {
    /// Recordings running now.
    pub active: u64,
    /// Bytes written to recordings.
    pub bytes_written: u64,
    /// Segments closed (complete).
    pub segments_closed: u64,
    /// Frames not recorded.
    pub dropped_frames: u64,
    /// Errors by kind: `(label, count)` for each [`FaultKind`] and `queue_full`.
    pub errors: Vec<(&'static str, u64)>,
}

/// Why a recording could not be started through the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordingError {
    /// The stream is not live.
    #[error("{app}/{stream} is not live")]
    NotLive {
        /// Application.
        app: String,
        /// Stream.
        stream: String,
    },
    /// The stream is recorded already.
    #[error("{app}/{stream} is already recorded")]
    AlreadyRecorded {
        /// Application.
        app: String,
        /// Stream.
        stream: String,
    },
}

/// Counters shared by every recording task.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) bytes_written: AtomicU64,
    pub(crate) segments_closed: AtomicU64,
    pub(crate) dropped_frames: AtomicU64,
    /// By [`FaultKind::index`], then `queue_full` last.
    pub(crate) errors: [AtomicU64; FaultKind::ALL.len() + 1],
}

impl Counters {
    pub(crate) fn error(&self, label: &str) {
        let at =
            FaultKind::ALL.iter().position(|k| k.name() == label).unwrap_or(FaultKind::ALL.len());
        if let Some(c) = self.errors.get(at) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One running recording: its settings, its status, and its controls.
#[derive(Debug)]
pub(crate) struct Recording {
    pub(crate) key: StreamKey,
    pub(crate) id: u64,
    pub(crate) rule: RecordRule,
    pub(crate) format: Format,
    pub(crate) started: SystemTime,
    pub(crate) origin: RecordingOrigin,
    pub(crate) cancel: CancellationToken,
    /// A new source was spliced in: the current segment ends at the next keyframe.
    pub(crate) rotate: AtomicBool,
    pub(crate) status: Mutex<RecordingStatus>,
}

impl Recording {
    pub(crate) fn status(&self) -> std::sync::MutexGuard<'_, RecordingStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The recordings of the server.
#[derive(Debug)]
pub(crate) struct Recorder {
    pub(crate) hub: Hub,
    pub(crate) shutdown: CancellationToken,
    recordings: Mutex<HashMap<StreamKey, Arc<Recording>>>,
    next_id: AtomicU64,
    pub(crate) counters: Counters,
    pub(crate) events: broadcast::Sender<RecordingEvent>,
    pub(crate) open_segments: Arc<OpenSegments>,
    pub(crate) auth: Arc<Auth>,
    runtime: Option<tokio::runtime::Handle>,
    /// The recording tasks: a shutdown waits for them to close their segments.
    tasks: tokio_util::task::TaskTracker,
}

impl Recorder {
    pub(crate) fn new(
        hub: Hub,
        shutdown: CancellationToken,
        open_segments: Arc<OpenSegments>,
        auth: Arc<Auth>,
    ) -> Recorder {
        Recorder {
            hub,
            shutdown,
            recordings: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            counters: Counters::default(),
            events: broadcast::channel(EVENT_CAPACITY).0,
            open_segments,
            auth,
            runtime: tokio::runtime::Handle::try_current().ok(),
            tasks: tokio_util::task::TaskTracker::new(),
        }
    }

    fn recordings(&self) -> std::sync::MutexGuard<'_, HashMap<StreamKey, Arc<Recording>>> {
        self.recordings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A publisher started on `key`: records it if a rule says so, or tells its running
    /// recording that a new source comes (it goes on in a new segment).
    pub(crate) fn published(self: &Arc<Self>, key: &StreamKey, settings: &RecordSettings) {
        let recording = {
            let mut recordings = self.recordings();
            if let Some(running) = recordings.get(key) {
                // A publisher back within its grace is spliced in: the recording sees no
                // event, so it is told to start a new segment. One back after an
                // unpublish shows as `Published` on the recording's pump instead (and a
                // flag set here could land after it and cut the new segment short).
                if self.hub.stream(key).is_some_and(|s| s.splicing) {
                    running.rotate.store(true, Ordering::Release);
                }
                return;
            }
            let Some(rule) = rule_for(settings, key) else { return };
            let recording = self.new_recording(key, rule, settings, None, RecordingOrigin::Config);
            recordings.insert(key.clone(), Arc::clone(&recording));
            recording
        };
        self.spawn(recording, settings);
    }

    /// Starts recording the live stream `key` now (API).
    pub(crate) fn start(
        self: &Arc<Self>,
        key: &StreamKey,
        settings: &RecordSettings,
        format: Option<Format>,
    ) -> Result<RecordingStatus, RecordingError> {
        let recording = {
            let mut recordings = self.recordings();
            if recordings.contains_key(key) {
                return Err(RecordingError::AlreadyRecorded {
                    app: key.app.clone(),
                    stream: key.name.clone(),
                });
            }
            if !self.is_live(key) {
                return Err(RecordingError::NotLive {
                    app: key.app.clone(),
                    stream: key.name.clone(),
                });
            }
            let rule = rule_for(settings, key).unwrap_or(RecordRule::new(ANY, ANY));
            let recording = self.new_recording(key, rule, settings, format, RecordingOrigin::Api);
            recordings.insert(key.clone(), Arc::clone(&recording));
            recording
        };
        let status = recording.status().clone();
        self.spawn(recording, settings);
        Ok(status)
    }

    /// Stops the recording of `key` (API); false if there is none. Its segment is closed.
    pub(crate) fn stop(&self, key: &StreamKey) -> bool {
        let Some(recording) = self.recordings().remove(key) else { return false };
        recording.cancel.cancel();
        true
    }

    /// The status of the recording of `key`.
    pub(crate) fn status(&self, key: &StreamKey) -> Option<RecordingStatus> {
        self.recordings().get(key).map(|r| r.status().clone())
    }

    /// Every recording's status.
    pub(crate) fn all(&self) -> Vec<RecordingStatus> {
        self.recordings().values().map(|r| r.status().clone()).collect()
    }

    pub(crate) fn stats(&self) -> RecordingStats {
        let c = &self.counters;
        let mut errors: Vec<_> = FaultKind::ALL.iter().map(|k| k.name()).collect();
        errors.push("queue_full");
        RecordingStats {
            active: self.recordings().len() as u64,
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
            segments_closed: c.segments_closed.load(Ordering::Relaxed),
            dropped_frames: c.dropped_frames.load(Ordering::Relaxed),
            errors: errors
                .into_iter()
                .zip(&c.errors)
                .map(|(label, n)| (label, n.load(Ordering::Relaxed)))
                .collect(),
        }
    }

    pub(crate) fn is_live(&self, key: &StreamKey) -> bool {
        self.hub.stream(key).is_some_and(|s| s.publishing)
    }

    /// Waits (at most `limit`) until every recording task has ended, its last segment
    /// closed: written, patched, synced and announced. The server's shutdown calls it once
    /// every connection is gone (the recordings end with the shutdown token), so a
    /// graceful stop never cuts the last MP4 fragment or its duration.
    pub(crate) async fn closed(&self, limit: Duration) -> bool {
        self.tasks.close();
        tokio::time::timeout(limit, self.tasks.wait()).await.is_ok()
    }

    /// The task of `recording` may end: true (and it is removed) unless its stream is live
    /// again. Under the lock, so a publisher that starts now either is seen here or finds
    /// no recording and starts a new one.
    pub(crate) fn retire_if_ended(&self, recording: &Recording) -> bool {
        let mut recordings = self.recordings();
        if self.is_live(&recording.key) && !recording.cancel.is_cancelled() {
            return false;
        }
        if recordings.get(&recording.key).is_some_and(|r| r.id == recording.id) {
            recordings.remove(&recording.key);
        }
        true
    }

    pub(crate) fn event(
        &self,
        recording: &Recording,
        what: &'static str,
        path: Option<&std::path::Path>,
        detail: Option<String>,
    ) {
        let _ = self.events.send(RecordingEvent {
            app: recording.key.app.clone(),
            stream: recording.key.name.clone(),
            what,
            path: path.map(ToOwned::to_owned),
            detail,
        });
    }

    pub(crate) fn owner(&self, recording: &Recording) -> u64 {
        OWNER_BASE + recording.id
    }

    fn new_recording(
        &self,
        key: &StreamKey,
        rule: RecordRule,
        settings: &RecordSettings,
        format: Option<Format>,
        origin: RecordingOrigin,
    ) -> Arc<Recording> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let format = format.or(rule.format).unwrap_or(settings.format);
        let started = SystemTime::now();
        let name = openrtmp_record::SegmentName::new(&key.app, &key.name, started, started, format);
        let status = RecordingStatus {
            app: key.app.clone(),
            stream: key.name.clone(),
            id: name.recording_id(),
            format,
            origin,
            state: RecordingState::Waiting,
            started,
            path: None,
            segments: 0,
            bytes_written: 0,
            segment_duration_ms: 0,
            dropped_frames: 0,
            dropped_bytes: 0,
            errors: 0,
            last_error: None,
        };
        Arc::new(Recording {
            key: key.clone(),
            id,
            rule,
            format,
            started,
            origin,
            cancel: self.shutdown.child_token(),
            rotate: AtomicBool::new(false),
            status: Mutex::new(status),
        })
    }

    fn spawn(self: &Arc<Self>, recording: Arc<Recording>, settings: &RecordSettings) {
        tracing::info!(
            app = %recording.key.app, stream = %recording.key.name,
            format = recording.format.extension(), origin = recording.origin.name(),
            "recording starts"
        );
        self.event(&recording, "started", None, None);
        // Subscribed here, before the publisher's first frame (this runs in its `publish`),
        // so the recording misses nothing of the stream.
        let Ok(subscriber) = self.hub.subscribe(recording.key.clone(), self.owner(&recording))
        else {
            self.retire_if_ended(&recording);
            return;
        };
        let task = super::task_of(Arc::clone(self), recording, subscriber, settings.clone());
        match (&self.runtime, tokio::runtime::Handle::try_current()) {
            (_, Ok(current)) => drop(self.tasks.spawn_on(task, &current)),
            (Some(server), Err(_)) => drop(self.tasks.spawn_on(task, server)),
            (None, Err(_)) => tracing::error!("recording not started: no tokio runtime"),
        }
    }
}

/// The rule that records `key`: `record.all` first, then the first matching rule.
pub(crate) fn rule_for(settings: &RecordSettings, key: &StreamKey) -> Option<RecordRule> {
    if settings.all {
        return Some(RecordRule::new(ANY, ANY));
    }
    settings.rules.iter().find(|r| r.matches(key)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_comes_first_then_the_first_matching_rule() {
        let key = StreamKey::new("live", "cam");
        let mut settings = RecordSettings::default();
        assert_eq!(rule_for(&settings, &key), None, "nothing is recorded by default");
        let mut flv = RecordRule::new("live", "cam");
        flv.format = Some(Format::Flv);
        settings.rules =
            vec![RecordRule::new("other", ANY), flv.clone(), RecordRule::new(ANY, ANY)];
        assert_eq!(rule_for(&settings, &key), Some(flv));
        settings.all = true;
        assert_eq!(rule_for(&settings, &key), Some(RecordRule::new(ANY, ANY)));
    }
}
