//! One media pump for every output of a live stream: RTMP players today, HTTP-FLV and
//! WebSocket-FLV viewers, relay pushes and recorders next. It turns a [`Subscriber`] into
//! batches of frames with the slow-viewer policy applied, byte bounds per batch and
//! per-output statistics, and knows nothing of how the output writes them (RTMP chunks,
//! FLV tags, fMP4 fragments). Sans-IO: wall time is passed in, nothing here sleeps or
//! reads a clock.
//!
//! # Who wakes whom
//!
//! ```text
//! publisher task ──Publisher::push──▶ stream ring ──Notify──▶ output task ──poll_batch──▶ its sink
//! ```
//!
//! A push appends to the stream's ring and wakes every task waiting in
//! [`MediaPump::ready`] (audio may be held back up to `audio_batch_ms`, see
//! [`crate::HubConfig::audio_batch_ms`]). The output task then calls
//! [`MediaPump::poll_batch`] and writes the batch out. The publisher never waits for an
//! output.
//!
//! # Backpressure
//!
//! An output applies backpressure by not calling `poll_batch` while its own sink is full
//! (the RTMP driver stops pulling above its high-water mark). Nothing queues up for it
//! meanwhile: its cursor stays where it is and the ring moves on. When it polls again, the
//! ring's lag policy decides: within `viewer_max_lag_ms` / `viewer_max_bytes` it gets the
//! frames it missed; beyond, it skips to the newest keyframe (frames counted as dropped);
//! lagging, skip after skip, for `viewer_disconnect_after_ms` of wall time, it is
//! declared too slow ([`Batch::too_slow`]) and the output should close.
//!
//! # Memory
//!
//! The pump holds no frames between batches. A batch is at most `batch_bytes` plus one
//! frame of payload (the frame that crosses the budget), plus, after a start or a change
//! of configuration, the cached start sequence (onMetaData and one sequence header per
//! kind and track). Its frames are `Bytes` clones of the ring's: they cost a refcount,
//! and keep their payload alive only while the output still holds them. Everything else
//! is bounded by the ring (see [`crate::HubConfig`]), whatever the number of outputs. So
//! the worst case per output is one batch (`batch_bytes` + one frame + the start
//! sequence) plus whatever the output itself queues (its socket buffer, its high-water
//! mark), plus a few hundred bytes of cursor.
//!
//! # Live and catch-up frames
//!
//! Every frame is marked `catch_up` or live, so the distribution delay of live frames
//! (arrival to hand-over) is not drowned by the backlog a joining viewer is sent:
//!
//! - **catch-up**: the cached start sequence (metadata and sequence headers, whenever they
//!   are sent or re-sent), and every ring frame that was already in the ring when the
//!   subscriber last started, skipped or resumed from a pause, up to the first poll that
//!   left it drained (cursor at the head, nothing owed);
//! - **live**: a ring frame pushed after such a poll, i.e. one that arrived while the
//!   subscriber was caught up. A subscriber waiting for a publisher is caught up: the new
//!   publisher's frames are live for it. A caught-up subscriber that then falls behind
//!   without skipping still gets its frames as live: that delay is the output's own.
//!
//! # In sync
//!
//! [`MediaPump::in_sync`] tells, without a lock, that the last batch left the output at
//! the head of the ring. A later fan-out redesign, where the publisher's task writes each
//! new frame straight to every in-sync output and only lagging ones poll the ring, can
//! build on it.

use std::time::Instant;

use crate::subscriber::{Sink, Subscriber, TooSlow};
use crate::Frame;

/// Default [`PumpConfig::batch_bytes`]: 128 KiB, what the RTMP driver pulls per wakeup.
pub const DEFAULT_BATCH_BYTES: usize = 128 * 1024;

/// Tunables of one output's pump. The slow-viewer limits (lag, bytes, disconnect time) are
/// the stream's, from [`crate::HubConfig`], so that one reload applies to every output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PumpConfig {
    /// Payload bytes after which a batch ends (at least one frame is always returned; the
    /// frame that crosses the bound is included). Default [`DEFAULT_BATCH_BYTES`].
    pub batch_bytes: usize,
}

impl Default for PumpConfig {
    fn default() -> Self {
        PumpConfig { batch_bytes: DEFAULT_BATCH_BYTES }
    }
}

