//! The playing side of a stream: a cursor into the shared ring, plus the slow-viewer
//! policy (in `subscriber/lag.rs`).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::registry::Registry;
use crate::ring::Position;
use crate::stream::{clamp_ms, Stream, StreamState};
use crate::{Frame, FrameKind, StreamKey};

mod direct;
mod lag;
mod output;

pub(crate) use output::Sink;
pub use output::{SubscriberEvent, SubscriberStats, TooSlow};

/// Where the subscriber is with respect to the stream's publishers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No publisher to follow: attached before one, or after an unpublish.
    Waiting,
    /// Following generation `gen`, start sequence not sent yet.
    Starting,
    /// Following generation `gen` with a valid cursor.
    Playing,
}

/// Cached frames owed to the viewer before its next ring frame.
#[derive(Clone, Copy, Debug, Default)]
struct Owed {
    metadata: bool,
    audio: bool,
    video: bool,
}

impl Owed {
    const ALL: Owed = Owed { metadata: true, audio: true, video: true };
    const NONE: Owed = Owed { metadata: false, audio: false, video: false };

    fn any(self) -> bool {
        self.metadata || self.audio || self.video
    }
}

/// One player attached to a stream: a cursor into the stream's ring. Dropping it detaches
/// the player.
///
/// Drive it through a [`crate::MediaPump`], or with
/// `loop { sub.ready().await; sub.poll(now, &mut events, budget); send(events) }`.
/// `poll` does O(1) work plus O(frames returned); a subscriber holds no frames itself.
pub struct Subscriber {
    hub: Arc<Registry>,
    stream: Arc<Stream>,
    owner: u64,
    phase: Phase,
    /// The generation followed (or, when waiting, the last one seen).
    gen: u64,
    /// The next frame to read, with cumulative counters for O(1) backlog and drops.
    cursor: Position,
    /// Media clock of the frame last read or jumped to: the lag of a cursor whose frame
    /// was trimmed away.
    cursor_time: u64,
    /// Waiting for a sync point before delivering frames; `Some(true)` counts what is
    /// passed over as dropped (after a lag skip), `Some(false)` does not (start, resume).
    await_sync: Option<bool>,
    /// Video frames wait for a keyframe: video was re-enabled, or the cursor was placed
    /// in a stream that had no video yet.
    video_await_keyframe: bool,
    owed: Owed,
    /// The stream's `headers_version` when the caches were last sent.
    headers_seen: u64,
    /// Unpaused: move to the newest keyframe at the next poll.
    reposition: bool,
    paused: bool,
    audio: bool,
    video: bool,
    /// Wall time at which the current run of lag began; cleared on catching up.
    lagging_since: Option<Instant>,
    /// The latest wall time the viewer is known not to have been lagging (a poll that
    /// found it within the limits, a start or resume): a run of lag cannot have begun
    /// before it.
    not_lagging_at: Option<Instant>,
    /// Ring frames from this sequence number on arrived while the viewer was caught up
    /// (live); earlier ones, and cached frames, are catch-up. Set when a poll leaves the
    /// viewer drained, cleared when it starts, skips or resumes (see `crate::pump`).
    live_from: Option<u64>,
    too_slow_sent: bool,
    /// It was waiting when this generation's publisher arrived: it starts at the
    /// generation's first frame (nothing the publisher sent is skipped), not at the newest
    /// keyframe, unless that is already more than the lag limit behind.
    from_generation_start: bool,
    /// The stream's `changes` when a poll last drained everything; `None` when a poll
    /// may have more to give right away.
    seen: Option<u64>,
    /// The stream's `lifecycle_changes` at the last poll (what a paused viewer waits on).
    seen_lifecycle: u64,
    stats: SubscriberStats,
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("key", &self.stream.key)
            .field("owner", &self.owner)
            .field("phase", &self.phase)
            .field("generation", &self.gen)
            .field("cursor", &self.cursor.seq)
            .field("paused", &self.paused)
            .finish()
    }
}

