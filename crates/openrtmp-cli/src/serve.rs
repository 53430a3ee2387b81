//! `openrtmp serve`: configuration (file, environment, flags), logging, the RTMP server, the
//! HTTP API, reload on SIGHUP or `PATCH /api/v1/config`, graceful and forced shutdown, and
//! systemd readiness.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openrtmp_config::unit::{Addr, HumanDuration};
use openrtmp_config::{ConfigIssue, FileConfig, Format, Toggle};
use openrtmp_server::{Config, ServerHandle};
use serde_json::{json, Value};

use crate::logging::{self, LogHandle, LogOptions};

/// `openrtmp serve` options. Every flag overrides the configuration file and the
/// `OPENRTMP_*` environment (precedence: defaults < file < environment < flags).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (YAML or JSON); see docs/configuration.md.
    #[arg(long, env = "OPENRTMP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// RTMP address to listen on (repeatable), e.g. 0.0.0.0:1935; port 0 picks a free port.
    #[arg(long = "listen", value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,
    /// RTMPS address to listen on (repeatable), e.g. 0.0.0.0:1936; needs a certificate
    /// (`--tls-cert` + `--tls-key`, `--tls-self-signed`, or `tls:` in the configuration).
    #[arg(long = "rtmps-listen", value_name = "ADDR:PORT")]
    pub rtmps_listen: Vec<SocketAddr>,
    /// RTMPS certificate chain (PEM, leaf first); reloaded when the file changes.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// RTMPS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Generate a self-signed RTMPS certificate at start (development only).
    #[arg(long, conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,
    /// HTTP API address (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR:PORT")]
    pub api_listen: Option<SocketAddr>,
    /// No HTTP API.
    #[arg(long, conflicts_with = "api_listen")]
    pub no_api: bool,
    /// Outbound chunk size (128..=65536).
    #[arg(long, value_parser = clap::value_parser!(u32).range(crate::chunk_size_range()))]
    pub chunk_size: Option<u32>,
    /// Low-latency mode: players lagging more than 500 ms skip to the next keyframe.
    #[arg(long)]
    pub low_latency: bool,
    /// How much media a batch gathers before it goes out in one write per viewer (no frame
    /// waits longer than this for later ones; `streams.max_batch`): 0 (default) sends every video frame at once (lowest latency);
    /// 50ms-350ms trade latency for CPU. Whole milliseconds, e.g. 100ms.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub max_batch: Option<HumanDuration>,
    /// Refuse to play streams nobody publishes (NetStream.Play.StreamNotFound).
    #[arg(long)]
    pub no_wait_for_publisher: bool,
    /// Let a new publisher replace the current one on the same stream key.
    #[arg(long)]
    pub replace_publisher: bool,
    /// Seconds players of an unpublished stream wait for a new publisher (0: close at once).
    #[arg(long, value_name = "SECS")]
    pub unpublished_wait: Option<f64>,
    /// Most simultaneous connections.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Most simultaneous connections from one IP address.
    #[arg(long)]
    pub max_connections_per_ip: Option<usize>,
    /// Seconds a graceful shutdown lets streams go on.
    #[arg(long, value_name = "SECS")]
    pub shutdown_grace: Option<f64>,
    /// Make the first SIGINT/SIGTERM a forced shutdown (close everything at once).
    #[arg(long)]
    pub force_shutdown: bool,
    /// Log as JSON lines.
    #[arg(long)]
    pub log_json: bool,
    /// Also log to this file.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Run under the Windows Service Control Manager (the service's command line; see
    /// docs/service.md). Windows only.
    #[arg(long)]
    pub service: bool,
    /// Push every published stream to URL (repeatable); `{app}` and `{stream}` in it are
    /// replaced by the stream's app and name, e.g.
    /// `rtmp://backup.example/{app}/{stream}`. Replaces `relay.push` of the file.
    #[arg(long = "push", value_name = "URL")]
    pub push: Vec<String>,
    /// Record every published stream (`record.all`), into `--record-dir`.
    #[arg(long)]
    pub record_all: bool,
    /// Where recordings go (`record.dir`; default `recordings`).
    #[arg(long, value_name = "DIR")]
    pub record_dir: Option<PathBuf>,
    /// Format of recordings: `mp4` (fragmented MP4, the default) or `flv` (`record.format`).
    #[arg(long, value_name = "FORMAT")]
    pub record_format: Option<String>,
}

