//! Logging for hosts: [`init_logging`] (or `init_logging_with_subsystem`) installs a
//! `tracing` subscriber once per process. Where the lines go depends on the target and on two
//! cargo features; the public API is the same everywhere:
//!
//! | build | sink |
//! | --- | --- |
//! | Android with feature `logcat` | logcat, tag `OpenRTMP` (`paranoid-android`; priority from the level) |
//! | Apple (iOS, macOS) with feature `oslog` | the unified log (`os_log`), the host's subsystem, category `openrtmp` |
//! | anything else, or the feature off | human-readable lines to stderr |
//!
//! Enabling `logcat` or `oslog` on another target changes nothing (stderr), so one feature
//! list can serve every target.
//!
//! # Why os_log is called directly
//!
//! `tracing-oslog` and `oslog` compile a C shim against `<os/log.h>` in their build scripts,
//! so they cannot even be type-checked without the Apple SDK (the cross-check machine has
//! none). `os_log_with_type` is a C macro: it writes the arguments into a small buffer
//! (layout emitted by clang's `__builtin_os_log_format`; every compiled app carries it, so it
//! is a stable ABI) and calls `_os_log_impl`. This file does the same for
//! the one format this crate needs, `"%{public}s"`, in a private `apple` module of about
//! 60 lines: three libSystem functions and `__dso_handle`, declared in an `extern "C"`
//! block. It is the only code in the crate that opts out of the workspace's
//! `unsafe_code = "deny"`, and each `unsafe` block carries its `SAFETY:` argument.

use std::ffi::CString;

use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::FfiError;

/// The os_log subsystem [`init_logging`] uses (Apple, feature `oslog`). Apps normally pass
/// their bundle identifier to [`init_logging_with_subsystem`] instead.
const DEFAULT_LOG_SUBSYSTEM: &str = "org.openrtmp";

/// A sink, stacked on the level filter.
type Sink = Box<dyn Layer<Layered<EnvFilter, Registry>> + Send + Sync>;

/// Installs the process-wide log subscriber at `level` (`trace`, `debug`, `info`, `warn`,
/// `error`, or a filter such as `openrtmp_server=debug,info`). Later calls (and calls after
/// another subscriber was installed) change nothing and succeed; an invalid filter is an
/// [`FfiError::InvalidConfig`]. On Apple with the `oslog` feature the os_log subsystem is
/// `org.openrtmp`; `init_logging_with_subsystem` sets another.
#[uniffi::export]
pub fn init_logging(level: String) -> Result<(), FfiError> {
    init_logging_with_subsystem(level, String::new())
}

/// [`init_logging`] with the os_log subsystem to log under (Apple, feature `oslog`), usually
/// the app's bundle identifier (`com.example.app`); empty means `org.openrtmp`.
/// Other builds accept and ignore it (Android logs under the tag `OpenRTMP`). A subsystem
/// containing a NUL character is an [`FfiError::InvalidConfig`] on every target.
#[uniffi::export]
pub fn init_logging_with_subsystem(level: String, subsystem: String) -> Result<(), FfiError> {
    let filter = EnvFilter::try_new(level.trim()).map_err(|e| FfiError::InvalidConfig {
        problems: vec![format!("log level {level:?}: {e}")],
    })?;
    let subsystem = match subsystem.trim() {
        "" => DEFAULT_LOG_SUBSYSTEM,
        s => s,
    };
    let subsystem = CString::new(subsystem).map_err(|_| FfiError::InvalidConfig {
        problems: vec![format!("log subsystem {subsystem:?}: contains a NUL character")],
    })?;
    let installed = Registry::default().with(filter).with(sink(&subsystem)).try_init();
    if installed.is_err() {
        tracing::debug!("init_logging: a subscriber was already installed; kept it");
    } else {
        tracing::debug!(sink = sink_name(), "init_logging: installed");
    }
    Ok(())
}

/// The system log of this build, else stderr.
fn sink(subsystem: &std::ffi::CStr) -> Sink {
    system_sink(subsystem).unwrap_or_else(stderr_sink)
}

/// Which sink this build uses (`logcat`, `oslog` or `stderr`).
fn sink_name() -> &'static str {
    if cfg!(all(feature = "logcat", target_os = "android")) {
        "logcat"
    } else if cfg!(all(feature = "oslog", target_vendor = "apple")) {
        "oslog"
    } else {
        "stderr"
    }
}

