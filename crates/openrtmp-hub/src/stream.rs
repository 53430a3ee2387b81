//! One live stream: the publisher slot, the shared ring, the caches for late joiners and
//! the wakeup that viewers wait on.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use openrtmp_media::{AudioInfo, ScriptData, VideoInfo};
use tokio::sync::Notify;

mod info;

pub(crate) use info::clamp_ms;
pub use info::StreamInfo;

use crate::direct::DirectList;
use crate::ring::Ring;
use crate::splice::Timeline;
use crate::{CodecInfo, Frame, FrameKind, HubConfig, StreamKey};

/// A stream as shared by the registry, its publisher and its subscribers.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) key: StreamKey,
    state: Mutex<StreamState>,
    /// Woken (all waiters) after every change in `changes`.
    pub(crate) notify: Notify,
    /// Bumped while holding `state` on every change a subscriber may act on (frame,
    /// metadata, publish, unpublish). A subscriber that saw value `n` and drained
    /// everything has nothing to do until it differs: `ready()` compares without locking.
    pub(crate) changes: AtomicU64,
    /// Woken after every change in `lifecycle_changes`.
    pub(crate) lifecycle: Notify,
    /// Like `changes`, for publish and unpublish only: what a paused subscriber waits
    /// for, so paused viewers are not woken by every frame.
    pub(crate) lifecycle_changes: AtomicU64,
    /// Outputs fed straight from the publisher's task (run-to-completion fan-out).
    pub(crate) direct: DirectList,
    /// While set, pushes gather frames for the direct outputs without offering them; the
    /// publisher's driver offers once per read ([`crate::Publisher::hold`]).
    pub(crate) holding: AtomicBool,
    /// The hub-wide payload byte count this stream contributes to.
    memory: Arc<AtomicUsize>,
}

/// The mutable part of a stream, behind its mutex (never held across an `.await`).
#[derive(Debug)]
pub(crate) struct StreamState {
    /// A copy of the hub's configuration, refreshed by [`crate::Hub::set_config`].
    pub(crate) config: HubConfig,
    /// Incremented by each publish; subscribers compare it with theirs to notice a new
    /// publisher (and that the ring they had a cursor into is gone).
    pub(crate) generation: u64,
    /// Whether the publication of `generation` is live (a publisher pushes, or it was
    /// lost and is in its reconnect grace: `lost`). Subscribers follow it while it is.
    pub(crate) publishing: bool,
    /// The publication's source was lost abruptly ([`crate::Publisher::lose`]): nobody
    /// pushes, subscribers stay attached and hear nothing until a publisher continues it
    /// ([`crate::Hub::publish`]) or its [`crate::Orphan`] expires.
    pub(crate) lost: bool,
    /// Incremented by each publisher that takes the stream (a new generation or the
    /// continuation of a lost one): a [`crate::Publisher`] whose `source` differs was
    /// displaced. Never shown to subscribers, which follow `generation`.
    pub(crate) source: u64,
    /// The delivered timeline across changes of source (see `crate::splice`).
    pub(crate) timeline: Timeline,
    /// The owner id of the live publisher.
    pub(crate) owner: Option<u64>,
    /// Attached subscribers.
    pub(crate) viewers: usize,
    /// Subscribers following `generation` (started or starting on it). After an
    /// unpublish the ring is kept until they have drained it, then freed.
    pub(crate) followers: usize,
    pub(crate) ring: Ring,
    /// The latest onMetaData, as delivered (enriched when it came as a script).
    pub(crate) metadata: Option<Frame>,
    /// The publisher's onMetaData as sent, with its timestamp, when it came through
    /// [`crate::Publisher::set_metadata_script`]: re-enriched when codec information is
    /// learnt.
    script: Option<(u32, ScriptData)>,
    /// What the track-0 video and audio sequence headers said.
    video: Option<VideoInfo>,
    audio: Option<AudioInfo>,
    /// The latest sequence header per (kind, track): video before audio, by track id.
    pub(crate) headers: Vec<Frame>,
    /// Bumped when metadata or a sequence header changes; a viewer that jumps over
    /// ring entries re-sends the caches if it has not seen the current version.
    pub(crate) headers_version: u64,
    pub(crate) frames_in: u64,
    pub(crate) bytes_in: u64,
    /// Of `bytes_in`, video and audio payload bytes (bit rates per kind, nginx-rtmp's
    /// `bw_video` / `bw_audio`).
    pub(crate) video_bytes_in: u64,
    pub(crate) audio_bytes_in: u64,
    /// Frames of new sources dropped before their sync point (see `crate::splice`).
    pub(crate) dropped_at_splice: u64,
    /// Bytes this stream currently adds to the hub's memory count.
    held: usize,
    /// Media timestamp of the oldest frame pushed without waking the viewers
    /// ([`HubConfig::audio_batch_ms`]); `None` when every frame has been announced.
    unannounced_since: Option<u32>,
    /// When the oldest unannounced frame must go out at the latest: its arrival plus the
    /// bound it waits under (a driver that set [`Frame::received`] announces it then,
    /// [`Stream::announce_due`], so no frame waits past the bound for a later one).
    unannounced_deadline: Option<Instant>,
    /// Set by a push that should not wake the viewers; read and cleared by `commit`.
    quiet: bool,
    /// Frames pushed but not yet offered to the direct outputs (a batch being gathered),
    /// from sequence number `direct_from`.
    direct_pending: Vec<Frame>,
    direct_from: u64,
    /// A frame that is not to wait was gathered: the batch goes at the next chance.
    direct_due: bool,
}