/// The running server, for the Windows service control handler.
static RUNNING: std::sync::OnceLock<ServerHandle> = std::sync::OnceLock::new();

/// The running server's handle, once it is bound.
#[cfg_attr(not(windows), allow(dead_code))]
pub fn running() -> Option<ServerHandle> {
    RUNNING.get().cloned()
}

fn secs(s: f64, flag: &str) -> anyhow::Result<HumanDuration> {
    Duration::try_from_secs_f64(s)
        .map(HumanDuration)
        .map_err(|_| anyhow::anyhow!("{flag} must be a non-negative number of seconds"))
}

/// A duration flag in the configuration's units (`100ms`, `0.1s`, `0`).
fn duration(text: &str) -> Result<HumanDuration, String> {
    openrtmp_config::unit::parse_duration(text).map(HumanDuration)
}

/// The flags as a partial configuration (only what was given).
pub fn overrides(args: &ServeArgs, log_level: Option<&str>) -> anyhow::Result<FileConfig> {
    let mut f = FileConfig::default();
    if !args.listen.is_empty() {
        f.listen = Some(args.listen.iter().copied().map(Addr).collect());
    }
    if !args.rtmps_listen.is_empty() {
        f.rtmps_listen = Some(args.rtmps_listen.iter().copied().map(Addr).collect());
    }
    if args.tls_cert.is_some() || args.tls_self_signed {
        let tls = openrtmp_config::TlsSection {
            cert: args.tls_cert.clone().map(Toggle::On),
            key: args.tls_key.clone().map(Toggle::On),
            self_signed: args.tls_self_signed.then_some(true),
            ..Default::default()
        };
        f.tls = Some(Toggle::On(tls));
    }
    if let Some(a) = args.api_listen {
        f.api.listen = Some(Toggle::On(Addr(a)));
    }
    if args.no_api {
        f.api.listen = Some(Toggle::Off);
    }
    f.rtmp.chunk_size = args.chunk_size;
    if args.low_latency {
        f.streams.low_latency = Some(true);
    }
    f.streams.max_batch = args.max_batch;
    if args.no_wait_for_publisher {
        f.streams.wait_for_publisher = Some(false);
    }
    if args.replace_publisher {
        f.streams.replace_publisher = Some(true);
    }
    f.streams.unpublished_wait =
        args.unpublished_wait.map(|s| secs(s, "--unpublished-wait")).transpose()?;
    f.limits.max_connections = args.max_connections;
    f.limits.max_connections_per_ip = args.max_connections_per_ip;
    f.shutdown.grace = args.shutdown_grace.map(|s| secs(s, "--shutdown-grace")).transpose()?;
    f.log.level = log_level.map(str::to_owned);
    if args.log_json {
        f.log.format = Some("json".into());
    }
    if let Some(file) = &args.log_file {
        f.log.file = Some(Toggle::On(file.clone()));
    }
    if !args.push.is_empty() {
        let every = |url: &String| openrtmp_config::PushEntry {
            app: Some(openrtmp_server::relay::ANY.into()),
            stream: Some(openrtmp_server::relay::ANY.into()),
            url: Some(url.clone()),
        };
        f.relay.push = Some(args.push.iter().map(every).collect());
    }
    if args.record_all {
        f.record.all = Some(true);
    }
    if let Some(dir) = &args.record_dir {
        f.record.dir = Some(dir.clone());
    }
    if let Some(format) = &args.record_format {
        f.record.format =
            Some(format.parse().map_err(|e| anyhow::anyhow!("--record-format: {e}"))?);
    }
    Ok(f)
}

/// The layers of a running server's configuration, so a reload re-reads them.
struct Layers {
    file: Option<PathBuf>,
    flags: Value,
    /// Changes made through `PATCH /api/v1/config`, kept across reloads.
    api_patches: Mutex<Value>,
}

