//! The task of one push target: connect, publish, then send the stream's frames as its
//! media pump hands them out; on failure wait (backoff) and start again, from the stream's
//! metadata, sequence headers and newest keyframe.
//!
//! A connection's life, in order: subscribe to the stream (before connecting, so the
//! frames that arrive meanwhile wait in the ring rather than being lost), connect with the
//! encoder's command sequence (`connect` with FMLE properties, `releaseStream`,
//! `FCPublish`, `createStream`, `publish`: `openrtmp-client`), then loop on three inputs:
//! cancellation (removal, shutdown), what the target sends (acknowledgements, pings, a
//! status that stops the publication), the pump, and the health deadline. Whether the
//! target is `live` or `stalled` is decided by its acknowledgements (`push/health.rs`);
//! a write that the target does not take within [`STALL_AFTER`] makes it `stalled` too,
//! and within [`WRITE_TIMEOUT`] (or acknowledgements stuck for [`health::ACK_TIMEOUT`])
//! the connection is given up. Meanwhile the publisher and every other output go on: the
//! pump's lag policy skips this target to a newer keyframe when it polls again.

use std::sync::Arc;
use std::time::Duration;

use openrtmp_client::{ClientError, ConnectOptions, Connection, RtmpUrl};
use openrtmp_hub::{Frame, FrameKind, MediaPump, PumpConfig, PumpEvent};
use openrtmp_media::script::ScriptData;
use openrtmp_proto::command::{PublishType, StatusLevel};
use openrtmp_proto::message::{csid, Message, MessageType};
use openrtmp_proto::session::{ClientEvent, SessionError};
use tokio::time::Instant;

use super::target::{Backoff, Target};
use super::{scrub, Relay, OWNER_BASE};

pub(crate) mod health;
mod lead;

use health::{Health, Verdict, PUSH_WINDOW_ACK_SIZE, STALL_AFTER};
use lead::Lead;

/// A write pending this long ends the connection (then backoff and reconnect).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the goodbye (FCUnpublish, deleteStream) may take when a push ends.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a push connection ended badly.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PushError {
    /// Connecting, publishing or sending failed in the client.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The target took nothing for [`WRITE_TIMEOUT`].
    #[error("the target took nothing for {} s", .waited.as_secs())]
    WriteTimeout {
        /// How long the write waited.
        waited: Duration,
    },
    /// The target acknowledged nothing for [`health::ACK_TIMEOUT`] while we sent.
    #[error("the target acknowledged nothing for {} s", .waited.as_secs())]
    AckTimeout {
        /// How long its acknowledgements stood still.
        waited: Duration,
    },
    /// The target closed the connection.
    #[error("the target closed the connection")]
    Closed,
    /// The target stopped the publication with an error status.
    #[error("the target stopped the publication: {code}: {description}")]
    Stopped {
        /// onStatus code.
        code: String,
        /// onStatus description.
        description: String,
    },
}

impl PushError {
    /// Whether retrying cannot help: the target refused us for who we are or what we
    /// publish (a wrong key, refused credentials, an unusable URL or TLS settings), not
    /// because of the moment.
    fn is_permanent(&self) -> bool {
        let refused = |code: &str| {
            code == "NetStream.Publish.BadName"
                || code.ends_with(".Unauthorized")
                || code.ends_with(".Rejected")
                || code.ends_with(".Forbidden")
        };
        match self {
            PushError::Client(ClientError::Url(_) | ClientError::TlsConfig(_)) => true,
            PushError::Client(ClientError::Protocol {
                source: SessionError::ConnectRejected { .. },
                ..
            }) => true,
            PushError::Client(ClientError::Refused { code, .. }) => refused(code),
            PushError::Stopped { code, .. } => refused(code),
            _ => false,
        }
    }
}

/// How a connection ended without an error.
enum End {
    /// The stream has no publisher any more: the target is retired.
    StreamEnded,
    /// The target was removed or the server shuts down (its token was cancelled).
    Cancelled,
}

