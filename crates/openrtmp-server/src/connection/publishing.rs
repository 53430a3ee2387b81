//! A publisher's state on its connection: the hub's [`Publisher`], the checks on what it
//! sends (timestamp jumps) and its ingest statistics (ingest delay, frame rate, codecs for
//! the API).

use std::sync::Arc;
use std::time::Duration;

use openrtmp_hub::{Frame, FrameKind, PublishError, Publisher, StreamKey};
use openrtmp_proto::message::{Message, MessageType};
use std::time::Instant;

use super::close::Close;
use crate::delay::{IngestClock, StreamDelays};
use crate::registry::{ConnEntry, MediaSummary};
use crate::shared::Shared;

/// Timestamp jumps are logged at most this often per connection.
const TS_WARNING_EVERY: Duration = Duration::from_secs(10);

/// One stream being published on this connection.
#[derive(Debug)]
pub(crate) struct Publishing {
    /// The RTMP message stream it publishes on.
    pub(crate) stream_id: u32,
    publisher: Publisher,
    last_ts: Option<u32>,
    last_ts_warning: Option<Instant>,
    /// Video frames received and (timestamp, count) at the last keyframe: the frame rate
    /// over the last keyframe interval.
    video_frames: u64,
    fps_window: Option<(u32, u64)>,
    /// This stream's delay histograms, and the publisher's lateness against real time.
    delays: Arc<StreamDelays>,
    ingest: IngestClock,
    /// This stream's byte, keyframe and jump counters for the history.
    counters: Arc<crate::history::StreamCounters>,
    entry: Arc<ConnEntry>,
    /// Frames went to viewers' sockets from this task since the loop last yielded.
    pub(crate) fanned_out: bool,
    /// The open batch's deadline as the hub said after the last read (or announcement):
    /// asked once per read, not on every turn of the connection's loop.
    batch_deadline: Option<Instant>,
}

impl Publishing {
    /// Claims `key` in the hub for this connection (`again`: it already publishes one).
    /// `Err` carries the description for `NetStream.Publish.BadName`.
    pub(crate) fn start(
        shared: &Shared,
        entry: &Arc<ConnEntry>,
        key: Option<&StreamKey>,
        stream_id: u32,
        again: bool,
    ) -> Result<Publishing, String> {
        let Some(key) = key else {
            tracing::warn!("publish rejected: empty stream name");
            return Err("stream name is empty".into());
        };
        if again {
            tracing::warn!(stream = %key, "publish rejected: connection already publishes");
            return Err("this connection is already publishing a stream".into());
        }
        let publisher = match shared.hub.publish(key.clone(), entry.id) {
            Ok(publisher) => publisher,
            Err(PublishError::InUse { owner, .. }) => {
                tracing::warn!(stream = %key, owner, "publish rejected: stream key in use");
                let name = &key.name;
                return Err(format!("stream key {name} is already in use by another publisher"));
            }
        };
        entry.detail().media =
            MediaSummary { since: Some(std::time::Instant::now()), ..MediaSummary::default() };
        tracing::info!(stream = %key, "publish start");
        let counters = shared.history.counters(key);
        counters.restart();
        let config = shared.config_arc();
        shared.relay.published(key, &config.relay.push);
        shared.recorder.published(key, &config.record);
        Ok(Publishing {
            stream_id,
            publisher,
            last_ts: None,
            last_ts_warning: None,
            video_frames: 0,
            fps_window: None,
            delays: shared.delays.for_stream(key),
            ingest: IngestClock::default(),
            counters,
            entry: Arc::clone(entry),
            fanned_out: false,
            batch_deadline: None,
        })
    }

    /// The stream's key.
    pub(crate) fn key(&self) -> &StreamKey {
        self.publisher.key()
    }

    /// Ends the publication (players are told, after what they have not read yet).
    pub(crate) fn stop(self, why: &str) {
        tracing::info!(stream = %self.publisher.key(), reason = why, "publish stop");
        self.publisher.unpublish();
    }

