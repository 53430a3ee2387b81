//! Pulls: streams played from origin servers and published in the local hub, so that one
//! upstream connection per stream serves every local player (an edge).
//!
//! Each pulled stream key has one task (`pull/task.rs`) holding the stream's
//! [`openrtmp_hub::Publisher`]. It plays the stream from the first origin that answers
//! and pushes every frame into the hub as received. When that origin fails (connect or
//! play refused, the stream ended, no media for [`MEDIA_TIMEOUT`]) it moves on to the next
//! one, keeping the Publisher, so local players stay attached across the change; after a
//! full round of failures it backs off (as push targets do) and starts over. Without a
//! source for [`SOURCE_GRACE`], it drops the Publisher: players get their end of stream.
//!
//! Precedence: a local publisher wins. A play on a key that a local publisher holds never
//! starts a pull; a local publish on a key being pulled is refused (`BadName`, "stream is
//! relayed from an origin") unless `streams.replace_publisher` is on, in which case it
//! takes over and the pull stops.
//!
//! Loops: the pull's `connect` carries the chain of relays (`relay/via.rs`), so an origin
//! that would pull the stream back from us refuses it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use openrtmp_hub::{Publisher, StreamKey};
use tokio_util::sync::CancellationToken;

use super::via::{Chain, ViaError};
use super::{Relay, RelaySettings, OWNER_BASE};

mod rule;
mod task;

pub use rule::{OriginSelect, PullMode, PullRule};

/// Without any origin answering for this long, the pull drops its Publisher: players get
/// their end of stream instead of waiting on a stream that may not come back. The pull
/// holds its Publisher itself (a new origin is spliced into it); after an origin said the
/// stream ended, the grace is shorter (its players were already held by the origin's own
/// reconnect grace).
pub const SOURCE_GRACE: Duration = Duration::from_secs(5);
/// An origin that sends no media for this long is given up for the next one. Longer than
/// an origin's reconnect grace (`streams.publisher_grace`, 3 s by default) with room to
/// spare: an origin holding its players for a publisher that comes back is silent for that
/// long, and an edge must not leave it then (it ends the stream itself when the grace is
/// over, and the edge follows within [`SOURCE_GRACE`]'s short form).
pub const MEDIA_TIMEOUT: Duration = Duration::from_secs(8);
/// A pull that handed its players to a local publisher holds the lost publication this
/// long for it (it publishes right after; see [`Relay::hand_over`]).
pub(crate) const HANDOVER_HOLD: Duration = Duration::from_secs(2);

/// Time allowed for TCP connect, handshake, `connect` and `play` at an origin.
pub const ORIGIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What a pull is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullState {
    /// Connecting to an origin, or playing from it with no media yet.
    Connecting,
    /// Media flows from the origin.
    Live,
    /// Every origin failed; waiting before the next round.
    Backoff {
        /// Time left until the next round.
        retry_in: Duration,
    },
}

impl PullState {
    /// The state's name as the API spells it: `connecting`, `live`, `backoff`.
    pub fn name(&self) -> &'static str {
        match self {
            PullState::Connecting => "connecting",
            PullState::Live => "live",
            PullState::Backoff { .. } => "backoff",
        }
    }
}

/// A snapshot of one pull, for listings (origin URLs redacted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullStatus {
    /// The application of the pulled stream.
    pub app: String,
    /// The stream name.
    pub stream: String,
    /// `on_demand` or `always`.
    pub mode: PullMode,
    /// What it does now.
    pub state: PullState,
    /// When it entered that state.
    pub since: SystemTime,
    /// The origin in use or being tried (index in the order tried, redacted URL).
    pub origin: Option<(usize, String)>,
    /// Every origin, in the order tried, redacted.
    pub origins: Vec<String>,
    /// Times a new origin took over from another while the local stream stayed up.
    pub switches: u64,
    /// Frames received from origins (all connections).
    pub frames_in: u64,
    /// Payload bytes received from origins.
    pub bytes_in: u64,
    /// Whether the pull holds the local stream's publisher now (false after
    /// [`SOURCE_GRACE`] without a source).
    pub publishing: bool,
    /// The relay chain its connections carry (`openrtmpVia`), this server last.
    pub via: String,
    /// The last failure (redacted), if any.
    pub last_error: Option<String>,
}

