//! The task of one pull: origins tried in turn, frames from the one that answers pushed
//! into the stream's Publisher, the Publisher kept across origin changes (or dropped after
//! [`SOURCE_GRACE`] without a source), and the pull retired when nobody watches.
//!
//! Three clocks run beside the connection and are waited on in the same `select!`: the
//! grace (only while there is no source), the viewer check of an on-demand pull (every
//! [`VIEWER_CHECK`], only for on-demand pulls) and the open batch's deadline.

use std::sync::Arc;
use std::time::Duration;

use openrtmp_client::{ClientError, ConnectOptions, Connection, RtmpUrl};
use openrtmp_hub::{Frame, FrameKind, Publisher};
use openrtmp_proto::command::StatusLevel;
use openrtmp_proto::message::MessageType;
use openrtmp_proto::session::ClientEvent;
use tokio::time::Instant;

use super::{source_changed, Pull, PullMode, MEDIA_TIMEOUT, ORIGIN_TIMEOUT, SOURCE_GRACE};
use crate::cluster::SwitchReason;
use crate::relay::target::Backoff;
use crate::relay::{scrub, Relay, OWNER_BASE};

/// How often an on-demand pull looks at its viewer count (the linger's resolution).
const VIEWER_CHECK: Duration = Duration::from_millis(500);

/// The grace after an origin said the stream ended (unpublished, `StreamEOF`, an error
/// status such as `StreamNotFound`) rather than failing: the origin has already held its
/// players through its own reconnect grace (`streams.publisher_grace`), so the edge's
/// players get their end of stream at most this long after the origin's, unless another
/// origin delivers media first.
const ENDED_GRACE: Duration = Duration::from_millis(750);

/// An edge's pull with no origin (none named by the directory, or the one named failing)
/// looks again after this long.
const EDGE_RETRY: Duration = Duration::from_millis(400);

/// How long an edge keeps its players without a source while the directory still names
/// an owner: a crashed origin's lease (5 s) plus the claim of the node its encoder
/// reconnected to, plus the usual [`SOURCE_GRACE`]. Players stay attached across the move.
const EDGE_GRACE: Duration = Duration::from_secs(15);

/// An edge whose stream has had no owner in the directory for this long ends it (the
/// publisher stopped): longer than the gap between a dead owner's lease expiring and the
/// new owner's claim (one claim retry).
const NO_OWNER_GRACE: Duration = Duration::from_secs(2);

/// Why an origin was given up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PullError {
    /// Connecting or playing failed in the client (refused, unreachable, timed out).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The origin sent no media for [`MEDIA_TIMEOUT`].
    #[error("no media for {} s", .0.as_secs())]
    Silent(Duration),
    /// The origin ended the stream (unpublished, error status).
    #[error("the origin ended the stream: {0}")]
    Ended(String),
    /// The origin closed the connection.
    #[error("the origin closed the connection")]
    Closed,
}

/// Why the pull stops.
enum Stop {
    /// Cancelled: shutdown, or a local publisher took over.
    Cancelled,
    /// On demand, and nobody watched for the linger.
    Idle,
    /// A local publisher holds the key (the pull lost its Publisher and could not take
    /// it back).
    LocalPublisher,
}

/// The pull's state between origins.
struct Run {
    relay: Arc<Relay>,
    pull: Arc<Pull>,
    publisher: Option<Publisher>,
    linger: Duration,
    /// `relay.push` when the pull started: started again when the Publisher is claimed
    /// again after the grace.
    push: Vec<crate::relay::PushRule>,
    /// When the last source was lost (or the pull started): the grace runs from here.
    lost_at: Option<Instant>,
    /// How long the grace from `lost_at` is: [`SOURCE_GRACE`], or [`ENDED_GRACE`] once an
    /// origin said the stream ended.
    grace: Duration,
    /// Whether the Publisher held now has had a source (a next one is a change).
    had_source: bool,
    /// An edge: since when the directory has named no owner (the stream ended when that
    /// lasts [`NO_OWNER_GRACE`]).
    no_owner_since: Option<Instant>,
    /// Why the first upstream lost since the last source was left.
    left_for: Option<SwitchReason>,
    idle_since: Option<std::time::Instant>,
    /// When an on-demand pull next looks at its viewers: one deadline for the pull's
    /// life, not a timer per wake-up (media wakes the task far more often than this).
    next_check: Instant,
}

