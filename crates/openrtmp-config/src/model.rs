//! The file model: what a configuration file, the environment and command-line flags can
//! say. Every field is optional; an absent field keeps the layer below (at the bottom, the
//! server default). See `docs/configuration.md` for every key with its default.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::unit::{Addr, ByteSize, HumanDuration, Pin};

pub use auth::{
    AclRulesSection, AclSection, AuthSection, BruteForceSection, CallbackAction, CallbackSection,
    CallbackTlsSection, NamesSection, PlayTokensSection, PublishKeyEntry,
};
pub use tls::{AcmeChallenge, AcmeSection, ClientAuthSection, TlsSection, TlsVersion};

/// A setting that `null` switches off (`api.listen`, `api.token`, `log.file`,
/// `log.rotate_size`, `tls`, `auth.callback`, ...); absent is different from `null`: absent
/// keeps the layer below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Toggle<T> {
    /// Written as `null`: the feature is off.
    Off,
    /// Set to a value.
    On(T),
}

impl<T> Toggle<T> {
    /// The value, `None` when off.
    pub fn into_option(self) -> Option<T> {
        match self {
            Toggle::Off => None,
            Toggle::On(value) => Some(value),
        }
    }

    /// `Off` for `None`.
    pub fn from_option(value: Option<T>) -> Self {
        value.map_or(Toggle::Off, Toggle::On)
    }
}

impl<T: Serialize> Serialize for Toggle<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Toggle::Off => s.serialize_none(),
            Toggle::On(value) => value.serialize(s),
        }
    }
}

/// `null` means [`Toggle::Off`], not "absent".
fn toggle<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Toggle<T>>, D::Error> {
    Ok(Some(Toggle::from_option(Option::<T>::deserialize(d)?)))
}

/// A whole configuration file (or a partial one: the environment and flags fill this too).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// RTMP listen addresses (`IP:port`); default `["0.0.0.0:1935"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<Vec<Addr>>,
    /// RTMPS listen addresses (`IP:port`); default none. Needs `tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmps_listen: Option<Vec<Addr>>,
    /// TLS for the RTMPS listeners; `null` for none; default none.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "toggle")]
    pub tls: Option<Toggle<TlsSection>>,
    /// Protocol settings.
    #[serde(default, skip_serializing_if = "RtmpSection::is_empty")]
    pub rtmp: RtmpSection,
    /// Connection and memory limits.
    #[serde(default, skip_serializing_if = "LimitsSection::is_empty")]
    pub limits: LimitsSection,
    /// Stream (hub) behaviour.
    #[serde(default, skip_serializing_if = "StreamsSection::is_empty")]
    pub streams: StreamsSection,
    /// Authentication and access control.
    #[serde(default, skip_serializing_if = "AuthSection::is_empty")]
    pub auth: AuthSection,
    /// HTTP API.
    #[serde(default, skip_serializing_if = "ApiSection::is_empty")]
    pub api: ApiSection,
    /// Logging.
    #[serde(default, skip_serializing_if = "LogSection::is_empty")]
    pub log: LogSection,
    /// Graceful shutdown.
    #[serde(default, skip_serializing_if = "ShutdownSection::is_empty")]
    pub shutdown: ShutdownSection,
    /// Platform integration (mostly for embedded and mobile hosts).
    #[serde(default, skip_serializing_if = "PlatformSection::is_empty")]
    pub platform: PlatformSection,
    /// Relay: streams pushed to other servers.
    #[serde(default, skip_serializing_if = "RelaySection::is_empty")]
    pub relay: RelaySection,
    /// Recording: streams written to FLV or fragmented MP4 files.
    #[serde(default, skip_serializing_if = "RecordSection::is_empty")]
    pub record: RecordSection,
    /// WebRTC (WHIP) ingest.
    #[serde(default, skip_serializing_if = "WebrtcSection::is_empty")]
    pub webrtc: WebrtcSection,
    /// Scale-out: node id, directory, claims, drain.
    #[serde(default, skip_serializing_if = "ClusterSection::is_empty")]
    pub cluster: ClusterSection,
    /// Edge: pulling streams published on other nodes.
    #[serde(default, skip_serializing_if = "EdgeSection::is_empty")]
    pub edge: EdgeSection,
    /// PROXY protocol from trusted load balancers.
    #[serde(default, skip_serializing_if = "ProxyProtocolSection::is_empty")]
    pub proxy_protocol: ProxyProtocolSection,
}