impl Stream {
    pub(crate) fn new(key: StreamKey, config: HubConfig, memory: Arc<AtomicUsize>) -> Stream {
        let state = StreamState {
            config,
            generation: 0,
            publishing: false,
            lost: false,
            source: 0,
            timeline: Timeline::default(),
            owner: None,
            viewers: 0,
            followers: 0,
            ring: Ring::default(),
            metadata: None,
            script: None,
            video: None,
            audio: None,
            headers: Vec::new(),
            headers_version: 0,
            frames_in: 0,
            bytes_in: 0,
            video_bytes_in: 0,
            audio_bytes_in: 0,
            dropped_at_splice: 0,
            held: 0,
            unannounced_since: None,
            unannounced_deadline: None,
            quiet: false,
            direct_pending: Vec::new(),
            direct_from: 0,
            direct_due: false,
        };
        Stream {
            key,
            state: Mutex::new(state),
            notify: Notify::new(),
            changes: AtomicU64::new(0),
            lifecycle: Notify::new(),
            lifecycle_changes: AtomicU64::new(0),
            direct: DirectList::default(),
            holding: AtomicBool::new(false),
            memory,
        }
    }

    /// Locks the state. A panic elsewhere while holding the lock leaves the state usable
    /// (every mutation keeps the invariants step by step), so poisoning is ignored rather
    /// than spreading the panic to every connection of the stream.
    pub(crate) fn lock(&self) -> MutexGuard<'_, StreamState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ends a change made under `st`: updates memory accounting, bumps `changes` (and
    /// `lifecycle_changes` for a publish or unpublish), unlocks and wakes the waiting
    /// subscribers.
    pub(crate) fn commit(&self, mut st: MutexGuard<'_, StreamState>, lifecycle: bool) {
        self.account(&mut st);
        if std::mem::take(&mut st.quiet) && !lifecycle {
            // Batched audio: visible to the next poll, announced with the next wake.
            return;
        }
        self.changes.fetch_add(1, Ordering::SeqCst);
        if lifecycle {
            self.lifecycle_changes.fetch_add(1, Ordering::SeqCst);
        }
        let wake = st.viewers > 0;
        drop(st);
        if wake {
            self.notify.notify_waiters();
            if lifecycle {
                self.lifecycle.notify_waiters();
            }
        }
    }

