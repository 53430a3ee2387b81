//! The file model to the runtime [`Config`] and back: range checks with paths, and the
//! server's own [`Config::validate`].

use std::path::Path;
use std::time::Duration;

use openrtmp_proto::chunk::{OUTBOUND_CHUNK_SIZES, OUTBOUND_CHUNK_SIZES_TEXT};
use openrtmp_server::platform::NetworkPolicy as Policy;
use openrtmp_server::relay::{PushRule, ANY, REDACTED_KEY};
use openrtmp_server::{Config, ConfigError, LogSettings};

use crate::model::{
    ApiSection, FileConfig, LimitsSection, LogSection, NetworkPolicy, PlatformSection, PushEntry,
    RelaySection, RelayTlsSection, RtmpSection, ShutdownSection, StreamsSection, Toggle,
};
use crate::unit::{format_size, Addr, ByteSize, HumanDuration};
use crate::ConfigIssue;

mod auth;
mod cluster;
mod proxy;
mod record;
mod relay;
mod tls;
mod webrtc;

/// What `dump` writes instead of a secret (the API token, publish keys, the play-token and
/// callback signing secrets); refused as a secret so a dumped file cannot start a server
/// that accepts the placeholder.
pub const REDACTED: &str = "<redacted>";

/// Log levels a filter directive may use.
const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];

/// Collects issues while values are converted.
struct Checker {
    issues: Vec<ConfigIssue>,
}

impl Checker {
    fn fail(&mut self, path: &str, message: String) {
        self.issues.push(ConfigIssue::new(path, message));
    }

    fn at_least<T: PartialOrd + std::fmt::Display>(&mut self, path: &str, value: T, min: T) -> T {
        if value < min {
            self.fail(path, format!("{value} must be at least {min}"));
        }
        value
    }

    fn nonzero(&mut self, path: &str, value: Duration) -> Duration {
        if value.is_zero() {
            self.fail(path, "0s must be longer than zero".into());
        }
        value
    }

    fn bytes(&mut self, path: &str, size: ByteSize) -> usize {
        let value = usize::try_from(size.0).unwrap_or_else(|_| {
            self.fail(path, format!("{} is too large for this platform", format_size(size.0)));
            usize::MAX
        });
        self.at_least(path, value, 1)
    }

    /// Whole milliseconds that fit the hub's `u32` fields.
    fn millis(&mut self, path: &str, d: HumanDuration) -> u32 {
        if !d.0.subsec_nanos().is_multiple_of(1_000_000) {
            self.fail(path, format!("{:?} must be a whole number of milliseconds", d.0));
        }
        u32::try_from(d.0.as_millis()).unwrap_or_else(|_| {
            self.fail(path, format!("{:?} is too long (at most {}ms)", d.0, u32::MAX));
            u32::MAX
        })
    }

    /// A secret: not empty, not the dump's placeholder.
    fn secret(&mut self, path: &str, value: &str, what: &str) {
        if value.is_empty() {
            self.fail(path, "must not be empty".into());
        } else if value == REDACTED {
            self.fail(
                path,
                format!(
                    "{REDACTED:?} is the placeholder written by config dump; set the real {what}"
                ),
            );
        }
    }

    /// A file the server will read: it exists, is not a directory, and can be opened.
    fn readable_file(&mut self, path: &str, file: &Path) {
        if file.as_os_str().is_empty() {
            self.fail(path, "must not be empty".into());
        } else if !file.exists() {
            self.fail(path, format!("{} does not exist", file.display()));
        } else if file.is_dir() {
            self.fail(path, format!("{} is a directory", file.display()));
        } else if let Err(e) = std::fs::File::open(file) {
            self.fail(path, format!("{} cannot be read: {e}", file.display()));
        }
    }

