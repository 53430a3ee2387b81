//! Why a segment ends, and what follows: the one table ([`End::disposition`]).
//!
//! A segment ends for one of these reasons and nothing else; each has one disposition
//! (whether it is an error, its metric label, when the recording resumes and how loudly it
//! is logged). A fault of the disk is the recording's business only: the live stream and
//! its viewers go on, and the recording tries again every [`RETRY_AFTER`].

use std::time::Duration;

/// After a fault of the disk, the recording tries a new segment this long after (at the
/// next keyframe then): often enough to resume soon once space is freed or the directory
/// is back, rarely enough not to spin on a disk that stays broken.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

/// What went wrong with the disk, as the metric's `kind` label and the API say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// No space left on the device (ENOSPC) or over quota (EDQUOT).
    DiskFull,
    /// The directory or file may not be written (read-only file system, permissions).
    ReadOnly,
    /// The directory is missing and cannot be made (a path below a regular file, ...).
    NoDirectory,
    /// The segment's file was deleted or replaced under the writer.
    Deleted,
    /// Any other I/O error.
    Io,
}

impl FaultKind {
    /// Every kind, in the order of [`FaultKind::index`] (metric labels).
    pub const ALL: [FaultKind; 5] = [
        FaultKind::DiskFull,
        FaultKind::ReadOnly,
        FaultKind::NoDirectory,
        FaultKind::Deleted,
        FaultKind::Io,
    ];

    /// The metric label and API name: `disk_full`, `read_only`, `no_directory`,
    /// `deleted`, `io`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::DiskFull => "disk_full",
            FaultKind::ReadOnly => "read_only",
            FaultKind::NoDirectory => "no_directory",
            FaultKind::Deleted => "deleted",
            FaultKind::Io => "io",
        }
    }

    /// Position in [`FaultKind::ALL`].
    pub fn index(self) -> usize {
        FaultKind::ALL.iter().position(|k| *k == self).unwrap_or(FaultKind::ALL.len() - 1)
    }
}

/// A fault of the disk with its reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What kind of fault.
    pub kind: FaultKind,
    /// What happened, in words (the operation and the system's message).
    pub reason: String,
}

impl Fault {
    pub(crate) fn new(kind: FaultKind, reason: impl Into<String>) -> Fault {
        Fault { kind, reason: reason.into() }
    }

    /// The fault of an I/O error during `op` (`open`, `write`, `close`).
    pub(crate) fn from_io(op: &str, e: &std::io::Error) -> Fault {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            K::StorageFull | K::QuotaExceeded => FaultKind::DiskFull,
            K::ReadOnlyFilesystem | K::PermissionDenied => FaultKind::ReadOnly,
            K::NotFound | K::NotADirectory => FaultKind::NoDirectory,
            _ => FaultKind::Io,
        };
        Fault::new(kind, format!("{op}: {e}"))
    }
}

/// Why a segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// `segment_duration` or `segment_bytes` reached (at a keyframe).
    Rotated,
    /// The publisher went away or a new one was spliced in: the recording goes on in a new
    /// segment with the next publication or source.
    Republished,
    /// The stream ended and no publisher came back in time.
    StreamEnded,
    /// Stopped through the API.
    Stopped,
    /// The server shuts down.
    Shutdown,
    /// The writer's queue was full (the disk is slower than the stream): what did not fit
    /// was dropped.
    QueueFull,
    /// A fault of the disk.
    Fault(Fault),
}

/// When the recording goes on after a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    /// At the next keyframe.
    NextKeyframe,
    /// At the first keyframe once the writer's queue has drained.
    WhenDrained,
    /// At the first keyframe [`RETRY_AFTER`] from now.
    AfterRetryDelay,
    /// With the next publication (if one comes in time).
    NextPublication,
    /// Never: the recording is over.
    Never,
}

/// What follows from an [`End`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Disposition {
    /// The `kind` of `openrtmp_recording_errors_total`, for an error.
    pub(crate) metric: Option<&'static str>,
    pub(crate) resume: Resume,
    /// Logged as a warning (else informational).
    pub(crate) warn: bool,
}

impl End {
    /// The one table.
    pub(crate) fn disposition(&self) -> Disposition {
        let d = |metric, resume, warn| Disposition { metric, resume, warn };
        match self {
            End::Rotated => d(None, Resume::NextKeyframe, false),
            End::Republished => d(None, Resume::NextPublication, false),
            End::StreamEnded | End::Stopped | End::Shutdown => d(None, Resume::Never, false),
            End::QueueFull => d(Some("queue_full"), Resume::WhenDrained, true),
            // A deleted file is replaced by a new one at once: the disk is fine.
            End::Fault(f) if f.kind == FaultKind::Deleted => {
                d(Some(f.kind.name()), Resume::NextKeyframe, true)
            }
            End::Fault(f) => d(Some(f.kind.name()), Resume::AfterRetryDelay, true),
        }
    }

    /// The reason in words, for logs and the API.
    pub(crate) fn reason(&self) -> String {
        match self {
            End::Rotated => "segment limit reached".into(),
            End::Republished => "the publisher changed".into(),
            End::StreamEnded => "the stream ended".into(),
            End::Stopped => "stopped through the API".into(),
            End::Shutdown => "the server shuts down".into(),
            End::QueueFull => "the disk is slower than the stream: recording dropped".into(),
            End::Fault(f) => format!("{}: {}", f.kind.name(), f.reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_kinds() {
        let kind = |k| Fault::from_io("write", &std::io::Error::from(k)).kind;
        assert_eq!(kind(std::io::ErrorKind::StorageFull), FaultKind::DiskFull);
        assert_eq!(kind(std::io::ErrorKind::ReadOnlyFilesystem), FaultKind::ReadOnly);
        assert_eq!(kind(std::io::ErrorKind::PermissionDenied), FaultKind::ReadOnly);
        assert_eq!(kind(std::io::ErrorKind::NotADirectory), FaultKind::NoDirectory);
        assert_eq!(kind(std::io::ErrorKind::Other), FaultKind::Io);
        for k in FaultKind::ALL {
            assert_eq!(FaultKind::ALL[k.index()], k);
        }
    }

    #[test]
    fn only_faults_and_drops_are_errors_and_only_the_disk_waits() {
        for end in [End::Rotated, End::Republished, End::StreamEnded, End::Stopped, End::Shutdown] {
            assert_eq!(end.disposition().metric, None, "{end:?}");
        }
        let full = End::Fault(Fault::new(FaultKind::DiskFull, "x"));
        assert_eq!(full.disposition().resume, Resume::AfterRetryDelay);
        let deleted = End::Fault(Fault::new(FaultKind::Deleted, "x"));
        assert_eq!(deleted.disposition().resume, Resume::NextKeyframe);
        assert_eq!(End::QueueFull.disposition().resume, Resume::WhenDrained);
    }
}
