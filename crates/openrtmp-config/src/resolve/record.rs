//! `record` to the server's recording settings and back.

use std::time::Duration;

use openrtmp_server::record::{Format, RecordRule, RecordSettings, ANY};

use super::Checker;
use crate::model::{RecordEntry, RecordFormat, RecordSection, RetentionSection};
use crate::unit::{ByteSize, HumanDuration};

fn format(f: RecordFormat) -> Format {
    match f {
        RecordFormat::Mp4 => Format::Mp4,
        RecordFormat::Flv => Format::Flv,
    }
}

fn format_back(f: Format) -> RecordFormat {
    match f {
        Format::Mp4 => RecordFormat::Mp4,
        Format::Flv => RecordFormat::Flv,
    }
}

/// `0` means no limit.
fn limit(d: Option<HumanDuration>) -> Option<Option<Duration>> {
    d.map(|d| Some(d.0).filter(|d| !d.is_zero()))
}

fn bytes_limit(b: Option<ByteSize>) -> Option<Option<u64>> {
    b.map(|b| Some(b.0).filter(|b| *b > 0))
}

/// The `record` section of a file into `r`.
pub(super) fn record(s: &RecordSection, r: &mut RecordSettings, k: &mut Checker) {
    if let Some(dir) = &s.dir {
        if dir.as_os_str().is_empty() {
            k.fail("record.dir", "is empty".into());
        }
        r.dir = dir.clone();
    }
    r.all = s.all.unwrap_or(r.all);
    r.format = s.format.map_or(r.format, format);
    r.segment_duration = limit(s.segment_duration).unwrap_or(r.segment_duration);
    r.segment_bytes = bytes_limit(s.segment_bytes).unwrap_or(r.segment_bytes);
    r.fragment_duration = limit(s.fragment_duration).unwrap_or(r.fragment_duration);
    if let Some(queue) = s.queue_bytes {
        r.queue_bytes = k.at_least("record.queue_bytes", queue.0, 1) as usize;
    }
    if let Some(retention) = &s.retention {
        r.retention.max_age = limit(retention.max_age).unwrap_or(r.retention.max_age);
        r.retention.max_bytes = bytes_limit(retention.max_bytes).unwrap_or(r.retention.max_bytes);
    }
    if let Some(rules) = &s.rules {
        r.rules = rules
            .iter()
            .enumerate()
            .map(|(i, e)| rule(e, &format!("record.rules[{i}]"), k))
            .collect();
    }
}

/// One `record.rules` entry: a name or `*` for app and stream.
fn rule(e: &RecordEntry, path: &str, k: &mut Checker) -> RecordRule {
    let mut name = |field: &str, value: &Option<String>| {
        let value = value.clone().unwrap_or_else(|| ANY.into());
        if value.is_empty() || value.contains(['/', '?']) {
            k.fail(
                &format!("{path}.{field}"),
                format!("{value:?} is not a name (\"*\" for every one)"),
            );
        }
        value
    };
    let mut rule = RecordRule::new(name("app", &e.app), name("stream", &e.stream));
    rule.format = e.format.map(format);
    rule.dir = e.dir.clone();
    rule.segment_duration = limit(e.segment_duration).flatten();
    rule.segment_bytes = bytes_limit(e.segment_bytes).flatten();
    rule
}

/// The recording settings for `config dump`.
pub(super) fn dump(r: &RecordSettings) -> RecordSection {
    let d = |v: Option<Duration>| Some(HumanDuration(v.unwrap_or_default()));
    let b = |v: Option<u64>| Some(ByteSize(v.unwrap_or(0)));
    RecordSection {
        dir: Some(r.dir.clone()),
        all: Some(r.all),
        rules: Some(
            r.rules
                .iter()
                .map(|rule| RecordEntry {
                    app: Some(rule.app.clone()),
                    stream: Some(rule.stream.clone()),
                    format: rule.format.map(format_back),
                    dir: rule.dir.clone(),
                    segment_duration: rule.segment_duration.map(HumanDuration),
                    segment_bytes: rule.segment_bytes.map(ByteSize),
                })
                .collect(),
        ),
        format: Some(format_back(r.format)),
        segment_duration: d(r.segment_duration),
        segment_bytes: b(r.segment_bytes),
        fragment_duration: d(r.fragment_duration),
        queue_bytes: Some(ByteSize(r.queue_bytes as u64)),
        retention: Some(RetentionSection {
            max_age: d(r.retention.max_age),
            max_bytes: b(r.retention.max_bytes),
        }),
    }
}