    /// An `http://` or `https://` URL with a host.
    fn http_url(&mut self, path: &str, url: &str) {
        let lower = url.to_ascii_lowercase();
        let rest = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        match host {
            None => self.fail(path, format!("{url:?} is not an http:// or https:// URL")),
            Some("") => self.fail(path, format!("{url:?} has no host")),
            Some(_) if url.contains(char::is_whitespace) => {
                self.fail(path, format!("{url:?} must not contain spaces"))
            }
            Some(_) => {}
        }
    }

    /// A required setting that is absent.
    fn required(&mut self, path: &str, hint: &str) {
        self.fail(path, format!("is required{hint}"));
    }
}

/// Builds the runtime settings from the merged model: defaults for what it leaves out,
/// then every range check, then [`Config::validate`] (its findings on paths already
/// reported are dropped).
pub(crate) fn to_config(file: &FileConfig) -> (Config, Vec<ConfigIssue>) {
    let mut c = Config::default();
    let mut k = Checker { issues: Vec::new() };
    if let Some(listen) = &file.listen {
        c.listen = listen.iter().map(|a| a.0).collect();
    }
    rtmp(&file.rtmp, &mut c, &mut k);
    limits(&file.limits, &mut c, &mut k);
    streams(&file.streams, &mut c, &mut k);
    api(&file.api, &mut c, &mut k);
    log(&file.log, &mut c.log, &mut k);
    if let Some(grace) = file.shutdown.grace {
        c.shutdown_grace = grace.0;
    }
    platform(&file.platform, &mut c, &mut k);
    relay(&file.relay, &mut c, &mut k);
    record::record(&file.record, &mut c.record, &mut k);
    webrtc::webrtc(&file.webrtc, &mut c.webrtc, &mut k);
    cluster::cluster(&file.cluster, &mut c.cluster, &mut k);
    cluster::edge(&file.edge, &mut c.edge);
    proxy::proxy_protocol(&file.proxy_protocol, &mut c.proxy_protocol);
    tls::tls(file, &mut c, &mut k);
    auth::auth(&file.auth, &mut c.auth, &mut k);
    if let Err(errors) = c.validate() {
        for error in errors {
            let (path, message) = match &error {
                // RTMPS listeners without a certificate: the listeners are what is wrong,
                // unless the tls section was given and already reported.
                ConfigError::Tls(message) if c.tls.is_none() => {
                    if k.issues.iter().any(|i| i.path == "tls" || i.path.starts_with("tls.")) {
                        continue;
                    }
                    ("rtmps_listen".to_string(), message.to_string())
                }
                _ => {
                    let text = error.to_string();
                    let (field, message) = text.split_once(": ").unwrap_or(("", &text));
                    (server_field_path(field), message.to_string())
                }
            };
            if !k.issues.iter().any(|i| i.path == path) {
                k.fail(&path, message);
            }
        }
    }
    (c, k.issues)
}

/// The file path of a [`Config::validate`] field name.
fn server_field_path(field: &str) -> String {
    let section = match field {
        "chunk_size" | "window_ack_size" | "handshake_timeout" | "connect_timeout"
        | "idle_timeout" => "rtmp.",
        "max_connections" | "max_connections_per_ip" | "memory_budget" | "reassembly_budget" => {
            "limits."
        }
        "publisher_timeout" | "unpublished_wait" | "publisher_grace" | "write_timeout"
        | "low_latency" => "streams.",
        _ => "",
    };
    format!("{section}{field}")
}

fn rtmp(s: &RtmpSection, c: &mut Config, k: &mut Checker) {
    if let Some(v) = s.chunk_size {
        if !OUTBOUND_CHUNK_SIZES.contains(&v) {
            k.fail("rtmp.chunk_size", format!("{v} is out of range {OUTBOUND_CHUNK_SIZES_TEXT}"));
        }
        c.chunk_size = v;
    }
    if let Some(v) = s.window_ack_size {
        c.window_ack_size = k.at_least("rtmp.window_ack_size", v, 1);
    }
    if let Some(v) = s.handshake_timeout {
        c.handshake_timeout = k.nonzero("rtmp.handshake_timeout", v.0);
    }
    if let Some(v) = s.connect_timeout {
        c.connect_timeout = k.nonzero("rtmp.connect_timeout", v.0);
    }
    if let Some(v) = s.idle_timeout {
        c.idle_timeout = k.nonzero("rtmp.idle_timeout", v.0);
    }
}

