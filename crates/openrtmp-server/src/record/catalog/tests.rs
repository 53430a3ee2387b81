use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use openrtmp_testkit::TempDir;

use super::*;
use crate::record::OpenSegment;

/// 2026-12-06T14:58:00.000Z.
const T0: u64 = 1_796_569_080_000;

fn make(
    dir: &Path,
    app: &str,
    stream: &str,
    rec_ms: u64,
    seg_ms: u64,
    fmt: Format,
    len: usize,
) -> PathBuf {
    let name = SegmentName::new(app, stream, from_unix_ms(rec_ms), from_unix_ms(seg_ms), fmt);
    let path = dir.join(name.relative_path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, vec![0u8; len]).unwrap();
    path
}

/// A probe that answers the file's size as its duration and counts its calls.
static PROBES: AtomicUsize = AtomicUsize::new(0);
fn size_probe(path: &Path, _: Format) -> Option<u64> {
    PROBES.fetch_add(1, Ordering::SeqCst);
    std::fs::metadata(path).ok().map(|m| m.len())
}

#[test]
fn lists_segments_newest_first_and_ignores_other_files() {
    let tmp = TempDir::new("catalog-list");
    let dir = tmp.0.clone();
    make(&dir, "live", "cam", T0, T0, Format::Mp4, 10);
    make(&dir, "live", "cam", T0, T0 + 60_000, Format::Mp4, 20);
    make(&dir, "live", "other", T0 + 1000, T0 + 1000, Format::Flv, 30);
    // Not segments: a stray file, a name of another stream, a misnamed directory.
    std::fs::write(dir.join("live/cam/notes.txt"), b"x").unwrap();
    let elsewhere =
        SegmentName::new("live", "zzz", from_unix_ms(T0), from_unix_ms(T0), Format::Mp4);
    std::fs::write(dir.join("live/cam").join(elsewhere.file_name()), b"x").unwrap();
    std::fs::create_dir_all(dir.join("bad app/cam")).unwrap();
    std::fs::write(dir.join("bad app/cam").join(elsewhere.file_name()), b"x").unwrap();

    let catalog = Catalog::with(|_, _| Some(5), MAX_LISTED);
    let open = OpenSegments::default();
    let list = catalog.list(std::slice::from_ref(&dir), &open, &RecordingFilter::default());
    assert!(!list.truncated);
    let names: Vec<(&str, u64)> =
        list.recordings.iter().map(|r| (r.stream.as_str(), r.bytes)).collect();
    assert_eq!(names, [("cam", 20), ("other", 30), ("cam", 10)]);
    let first = &list.recordings[0];
    assert_eq!(first.recording_id, "cam-20261206T145800.000Z");
    assert_eq!(first.file_name, "cam-20261206T145800.000Z-20261206T145900.000Z.mp4");
    assert_eq!(first.segment_start, from_unix_ms(T0 + 60_000));
    assert_eq!(first.duration_ms, Some(5));
    assert_eq!(first.path, dir.join("live/cam").join(&first.file_name));
    assert!(!first.recording);
}

#[test]
fn filters_by_names_recording_and_time() {
    let tmp = TempDir::new("catalog-filter");
    let dir = tmp.0.clone();
    make(&dir, "live", "cam", T0, T0, Format::Mp4, 1);
    make(&dir, "live", "cam", T0, T0 + 60_000, Format::Mp4, 1);
    make(&dir, "live", "cam", T0 + 600_000, T0 + 600_000, Format::Flv, 1);
    make(&dir, "tv", "cam", T0, T0, Format::Mp4, 1);
    // Every segment lasts 30 s.
    let catalog = Catalog::with(|_, _| Some(30_000), MAX_LISTED);
    let open = OpenSegments::default();
    let count =
        |f: RecordingFilter| catalog.list(std::slice::from_ref(&dir), &open, &f).recordings.len();
    assert_eq!(count(RecordingFilter::default()), 4);
    assert_eq!(count(RecordingFilter { app: Some("tv".into()), ..Default::default() }), 1);
    assert_eq!(count(RecordingFilter { stream: Some("nope".into()), ..Default::default() }), 0);
    let rec = Some("cam-20261206T145800.000Z".to_owned());
    let by_rec = RecordingFilter { app: Some("live".into()), recording: rec, ..Default::default() };
    assert_eq!(count(by_rec), 2);
    // `from` keeps segments still running at that time: T0's ends at T0 + 30 s.
    let from = |ms| RecordingFilter { from: Some(from_unix_ms(ms)), ..Default::default() };
    assert_eq!(count(from(T0 + 29_000)), 4);
    assert_eq!(count(from(T0 + 31_000)), 2);
    let to = RecordingFilter { to: Some(from_unix_ms(T0 + 59_999)), ..Default::default() };
    assert_eq!(count(to), 2);
    let window = RecordingFilter {
        from: Some(from_unix_ms(T0 + 31_000)),
        to: Some(from_unix_ms(T0 + 60_000)),
        ..Default::default()
    };
    assert_eq!(count(window), 1);
}

