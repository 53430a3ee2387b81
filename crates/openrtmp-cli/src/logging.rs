//! Logging for the `openrtmp` binary: one global `tracing` subscriber with a
//! run-time reloadable filter, human text or JSON lines, written to stderr
//! and/or a rotated file through `tracing-appender`'s non-blocking writer.
//!
//! Why non-blocking: the writer runs on its own thread and drops lines when its
//! queue is full, so a slow disk or a blocked terminal never stalls the tokio
//! runtime that moves media. The [`LogHandle`] keeps the writer threads alive;
//! hold it until `main` returns (lines still queued are lost on
//! `std::process::exit`).
//!
//! JSON lines carry `timestamp`, `level`, `target`, `message` (plus any other
//! event fields) at the top level and the fields of the innermost span under
//! `span` — the per-connection span holds `conn_id`, `peer`, `proto`, `app`,
//! `stream` and `role`, so those appear as `span.conn_id` and so on. Event
//! fields share the top level with `timestamp`, `level`, `target` and
//! `message`, so do not name event fields after those.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, Layered, SubscriberExt};
use tracing_subscriber::{reload, EnvFilter, Registry};

/// How and where to log. Built by `main` from the config file and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// `trace`, `debug`, `info`, `warn`, `error`, or any `EnvFilter` directive
    /// such as `info,openrtmp_proto=debug`.
    pub level: String,
    /// JSON lines instead of human-readable text.
    pub json: bool,
    /// Log file; its directory is created if missing.
    pub file: Option<PathBuf>,
    /// Rotate the file when it would grow past this many bytes. Takes
    /// precedence over `rotate_daily` (logroller rotates by one criterion).
    pub rotate_size_bytes: Option<u64>,
    /// Rotate the file at midnight local time (dated file names).
    pub rotate_daily: bool,
    /// Rotated files to keep; `0` keeps all of them.
    pub keep_files: usize,
    /// Also (or only) write to stderr.
    pub stderr: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            level: DEFAULT_LEVEL.to_owned(),
            json: false,
            file: None,
            rotate_size_bytes: None,
            rotate_daily: false,
            keep_files: DEFAULT_KEEP_FILES,
            stderr: true,
        }
    }
}

/// Filter used when none is configured.
pub const DEFAULT_LEVEL: &str = "info";
/// Rotated files kept when none is configured.
pub const DEFAULT_KEEP_FILES: usize = 7;

/// The subscriber stack below the output layers: registry + reloadable filter.
type Base = Layered<reload::Layer<EnvFilter, Registry>, Registry>;
/// One output (stderr or file), text or JSON, boxed so both formats share a type.
type BoxedLayer = Box<dyn Layer<Base> + Send + Sync>;

/// Handle to the installed subscriber. Cloning is cheap; the writer threads
/// (and so the last log lines) are flushed when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
    /// Keeps the non-blocking writer threads running; dropped last.
    _guards: Arc<Vec<WorkerGuard>>,
}

impl LogHandle {
    /// Replace the filter at run time (API call, SIGHUP with a new config).
    /// The old filter stays in place if `filter` does not parse.
    pub fn set_level(&self, filter: &str) -> Result<(), String> {
        let parsed = parse_filter(filter)?;
        self.filter.reload(parsed).map_err(|err| format!("cannot change the log filter: {err}"))
    }

    /// The filter in effect, in `EnvFilter` directive syntax (empty once the
    /// subscriber is gone).
    pub fn level(&self) -> String {
        self.filter.with_current(|filter| filter.to_string()).unwrap_or_default()
    }
}

/// Install the global subscriber described by `options`. Call once, early in
/// `main`, and keep the returned handle alive until exit.
pub fn init(options: &LogOptions) -> Result<LogHandle, String> {
    let mut layers: Vec<BoxedLayer> = Vec::new();
    let mut guards = Vec::new();
    if options.stderr {
        let (writer, guard) = non_blocking(std::io::stderr());
        let ansi = !options.json && std::io::stderr().is_terminal();
        layers.push(fmt_layer(writer, options.json, ansi));
        guards.push(guard);
    }
    if let Some(path) = &options.file {
        let (writer, guard) = non_blocking(file_writer(path, options)?);
        layers.push(fmt_layer(writer, options.json, false));
        guards.push(guard);
    }
    if layers.is_empty() {
        return Err("no log output: enable stderr or set a log file".to_owned());
    }
    let (subscriber, filter) = build_subscriber(&options.level, layers)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|err| format!("a global log subscriber is already installed: {err}"))?;
    if options.rotate_size_bytes.is_some() && options.rotate_daily && options.file.is_some() {
        tracing::warn!("log rotation: size-based rotation configured, daily rotation ignored");
    }
    Ok(LogHandle { filter, _guards: Arc::new(guards) })
}