fn limits(s: &LimitsSection, c: &mut Config, k: &mut Checker) {
    if let Some(v) = s.max_connections {
        c.max_connections = k.at_least("limits.max_connections", v, 1);
    }
    if let Some(v) = s.max_connections_per_ip {
        c.max_connections_per_ip = k.at_least("limits.max_connections_per_ip", v, 1);
    }
    if let Some(v) = s.memory_budget {
        c.memory_budget = k.bytes("limits.memory_budget", v);
    }
    if let Some(v) = s.reassembly_budget {
        c.reassembly_budget = k.bytes("limits.reassembly_budget", v);
    }
    if c.reassembly_budget > c.memory_budget {
        k.fail(
            "limits.reassembly_budget",
            format!(
                "{} must not exceed limits.memory_budget ({})",
                format_size(c.reassembly_budget as u64),
                format_size(c.memory_budget as u64)
            ),
        );
    }
}

fn streams(s: &StreamsSection, c: &mut Config, k: &mut Checker) {
    let hub = &mut c.hub;
    if let Some(v) = s.gop_cache {
        hub.gop_cache_ms = k.millis("streams.gop_cache", v);
    }
    if let Some(v) = s.gop_max_bytes {
        hub.gop_max_bytes = k.bytes("streams.gop_max_bytes", v);
    }
    if let Some(v) = s.gop_max_frames {
        hub.gop_max_frames = k.at_least("streams.gop_max_frames", v, 1);
    }
    if let Some(v) = s.viewer_max_lag {
        hub.viewer_max_lag_ms = k.millis("streams.viewer_max_lag", v);
    }
    if let Some(v) = s.viewer_max_bytes {
        hub.viewer_max_bytes = k.bytes("streams.viewer_max_bytes", v);
    }
    if let Some(v) = s.viewer_disconnect_after {
        hub.viewer_disconnect_after_ms = k.millis("streams.viewer_disconnect_after", v);
    }
    if let Some(v) = s.audio_batch {
        hub.audio_batch_ms = k.millis("streams.audio_batch", v);
    }
    if let Some(v) = s.max_batch {
        hub.max_batch_ms = k.millis("streams.max_batch", v);
    }
    hub.wait_for_publisher = s.wait_for_publisher.unwrap_or(hub.wait_for_publisher);
    hub.replace_publisher = s.replace_publisher.unwrap_or(hub.replace_publisher);
    hub.start_at_oldest_keyframe =
        s.start_at_oldest_keyframe.unwrap_or(hub.start_at_oldest_keyframe);
    c.low_latency = s.low_latency.unwrap_or(c.low_latency);
    c.io_uring = s.io_uring.unwrap_or(c.io_uring);
    if let Some(v) = s.publisher_timeout {
        c.publisher_timeout = k.nonzero("streams.publisher_timeout", v.0);
    }
    if let Some(v) = s.unpublished_wait {
        c.unpublished_wait = v.0;
    }
    if let Some(v) = s.publisher_grace {
        c.publisher_grace = v.0;
    }
    if let Some(v) = s.write_timeout {
        c.write_timeout = k.nonzero("streams.write_timeout", v.0);
    }
}

fn api(s: &ApiSection, c: &mut Config, k: &mut Checker) {
    if let Some(listen) = &s.listen {
        c.api_listen = listen.clone().into_option().map(|a| a.0);
    }
    if let Some(token) = &s.token {
        c.api_token = token.clone().into_option();
    }
    if let Some(public) = s.stat_public {
        c.api_stat_public = public;
    }
    match c.api_token.as_deref() {
        Some("") => k.fail("api.token", "must not be empty (use null for no token)".into()),
        Some(REDACTED) => k.fail(
            "api.token",
            format!("{REDACTED:?} is the placeholder written by config dump; set the real token"),
        ),
        _ => {}
    }
}