#[test]
fn durations_are_read_once_per_size_and_mtime() {
    let tmp = TempDir::new("catalog-cache");
    let dir = tmp.0.clone();
    let path = make(&dir, "live", "cam", T0, T0, Format::Mp4, 100);
    let catalog = Catalog::with(size_probe, MAX_LISTED);
    let open = OpenSegments::default();
    let list = || catalog.list(std::slice::from_ref(&dir), &open, &RecordingFilter::default());
    let before = PROBES.load(Ordering::SeqCst);
    assert_eq!(list().recordings[0].duration_ms, Some(100));
    assert_eq!(list().recordings[0].duration_ms, Some(100));
    assert_eq!(PROBES.load(Ordering::SeqCst) - before, 1, "second listing reads nothing");
    // A listing of another stream reads neither this file nor its directory, and keeps
    // what the cache knows of it.
    let other = RecordingFilter { stream: Some("other".into()), ..Default::default() };
    assert!(catalog.list(std::slice::from_ref(&dir), &open, &other).recordings.is_empty());
    assert_eq!(lock(&catalog.cache).len(), 1);
    std::fs::write(&path, vec![0u8; 150]).unwrap();
    assert_eq!(list().recordings[0].duration_ms, Some(150), "a changed file is read again");
    assert_eq!(PROBES.load(Ordering::SeqCst) - before, 2);
    std::fs::remove_file(&path).unwrap();
    assert!(list().recordings.is_empty());
    assert!(lock(&catalog.cache).is_empty(), "a file gone is forgotten");
}

#[test]
fn a_segment_being_written_carries_the_recorders_figures_and_is_not_deleted() {
    let tmp = TempDir::new("catalog-open");
    let dir = tmp.0.clone();
    let path = make(&dir, "live", "cam", T0, T0, Format::Flv, 10);
    let open = OpenSegments::default();
    let segment = OpenSegment {
        app: "live".into(),
        stream: "cam".into(),
        started: from_unix_ms(T0),
        bytes: 4096,
        duration_ms: 7000,
    };
    open.set(path.clone(), segment);
    let catalog = Catalog::with(|_, _| panic!("an open segment is not read"), MAX_LISTED);
    let list = catalog.list(std::slice::from_ref(&dir), &open, &RecordingFilter::default());
    let r = &list.recordings[0];
    assert!(r.recording);
    assert_eq!((r.bytes, r.duration_ms), (4096, Some(7000)));
    let err = catalog.delete(&open, &path, DeleteReason::Api).unwrap_err();
    assert!(matches!(err, CatalogError::Busy { .. }), "{err:?}");
    assert!(path.exists());
}

#[test]
fn a_walk_is_bounded() {
    let tmp = TempDir::new("catalog-bound");
    let dir = tmp.0.clone();
    for i in 0..5 {
        make(&dir, "live", "cam", T0, T0 + i * 1000, Format::Mp4, 1);
    }
    let catalog = Catalog::with(|_, _| None, 3);
    let list = catalog.list(&[dir], &OpenSegments::default(), &RecordingFilter::default());
    assert_eq!(list.recordings.len(), 3);
    assert!(list.truncated);
}

