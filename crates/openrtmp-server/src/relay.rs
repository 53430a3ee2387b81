//! Relay: live streams pushed to other servers and platforms (restream).
//!
//! This first slice pushes. Each push target is one tokio task (`relay/push.rs`) that reads its
//! stream through the hub like a player does (a [`openrtmp_hub::Subscriber`] driven by a
//! [`openrtmp_hub::MediaPump`]), so a slow or dead target is handled by the pump's lag
//! policy — it skips to the next keyframe, drops counted — and never slows the publisher,
//! the players or the other targets. The target's connection is the RTMP client of
//! `openrtmp-client` (rtmp:// and rtmps://).
//!
//! Targets come from rules ([`PushRule`]: `relay.push` in the configuration, `--push` on
//! the command line). When a publisher starts, the connection tells `Relay::published`;
//! the matching targets start. When the stream ends their tasks see it through their pump
//! and stop; there is no second hook on the way out, so no path that ends a publication
//! (unpublish, socket loss, replacement) can leave a target running.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openrtmp_hub::{Hub, StreamKey};
use tokio_util::sync::CancellationToken;

mod push;
mod target;

use target::Target;
pub use target::{TargetState, TargetStatus, BACKOFF_INITIAL, BACKOFF_MAX, BACKOFF_RESET_AFTER};

/// What stands for the stream key in redacted URLs.
pub const REDACTED_KEY: &str = "****";

/// Matches every application or stream name in a [`PushRule`].
pub const ANY: &str = "*";

/// A static push rule: every stream of `app` named `stream` is pushed to `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRule {
    /// Application name, or [`ANY`].
    pub app: String,
    /// Stream name, or [`ANY`].
    pub stream: String,
    /// `rtmp://` or `rtmps://` URL; `{app}` and `{stream}` are replaced by the stream's
    /// application and name.
    pub url: String,
}

impl PushRule {
    /// A rule that pushes every stream to `url` (`openrtmp serve --push URL`).
    pub fn everything(url: impl Into<String>) -> PushRule {
        PushRule { app: ANY.into(), stream: ANY.into(), url: url.into() }
    }

    /// Whether the rule applies to the stream `key`.
    pub fn matches(&self, key: &StreamKey) -> bool {
        (self.app == ANY || self.app == key.app) && (self.stream == ANY || self.stream == key.name)
    }

    /// The URL for the stream `key`: `{app}` and `{stream}` replaced.
    pub fn url_for(&self, key: &StreamKey) -> String {
        self.url.replace("{app}", &key.app).replace("{stream}", &key.name)
    }
}

/// Relay settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelaySettings {
    /// Static push targets, started with each stream they match.
    pub push: Vec<PushRule>,
}

/// `url` with what identifies the publisher hidden: the stream key (everything after the
/// application: `rtmp://host/app/****`), a query string and user credentials. Platforms
/// treat the key as a password, so it must never reach a log line or a listing.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return REDACTED_KEY.into();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let (authority, query_in_authority) =
        authority.split_once('?').map_or((authority, false), |(a, _)| (a, true));
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("{REDACTED_KEY}@{host}"),
        None => authority.to_owned(),
    };
    let mut out = format!("{scheme}://{authority}");
    if query_in_authority {
        out.push('?');
        out.push_str(REDACTED_KEY);
        return out;
    }
    let Some(path) = path else { return out };
    let (app, stream) = path.split_once('/').map_or((path, ""), |(a, s)| (a, s));
    let (app, query) = app.split_once('?').map_or((app, false), |(a, _)| (a, true));
    out.push('/');
    out.push_str(app);
    if query {
        out.push('?');
        out.push_str(REDACTED_KEY);
    } else if !stream.is_empty() {
        out.push('/');
        out.push_str(REDACTED_KEY);
    }
    out
}

/// Subscriber owner ids of push targets: apart from connection ids (which count up from 1).
const OWNER_BASE: u64 = 1 << 62;