/// Runs the pull of `pull` until it stops; `publisher` was claimed when it started.
pub(super) async fn run(
    relay: Arc<Relay>,
    pull: Arc<Pull>,
    publisher: Publisher,
    linger: std::time::Duration,
    push: Vec<crate::relay::PushRule>,
) {
    let grace = if pull.resolver.is_some() { EDGE_GRACE } else { SOURCE_GRACE };
    let mut run = Run {
        relay,
        pull,
        publisher: Some(publisher),
        linger,
        push,
        lost_at: Some(Instant::now()),
        grace,
        no_owner_since: None,
        left_for: None,
        had_source: false,
        idle_since: None,
        next_check: Instant::now() + VIEWER_CHECK,
    };
    let why = run.rounds().await;
    let (app, stream) = (&run.pull.key.app, &run.pull.key.name);
    let why = match why {
        Stop::Cancelled => "cancelled",
        Stop::Idle => "no viewer for the linger",
        Stop::LocalPublisher => "a local publisher holds the stream",
    };
    // Handing over to a local publisher that claimed the stream (`Relay::hand_over`): the
    // Publisher is lost, not ended, so that publisher continues the same publication and
    // the players stay attached. Otherwise dropping the Publisher ends the local stream.
    let handover = run.pull.handover.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(ack) = handover {
        if let Some(publisher) = run.publisher.take() {
            let orphan = publisher.lose();
            tokio::spawn(async move {
                tokio::time::sleep(super::HANDOVER_HOLD).await;
                drop(orphan);
            });
        }
        run.relay.pull_ended(&run.pull);
        tracing::info!(app = %app, stream = %stream, "pull hands its players to a local publisher");
        let _ = ack.send(());
        return;
    }
    run.relay.pull_ended(&run.pull);
    tracing::info!(app = %app, stream = %stream, reason = why, "pull stops");
}

