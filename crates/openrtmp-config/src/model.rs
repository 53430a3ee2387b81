//! The file model: what a configuration file, the environment and command-line flags can
//! say. Every field is optional; an absent field keeps the layer below (at the bottom, the
//! server default). See `docs/configuration.md` for every key with its default.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::unit::{Addr, ByteSize, HumanDuration};

/// A setting that `null` switches off (`api.listen`, `api.token`, `log.file`,
/// `log.rotate_size`); absent is different from `null`: absent keeps the layer below.
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
    /// Protocol settings.
    #[serde(default, skip_serializing_if = "RtmpSection::is_empty")]
    pub rtmp: RtmpSection,
    /// Connection and memory limits.
    #[serde(default, skip_serializing_if = "LimitsSection::is_empty")]
    pub limits: LimitsSection,
    /// Stream (hub) behaviour.
    #[serde(default, skip_serializing_if = "StreamsSection::is_empty")]
    pub streams: StreamsSection,
    /// HTTP API.
    #[serde(default, skip_serializing_if = "ApiSection::is_empty")]
    pub api: ApiSection,
    /// Logging.
    #[serde(default, skip_serializing_if = "LogSection::is_empty")]
    pub log: LogSection,
    /// Graceful shutdown.
    #[serde(default, skip_serializing_if = "ShutdownSection::is_empty")]
    pub shutdown: ShutdownSection,
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
        /// A player whose socket takes nothing this long is disconnected; default 10s.
        write_timeout: HumanDuration,
        /// Audio write batching in streams with video.
        audio_batch: HumanDuration,
    }
}

section! {
    /// `api:` HTTP API.
    ApiSection {
        /// Listen address; `null` disables the API; default `127.0.0.1:8080`.
        listen: Toggle<Addr> => "toggle",
        /// Bearer token the API requires (secret); `null` for none; default none.
        token: Toggle<String> => "toggle",
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

/// Top-level keys, in file order.
pub const ROOT_KEYS: &[&str] = &["listen", "rtmp", "limits", "streams", "api", "log", "shutdown"];

/// Checks one `{key: value}` entry of a section against its type; the error is the
/// parser's message.
pub(crate) type CheckEntry = fn(serde_json::Value) -> Result<(), String>;

fn check<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<(), String> {
    serde_json::from_value::<T>(value).map(|_| ()).map_err(|e| e.to_string())
}

/// Sections by name: their keys and their entry check.
pub(crate) fn section_spec(name: &str) -> Option<(&'static [&'static str], CheckEntry)> {
    Some(match name {
        "rtmp" => (RtmpSection::KEYS, check::<RtmpSection>),
        "limits" => (LimitsSection::KEYS, check::<LimitsSection>),
        "streams" => (StreamsSection::KEYS, check::<StreamsSection>),
        "api" => (ApiSection::KEYS, check::<ApiSection>),
        "log" => (LogSection::KEYS, check::<LogSection>),
        "shutdown" => (ShutdownSection::KEYS, check::<ShutdownSection>),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_the_structs() {
        for section in &ROOT_KEYS[1..] {
            let (keys, check) = section_spec(section).unwrap();
            for key in keys {
                assert!(check(serde_json::json!({ *key: null })).is_ok(), "{section}.{key}");
            }
            assert!(check(serde_json::json!({ "nope": null })).is_err());
        }
        let all: serde_json::Value = ROOT_KEYS
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    if *k == "listen" { serde_json::json!(null) } else { serde_json::json!({}) },
                )
            })
            .collect();
        assert!(serde_json::from_value::<FileConfig>(all).is_ok());
    }

    #[test]
    fn null_switches_off() {
        let api: ApiSection = serde_json::from_str(r#"{"listen": null}"#).unwrap();
        assert_eq!(api.listen, Some(Toggle::Off));
        assert_eq!(api.token, None);
        assert_eq!(serde_json::to_string(&api).unwrap(), r#"{"listen":null}"#);
    }
}