impl Layers {
    /// Loads file + environment + flags + the changes made through the API; the warnings are
    /// the skipped environment variables ([`openrtmp_config::Loaded::warnings`]).
    fn load(&self) -> Result<(Config, Vec<ConfigIssue>), Vec<String>> {
        let mut overrides = self.flags.clone();
        merge(&mut overrides, &self.api_patches.lock().unwrap_or_else(|e| e.into_inner()));
        let overrides: FileConfig =
            serde_json::from_value(overrides).map_err(|e| vec![e.to_string()])?;
        let env: Vec<(String, String)> = std::env::vars().collect();
        openrtmp_config::load(self.file.as_deref(), &env, &overrides)
            .map(|loaded| (loaded.config, loaded.warnings))
            .map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
    }
}

/// `patch` (a partial file) on top of the running configuration `current`; the file and
/// environment are not re-read (a broken file on disk does not block an API change).
fn patched(current: &Config, patch: &Value) -> Result<Config, Vec<String>> {
    // The running configuration with its secrets (a dump would redact them).
    let mut base = serde_json::to_value(openrtmp_config::to_file_with_secrets(current))
        .map_err(|e| vec![format!("internal: {e}")])?;
    merge(&mut base, patch);
    let model: FileConfig = serde_json::from_value(base).map_err(|e| vec![e.to_string()])?;
    openrtmp_config::load(None, &[], &model)
        .map(|loaded| loaded.config)
        .map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
}

/// Deep-merges JSON objects (`patch` wins); other values are replaced.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// Applies a freshly loaded configuration to the running server and the log level.
fn apply(handle: &ServerHandle, logs: &LogHandle, new: Config) -> Result<Value, Vec<String>> {
    let level = new.log.level.clone();
    let change = handle
        .apply_config(new)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    if level != logs.level() {
        logs.set_level(&level).map_err(|e| vec![format!("log.level: {e}")])?;
    }
    Ok(json!({ "applied": change.applied, "needs_restart": change.needs_restart }))
}

/// Runs `openrtmp serve` to the end. Invalid configuration: every problem on stderr and
/// exit code 2, nothing bound.
pub fn main(args: ServeArgs, log_level: Option<String>) -> std::process::ExitCode {
    let fail = |msg: String, code: u8| {
        eprintln!("openrtmp: {msg}");
        std::process::ExitCode::from(code)
    };
    let flags =
        match overrides(&args, log_level.as_deref()).and_then(|f| Ok(serde_json::to_value(f)?)) {
            Ok(v) => v,
            Err(e) => return fail(format!("{e:#}"), 2),
        };
    let layers =
        Arc::new(Layers { file: args.config.clone(), flags, api_patches: Mutex::new(json!({})) });
    let (config, warnings) = match layers.load() {
        Ok(loaded) => loaded,
        Err(errors) => {
            return fail(format!("invalid configuration:\n  {}", errors.join("\n  ")), 2)
        }
    };
    let log = &config.log;
    let options = LogOptions {
        level: log.level.clone(),
        json: log.json,
        file: log.file.clone(),
        rotate_size_bytes: log.rotate_size_bytes,
        rotate_daily: log.rotate_daily,
        keep_files: log.keep_files,
        stderr: log.stderr,
    };
    let logs = match logging::init(&options) {
        Ok(handle) => handle,
        Err(e) => return fail(format!("logging: {e}"), 2),
    };
    // Found before logging existed (it is configured from this load); logged once, here: a
    // reload re-reads the same process environment and stays quiet about it.
    for warning in &warnings {
        tracing::warn!(variable = %warning.path, "environment variable {warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}"), 1),
    };
    match runtime.block_on(serve(config, layers, logs.clone(), args.force_shutdown)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            fail(format!("{e:#}"), 1)
        }
    }
}

