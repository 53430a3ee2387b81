//! The recordings on disk: every segment file under every recording directory, listed and
//! filtered for the API, resolved for a download, deleted.
//!
//! A directory is walked as `{dir}/{app}/{stream}/{file}` and nothing else: only names
//! [`SegmentName::parse`] accepts count (other files are ignored), app and stream directories
//! must be their own [`sanitize`]d names, symbolic links are never followed (a link inside a
//! recording directory cannot expose a file outside it), and a walk stops after
//! [`MAX_LISTED`] files so a directory filled by mistake cannot make a listing unbounded.
//!
//! A segment's duration comes from reading it (`openrtmp_record::vod::open`), which costs a
//! pass over its index: it is cached by (path, size, modification time), so listing a
//! directory again reads only what changed. A segment being written is described by the
//! recorder's figures ([`OpenSegments`]) instead, and is never deleted.
//!
//! Everything here is blocking `std::fs`; the server calls it on a blocking thread
//! (`spawn_blocking`, see `catalog/handle.rs`), never on the async workers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use openrtmp_record::name::{from_unix_ms, sanitize};
use openrtmp_record::{Format, SegmentName};

use super::{OpenSegments, RecordSettings};

mod handle;

/// At most this many files are looked at per walk of the recording directories (a listing
/// past it says `truncated`; retention works on what it saw).
pub const MAX_LISTED: usize = 100_000;

/// One segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Application (sanitized, as in the path).
    pub app: String,
    /// Stream (sanitized, as in the path).
    pub stream: String,
    /// The recording this segment belongs to: `{stream}-{recording start}`.
    pub recording_id: String,
    /// The file's name (`{stream}-{recording start}-{segment start}.{ext}`).
    pub file_name: String,
    /// Its format.
    pub format: Format,
    /// When the recording started.
    pub recording_start: SystemTime,
    /// When this segment started.
    pub segment_start: SystemTime,
    /// Size now, bytes.
    pub bytes: u64,
    /// Media duration in ms (`None`: the file could not be read as a recording).
    pub duration_ms: Option<u64>,
    /// Being written now (figures are the recorder's; it cannot be deleted).
    pub recording: bool,
    /// Where it is: `{recording dir}/{app}/{stream}/{file name}`.
    pub path: PathBuf,
}

/// Which recordings a listing returns (every field optional; all given must match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingFilter {
    /// Application, exactly.
    pub app: Option<String>,
    /// Stream, exactly.
    pub stream: Option<String>,
    /// Segments that end at or after this time (start plus duration; a segment of unknown
    /// duration counts as ending at its start).
    pub from: Option<SystemTime>,
    /// Segments that start at or before this time.
    pub to: Option<SystemTime>,
    /// Recording id (`{stream}-{recording start}`), exactly.
    pub recording: Option<String>,
}

impl RecordingFilter {
    /// Whether `r` passes.
    pub fn matches(&self, r: &Recording) -> bool {
        let end = r.segment_start + std::time::Duration::from_millis(r.duration_ms.unwrap_or(0));
        self.app.as_ref().is_none_or(|a| *a == r.app)
            && self.stream.as_ref().is_none_or(|s| *s == r.stream)
            && self.recording.as_ref().is_none_or(|id| *id == r.recording_id)
            && self.from.is_none_or(|from| end >= from)
            && self.to.is_none_or(|to| r.segment_start <= to)
    }
}

/// A listing: newest segment first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingList {
    /// The segments that passed the filter, newest first (by segment start).
    pub recordings: Vec<Recording>,
    /// The walk stopped at [`MAX_LISTED`] files: older or other files may be missing.
    pub truncated: bool,
}

/// Why a recording could not be found, served or deleted. The API maps each to its status
/// in one place (`openrtmp-api`, `route/recordings.rs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The names are not those of a segment (`..`, a slash, another file): refused before
    /// any path is made of them.
    #[error("not a recording: {app}/{stream}/{file}")]
    BadName {
        /// Application as given.
        app: String,
        /// Stream as given.
        stream: String,
        /// File name as given.
        file: String,
    },
    /// No such segment in any recording directory.
    #[error("recording {app}/{stream}/{file} not found")]
    NotFound {
        /// Application.
        app: String,
        /// Stream.
        stream: String,
        /// File name.
        file: String,
    },
    /// The segment is being written; it can be deleted once finished.
    #[error("recording {file} is being written")]
    Busy {
        /// File name.
        file: String,
    },
    /// The file system refused.
    #[error("{op} {path}: {reason}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The path.
        path: String,
        /// The OS error.
        reason: String,
    },
}

/// Why a segment was deleted: the label of `openrtmp_recordings_deleted_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeleteReason {
    /// Older than `record.retention.max_age`.
    MaxAge,
    /// Its directory held more than `record.retention.max_bytes`.
    MaxBytes,
    /// `DELETE /api/v1/recordings/...`.
    Api,
}

impl DeleteReason {
    pub(crate) const ALL: [DeleteReason; 3] =
        [DeleteReason::MaxAge, DeleteReason::MaxBytes, DeleteReason::Api];