macro_rules! section {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty $(=> $with:literal)?),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[$fdoc])*
                #[serde(default, skip_serializing_if = "Option::is_none" $(, deserialize_with = $with)?)]
                pub $field: Option<$ty>,
            )*
        }

        impl $name {
            /// The keys this section accepts.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Whether nothing is set.
            pub fn is_empty(&self) -> bool {
                *self == Self::default()
            }
        }
    };
}

section! {
    /// `rtmp:` protocol settings.
    RtmpSection {
        /// Outbound chunk size, 128..=65536; default 4096.
        chunk_size: u32,
        /// Window Acknowledgement Size announced to clients, at least 1; default 2500000.
        window_ack_size: u32,
        /// Deadline for the whole handshake; default 10s.
        handshake_timeout: HumanDuration,
        /// Time allowed between the handshake and `connect`; default 10s.
        connect_timeout: HumanDuration,
        /// A connection that has connected but neither publishes nor plays, or stops in the
        /// middle of a message, is closed after this long; default 30s.
        idle_timeout: HumanDuration,
    }
}

section! {
    /// `limits:` connection and memory limits.
    LimitsSection {
        /// Most simultaneous connections, at least 1; default 10000.
        max_connections: usize,
        /// Most simultaneous connections from one IP, at least 1; default 1000.
        max_connections_per_ip: usize,
        /// Global memory budget; default 1GiB.
        memory_budget: ByteSize,
        /// Per-connection inbound reassembly budget; default 4MiB.
        reassembly_budget: ByteSize,
    }
}

section! {
    /// `streams:` hub and per-stream behaviour.
    StreamsSection {
        /// Media kept for new viewers (back to a keyframe); default 2s.
        gop_cache: HumanDuration,
        /// Hard cap on bytes in one stream's cache; default 32MiB.
        gop_max_bytes: ByteSize,
        /// Hard cap on frames in one stream's cache; default 4096.
        gop_max_frames: usize,
        /// Lag after which a viewer skips to a keyframe.
        viewer_max_lag: HumanDuration,
        /// Pending bytes after which a viewer skips to a keyframe.
        viewer_max_bytes: ByteSize,
        /// Lagging this long (skip after skip) disconnects a viewer.
        viewer_disconnect_after: HumanDuration,
        /// Players may wait for a stream nobody publishes yet.
        wait_for_publisher: bool,
        /// A new publisher displaces the live one instead of being refused.
        replace_publisher: bool,
        /// New viewers start at the oldest cached keyframe.
        start_at_oldest_keyframe: bool,
        /// Low-latency mode (500 ms lag tolerance, no audio batching).
        low_latency: bool,
        /// Publisher silence after which it is gone; default 5s.
        publisher_timeout: HumanDuration,
        /// How long players of an ended stream wait for a new publisher; default 30s.
        unpublished_wait: HumanDuration,
        /// How long the players of a publisher lost abruptly wait for it to come back
        /// before they are told the stream ended; default 3s, 0s disables.
        publisher_grace: HumanDuration,
        /// A player whose socket takes nothing this long is disconnected; default 10s.
        write_timeout: HumanDuration,
        /// Audio write batching in streams with video.
        audio_batch: HumanDuration,
        /// Longest a frame may wait to share a write with later frames; default 0 (off).
        max_batch: HumanDuration,
        /// Linux: submit viewers' writes to io_uring in rounds; default true.
        io_uring: bool,
    }
}

section! {
    /// `api:` HTTP API.
    ApiSection {
        /// Listen address; `null` disables the API; default `127.0.0.1:8080`.
        listen: Toggle<Addr> => "toggle",
        /// Bearer token the API requires (secret); `null` for none; default none.
        token: Toggle<String> => "toggle",
        /// Serve `GET /stat` without the token (NOALBS sends none); default false.
        stat_public: bool,
    }
}

section! {
    /// `log:` logging.
    LogSection {
        /// Level or filter directive; default `info`.
        level: String,
        /// `text` or `json`; default `text`.
        format: String,
        /// Log file; `null` for none; default none.
        file: Toggle<PathBuf> => "toggle",
        /// Rotate the file at this size; `null` for never; default never.
        rotate_size: Toggle<ByteSize> => "toggle",
        /// Rotate the file every day; default false.
        rotate_daily: bool,
        /// Rotated files kept; default 7.
        keep: usize,
        /// Also log to stderr; default true.
        stderr: bool,
    }
}