fn log(s: &LogSection, l: &mut LogSettings, k: &mut Checker) {
    if let Some(level) = &s.level {
        if let Err(message) = check_level(level) {
            k.fail("log.level", message);
        }
        l.level = level.clone();
    }
    match s.format.as_deref() {
        None => {}
        Some("text") => l.json = false,
        Some("json") => l.json = true,
        Some(other) => k.fail("log.format", format!("{other:?} must be text or json")),
    }
    if let Some(file) = &s.file {
        l.file = file.clone().into_option();
        if let Some(path) = &l.file {
            check_log_file(path, k);
        }
    }
    if let Some(size) = &s.rotate_size {
        l.rotate_size_bytes = size.clone().into_option().map(|s| s.0);
        if l.rotate_size_bytes == Some(0) {
            k.fail(
                "log.rotate_size",
                "0 must be at least 1B (use null to never rotate by size)".into(),
            );
        }
    }
    l.rotate_daily = s.rotate_daily.unwrap_or(l.rotate_daily);
    l.keep_files = s.keep.unwrap_or(l.keep_files);
    l.stderr = s.stderr.unwrap_or(l.stderr);
}

fn platform(s: &PlatformSection, c: &mut Config, k: &mut Checker) {
    if let Some(policy) = s.network_policy {
        c.network_policy = match policy {
            NetworkPolicy::Any => Policy::Any,
            NetworkPolicy::WifiOnly => Policy::WifiOnly,
            NetworkPolicy::CellularOnly => Policy::CellularOnly,
        };
    }
    if let Some(size) = &s.cellular_warning {
        c.cellular_warning_bytes = size.clone().into_option().map(|s| s.0);
        if c.cellular_warning_bytes == Some(0) {
            k.fail(
                "platform.cellular_warning",
                "0 must be at least 1B (use null for no warning)".into(),
            );
        }
    }
    c.watch_network = s.watch_network.unwrap_or(c.watch_network);
    if let Some(v) = s.background_notice {
        c.background_notice = k.nonzero("platform.background_notice", v.0);
    }
    c.mdns = s.mdns.unwrap_or(c.mdns);
    if let Some(name) = &s.mdns_name {
        c.mdns_name = name.clone().into_option();
        if let Some(name) = &c.mdns_name {
            if name.is_empty() || name.len() > 63 {
                k.fail(
                    "platform.mdns_name",
                    format!("{name:?} must be 1 to 63 bytes (one DNS label)"),
                );
            }
        }
    }
}

fn relay(s: &RelaySection, c: &mut Config, k: &mut Checker) {
    relay::pull(s, &mut c.relay, k);
    if let Some(tls) = &s.tls {
        if let Some(files) = &tls.ca_files {
            for (i, file) in files.iter().enumerate() {
                k.readable_file(&format!("relay.tls.ca_files[{i}]"), file);
            }
            c.relay.tls.ca_files = files.clone();
        }
        if let Some(pins) = &tls.pinned_keys {
            c.relay.tls.pinned_keys = pins.iter().map(|p| p.0).collect();
        }
        c.relay.tls.insecure = tls.insecure.unwrap_or(c.relay.tls.insecure);
    }
    let Some(push) = &s.push else { return };
    c.relay.push = push
        .iter()
        .enumerate()
        .map(|(i, entry)| push_rule(entry, &format!("relay.push[{i}]"), k))
        .collect();
}

