//! The writer of one recording: a dedicated blocking thread that owns the segment's file,
//! fed by the recording task through a channel bounded in bytes (`record.queue_bytes`).
//!
//! Why a thread of its own: a disk that stalls (a full NFS server, a dying drive) must
//! stall only this thread, never the tokio workers that carry the live stream. The task
//! never waits for it: it asks [`WriterHandle::try_append`], which refuses what does not
//! fit in the queue's byte budget (the task then drops the recording, not the stream).
//!
//! Crash safety: each [`Output`] is appended with one vectored write (looped only if the
//! kernel takes part of it), so a SIGKILL leaves whole tags or fragments behind. No fsync
//! per write; `sync_data` once when a segment closes. [`Patch`]es go in with positioned
//! writes after every appended byte.
//!
//! A file deleted (or replaced) under the writer is noticed by comparing the identity of
//! the file at the segment's path with the open handle's, at most once per
//! [`IDENTITY_CHECK_EVERY`]: writing on into an unlinked file would fill the disk with a
//! recording nobody can reach.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use openrtmp_record::{Output, Patch};
use tokio::sync::mpsc::UnboundedSender;

use super::fault::{Fault, FaultKind};

/// How often at most the writer checks that its file is still the one at its path.
pub const IDENTITY_CHECK_EVERY: Duration = Duration::from_secs(1);
/// At most this many queued outputs are appended with one write (an FLV tag is one output,
/// so a pump batch of tags goes out at once; an MP4 fragment is one output).
const MAX_BATCH_OUTPUTS: usize = 64;

/// What the task asks of its writer, in order.
#[derive(Debug)]
enum Command {
    /// Create the directories and a new file at the path (the previous one was closed).
    Open(PathBuf),
    /// Append one output with one write.
    Append(Output, usize),
    /// Finish the file: the last output, the patches, `sync_data`, close.
    Close(Output, Vec<Patch>),
}

/// What the writer tells its task.
#[derive(Debug)]
pub(super) enum Report {
    /// Bytes appended to the segment at the path.
    Written(u64),
    /// The segment at the path is closed, `bytes` long: complete and synced.
    Closed { path: PathBuf, bytes: u64 },
    /// The segment failed; nothing more is written until the next `Open`.
    Failed { path: PathBuf, fault: Fault },
}

/// The task's end of a writer.
#[derive(Debug)]
pub(super) struct WriterHandle {
    commands: mpsc::Sender<Command>,
    /// Bytes handed over and not yet written (or discarded).
    queued: Arc<AtomicUsize>,
    limit: usize,
}

impl WriterHandle {
    /// Starts the writer thread of a recording; reports come on `reports`.
    pub(super) fn spawn(
        name: String,
        limit: usize,
        reports: UnboundedSender<Report>,
    ) -> std::io::Result<WriterHandle> {
        let (commands, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&queued);
        std::thread::Builder::new()
            .name(name)
            .spawn(move || Writer { file: None, queued: counted, reports }.run(rx))?;
        Ok(WriterHandle { commands, queued, limit: limit.max(1) })
    }

    /// Bytes waiting for the disk now.
    pub(super) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Lets the writer thread end once it has done what it was given.
    pub(super) fn detach(&mut self) {
        self.commands = mpsc::channel().0;
    }

    /// Opens a new segment file at `path`.
    pub(super) fn open(&self, path: PathBuf) {
        let _ = self.commands.send(Command::Open(path));
    }

