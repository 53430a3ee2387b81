//! RTP timestamps (with RTCP sender reports) to RTMP milliseconds, audio and video on one
//! timeline.
//!
//! Audio and video RTP clocks start at random offsets (RFC 3550 §5.1), so their timestamps
//! alone say nothing about sync. A sender report (RFC 3550 §6.4.1) ties a stream's RTP time
//! to the sender's wallclock, and both streams' reports use the same wallclock: mapping each
//! frame through its stream's newest report, `wall = ntp + (rtp - rtp_sr) / clock_rate`,
//! puts audio and video where the sender captured them.
//!
//! Chrome sends its first report about a second into the call. Until both streams have one,
//! each stream is mapped by arrival: `t = rtp / clock_rate + min(arrival - rtp / clock_rate)`
//! (the earliest-arriving frame has the least network delay). When both have reports the
//! clock switches to the report mapping, shifted by one constant chosen so that neither
//! stream goes back: the stream that was late jumps forward by the A/V correction (logged),
//! the other continues. Every stream is kept monotonic besides (a frame that would go back
//! is clamped to the last timestamp, and counted).
//!
//! Times here are seconds as `f64` on the session timeline (0 = the first arrival the
//! clock saw); RTMP milliseconds count from the first emitted frame of either kind and wrap
//! at 2^32 like RTMP timestamps do.

use std::time::{Instant, UNIX_EPOCH};

use crate::rtp::SenderReport;

/// Which stream a timestamp belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// The Opus (or its AAC) stream.
    Audio,
    /// The H.264 stream.
    Video,
}

/// The mapping state of one stream.
#[derive(Debug, Clone, Default)]
struct Stream {
    /// RTP time of the stream's first frame, the origin of `rel` below (keeps the `f64`
    /// values small whatever the random RTP offset).
    rtp0: Option<u64>,
    clock_rate: u32,
    /// `min(arrival - rel)` over the frames seen: the arrival mapping.
    arrival_offset: Option<f64>,
    /// The newest sender report, as (NTP seconds since the Unix epoch, RTP time).
    report: Option<(f64, u64)>,
    /// The latest session time emitted, and the highest RTP time emitted: what the switch
    /// to report times must not go behind.
    last_time: Option<f64>,
    last_rtp: Option<u64>,
    /// The newest emitted RTMP timestamp, before wrapping (monotonic).
    last_ms: Option<u64>,
    /// Timestamps that would have gone backwards and were clamped.
    clamped: u64,
}

impl Stream {
    /// Seconds from the stream's first frame to `rtp` (negative for a reordered frame
    /// older than the first).
    fn rel(&self, rtp: u64) -> f64 {
        let rtp0 = self.rtp0.unwrap_or(rtp);
        let ticks = if rtp >= rtp0 { (rtp - rtp0) as f64 } else { -((rtp0 - rtp) as f64) };
        ticks / f64::from(self.clock_rate.max(1))
    }

    /// Sender wallclock (NTP seconds) of `rtp`, through the newest report.
    fn wall(&self, rtp: u64) -> Option<f64> {
        let (ntp, rtp_sr) = self.report?;
        Some(ntp + self.rel(rtp) - self.rel(rtp_sr))
    }

    fn arrival_time(&self, rtp: u64) -> Option<f64> {
        Some(self.rel(rtp) + self.arrival_offset?)
    }
}

/// RTP to RTMP time for one WebRTC session: see the module docs.
#[derive(Debug, Clone)]
pub struct MediaClock {
    /// Instant of the first frame the clock saw: session time 0.
    epoch: Option<Instant>,
    audio: Stream,
    video: Stream,
    /// Whether an audio stream is expected at all; when not, video's report alone
    /// switches to the report mapping.
    audio_expected: bool,
    /// Session time = NTP seconds - `ntp_shift`, once both streams have a report.
    ntp_shift: Option<f64>,
    /// Session time of the first emitted frame: RTMP 0.
    origin: Option<f64>,
}

impl Default for MediaClock {
    fn default() -> Self {
        Self::new()
    }
}

impl MediaClock {
    /// A clock that waits for both streams' sender reports before switching.
    pub fn new() -> Self {
        MediaClock {
            epoch: None,
            audio: Stream::default(),
            video: Stream::default(),
            audio_expected: true,
            ntp_shift: None,
            origin: None,
        }
    }

    /// Says whether audio will come at all (no audio m-line, or it never started): without
    /// audio the video report alone is enough to switch to the report mapping.
    pub fn set_audio_expected(&mut self, expected: bool) {
        self.audio_expected = expected;
    }

    fn stream(&self, kind: StreamKind) -> &Stream {
        match kind {
            StreamKind::Audio => &self.audio,
            StreamKind::Video => &self.video,
        }
    }

    fn stream_mut(&mut self, kind: StreamKind) -> &mut Stream {
        match kind {
            StreamKind::Audio => &mut self.audio,
            StreamKind::Video => &mut self.video,
        }
    }