impl Subscriber {
    pub(crate) fn new(
        hub: Arc<Registry>,
        stream: Arc<Stream>,
        owner: u64,
        live: bool,
        gen: u64,
    ) -> Subscriber {
        let seen_lifecycle = stream.lifecycle_changes.load(Ordering::SeqCst);
        Subscriber {
            hub,
            stream,
            owner,
            phase: if live { Phase::Starting } else { Phase::Waiting },
            gen,
            cursor: Position::default(),
            cursor_time: 0,
            await_sync: None,
            video_await_keyframe: false,
            owed: Owed::NONE,
            headers_seen: 0,
            reposition: false,
            paused: false,
            audio: true,
            video: true,
            lagging_since: None,
            not_lagging_at: None,
            live_from: None,
            too_slow_sent: false,
            from_generation_start: false,
            seen: None,
            seen_lifecycle,
            stats: SubscriberStats::default(),
        }
    }

    /// The stream's key.
    pub fn key(&self) -> &StreamKey {
        &self.stream.key
    }

    /// The owner id given to [`crate::Hub::subscribe`].
    pub fn owner(&self) -> u64 {
        self.owner
    }

    /// Resolves when [`Subscriber::poll`] may yield something. Cancel-safe (it changes
    /// nothing), so it can sit in a `select!`. May resolve spuriously (at most once per
    /// stream change), never repeatedly without one. While paused it resolves only when
    /// the publisher comes or goes.
    pub async fn ready(&self) {
        if self.paused {
            loop {
                let notified = self.stream.lifecycle.notified();
                if self.stream.lifecycle_changes.load(Ordering::SeqCst) != self.seen_lifecycle {
                    return;
                }
                notified.await;
            }
        }
        let Some(seen) = self.seen else { return };
        loop {
            // Created before the check: `notify_waiters` after this point wakes it.
            let notified = self.stream.notify.notified();
            if self.stream.changes.load(Ordering::SeqCst) != seen {
                return;
            }
            notified.await;
        }
    }

    /// Appends what is due to `out` and returns how many events were appended. Frames stop
    /// once their payload bytes reach `max_bytes` (at least one frame is returned if any
    /// is due); the start sequence (metadata, sequence headers) is never split.
    ///
    /// `now` is the wall time (the hub reads no clock): how long a viewer has been
    /// lagging, and so [`SubscriberEvent::TooSlow`], is measured with it.
    ///
    /// While paused only [`SubscriberEvent::Published`] and
    /// [`SubscriberEvent::Unpublished`] come out (the latter without draining first).
    pub fn poll(
        &mut self,
        now: Instant,
        out: &mut Vec<SubscriberEvent>,
        max_bytes: usize,
    ) -> usize {
        let before = out.len();
        self.poll_into(now, out, max_bytes);
        out.len() - before
    }

    /// [`Subscriber::poll`] into any [`Sink`] (the media pump's).
    pub(crate) fn poll_into(&mut self, now: Instant, out: &mut impl Sink, max_bytes: usize) {
        let stream = Arc::clone(&self.stream);
        let mut st = stream.lock();
        self.seen_lifecycle = stream.lifecycle_changes.load(Ordering::SeqCst);
        self.follow_publisher(&mut st, out);
        if self.paused {
            if self.phase != Phase::Waiting && !st.publishing {
                out.unpublished();
                self.stop_following(&mut st);
            }
            stream.account(&mut st);
            return;
        }
        if self.phase == Phase::Starting {
            self.start(&st, now, out);
        }
        if self.phase == Phase::Playing {
            if self.reposition {
                self.resume(&st, now);
            }
            self.check_lag(&st, now, out);
            self.deliver(&st, out, max_bytes);
            if !st.publishing && self.cursor.seq >= st.ring.head().seq && !self.owed.any() {
                out.unpublished();
                self.stop_following(&mut st);
            }
        }
        let drained = match self.phase {
            Phase::Waiting => true,
            Phase::Starting => false,
            Phase::Playing => self.cursor.seq >= st.ring.head().seq && !self.owed.any(),
        };
        if drained && self.phase == Phase::Playing && self.live_from.is_none() {
            self.live_from = Some(st.ring.head().seq);
        }
        if self.lagging_since.is_none() {
            self.not_lagging_at = Some(now);
        }
        self.note_backlog(&st, drained);
        self.seen = drained.then(|| self.stream.changes.load(Ordering::SeqCst));
        // A freed ring changes memory accounting.
        self.stream.account(&mut st);
    }