    pub(crate) fn name(self) -> &'static str {
        match self {
            DeleteReason::MaxAge => "max_age",
            DeleteReason::MaxBytes => "max_bytes",
            DeleteReason::Api => "api",
        }
    }
}

/// Reads a segment's duration in ms (`None`: unreadable).
pub(crate) type Probe = fn(&Path, Format) -> Option<u64>;

fn read_duration(path: &Path, format: Format) -> Option<u64> {
    openrtmp_record::vod::open(path, format).ok().map(|source| source.duration_ms())
}

/// What was last read of a file: its duration at that size and modification time.
#[derive(Debug, Clone, Copy)]
struct Cached {
    bytes: u64,
    modified: Option<SystemTime>,
    duration_ms: Option<u64>,
}

/// The duration cache and the deletion counters (one per server, in `Shared`).
#[derive(Debug)]
pub(crate) struct Catalog {
    cache: Mutex<HashMap<PathBuf, Cached>>,
    probe: Probe,
    limit: usize,
    deleted: [AtomicU64; 3],
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::with(read_duration, MAX_LISTED)
    }
}

/// A segment file found by a walk, before its duration is known.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) name: SegmentName,
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
    modified: Option<SystemTime>,
}

impl Catalog {
    pub(crate) fn with(probe: Probe, limit: usize) -> Catalog {
        Catalog { cache: Mutex::default(), probe, limit, deleted: Default::default() }
    }

    /// Deletions since start, by reason.
    pub(crate) fn deleted(&self) -> Vec<(&'static str, u64)> {
        DeleteReason::ALL
            .iter()
            .zip(&self.deleted)
            .map(|(r, n)| (r.name(), n.load(Ordering::Relaxed)))
            .collect()
    }

    /// Every segment under `dirs` (bounded by the limit), with the walk's truncation.
    pub(crate) fn walk(&self, dirs: &[PathBuf]) -> (Vec<Found>, bool) {
        self.walk_only(dirs, &Only::default())
    }

    /// The segments under `dirs` of the app and stream `only` names (directories of others
    /// are not read), with the walk's truncation.
    fn walk_only(&self, dirs: &[PathBuf], only: &Only<'_>) -> (Vec<Found>, bool) {
        let mut found = Vec::new();
        for dir in dirs {
            if walk_dir(dir, only, self.limit, &mut found) {
                return (found, true);
            }
        }
        (found, false)
    }

    /// The listing of `dirs` filtered by `filter`, newest first.
    pub(crate) fn list(
        &self,
        dirs: &[PathBuf],
        open: &OpenSegments,
        filter: &RecordingFilter,
    ) -> RecordingList {
        let only = Only { app: filter.app.as_deref(), stream: filter.stream.as_deref() };
        let (found, truncated) = self.walk_only(dirs, &only);
        let mut recordings: Vec<Recording> = found
            .iter()
            .filter(|f| {
                // Cheap filters first: no file is read for a segment filtered out by name.
                filter.app.as_ref().is_none_or(|a| *a == f.name.app)
                    && filter.stream.as_ref().is_none_or(|s| *s == f.name.stream)
                    && filter.recording.as_ref().is_none_or(|id| *id == f.name.recording_id())
            })
            .map(|f| self.describe(f, open))
            .filter(|r| filter.matches(r))
            .collect();
        recordings.sort_by(|a, b| {
            b.segment_start
                .cmp(&a.segment_start)
                .then_with(|| a.app.cmp(&b.app))
                .then_with(|| a.stream.cmp(&b.stream))
        });
        if !truncated && only == Only::default() {
            // Forget files that are gone, so the cache is bounded by what is on disk.
            let seen: HashSet<&PathBuf> = found.iter().map(|f| &f.path).collect();
            lock(&self.cache).retain(|path, _| seen.contains(path));
        }
        RecordingList { recordings, truncated }
    }

    /// `f` with its duration: the recorder's figures while it is written, else the cache
    /// or a read of the file.
    fn describe(&self, f: &Found, open: &OpenSegments) -> Recording {
        let (bytes, duration_ms, recording) = match open.get(&f.path) {
            Some(seg) => (seg.bytes.max(f.bytes), Some(seg.duration_ms), true),
            None => (f.bytes, self.duration(f), false),
        };
        Recording {
            app: f.name.app.clone(),
            stream: f.name.stream.clone(),
            recording_id: f.name.recording_id(),
            file_name: f.name.file_name(),
            format: f.name.format,
            recording_start: from_unix_ms(f.name.recording_ms),
            segment_start: from_unix_ms(f.name.segment_ms),
            bytes,
            duration_ms,
            recording,
            path: f.path.clone(),
        }
    }

    fn duration(&self, f: &Found) -> Option<u64> {
        let hit = lock(&self.cache).get(&f.path).copied();
        if let Some(c) = hit.filter(|c| c.bytes == f.bytes && c.modified == f.modified) {
            return c.duration_ms;
        }
        // Read without the lock: another listing may read the same file meanwhile, which
        // costs a second read, never a wrong answer.
        let duration_ms = (self.probe)(&f.path, f.name.format);
        let entry = Cached { bytes: f.bytes, modified: f.modified, duration_ms };
        lock(&self.cache).insert(f.path.clone(), entry);
        duration_ms
    }

