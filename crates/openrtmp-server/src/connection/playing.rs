//! The players on one connection: each is a [`MediaPump`] over a hub subscriber (the one
//! component every output uses for batching, lag and skip-to-keyframe, and statistics),
//! turned into RTMP messages for the session's chunk encoder.
//!
//! Backpressure: the driver calls [`Players::pump`] only while the connection's output
//! queue is below its high-water mark, so a player that stops reading holds at most one
//! batch of frames beyond that mark; the ring's lag policy (in the hub) decides when it
//! skips to a keyframe and, in wall time, when it is too slow to keep.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use openrtmp_hub::{MediaPump, PumpConfig, PumpEvent, StreamKey, SubscribeError, Subscriber};
use openrtmp_media::TagType;
use openrtmp_proto::message::{Message, MessageType};
use openrtmp_proto::session::ServerSession;
use tokio::time::Instant;

use super::close::Close;
use crate::delay::StreamDelays;
use crate::registry::ConnEntry;
use crate::shared::Shared;

/// Payload bytes pulled from the hub per batch and player.
pub(crate) const BATCH_BYTES: usize = 128 * 1024;
/// Drop warnings are logged at most this often per connection.
const DROP_WARNING_EVERY: Duration = Duration::from_secs(10);
/// The API's lag and drop figures are refreshed every this many batches.
const STATS_EVERY: u64 = 64;

#[derive(Debug)]
struct Player {
    stream_id: u32,
    pump: MediaPump,
    /// When the stream's publisher left (`unpublished_wait` runs from here).
    unpublished_since: Option<Instant>,
    batches: u64,
    /// The stream's delay histograms (live relay delay and join catch-up).
    delays: Arc<StreamDelays>,
}

/// Every stream this connection plays.
#[derive(Debug)]
pub(crate) struct Players {
    list: Vec<Player>,
    events: Vec<PumpEvent>,
    last_drop_warning: Option<Instant>,
    /// The last pump stopped at a player's byte budget (more may be due at once).
    pub(crate) budget_hit: bool,
    shared: Arc<Shared>,
    entry: Arc<ConnEntry>,
}

