//! The players on one connection: each is a [`MediaPump`] over a hub subscriber (the one
//! component every output uses for batching, lag and skip-to-keyframe, and statistics),
//! turned into RTMP messages for the session's chunk encoder.
//!
//! Backpressure: the driver calls [`Players::pump`] only while the connection's output
//! queue is below its high-water mark, so a player that stops reading holds at most one
//! batch of frames beyond that mark; the ring's lag policy (in the hub) decides when it
//! skips to a keyframe and, in wall time, when it is too slow to keep.
//!
//! Run-to-completion fan-out: a connection's only player, on a plain TCP socket, that is in
//! sync with nothing queued is handed to its stream's publisher task ([`Players::settle`],
//! `direct.rs`), which then writes each frame straight to the socket; the player comes back
//! to this task (and its pump) when a write would block or this task needs the socket.
//! Frames are chunked once per stream either way ([`openrtmp_hub::Frame::encoded`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openrtmp_hub::{
    DirectOutput, MediaPump, PumpConfig, PumpEvent, StreamKey, SubscribeError, Subscriber,
};
use openrtmp_proto::chunk::ChunkOutput;
use openrtmp_proto::command::StatusCode;
use openrtmp_proto::session::ServerSession;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::close::Close;
use super::direct::{media_message, Chunking, Lane};
use super::io::Traffic;
use crate::delay::StreamDelays;
use crate::registry::ConnEntry;
use crate::shared::Shared;

/// Payload bytes pulled from the hub per batch and player.
pub(crate) const BATCH_BYTES: usize = 128 * 1024;
/// Pump events kept room for between batches: a steady batch holds a frame or two, a join
/// or catch-up batch a hundred (about 9 KiB), which was kept for the player's life.
const KEEP_EVENTS: usize = 8;
/// Drop warnings are logged at most this often per connection.
const DROP_WARNING_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Player {
    stream_id: u32,
    pump: MediaPump,
    /// When the stream's publisher left (`unpublished_wait` runs from here).
    unpublished_since: Option<Instant>,
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
    /// The socket, when the publisher's task may write it (plain TCP, not TLS).
    socket: Option<Arc<TcpStream>>,
    cellular: Arc<AtomicBool>,
    /// The only player's lane, once it had one.
    lane: Option<Arc<Lane>>,
    /// Whether the publisher's task had the lane at the loop's last turn.
    pub(crate) direct: bool,
    /// Taken back from the lane, not yet settled: the rest of a frame to write first,
    /// socket bytes it wrote, and whether the session must forget its media headers.
    leftover: Option<ChunkOutput>,
    sent_directly: u64,
    forget_media: bool,
}

impl Players {
    pub(crate) fn new(
        shared: Arc<Shared>,
        entry: Arc<ConnEntry>,
        cellular: Arc<AtomicBool>,
    ) -> Players {
        Players {
            list: Vec::new(),
            events: Vec::new(),
            last_drop_warning: None,
            budget_hit: false,
            shared,
            entry,
            socket: None,
            cellular,
            lane: None,
            direct: false,
            leftover: None,
            sent_directly: 0,
            forget_media: false,
        }
    }

    /// Lets the stream's publisher task write `socket` while the player keeps up.
    pub(crate) fn share_socket(&mut self, socket: Arc<TcpStream>) {
        self.socket = Some(socket);
    }

    /// Takes the lane back from the publisher's task, if it has it (`closing`: for good):
    /// the player's pump continues where the lane stopped.
    fn take_lane(&mut self, closing: bool) {
        let Some(taken) = self.lane.as_ref().and_then(|lane| lane.take(closing)) else { return };
        if let Some(player) = self.list.first_mut() {
            player.pump.back_from_direct(taken.next_seq, taken.frames, taken.payload);
        }
        self.direct = false;
        self.sent_directly += taken.sent;
        self.forget_media = true;
        if !taken.leftover.is_empty() {
            self.leftover.get_or_insert_with(ChunkOutput::new).append(taken.leftover);
        }
    }

    /// At the top of each turn of the connection's loop: takes the lane back when the
    /// publisher's task returned it, when the session has output to write or when
    /// `allowed` (not power saving) no longer holds; hands the player to the publisher's
    /// task when it is in sync and nothing is queued (`idle`). Returns bytes to write
    /// before anything else (the rest of a frame the socket did not take).
    pub(crate) fn settle(
        &mut self,
        session: &mut ServerSession,
        traffic: &mut Traffic,
        idle: bool,
        allowed: bool,
    ) -> Option<ChunkOutput> {
        if self.direct {
            let keep = allowed
                && session.transmit().is_empty()
                && self.lane.as_ref().is_some_and(|lane| lane.is_direct());
            if !keep {
                self.take_lane(false);
            }
        }
        if std::mem::take(&mut self.forget_media) {
            session.media_sent_elsewhere();
        }
        traffic.sent_directly(std::mem::take(&mut self.sent_directly));
        let leftover = self.leftover.take();
        let idle = idle && leftover.is_none() && session.transmit().is_empty();
        if !self.direct && allowed && idle {
            self.go_direct(session);
        }
        leftover
    }

    fn go_direct(&mut self, session: &ServerSession) {
        let (Some(socket), [player]) = (&self.socket, self.list.as_mut_slice()) else { return };
        if !player.pump.in_sync() {
            return;
        }
        let lane = match &self.lane {
            Some(lane) if lane.serves(player.stream_id, session) => Arc::clone(lane),
            _ => {
                let lane = Arc::new(Lane::new(
                    Arc::clone(socket),
                    session,
                    player.stream_id,
                    Arc::clone(&self.entry),
                    Arc::clone(&self.shared),
                    Arc::clone(&player.delays),
                    Arc::clone(&self.cellular),
                ));
                self.lane = Some(Arc::clone(&lane));
                lane
            }
        };
        self.direct = player.pump.go_direct(lane as Arc<dyn DirectOutput>);
    }

