//! `record`: parsing, defaults, rules, `0` as "no limit", dumps that load back, and
//! problems reported with their paths.

use std::path::PathBuf;
use std::time::Duration;

use openrtmp_hub::StreamKey;
use openrtmp_server::record::{Format as RecFormat, RecordRule, RecordSettings};

use super::*;

#[test]
fn record_defaults_record_nothing_in_mp4() {
    let c = check_str("{}", Format::Json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.record, RecordSettings::default());
    assert!(!c.record.all);
    assert_eq!(c.record.format, RecFormat::Mp4);
}

#[test]
fn record_loads_rules_and_limits_and_dumps_back() {
    let text = r#"
record:
  dir: /var/rec
  format: flv
  segment_duration: 10m
  segment_bytes: 0
  queue_bytes: 1MiB
  retention: { max_age: 7d, max_bytes: 10GiB }
  rules:
    - { app: live, stream: "*", format: mp4, segment_duration: 30s }
    - { stream: cam1, dir: /mnt/cams }
"#;
    let c = check_str(text, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let r = &c.record;
    assert_eq!(r.dir, PathBuf::from("/var/rec"));
    assert_eq!(r.format, RecFormat::Flv);
    assert_eq!(r.segment_duration, Some(Duration::from_secs(600)));
    assert_eq!(r.segment_bytes, None);
    assert_eq!(r.queue_bytes, 1 << 20);
    assert_eq!(r.retention.max_age, Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(r.retention.max_bytes, Some(10 << 30));
    let mut first = RecordRule::new("live", "*");
    first.format = Some(RecFormat::Mp4);
    first.segment_duration = Some(Duration::from_secs(30));
    let mut second = RecordRule::new("*", "cam1");
    second.dir = Some(PathBuf::from("/mnt/cams"));
    assert_eq!(r.rules, [first, second]);
    assert!(r.rules[0].matches(&StreamKey::new("live", "x")));
    assert!(!r.rules[1].matches(&StreamKey::new("live", "x")));
    let yaml = dump(&c, Format::Yaml);
    let back = check_str(&yaml, Format::Yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(back.record, c.record);
}

#[test]
fn record_problems_name_their_entry() {
    let text = r#"
record:
  format: avi
"#;
    let problems = messages(check_str(text, Format::Yaml));
    assert!(problems.iter().any(|p| p.starts_with("record.format")), "{problems:?}");
    let text = r#"{"record": {"rules": [{"app": "a/b"}], "queue_bytes": 0}}"#;
    let problems = messages(check_str(text, Format::Json));
    assert!(problems.iter().any(|p| p.starts_with("record.rules[0].app")), "{problems:?}");
    assert!(problems.iter().any(|p| p.starts_with("record.queue_bytes")), "{problems:?}");
}