impl Run {
    async fn rounds(&mut self) -> Stop {
        let mut backoff = Backoff::default();
        loop {
            if let Some(stop) = self.resolve().await {
                return stop;
            }
            let tried = self.pull.origin(0);
            let mut longest = Duration::ZERO;
            for index in 0..self.pull.origin_count() {
                let started = Instant::now();
                match self.origin(index).await {
                    Ok(stop) => return stop,
                    Err(error) => {
                        longest = longest.max(started.elapsed());
                        self.lost(index, &error);
                    }
                }
            }
            // An edge asks the directory again soon: the stream may have moved (an
            // origin's lease expired, another node claimed it); a resolution is cheap and
            // the attempts stay under three per second.
            // An edge whose stream moved (a drain: the publisher is on its new node before it
            // leaves the old one) goes to the new owner at once: the gap its players see is
            // then one connection, not a retry interval.
            if self.pull.resolver.is_some() && tried.is_some() {
                if let Some(stop) = self.resolve().await {
                    return stop;
                }
                let now = self.pull.origin(0);
                if now.is_some() && now != tried {
                    continue;
                }
            }
            let wait =
                if self.pull.resolver.is_some() { EDGE_RETRY } else { backoff.next(longest) };
            self.pull.backoff((Instant::now() + wait).into_std());
            let until = Instant::now() + wait;
            let cancel = self.pull.cancel.clone();
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return Stop::Cancelled,
                    _ = tokio::time::sleep_until(until) => break,
                    stop = self.watch() => if let Some(stop) = stop { return stop },
                }
            }
        }
    }

    /// The grace without a source: an edge's is longer (see [`EDGE_GRACE`]).
    fn source_grace(&self) -> Duration {
        if self.pull.resolver.is_some() {
            EDGE_GRACE
        } else {
            SOURCE_GRACE
        }
    }

    /// An edge's round starts by asking the directory where the stream is live: its owner
    /// becomes the one origin tried. With no owner for [`NO_OWNER_GRACE`], the local
    /// stream ends (the Publisher goes; the pull waits on, for its viewers). When the
    /// directory cannot be asked, the last origin is kept.
    async fn resolve(&mut self) -> Option<Stop> {
        let cluster = self.pull.resolver.clone()?;
        let key = self.pull.key.clone();
        let cancel = self.pull.cancel.clone();
        let resolved = tokio::select! {
            _ = cancel.cancelled() => return Some(Stop::Cancelled),
            resolved = tokio::time::timeout(ORIGIN_TIMEOUT, cluster.resolve(&key)) => resolved,
        };
        match resolved {
            Ok(Ok(Some(route))) => {
                self.no_owner_since = None;
                let url = format!("{}/{}/{}", route.advertise_rtmp, key.app, key.name);
                self.pull.set_origins(vec![url]);
            }
            Ok(Ok(None)) => {
                self.pull.set_origins(Vec::new());
                let since = *self.no_owner_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= NO_OWNER_GRACE && self.publisher.is_some() && self.had_source
                {
                    tracing::info!(app = %key.app, stream = %key.name, "edge: no node publishes the stream any more");
                    self.grace_over();
                }
            }
            Ok(Err(error)) => {
                tracing::debug!(app = %key.app, stream = %key.name, %error, "edge: directory unavailable, keeping the last origin");
            }
            Err(_) => {
                tracing::debug!(app = %key.app, stream = %key.name, "edge: directory timed out, keeping the last origin");
            }
        }
        None
    }

    /// Logs the loss of origin `index` once, with why.
    fn lost(&mut self, index: usize, error: &PullError) {
        let url = self.pull.redacted(index);
        let reason = scrub(&error.to_string(), &self.pull.origin(index).unwrap_or_default());
        let next = if index + 1 < self.pull.origin_count() { "next origin" } else { "backoff" };
        tracing::warn!(
            app = %self.pull.key.app, stream = %self.pull.key.name, origin = index, url,
            %reason, then = next, "pull origin lost"
        );
        self.pull.failed(reason);
        self.lost_at.get_or_insert_with(Instant::now);
        self.left_for.get_or_insert(match error {
            PullError::Client(_) => SwitchReason::Refused,
            PullError::Silent(_) => SwitchReason::Silent,
            PullError::Ended(_) => SwitchReason::Ended,
            PullError::Closed => SwitchReason::Closed,
        });
        // An edge's origin that ended the stream may have handed it to another node (a
        // drain, a takeover): the directory decides when it is over (`resolve`).
        if matches!(error, PullError::Ended(_)) && self.pull.resolver.is_none() {
            self.grace = self.grace.min(ENDED_GRACE);
        }
    }

    /// The clocks beside a connection attempt or a backoff: the grace and the viewers.
    /// Resolves with `Some` when the pull must stop, `None` after dropping the Publisher
    /// at the end of the grace (then it waits on the viewers only).
    async fn watch(&mut self) -> Option<Stop> {
        let grace = match (&self.publisher, self.lost_at) {
            (Some(_), Some(at)) => Some(at + self.grace),
            _ => None,
        };
        let on_demand = self.pull.mode == PullMode::OnDemand;
        tokio::select! {
            _ = sleep_until_opt(grace) => {
                self.grace_over();
                None
            }
            _ = tokio::time::sleep_until(self.next_check), if on_demand => {
                self.idle().then_some(Stop::Idle)
            }
        }
    }

    /// One origin: connect and play, then relay its media until it fails (`Err`) or the
    /// pull stops (`Ok`).
    async fn origin(&mut self, index: usize) -> Result<Stop, PullError> {
        self.pull.connecting(index);
        let url = self.pull.origin(index).unwrap_or_default();
        let via = self.pull.via.to_string();
        let opening = open(&url, via, self.relay.tls());
        tokio::pin!(opening);
        let cancel = self.pull.cancel.clone();
        let (mut conn, stream_id) = loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(Stop::Cancelled),
                opened = &mut opening => break opened?,
                stop = self.watch() => if let Some(stop) = stop { return Ok(stop) },
            }
        };
        let result = self.relay_media(index, &mut conn, stream_id).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        result
    }

    /// Pushes what origin `index` plays into the Publisher (claimed again if the grace
    /// had dropped it) until it fails or the pull stops.
    async fn relay_media(
        &mut self,
        index: usize,
        conn: &mut Connection,
        stream_id: u32,
    ) -> Result<Stop, PullError> {
        let mut last_media = Instant::now();
        let mut live = false;
        let mut items = Vec::new();
        let mut batch = None;
        // The first thing this origin sends (headers and metadata included) goes in as
        // a new source of the held Publisher: the hub rebases it onto the stream's
        // timeline and starts it at a keyframe.
        let mut spliced = false;
        let cancel = self.pull.cancel.clone();
        loop {
            let ended = collect(conn, stream_id, &mut items).err();
            if !items.is_empty() {
                if !spliced {
                    spliced = true;
                    if let (true, Some(publisher)) = (self.had_source, &self.publisher) {
                        source_changed(publisher);
                    }
                }
                let Some(publisher) = self.claim() else { return Ok(Stop::LocalPublisher) };
                let (media, bytes, deadline) = push(publisher, &mut items);
                batch = deadline;
                if publisher.is_replaced() {
                    return Ok(Stop::LocalPublisher);
                }
                self.pull.received(media, bytes);
                if media > 0 {
                    last_media = Instant::now();
                    if !live {
                        live = true;
                        self.source_up(index);
                    }
                }
            }
            if let Some(ended) = ended {
                return Err(ended);
            }
            conn.flush().await?;
            let grace = match (&self.publisher, self.lost_at) {
                (Some(_), Some(at)) => Some(at + self.grace),
                _ => None,
            };
            let on_demand = self.pull.mode == PullMode::OnDemand;
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(Stop::Cancelled),
                _ = sleep_until_opt(batch.map(Instant::from_std)) => {
                    let now = std::time::Instant::now();
                    batch = self.publisher.as_ref().and_then(|p| p.announce_due(now));
                }
                read = tokio::time::timeout_at(last_media + MEDIA_TIMEOUT, conn.read_input()) => {
                    match read {
                        Err(_) => return Err(PullError::Silent(MEDIA_TIMEOUT)),
                        Ok(read) => if !read? { return Err(PullError::Closed) },
                    }
                }
                _ = sleep_until_opt(grace) => self.grace_over(),
                _ = tokio::time::sleep_until(self.next_check), if on_demand => {
                    if self.idle() {
                        return Ok(Stop::Idle);
                    }
                }
            }
        }
    }

    /// The viewer check (due at `next_check`): whether the pull has had no viewer for the
    /// linger (it is then retired). Sets the next check.
    fn idle(&mut self) -> bool {
        self.next_check = Instant::now() + VIEWER_CHECK;
        self.relay.retire_if_idle(&self.pull, &mut self.idle_since, self.linger)
    }

    /// The Publisher, claimed again in the hub if the grace had dropped it; `None` if a
    /// local publisher holds the key now.
    fn claim(&mut self) -> Option<&Publisher> {
        if self.publisher.is_none() {
            let owner = OWNER_BASE + self.pull.id;
            self.publisher = Some(self.relay.hub.publish(self.pull.key.clone(), owner).ok()?);
            self.pull.publishing(true);
            self.relay.published(&self.pull.key, &self.push);
        }
        self.publisher.as_ref()
    }

    /// No source for the grace ([`SOURCE_GRACE`], or [`ENDED_GRACE`] after an origin ended
    /// the stream): the Publisher goes, players get their end of stream.
    fn grace_over(&mut self) {
        tracing::warn!(
            app = %self.pull.key.app, stream = %self.pull.key.name,
            grace_ms = self.grace.as_millis() as u64,
            "pull has no source: the local stream ends"
        );
        self.publisher = None;
        self.had_source = false;
        self.pull.publishing(false);
    }

    /// Media flows from origin `index`: a change of source if the Publisher had one.
    fn source_up(&mut self, index: usize) {
        let url = self.pull.redacted(index);
        if self.had_source && self.publisher.is_some() {
            self.pull.switched();
            if let (Some(cluster), Some(at)) = (self.relay.cluster(), self.lost_at) {
                let reason = self.left_for.unwrap_or(SwitchReason::Closed);
                cluster.stats.switched(reason, at.elapsed());
                tracing::info!(
                    app = %self.pull.key.app, stream = %self.pull.key.name, reason = reason.name(),
                    gap_ms = at.elapsed().as_millis() as u64, "pull upstream switched"
                );
            }
        }
        self.left_for = None;
        self.had_source = true;
        self.lost_at = None;
        self.grace = self.source_grace();
        self.pull.live();
        tracing::info!(
            app = %self.pull.key.app, stream = %self.pull.key.name, origin = index, url,
            "pull source live"
        );
    }
}