    /// Brings the hub-wide memory count in line with what `st` holds.
    pub(crate) fn account(&self, st: &mut StreamState) {
        let held = st.held_bytes();
        if held > st.held {
            self.memory.fetch_add(held - st.held, Ordering::Relaxed);
        } else if held < st.held {
            self.memory.fetch_sub(st.held - held, Ordering::Relaxed);
        }
        st.held = held;
    }

    /// What the API shows of this stream.
    pub(crate) fn info(&self) -> StreamInfo {
        let mut info = self.lock().info(&self.key);
        info.direct_viewers = self.direct.len();
        info
    }

    /// Runs `f` if the publisher of `source` is still the live one, then commits.
    /// Returns false (doing nothing) for a displaced, lost or finished publisher.
    pub(crate) fn with_live(&self, source: u64, f: impl FnOnce(&mut StreamState)) -> bool {
        let mut st = self.lock();
        if !st.is_live(source) {
            return false;
        }
        let generation = st.generation;
        let head = st.ring.head().seq;
        f(&mut st);
        st.gather_direct(head, self.direct.len() > 0);
        let batch = if self.holding.load(Ordering::Relaxed) { None } else { st.take_direct() };
        self.commit(st, false);
        if let Some((first_seq, frames)) = batch {
            self.direct.offer(generation, first_seq, &frames);
        }
        true
    }

    /// Announces the open batch if its deadline is `now` or past: wakes the viewers and
    /// offers the gathered frames to the direct outputs (unless [`Stream::holding`]).
    /// Returns the deadline still open (none once announced).
    pub(crate) fn announce_due(&self, source: u64, now: Instant) -> Option<Instant> {
        let mut st = self.lock();
        let due = st.unannounced_deadline.is_some_and(|deadline| deadline <= now);
        if !st.is_live(source) || !due {
            return st.batch_deadline().filter(|_| st.is_live(source));
        }
        let generation = st.generation;
        st.announced();
        st.direct_due |= !st.direct_pending.is_empty();
        let batch = if self.holding.load(Ordering::Relaxed) { None } else { st.take_direct() };
        self.commit(st, false);
        if let Some((first_seq, frames)) = batch {
            self.direct.offer(generation, first_seq, &frames);
        }
        None
    }

    /// Offers the frames gathered while [`Stream::holding`] to the direct outputs; returns
    /// the open batch's deadline (read under the same lock).
    pub(crate) fn fan_out(&self, source: u64) -> Option<Instant> {
        let mut st = self.lock();
        if !st.is_live(source) {
            return None;
        }
        let generation = st.generation;
        let batch = st.take_direct();
        let deadline = st.batch_deadline();
        drop(st);
        if let Some((first_seq, frames)) = batch {
            self.direct.offer(generation, first_seq, &frames);
        }
        deadline
    }
}

impl StreamState {
    fn held_bytes(&self) -> usize {
        let ring = usize::try_from(self.ring.bytes()).unwrap_or(usize::MAX);
        let meta = self.metadata.as_ref().map_or(0, Frame::len);
        ring + meta + self.headers.iter().map(Frame::len).sum::<usize>()
    }

    /// Whether the publisher that took the stream as `source` is the live one.
    pub(crate) fn is_live(&self, source: u64) -> bool {
        self.source == source && self.publishing && !self.lost
    }

    /// Starts a new publisher generation: everything of the previous one is dropped.
    pub(crate) fn begin_generation(&mut self, owner: u64) {
        self.generation += 1;
        self.source += 1;
        self.publishing = true;
        self.lost = false;
        self.timeline = Timeline::default();
        self.owner = Some(owner);
        self.followers = 0;
        self.clear();
        self.headers_version += 1;
        self.frames_in = 0;
        self.bytes_in = 0;
        (self.video_bytes_in, self.audio_bytes_in) = (0, 0);
    }

    /// A publisher takes over a lost publication ([`crate::Hub::publish`] in its grace):
    /// same generation, ring and caches, so its subscribers notice nothing but the splice.
    /// Codec information is learnt again (and reported to the new publisher) from its own
    /// sequence headers.
    pub(crate) fn continue_publication(&mut self, owner: u64) {
        self.source += 1;
        self.lost = false;
        self.owner = Some(owner);
        self.frames_in = 0;
        self.bytes_in = 0;
        (self.video_bytes_in, self.audio_bytes_in) = (0, 0);
        self.video = None;
        self.audio = None;
        self.splice();
    }