/// The mutable part of a pull.
#[derive(Debug)]
struct Status {
    state: PullState,
    backoff_until: Option<Instant>,
    since: SystemTime,
    origin: Option<usize>,
    switches: u64,
    frames_in: u64,
    bytes_in: u64,
    publishing: bool,
    last_error: Option<String>,
}

/// One pulled stream.
#[derive(Debug)]
pub(crate) struct Pull {
    pub(crate) id: u64,
    pub(crate) key: StreamKey,
    pub(crate) mode: PullMode,
    /// Origin URLs in the order tried (keys included: never logged), and the same
    /// redacted; an edge's are looked up in the directory at each round.
    origins: Mutex<Origins>,
    /// The cluster whose directory names the origin (an edge's pull), else `None` (the
    /// origins of a `relay.pull` rule).
    pub(crate) resolver: Option<Arc<crate::cluster::Cluster>>,
    /// The chain its connections carry, this server last.
    pub(crate) via: Chain,
    pub(crate) cancel: CancellationToken,
    /// Set with `cancel` when a local publisher takes the stream over from an edge's pull:
    /// the task loses its Publisher instead of ending it, then answers.
    pub(crate) handover: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    /// The last time a player asked for the stream (the linger runs from the later of
    /// this and the last viewer leaving).
    demanded: Mutex<Instant>,
    status: Mutex<Status>,
}

/// A pull's origin URLs and their redacted forms.
#[derive(Debug, Default)]
struct Origins {
    urls: Vec<String>,
    redacted: Vec<String>,
}

impl Origins {
    fn new(urls: Vec<String>) -> Origins {
        let redacted = urls.iter().map(|o| super::redact_url(o)).collect();
        Origins { urls, redacted }
    }
}

impl Pull {
    fn origins(&self) -> std::sync::MutexGuard<'_, Origins> {
        self.origins.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many origins a round tries.
    pub(crate) fn origin_count(&self) -> usize {
        self.origins().urls.len()
    }

    /// Origin `index`'s URL (key included: never logged).
    pub(crate) fn origin(&self, index: usize) -> Option<String> {
        self.origins().urls.get(index).cloned()
    }

    /// Origin `index`'s URL, redacted.
    pub(crate) fn redacted(&self, index: usize) -> String {
        self.origins().redacted.get(index).cloned().unwrap_or_default()
    }

