//! `record.retention`: parsed into the server's settings, written back by dumps, zero age
//! refused with its path.

use std::time::Duration;

use super::*;

#[test]
fn record_retention_loads_and_dumps() {
    let text = r#"
record:
  retention:
    max_age: 7d
    max_bytes: 50GiB
"#;
    let c = check_str(text, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.record.retention.max_age, Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(c.record.retention.max_bytes, Some(50 << 30));
    let back = check_str(&dump(&c, Format::Yaml), Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.record.retention, c.record.retention);
    let none = check_str("listen: [\"127.0.0.1:1935\"]\n", Format::Yaml).unwrap();
    assert_eq!(none.record.retention, openrtmp_server::record::Retention::default());
    let err = check_str("record:\n  retention:\n    max_age: 0\n", Format::Yaml).unwrap_err();
    assert!(err.to_string().contains("record.retention.max_age"), "{err}");
    let err = check_str("record:\n  retention:\n    max_files: 3\n", Format::Yaml).unwrap_err();
    assert!(err.to_string().contains("max_files"), "{err}");
}