/// The push targets of the server: started when their stream goes live, listed for
/// operators, stopped at shutdown.
#[derive(Debug)]
pub(crate) struct Relay {
    hub: Hub,
    /// Cancelled at shutdown: every target closes its connection and ends.
    shutdown: CancellationToken,
    /// Targets whose task runs, `failed` ones included: they stay listed (with their
    /// reason) until their stream ends, and are not started again meanwhile.
    targets: Mutex<Vec<Arc<Target>>>,
    next_id: AtomicU64,
}

impl Relay {
    pub(crate) fn new(hub: Hub, shutdown: CancellationToken) -> Relay {
        Relay { hub, shutdown, targets: Mutex::new(Vec::new()), next_id: AtomicU64::new(1) }
    }

    fn targets(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Target>>> {
        self.targets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A publisher started on `key`: starts the targets of `rules` that match it and are
    /// not running already (a publisher that replaced another keeps the targets going).
    pub(crate) fn published(self: &Arc<Self>, key: &StreamKey, rules: &[PushRule]) {
        let mut started = Vec::new();
        {
            let mut targets = self.targets();
            for rule in rules.iter().filter(|r| r.matches(key)) {
                let url = rule.url_for(key);
                if targets.iter().any(|t| t.key == *key && t.url == url) {
                    continue;
                }
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let target = Arc::new(Target::new(id, key.clone(), url));
                targets.push(Arc::clone(&target));
                started.push(target);
            }
        }
        for target in started {
            tracing::info!(
                app = %key.app, stream = %key.name, target = target.id, url = %target.redacted,
                "push target starts"
            );
            let relay = Arc::clone(self);
            tokio::spawn(push::run(relay, target));
        }
    }

    /// Every push target with its state, in the order they started.
    pub(crate) fn list(&self) -> Vec<TargetStatus> {
        self.targets().iter().map(|t| t.snapshot()).collect()
    }

    /// Removes `target` if its stream has no publisher now; true if it was removed (its
    /// task then ends). Checked under the list's lock, so a publisher that starts at the
    /// same moment either sees the target still listed (and the task carries on with the
    /// new publisher) or not (and starts a new one).
    fn retire_if_ended(&self, target: &Target) -> bool {
        let mut targets = self.targets();
        let live = self.hub.stream(&target.key).is_some_and(|s| s.publishing);
        if live && !self.shutdown.is_cancelled() {
            return false;
        }
        targets.retain(|t| t.id != target.id);
        true
    }

    /// Removes `target` for good (shutdown).
    fn remove(&self, target: &Target) {
        self.targets().retain(|t| t.id != target.id);
    }
}

impl crate::ServerHandle {
    /// Every push target with its state and counters (stream keys redacted).
    pub fn push_targets(&self) -> Vec<TargetStatus> {
        self.shared.relay.list()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_are_redacted() {
        let cases = [
            ("rtmp://live.twitch.tv/app/live_123_secret", "rtmp://live.twitch.tv/app/****"),
            (
                "rtmps://a.rtmps.youtube.com:443/live2/abcd-efgh",
                "rtmps://a.rtmps.youtube.com:443/live2/****",
            ),
            ("rtmp://h/app/room/key?token=x", "rtmp://h/app/****"),
            ("rtmp://h/app?key=secret", "rtmp://h/app?****"),
            ("rtmp://user:pass@h:1935/app/k", "rtmp://****@h:1935/app/****"),
            ("rtmp://h/app", "rtmp://h/app"),
            ("rtmp://h", "rtmp://h"),
            ("not a url", "****"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn rules_match_and_substitute() {
        let key = StreamKey::new("live", "cam1");
        let rule = PushRule {
            app: "live".into(),
            stream: ANY.into(),
            url: "rtmp://backup/{app}/{stream}?via={app}".into(),
        };
        assert!(rule.matches(&key));
        assert!(!rule.matches(&StreamKey::new("other", "cam1")));
        assert_eq!(rule.url_for(&key), "rtmp://backup/live/cam1?via=live");
        let exact = PushRule { stream: "cam2".into(), ..rule };
        assert!(!exact.matches(&key));
        assert!(PushRule::everything("rtmp://x/{app}/{stream}").matches(&key));
    }
}