/// One `relay.push` entry: a name or `*` for app and stream, an rtmp(s) URL with a host.
fn push_rule(entry: &PushEntry, path: &str, k: &mut Checker) -> PushRule {
    let name = |field: &str, value: &Option<String>, k: &mut Checker| {
        let value = value.clone().unwrap_or_else(|| ANY.into());
        if value.is_empty() || value.contains(['/', '?', '{', '}']) {
            k.fail(
                &format!("{path}.{field}"),
                format!("{value:?} is not a name (\"*\" for every one)"),
            );
        }
        value
    };
    let app = name("app", &entry.app, k);
    let stream = name("stream", &entry.stream, k);
    let url = entry.url.clone().unwrap_or_default();
    let url_path = format!("{path}.url");
    if entry.url.is_none() {
        k.required(&url_path, " (rtmp://host/app/key or rtmps://...)");
    } else if url.contains(REDACTED) {
        k.secret(&url_path, REDACTED, "stream key");
    } else {
        check_push_url(&url_path, &url, k);
    }
    PushRule { app, stream, url }
}

/// An `rtmp://` or `rtmps://` URL with a host and an application.
fn check_push_url(path: &str, url: &str, k: &mut Checker) {
    let shown = openrtmp_server::relay::redact_url(url);
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("rtmp://").or_else(|| lower.strip_prefix("rtmps://"));
    match rest.map(|r| r.split_once('/').unwrap_or((r, ""))) {
        None => k.fail(path, format!("{shown:?} is not an rtmp:// or rtmps:// URL")),
        Some(("", _)) => k.fail(path, format!("{shown:?} has no host")),
        Some((_, "")) => {
            k.fail(path, format!("{shown:?} has no application (rtmp://host/app/key)"))
        }
        Some(_) if url.contains(char::is_whitespace) => {
            k.fail(path, format!("{shown:?} must not contain spaces"))
        }
        Some(_) => {}
    }
}

fn check_level(filter: &str) -> Result<(), String> {
    let ok = !filter.trim().is_empty()
        && filter.split(',').all(|directive| {
            let level = directive.rsplit_once('=').map_or(directive, |(_, level)| level);
            LEVELS.contains(&level.trim().to_ascii_lowercase().as_str())
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{filter:?} is not a level (trace, debug, info, warn, error, off) or a filter such as \"info,openrtmp_server=debug\""
        ))
    }
}

fn check_log_file(path: &Path, k: &mut Checker) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        k.fail("log.file", format!("directory {} does not exist", dir.display()));
    } else if path.is_dir() {
        k.fail("log.file", format!("{} is a directory", path.display()));
    }
}