section! {
    /// `shutdown:` graceful shutdown.
    ShutdownSection {
        /// How long streams may go on after a shutdown request; default 30s.
        grace: HumanDuration,
    }
}

section! {
    /// `platform:` platform integration, mostly for embedded and mobile hosts.
    PlatformSection {
        /// Networks served on: `any`, `wifi-only` or `cellular-only`; default `any`.
        network_policy: NetworkPolicy,
        /// Warn once when bytes sent over cellular pass this; `null` for never; default never.
        cellular_warning: Toggle<ByteSize> => "toggle",
        /// Watch the OS for network changes; default true on Linux, macOS and Windows.
        watch_network: bool,
        /// Clients are told the server is going away this long before the background
        /// deadline; default 5s.
        background_notice: HumanDuration,
        /// Announce the RTMP listener over mDNS/DNS-SD (`_rtmp._tcp`); default false.
        mdns: bool,
        /// The announced instance name; `null`: the host name; default null.
        mdns_name: Toggle<String> => "toggle",
    }
}

section! {
    /// `relay:` streams pushed to other servers and platforms, and pulled from origins.
    RelaySection {
        /// Push targets, each started with every stream it matches; default none.
        push: Vec<PushEntry>,
        /// Streams pulled from origin servers (edges); default none.
        pull: Vec<PullEntry>,
        /// How long an on-demand pull outlives its last viewer; default 10s.
        pull_linger: HumanDuration,
        /// Longest relay chain accepted before a play or publish is refused as a loop;
        /// default 4.
        max_hops: u32,
        /// TLS for `rtmps://` push targets.
        tls: RelayTlsSection,
    }
}

section! {
    /// One rule of `relay.pull`.
    PullEntry {
        /// The application whose streams are pulled (required).
        app: String,
        /// The stream name; `*` (the default) for every stream of the app.
        stream: String,
        /// Origin play URLs, tried in turn (required, at least one); `{app}` and
        /// `{stream}` are replaced by the stream's app and name.
        origins: Vec<String>,
        /// `on_demand` (the default) or `always`.
        mode: PullMode,
        /// The order origins are tried in: `order` (the default) or `hash`.
        select: OriginSelect,
    }
}

section! {
    /// `relay.tls:` TLS for `rtmps://` push targets (as `auth.callback.tls`).
    RelayTlsSection {
        /// Extra trusted roots (PEM files), besides the built-in Mozilla roots.
        ca_files: Vec<PathBuf>,
        /// SHA-256 fingerprints of the targets' public keys (SubjectPublicKeyInfo).
        pinned_keys: Vec<Pin>,
        /// Skip chain and name checks (development only; pins still apply); default false.
        insecure: bool,
    }
}

section! {
    /// One push target of `relay.push`.
    PushEntry {
        /// The application whose streams are pushed; `*` (the default) for every one.
        app: String,
        /// The stream name; `*` (the default) for every stream of the app.
        stream: String,
        /// `rtmp://` or `rtmps://` URL (required; the stream key in it is a secret);
        /// `{app}` and `{stream}` are replaced by the stream's app and name.
        url: String,
    }
}

/// Top-level keys, in file order.
pub const ROOT_KEYS: &[&str] = &[
    "listen",
    "rtmps_listen",
    "tls",
    "rtmp",
    "limits",
    "streams",
    "auth",
    "api",
    "log",
    "shutdown",
    "platform",
    "relay",
    "record",
    "webrtc",
    "cluster",
    "edge",
    "proxy_protocol",
];

/// Checks one `{key: value}` entry of a section (or one list element) against its type;
/// the error is the parser's message.
pub(crate) type CheckEntry = fn(serde_json::Value) -> Result<(), String>;

pub(crate) fn check<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<(), String> {
    serde_json::from_value::<T>(value).map(|_| ()).map_err(|e| e.to_string())
}

/// How the source walker reads a section: its keys, the check of one plain `{key: value}`
/// entry, and the keys that hold more than one value (so that each problem gets its own
/// path, `auth.acl.publish.allow[1]`).
pub(crate) struct Spec {
    /// What messages call the section (`expected a mapping of acl settings`).
    pub name: &'static str,
    /// The keys it accepts.
    pub keys: &'static [&'static str],
    /// Checks a plain entry.
    pub check: CheckEntry,
    /// Keys that are not plain entries.
    pub nested: &'static [(&'static str, Shape)],
}