    /// Resolves when the publisher's task hands the lane back.
    pub(crate) async fn returned(&self) {
        match &self.lane {
            Some(lane) => lane.wait_returned().await,
            None => std::future::pending().await,
        }
    }

    /// The connection ends: the publisher's task writes no more. Returns the rest of a
    /// frame to flush first.
    pub(crate) fn close_lane(&mut self, traffic: &mut Traffic) -> Option<ChunkOutput> {
        self.take_lane(true);
        traffic.sent_directly(std::mem::take(&mut self.sent_directly));
        self.leftover.take()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Subscribes to `key` on `stream_id` (replacing what that stream id played). `Err`
    /// carries the onStatus code and description of the refusal.
    pub(crate) fn start(
        &mut self,
        key: Option<&StreamKey>,
        stream_id: u32,
    ) -> Result<StreamKey, (StatusCode, String)> {
        let Some(key) = key else {
            return Err((StatusCode::PLAY_FAILED, "stream name is empty".into()));
        };
        let subscriber = match self.shared.hub.subscribe(key.clone(), self.entry.id) {
            Ok(subscriber) => subscriber,
            Err(SubscribeError::NotFound { .. }) => {
                tracing::info!(stream = %key, "play rejected: stream not found");
                let d = format!("no stream named {} is being published", key.name);
                return Err((StatusCode::PLAY_STREAM_NOT_FOUND, d));
            }
        };
        let publishing = subscriber.is_publishing();
        tracing::info!(stream = %key, publishing, "play start");
        let pump = MediaPump::new(subscriber, PumpConfig { batch_bytes: BATCH_BYTES });
        self.take_lane(false);
        self.list.retain(|p| p.stream_id != stream_id);
        // A player that arrives before any publisher waits for one as long as it likes;
        // `unpublished_wait` only runs once a publisher has come and gone.
        self.list.push(Player {
            stream_id,
            pump,
            unpublished_since: None,
            delays: self.shared.delays.for_stream(key),
        });
        Ok(key.clone())
    }

    /// `closeStream`/`deleteStream`: stops playing on `stream_id`.
    pub(crate) fn stop(&mut self, stream_id: u32) {
        self.take_lane(false);
        self.report_drops();
        self.list.retain(|p| p.stream_id != stream_id);
        tracing::info!(stream_id, "play stop");
    }

    fn subscriber(&mut self, stream_id: u32) -> Option<&mut Subscriber> {
        self.take_lane(false);
        let p = self.list.iter_mut().find(|p| p.stream_id == stream_id)?;
        Some(p.pump.subscriber_mut())
    }

    /// `pause` on `stream_id`.
    pub(crate) fn pause(&mut self, stream_id: u32, paused: bool) {
        if let Some(s) = self.subscriber(stream_id) {
            s.set_paused(paused);
        }
    }

    /// `receiveAudio` / `receiveVideo` on `stream_id`.
    pub(crate) fn receive(&mut self, stream_id: u32, audio: bool, enabled: bool) {
        match self.subscriber(stream_id) {
            Some(s) if audio => s.set_audio(enabled),
            Some(s) => s.set_video(enabled),
            None => {}
        }
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
        let now = Instant::now().into_std();
        let chunk_size = session.outbound_chunk_size();
        let Players { list, events, last_drop_warning, budget_hit, shared, entry, .. } = self;
        *budget_hit = false;
        for player in list {
            events.clear();
            let batch = player.pump.poll_batch(now, events);
            *budget_hit |= batch.budget_hit;
            let stream_id = player.stream_id;
            for event in events.drain(..) {
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
                        // Chunked once per stream, shared by every player like this one.
                        let msg = media_message(&frame);
                        match (Chunking { stream_id, chunk_size }).shared(&frame) {
                            Some(parts) => session.send_prepared_media(stream_id, &msg, parts),
                            None => session.send_media(stream_id, &msg),
                        }
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
                    lagging_ms = slow.lagging_ms,
                    dropped = stats.dropped_frames,
                    "player too slow: disconnecting"
                );
                let (behind_ms, for_ms) = (slow.behind_ms, u64::from(slow.lagging_ms));
                return Err(Close::TooSlow { behind_ms, for_ms });
            }
            // Lock-free after every batch: drops into the server-wide count, lag and
            // drops into the API, and a rate-limited warning while a player falls behind.
            let new_drops = player.pump.take_new_drops();
            let stats = player.pump.stats();
            if new_drops > 0 {
                // The server-wide counter is shared by every connection: touched only when
                // there is something to add.
                shared.stats.dropped_frames.fetch_add(new_drops, Ordering::Relaxed);
            }
            let quiet = last_drop_warning.is_none_or(|t| t.elapsed() > DROP_WARNING_EVERY);
            if new_drops > 0 && quiet {
                *last_drop_warning = Some(Instant::now());
                tracing::warn!(
                    dropped = stats.dropped_frames,
                    skips = stats.skips,
                    backlog_ms = stats.backlog_ms,
                    "player falling behind: frames dropped up to the next keyframe"
                );
            }
            entry.dropped_frames.store(stats.dropped_frames, Ordering::Relaxed);
            entry.lag_ms.store(stats.backlog_ms, Ordering::Relaxed);
        }
        events.shrink_to(KEEP_EVENTS);
        Ok(())
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

impl Drop for Players {
    fn drop(&mut self) {
        // However the connection ends, the publisher's task stops writing its socket.
        if let Some(lane) = &self.lane {
            lane.take(true);
        }
    }
}