    /// Stops (`true`) or resumes delivery. While paused nothing is delivered and lag is
    /// not measured; resuming restarts at the newest keyframe if there is one after the
    /// viewer's position (otherwise it simply continues). The player already has the
    /// sequence headers: they are re-sent only if they changed meanwhile.
    pub fn set_paused(&mut self, paused: bool) {
        if self.paused && !paused {
            self.reposition = true;
            self.seen = None;
        }
        self.paused = paused;
    }

    /// `receiveAudio`: whether audio frames are delivered. Re-enabling re-sends the audio
    /// sequence headers.
    pub fn set_audio(&mut self, on: bool) {
        if on && !self.audio {
            self.owed.audio = true;
            self.seen = None;
        }
        self.audio = on;
    }

    /// `receiveVideo`: whether video frames are delivered. Re-enabling re-sends the video
    /// sequence headers and resumes video at the next keyframe.
    pub fn set_video(&mut self, on: bool) {
        if on && !self.video {
            self.owed.video = true;
            self.video_await_keyframe = true;
            self.seen = None;
        }
        self.video = on;
    }

    /// Whether the stream has a live publisher now.
    pub fn is_publishing(&self) -> bool {
        self.stream.lock().publishing
    }

    /// Counters and the current backlog (takes the stream's lock; see
    /// [`Subscriber::last_stats`] for a lock-free copy).
    pub fn stats(&self) -> SubscriberStats {
        let st = self.stream.lock();
        let mut stats = self.stats.clone();
        (stats.backlog_frames, stats.backlog_bytes, stats.backlog_ms) = self.backlog(&st);
        stats
    }

    /// Counters, with the backlog as it was at the end of the last poll: no lock, so an
    /// output can read it after every batch.
    pub fn last_stats(&self) -> &SubscriberStats {
        &self.stats
    }

    /// Whether the last poll left this viewer caught up: playing (not paused) with its
    /// cursor at the head of the ring and nothing owed. Frames pushed since are live for
    /// it. Lock-free; what a fan-out that writes new frames straight to in-sync viewers
    /// would test.
    pub fn in_sync(&self) -> bool {
        self.phase == Phase::Playing && !self.paused && self.seen.is_some()
    }

    /// The backlog in frames, bytes and media ms (zero unless playing the current
    /// generation).
    fn backlog(&self, st: &StreamState) -> (u64, u64, u32) {
        if self.phase != Phase::Playing || self.gen != st.generation {
            return (0, 0, 0);
        }
        let head = st.ring.head();
        (
            self.cursor.frames_until(head, self.audio, self.video),
            head.bytes.saturating_sub(self.cursor.bytes),
            clamp_ms(self.lag_ms(st)),
        )
    }

    /// Refreshes the stored backlog at the end of a poll: O(1), under the lock the poll
    /// already holds, and nothing to compute for a drained viewer (the common case).
    fn note_backlog(&mut self, st: &StreamState, drained: bool) {
        let backlog = if drained { (0, 0, 0) } else { self.backlog(st) };
        (self.stats.backlog_frames, self.stats.backlog_bytes, self.stats.backlog_ms) = backlog;
    }

    /// Whether this subscriber counts in `st.followers`.
    fn is_following(&self, st: &StreamState) -> bool {
        self.phase != Phase::Waiting && self.gen == st.generation
    }

    fn stop_following(&mut self, st: &mut StreamState) {
        if self.is_following(st) {
            st.followers = st.followers.saturating_sub(1);
            st.release_if_drained();
        }
        self.phase = Phase::Waiting;
    }