async fn serve(
    config: Config,
    layers: Arc<Layers>,
    logs: LogHandle,
    force: bool,
) -> anyhow::Result<()> {
    tracing::info!(
        listen = ?config.listen,
        api = ?config.api_listen,
        chunk_size = config.chunk_size,
        gop_cache_ms = config.hub.gop_cache_ms,
        max_batch_ms = config.effective_hub().max_batch_ms,
        viewer_max_lag_ms = config.effective_hub().viewer_max_lag_ms,
        max_connections = config.max_connections,
        max_connections_per_ip = config.max_connections_per_ip,
        memory_budget = config.memory_budget,
        wait_for_publisher = config.hub.wait_for_publisher,
        shutdown_grace_secs = config.shutdown_grace.as_secs_f64(),
        config_file = ?layers.file,
        auth = %config.auth.summary(),
        "starting with these settings"
    );
    let effective: Value =
        serde_json::from_str(&openrtmp_config::dump(&config, Format::Json)).unwrap_or(Value::Null);
    tracing::info!(config = %effective, "effective configuration (secrets redacted)");
    let api_listen = config.api_listen;
    let server = openrtmp_server::Server::bind(config).await?;
    let handle = server.handle();
    let _ = RUNNING.set(handle.clone());
    for addr in server.local_addrs() {
        tracing::info!(%addr, "listening (rtmp://{addr}/APP/STREAM)");
    }
    for addr in server.rtmps_addrs() {
        tracing::info!(%addr, "listening (rtmps://{addr}/APP/STREAM)");
    }
    let api = match api_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for the HTTP API: {e}"))?;
            tracing::info!(addr = %listener.local_addr().unwrap_or(addr), "HTTP API listening (/api/v1, /metrics, /health)");
            let options = api_options(&handle, &layers, &logs);
            let stopped = handle.clone();
            Some(tokio::spawn(openrtmp_api::serve(listener, handle.clone(), options, async move {
                stopped.stopped().await;
            })))
        }
        None => None,
    };
    tokio::spawn(signals(handle.clone(), Arc::clone(&layers), logs.clone(), force));
    let _watcher = match &layers.file {
        Some(path) => watch_file(path, handle.clone(), Arc::clone(&layers), logs.clone()),
        None => None,
    };
    systemd_notify("READY=1");
    server.run(std::future::pending()).await;
    if let Some(api) = api {
        api.abort();
    }
    Ok(())
}

fn api_options(
    handle: &ServerHandle,
    layers: &Arc<Layers>,
    logs: &LogHandle,
) -> openrtmp_api::ApiOptions {
    let (h, l, g) = (handle.clone(), Arc::clone(layers), logs.clone());
    let patch: openrtmp_api::ConfigPatcher = Arc::new(move |patch: Value| {
        let new = patched(&h.config(), &patch)?;
        let result = apply(&h, &g, new)?;
        merge(&mut l.api_patches.lock().unwrap_or_else(|e| e.into_inner()), &patch);
        Ok(result)
    });
    let h = handle.clone();
    let view: openrtmp_api::ConfigViewer = Arc::new(move || {
        serde_json::from_str(&openrtmp_config::dump(&h.config(), Format::Json))
            .unwrap_or(Value::Null)
    });
    openrtmp_api::ApiOptions {
        token: None,
        patch_config: Some(patch),
        view_config: Some(view),
        stat_public: false,
    }
}

/// Re-reads file, environment, flags (and API changes) and applies them.
fn reload(why: &str, handle: &ServerHandle, layers: &Layers, logs: &LogHandle) {
    tracing::info!(trigger = why, "reloading the configuration");
    match layers.load().and_then(|(new, _warned_at_start)| apply(handle, logs, new)) {
        Ok(result) => tracing::info!(%result, "configuration reloaded"),
        Err(errors) => {
            tracing::error!(errors = ?errors, "reload refused: the running configuration stays")
        }
    }
    // Certificate files are also checked periodically; a reload checks them now.
    match handle.reload_certificates() {
        Ok(true) => tracing::info!("RTMPS certificate reloaded"),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, "RTMPS certificate not reloaded; the current one stays")
        }
    }
}

/// Reloads when the configuration file changes on disk. The directory is watched (editors
/// and config managers replace files by renaming), events are filtered by name and
/// debounced, so one save is one reload.
fn watch_file(
    path: &std::path::Path,
    handle: ServerHandle,
    layers: Arc<Layers>,
    logs: LogHandle,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let name = path.file_name()?.to_owned();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let ours = event.paths.iter().any(|p| p.file_name() == Some(name.as_os_str()));
            if ours && !matches!(event.kind, notify::EventKind::Access(_)) {
                let _ = tx.try_send(());
            }
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the configuration file; reload with SIGHUP or the API");
            return None;
        }
    };
    if let Err(e) = watcher.watch(&dir, notify::RecursiveMode::NonRecursive) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the configuration file's directory");
        return None;
    }
    tracing::info!(file = %path.display(), "watching the configuration file for changes");
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Let the writer finish (several events per save), then reload once.
            tokio::time::sleep(Duration::from_millis(300)).await;
            while rx.try_recv().is_ok() {}
            reload("file changed", &handle, &layers, &logs);
        }
    });
    Some(watcher)
}