impl Players {
    pub(crate) fn new(shared: Arc<Shared>, entry: Arc<ConnEntry>) -> Players {
        Players {
            list: Vec::new(),
            events: Vec::new(),
            last_drop_warning: None,
            budget_hit: false,
            shared,
            entry,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Subscribes to `key` on `stream_id` (replacing what that stream id played).
    pub(crate) fn start(&mut self, key: &StreamKey, stream_id: u32) -> Result<(), SubscribeError> {
        let subscriber = self.shared.hub.subscribe(key.clone(), self.entry.id)?;
        let publishing = subscriber.is_publishing();
        tracing::info!(stream = %key, publishing, "play start");
        let config = self.shared.hub.config();
        let pump = MediaPump::new(
            subscriber,
            PumpConfig {
                batch_bytes: BATCH_BYTES,
                too_slow_after: Duration::from_millis(config.viewer_disconnect_after_ms),
            },
            std::time::Instant::now(),
        );
        self.list.retain(|p| p.stream_id != stream_id);
        // A player that arrives before any publisher waits for one as long as it likes;
        // `unpublished_wait` only runs once a publisher has come and gone.
        self.list.push(Player {
            stream_id,
            pump,
            unpublished_since: None,
            batches: 0,
            delays: self.shared.delays.for_stream(key),
        });
        Ok(())
    }

    /// `closeStream`/`deleteStream`: stops playing on `stream_id`.
    pub(crate) fn stop(&mut self, stream_id: u32) {
        self.report_drops();
        self.list.retain(|p| p.stream_id != stream_id);
        tracing::info!(stream_id, "play stop");
    }

    /// The subscriber playing on `stream_id` (pause, receiveAudio/receiveVideo).
    pub(crate) fn subscriber(&mut self, stream_id: u32) -> Option<&mut Subscriber> {
        let p = self.list.iter_mut().find(|p| p.stream_id == stream_id)?;
        Some(p.pump.subscriber_mut())
    }

    /// Resolves when any player may have something to send.
    pub(crate) async fn ready(&self) {
        match self.list.as_slice() {
            [] => std::future::pending().await,
            [one] => one.pump.ready().await,
            many => {
                let all = many.iter().map(|p| Box::pin(p.pump.ready()));
                futures_util::future::select_all(all).await;
            }
        }
    }

    /// Moves the media that is due from the hub into the session's output, one batch per
    /// player.
    pub(crate) fn pump(&mut self, session: &mut ServerSession) -> Result<(), Close> {
        let now = std::time::Instant::now();
        self.budget_hit = false;
        for player in &mut self.list {
            self.events.clear();
            let batch = player.pump.poll_batch(now, &mut self.events);
            self.budget_hit |= batch.budget_hit;
            let stream_id = player.stream_id;
            for event in self.events.drain(..) {
                match event {
                    PumpEvent::Frame { frame, catch_up } => {
                        if let Some(arrived) = frame.received {
                            let delay = now.saturating_duration_since(arrived);
                            if catch_up {
                                player.delays.catch_up.record(delay);
                            } else {
                                player.delays.distribution.record(delay);
                            }
                        }
                        let type_id = MessageType::from(TagType::from(frame.kind));
                        let msg = Message {
                            csid: 0,
                            timestamp: frame.timestamp,
                            type_id,
                            stream_id,
                            payload: frame.payload,
                        };
                        session.send_media(stream_id, &msg);
                    }
                    PumpEvent::Unpublished => {
                        tracing::info!(stream_id, "publisher left: end of stream sent to player");
                        session.notify_unpublished(stream_id);
                        player.unpublished_since = Some(Instant::now());
                    }
                    PumpEvent::Published => {
                        tracing::info!(stream_id, "publisher (re)started");
                        session.notify_published(stream_id);
                        player.unpublished_since = None;
                    }
                }
            }
            if let Some(slow) = batch.too_slow {
                let stats = player.pump.stats();
                tracing::warn!(
                    behind_ms = slow.behind_ms,
                    lagging_ms = slow.for_ms,
                    dropped = stats.dropped_frames,
                    "player too slow: disconnecting"
                );
                return Err(Close::TooSlow { behind_ms: slow.behind_ms, for_ms: slow.for_ms });
            }
            player.batches = player.batches.wrapping_add(1);
            if player.batches % STATS_EVERY == 0 {
                self.refresh(player_index_stats(player));
            }
        }
        Ok(())
    }

    /// Adds new drops to the server-wide count, mirrors lag and drops into the API, and
    /// warns (rate-limited) when a player is falling behind.
    fn refresh(&mut self, (new_drops, stats): (u64, openrtmp_hub::PumpStats)) {
        self.shared.stats.dropped_frames.fetch_add(new_drops, Ordering::Relaxed);
        let quiet = self.last_drop_warning.is_none_or(|t| t.elapsed() > DROP_WARNING_EVERY);
        if new_drops > 0 && quiet {
            self.last_drop_warning = Some(Instant::now());
            tracing::warn!(
                dropped = stats.dropped_frames,
                skips = stats.skips,
                backlog_ms = stats.backlog_ms,
                "player falling behind: frames dropped up to the next keyframe"
            );
        }
        self.entry.dropped_frames.store(stats.dropped_frames, Ordering::Relaxed);
        self.entry.lag_ms.store(stats.backlog_ms, Ordering::Relaxed);
    }

    /// Drops not yet counted server-wide (at a play stop and at the end).
    pub(crate) fn report_drops(&mut self) {
        for p in &mut self.list {
            let new = p.pump.take_new_drops();
            self.shared.stats.dropped_frames.fetch_add(new, Ordering::Relaxed);
        }
    }

    /// The earliest `unpublished_wait` deadline.
    pub(crate) fn deadline(&self, unpublished_wait: Duration) -> Option<Instant> {
        self.list.iter().filter_map(|p| p.unpublished_since).min().map(|t| t + unpublished_wait)
    }

    /// Whether a player's stream stayed unpublished for `unpublished_wait`.
    pub(crate) fn check(&self, now: Instant, unpublished_wait: Duration) -> Result<(), Close> {
        match self.deadline(unpublished_wait) {
            Some(deadline) if now >= deadline => Err(Close::UnpublishedWaitOver),
            _ => Ok(()),
        }
    }
}

fn player_index_stats(player: &mut Player) -> (u64, openrtmp_hub::PumpStats) {
    (player.pump.take_new_drops(), player.pump.stats())
}