    /// Reacts to publishers coming and going since the last poll.
    fn follow_publisher(&mut self, st: &mut StreamState, out: &mut impl Sink) {
        let ended = match self.phase {
            Phase::Waiting => false,
            // The ring it was reading has been replaced by a newer publisher's.
            _ if self.gen != st.generation => true,
            // A viewer of a finished generation still starts and drains what is left (a
            // publisher may finish before its viewers' tasks first poll).
            Phase::Starting | Phase::Playing => false,
        };
        if ended {
            out.unpublished();
            self.stop_following(st);
        }
        if self.phase == Phase::Waiting && st.publishing && self.gen != st.generation {
            out.published();
            self.gen = st.generation;
            self.phase = Phase::Starting;
            self.from_generation_start = true;
            // It was waiting for this publisher: everything the publisher sends arrives
            // while it is caught up.
            self.live_from = Some(0);
            st.followers += 1;
        }
    }

    /// Sends the caches and places the cursor for a new start on the current generation.
    ///
    /// Video streams start at the newest keyframe, or wait for the first one. With
    /// `start_at_oldest_keyframe` they start at the oldest keyframe of the GOP cache (the
    /// newest at least `gop_cache_ms` old) but never one over `viewer_max_lag_ms` old,
    /// which would count as lagging at once. Audio-only streams start at the head, for the
    /// lowest latency (every audio frame is a sync point, nothing to wait for); with
    /// `start_at_oldest_keyframe` at the oldest frame within `min(gop_cache_ms,
    /// viewer_max_lag_ms)`, giving the player a buffer to prefill. A subscriber that was
    /// already waiting when the publisher arrived starts at the publisher's first frame
    /// instead (while that is within `viewer_max_lag_ms`): nothing is skipped for it.
    fn start(&mut self, st: &StreamState, now: Instant, out: &mut impl Sink) {
        self.reposition = false;
        self.lagging_since = None;
        self.not_lagging_at = Some(now);
        self.headers_seen = st.headers_version;
        let ring = &st.ring;
        let max_ms = u64::from(st.config.viewer_max_lag_ms);
        if std::mem::take(&mut self.from_generation_start)
            && ring.first_seq() == 0
            && ring.len() > 0
        {
            // Waiting when the publisher arrived: everything since it started, if still
            // within the lag limit. The ring holds the generation's metadata and headers in
            // order (new configuration always goes into the ring), so no caches are owed.
            self.jump(st, Some(0), false);
            self.video_await_keyframe = true;
            if self.lag_ms(st) <= max_ms {
                self.phase = Phase::Playing;
                return;
            }
        }
        self.live_from = None;
        self.owed = Owed::ALL;
        self.send_owed(st, out);
        let oldest = st.config.start_at_oldest_keyframe;
        let gop_ms = u64::from(st.config.gop_cache_ms);
        let at = if ring.is_audio_only() {
            Some(if oldest { ring.oldest_within(gop_ms.min(max_ms)) } else { ring.head().seq })
        } else if oldest {
            ring.gop_start(gop_ms, max_ms)
        } else {
            ring.newest_keyframe()
        };
        self.jump(st, at, false);
        self.phase = Phase::Playing;
    }

    /// After unpausing: forward to the newest keyframe (the head of an audio-only
    /// stream). Never backwards: a viewer paused within the newest GOP just continues.
    fn resume(&mut self, st: &StreamState, now: Instant) {
        self.reposition = false;
        self.lagging_since = None;
        self.not_lagging_at = Some(now);
        // What gathered while paused was not delivered live, moved over or not.
        self.live_from = None;
        let ring = &st.ring;
        let trimmed = self.cursor.seq < ring.first_seq();
        let at = if ring.is_audio_only() { Some(ring.head().seq) } else { ring.newest_keyframe() };
        match at {
            Some(seq) if seq > self.cursor.seq => self.jump(st, at, false),
            None if trimmed => self.jump(st, None, false),
            _ => {}
        }
        self.owe_changed_headers(st);
    }

