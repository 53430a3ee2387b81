//! `record:` recording. Only `record.retention` is here yet (the catalog's keys); the
//! recorder's keys (`dir`, `all`, `rules`, `format`, segment sizes) join this section.

use serde::{Deserialize, Serialize};

use super::{check, Shape, Spec};
use crate::unit::{ByteSize, HumanDuration};

section! {
    /// `record:` which streams are recorded, how, and for how long files are kept.
    RecordSection {
        /// Expiry of finished recordings, per recording directory.
        retention: RetentionSection,
    }
}

section! {
    /// `record.retention:` finished recordings deleted by age and by total size, per
    /// recording directory (segments being written are never deleted).
    RetentionSection {
        /// Segments that started longer ago than this are deleted; default none (kept).
        max_age: HumanDuration,
        /// The oldest segments are deleted while a directory holds more; default none.
        max_bytes: ByteSize,
    }
}

const RETENTION: Spec = Spec {
    name: "retention",
    keys: RetentionSection::KEYS,
    check: check::<RetentionSection>,
    nested: &[],
};

pub(crate) const RECORD: Spec = Spec {
    name: "record",
    keys: RecordSection::KEYS,
    check: check::<RecordSection>,
    nested: &[("retention", Shape::Section(&RETENTION, false))],
};