fn stderr_sink() -> Sink {
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_thread_names(true)
        .boxed()
}

#[cfg(all(feature = "logcat", target_os = "android"))]
fn system_sink(_subsystem: &std::ffi::CStr) -> Option<Sink> {
    const LOGCAT_TAG: &str = "OpenRTMP";
    // logcat records time, pid/tid and priority itself; paranoid-android leaves them out of
    // the text and splits lines longer than logd's 4 KiB limit.
    Some(paranoid_android::layer(LOGCAT_TAG).with_ansi(false).with_thread_names(true).boxed())
}

#[cfg(all(feature = "oslog", target_vendor = "apple"))]
fn system_sink(subsystem: &std::ffi::CStr) -> Option<Sink> {
    use tracing_subscriber::filter::filter_fn;
    const OSLOG_CATEGORY: &str = "openrtmp";
    let category = CString::new(OSLOG_CATEGORY).ok()?;
    let log = std::sync::Arc::new(apple::Log::new(subsystem, &category)?);
    let enabled = std::sync::Arc::clone(&log);
    Some(
        tracing_subscriber::fmt::layer()
            .without_time() // os_log stamps every entry
            .with_ansi(false)
            .with_thread_names(true)
            .with_writer(apple::MakeOsLogWriter(log))
            // Skip formatting what os_log would drop (debug/info unless the subsystem is
            // configured or a `log stream --level debug` runs).
            .with_filter(filter_fn(move |meta| enabled.enabled(apple::log_type(*meta.level()))))
            .boxed(),
    )
}

#[cfg(not(any(
    all(feature = "logcat", target_os = "android"),
    all(feature = "oslog", target_vendor = "apple")
)))]
fn system_sink(_subsystem: &std::ffi::CStr) -> Option<Sink> {
    None
}

/// os_log through libSystem, without a C shim (see the module docs).
#[cfg(all(feature = "oslog", target_vendor = "apple"))]
#[allow(unsafe_code)]
mod apple {
    use std::ffi::{c_char, c_void, CStr, CString};
    use std::io;
    use std::ptr::NonNull;
    use std::sync::Arc;

    use tracing::Level;
    use tracing_subscriber::fmt::MakeWriter;

    /// `os_log_type_t` (`<os/log.h>`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[repr(transparent)]
    pub(super) struct LogType(u8);

    const OS_LOG_TYPE_DEFAULT: LogType = LogType(0x00);
    const OS_LOG_TYPE_INFO: LogType = LogType(0x01);
    const OS_LOG_TYPE_DEBUG: LogType = LogType(0x02);
    const OS_LOG_TYPE_ERROR: LogType = LogType(0x10);

    /// The level text stays in the message; the type decides what os_log keeps: debug and
    /// info stay in memory unless configured, default and error are persisted. `fault` is
    /// left for system-level faults.
    pub(super) fn log_type(level: Level) -> LogType {
        match level {
            Level::TRACE | Level::DEBUG => OS_LOG_TYPE_DEBUG,
            Level::INFO => OS_LOG_TYPE_INFO,
            Level::WARN => OS_LOG_TYPE_DEFAULT,
            Level::ERROR => OS_LOG_TYPE_ERROR,
        }
    }

    extern "C" {
        fn os_log_create(subsystem: *const c_char, category: *const c_char) -> *mut c_void;
        fn os_log_type_enabled(log: *mut c_void, log_type: LogType) -> bool;
        fn _os_log_impl(
            dso: *const c_void,
            log: *mut c_void,
            log_type: LogType,
            format: *const c_char,
            buf: *const u8,
            size: u32,
        );
        /// The Mach-O header of the image this code is linked into (set by the linker).
        static __dso_handle: u8;
    }

    /// The format string, where clang puts os_log formats: the log tools read it back from
    /// the image by its offset from `__dso_handle`.
    #[link_section = "__TEXT,__oslogstring,cstring_literals"]
    static FORMAT: [u8; 11] = *b"%{public}s\0";

    /// clang's `__builtin_os_log_format` layout for one `%{public}s` argument: summary byte
    /// (`HasNonScalarItems`), argument count, descriptor (`StringKind << 4 | IsPublic`),
    /// argument size, then the pointer.
    const SUMMARY_NON_SCALAR: u8 = 0x02;
    const DESCRIPTOR_PUBLIC_STRING: u8 = (2 << 4) | 0x02;
    const PTR_SIZE: usize = std::mem::size_of::<*const c_char>();