    /// Queues `output` unless it would take the queue past its byte limit: `false` then,
    /// and nothing is queued.
    pub(super) fn try_append(&self, output: Output) -> bool {
        let len: usize = output.iter().map(Bytes::len).sum();
        if len == 0 {
            return true;
        }
        let now = self.queued.load(Ordering::Acquire);
        if now.saturating_add(len) > self.limit {
            return false;
        }
        self.queued.fetch_add(len, Ordering::AcqRel);
        if self.commands.send(Command::Append(output, len)).is_err() {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Closes the segment: `tail` and `patches` go in whatever the queue holds (they are
    /// small, and a clean end is worth them).
    pub(super) fn close(&self, tail: Output, patches: Vec<Patch>) {
        let len: usize = tail.iter().map(Bytes::len).sum();
        self.queued.fetch_add(len, Ordering::AcqRel);
        let _ = self.commands.send(Command::Close(tail, patches));
    }
}

/// The open segment of the writer thread.
struct OpenFile {
    path: PathBuf,
    file: File,
    bytes: u64,
    /// The file's identity when opened (device, inode on Unix).
    identity: Option<(u64, u64)>,
    checked: Instant,
    /// A failure was reported: the rest of this segment is discarded.
    failed: bool,
}

struct Writer {
    file: Option<OpenFile>,
    queued: Arc<AtomicUsize>,
    reports: UnboundedSender<Report>,
}

impl Writer {
    fn run(mut self, commands: mpsc::Receiver<Command>) {
        // Ends when the task drops its handle (recording over); a segment still open then
        // was closed by the task first.
        while let Ok(first) = commands.recv() {
            let mut next = Some(first);
            while let Some(command) = next.take() {
                match command {
                    Command::Open(path) => self.open(path),
                    Command::Append(output, len) => {
                        // What else is queued already goes out with the same write (one
                        // syscall and one report for a pump batch of FLV tags, not one
                        // each); every output in it is whole, so the file still ends on a
                        // tag or fragment whatever happens to the write.
                        let (mut batch, mut bytes) = (vec![output], len);
                        while batch.len() < MAX_BATCH_OUTPUTS {
                            match commands.try_recv() {
                                Ok(Command::Append(output, len)) => {
                                    batch.push(output);
                                    bytes += len;
                                }
                                Ok(other) => {
                                    next = Some(other);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        self.append(&batch);
                        self.queued.fetch_sub(bytes, Ordering::AcqRel);
                    }
                    Command::Close(tail, patches) => {
                        let len: usize = tail.iter().map(Bytes::len).sum();
                        self.append(std::slice::from_ref(&tail));
                        self.queued.fetch_sub(len, Ordering::AcqRel);
                        self.close(&patches);
                    }
                }
            }
        }
    }

    fn report(&self, report: Report) {
        report_to(&self.reports, report);
    }

    fn open(&mut self, path: PathBuf) {
        self.file = None;
        let opened = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| OpenOptions::new().write(true).create_new(true).open(&path));
        match opened {
            Ok(file) => {
                let identity = file.metadata().ok().and_then(|m| identity(&m));
                self.file = Some(OpenFile {
                    path,
                    file,
                    bytes: 0,
                    identity,
                    checked: Instant::now(),
                    failed: false,
                });
            }
            Err(e) => self.report(Report::Failed { path, fault: Fault::from_io("open", &e) }),
        }
    }

    /// Appends `outputs` in order, with one write as a rule.
    fn append(&mut self, outputs: &[Output]) {
        let Some(open) = self.file.as_mut().filter(|f| !f.failed) else { return };
        if outputs.iter().all(Vec::is_empty) {
            return;
        }
        if open.checked.elapsed() >= IDENTITY_CHECK_EVERY {
            open.checked = Instant::now();
            if !still_there(open) {
                open.failed = true;
                let fault = Fault::new(FaultKind::Deleted, "the file was deleted or replaced");
                report_to(&self.reports, Report::Failed { path: open.path.clone(), fault });
                return;
            }
        }
        match write_all_vectored(&mut open.file, outputs) {
            Ok(n) => {
                open.bytes += n;
                report_to(&self.reports, Report::Written(n));
            }
            Err(e) => {
                open.failed = true;
                // A partial output may be on disk: cut it off so the file ends on a whole
                // tag or fragment (best effort: the disk may refuse this too).
                let _ = open.file.set_len(open.bytes);
                let fault = Fault::from_io("write", &e);
                report_to(&self.reports, Report::Failed { path: open.path.clone(), fault });
            }
        }
    }

    fn close(&mut self, patches: &[Patch]) {
        let Some(mut open) = self.file.take() else { return };
        if open.failed {
            return;
        }
        let mut finish = || -> std::io::Result<()> {
            for patch in patches {
                open.file.seek(SeekFrom::Start(patch.offset))?;
                open.file.write_all(&patch.bytes)?;
            }
            open.file.sync_data()
        };
        match finish() {
            Ok(()) => self.report(Report::Closed { path: open.path, bytes: open.bytes }),
            Err(e) => {
                self.report(Report::Failed { path: open.path, fault: Fault::from_io("close", &e) })
            }
        }
    }
}

/// Tells the task (gone already when the recording ended: nothing to tell then).
fn report_to(reports: &UnboundedSender<Report>, report: Report) {
    let _ = reports.send(report);
}

/// Appends every slice of `outputs` with as few writes as the kernel allows (one, as a
/// rule); the bytes written.
fn write_all_vectored(file: &mut File, outputs: &[Output]) -> std::io::Result<u64> {
    let total: usize = outputs.iter().flatten().map(Bytes::len).sum();
    let mut slices: Vec<IoSlice<'_>> = outputs.iter().flatten().map(|b| IoSlice::new(b)).collect();
    let mut rest = &mut slices[..];
    let mut written = 0;
    while written < total {
        let n = file.write_vectored(rest)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        written += n;
        IoSlice::advance_slices(&mut rest, n);
    }
    Ok(total as u64)
}

/// Whether the file at the segment's path is still the one the writer holds.
fn still_there(open: &OpenFile) -> bool {
    match std::fs::metadata(&open.path) {
        Ok(meta) => open.identity.is_none() || identity(&meta) == open.identity,
        Err(_) => false,
    }
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

/// Elsewhere only a missing path is noticed (Windows keeps a file open for writing from
/// being deleted anyway).
#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}