impl Spec {
    /// How `key` is read.
    pub fn shape(&self, key: &str) -> Shape {
        self.nested.iter().find(|(k, _)| *k == key).map_or(Shape::Value, |(_, shape)| *shape)
    }
}

/// How one key of a section is read.
#[derive(Clone, Copy)]
pub(crate) enum Shape {
    /// A plain entry, checked whole.
    Value,
    /// A list read element by element (`key[i]`); one value stands for a list of one.
    List(Item),
    /// A nested section; when `nullable`, `null` switches it off (a [`Toggle`]), otherwise
    /// `null` is ignored.
    Section(&'static Spec, bool),
    /// Names the operator chooses (app names), each holding a list of `Item`; `null` for
    /// none.
    Names(Item),
}

/// One element of a list.
#[derive(Clone, Copy)]
pub(crate) enum Item {
    /// A value, checked on its own.
    Value(CheckEntry),
    /// A section.
    Section(&'static Spec),
}

const fn plain(name: &'static str, keys: &'static [&'static str], check: CheckEntry) -> Spec {
    Spec { name, keys, check, nested: &[] }
}

const ADDRS: Shape = Shape::List(Item::Value(check::<Addr>));
const RTMP: Spec = plain("rtmp", RtmpSection::KEYS, check::<RtmpSection>);
const LIMITS: Spec = plain("limits", LimitsSection::KEYS, check::<LimitsSection>);
const STREAMS: Spec = plain("streams", StreamsSection::KEYS, check::<StreamsSection>);
const API: Spec = plain("api", ApiSection::KEYS, check::<ApiSection>);
const LOG: Spec = plain("log", LogSection::KEYS, check::<LogSection>);
const SHUTDOWN: Spec = plain("shutdown", ShutdownSection::KEYS, check::<ShutdownSection>);
const PLATFORM: Spec = plain("platform", PlatformSection::KEYS, check::<PlatformSection>);
const PUSH_ENTRY: Spec = plain("push target", PushEntry::KEYS, check::<PushEntry>);
const PULL_ENTRY: Spec = Spec {
    name: "pull rule",
    keys: PullEntry::KEYS,
    check: check::<PullEntry>,
    nested: &[("origins", Shape::List(Item::Value(check::<String>)))],
};
const RELAY_TLS: Spec = Spec {
    name: "tls",
    keys: RelayTlsSection::KEYS,
    check: check::<RelayTlsSection>,
    nested: &[
        ("ca_files", Shape::List(Item::Value(check::<PathBuf>))),
        ("pinned_keys", Shape::List(Item::Value(check::<Pin>))),
    ],
};
const RELAY: Spec = Spec {
    name: "relay",
    keys: RelaySection::KEYS,
    check: check::<RelaySection>,
    nested: &[
        ("push", Shape::List(Item::Section(&PUSH_ENTRY))),
        ("pull", Shape::List(Item::Section(&PULL_ENTRY))),
        ("tls", Shape::Section(&RELAY_TLS, false)),
    ],
};

/// The whole document.
pub(crate) const ROOT: Spec = Spec {
    name: "",
    keys: ROOT_KEYS,
    check: check::<FileConfig>,
    nested: &[
        ("listen", ADDRS),
        ("rtmps_listen", ADDRS),
        ("tls", Shape::Section(&tls::TLS, true)),
        ("rtmp", Shape::Section(&RTMP, false)),
        ("limits", Shape::Section(&LIMITS, false)),
        ("streams", Shape::Section(&STREAMS, false)),
        ("auth", Shape::Section(&auth::AUTH, false)),
        ("api", Shape::Section(&API, false)),
        ("log", Shape::Section(&LOG, false)),
        ("shutdown", Shape::Section(&SHUTDOWN, false)),
        ("platform", Shape::Section(&PLATFORM, false)),
        ("relay", Shape::Section(&RELAY, false)),
        ("record", Shape::Section(&record::RECORD, false)),
        ("webrtc", Shape::Section(&webrtc::WEBRTC, false)),
        ("cluster", Shape::Section(&cluster::CLUSTER, false)),
        ("edge", Shape::Section(&cluster::EDGE, false)),
        ("proxy_protocol", Shape::Section(&proxy::PROXY_PROTOCOL, false)),
    ],
};

/// A choice among names, written as text (a number such as `1.2` is read as its text).
macro_rules! choice {
    ($(#[$doc:meta])* $name:ident, $what:literal {
        $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant),*
        }

        impl $name {
            /// The names accepted.
            pub const NAMES: &'static [&'static str] = &[$($text),*];

            /// The name written in files.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),*
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                match text.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)*
                    _ => Err(format!(
                        "{text:?} is not {} ({})",
                        $what,
                        crate::model::one_of($name::NAMES)
                    )),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(crate::model::ChoiceVisitor($what, std::marker::PhantomData))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
/// Reads a [`choice!`] from text, or from a number written without quotes (`1.2`).
pub(crate) struct ChoiceVisitor<T>(pub &'static str, pub std::marker::PhantomData<T>);

impl<T: std::str::FromStr<Err = String>> serde::de::Visitor<'_> for ChoiceVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<T, E> {
        // Debug keeps the written fraction: `1.0`, not `1`.
        self.visit_str(&format!("{v:?}"))
    }
}

/// `"a, b or c"`.
pub(crate) fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

choice! {
    /// `platform.network_policy`.
    NetworkPolicy, "a network policy" {
        /// Every network.
        Any = "any",
        /// Wi-Fi (and wired, and loopback) only: never over cellular.
        WifiOnly = "wifi-only",
        /// Cellular (and loopback) only.
        CellularOnly = "cellular-only",
    }
}

// After the macros, which they use.
mod auth;
mod cluster;
mod proxy;
mod pull;
mod record;
mod tls;
mod webrtc;

pub use cluster::{ClusterSection, DirectoryKind, DirectorySection, EdgeSection, StaticNodeEntry};
pub use proxy::ProxyProtocolSection;
pub use pull::{OriginSelect, PullMode};
pub use record::{RecordEntry, RecordFormat, RecordSection, RetentionSection};
pub use webrtc::{Bitrate, WebrtcSection};

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    /// Every spec's keys deserialize into its struct, its nested keys are among its keys,
    /// and an unknown key is refused.
    fn check_spec(spec: &Spec, path: &str) {
        for (key, _) in spec.nested {
            assert!(spec.keys.contains(key), "{path}.{key} is nested but not a key");
        }
        for key in spec.keys {
            let at = format!("{path}.{key}");
            let (value, inner) = match spec.shape(key) {
                Shape::Section(inner, nullable) => {
                    if nullable {
                        assert!((spec.check)(json!({ *key: null })).is_ok(), "{at}: null");
                    }
                    (json!({}), Some(inner))
                }
                Shape::List(Item::Section(inner)) | Shape::Names(Item::Section(inner)) => {
                    (Value::Null, Some(inner))
                }
                Shape::Value | Shape::List(_) | Shape::Names(_) => (Value::Null, None),
            };
            assert!((spec.check)(json!({ *key: value })).is_ok(), "{at}");
            if let Some(inner) = inner {
                check_spec(inner, &at);
            }
        }
        assert!((spec.check)(json!({ "nope": null })).is_err(), "{path}.nope");
    }

    #[test]
    fn specs_match_the_structs() {
        check_spec(&ROOT, "");
    }

    #[test]
    fn null_switches_off() {
        let api: ApiSection = serde_json::from_str(r#"{"listen": null}"#).unwrap();
        assert_eq!(api.listen, Some(Toggle::Off));
        assert_eq!(api.token, None);
        assert_eq!(serde_json::to_string(&api).unwrap(), r#"{"listen":null}"#);
    }

    #[test]
    fn choices() {
        assert_eq!(serde_json::from_value::<TlsVersion>(json!(1.3)).unwrap(), TlsVersion::V13);
        assert_eq!(serde_json::from_value::<TlsVersion>(json!("1.2")).unwrap(), TlsVersion::V12);
        assert_eq!(
            serde_json::from_value::<TlsVersion>(json!("1.1")).unwrap_err().to_string(),
            "\"1.1\" is not a TLS version (1.2 or 1.3)"
        );
        assert_eq!(
            "record".parse::<CallbackAction>().unwrap_err(),
            "\"record\" is not a callback action (connect, publish or play)"
        );
        assert_eq!(serde_json::to_value(AcmeChallenge::Http01).unwrap(), json!("http-01"));
    }
}
