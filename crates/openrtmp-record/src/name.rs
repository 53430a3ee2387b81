//! Segment file names: `{dir}/{app}/{stream}/{stream}-{recording start}-{segment start}.{ext}`,
//! times in UTC as `YYYYMMDDTHHMMSS.mmmZ` (ISO 8601 basic format: sortable, and no `:`, which
//! Windows forbids in file names). The recording start names the recording (every segment
//! of one recording shares it: a rotation or a publisher's reconnect opens a new segment of
//! the same recording); the segment start makes each file's name unique and sortable.
//!
//! App and stream names are made safe for a path by [`sanitize`]: anything but ASCII
//! letters, digits, `_`, `.` and `-` becomes `_`, and a leading `.` too (no `..`, no hidden
//! files).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Format;

/// Length of a time in a name: `20261206T145800.123Z`.
pub const TIME_LEN: usize = 20;

/// One segment's name, parsed or to be made.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SegmentName {
    /// Application, sanitized.
    pub app: String,
    /// Stream, sanitized.
    pub stream: String,
    /// When the recording started (ms since the Unix epoch, UTC).
    pub recording_ms: u64,
    /// When this segment started (ms since the Unix epoch, UTC).
    pub segment_ms: u64,
    /// The file's format.
    pub format: Format,
}

impl SegmentName {
    /// A segment of `app`/`stream` (sanitized here) in `format`.
    pub fn new(
        app: &str,
        stream: &str,
        recording: SystemTime,
        segment: SystemTime,
        format: Format,
    ) -> Self {
        SegmentName {
            app: sanitize(app),
            stream: sanitize(stream),
            recording_ms: unix_ms(recording),
            segment_ms: unix_ms(segment),
            format,
        }
    }

    /// The file name: `{stream}-{recording}-{segment}.{ext}`.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}",
            self.stream,
            format_time(self.recording_ms),
            format_time(self.segment_ms),
            self.format.extension()
        )
    }

    /// The path below a recording directory: `{app}/{stream}/{file name}` (with `/`).
    pub fn relative_path(&self) -> String {
        format!("{}/{}/{}", self.app, self.stream, self.file_name())
    }

    /// The recording's id, shared by all its segments: `{stream}-{recording start}`.
    pub fn recording_id(&self) -> String {
        format!("{}-{}", self.stream, format_time(self.recording_ms))
    }

    /// Parses a file name made by [`SegmentName::file_name`] in the directory of `app`;
    /// `None` for any other file.
    pub fn parse(app: &str, file_name: &str) -> Option<SegmentName> {
        let (rest, ext) = file_name.rsplit_once('.')?;
        let format = Format::from_extension(ext)?;
        // `{stream}-{recording}-{segment}`: the two times have a fixed length.
        let split = rest.len().checked_sub(2 * TIME_LEN + 2)?;
        let (stream, times) = (rest.get(..split)?, rest.get(split..)?);
        let times = times.strip_prefix('-')?;
        let (recording, segment) = (times.get(..TIME_LEN)?, times.get(TIME_LEN + 1..)?);
        if times.as_bytes().get(TIME_LEN) != Some(&b'-')
            || stream.is_empty()
            || sanitize(stream) != stream
        {
            return None;
        }
        Some(SegmentName {
            app: app.to_owned(),
            stream: stream.to_owned(),
            recording_ms: parse_time(recording)?,
            segment_ms: parse_time(segment)?,
            format,
        })
    }
}

/// A name made safe as one path component (see the module documentation).
pub fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '_' })
        .collect();
    if out.is_empty() {
        out.push('_');
    }
    if out.starts_with('.') {
        out.replace_range(..1, "_");
    }
    out
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The time `ms` after the epoch.
pub fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// `YYYYMMDDTHHMMSS.mmmZ` for `ms` after the Unix epoch, UTC.
pub fn format_time(ms: u64) -> String {
    let (secs, milli) = (ms / 1000, ms % 1000);
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let (hh, mm, ss) = (day_secs / 3600, day_secs / 60 % 60, day_secs % 60);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}.{milli:03}Z")
}

/// The inverse of [`format_time`]; `None` for anything else.
pub fn parse_time(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != TIME_LEN
        || b.get(8) != Some(&b'T')
        || b.get(15) != Some(&b'.')
        || b.get(19) != Some(&b'Z')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss, milli) = (num(9..11)?, num(11..13)?, num(13..15)?, num(16..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let days = u64::try_from(days_from_civil(y as i64, mo as u32, d as u32)).ok()?;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + milli)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_and_parse_back() {
        // 2026-12-06T14:58:00.123Z
        let ms = 1_796_569_080_123;
        assert_eq!(format_time(ms), "20261206T145800.123Z");
        assert_eq!(parse_time("20261206T145800.123Z"), Some(ms));
        assert_eq!(format_time(0), "19700101T000000.000Z");
        assert_eq!(
            parse_time("20000229T235959.999Z").map(format_time).as_deref(),
            Some("20000229T235959.999Z")
        );
        for bad in [
            "",
            "20261306T145800.123Z",
            "20261206 145800.123Z",
            "20261206T145800.123",
            "20261206T145800.12xZ",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_round_trip_and_sort() {
        let rec = from_unix_ms(1_796_569_080_123);
        let seg = from_unix_ms(1_796_569_090_000);
        let name = SegmentName::new("live", "my-cam", rec, seg, Format::Mp4);
        assert_eq!(name.file_name(), "my-cam-20261206T145800.123Z-20261206T145810.000Z.mp4");
        assert_eq!(
            name.relative_path(),
            "live/my-cam/my-cam-20261206T145800.123Z-20261206T145810.000Z.mp4"
        );
        assert_eq!(name.recording_id(), "my-cam-20261206T145800.123Z");
        assert_eq!(SegmentName::parse("live", &name.file_name()), Some(name.clone()));
        let later = SegmentName { segment_ms: name.segment_ms + 1, ..name.clone() };
        assert!(later.file_name() > name.file_name());
        for bad in [
            "x.mp4",
            "cam.txt",
            "-20261206T145800.123Z-20261206T145810.000Z.mp4",
            "a b-20261206T145800.123Z-20261206T145810.000Z.flv",
        ] {
            assert_eq!(SegmentName::parse("live", bad), None, "{bad}");
        }
    }

    #[test]
    fn sanitize_keeps_names_inside_their_directory() {
        assert_eq!(sanitize("cam_1.hd-x"), "cam_1.hd-x");
        assert_eq!(sanitize("../etc/passwd"), "_._etc_passwd");
        assert_eq!(sanitize(".."), "_.");
        assert_eq!(sanitize(""), "_");
        assert_eq!(sanitize("ключ?a=b"), "_____a_b");
    }
}