    /// Takes in a frame's RTP time, arrival and the stream's newest sender report. Call it
    /// for every received frame, then [`MediaClock::timestamp`] for what is emitted.
    pub fn observe(
        &mut self,
        kind: StreamKind,
        rtp: u64,
        clock_rate: u32,
        arrival: Instant,
        report: Option<SenderReport>,
    ) {
        let epoch = *self.epoch.get_or_insert(arrival);
        let arrived = arrival.saturating_duration_since(epoch).as_secs_f64();
        let s = self.stream_mut(kind);
        if s.rtp0.is_none() {
            s.rtp0 = Some(rtp);
            s.clock_rate = clock_rate.max(1);
        }
        let offset = arrived - s.rel(rtp);
        s.arrival_offset = Some(s.arrival_offset.map_or(offset, |o| o.min(offset)));
        if let Some(r) = report {
            // A report from before 1970 is nonsense; keep the previous one.
            if let Ok(since) = r.ntp_time.duration_since(UNIX_EPOCH) {
                s.report = Some((since.as_secs_f64(), r.rtp_time));
            }
        }
        self.maybe_switch(kind, rtp);
    }

    /// Switches to the report mapping once the streams that matter have reports, with the
    /// shift that moves no stream backwards.
    fn maybe_switch(&mut self, kind: StreamKind, rtp: u64) {
        let audio_ready = self.audio.report.is_some() || !self.audio_expected;
        if self.ntp_shift.is_some() || self.video.report.is_none() || !audio_ready {
            return;
        }
        // shift <= wall(last) - last_time for every stream that emitted, so that
        // wall(last) - shift >= last_time: nobody goes back.
        let mut shift: Option<f64> = None;
        for s in [&self.audio, &self.video] {
            if let (Some(t), Some(last_rtp)) = (s.last_time, s.last_rtp) {
                if let Some(w) = s.wall(last_rtp) {
                    shift = Some(shift.map_or(w - t, |x: f64| x.min(w - t)));
                }
            }
        }
        let shift = shift.or_else(|| {
            let s = self.stream(kind);
            Some(s.wall(rtp)? - s.arrival_time(rtp)?)
        });
        if let Some(shift) = shift {
            let correction_ms = |s: &Stream| -> Option<f64> {
                let last = s.last_rtp?;
                Some((s.wall(last)? - shift - s.last_time?) * 1000.0)
            };
            tracing::debug!(
                audio_jump_ms = correction_ms(&self.audio),
                video_jump_ms = correction_ms(&self.video),
                "A/V clock: switched from arrival times to sender reports"
            );
            self.ntp_shift = Some(shift);
        }
    }

    /// Whether the clock maps by sender reports (rather than arrival).
    pub fn synced(&self) -> bool {
        self.ntp_shift.is_some()
    }

    /// Session time (seconds) of `rtp` on the stream, without side effects. `None` before
    /// the stream's first [`MediaClock::observe`].
    pub fn session_time(&self, kind: StreamKind, rtp: u64) -> Option<f64> {
        let s = self.stream(kind);
        match (self.ntp_shift, s.wall(rtp)) {
            (Some(shift), Some(wall)) => Some(wall - shift),
            // Switched, but this stream has no report (audio not expected, yet arrived):
            // arrival times are on the same session timeline, near enough.
            _ => s.arrival_time(rtp),
        }
    }

    /// The RTMP timestamp of `rtp` on the stream (an observed frame's, or a later one
    /// derived from it, like an AAC frame's): milliseconds since the first emitted frame,
    /// never less than the stream's previous timestamp.
    pub fn timestamp(&mut self, kind: StreamKind, rtp: u64) -> u32 {
        let time = self.session_time(kind, rtp);
        let origin = match (self.origin, time) {
            (Some(o), _) => o,
            (None, Some(t)) => *self.origin.insert(t),
            (None, None) => 0.0,
        };
        let s = self.stream_mut(kind);
        let mut ms = time.map_or(0, |t| ((t - origin) * 1000.0).round().max(0.0) as u64);
        if let Some(last) = s.last_ms {
            if ms < last {
                ms = last;
                s.clamped += 1;
            }
        }
        s.last_ms = Some(ms);
        if let Some(t) = time {
            s.last_time = Some(s.last_time.map_or(t, |l| l.max(t)));
            s.last_rtp = Some(s.last_rtp.map_or(rtp, |l| l.max(rtp)));
        }
        // RTMP timestamps are 32-bit milliseconds and wrap (after 49.7 days).
        ms as u32
    }

    /// Timestamps of the stream clamped so far (they would have gone backwards).
    pub fn clamped(&self, kind: StreamKind) -> u64 {
        self.stream(kind).clamped
    }

    /// The newest RTMP timestamp emitted on the stream (unwrapped).
    pub fn last_ms(&self, kind: StreamKind) -> Option<u64> {
        self.stream(kind).last_ms
    }

    /// The RTMP millisecond of the session-time instant `time` (for silence that follows
    /// the video clock).
    pub fn ms_of(&self, time: f64) -> Option<u64> {
        Some(((time - self.origin?) * 1000.0).round().max(0.0) as u64)
    }
}

#[cfg(test)]
mod tests;
