//! `record:` which streams are recorded, in which format and segments, and how long
//! files are kept.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{check, Item, Shape, Spec};
use crate::unit::{ByteSize, HumanDuration};

section! {
    /// `record:` recording of live streams to files.
    RecordSection {
        /// Where recordings go; default `recordings` (relative to the working directory).
        dir: PathBuf,
        /// Record every published stream; default false.
        all: bool,
        /// Streams recorded (after `all`): the first rule that matches applies; default none.
        rules: Vec<RecordEntry>,
        /// `mp4` (fragmented MP4, the default) or `flv`: of `all`, of API-started
        /// recordings and of rules without one.
        format: RecordFormat,
        /// A new segment at the first keyframe after this much media; default 1h; `0`: no
        /// limit.
        segment_duration: HumanDuration,
        /// A new segment at the first keyframe after this many bytes; default none (`0`).
        segment_bytes: ByteSize,
        /// An MP4 fragment ends at the first keyframe after this much media; default one
        /// fragment per GOP (`0`).
        fragment_duration: HumanDuration,
        /// What a recording may have waiting for the disk before it drops (then resumes
        /// at a keyframe in a new segment); default 32MiB.
        queue_bytes: ByteSize,
        /// Expiry of finished files, per directory.
        retention: RetentionSection,
    }
}

section! {
    /// One rule of `record.rules`.
    RecordEntry {
        /// The application whose streams are recorded; `*` (the default) for every one.
        app: String,
        /// The stream name; `*` (the default) for every stream of the app.
        stream: String,
        /// `mp4` or `flv`; default `record.format`.
        format: RecordFormat,
        /// Directory; default `record.dir`.
        dir: PathBuf,
        /// Segment duration; default `record.segment_duration`.
        segment_duration: HumanDuration,
        /// Segment size; default `record.segment_bytes`.
        segment_bytes: ByteSize,
    }
}

section! {
    /// `record.retention:` finished files deleted by age and by total size per directory.
    RetentionSection {
        /// Files older than this are deleted; default none (`0`: kept).
        max_age: HumanDuration,
        /// The oldest files are deleted while a directory holds more; default none.
        max_bytes: ByteSize,
    }
}

choice! {
    /// `record.format`, `record.rules[].format`.
    RecordFormat, "a recording format" {
        /// Fragmented MP4.
        Mp4 = "mp4",
        /// FLV.
        Flv = "flv",
    }
}

const ENTRY: Spec = super::plain("record rule", RecordEntry::KEYS, check::<RecordEntry>);
const RETENTION: Spec =
    super::plain("retention", RetentionSection::KEYS, check::<RetentionSection>);
pub(crate) const RECORD: Spec = Spec {
    name: "record",
    keys: RecordSection::KEYS,
    check: check::<RecordSection>,
    nested: &[
        ("rules", Shape::List(Item::Section(&ENTRY))),
        ("retention", Shape::Section(&RETENTION, false)),
    ],
};