/// The full model of a runtime config (every key set); with `redact`, every secret is
/// [`REDACTED`].
pub(crate) fn to_file(c: &Config, redact: bool) -> FileConfig {
    let secret = |value: &str| if redact { REDACTED.to_string() } else { value.to_string() };
    let ms = |v: u32| Some(HumanDuration(Duration::from_millis(u64::from(v))));
    let d = |v: Duration| Some(HumanDuration(v));
    let size = |v: usize| Some(ByteSize(v as u64));
    FileConfig {
        listen: Some(c.listen.iter().copied().map(Addr).collect()),
        rtmps_listen: Some(c.rtmps_listen.iter().copied().map(Addr).collect()),
        tls: Some(Toggle::from_option(c.tls.as_ref().map(tls::to_file))),
        rtmp: RtmpSection {
            chunk_size: Some(c.chunk_size),
            window_ack_size: Some(c.window_ack_size),
            handshake_timeout: d(c.handshake_timeout),
            connect_timeout: d(c.connect_timeout),
            idle_timeout: d(c.idle_timeout),
        },
        limits: LimitsSection {
            max_connections: Some(c.max_connections),
            max_connections_per_ip: Some(c.max_connections_per_ip),
            memory_budget: size(c.memory_budget),
            reassembly_budget: size(c.reassembly_budget),
        },
        streams: StreamsSection {
            gop_cache: ms(c.hub.gop_cache_ms),
            gop_max_bytes: size(c.hub.gop_max_bytes),
            gop_max_frames: Some(c.hub.gop_max_frames),
            viewer_max_lag: ms(c.hub.viewer_max_lag_ms),
            viewer_max_bytes: size(c.hub.viewer_max_bytes),
            viewer_disconnect_after: ms(c.hub.viewer_disconnect_after_ms),
            wait_for_publisher: Some(c.hub.wait_for_publisher),
            replace_publisher: Some(c.hub.replace_publisher),
            start_at_oldest_keyframe: Some(c.hub.start_at_oldest_keyframe),
            low_latency: Some(c.low_latency),
            publisher_timeout: d(c.publisher_timeout),
            unpublished_wait: d(c.unpublished_wait),
            publisher_grace: d(c.publisher_grace),
            write_timeout: d(c.write_timeout),
            audio_batch: ms(c.hub.audio_batch_ms),
            max_batch: ms(c.hub.max_batch_ms),
            io_uring: Some(c.io_uring),
        },
        auth: auth::to_file(&c.auth, &secret),
        api: ApiSection {
            listen: Some(Toggle::from_option(c.api_listen.map(Addr))),
            token: Some(Toggle::from_option(c.api_token.as_deref().map(secret))),
            stat_public: Some(c.api_stat_public),
        },
        log: LogSection {
            level: Some(c.log.level.clone()),
            format: Some(if c.log.json { "json" } else { "text" }.into()),
            file: Some(Toggle::from_option(c.log.file.clone())),
            rotate_size: Some(Toggle::from_option(c.log.rotate_size_bytes.map(ByteSize))),
            rotate_daily: Some(c.log.rotate_daily),
            keep: Some(c.log.keep_files),
            stderr: Some(c.log.stderr),
        },
        shutdown: ShutdownSection { grace: d(c.shutdown_grace) },
        platform: PlatformSection {
            network_policy: Some(match c.network_policy {
                Policy::Any => NetworkPolicy::Any,
                Policy::WifiOnly => NetworkPolicy::WifiOnly,
                Policy::CellularOnly => NetworkPolicy::CellularOnly,
            }),
            cellular_warning: Some(Toggle::from_option(c.cellular_warning_bytes.map(ByteSize))),
            watch_network: Some(c.watch_network),
            background_notice: d(c.background_notice),
            mdns: Some(c.mdns),
            mdns_name: Some(Toggle::from_option(c.mdns_name.clone())),
        },
        relay: {
            let mut relay = RelaySection {
                push: Some(
                    c.relay
                        .push
                        .iter()
                        .map(|rule| PushEntry {
                            app: Some(rule.app.clone()),
                            stream: Some(rule.stream.clone()),
                            url: Some(if redact {
                                openrtmp_server::relay::redact_url(&rule.url)
                                    .replace(REDACTED_KEY, REDACTED)
                            } else {
                                rule.url.clone()
                            }),
                        })
                        .collect(),
                ),
                tls: Some(RelayTlsSection {
                    ca_files: Some(c.relay.tls.ca_files.clone()),
                    pinned_keys: Some(
                        c.relay.tls.pinned_keys.iter().copied().map(crate::unit::Pin).collect(),
                    ),
                    insecure: Some(c.relay.tls.insecure),
                }),
                ..RelaySection::default()
            };
            relay::dump(&c.relay, &mut relay, redact);
            relay
        },
        record: record::dump(&c.record),
        webrtc: webrtc::dump(&c.webrtc),
        cluster: cluster::dump(&c.cluster, redact),
        edge: cluster::dump_edge(&c.edge),
        proxy_protocol: proxy::dump(&c.proxy_protocol),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert!(check_level("info").is_ok());
        assert!(check_level("WARN").is_ok());
        assert!(check_level("info,openrtmp_server=debug").is_ok());
        assert!(check_level("loud").is_err());
        assert!(check_level("").is_err());
    }

    #[test]
    fn validate_fields_map_to_paths() {
        assert_eq!(server_field_path("chunk_size"), "rtmp.chunk_size");
        assert_eq!(server_field_path("max_connections"), "limits.max_connections");
        assert_eq!(server_field_path("listen"), "listen");
    }
}