/// SIGHUP reloads; the first SIGINT/SIGTERM shuts down gracefully (or forced with
/// `--force-shutdown`), the second forces.
async fn signals(handle: ServerHandle, layers: Arc<Layers>, logs: LogHandle, force: bool) {
    let mut stops = 0;
    loop {
        match next_signal().await {
            Sig::Reload => reload("SIGHUP", &handle, &layers, &logs),
            Sig::Stop => {
                stops += 1;
                let forced = force || stops > 1;
                tracing::info!(forced, "stop signal");
                systemd_notify("STOPPING=1");
                handle.shutdown(forced);
            }
        }
    }
}

enum Sig {
    /// SIGHUP (Unix only; elsewhere reload through the API or a file change).
    #[cfg_attr(not(unix), allow(dead_code))]
    Reload,
    Stop,
}

#[cfg(unix)]
async fn next_signal() -> Sig {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::hangup()))
    else {
        let _ = tokio::signal::ctrl_c().await;
        return Sig::Stop;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Sig::Stop,
        _ = term.recv() => Sig::Stop,
        _ = hup.recv() => Sig::Reload,
    }
}

#[cfg(not(unix))]
async fn next_signal() -> Sig {
    let _ = tokio::signal::ctrl_c().await;
    Sig::Stop
}

/// Tells systemd (Type=notify) about readiness and stopping, when started by it.
fn systemd_notify(state: &str) {
    #[cfg(target_os = "linux")]
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
        let socket = std::os::unix::net::UnixDatagram::unbound();
        let sent = socket.and_then(|s| s.send_to(state.as_bytes(), &path));
        if let Err(e) = sent {
            tracing::warn!(error = %e, "cannot notify systemd");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = state;
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServeArgs,
    }

    /// The flags as `serve` hands them to the configuration loader (through JSON).
    fn resolved(argv: &[&str]) -> Config {
        let args = Cli::try_parse_from(argv).unwrap().args;
        let flags = serde_json::to_value(overrides(&args, None).unwrap()).unwrap();
        let flags: FileConfig = serde_json::from_value(flags).unwrap();
        openrtmp_config::load(None, &[], &flags).unwrap().config
    }

    #[test]
    fn max_batch_flag_sets_the_hub_setting() {
        assert_eq!(resolved(&["serve"]).hub.max_batch_ms, 0);
        assert_eq!(resolved(&["serve", "--max-batch", "100ms"]).hub.max_batch_ms, 100);
        assert_eq!(resolved(&["serve", "--max-batch", "0.35s"]).hub.max_batch_ms, 350);
        assert_eq!(resolved(&["serve", "--max-batch", "0"]).hub.max_batch_ms, 0);
        assert!(Cli::try_parse_from(["serve", "--max-batch", "soon"]).is_err());
    }

    #[test]
    fn record_flags_record_every_stream() {
        use openrtmp_server::record::Format;
        let plain = resolved(&["serve"]).record;
        assert!(!plain.all);
        assert_eq!(plain.format, Format::Mp4);
        let argv = ["serve", "--record-all", "--record-dir", "/tmp/rec", "--record-format", "flv"];
        let record = resolved(&argv).record;
        assert!(record.all);
        assert_eq!(record.dir, PathBuf::from("/tmp/rec"));
        assert_eq!(record.format, Format::Flv);
        let bad = Cli::try_parse_from(["serve", "--record-format", "avi"]).unwrap().args;
        assert!(overrides(&bad, None).is_err());
    }

    #[test]
    fn push_flags_push_every_stream() {
        use openrtmp_server::relay::PushRule;
        assert!(resolved(&["serve"]).relay.push.is_empty());
        let argv = ["serve", "--push", "rtmp://a/{app}/{stream}", "--push", "rtmps://b/live/k"];
        assert_eq!(
            resolved(&argv).relay.push,
            [
                PushRule::everything("rtmp://a/{app}/{stream}"),
                PushRule::everything("rtmps://b/live/k")
            ]
        );
    }
}