/// What [`MediaPump::poll_batch`] yields, in order.
#[derive(Clone, Debug)]
pub enum PumpEvent {
    /// A frame to write, with its original timestamp.
    Frame {
        /// The frame (shared payload).
        frame: Frame,
        /// Part of a start, skip or resume backlog, or a cached frame, rather than a frame
        /// that arrived while the output was caught up (see the module documentation).
        catch_up: bool,
    },
    /// The publisher went away after the frames before this event
    /// ([`crate::SubscriberEvent::Unpublished`]).
    Unpublished,
    /// A publisher (re)started; its start sequence follows
    /// ([`crate::SubscriberEvent::Published`]).
    Published,
}

/// What one [`MediaPump::poll_batch`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Frames appended.
    pub frames: usize,
    /// Payload bytes of those frames.
    pub bytes: usize,
    /// The batch stopped at `batch_bytes`: more is probably due right away, so poll again
    /// as soon as the sink has room ([`MediaPump::ready`] resolves at once too).
    pub budget_hit: bool,
    /// The output has lagged for longer than `viewer_disconnect_after_ms` of wall time:
    /// close it. Reported once.
    pub too_slow: Option<TooSlow>,
}

/// One output's counters, cheap to read after every batch (no lock).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PumpStats {
    /// Frames delivered while the output was caught up.
    pub live_frames: u64,
    /// Payload bytes of `live_frames`.
    pub live_bytes: u64,
    /// Frames delivered as catch-up (start sequence, join/skip/resume backlog).
    pub catch_up_frames: u64,
    /// Payload bytes of `catch_up_frames`.
    pub catch_up_bytes: u64,
    /// Frames skipped because the output lagged (filtered kinds are not counted).
    pub dropped_frames: u64,
    /// Times the output skipped to a keyframe.
    pub skips: u64,
    /// Frames waiting in the ring for this output (its queue depth), as of the last batch.
    pub backlog_frames: u64,
    /// Payload bytes waiting for this output, as of the last batch.
    pub backlog_bytes: u64,
    /// Media ms between the output's next frame and the newest one, as of the last batch.
    pub backlog_ms: u32,
    /// Batches polled.
    pub batches: u64,
    /// Batches that stopped at `batch_bytes`.
    pub budget_hits: u64,
    /// Whether the last batch left the output caught up ([`MediaPump::in_sync`]).
    pub in_sync: bool,
}

impl PumpStats {
    /// All frames delivered, live and catch-up.
    pub fn delivered_frames(&self) -> u64 {
        self.live_frames + self.catch_up_frames
    }

    /// All payload bytes delivered, live and catch-up.
    pub fn delivered_bytes(&self) -> u64 {
        self.live_bytes + self.catch_up_bytes
    }
}

/// Counters the pump keeps itself (the rest come from the subscriber).
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    live_frames: u64,
    live_bytes: u64,
    catch_up_frames: u64,
    catch_up_bytes: u64,
    batches: u64,
    budget_hits: u64,
}

/// The [`Sink`] of one batch: appends [`PumpEvent`]s and counts as it goes.
struct BatchSink<'a> {
    out: &'a mut Vec<PumpEvent>,
    batch: Batch,
    counters: &'a mut Counters,
}

impl Sink for BatchSink<'_> {
    fn frame(&mut self, frame: Frame, catch_up: bool) {
        let len = frame.len();
        self.batch.frames += 1;
        self.batch.bytes += len;
        let c = &mut *self.counters;
        let (frames, bytes) = if catch_up {
            (&mut c.catch_up_frames, &mut c.catch_up_bytes)
        } else {
            (&mut c.live_frames, &mut c.live_bytes)
        };
        *frames += 1;
        *bytes += len as u64;
        self.out.push(PumpEvent::Frame { frame, catch_up });
    }

    fn unpublished(&mut self) {
        self.out.push(PumpEvent::Unpublished);
    }

    fn published(&mut self) {
        self.out.push(PumpEvent::Published);
    }

    fn too_slow(&mut self, too_slow: TooSlow) {
        self.batch.too_slow = Some(too_slow);
    }
}