#[test]
fn names_from_outside_are_checked_before_any_path_is_made() {
    let tmp = TempDir::new("catalog-names");
    let dir = tmp.0.clone();
    let path = make(&dir, "live", "cam", T0, T0, Format::Mp4, 1);
    let file = path.file_name().unwrap().to_str().unwrap().to_owned();
    let catalog = Catalog::default();
    let open = OpenSegments::default();
    let find = |a: &str, s: &str, f: &str| catalog.find(std::slice::from_ref(&dir), &open, a, s, f);
    assert_eq!(find("live", "cam", &file).unwrap().path, path);
    for (a, s, f) in [
        ("..", "cam", file.as_str()),
        ("live/..", "cam", file.as_str()),
        ("live", "../live/cam", file.as_str()),
        ("/etc", "cam", file.as_str()),
        ("live", "cam", "../cam/x.mp4"),
        ("live", "cam", "/etc/passwd"),
        ("live", "other", file.as_str()),
        ("live", "cam", "cam-20261206T145800.000Z-20261206T145800.000Z.MP4"),
    ] {
        let err = find(a, s, f).unwrap_err();
        assert!(matches!(err, CatalogError::BadName { .. }), "{a} {s} {f}: {err:?}");
    }
    let missing =
        SegmentName::new("live", "cam", from_unix_ms(T0), from_unix_ms(T0 + 1), Format::Mp4);
    let err = find("live", "cam", &missing.file_name()).unwrap_err();
    assert!(matches!(err, CatalogError::NotFound { .. }), "{err:?}");
}

#[cfg(unix)]
#[test]
fn links_are_not_followed() {
    let tmp = TempDir::new("catalog-links");
    let (dir, outside) = (tmp.0.join("rec"), tmp.0.join("outside"));
    let secret = make(&outside, "live", "cam", T0, T0, Format::Mp4, 1);
    std::fs::create_dir_all(dir.join("live/cam")).unwrap();
    // A linked app directory, and a linked file inside a real one.
    std::os::unix::fs::symlink(outside.join("live"), dir.join("tv")).unwrap();
    let file = secret.file_name().unwrap();
    std::os::unix::fs::symlink(&secret, dir.join("live/cam").join(file)).unwrap();
    let catalog = Catalog::with(|_, _| None, MAX_LISTED);
    let open = OpenSegments::default();
    let list = catalog.list(std::slice::from_ref(&dir), &open, &RecordingFilter::default());
    assert!(list.recordings.is_empty(), "{list:?}");
    let file = file.to_str().unwrap();
    for app in ["live", "tv"] {
        let err = catalog.find(std::slice::from_ref(&dir), &open, app, "cam", file).unwrap_err();
        assert!(matches!(err, CatalogError::NotFound { .. }), "{app}: {err:?}");
    }
}

#[test]
fn deleting_removes_emptied_directories_and_counts() {
    let tmp = TempDir::new("catalog-delete");
    let dir = tmp.0.clone();
    let a = make(&dir, "live", "cam", T0, T0, Format::Mp4, 1);
    let b = make(&dir, "live", "other", T0, T0, Format::Mp4, 1);
    let catalog = Catalog::default();
    let open = OpenSegments::default();
    catalog.delete(&open, &a, DeleteReason::Api).unwrap();
    assert!(!dir.join("live/cam").exists());
    assert!(dir.join("live").exists(), "another stream is still there");
    catalog.delete(&open, &b, DeleteReason::MaxAge).unwrap();
    assert!(!dir.join("live").exists());
    assert!(dir.exists(), "the recording directory itself stays");
    assert_eq!(catalog.deleted(), [("max_age", 1), ("max_bytes", 0), ("api", 1)]);
}

#[test]
fn recording_dirs_are_the_default_and_each_rules_once() {
    let mut settings = RecordSettings::default();
    let rule = |dir: Option<&str>| crate::record::RecordRule {
        app: "*".into(),
        stream: "*".into(),
        format: None,
        dir: dir.map(PathBuf::from),
        segment_duration: None,
        segment_bytes: None,
    };
    settings.rules = vec![rule(Some("a")), rule(None), rule(Some("a")), rule(Some("b"))];
    let dirs = recording_dirs(&settings);
    assert_eq!(dirs, [PathBuf::from("recordings"), "a".into(), "b".into()]);
    let _ = Duration::ZERO;
}