    /// The next frames come from a new source (see `crate::splice`).
    pub(crate) fn splice(&mut self) {
        self.timeline.splice(!self.ring.is_audio_only());
        self.announced();
    }

    /// The publication's source is gone without an unpublish: subscribers stay attached
    /// and what was gathered for a batch is announced now.
    pub(crate) fn lose(&mut self) {
        self.lost = true;
        self.owner = None;
        self.announced();
        self.quiet = false;
    }

    /// Ends the publication: subscribers drain the ring, then hear of it.
    pub(crate) fn end_publication(&mut self) {
        self.publishing = false;
        self.lost = false;
        self.owner = None;
        self.release_if_drained();
    }

    /// Frees the ring and caches.
    pub(crate) fn clear(&mut self) {
        self.ring = Ring::default();
        self.metadata = None;
        self.script = None;
        self.video = None;
        self.audio = None;
        self.headers.clear();
        self.direct_pending.clear();
        self.direct_due = false;
    }

    /// Frees the ring of a finished generation once no subscriber is still draining it.
    pub(crate) fn release_if_drained(&mut self) {
        if !self.publishing && self.followers == 0 {
            self.clear();
        }
    }

    /// Takes a frame from the publisher; returns the codec information it taught the
    /// stream, if any (a new or changed track-0 sequence header that parses).
    pub(crate) fn push(&mut self, frame: Frame) -> Option<Arc<CodecInfo>> {
        self.frames_in += 1;
        self.bytes_in += frame.len() as u64;
        match frame.kind {
            FrameKind::Video => self.video_bytes_in += frame.len() as u64,
            FrameKind::Audio => self.audio_bytes_in += frame.len() as u64,
            FrameKind::Data => {}
        }
        let Some(frame) = self.timeline.admit(frame) else {
            // Before a new source's sync point (see `crate::splice`).
            self.dropped_at_splice += 1;
            // Nothing changed for the viewers: no wake.
            self.quiet = true;
            return None;
        };
        self.quiet = self.batch_quietly(&frame);
        if !frame.sequence_header || frame.kind == FrameKind::Data {
            self.ring.push(frame, &self.config);
            return None;
        }
        if frame.kind == FrameKind::Video {
            self.ring.note_video();
        }
        if !self.cache_header(frame.clone()) {
            return None;
        }
        let learnt = frame.codec.clone().filter(|info| frame.track == 0 && self.learn(info));
        if learnt.is_some() {
            // The enriched metadata goes out before the header (as the server did).
            self.enrich_metadata();
        }
        // A new or changed configuration also goes into the ring, so viewers already
        // playing receive it in order with the frames it applies to.
        self.ring.push(frame, &self.config);
        learnt
    }

    /// Records codec information; whether it is new.
    /// Gathers the frames the ring gained since sequence number `from` for the direct
    /// outputs; the batch is due unless it is to wait ([`Self::batch_quietly`]: the direct
    /// outputs batch exactly as the woken ones do).
    fn gather_direct(&mut self, from: u64, wanted: bool) {
        let head = self.ring.head().seq;
        if !wanted && self.direct_pending.is_empty() {
            return;
        }
        if self.direct_pending.is_empty() {
            self.direct_from = from;
        }
        for seq in from..head {
            if let Some(entry) = self.ring.get(seq) {
                self.direct_pending.push(entry.frame.clone());
            }
        }
        self.direct_due |= !self.quiet && head > from;
    }

    /// The gathered batch, if it is due.
    fn take_direct(&mut self) -> Option<(u64, Vec<Frame>)> {
        if !std::mem::take(&mut self.direct_due) || self.direct_pending.is_empty() {
            return None;
        }
        Some((self.direct_from, std::mem::take(&mut self.direct_pending)))
    }

