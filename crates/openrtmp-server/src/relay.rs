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
//! the command line) and from the API ([`crate::ServerHandle::add_push_target`]). When a
//! publisher starts, the connection tells `Relay::published`; the matching rules make
//! their targets and they start, with the API targets attached to the stream. When the
//! stream ends their tasks see it through their pump and stop; there is no second hook on
//! the way out, so no path that ends a publication (unpublish, socket loss, replacement)
//! can leave a target running. API targets stay listed (as `connecting`) until removed,
//! and start again with the next publication.
//!
//! Removing a target cancels its own token (a child of the server's shutdown token): its
//! task ends the publication politely and stops.
//!
//! Pulls (`relay/pull.rs`, `relay.pull`) play streams from origin servers and publish
//! them here, one upstream connection per stream, with fail-over between origins; every
//! relay connection carries the chain of servers it passed through (`relay/via.rs`), so
//! relay loops are refused.
//!
//! A target's state tells the truth: `live` only while the target acknowledges what it is
//! sent (RTMP Acknowledgements; the rule and its thresholds are in `relay/push/health.rs`),
//! with its counters (bytes sent and acknowledged, bitrate, queue, drops, reconnects,
//! uptime) kept in `relay/target.rs`, which also logs each change of state once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openrtmp_hub::{Hub, StreamKey};
use tokio_util::sync::CancellationToken;

mod pull;
mod push;
mod target;
mod via;

pub(crate) use via::{Chain, VIA_PROPERTY};

pub use pull::{
    OriginSelect, PullMode, PullRule, PullState, PullStatus, MEDIA_TIMEOUT, ORIGIN_TIMEOUT,
    SOURCE_GRACE,
};

pub use push::health::{ACK_TIMEOUT, PUSH_WINDOW_ACK_SIZE, STALL_AFTER};
use target::Target;
pub use target::{
    TargetOrigin, TargetState, TargetStatus, BACKOFF_INITIAL, BACKOFF_MAX, BACKOFF_RESET_AFTER,
    RATE_WINDOW,
};

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

/// Default [`RelaySettings::pull_linger`].
pub const DEFAULT_PULL_LINGER: std::time::Duration = std::time::Duration::from_secs(10);
/// Default [`RelaySettings::max_hops`].
pub const DEFAULT_MAX_HOPS: u32 = 4;

/// Relay settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySettings {
    /// Static push targets, started with each stream they match.
    pub push: Vec<PushRule>,
    /// Streams pulled from origins; the first rule that matches a stream applies.
    pub pull: Vec<PullRule>,
    /// How long an on-demand pull outlives its last viewer (a player that comes back
    /// within it finds the stream running) ([`DEFAULT_PULL_LINGER`]).
    pub pull_linger: std::time::Duration,
    /// Longest relay chain accepted: a play or publish that passed through more servers
    /// is refused as a loop ([`DEFAULT_MAX_HOPS`]).
    pub max_hops: u32,
    /// TLS of `rtmps://` push targets: extra trusted CAs, pinned keys (the Mozilla roots
    /// always apply). A change applies to each target's next connection.
    pub tls: openrtmp_tls::ClientTls,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            push: Vec::new(),
            pull: Vec::new(),
            pull_linger: DEFAULT_PULL_LINGER,
            max_hops: DEFAULT_MAX_HOPS,
            tls: openrtmp_tls::ClientTls::default(),
        }
    }
}

/// `text` with the stream key of `url` (and the full URL) redacted: client errors quote
/// URLs and stream names, and a relay's errors go to logs, listings and metrics.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    if let Ok(parsed) = openrtmp_client::RtmpUrl::parse(url) {
        if !parsed.stream.is_empty() {
            out = out.replace(&parsed.stream, REDACTED_KEY);
        }
    }
    out
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

/// Why a push target could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// The URL is not a usable `rtmp://` or `rtmps://` publish URL. `url` is redacted.
    #[error("invalid push target URL {url}: {reason}")]
    InvalidUrl {
        /// The URL as given, stream key redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The stream already pushes to this URL: a second connection with the same key
    /// would be refused by the target (or replace the first). `url` is redacted.
    #[error("{app}/{stream} already pushes to {url} (target {id})")]
    Duplicate {
        /// Application name.
        app: String,
        /// Stream name.
        stream: String,
        /// The URL, stream key redacted.
        url: String,
        /// The target that pushes there.
        id: u64,
    },
}

