//! The synthetic publisher: connects, publishes `bench<i>`, sends metadata and sequence
//! headers, then the [`SyntheticStream`] paced in real time, or as fast as the server takes
//! it (ingest mode).

use std::sync::Arc;
use std::time::Instant;

use openrtmp_proto::command::{PublishType, StatusLevel};
use openrtmp_proto::session::ClientEvent;

use crate::conn::RtmpConn;
use crate::context::{within, ReadyGuard, RunContext};
use crate::error::{ConnError, Phase};
use crate::synth::{self, SyntheticStream};

/// Unpaced publishers keep this many bytes queued in the session: enough to fill every
/// vectored write (64 slices of a 4 KiB chunk), small enough that a stamped frame is not
/// held back long.
const HIGH_WATER: usize = 512 * 1024;

/// What one publisher did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublisherStats {
    /// Stream index.
    pub stream: usize,
    /// `connect` succeeded.
    pub connected: bool,
    /// NetStream.Publish.Start arrived.
    pub publishing: bool,
    /// Audio + video payload bytes sent in the measured window.
    pub window_bytes: u64,
    /// Audio + video payload bytes sent in all.
    pub total_bytes: u64,
    /// Video frames sent in all.
    pub video_frames: u64,
    /// What ended it early (an error kind), if anything.
    pub error: Option<&'static str>,
}

/// Publishes stream `stream` until the run stops; never fails, errors land in the stats.
pub async fn run(
    ctx: Arc<RunContext>,
    stream: usize,
    paced: bool,
    ready: ReadyGuard,
) -> PublisherStats {
    let mut stats = PublisherStats { stream, ..PublisherStats::default() };
    tokio::select! {
        result = publish(&ctx, &mut stats, paced, ready) => {
            if let Err(e) = result {
                tracing::debug!(stream, error = %e, "publisher ended");
                stats.error = Some(e.kind());
            }
        }
        () = ctx.stopped() => {}
    }
    stats
}

async fn publish(
    ctx: &RunContext,
    stats: &mut PublisherStats,
    paced: bool,
    mut ready: ReadyGuard,
) -> Result<(), ConnError> {
    let deadline = Instant::now() + ctx.setup_timeout;
    let name = ctx.stream_name(stats.stream);
    let mut conn = within(deadline, Phase::Connect, ctx.connect()).await?;
    stats.connected = true;
    conn.session().publish(&name, PublishType::Live).map_err(|_| ConnError::Closed)?;
    within(deadline, Phase::Publish, await_publish_start(&mut conn)).await?;
    stats.publishing = true;
    ready.done();
    send_stream(ctx, stats, &mut conn, paced).await
}

/// Sends metadata, sequence headers, then frames until an error (or cancellation).
async fn send_stream(
    ctx: &RunContext,
    stats: &mut PublisherStats,
    conn: &mut RtmpConn,
    paced: bool,
) -> Result<(), ConnError> {
    let session = conn.session();
    session.send_metadata(ctx.profile.metadata()).map_err(|_| ConnError::Closed)?;
    for header in synth::sequence_headers() {
        session.send_media(&header).map_err(|_| ConnError::Closed)?;
    }
    let start = Instant::now();
    let mut stream = SyntheticStream::new(ctx.profile);
    let shared = (!paced).then(|| synth::SharedFrames::new(stream.sizes(), start));
    let mut next = stream.next_frame();
    loop {
        // Queue what is due (paced) or what fits under the high-water mark (unpaced),
        // stamping each frame with the moment it is handed to the session.
        loop {
            let now = Instant::now();
            let due = if paced { start + next.due <= now } else { conn.queued() < HIGH_WATER };
            if !due {
                break;
            }
            let message = match &shared {
                Some(shared) => shared.message(&next),
                None => synth::frame_message(&next, now),
            };
            conn.session().send_media(&message).map_err(|_| ConnError::Closed)?;
            stats.count(&message.payload, next.kind != synth::FrameKind::Audio, ctx.in_window(now));
            next = stream.next_frame();
        }
        conn.try_flush()?;
        // Unpaced, an empty queue means "refill now": wait for writability, not for input.
        let pending = conn.queued() > 0 || !paced;
        let next_due = start + next.due;
        tokio::select! {
            r = conn.readable() => {
                r?;
                conn.try_read()?;
                drain_events(conn)?;
            }
            r = conn.writable(), if pending => r?,
            () = tokio::time::sleep_until(next_due.into()), if paced => {}
        }
    }
}

impl PublisherStats {
    fn count(&mut self, payload: &[u8], video: bool, in_window: bool) {
        let len = payload.len() as u64;
        self.total_bytes += len;
        self.video_frames += u64::from(video);
        if in_window {
            self.window_bytes += len;
        }
    }
}

/// Waits for NetStream.Publish.Start; an error status or failed call is a refusal.
async fn await_publish_start(conn: &mut RtmpConn) -> Result<(), ConnError> {
    loop {
        match conn.next_event().await? {
            ClientEvent::PublishStarted { .. } => return Ok(()),
            event => check_event(event)?,
        }
    }
}

/// Reads the events a publisher gets while sending (acknowledgements are handled by the
/// session; an error status ends the publisher).
fn drain_events(conn: &mut RtmpConn) -> Result<(), ConnError> {
    while let Some(event) = conn.session().poll_event() {
        check_event(event)?;
    }
    Ok(())
}

fn check_event(event: ClientEvent) -> Result<(), ConnError> {
    match event {
        ClientEvent::Status { level, code, .. } if level == StatusLevel::Error.as_str() => {
            Err(ConnError::Refused { code })
        }
        ClientEvent::CallFailed { command, .. } => {
            Err(ConnError::Refused { code: format!("{command} failed") })
        }
        _ => Ok(()),
    }
}
