//! Video on demand: an RTMP `play` of a recording by its file name plays the file.
//!
//! Which play is a VOD play ([`find`]): the name (query stripped; a Wowza-style `mp4:` or
//! `flv:` prefix and the extension optional) is a segment file name
//! (`{stream}-{recording start}-{segment start}.{mp4|flv}`, checked by
//! [`openrtmp_record::SegmentName::parse`], so it can name no path outside the directory),
//! the file exists as `{dir}/{app}/{stream}/{file}` in one of the configured recording
//! directories (`record.dir`, then each rule's `dir`), and no live stream of that name is
//! published. Anything else is a live play, unchanged. The play is authorised exactly as a
//! live one (the decision is made before this is asked).
//!
//! The player (`vod/player.rs`) reads the file on a thread of its own
//! (`vod/reader.rs`, blocking `std::io` through [`openrtmp_record::vod::open`]) and sends
//! its messages paced by the wall clock.

use std::path::PathBuf;

use openrtmp_record::{name::sanitize, Format, SegmentName};

use crate::record::RecordSettings;

mod player;
mod reader;

pub(crate) use player::{PlayRange, VodPlayers};

/// A recording a `play` names: one segment file, or every segment of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VodFile {
    /// The files, in order (one for a segment).
    pub(crate) parts: Vec<(PathBuf, Format)>,
    /// The name played (what the API lists as the player's stream): a file name or a
    /// recording id.
    pub(crate) file_name: String,
}

/// The recording `requested` names in `app`, if it is one and it exists: a segment's file
/// name, else a recording id (`{stream}-{recording start}`: all its segments in order).
pub(crate) fn find(settings: &RecordSettings, app: &str, requested: &str) -> Option<VodFile> {
    let segment = candidates(requested).into_iter().find_map(|file_name| {
        let segment = SegmentName::parse(app, &file_name)?;
        let relative = PathBuf::from(sanitize(app)).join(&segment.stream).join(&file_name);
        directories(settings).into_iter().find_map(|dir| {
            let path = dir.join(&relative);
            path.is_file().then(|| VodFile {
                parts: vec![(path, segment.format)],
                file_name: file_name.clone(),
            })
        })
    });
    segment.or_else(|| find_recording(settings, app, requested))
}

/// Every segment of the recording `requested` (`{stream}-{recording start}`) names, in
/// order, from the first recording directory that holds one.
fn find_recording(settings: &RecordSettings, app: &str, requested: &str) -> Option<VodFile> {
    let id = requested.split('?').next().unwrap_or_default();
    let split = id.len().checked_sub(openrtmp_record::name::TIME_LEN + 1)?;
    let (stream, time) = (id.get(..split)?, id.get(split..)?.strip_prefix('-')?);
    let recording_ms = openrtmp_record::name::parse_time(time)?;
    if stream.is_empty() || sanitize(stream) != stream || id.contains(['/', '\\']) {
        return None;
    }
    directories(settings).into_iter().find_map(|dir| {
        let folder = dir.join(sanitize(app)).join(stream);
        let mut parts: Vec<(u64, PathBuf, Format)> = std::fs::read_dir(&folder)
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let name = SegmentName::parse(app, entry.file_name().to_str()?)?;
                let file = entry.file_type().ok()?.is_file();
                (file && name.stream == stream && name.recording_ms == recording_ms)
                    .then(|| (name.segment_ms, entry.path(), name.format))
            })
            .collect();
        parts.sort_by_key(|p| p.0);
        (!parts.is_empty()).then(|| VodFile {
            parts: parts.into_iter().map(|(_, path, format)| (path, format)).collect(),
            file_name: id.to_owned(),
        })
    })
}

/// `requested` without a Wowza-style `mp4:`/`flv:` prefix when the rest names a segment
/// file (FFmpeg sends `mp4:{name}.mp4` for a URL ending in `.mp4`): the name that is
/// authorised and looked up. Any other name is returned as it is (`:` is then refused by
/// the stream-name rules, as before).
pub(crate) fn strip_prefix(requested: &str) -> &str {
    let Some((prefix, rest)) = requested.split_once(':') else { return requested };
    let file = rest.split('?').next().unwrap_or_default();
    let segment = candidates(file).iter().any(|c| SegmentName::parse("", c).is_some());
    if Format::from_extension(prefix).is_some() && segment {
        rest
    } else {
        requested
    }
}