    fn learn(&mut self, info: &CodecInfo) -> bool {
        let changed = match info {
            CodecInfo::Video(v) => self.video.as_ref() != Some(v),
            CodecInfo::Audio(a) => self.audio.as_ref() != Some(a),
        };
        if changed {
            match info {
                CodecInfo::Video(v) => self.video = Some(v.clone()),
                CodecInfo::Audio(a) => self.audio = Some(a.clone()),
            }
        }
        changed
    }

    /// Keeps the publisher's onMetaData and publishes it enriched with what the stream's
    /// sequence headers said ([`ScriptData::with_stream_info`]).
    pub(crate) fn set_metadata_script(&mut self, timestamp: u32, script: ScriptData) {
        let timestamp = self.timeline.stamp_config(timestamp);
        self.script = Some((timestamp, script));
        self.enrich_metadata();
    }

    /// Re-encodes the kept script with the current codec information, if there is one.
    fn enrich_metadata(&mut self) {
        let Some((timestamp, script)) = &self.script else { return };
        let enriched = script.with_stream_info(
            &self.config.server_name,
            self.video.as_ref(),
            self.audio.as_ref(),
        );
        let frame = Frame::classify(FrameKind::Data, *timestamp, enriched.to_bytes());
        self.set_metadata(frame);
    }

    /// Whether `frame` may wait for the next wake: with [`HubConfig::max_batch_ms`], any
    /// frame while the unannounced media spans less than that; otherwise
    /// ([`HubConfig::audio_batch_ms`]) plain audio in a stream that has video, while the
    /// unannounced media stays under that bound (the next video frame announces it all).
    fn batch_quietly(&mut self, frame: &Frame) -> bool {
        let audio = frame.kind == FrameKind::Audio && !frame.sequence_header;
        let bound = if self.config.max_batch_ms > 0 {
            self.config.max_batch_ms
        } else if audio && !self.ring.is_audio_only() {
            self.config.audio_batch_ms
        } else {
            0
        };
        if bound == 0 {
            self.announced();
            return false;
        }
        if self.unannounced_since.is_none() {
            self.unannounced_deadline =
                frame.received.map(|at| at + Duration::from_millis(u64::from(bound)));
        }
        let since = *self.unannounced_since.get_or_insert(frame.timestamp);
        // Serial-number arithmetic: a backwards or wrapped timestamp wakes at once.
        let waited = frame.timestamp.wrapping_sub(since);
        if waited >= bound {
            self.announced();
            return false;
        }
        true
    }

    /// Every frame pushed so far is (being) announced: no batch is open.
    fn announced(&mut self) {
        self.unannounced_since = None;
        self.unannounced_deadline = None;
    }

    /// When the open batch must be announced at the latest, if one is open and its first
    /// frame carried its arrival time.
    pub(crate) fn batch_deadline(&self) -> Option<Instant> {
        self.unannounced_deadline
    }

    /// Replaces the onMetaData with a frame as is (it will not be enriched).
    pub(crate) fn set_metadata_frame(&mut self, mut frame: Frame) {
        frame.timestamp = self.timeline.stamp_config(frame.timestamp);
        self.script = None;
        self.set_metadata(frame);
    }

    /// Replaces the cached onMetaData; a change is also queued for current viewers.
    fn set_metadata(&mut self, frame: Frame) {
        let changed = self.metadata.as_ref().is_none_or(|m| m.payload != frame.payload);
        self.metadata = Some(frame.clone());
        if changed {
            self.headers_version += 1;
            self.ring.push(frame, &self.config);
        }
    }

    /// Caches a sequence header; returns whether it differs from the one it replaces.
    fn cache_header(&mut self, frame: Frame) -> bool {
        let rank = frame.header_rank();
        let at = self.headers.partition_point(|h| h.header_rank() < rank);
        match self.headers.get_mut(at) {
            Some(old) if old.header_rank() == rank => {
                let changed = old.payload != frame.payload;
                *old = frame;
                if !changed {
                    return false;
                }
            }
            _ => self.headers.insert(at, frame),
        }
        self.headers_version += 1;
        true
    }
}