/// Checks that `url` can be published to: `rtmp`/`rtmps`, a host, an application and a
/// stream key. The reason never quotes the URL (the client's errors do, key included).
fn validate_url(url: &str) -> Result<(), RelayError> {
    use openrtmp_client::{RtmpUrl, UrlError};
    let invalid = |reason: String| RelayError::InvalidUrl { url: redact_url(url), reason };
    let parsed = RtmpUrl::parse(url).map_err(|e| {
        invalid(match e {
            UrlError::Invalid { reason, .. } => format!("not a URL ({reason})"),
            UrlError::Scheme { scheme } => {
                format!("unsupported scheme {scheme:?} (expected rtmp:// or rtmps://)")
            }
            UrlError::NoHost { .. } => "no host".into(),
            UrlError::NoApp { .. } => "no application (expected rtmp://host/app/key)".into(),
            UrlError::NoStream { .. } => "no stream key (expected rtmp://host/app/key)".into(),
            // Only reconnect requests are refused so; parsing never is.
            UrlError::Downgrade { .. } => "a move from rtmps:// to rtmp://".into(),
        })
    })?;
    if parsed.require_stream().is_err() {
        return Err(invalid("no stream key (expected rtmp://host/app/key)".into()));
    }
    Ok(())
}

/// Subscriber owner ids of push targets: apart from connection ids (which count up from 1).
const OWNER_BASE: u64 = 1 << 62;

/// The push targets of the server: started when their stream goes live, listed for
/// operators, stopped at shutdown or on request.
///
/// Two kinds live in one list ([`TargetOrigin`]): configuration targets exist for one
/// publication (made by [`Relay::published`], dropped when it ends); API targets are
/// attached to a stream name and outlive publications — between them they stay listed as
/// `connecting` with no task, and the next [`Relay::published`] starts their task again.
#[derive(Debug)]
pub(crate) struct Relay {
    hub: Hub,
    /// Cancelled at shutdown: every target closes its connection and ends. Each target's
    /// own token is a child of it.
    shutdown: CancellationToken,
    /// Targets whose task runs, `failed` ones included (they stay listed, with their
    /// reason, until their stream ends, and are not started again meanwhile), and API
    /// targets waiting for their stream.
    targets: Mutex<Vec<Arc<Target>>>,
    /// Ids of targets and pulls (their hub owner ids are [`OWNER_BASE`] plus it).
    next_id: AtomicU64,
    /// The running pulls.
    pulls: pull::Pulls,
    /// This server in relay chains.
    pub(crate) node: via::NodeId,
    /// The server's runtime, where target tasks run: the API may be called from any thread
    /// (an embedder's, through the FFI), not only from the runtime's.
    runtime: Option<tokio::runtime::Handle>,
    /// TLS of `rtmps://` targets (`relay.tls`), read at each connection.
    tls: Mutex<openrtmp_tls::ClientTls>,
    /// The cluster an edge finds origins in (`edge.enabled`), set when the server binds.
    cluster: Mutex<Option<Arc<crate::cluster::Cluster>>>,
}

impl Relay {
    pub(crate) fn new(
        hub: Hub,
        shutdown: CancellationToken,
        tls: openrtmp_tls::ClientTls,
    ) -> Relay {
        Relay {
            cluster: Mutex::new(None),
            hub,
            shutdown,
            tls: Mutex::new(tls),
            targets: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            runtime: tokio::runtime::Handle::try_current().ok(),
            pulls: pull::Pulls::default(),
            node: via::NodeId::random(),
        }
    }

    /// The TLS settings of `rtmps://` targets and origins (`relay.tls`), for a new
    /// connection.
    /// The cluster whose directory edges look origins up in.
    pub(crate) fn set_cluster(&self, cluster: Arc<crate::cluster::Cluster>) {
        *self.cluster.lock().unwrap_or_else(|e| e.into_inner()) = Some(cluster);
    }