/// One output of a stream: a [`Subscriber`] driven in batches.
///
/// Drive it with
/// `loop { pump.ready().await; let b = pump.poll_batch(now, &mut events); write(events) }`,
/// calling `poll_batch` only while the output's sink has room.
#[derive(Debug)]
pub struct MediaPump {
    subscriber: Subscriber,
    config: PumpConfig,
    counters: Counters,
    /// Dropped frames already handed out by [`MediaPump::take_new_drops`].
    drops_reported: u64,
}

impl MediaPump {
    /// A pump over `subscriber` (from [`crate::Hub::subscribe`]).
    pub fn new(subscriber: Subscriber, config: PumpConfig) -> MediaPump {
        MediaPump { subscriber, config, counters: Counters::default(), drops_reported: 0 }
    }

    /// Resolves when [`MediaPump::poll_batch`] may yield something; at once after a batch
    /// that hit its budget. Cancel-safe (it changes nothing), so it can sit in a
    /// `select!`; may resolve spuriously, at most once per stream change (see
    /// [`Subscriber::ready`]).
    pub async fn ready(&self) {
        self.subscriber.ready().await;
    }

    /// Appends the next batch to `out` and says what it held. `now` is the wall time,
    /// used only to time how long the output has been lagging. O(frames returned) under
    /// the stream's lock, once.
    pub fn poll_batch(&mut self, now: Instant, out: &mut Vec<PumpEvent>) -> Batch {
        let budget = self.config.batch_bytes;
        let mut sink = BatchSink { out, batch: Batch::default(), counters: &mut self.counters };
        self.subscriber.poll_into(now, &mut sink, budget);
        let mut batch = sink.batch;
        batch.budget_hit = batch.bytes >= budget && batch.frames > 0;
        self.counters.batches += 1;
        self.counters.budget_hits += u64::from(batch.budget_hit);
        batch
    }

    /// The output's counters, with the backlog as of the last batch. No lock.
    pub fn stats(&self) -> PumpStats {
        let c = &self.counters;
        let s = self.subscriber.last_stats();
        PumpStats {
            live_frames: c.live_frames,
            live_bytes: c.live_bytes,
            catch_up_frames: c.catch_up_frames,
            catch_up_bytes: c.catch_up_bytes,
            dropped_frames: s.dropped_frames,
            skips: s.skips,
            backlog_frames: s.backlog_frames,
            backlog_bytes: s.backlog_bytes,
            backlog_ms: s.backlog_ms,
            batches: c.batches,
            budget_hits: c.budget_hits,
            in_sync: self.in_sync(),
        }
    }

    /// Frames dropped since the last call, for server-wide counters.
    pub fn take_new_drops(&mut self) -> u64 {
        let dropped = self.subscriber.last_stats().dropped_frames;
        let new = dropped.saturating_sub(self.drops_reported);
        self.drops_reported = dropped;
        new
    }

    /// [`Subscriber::go_direct`]: hands the output to the publisher's task while it keeps up.
    pub fn go_direct(&mut self, output: std::sync::Arc<dyn crate::DirectOutput>) -> bool {
        self.subscriber.go_direct(output)
    }

    /// [`Subscriber::back_from_direct`]: the publisher's task wrote `frames` live frames
    /// (`bytes` payload bytes) and `next_seq` is the first one it did not.
    pub fn back_from_direct(&mut self, next_seq: u64, frames: u64, bytes: u64) {
        self.counters.live_frames += frames;
        self.counters.live_bytes += bytes;
        self.subscriber.back_from_direct(next_seq, frames, bytes);
    }

    /// Whether the last batch left the output caught up (cursor at the head of the ring,
    /// not paused): frames pushed since then are live for it. No lock.
    pub fn in_sync(&self) -> bool {
        self.subscriber.in_sync()
    }

    /// The configuration.
    pub fn config(&self) -> PumpConfig {
        self.config
    }

    /// The subscriber (its key, owner, whether the stream is published).
    pub fn subscriber(&self) -> &Subscriber {
        &self.subscriber
    }

    /// The subscriber, to pause it or filter audio/video (`receiveAudio`/`receiveVideo`).
    pub fn subscriber_mut(&mut self) -> &mut Subscriber {
        &mut self.subscriber
    }

    /// Gives the subscriber back (the output ends but the viewer stays attached).
    pub fn into_subscriber(self) -> Subscriber {
        self.subscriber
    }
}

#[cfg(test)]
mod tests;