    /// The publisher was lost abruptly: its players are held, told nothing, for
    /// `streams.publisher_grace` (read now, so a reload applies at once), and a publisher
    /// on the same key within it continues the stream (the hub splices it in). The timer is
    /// a task of its own, ended early when the server starts shutting down: no grace then,
    /// nor when the grace is zero.
    pub(crate) fn lose(self, shared: &Arc<Shared>, why: &str) {
        let grace = shared.config_arc().publisher_grace;
        if grace.is_zero() || shared.draining.is_cancelled() {
            return self.stop(why);
        }
        let key = self.publisher.key().clone();
        let grace_ms = grace.as_millis() as u64;
        tracing::info!(stream = %key, reason = why, grace_ms, "publisher lost: players held");
        let orphan = self.publisher.lose();
        // Ended early by a shutdown (a child of `draining`) or by the API ending the stream
        // (`ServerHandle::end_stream` cancels the token it finds in `held`).
        let end = shared.draining.child_token();
        static GRACES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = GRACES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let held = Arc::clone(shared);
        held.held.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), (id, end.clone()));
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(grace) => {}
                () = end.cancelled() => {}
            }
            if orphan.is_pending() {
                tracing::info!(stream = %key, grace_ms, "publisher not back in time: publish stop");
            }
            orphan.expire();
            let mut map = held.held.lock().unwrap_or_else(|e| e.into_inner());
            if map.get(&key).is_some_and(|(held_id, _)| *held_id == id) {
                map.remove(&key);
            }
        });
    }

    /// Gathers the frames pushed until [`Publishing::release`] for the direct viewers.
    pub(crate) fn hold(&self) {
        self.publisher.hold();
    }

    /// Writes what was gathered since [`Publishing::hold`] to the direct viewers.
    pub(crate) fn release(&mut self) {
        self.batch_deadline = self.publisher.release();
        self.fanned_out |= self.publisher.fans_out();
    }

    /// When the open batch (`streams.max_batch`, audio waiting for video) must go out at
    /// the latest; [`Publishing::announce_due`] then.
    pub(crate) fn batch_deadline(&self) -> Option<Instant> {
        self.batch_deadline
    }

    /// Sends the open batch if its deadline has come.
    pub(crate) fn announce_due(&mut self, now: Instant) {
        self.batch_deadline = self.publisher.announce_due(now);
        self.fanned_out |= self.publisher.fans_out();
    }

    /// An audio or video message from the publisher, into the hub. `Err(Replaced)` when a
    /// newer publisher took the key over (`replace_publisher`): this one is done.
    pub(crate) fn media(&mut self, message: Message) -> Result<(), Close> {
        let kind =
            if message.type_id == MessageType::AUDIO { FrameKind::Audio } else { FrameKind::Video };
        let ts = message.timestamp;
        // One clock read per frame: ingest delay, the frame's arrival, warning rate.
        let arrived = Instant::now();
        if let Some(last) = self.last_ts {
            let delta = ts.wrapping_sub(last) as i32;
            let quiet =
                self.last_ts_warning.is_none_or(|t| arrived.duration_since(t) > TS_WARNING_EVERY);
            if !(-1000..=1000).contains(&delta) {
                self.counters.timestamp_jump();
            }
            if !(-1000..=1000).contains(&delta) && quiet {
                self.last_ts_warning = Some(arrived);
                tracing::warn!(from = last, to = ts, "timestamp jump in published media");
            }
        }
        self.last_ts = Some(ts);
        let mut frame = Frame::classify(kind, ts, message.payload);
        frame.received = Some(arrived);
        self.delays.ingest.record(self.ingest.observe(arrived, ts));
        if kind == FrameKind::Video && !frame.sequence_header {
            self.count_video(ts, frame.keyframe);
        }
        let pushed = self.publisher.push(frame);
        if pushed.replaced {
            return Err(Close::Replaced);
        }
        if let Some(info) = pushed.learnt {
            self.entry.detail().media.learn(&info);
        }
        Ok(())
    }

    /// A data message other than `onMetaData` (`onCuePoint`, `onTextData`): relayed.
    pub(crate) fn data(&mut self, timestamp: u32, payload: bytes::Bytes) {
        let _ = self.publisher.push(Frame::classify(FrameKind::Data, timestamp, payload));
    }

    /// The publisher's `onMetaData` (`@setDataFrame` stripped): the hub keeps it for new
    /// players, enriched with what it learns from the sequence headers.
    pub(crate) fn metadata(&mut self, timestamp: u32, data: openrtmp_media::ScriptData) {
        // A replaced publisher learns it from its next media message.
        let _ = self.publisher.set_metadata_script(timestamp, data);
    }

    /// Frame rate over the last keyframe interval, published at each keyframe.
    fn count_video(&mut self, ts: u32, keyframe: bool) {
        self.video_frames += 1;
        if !keyframe {
            return;
        }
        if let Some((first_ts, frames)) = self.fps_window.replace((ts, self.video_frames)) {
            let span = ts.wrapping_sub(first_ts);
            if span < 600_000 {
                self.counters.keyframe_interval(span);
            }
            if span > 0 && span < 60_000 {
                let fps = (self.video_frames - frames) as f64 * 1000.0 / f64::from(span);
                self.entry.detail().media.fps = Some((fps * 100.0).round() / 100.0);
            }
        }
    }
}
