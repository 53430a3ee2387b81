//! `GET /api/v1/events`: server-sent events (HTML Living Standard §9.2), one `sample` event
//! after each history sample (every second while the server is busy): the newest
//! server-wide sample and, per stream with a history, its newest sample and verdicts, in
//! the shapes of `/api/v1/history` (columns of one value). A client that falls behind
//! misses samples, never gets them late: each event is read from the history when sent.
//!
//! And a `recording` event when something happens to a recording:
//! `{"app","stream","what","path","detail"}` with `what` one of `started`,
//! `segment_closed`, `error` (`detail`: the reason), `resumed`, `stopped`. A client that
//! falls behind misses some (the server keeps the last 256).
//!
//! The route needs the API token like every `/api/v1` route. Browsers' `EventSource`
//! cannot send an `Authorization` header, so the dashboard reads this stream with `fetch`
//! (which can) instead: no token ever goes into a URL.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use openrtmp_server::record::RecordingEvent;
use openrtmp_server::ServerHandle;
use tokio::sync::broadcast::error::RecvError;

use super::history::{stream_view, ServerColumns};
use super::AppState;

/// A comment line this often keeps proxies from closing a quiet stream (idle server).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The event for the newest sample.
fn sample_event(handle: &ServerHandle) -> Event {
    let server = handle.history();
    let newest = server.get(server.len().saturating_sub(1)..).unwrap_or_default();
    let streams: Vec<_> = handle.stream_histories(1).into_iter().map(stream_view).collect();
    let body = serde_json::json!({
        "server": ServerColumns::from_samples(newest),
        "streams": streams,
    });
    Event::default().event("sample").data(body.to_string())
}

/// The event for something that happened to a recording.
fn recording_event(e: &RecordingEvent) -> Event {
    let body = serde_json::json!({
        "app": e.app,
        "stream": e.stream,
        "what": e.what,
        "path": e.path.as_ref().map(|p| p.display().to_string()),
        "detail": e.detail,
    });
    Event::default().event("recording").data(body.to_string())
}

pub(super) async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let handle = state.handle.clone();
    let updates = handle.history_updates();
    let recordings = handle.recording_events();
    // The first event at once (the newest sample), then one per sample, and recording
    // events as they come.
    let stream = futures_util::stream::unfold(
        (handle, updates, recordings, true),
        |(h, mut rx, mut rec, first)| async move {
            if !first {
                // Ends with the server, so a graceful stop of the API is not held open by it.
                loop {
                    tokio::select! {
                        changed = rx.changed() => {
                            changed.ok()?;
                            break;
                        }
                        event = rec.recv() => match event {
                            Ok(event) => {
                                let event = recording_event(&event);
                                return Some((Ok(event), (h, rx, rec, false)));
                            }
                            Err(RecvError::Lagged(_)) => {}
                            Err(RecvError::Closed) => return None,
                        },
                        () = h.stopped() => return None,
                    }
                }
            }
            rx.mark_unchanged();
            let event = sample_event(&h);
            Some((Ok(event), (h, rx, rec, false)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