/// The task of `target`: connections with backoff between them, until its stream ends, the
/// target is removed, the server shuts down, or the target answers something final.
pub(super) async fn run(relay: Arc<Relay>, target: Arc<Target>) {
    let mut backoff = Backoff::default();
    let (app, stream, id) = (target.key.app.as_str(), target.key.name.as_str(), target.id);
    let url = target.redacted.as_str();
    loop {
        if relay.retire_if_ended(&target) {
            tracing::info!(app, stream, target = id, url, "push target stops: stream ended");
            return;
        }
        target.connecting();
        let started = Instant::now();
        let result = session(&relay, &target).await;
        if target.cancel.is_cancelled() {
            // Removed or shutting down: whatever the session ended with, this is why.
            relay.remove(&target);
            tracing::info!(app, stream, target = id, url, "push target stops: removed");
            return;
        }
        let error = match result {
            Ok(End::StreamEnded) => {
                tracing::info!(app, stream, target = id, url, "push target stops: stream ended");
                return;
            }
            Ok(End::Cancelled) => {
                relay.remove(&target);
                return;
            }
            Err(error) => error,
        };
        let reason = scrub(&error.to_string(), &target.url);
        // The change of state is the log line (target.rs), with the reason.
        if error.is_permanent() {
            target.failed(reason);
            wait_for_end(&relay, &target).await;
            return;
        }
        let wait = backoff.next(started.elapsed());
        target.backoff((Instant::now() + wait).into_std(), reason);
        tokio::select! {
            _ = target.cancel.cancelled() => {
                relay.remove(&target);
                return;
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// A failed target stays listed with its reason until its stream ends (a paused
/// subscriber wakes only when the publisher comes or goes: no cost per frame). An API
/// target then waits for the next publication, which tries it once more: one attempt per
/// publication, never a loop.
async fn wait_for_end(relay: &Relay, target: &Target) {
    let Ok(mut subscriber) = relay.hub.subscribe(target.key.clone(), OWNER_BASE + target.id) else {
        // No stream any more: retire (an API target then waits for the next publication).
        if !relay.retire_if_ended(target) {
            relay.remove(target);
        }
        return;
    };
    subscriber.set_paused(true);
    let mut events = Vec::new();
    loop {
        if relay.retire_if_ended(target) {
            return;
        }
        tokio::select! {
            _ = target.cancel.cancelled() => {
                relay.remove(target);
                return;
            }
            _ = subscriber.ready() => {
                events.clear();
                subscriber.poll(std::time::Instant::now(), &mut events, 0);
            }
        }
    }
}

/// One connection to the target, from connect to its end.
async fn session(relay: &Relay, target: &Target) -> Result<End, PushError> {
    let subscriber = match relay.hub.subscribe(target.key.clone(), OWNER_BASE + target.id) {
        Ok(subscriber) => subscriber,
        Err(_) => return Ok(End::StreamEnded),
    };
    let connecting = async {
        let url = RtmpUrl::parse(&target.url).map_err(ClientError::from)?;
        url.require_stream().map_err(ClientError::from)?;
        let options = ConnectOptions {
            player: false,
            via: Some(relay.via_for(&target.key)),
            window_ack_size: PUSH_WINDOW_ACK_SIZE,
            tls: relay.tls(),
            ..ConnectOptions::default()
        };
        let mut conn = Connection::connect(&url, options).await?;
        conn.publish(&url.stream, PublishType::Live).await?;
        Ok::<_, PushError>(conn)
    };
    // A target that takes the TCP connection but never answers the handshake (or a
    // publish that gets no answer) is `stalled` after STALL_AFTER, not left `connecting`
    // until the connect timeout: it is stuck, and saying so is the truth.
    tokio::pin!(connecting);
    let stall = tokio::time::sleep(STALL_AFTER);
    tokio::pin!(stall);
    let mut stalled = false;
    let mut conn = loop {
        tokio::select! {
            _ = target.cancel.cancelled() => return Ok(End::Cancelled),
            conn = &mut connecting => {
                let conn = conn?;
                if stalled {
                    target.answered();
                }
                break conn;
            }
            () = &mut stall, if !stalled => {
                stalled = true;
                target.stalled(&format!(
                    "no answer for {} s while connecting and publishing",
                    STALL_AFTER.as_secs()
                ));
            }
        }
    };
    tracing::info!(
        app = %target.key.app, stream = %target.key.name, target = target.id,
        url = %target.redacted, "push target publishing"
    );
    let mut health = Health::new(PUSH_WINDOW_ACK_SIZE);
    judge(&mut conn, target, &mut health)?;
    let mut pump = MediaPump::new(subscriber, PumpConfig::default());
    let mut events = Vec::new();
    let mut lead = Lead::default();
    loop {
        let deadline = health.next_check(std::time::Instant::now());
        tokio::select! {
            biased;
            _ = target.cancel.cancelled() => {
                close(conn).await;
                return Ok(End::Cancelled);
            }
            read = conn.read_input() => {
                if !read? {
                    return Err(PushError::Closed);
                }
                check_status(&mut conn)?;
                drain(&mut conn, target).await?;
            }
            _ = pump.ready() => {
                events.clear();
                pump.poll_batch(std::time::Instant::now(), &mut events);
                target.dropped(pump.take_new_drops());
                let stats = pump.stats();
                target.queue(stats.backlog_frames, stats.backlog_ms);
                let ended = send(&mut conn, target, &mut lead, &mut events)?;
                drain(&mut conn, target).await?;
                if ended && relay.retire_if_ended(target) {
                    close(conn).await;
                    return Ok(End::StreamEnded);
                }
            }
            _ = sleep_until_some(deadline) => {}
        }
        judge(&mut conn, target, &mut health)?;
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Applies the health rule to the connection's counts: the target's state follows it,
/// and a target that has read nothing for [`health::ACK_TIMEOUT`] is given up.
fn judge(conn: &mut Connection, target: &Target, health: &mut Health) -> Result<(), PushError> {
    let sent = conn.bytes_sent();
    let acked = conn.session().bytes_acknowledged();
    let verdict = health.assess(std::time::Instant::now(), sent, acked);
    target.progress(sent, acked.unwrap_or(0), health.acknowledges());
    match verdict {
        Verdict::Unproven => {}
        Verdict::Live => target.live(),
        Verdict::Stalled => target.stalled("the target acknowledges nothing of what it is sent"),
        Verdict::Dead(waited) => return Err(PushError::AckTimeout { waited }),
    }
    Ok(())
}

/// Hands a batch to the session; true if it ended with the end of the publication.
fn send(
    conn: &mut Connection,
    target: &Target,
    lead: &mut Lead,
    events: &mut Vec<PumpEvent>,
) -> Result<bool, PushError> {
    let (mut frames, mut ended) = (0u64, false);
    for event in events.drain(..) {
        match event {
            PumpEvent::Frame { frame, .. } if !lead.admits(&frame) => {}
            PumpEvent::Frame { frame, .. } => {
                conn.session().send_media(&message(&frame)).map_err(|_| PushError::Stopped {
                    code: "NetStream.Publish.Failed".into(),
                    description: "the publication ended".into(),
                })?;
                frames += 1;
            }
            PumpEvent::Unpublished => ended = true,
            PumpEvent::Published => {
                // A new publication starts over: its own metadata, headers, keyframe.
                *lead = Lead::default();
                ended = false;
            }
        }
    }
    target.sent(frames);
    Ok(ended)
}

/// The RTMP message for a frame: audio and video as they came; `onMetaData` wrapped in
/// `@setDataFrame`, as encoders send it (the hub keeps it stripped, as players get it);
/// other data (`onCuePoint`, ...) as it came.
fn message(frame: &Frame) -> Message {
    let (type_id, csid, payload) = match frame.kind {
        FrameKind::Audio => (MessageType::AUDIO, csid::AUDIO, frame.payload.clone()),
        FrameKind::Video => (MessageType::VIDEO, csid::VIDEO, frame.payload.clone()),
        FrameKind::Data => {
            let payload = match ScriptData::parse(&frame.payload) {
                Ok(script) if script.is_on_meta_data() && !script.is_set_data_frame() => {
                    script.add_set_data_frame().to_bytes()
                }
                _ => frame.payload.clone(),
            };
            (MessageType::DATA_AMF0, csid::STREAM_COMMAND, payload)
        }
    };
    Message { csid, timestamp: frame.timestamp, type_id, stream_id: 0, payload }
}

/// Writes what the session queued. A write pending for [`STALL_AFTER`] marks the target
/// `stalled`; for [`WRITE_TIMEOUT`], fails. A write that completes proves nothing by
/// itself (the kernel takes bytes nobody reads): the caller judges the target's health.
async fn drain(conn: &mut Connection, target: &Target) -> Result<(), PushError> {
    let started = Instant::now();
    let mut stalled = false;
    let flush = conn.flush();
    tokio::pin!(flush);
    loop {
        let limit = if stalled { WRITE_TIMEOUT } else { STALL_AFTER };
        tokio::select! {
            done = &mut flush => {
                done?;
                return Ok(());
            }
            _ = tokio::time::sleep_until(started + limit) => {
                if stalled {
                    return Err(PushError::WriteTimeout { waited: started.elapsed() });
                }
                stalled = true;
                target.stalled("its socket takes nothing");
            }
            _ = target.cancel.cancelled() => return Err(PushError::Closed),
        }
    }
}

/// Fails on an error status from the target (it stopped the publication).
fn check_status(conn: &mut Connection) -> Result<(), PushError> {
    while let Some(event) = conn.session().poll_event() {
        if let ClientEvent::Status { level, code, description, .. } = event {
            if level == StatusLevel::Error.as_str() {
                return Err(PushError::Stopped { code, description });
            }
            tracing::debug!(%code, "push target status");
        }
    }
    Ok(())
}

/// Ends the publication politely (FCUnpublish, deleteStream), within [`CLOSE_TIMEOUT`].
async fn close(conn: Connection) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_show_the_key() {
        let url = "rtmp://ingest.example/app/sk_live_123";
        let text = "server refused: NetStream.Publish.BadName: stream key sk_live_123 is in use";
        assert_eq!(
            scrub(text, url),
            "server refused: NetStream.Publish.BadName: stream key **** is in use"
        );
        assert_eq!(
            scrub(&format!("{url:?} is bad"), url),
            "\"rtmp://ingest.example/app/****\" is bad"
        );
    }

    #[test]
    fn final_answers_are_not_retried() {
        let refused = |code: &str| {
            PushError::Client(ClientError::Refused {
                code: code.into(),
                description: String::new(),
            })
        };
        assert!(refused("NetStream.Publish.BadName").is_permanent());
        assert!(refused("NetStream.Publish.Unauthorized").is_permanent());
        assert!(!refused("NetStream.Publish.Failed").is_permanent());
        assert!(!PushError::Closed.is_permanent());
        let rejected = PushError::Client(ClientError::Protocol {
            addr: "h:1935".into(),
            source: SessionError::ConnectRejected { code: "x".into(), description: "y".into() },
        });
        assert!(rejected.is_permanent());
    }
}