/// Connects to `url` announcing the relay chain `via` and plays its stream; `rtmps://`
/// origins are checked with `relay.tls` like push targets.
async fn open(
    url: &str,
    via: String,
    tls: openrtmp_tls::ClientTls,
) -> Result<(Connection, u32), PullError> {
    let url = RtmpUrl::parse(url).map_err(ClientError::from)?;
    url.require_stream().map_err(ClientError::from)?;
    let options = ConnectOptions {
        player: true,
        via: Some(via),
        tls,
        connect_timeout: ORIGIN_TIMEOUT,
        command_timeout: ORIGIN_TIMEOUT,
        ..ConnectOptions::default()
    };
    let mut conn = Connection::connect(&url, options).await?;
    let stream_id = conn.play(&url.stream).await?;
    Ok((conn, stream_id))
}

/// What an origin's play delivers for the local stream.
enum Item {
    /// Audio or video, pushed as received.
    Media(Frame),
    /// `onMetaData` (as players get it: `@setDataFrame` stripped), kept as received.
    Metadata(Frame),
    /// Other data (`onCuePoint`, `onTextData`), pushed as received.
    Data(Frame),
}

/// Takes the events the session has decoded: frames into `items`; `Err` when the origin
/// ended the stream (after the frames before it).
fn collect(conn: &mut Connection, stream_id: u32, items: &mut Vec<Item>) -> Result<(), PullError> {
    let now = std::time::Instant::now();
    let stamped = |kind, message: openrtmp_proto::message::Message| {
        let mut frame = Frame::classify(kind, message.timestamp, message.payload);
        frame.received = Some(now);
        frame
    };
    while let Some(event) = conn.session().poll_event() {
        match event {
            ClientEvent::Media { stream_id: id, message } if id == stream_id => {
                let kind = if message.type_id == MessageType::AUDIO {
                    FrameKind::Audio
                } else {
                    FrameKind::Video
                };
                items.push(Item::Media(stamped(kind, message)));
            }
            ClientEvent::Data { stream_id: id, data, message } if id == stream_id => {
                if data.is_on_meta_data() {
                    items.push(Item::Metadata(stamped(FrameKind::Data, message)));
                } else if data.name != "|RtmpSampleAccess" {
                    // (That one is the origin's note to Flash players, not stream data.)
                    items.push(Item::Data(stamped(FrameKind::Data, message)));
                }
            }
            ClientEvent::StreamEof { stream_id: id } if id == stream_id => {
                return Err(PullError::Ended("StreamEOF".into()));
            }
            ClientEvent::Status { level, code, description, .. } => {
                if level == StatusLevel::Error.as_str()
                    || code.ends_with("UnpublishNotify")
                    || code == "NetStream.Play.Stop"
                {
                    return Err(PullError::Ended(format!("{code}: {description}")));
                }
                tracing::debug!(%code, "pull status");
            }
            _ => {}
        }
    }
    Ok(())
}

/// Pushes `items` into `publisher` in one batch; returns the audio/video frames and the
/// payload bytes pushed, and the open batch's deadline.
fn push(publisher: &Publisher, items: &mut Vec<Item>) -> (u64, u64, Option<std::time::Instant>) {
    let (mut media, mut bytes) = (0u64, 0u64);
    publisher.hold();
    for item in items.drain(..) {
        match item {
            Item::Media(frame) => {
                media += 1;
                bytes += frame.payload.len() as u64;
                let _ = publisher.push(frame);
            }
            Item::Metadata(frame) => {
                bytes += frame.payload.len() as u64;
                publisher.set_metadata(frame);
            }
            Item::Data(frame) => {
                bytes += frame.payload.len() as u64;
                let _ = publisher.push(frame);
            }
        }
    }
    let batch = publisher.release();
    (media, bytes, batch)
}

/// Sleeps until `at`, forever if `None`.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