/// Log lines queued for an output's writer thread; past this, new lines are dropped (and
/// counted by tracing-appender) rather than blocking a connection. tracing-appender's default
/// (128,000) allocates and touches 4 MB per output at start (32 bytes a slot), about an
/// eighth of a server's memory with 1000 viewers; this is 512 KiB and still holds a burst of
/// several lines from each of thousands of connections closing at once.
const LOG_QUEUE_LINES: usize = 16_384;

/// A non-blocking writer to `out` with a [`LOG_QUEUE_LINES`] queue.
fn non_blocking<W: Write + Send + 'static>(
    out: W,
) -> (tracing_appender::non_blocking::NonBlocking, WorkerGuard) {
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .finish(out)
}

fn parse_filter(filter: &str) -> Result<EnvFilter, String> {
    EnvFilter::try_new(filter.trim()).map_err(|err| format!("invalid log filter {filter:?}: {err}"))
}

/// Registry + reloadable filter + the given outputs, not yet installed.
fn build_subscriber(
    level: &str,
    layers: Vec<BoxedLayer>,
) -> Result<
    (impl tracing::Subscriber + Send + Sync + 'static, reload::Handle<EnvFilter, Registry>),
    String,
> {
    let (filter, handle) = reload::Layer::new(parse_filter(level)?);
    let subscriber = Registry::default().with(filter).with(layers);
    Ok((subscriber, handle))
}

/// One formatting layer. Text is the compact human format; JSON puts the event
/// fields at the top level and the current span's fields under `span`.
fn fmt_layer<W>(writer: W, json: bool, ansi: bool) -> BoxedLayer
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    if json {
        layer.json().flatten_event(true).with_current_span(true).with_span_list(false).boxed()
    } else {
        layer.with_ansi(ansi).boxed()
    }
}

/// The blocking file writer that the non-blocking worker thread drives:
/// logroller when rotating, a plain append-mode file otherwise.
fn file_writer(path: &Path, options: &LogOptions) -> Result<Box<dyn Write + Send>, String> {
    let (dir, name) = split_path(path)?;
    std::fs::create_dir_all(&dir)
        .map_err(|err| format!("cannot create log directory {}: {err}", dir.display()))?;
    let rotation = match (options.rotate_size_bytes, options.rotate_daily) {
        (Some(bytes), _) => {
            logroller::Rotation::SizeBased(logroller::RotationSize::Bytes(bytes.max(1)))
        }
        (None, true) => logroller::Rotation::AgeBased(logroller::RotationAge::Daily),
        (None, false) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|err| format!("cannot open log file {}: {err}", path.display()))?;
            return Ok(Box::new(file));
        }
    };
    let mut builder = logroller::LogRollerBuilder::new(dir.as_path(), Path::new(&name))
        .rotation(rotation)
        .time_zone(logroller::TimeZone::Local)
        // Renames and pruning finish before a flush returns, so files are
        // settled at shutdown instead of left as `*.pending.N`.
        .graceful_shutdown(true);
    if options.keep_files > 0 {
        builder = builder.max_keep_files(options.keep_files as u64);
    }
    let roller =
        builder.build().map_err(|err| format!("cannot open log file {}: {err}", path.display()))?;
    Ok(Box::new(roller))
}

