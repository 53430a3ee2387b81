//! `record.retention` to the server's recording settings and back.

use openrtmp_server::record::RecordSettings;

use super::Checker;
use crate::model::{RecordSection, RetentionSection};
use crate::unit::{ByteSize, HumanDuration};

/// The retention of `s` into `r`: `max_age` must be positive (`0` would delete every
/// finished file at once; leave it out to keep files).
pub(super) fn record(s: &RecordSection, r: &mut RecordSettings, k: &mut Checker) {
    let Some(retention) = &s.retention else { return };
    if let Some(age) = retention.max_age {
        if age.0.is_zero() {
            let hint = "0 would delete every finished recording; leave it out to keep them";
            k.fail("record.retention.max_age", hint.into());
        }
        r.retention.max_age = Some(age.0);
    }
    if let Some(bytes) = retention.max_bytes {
        r.retention.max_bytes = Some(bytes.0);
    }
}

/// `record` of `r` for `config dump`.
pub(super) fn dump(r: &RecordSettings) -> RecordSection {
    let retention = RetentionSection {
        max_age: r.retention.max_age.map(HumanDuration),
        max_bytes: r.retention.max_bytes.map(ByteSize),
    };
    RecordSection { retention: (!retention.is_empty()).then_some(retention) }
}