    /// The segment `app/stream/file` in one of `dirs`, names checked first.
    pub(crate) fn find(
        &self,
        dirs: &[PathBuf],
        open: &OpenSegments,
        app: &str,
        stream: &str,
        file: &str,
    ) -> Result<Recording, CatalogError> {
        let bad = || CatalogError::BadName {
            app: app.to_owned(),
            stream: stream.to_owned(),
            file: file.to_owned(),
        };
        let name = segment_name(app, stream, file).ok_or_else(bad)?;
        for dir in dirs {
            let (app_dir, stream_dir) = (dir.join(app), dir.join(app).join(stream));
            let path = stream_dir.join(file);
            // Neither the app nor the stream directory nor the file may be a link.
            if is_real_dir(&app_dir) && is_real_dir(&stream_dir) {
                if let Ok(meta) = std::fs::symlink_metadata(&path) {
                    if meta.is_file() {
                        let found = Found {
                            name: name.clone(),
                            path,
                            bytes: meta.len(),
                            modified: meta.modified().ok(),
                        };
                        return Ok(self.describe(&found, open));
                    }
                }
            }
        }
        Err(CatalogError::NotFound {
            app: app.to_owned(),
            stream: stream.to_owned(),
            file: file.to_owned(),
        })
    }

    /// Deletes the finished segment at `path` (then its emptied stream and app
    /// directories), logs and counts it.
    pub(crate) fn delete(
        &self,
        open: &OpenSegments,
        path: &Path,
        reason: DeleteReason,
    ) -> Result<(), CatalogError> {
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        if open.get(path).is_some() {
            return Err(CatalogError::Busy { file });
        }
        std::fs::remove_file(path).map_err(|e| CatalogError::Io {
            op: "deleting",
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        lock(&self.cache).remove(path);
        if let Some(n) = DeleteReason::ALL.iter().position(|r| *r == reason) {
            if let Some(counter) = self.deleted.get(n) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        tracing::info!(path = %path.display(), reason = reason.name(), "recording deleted");
        remove_empty_parents(path);
        Ok(())
    }
}

/// The segment name of `app/stream/file` if all three are names the recorder could have
/// made (each its own sanitized form, the file's stream the directory's); `None` otherwise.
pub(crate) fn segment_name(app: &str, stream: &str, file: &str) -> Option<SegmentName> {
    if sanitize(app) != app || sanitize(stream) != stream {
        return None;
    }
    SegmentName::parse(app, file).filter(|n| n.stream == stream && n.file_name() == file)
}

/// The recording directories of `settings`: `record.dir`, then each rule's own, once each.
pub(crate) fn recording_dirs(settings: &RecordSettings) -> Vec<PathBuf> {
    let mut dirs = vec![settings.dir.clone()];
    for dir in settings.rules.iter().filter_map(|r| r.dir.as_ref()) {
        if !dirs.contains(dir) {
            dirs.push(dir.clone());
        }
    }
    dirs
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the cache leaves at worst a stale duration: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Sub-directories of `dir` that are real directories named as sanitized names.
fn name_dirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            (sanitize(&name) == name).then(|| (name, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The app and stream directories a walk reads (`None`: every one).
#[derive(Debug, Default, PartialEq, Eq)]
struct Only<'a> {
    app: Option<&'a str>,
    stream: Option<&'a str>,
}

/// Appends the segments of one recording directory to `found`; `true` when the limit
/// stopped the walk.
fn walk_dir(dir: &Path, only: &Only<'_>, limit: usize, found: &mut Vec<Found>) -> bool {
    let wanted = |want: Option<&str>, name: &str| want.is_none_or(|w| w == name);
    for (app, app_dir) in name_dirs(dir).into_iter().filter(|(a, _)| wanted(only.app, a)) {
        let streams = name_dirs(&app_dir).into_iter().filter(|(s, _)| wanted(only.stream, s));
        for (stream, stream_dir) in streams {
            let Ok(entries) = std::fs::read_dir(&stream_dir) else { continue };
            for entry in entries.flatten() {
                if found.len() >= limit {
                    return true;
                }
                // `DirEntry::file_type` does not follow links: a link is not a file here.
                if !entry.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                let Ok(file) = entry.file_name().into_string() else { continue };
                let Some(name) = segment_name(&app, &stream, &file) else { continue };
                let Ok(meta) = entry.metadata() else { continue };
                found.push(Found {
                    name,
                    path: entry.path(),
                    bytes: meta.len(),
                    modified: meta.modified().ok(),
                });
            }
        }
    }
    false
}

/// Removes the stream directory of a deleted file, then its app directory, when empty
/// (`remove_dir` refuses a directory that is not: a segment started meanwhile stays).
fn remove_empty_parents(path: &Path) {
    let stream_dir = path.parent();
    let app_dir = stream_dir.and_then(Path::parent);
    for dir in [stream_dir, app_dir].into_iter().flatten() {
        if std::fs::remove_dir(dir).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests;