fn split_path(path: &Path) -> Result<(PathBuf, String), String> {
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| format!("log file {} has no usable file name", path.display()))?
        .to_owned();
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A `MakeWriter` into a shared buffer, so tests need no global subscriber.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes).unwrap().lines().map(str::to_owned).collect()
        }
    }

    fn handle_for(filter: reload::Handle<EnvFilter, Registry>) -> LogHandle {
        LogHandle { filter, _guards: Arc::new(Vec::new()) }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir =
            std::env::temp_dir().join(format!("openrtmp-log-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn json_lines_parse_and_carry_span_fields() {
        let buffer = Buffer::default();
        let (subscriber, _filter) =
            build_subscriber("info", vec![fmt_layer(buffer.clone(), true, false)]).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "conn",
                conn_id = 7u64,
                peer = "192.0.2.1:50000",
                app = tracing::field::Empty,
                stream = tracing::field::Empty,
                role = tracing::field::Empty,
            );
            let _entered = span.enter();
            span.record("app", "live");
            span.record("stream", "cam1");
            span.record("role", "publisher");
            tracing::info!(bytes = 42u64, "publish started");
        });
        let lines = buffer.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let event: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert!(event["timestamp"].is_string());
        assert_eq!(event["level"], "INFO");
        assert_eq!(event["message"], "publish started");
        assert_eq!(event["bytes"], 42);
        assert!(event["target"].as_str().unwrap().contains("logging"));
        let span = &event["span"];
        assert_eq!(span["conn_id"], 7);
        assert_eq!(span["peer"], "192.0.2.1:50000");
        assert_eq!(span["app"], "live");
        assert_eq!(span["stream"], "cam1");
        assert_eq!(span["role"], "publisher");
        assert!(event.get("spans").is_none());
    }

    #[test]
    fn text_output_has_no_ansi_when_disabled() {
        let buffer = Buffer::default();
        let (subscriber, _filter) =
            build_subscriber("info", vec![fmt_layer(buffer.clone(), false, false)]).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("conn", conn_id = 3u64);
            let _entered = span.enter();
            tracing::warn!("slow viewer");
        });
        let lines = buffer.lines();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("WARN"));
        assert!(lines[0].contains("conn_id=3"));
        assert!(lines[0].contains("slow viewer"));
        assert!(!lines[0].contains('\u{1b}'));
    }

    #[test]
    fn set_level_changes_what_is_emitted() {
        let buffer = Buffer::default();
        let (subscriber, filter) =
            build_subscriber("warn", vec![fmt_layer(buffer.clone(), true, false)]).unwrap();
        let handle = handle_for(filter);
        assert_eq!(handle.level(), "warn");
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("hidden");
            tracing::warn!("shown 1");
            handle.set_level("debug").unwrap();
            tracing::debug!("shown 2");
            tracing::trace!("hidden");
            assert!(handle.set_level("info,[[[").is_err());
            tracing::debug!("shown 3");
            handle.set_level("error").unwrap();
            tracing::warn!("hidden");
            assert_eq!(handle.level(), "error");
        });
        let messages: Vec<String> = buffer
            .lines()
            .iter()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                value["message"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(messages, ["shown 1", "shown 2", "shown 3"]);
    }

    #[test]
    fn size_rotation_writes_several_files_and_keeps_at_most_keep_files() {
        let dir = temp_dir("size");
        let options = LogOptions {
            file: Some(dir.join("openrtmp.log")),
            rotate_size_bytes: Some(1024),
            keep_files: 3,
            stderr: false,
            ..LogOptions::default()
        };
        let (writer, guard) = tracing_appender::non_blocking(
            file_writer(options.file.as_deref().unwrap(), &options).unwrap(),
        );
        let (subscriber, _filter) =
            build_subscriber("info", vec![fmt_layer(writer, false, false)]).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..200 {
                tracing::info!(i, "a line long enough to fill a kilobyte quickly");
            }
        });
        drop(guard); // flushes the queue; logroller settles renames and pruning

        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let archives = names.iter().filter(|n| n.starts_with("openrtmp.log.")).count();
        assert!(names.iter().any(|n| n == "openrtmp.log"), "{names:?}");
        assert!(names.len() >= 2, "{names:?}");
        assert!((1..=3).contains(&archives), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("pending")), "{names:?}");
        for name in &names {
            let len = std::fs::metadata(dir.join(name)).unwrap().len();
            assert!(len <= 1024, "{name} is {len} bytes");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn daily_rotation_writes_a_dated_file() {
        let dir = temp_dir("daily");
        let options = LogOptions {
            file: Some(dir.join("openrtmp.log")),
            rotate_daily: true,
            stderr: false,
            ..LogOptions::default()
        };
        let mut writer = file_writer(options.file.as_deref().unwrap(), &options).unwrap();
        writer.write_all(b"hello\n").unwrap();
        drop(writer);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].starts_with("openrtmp.log."), "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn plain_file_appends() {
        let dir = temp_dir("plain");
        let path = dir.join("sub").join("openrtmp.log");
        let options =
            LogOptions { file: Some(path.clone()), stderr: false, ..LogOptions::default() };
        for line in [&b"one\n"[..], b"two\n"] {
            let mut writer = file_writer(&path, &options).unwrap();
            writer.write_all(line).unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_filter_is_an_error() {
        assert!(build_subscriber("info,[[[", Vec::new()).is_err());
        assert!(parse_filter("openrtmp_proto=debug,warn").is_ok());
    }
}