    pub(crate) fn cluster(&self) -> Option<Arc<crate::cluster::Cluster>> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn tls(&self) -> openrtmp_tls::ClientTls {
        self.tls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the TLS settings (configuration reload): each target's next connection
    /// uses them.
    pub(crate) fn set_tls(&self, tls: &openrtmp_tls::ClientTls) {
        let mut current = self.tls.lock().unwrap_or_else(|e| e.into_inner());
        if *current != *tls {
            *current = tls.clone();
        }
    }

    fn targets(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Target>>> {
        self.targets.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_live(&self, key: &StreamKey) -> bool {
        self.hub.stream(key).is_some_and(|s| s.publishing)
    }

    fn new_target(
        &self,
        key: &StreamKey,
        url: String,
        origin: TargetOrigin,
        until_unpublish: bool,
    ) -> Arc<Target> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let cancel = self.shutdown.child_token();
        Arc::new(Target::new(id, key.clone(), url, origin, until_unpublish, cancel))
    }

    /// A publisher started on `key`: starts the targets of `rules` that match it and are
    /// not running already (a publisher that replaced another keeps the targets going),
    /// and the API targets attached to `key` that wait for it.
    pub(crate) fn published(self: &Arc<Self>, key: &StreamKey, rules: &[PushRule]) {
        let mut started = Vec::new();
        {
            let mut targets = self.targets();
            for target in targets.iter().filter(|t| t.key == *key && !t.is_running()) {
                target.set_running(true);
                started.push(Arc::clone(target));
            }
            for rule in rules.iter().filter(|r| r.matches(key)) {
                let url = rule.url_for(key);
                if targets.iter().any(|t| t.key == *key && t.url == url) {
                    continue;
                }
                let target = self.new_target(key, url, TargetOrigin::Config, false);
                target.set_running(true);
                targets.push(Arc::clone(&target));
                started.push(target);
            }
        }
        for target in started {
            self.spawn(target);
        }
    }

    fn spawn(self: &Arc<Self>, target: Arc<Target>) {
        tracing::info!(
            app = %target.key.app, stream = %target.key.name, target = target.id,
            url = %target.redacted, origin = target.origin.name(), "push target starts"
        );
        if !self.run_task(push::run(Arc::clone(self), target)) {
            tracing::error!("push target not started: no tokio runtime");
        }
    }

    /// Spawns a relay task on the current runtime, or on the server's when called from
    /// another thread (the API through the FFI, a reload). False if there is neither.
    fn run_task(&self, task: impl std::future::Future<Output = ()> + Send + 'static) -> bool {
        match (&self.runtime, tokio::runtime::Handle::try_current()) {
            (_, Ok(current)) => drop(current.spawn(task)),
            (Some(server), Err(_)) => drop(server.spawn(task)),
            (None, Err(_)) => return false,
        }
        true
    }

    /// Attaches a push target to `key` (API): started now if the stream is live, else
    /// listed as `connecting` until it is. `{app}` and `{stream}` in `url` are replaced.
    /// With `until_unpublish`, the target is removed when that publication ends (the
    /// current one, or the next one if the stream is not live yet).
    pub(crate) fn add(
        self: &Arc<Self>,
        key: &StreamKey,
        url: &str,
        until_unpublish: bool,
    ) -> Result<u64, RelayError> {
        let url = PushRule::everything(url).url_for(key);
        validate_url(&url)?;
        let (target, live) = {
            let mut targets = self.targets();
            if let Some(other) = targets.iter().find(|t| t.key == *key && t.url == url) {
                return Err(RelayError::Duplicate {
                    app: key.app.clone(),
                    stream: key.name.clone(),
                    url: other.redacted.clone(),
                    id: other.id,
                });
            }
            let target = self.new_target(key, url, TargetOrigin::Api, until_unpublish);
            targets.push(Arc::clone(&target));
            // Under the lock: a publisher that starts now either is seen here, or runs
            // `published` after us and finds the target not running.
            let live = self.is_live(key);
            target.set_running(live);
            (target, live)
        };
        let id = target.id;
        if live {
            self.spawn(target);
        } else {
            tracing::info!(
                app = %key.app, stream = %key.name, target = id, url = %target.redacted,
                "push target attached; waits for its stream"
            );
        }
        Ok(id)
    }

    /// Removes the target `id` of `key` (API); false if there is none. Its task, if any,
    /// ends its publication politely (FCUnpublish, deleteStream) and stops. A
    /// configuration target stops for the current publication only: the next
    /// publication that matches its rule makes it again.
    pub(crate) fn remove_target(&self, key: &StreamKey, id: u64) -> bool {
        let removed = {
            let mut targets = self.targets();
            let Some(at) = targets.iter().position(|t| t.id == id && t.key == *key) else {
                return false;
            };
            targets.remove(at)
        };
        tracing::info!(
            app = %key.app, stream = %key.name, target = id, url = %removed.redacted,
            origin = removed.origin.name(), "push target removed"
        );
        removed.cancel.cancel();
        true
    }

    /// Every push target with its state, in the order they were made.
    pub(crate) fn list(&self) -> Vec<TargetStatus> {
        self.targets().iter().map(|t| t.snapshot()).collect()
    }

    /// The push targets of `key`, in the order they were made.
    pub(crate) fn list_for(&self, key: &StreamKey) -> Vec<TargetStatus> {
        self.targets().iter().filter(|t| t.key == *key).map(|t| t.snapshot()).collect()
    }

    /// Ends the task of `target` if its stream has no publisher now (or the target was
    /// cancelled); true if the task must end. A configuration target is dropped from the
    /// list, and so is an API target tied to the publication (`until_unpublish`); any
    /// other API target stays, waiting for the next publication. Checked under the
    /// list's lock, so a publisher that starts at the same moment either sees the task
    /// still running (and it carries on with the new publisher) or not (and starts one).
    fn retire_if_ended(&self, target: &Target) -> bool {
        let mut targets = self.targets();
        if self.is_live(&target.key) && !target.cancel.is_cancelled() {
            return false;
        }
        target.set_running(false);
        if target.origin == TargetOrigin::Api
            && !target.until_unpublish
            && !target.cancel.is_cancelled()
        {
            target.waiting();
        } else {
            targets.retain(|t| t.id != target.id);
            if target.until_unpublish && !target.cancel.is_cancelled() {
                tracing::info!(
                    app = %target.key.app, stream = %target.key.name, target = target.id,
                    url = %target.redacted, "push target removed: its publication ended"
                );
            }
        }
        true
    }

    /// Removes `target` for good (shutdown, removal).
    fn remove(&self, target: &Target) {
        self.targets().retain(|t| t.id != target.id);
    }
}

impl crate::ServerHandle {
    /// Every push target with its state and counters (stream keys redacted).
    pub fn push_targets(&self) -> Vec<TargetStatus> {
        self.shared.relay.list()
    }

    /// Attaches a push target to the stream `app`/`stream` and returns its id. It starts
    /// at once if the stream is live, else with the stream's next publication (listed as
    /// `connecting` meanwhile), and stays attached across publications until
    /// [`ServerHandle::remove_push_target`](crate::ServerHandle::remove_push_target).
    /// `{app}` and `{stream}` in `url` are replaced. Refused: a URL that is not
    /// `rtmp(s)://host/app/key`, or one the stream already pushes to.
    pub fn add_push_target(&self, app: &str, stream: &str, url: &str) -> Result<u64, RelayError> {
        self.shared.relay.add(&StreamKey::new(app, stream), url, false)
    }

    /// Like [`ServerHandle::add_push_target`](crate::ServerHandle::add_push_target), but the target is tied to one publication:
    /// it is removed when the stream's publisher ends (the current one, or the next one
    /// if the stream is not live yet) instead of waiting for the next publication. Listed
    /// with [`TargetStatus::until_unpublish`]. A browser studio attaches its targets so:
    /// a closed tab ends its WHIP publication, and with it its targets, even when the
    /// page's goodbye (`DELETE`) never arrives. A publisher that replaces another on the
    /// same stream (a takeover) continues the publication: the target carries on.
    pub fn add_push_target_until_unpublish(
        &self,
        app: &str,
        stream: &str,
        url: &str,
    ) -> Result<u64, RelayError> {
        self.shared.relay.add(&StreamKey::new(app, stream), url, true)
    }

    /// Stops and removes the push target `id` of `app`/`stream`; false if it has none such.
    /// A configuration target (`relay.push`, `--push`) stops for the current publication
    /// only; the stream's next publication pushes to it again.
    pub fn remove_push_target(&self, app: &str, stream: &str, id: u64) -> bool {
        self.shared.relay.remove_target(&StreamKey::new(app, stream), id)
    }

    /// The push targets of `app`/`stream` (configuration and API), keys redacted.
    pub fn push_targets_of(&self, app: &str, stream: &str) -> Vec<TargetStatus> {
        self.shared.relay.list_for(&StreamKey::new(app, stream))
    }

    /// Every running pull (`relay.pull`) with its state, origin URLs redacted.
    pub fn pulls(&self) -> Vec<PullStatus> {
        self.shared.relay.pull_list()
    }

    /// The pull that feeds `app`/`stream`, if one runs.
    pub fn pull_of(&self, app: &str, stream: &str) -> Option<PullStatus> {
        self.shared.relay.pull_of(&StreamKey::new(app, stream))
    }

    /// This server's id in relay chains (`openrtmpVia`): 16 hex digits, random per process.
    pub fn node_id(&self) -> String {
        self.shared.relay.node.to_string()
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
    fn target_urls_are_checked_without_showing_the_key() {
        assert_eq!(validate_url("rtmp://h/app/sk_1"), Ok(()));
        assert_eq!(validate_url("rtmps://h:443/app/sk_1?x=y"), Ok(()));
        for (url, why) in [
            ("http://h/app/sk_1", "unsupported scheme"),
            ("rtmp:///app/sk_1", "no host"),
            ("rtmp://h/app", "no stream key"),
            ("rtmp://h/", "no application"),
            ("not a url sk_1", "not a URL"),
        ] {
            let error = validate_url(url).expect_err(url);
            let text = error.to_string();
            assert!(text.contains(why), "{url}: {text}");
            assert!(!text.contains("sk_1"), "{url}: the key shows in {text}");
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
