//! Players (connect, play, measure every frame) and idle connections (connect, then wait).

use std::sync::Arc;
use std::time::{Duration, Instant};

use openrtmp_proto::command::StatusLevel;
use openrtmp_proto::message::{Message, MessageType};
use openrtmp_proto::session::ClientEvent;

use crate::context::{within, ReadyGuard, RunContext};
use crate::error::{ConnError, Phase};
use crate::histogram::Histogram;
use crate::marker;

/// A gap longer than this between two video frames (after the first) is a stall.
pub const STALL_GAP: Duration = Duration::from_secs(1);

/// What one player saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlayerStats {
    /// Stream index.
    pub stream: usize,
    /// `connect` succeeded.
    pub connected: bool,
    /// NetStream.Play.Start arrived.
    pub playing: bool,
    /// From the play request to the first coded video frame.
    pub ttff: Option<Duration>,
    /// Audio + video payload bytes received in the measured window.
    pub window_bytes: u64,
    /// Audio + video payload bytes that the publisher sent in the measured window, as far
    /// as this player received them: video frames count by the send time in their marker
    /// (so a keyframe straddling a window edge counts the same here and at the publisher),
    /// audio and unmarked video by arrival. Compared with the publisher's count to tell
    /// whether the player keeps up.
    pub window_sent_bytes: u64,
    /// Coded video frames received in the measured window.
    pub window_video_frames: u64,
    /// Audio + video payload bytes received in all.
    pub total_bytes: u64,
    /// Relay latency of marked video frames received in the window, microseconds.
    pub latency_us: Histogram,
    /// Gaps longer than [`STALL_GAP`] between video frames that ended in the window, or
    /// that were still open at its end.
    pub stalls: u32,
    /// When the last coded video frame arrived.
    pub last_video: Option<Instant>,
    /// What ended it early (an error kind), if anything.
    pub error: Option<&'static str>,
}

/// What one idle connection achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdleStats {
    /// `connect` succeeded.
    pub connected: bool,
    /// What ended it early (an error kind), if anything.
    pub error: Option<&'static str>,
}

/// Plays stream `stream` until the run stops; never fails, errors land in the stats.
pub async fn run_player(ctx: Arc<RunContext>, stream: usize, ready: ReadyGuard) -> PlayerStats {
    let mut stats = PlayerStats { stream, ..PlayerStats::default() };
    tokio::select! {
        result = play(&ctx, &mut stats, ready) => {
            if let Err(e) = result {
                tracing::debug!(stream, error = %e, "player ended");
                stats.error = Some(e.kind());
            }
        }
        () = ctx.stopped() => {}
    }
    stats
}

async fn play(
    ctx: &RunContext,
    stats: &mut PlayerStats,
    ready: ReadyGuard,
) -> Result<(), ConnError> {
    let deadline = Instant::now() + ctx.setup_timeout;
    let mut conn = within(deadline, Phase::Connect, ctx.connect()).await?;
    stats.connected = true;
    let name = ctx.stream_name(stats.stream);
    // start -2: live if there is one, what a player like ffplay asks for.
    conn.session().play(&name, -2.0, -1.0, true).map_err(|_| ConnError::Closed)?;
    let requested = Instant::now();
    let mut ready = Some(ready);
    loop {
        while let Some(event) = conn.session().poll_event() {
            stats.on_event(event, requested, ctx)?;
        }
        if stats.playing {
            // Dropping the guard tells the runner this player is set up.
            ready = None;
        }
        conn.flush().await?;
        tokio::select! {
            r = conn.read_some() => r?,
            () = tokio::time::sleep_until(deadline.into()), if ready.is_some() => {
                return Err(ConnError::Timeout { phase: Phase::Play });
            }
        }
    }
}

impl PlayerStats {
    fn on_event(
        &mut self,
        event: ClientEvent,
        requested: Instant,
        ctx: &RunContext,
    ) -> Result<(), ConnError> {
        match event {
            ClientEvent::PlayStarted { .. } => self.playing = true,
            ClientEvent::Media { message, .. } => self.on_media(&message, requested, ctx),
            ClientEvent::Status { level, code, .. } if level == StatusLevel::Error.as_str() => {
                return Err(ConnError::Refused { code });
            }
            ClientEvent::CallFailed { command, .. } => {
                return Err(ConnError::Refused { code: format!("{command} failed") });
            }
            _ => {}
        }
        Ok(())
    }

    fn on_media(&mut self, message: &Message, requested: Instant, ctx: &RunContext) {
        let now = Instant::now();
        let in_window = ctx.in_window(now);
        let len = message.payload.len() as u64;
        self.total_bytes += len;
        if in_window {
            self.window_bytes += len;
        }
        let coded_video =
            message.type_id == MessageType::VIDEO && is_coded_avc_frame(&message.payload);
        let sent =
            if coded_video { message.payload.get(5..).and_then(marker::decode) } else { None };
        let sent_in_window = match sent {
            Some(nanos) => ctx.sent_in_window(nanos),
            None => in_window,
        };
        if sent_in_window {
            self.window_sent_bytes += len;
        }
        if !coded_video {
            return;
        }
        if self.ttff.is_none() {
            self.ttff = Some(now.saturating_duration_since(requested));
        }
        if let Some(last) = self.last_video {
            if in_window && now.saturating_duration_since(last) > STALL_GAP {
                self.stalls += 1;
            }
        }
        self.last_video = Some(now);
        if in_window {
            self.window_video_frames += 1;
            if let Some(sent) = sent {
                let micros = marker::latency(sent, now).as_micros();
                self.latency_us.record(u64::try_from(micros).unwrap_or(u64::MAX));
            }
        }
    }

    /// Counts a stall still open when the window ended at `end`.
    pub fn close_window(&mut self, end: Instant) {
        if let Some(last) = self.last_video {
            if end.saturating_duration_since(last) > STALL_GAP {
                self.stalls += 1;
            }
        }
    }
}

/// Whether a video message is a coded legacy-AVC frame (FLV 10.1 §E.4.3.1: CodecID 7,
/// AVCPacketType 1), not a sequence header or end of sequence.
fn is_coded_avc_frame(payload: &[u8]) -> bool {
    matches!(payload, [first, 1, ..] if first & 0x0f == 7)
}

/// Holds one connection open (handshake and `connect` only) until the run stops.
pub async fn run_idle(ctx: Arc<RunContext>, ready: ReadyGuard) -> IdleStats {
    let mut stats = IdleStats::default();
    tokio::select! {
        result = idle(&ctx, &mut stats, ready) => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "idle connection ended");
                stats.error = Some(e.kind());
            }
        }
        () = ctx.stopped() => {}
    }
    stats
}

async fn idle(ctx: &RunContext, stats: &mut IdleStats, ready: ReadyGuard) -> Result<(), ConnError> {
    let deadline = Instant::now() + ctx.setup_timeout;
    let mut conn = within(deadline, Phase::Connect, ctx.connect()).await?;
    stats.connected = true;
    drop(ready);
    loop {
        // Pings and acknowledgements are answered by the session; nothing else is expected.
        while conn.session().poll_event().is_some() {}
        conn.flush().await?;
        conn.read_some().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coded_frames_are_told_from_headers() {
        assert!(is_coded_avc_frame(&[0x17, 1, 0, 0, 0]));
        assert!(is_coded_avc_frame(&[0x27, 1, 0, 0, 0, 9]));
        assert!(!is_coded_avc_frame(&[0x17, 0, 0, 0, 0]));
        assert!(!is_coded_avc_frame(&[0x17]));
        assert!(!is_coded_avc_frame(&[0x1c, 1, 0, 0, 0]));
    }
}