    /// Moves the cursor to sync point `at`, or (none) to the head, waiting for the next
    /// sync point. `count` tallies passed-over frames as dropped.
    fn jump(&mut self, st: &StreamState, at: Option<u64>, count: bool) {
        let ring = &st.ring;
        let target = at.and_then(|seq| ring.position(seq).map(|p| (p, ring.get(seq))));
        let (pos, waiting) = match target {
            Some((pos, entry)) => {
                self.cursor_time = entry.map_or(ring.now(), |e| e.time);
                (pos, false)
            }
            None => {
                self.cursor_time = ring.now();
                (ring.head(), true)
            }
        };
        if count {
            self.stats.dropped_frames += self.cursor.frames_until(pos, self.audio, self.video);
        }
        self.cursor = pos;
        self.await_sync = waiting.then_some(count);
        // Landing on a keyframe (or waiting for one) makes video decodable from here. In
        // an audio-only stream the landing point is any frame: should video start later
        // mid-GOP, it must still begin at a keyframe.
        self.video_await_keyframe = ring.is_audio_only();
    }

    /// Owes the caches again if they changed since they were sent (a jump may have passed
    /// over the ring entries that carried the change).
    fn owe_changed_headers(&mut self, st: &StreamState) {
        if self.headers_seen != st.headers_version {
            self.owed = Owed::ALL;
            self.headers_seen = st.headers_version;
        }
    }

    /// Whether a frame passes the viewer's filters.
    fn wants(&mut self, frame: &Frame) -> bool {
        match frame.kind {
            FrameKind::Audio => self.audio,
            FrameKind::Video if !self.video => false,
            FrameKind::Video if self.video_await_keyframe && !frame.sequence_header => {
                self.video_await_keyframe = !frame.keyframe;
                frame.keyframe
            }
            FrameKind::Video | FrameKind::Data => true,
        }
    }

    /// Emits owed cached frames (metadata, then video, then audio sequence headers).
    fn send_owed(&mut self, st: &StreamState, out: &mut impl Sink) {
        let owed = std::mem::replace(&mut self.owed, Owed::NONE);
        let meta = st.metadata.iter().filter(|_| owed.metadata);
        let headers = st.headers.iter().filter(|h| match h.kind {
            FrameKind::Video => owed.video && self.video,
            FrameKind::Audio => owed.audio && self.audio,
            FrameKind::Data => false,
        });
        for frame in meta.chain(headers) {
            self.stats.delivered_frames += 1;
            self.stats.delivered_bytes += frame.len() as u64;
            out.frame(frame.clone(), true);
        }
    }

    /// Emits ring frames from the cursor within the byte budget.
    fn deliver(&mut self, st: &StreamState, out: &mut impl Sink, max_bytes: usize) {
        let ring = &st.ring;
        if let Some(count) = self.await_sync {
            if ring.is_audio_only() {
                self.await_sync = None;
            } else {
                let at = ring.newest_keyframe().filter(|&k| k >= self.cursor.seq);
                self.jump(st, at.or(Some(ring.head().seq)), count);
                if at.is_none() {
                    self.await_sync = Some(count);
                    return;
                }
                self.owe_changed_headers(st);
            }
        }
        self.send_owed(st, out);
        let head = ring.head().seq;
        let (mut bytes, mut frames) = (0usize, 0usize);
        while self.cursor.seq < head && (frames == 0 || bytes < max_bytes) {
            let Some(entry) = ring.get(self.cursor.seq) else { break };
            self.cursor = entry.pos.after(&entry.frame);
            self.cursor_time = entry.time;
            if !self.wants(&entry.frame) {
                continue;
            }
            frames += 1;
            bytes += entry.frame.len();
            self.stats.delivered_frames += 1;
            self.stats.delivered_bytes += entry.frame.len() as u64;
            let live = self.live_from.is_some_and(|from| entry.pos.seq >= from);
            out.frame(entry.frame.clone(), !live);
        }
        if self.cursor.seq >= head {
            self.lagging_since = None;
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let following = self.phase != Phase::Waiting;
        let gen = self.gen;
        self.hub.detach(&self.stream, |st| {
            st.viewers = st.viewers.saturating_sub(1);
            if following && gen == st.generation {
                st.followers = st.followers.saturating_sub(1);
                st.release_if_drained();
            }
            false
        });
    }
}

#[cfg(test)]
mod tests;