    /// Replaces the origins (an edge's, from the directory).
    pub(crate) fn set_origins(&self, urls: Vec<String>) {
        let mut origins = self.origins();
        if origins.urls != urls {
            *origins = Origins::new(urls);
        }
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_state(&self, state: PullState) {
        let mut s = self.status();
        if s.state != state {
            s.state = state;
            s.since = SystemTime::now();
        }
    }

    pub(crate) fn connecting(&self, origin: usize) {
        self.status().origin = Some(origin);
        self.set_state(PullState::Connecting);
    }

    pub(crate) fn live(&self) {
        self.set_state(PullState::Live);
    }

    pub(crate) fn switched(&self) {
        self.status().switches += 1;
    }

    pub(crate) fn received(&self, frames: u64, bytes: u64) {
        let mut s = self.status();
        s.frames_in += frames;
        s.bytes_in += bytes;
    }

    pub(crate) fn publishing(&self, publishing: bool) {
        self.status().publishing = publishing;
    }

    pub(crate) fn failed(&self, reason: String) {
        self.status().last_error = Some(reason);
    }

    pub(crate) fn backoff(&self, until: Instant) {
        self.set_state(PullState::Backoff { retry_in: Duration::ZERO });
        self.status().backoff_until = Some(until);
    }

    fn demanded(&self) -> Instant {
        *self.demanded.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn demand(&self) {
        *self.demanded.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn snapshot(&self) -> PullStatus {
        let s = self.status();
        let state = match (&s.state, s.backoff_until) {
            (PullState::Backoff { .. }, Some(until)) => {
                PullState::Backoff { retry_in: until.saturating_duration_since(Instant::now()) }
            }
            (state, _) => state.clone(),
        };
        PullStatus {
            app: self.key.app.clone(),
            stream: self.key.name.clone(),
            mode: self.mode,
            state,
            since: s.since,
            origin: s.origin.and_then(|i| Some((i, self.origins().redacted.get(i)?.clone()))),
            origins: self.origins().redacted.clone(),
            switches: s.switches,
            frames_in: s.frames_in,
            bytes_in: s.bytes_in,
            publishing: s.publishing,
            via: self.via.to_string(),
            last_error: s.last_error.clone(),
        }
    }
}

/// The running pulls, one per stream key, and the relay chains of local publishers.
#[derive(Debug, Default)]
pub(crate) struct Pulls {
    list: Mutex<HashMap<StreamKey, Arc<Pull>>>,
    /// The chain each local publisher came through (`openrtmpVia` of its connect; empty
    /// for a direct encoder), with its connection id: what its push targets carry on.
    chains: Mutex<HashMap<StreamKey, (u64, Chain)>>,
}

impl Pulls {
    fn list(&self) -> std::sync::MutexGuard<'_, HashMap<StreamKey, Arc<Pull>>> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Relay {
    /// A play of `key` arrives from `peer` through the relay chain `chain`: refused (the
    /// description for `NetStream.Play.Failed`) if the chain is a loop or too long; else,
    /// if a pull rule matches (or, on an `edge`, the cluster's directory will say where the
    /// stream is live) and no local publisher holds the key, the pull starts (or, running,
    /// is told it is wanted). Called before the player subscribes.
    pub(crate) fn playing(
        self: &Arc<Self>,
        key: &StreamKey,
        chain: &Chain,
        peer: SocketAddr,
        settings: &RelaySettings,
        edge: bool,
    ) -> Result<(), String> {
        if let Err(e) = chain.check(self.node, settings.max_hops) {
            self.refused(key, chain, peer, "play", &e);
            return Err(e.to_string());
        }
        match settings.pull.iter().find(|r| r.matches(key)) {
            Some(rule) => {
                self.start_pull(key, rule.mode, rule.origins_for(key), None, chain, settings)
            }
            None if edge => {
                if let Some(cluster) = self.cluster() {
                    self.start_pull(
                        key,
                        PullMode::OnDemand,
                        Vec::new(),
                        Some(cluster),
                        chain,
                        settings,
                    );
                }
            }
            None => {}
        }
        Ok(())
    }

    /// A local publisher won the cluster's claim on `key`: an edge's pull of it (the
    /// directory named another owner, which is draining or gone) hands its players over.
    /// Resolves once the pull's publication is lost, not ended, so the publisher's
    /// `Hub::publish` continues it (spliced in at a keyframe, timestamps continued). A
    /// pull of a `relay.pull` rule is left alone (its precedence rules apply).
    pub(crate) async fn hand_over(&self, key: &StreamKey) {
        let ack = {
            let pulls = self.pulls.list();
            let Some(pull) = pulls.get(key).filter(|p| p.resolver.is_some()) else { return };
            let (tx, rx) = tokio::sync::oneshot::channel();
            *pull.handover.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
            pull.cancel.cancel();
            rx
        };
        let _ = tokio::time::timeout(ORIGIN_TIMEOUT, ack).await;
    }

    /// A publish of `key` from `peer` through `chain`: `Err` with the description for
    /// `NetStream.Publish.BadName` if the chain is a loop or too long, or if the key is
    /// being pulled (unless `replace`: then the pull stops and the publisher takes over).
    pub(crate) fn publishing(
        &self,
        key: &StreamKey,
        chain: &Chain,
        peer: SocketAddr,
        settings: &RelaySettings,
        replace: bool,
    ) -> Result<(), String> {
        if let Err(e) = chain.check(self.node, settings.max_hops) {
            self.refused(key, chain, peer, "publish", &e);
            return Err(e.to_string());
        }
        let pulls = self.pulls.list();
        let Some(pull) = pulls.get(key) else { return Ok(()) };
        if replace {
            tracing::info!(
                app = %key.app, stream = %key.name, %peer,
                "a local publisher takes over a pulled stream: the pull stops"
            );
            pull.cancel.cancel();
            return Ok(());
        }
        tracing::warn!(
            app = %key.app, stream = %key.name, %peer,
            "publish refused: the stream is relayed from an origin"
        );
        Err(format!("stream {} is relayed from an origin", key.name))
    }

    fn refused(&self, key: &StreamKey, chain: &Chain, peer: SocketAddr, what: &str, e: &ViaError) {
        tracing::warn!(
            app = %key.app, stream = %key.name, %peer, hops = chain.len(), node = %self.node,
            reason = %e, "{what} refused: relay loop"
        );
    }

    /// Starts the `always` pulls of `settings` (at server start). A rule for every stream
    /// (`*`) has nothing to start; configuration resolution refuses it.
    pub(crate) fn start_always(self: &Arc<Self>, settings: &RelaySettings) {
        for rule in settings.pull.iter().filter(|r| r.mode == PullMode::Always) {
            if rule.app == super::ANY || rule.stream == super::ANY {
                tracing::warn!(app = %rule.app, stream = %rule.stream, "an always pull needs a concrete app and stream: not started");
                continue;
            }
            let key = StreamKey::new(rule.app.clone(), rule.stream.clone());
            let origins = rule.origins_for(&key);
            self.start_pull(&key, rule.mode, origins, None, &Chain::default(), settings);
        }
    }

    /// Starts a pull of `key` from `origins` (or from where `resolver`'s directory says)
    /// unless one runs (then it is marked wanted) or a local publisher holds the key. The
    /// pull publishes at once, so players subscribe to a stream that exists whatever
    /// `wait_for_publisher` says.
    fn start_pull(
        self: &Arc<Self>,
        key: &StreamKey,
        mode: PullMode,
        origins: Vec<String>,
        resolver: Option<Arc<crate::cluster::Cluster>>,
        chain: &Chain,
        settings: &RelaySettings,
    ) {
        let mut pulls = self.pulls.list();
        if let Some(pull) = pulls.get(key) {
            pull.demand();
            return;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let publisher = match self.hub.publish(key.clone(), OWNER_BASE + id) {
            Ok(publisher) => publisher,
            Err(_) => return, // a local publisher holds the key: it takes precedence
        };
        let pull = Arc::new(Pull {
            id,
            key: key.clone(),
            mode,
            origins: Mutex::new(Origins::new(origins)),
            resolver,
            via: chain.through(self.node),
            cancel: self.shutdown.child_token(),
            handover: Mutex::new(None),
            demanded: Mutex::new(Instant::now()),
            status: Mutex::new(Status {
                state: PullState::Connecting,
                backoff_until: None,
                since: SystemTime::now(),
                origin: None,
                switches: 0,
                frames_in: 0,
                bytes_in: 0,
                publishing: true,
                last_error: None,
            }),
        });
        pulls.insert(key.clone(), Arc::clone(&pull));
        drop(pulls);
        tracing::info!(
            app = %key.app, stream = %key.name, mode = mode.name(), via = %pull.via,
            origins = ?pull.origins().redacted, edge = pull.resolver.is_some(), "pull starts"
        );
        // A pulled stream is pushed like a published one (`relay.push`); its pushes carry
        // the pull's chain, so a push that comes back here is refused.
        self.published(key, &settings.push);
        let (linger, push) = (settings.pull_linger, settings.push.clone());
        if !self.run_task(task::run(Arc::clone(self), pull, publisher, linger, push)) {
            tracing::error!(app = %key.app, stream = %key.name, "pull not started: no tokio runtime");
        }
    }

    /// Whether an on-demand `pull` has had no viewer (players, push targets) and no demand
    /// for `linger`: then it is removed (under the list's lock, so a play that arrives now
    /// starts a new pull) and must stop. `idle_since` is when the viewers were last seen
    /// gone.
    fn retire_if_idle(
        &self,
        pull: &Pull,
        idle_since: &mut Option<Instant>,
        linger: Duration,
    ) -> bool {
        if pull.mode == PullMode::Always {
            return false;
        }
        let mut pulls = self.pulls.list();
        let viewers = self.hub.stream(&pull.key).map_or(0, |s| s.viewers);
        if viewers > 0 {
            *idle_since = None;
            return false;
        }
        let since = *idle_since.get_or_insert_with(Instant::now);
        let last = since.max(pull.demanded());
        if last.elapsed() < linger {
            return false;
        }
        pulls.retain(|_, p| p.id != pull.id);
        true
    }

    /// Forgets `pull` (it stopped).
    fn pull_ended(&self, pull: &Pull) {
        self.pulls.list().retain(|_, p| p.id != pull.id);
    }

    /// A local publisher (connection `conn_id`) came through `chain`: its push targets
    /// carry it on.
    pub(crate) fn published_through(&self, key: &StreamKey, conn_id: u64, chain: &Chain) {
        let mut chains = self.pulls.chains.lock().unwrap_or_else(|e| e.into_inner());
        if chain.is_empty() {
            chains.remove(key);
        } else {
            chains.insert(key.clone(), (conn_id, chain.clone()));
        }
    }

    /// The local publisher `conn_id` of `key` stopped.
    pub(crate) fn unpublished(&self, key: &StreamKey, conn_id: u64) {
        let mut chains = self.pulls.chains.lock().unwrap_or_else(|e| e.into_inner());
        if chains.get(key).is_some_and(|(owner, _)| *owner == conn_id) {
            chains.remove(key);
        }
    }

    /// The relay chain a push of `key` carries (`openrtmpVia`): the chain its source came
    /// through (a pull's, or a local publisher's) with this server last.
    pub(crate) fn via_for(&self, key: &StreamKey) -> String {
        if let Some(pull) = self.pulls.list().get(key) {
            return pull.via.to_string();
        }
        let chains = self.pulls.chains.lock().unwrap_or_else(|e| e.into_inner());
        let chain = chains.get(key).map(|(_, c)| c.clone()).unwrap_or_default();
        chain.through(self.node).to_string()
    }

    /// Every pull, sorted by stream.
    pub(crate) fn pull_list(&self) -> Vec<PullStatus> {
        let mut list: Vec<PullStatus> = self.pulls.list().values().map(|p| p.snapshot()).collect();
        list.sort_by(|a, b| (&a.app, &a.stream).cmp(&(&b.app, &b.stream)));
        list
    }

    /// The pull of `key`, if it runs.
    pub(crate) fn pull_of(&self, key: &StreamKey) -> Option<PullStatus> {
        self.pulls.list().get(key).map(|p| p.snapshot())
    }
}

/// Keeps one Publisher across source changes: the one place that tells the hub the next
/// frames come from another source ([`Publisher::splice`]: timestamps rebased to continue
/// the stream's, the new source started at its first keyframe, changed headers first).
fn source_changed(publisher: &Publisher) {
    let _ = publisher.splice();
}