    /// An `os_log_t` from `os_log_create`, kept for the life of the process.
    #[derive(Debug)]
    pub(super) struct Log(NonNull<c_void>);

    // SAFETY: os_log objects are immutable after creation and made to be shared: the
    // logging functions may be called with one object from any thread at once.
    unsafe impl Send for Log {}
    // SAFETY: as above.
    unsafe impl Sync for Log {}

    impl Log {
        pub(super) fn new(subsystem: &CStr, category: &CStr) -> Option<Log> {
            // SAFETY: both arguments are valid NUL-terminated strings for the duration of
            // the call (os_log_create copies them).
            let log = unsafe { os_log_create(subsystem.as_ptr(), category.as_ptr()) };
            NonNull::new(log).map(Log)
        }

        pub(super) fn enabled(&self, log_type: LogType) -> bool {
            // SAFETY: `self.0` is a live os_log object (never released).
            unsafe { os_log_type_enabled(self.0.as_ptr(), log_type) }
        }

        fn write(&self, log_type: LogType, message: &CStr) {
            let mut buf = [0u8; 4 + PTR_SIZE];
            buf[0] = SUMMARY_NON_SCALAR;
            buf[1] = 1;
            buf[2] = DESCRIPTOR_PUBLIC_STRING;
            buf[3] = PTR_SIZE as u8;
            buf[4..].copy_from_slice(&(message.as_ptr() as usize).to_ne_bytes());
            // SAFETY: `self.0` is a live os_log object; FORMAT is a NUL-terminated static
            // in this image's __oslogstring section and `__dso_handle` is this image's
            // header; `buf` is laid out as clang lays it out for that format, and the
            // string it points to (`message`) outlives the call, which copies it.
            unsafe {
                _os_log_impl(
                    std::ptr::addr_of!(__dso_handle).cast(),
                    self.0.as_ptr(),
                    log_type,
                    FORMAT.as_ptr().cast(),
                    buf.as_ptr(),
                    buf.len() as u32,
                );
            }
        }
    }

    /// One os_log entry per `tracing` event.
    #[derive(Debug)]
    pub(super) struct MakeOsLogWriter(pub(super) Arc<Log>);

    impl<'a> MakeWriter<'a> for MakeOsLogWriter {
        type Writer = Entry<'a>;

        fn make_writer(&'a self) -> Entry<'a> {
            Entry { log: &self.0, log_type: OS_LOG_TYPE_DEFAULT, text: Vec::new() }
        }

        fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Entry<'a> {
            Entry { log: &self.0, log_type: log_type(*meta.level()), text: Vec::new() }
        }
    }

    /// Collects the formatted event; written to os_log when dropped.
    #[derive(Debug)]
    pub(super) struct Entry<'a> {
        log: &'a Log,
        log_type: LogType,
        text: Vec<u8>,
    }

    impl io::Write for Entry<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.text.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Drop for Entry<'_> {
        fn drop(&mut self) {
            let mut text = std::mem::take(&mut self.text);
            text.retain(|&b| b != 0);
            while text.last() == Some(&b'\n') {
                text.pop();
            }
            if let Ok(message) = CString::new(text) {
                self.log.write(self.log_type, &message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_build_logs_to_stderr_whatever_the_features() {
        if cfg!(not(any(target_os = "android", target_vendor = "apple"))) {
            assert_eq!(sink_name(), "stderr");
        }
    }

    #[test]
    fn a_subsystem_with_a_nul_is_refused_everywhere() {
        let err = init_logging_with_subsystem("info".into(), "org.example\0x".into())
            .expect_err("NUL accepted");
        assert!(matches!(err, FfiError::InvalidConfig { .. }), "{err:?}");
    }

    #[test]
    fn init_logging_with_subsystem_checks_the_filter_and_is_idempotent() {
        init_logging_with_subsystem("info".into(), "org.example.host".into()).unwrap();
        init_logging_with_subsystem("debug".into(), String::new()).unwrap();
        let err = init_logging_with_subsystem("openrtmp=notalevel".into(), "x".into())
            .expect_err("bad filter accepted");
        assert!(matches!(err, FfiError::InvalidConfig { .. }), "{err:?}");
    }
}
