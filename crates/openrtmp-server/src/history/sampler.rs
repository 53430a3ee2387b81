//! The sampler task: reads the server's figures once a period into the history, and sleeps
//! while the server is idle.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::broadcast::error::RecvError;

use super::{Totals, HISTORY_PERIOD};
use crate::handle::ServerHandle;
use crate::platform::PlatformEvent;
use crate::shared::Shared;

fn totals(shared: &Shared) -> Totals {
    let conns = shared.registry.all();
    let role = |r: &str| conns.iter().filter(|c| c.detail().role == r).count() as u32;
    Totals {
        connections: conns.len() as u32,
        publishers: role("publisher"),
        players: role("player"),
        bytes_in: shared.stats.bytes_in.load(Ordering::Relaxed),
        bytes_out: shared.stats.bytes_out.load(Ordering::Relaxed),
    }
}

fn baseline(shared: &Shared) {
    let t = totals(shared);
    shared.history.baseline(t.bytes_in, t.bytes_out);
}

/// A sample every [`HISTORY_PERIOD`] while the server is busy; parked (no timer) while it
/// is idle, until the connection or stream count changes (`StatsChanged`).
pub(crate) async fn run(shared: Arc<Shared>) {
    let handle = ServerHandle { shared: Arc::clone(&shared) };
    baseline(&shared);
    let mut next = tokio::time::Instant::now() + HISTORY_PERIOD;
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        next += HISTORY_PERIOD;
        // Subscribed before looking, so a connection arriving right after is not missed.
        let mut events = shared.platform.subscribe();
        if shared.history.sample(totals(&shared), handle.streams(), Instant::now()) {
            continue;
        }
        shared.history.park();
        tracing::debug!("history sampler parked: server idle");
        loop {
            tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                event = events.recv() => match event {
                    Ok(PlatformEvent::StatsChanged { streams, connections })
                        if streams > 0 || connections > 0 => break,
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                },
            }
        }
        // The idle stretch reads as zeros up to now; the next sample comes a period later.
        shared.history.resume();
        baseline(&shared);
        next = tokio::time::Instant::now() + HISTORY_PERIOD;
    }
}
