//! Retention: finished recordings expired by age and by total size, per recording
//! directory (`record.retention.max_age`, `record.retention.max_bytes`).
//!
//! A task started with the server sweeps every [`SWEEP_INTERVAL`]: in each recording
//! directory it deletes the finished segments that started more than `max_age` ago, then the
//! oldest finished segments while the directory holds more than `max_bytes` (segments being
//! written count towards the total but are never deleted: a directory whose live recordings
//! alone exceed the limit keeps them). Each deletion is logged with its path and reason and
//! counted (`openrtmp_recordings_deleted_total{reason}`); emptied `{app}/{stream}`
//! directories are removed. With no retention configured a wake-up reads the configuration
//! and nothing else: no directory is walked.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use openrtmp_record::name::unix_ms;

use super::catalog::{recording_dirs, Catalog, DeleteReason};
use super::{OpenSegments, RecordSettings};
use crate::shared::Shared;

/// How often the retention task sweeps: expired files outlive their limit by at most this
/// (plus the time a sweep takes).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Sweeps until the server shuts down.
pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
            _ = shared.shutdown.cancelled() => return,
        }
        let settings = shared.config().record.clone();
        if settings.retention.max_age.is_none() && settings.retention.max_bytes.is_none() {
            continue;
        }
        let shared = Arc::clone(&shared);
        let work = move || {
            sweep(&settings, &shared.catalog, &shared.open_segments, SystemTime::now());
        };
        if let Err(e) = tokio::task::spawn_blocking(work).await {
            tracing::warn!(error = %e, "recording retention sweep failed");
        }
    }
}

/// One sweep of every recording directory of `settings` at `now`; returns what it deleted.
pub(crate) fn sweep(
    settings: &RecordSettings,
    catalog: &Catalog,
    open: &OpenSegments,
    now: SystemTime,
) -> Vec<(PathBuf, DeleteReason)> {
    let mut deleted = Vec::new();
    for dir in recording_dirs(settings) {
        sweep_dir(settings, catalog, open, now, dir, &mut deleted);
    }
    deleted
}

fn sweep_dir(
    settings: &RecordSettings,
    catalog: &Catalog,
    open: &OpenSegments,
    now: SystemTime,
    dir: PathBuf,
    deleted: &mut Vec<(PathBuf, DeleteReason)>,
) {
    let retention = &settings.retention;
    let (mut found, truncated) = catalog.walk(std::slice::from_ref(&dir));
    if truncated {
        tracing::warn!(dir = %dir.display(), "recording directory holds too many files: retention sees only part of it");
    }
    // Oldest first.
    found.sort_by_key(|f| f.name.segment_ms);
    let mut total: u64 = found.iter().map(|f| f.bytes).sum();
    let oldest_kept = retention.max_age.map(|age| unix_ms(now).saturating_sub(millis(age)));
    for f in found {
        if open.get(&f.path).is_some() {
            continue;
        }
        let reason = if oldest_kept.is_some_and(|limit| f.name.segment_ms < limit) {
            DeleteReason::MaxAge
        } else if retention.max_bytes.is_some_and(|max| total > max) {
            DeleteReason::MaxBytes
        } else {
            continue;
        };
        match catalog.delete(open, &f.path, reason) {
            Ok(()) => {
                total = total.saturating_sub(f.bytes);
                deleted.push((f.path, reason));
            }
            Err(e) => tracing::warn!(error = %e, reason = reason.name(), "recording not expired"),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use openrtmp_record::name::from_unix_ms;
    use openrtmp_record::{Format, SegmentName};
    use openrtmp_testkit::TempDir;

    use super::*;
    use crate::record::{OpenSegment, Retention};

    const T0: u64 = 1_796_569_080_000;

    fn make(dir: &Path, stream: &str, seg_ms: u64, len: usize) -> PathBuf {
        let name =
            SegmentName::new("live", stream, from_unix_ms(T0), from_unix_ms(seg_ms), Format::Mp4);
        let path = dir.join(name.relative_path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, vec![0u8; len]).unwrap();
        path
    }

    fn settings(dir: &Path, max_age: Option<u64>, max_bytes: Option<u64>) -> RecordSettings {
        RecordSettings {
            dir: dir.to_owned(),
            retention: Retention { max_age: max_age.map(Duration::from_secs), max_bytes },
            ..RecordSettings::default()
        }
    }

    fn open_segment(open: &OpenSegments, path: &Path) {
        let seg = OpenSegment {
            app: "live".into(),
            stream: "cam".into(),
            started: from_unix_ms(T0),
            bytes: 0,
            duration_ms: 0,
        };
        open.set(path.to_owned(), seg);
    }

    #[test]
    fn old_segments_go_but_one_being_written_stays() {
        let tmp = TempDir::new("retention-age");
        let dir = tmp.0.clone();
        let old = make(&dir, "cam", T0, 10);
        let writing = make(&dir, "cam", T0 + 1000, 10);
        let young = make(&dir, "cam", T0 + 3_600_000, 10);
        let other = make(&dir, "gone", T0, 10);
        let (catalog, open) = (Catalog::default(), OpenSegments::default());
        open_segment(&open, &writing);
        // One hour to keep, two hours after T0: the first three are over age.
        let now = from_unix_ms(T0 + 2 * 3_600_000);
        let deleted = sweep(&settings(&dir, Some(3600), None), &catalog, &open, now);
        assert_eq!(deleted, [(old.clone(), DeleteReason::MaxAge), (other, DeleteReason::MaxAge)]);
        assert!(!old.exists() && writing.exists() && young.exists());
        assert!(!dir.join("live/gone").exists(), "emptied stream directory removed");
        assert_eq!(catalog.deleted()[0], ("max_age", 2));
    }

    #[test]
    fn oldest_finished_segments_go_while_a_directory_is_over_its_bytes() {
        let tmp = TempDir::new("retention-bytes");
        let dir = tmp.0.clone();
        let writing = make(&dir, "cam", T0, 100);
        let a = make(&dir, "cam", T0 + 1000, 100);
        let b = make(&dir, "other", T0 + 2000, 100);
        let c = make(&dir, "cam", T0 + 3000, 100);
        let (catalog, open) = (Catalog::default(), OpenSegments::default());
        open_segment(&open, &writing);
        let now = from_unix_ms(T0 + 4000);
        // 400 bytes, 250 allowed: the open one is skipped, `a` and `b` go (200 left).
        let deleted = sweep(&settings(&dir, None, Some(250)), &catalog, &open, now);
        assert_eq!(deleted, [(a, DeleteReason::MaxBytes), (b, DeleteReason::MaxBytes)]);
        assert!(writing.exists() && c.exists());
        // Within the limit now: nothing more.
        assert!(sweep(&settings(&dir, None, Some(250)), &catalog, &open, now).is_empty());
        // Only what is being written would be left at 0 bytes allowed: it is kept.
        let deleted = sweep(&settings(&dir, None, Some(0)), &catalog, &open, now);
        assert_eq!(deleted.len(), 1);
        assert!(writing.exists());
    }
}