/// The file names `requested` may mean: query stripped, `mp4:`/`flv:` prefix removed, the
/// extension added when missing (the prefix's first, else both). Empty when the name holds
/// a path separator.
fn candidates(requested: &str) -> Vec<String> {
    let name = requested.split('?').next().unwrap_or_default();
    let (hint, name) = match name.split_once(':') {
        Some((prefix, rest)) => match Format::from_extension(prefix) {
            Some(format) => (Some(format), rest),
            None => return Vec::new(),
        },
        None => (None, name),
    };
    if name.contains(['/', '\\']) || name.is_empty() {
        return Vec::new();
    }
    let has_ext = name.rsplit_once('.').and_then(|(_, ext)| Format::from_extension(ext));
    match (has_ext, hint) {
        (Some(ext), Some(hint)) if ext != hint => Vec::new(),
        (Some(_), _) => vec![name.to_owned()],
        (None, Some(hint)) => vec![format!("{name}.{}", hint.extension())],
        (None, None) => {
            [Format::Mp4, Format::Flv].iter().map(|f| format!("{name}.{}", f.extension())).collect()
        }
    }
}

/// Every recording directory of the configuration, the default first, without repeats.
fn directories(settings: &RecordSettings) -> Vec<PathBuf> {
    let mut dirs = vec![settings.dir.clone()];
    for dir in settings.rules.iter().filter_map(|r| r.dir.clone()) {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "cam-20261206T145800.123Z-20261206T145810.000Z";

    #[test]
    fn names_a_player_may_use() {
        let mp4 = format!("{FILE}.mp4");
        let flv = format!("{FILE}.flv");
        assert_eq!(candidates(&mp4), vec![mp4.clone()]);
        assert_eq!(candidates(&format!("mp4:{mp4}?token=x")), vec![mp4.clone()]);
        assert_eq!(candidates(&format!("flv:{FILE}")), vec![flv.clone()]);
        assert_eq!(candidates(FILE), [mp4.clone(), flv.clone()]);
        assert!(candidates(&format!("flv:{mp4}")).is_empty());
        assert!(candidates(&format!("../{mp4}")).is_empty());
        assert!(candidates(&format!("..\\{mp4}")).is_empty());
        assert!(candidates(&format!("x:{mp4}")).is_empty());
    }

    #[test]
    fn a_prefix_is_stripped_only_before_a_segment_name() {
        let mp4 = format!("{FILE}.mp4");
        assert_eq!(strip_prefix(&format!("mp4:{mp4}?t=1")), format!("{mp4}?t=1"));
        assert_eq!(strip_prefix(&format!("FLV:{FILE}")), FILE);
        for kept in ["mp4:cam", "mp4:../x.mp4", "x:y", "cam", "rtmp:{FILE}.mp4"] {
            assert_eq!(strip_prefix(kept), kept);
        }
    }

    #[test]
    fn finds_files_in_every_recording_directory_and_nowhere_else() {
        let root = std::env::temp_dir().join(format!("openrtmp-vod-find-{}", std::process::id()));
        let (a, b) = (root.join("a"), root.join("b"));
        std::fs::create_dir_all(b.join("live/cam")).unwrap();
        std::fs::write(b.join(format!("live/cam/{FILE}.flv")), b"FLV").unwrap();
        std::fs::write(root.join(format!("{FILE}.flv")), b"FLV").unwrap();
        let mut settings = RecordSettings { dir: a, ..RecordSettings::default() };
        assert_eq!(find(&settings, "live", FILE), None);
        settings.rules.push(crate::record::RecordRule {
            app: "*".into(),
            stream: "*".into(),
            format: None,
            dir: Some(b.clone()),
            segment_duration: None,
            segment_bytes: None,
        });
        let found = find(&settings, "live", FILE).unwrap();
        assert_eq!(found.parts, [(b.join(format!("live/cam/{FILE}.flv")), Format::Flv)]);
        assert_eq!(find(&settings, "other", FILE), None);
        // The recording id: every segment of the recording, in order.
        let later = FILE.replace("145810.000Z", "145910.000Z");
        std::fs::write(b.join(format!("live/cam/{later}.mp4")), b"MP4").unwrap();
        let other = "cam-20261206T150000.000Z-20261206T150000.000Z";
        std::fs::write(b.join(format!("live/cam/{other}.flv")), b"FLV").unwrap();
        let whole = find(&settings, "live", "cam-20261206T145800.123Z").unwrap();
        assert_eq!(
            whole.parts,
            [
                (b.join(format!("live/cam/{FILE}.flv")), Format::Flv),
                (b.join(format!("live/cam/{later}.mp4")), Format::Mp4)
            ]
        );
        assert_eq!(whole.file_name, "cam-20261206T145800.123Z");
        for bad in
            ["cam-20261206T145800.124Z", "../cam-20261206T145800.123Z", "-20261206T145800.123Z"]
        {
            assert_eq!(find(&settings, "live", bad), None, "{bad}");
        }
        for bad in [format!("../../{FILE}.flv"), format!("..%2F..%2F{FILE}.flv"), "..".into()] {
            assert_eq!(find(&settings, "live", &bad), None, "{bad}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
