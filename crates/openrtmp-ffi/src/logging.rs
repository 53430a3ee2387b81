//! Logging for hosts: [`init_logging`] installs a `tracing` subscriber once per process.
//!
//! Desktop (Linux, Windows, macOS command-line hosts, the JVM test): human-readable lines to
//! stderr. Mobile system logs are not wired yet; [`platform_writer`] is the one place to add
//! them:
//!
//! * Apple: an os_log layer (`tracing-oslog`, behind a default-on `oslog` feature so that
//!   cross-checks without the Apple SDK can turn it off), with the host's subsystem.
//! * Android: a logcat `MakeWriter` over `android_log-sys` (as Firezone's
//!   `platform/android/make_writer.rs`) or a `paranoid-android` layer.

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

use crate::FfiError;

/// Installs the process-wide log subscriber at `level` (`trace`, `debug`, `info`, `warn`,
/// `error`, or a filter such as `openrtmp_server=debug,info`). Later calls (and calls after
/// another subscriber was installed) change nothing and succeed; an invalid filter is an
/// [`FfiError::InvalidConfig`].
#[uniffi::export]
pub fn init_logging(level: String) -> Result<(), FfiError> {
    let filter = EnvFilter::try_new(level.trim()).map_err(|e| FfiError::InvalidConfig {
        problems: vec![format!("log level {level:?}: {e}")],
    })?;
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(platform_writer())
        .with_ansi(false)
        .with_thread_names(true)
        .try_init();
    if installed.is_err() {
        tracing::debug!("init_logging: a subscriber was already installed; kept it");
    }
    Ok(())
}

/// Where log lines go on this platform. The hook for os_log (Apple) and logcat (Android):
/// today stderr everywhere.
fn platform_writer() -> BoxMakeWriter {
    BoxMakeWriter::new(std::io::stderr)
}
