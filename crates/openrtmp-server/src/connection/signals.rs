//! What reaches a connection from outside its socket: the server shutting down (now, or
//! gracefully: drain), an API kick, the app's state (directives such as "close idle
//! connections"), and power saving, which batches a player's writes.
//!
//! Futures on channels every connection shares are created once and kept across loop
//! iterations (re-made only after they fire): registering a waiter on a shared channel at
//! every wake would take its lock once per frame per connection.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::time::Duration;

use openrtmp_proto::command::StatusCode;
use openrtmp_proto::session::ServerSession;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::close::Close;
use crate::platform::state::{Directive, SAVING_NAP};
use crate::shared::Shared;

/// One thing that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Close now (forced shutdown, or the grace period ended).
    Shutdown,
    /// Closed through the API.
    Kicked,
    /// A graceful shutdown began: tell the client (once).
    Draining,
    /// The app's state changed.
    Directive(Directive),
    /// Power saving started or ended, or a nap ended: re-evaluate what to wait for.
    Changed,
}

type Next<T> = Pin<Box<dyn Future<Output = (Option<T>, watch::Receiver<T>)> + Send>>;

impl Signal {
    /// What the signal means for a connection: closed, or told and carrying on. `idle`:
    /// neither publishing nor playing nor waiting for a decision.
    /// `redirect`: the `tcUrl` a draining server sends clients to (a peer in its
    /// cluster), if it chose one.
    pub(crate) fn follow(
        self,
        session: &mut ServerSession,
        connected: bool,
        idle: bool,
        grace: Duration,
        redirect: Option<&str>,
    ) -> Result<(), Close> {
        match self {
            Signal::Shutdown => Err(Close::Shutdown),
            Signal::Kicked => Err(Close::Kicked),
            Signal::Draining => {
                let grace = grace.as_secs();
                let d = format!("The server is shutting down; streams end within {grace} s.");
                if announce_closing(session, connected, &d, "The server is restarting.", redirect) {
                    tracing::info!(
                        grace_secs = grace,
                        "told the client the server is shutting down"
                    );
                }
                Ok(())
            }
            Signal::Directive(directive) => {
                if let Directive::Expire(remaining) = directive {
                    let secs = remaining.as_secs();
                    let d = format!("The app is going to sleep; the server closes in {secs} s.");
                    if announce_closing(session, connected, &d, "The app is going to sleep.", None)
                    {
                        tracing::info!(
                            remaining_secs = secs,
                            "told the client the app is going to sleep"
                        );
                    }
                }
                directive_close(directive, idle).map_or(Ok(()), Err)
            }
            Signal::Changed => Ok(()),
        }
    }
}

/// The close an app-state change means for a connection (`idle`: neither publishing nor
/// playing nor waiting for a decision), if it means one: the one mapping, for connections
/// running and for sockets still waiting for their first bytes.
pub(crate) fn directive_close(directive: Directive, idle: bool) -> Option<Close> {
    match directive {
        Directive::Carry => None,
        Directive::CloseIdle => idle.then_some(Close::Background),
        Directive::Expire(_) => Some(Close::BackgroundExpired),
        Directive::Suspend => Some(Close::Suspended),
    }
}

/// Sends onStatus `NetConnection.Connect.AppShutdown` with `description`, and the Enhanced
/// RTMP reconnect request to clients that support it; false if the client is not connected
/// yet (it has nothing to be told about).
fn announce_closing(
    session: &mut ServerSession,
    connected: bool,
    description: &str,
    reconnect: &str,
    tc_url: Option<&str>,
) -> bool {
    if !connected {
        return false;
    }
    session.send_status(0, StatusCode::CONNECT_APP_SHUTDOWN, Some(description));
    if session.peer_caps().supports_reconnect() {
        session.send_reconnect_request(tc_url, Some(reconnect));
        tracing::info!(tc_url = tc_url.unwrap_or("(same)"), "reconnect request sent");
    }
    true
}

/// The signals of one connection.
pub(crate) struct Signals {
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    kicked: Pin<Box<WaitForCancellationFutureOwned>>,
    /// `None` once the drain was reported.
    draining: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    directive: Next<Directive>,
    saving_next: Next<bool>,
    /// Saving power (low-power mode, Doze): after draining the players' queues, no media
    /// pump until the nap ends, so a player's frames leave in one write every 100 ms
    /// instead of one per frame (fewer system calls and TCP segments, so the radio can
    /// sleep longer). Reads are not delayed: the OS wakes the runtime for every arriving
    /// segment anyway (edge-triggered readiness), so holding them back saves nothing.
    saving: bool,
    /// The nap's timer, allocated at the first nap and reset for later ones (no allocation
    /// per pump); `napping` says whether it is running.
    nap: Option<Pin<Box<Sleep>>>,
    napping: bool,
    /// Background: a connection that becomes idle later (its player or publisher ends)
    /// closes then, not only those idle at the switch.
    pub(crate) close_when_idle: bool,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals")
            .field("saving", &self.saving)
            .field("napping", &self.napping)
            .field("close_when_idle", &self.close_when_idle)
            .finish()
    }
}

impl Signals {
    /// The server's signals and this connection's `kick`.
    pub(crate) fn new(shared: &Shared, kick: &CancellationToken) -> Signals {
        let platform = &shared.platform;
        Signals::from_parts(
            [&shared.shutdown, kick, &shared.draining],
            platform.directives(),
            platform.saving(),
        )
    }

    fn from_parts(
        [shutdown, kick, draining]: [&CancellationToken; 3],
        directives: watch::Receiver<Directive>,
        mut saving: watch::Receiver<bool>,
    ) -> Signals {
        let now_saving = *saving.borrow_and_update();
        Signals {
            shutdown: Box::pin(shutdown.clone().cancelled_owned()),
            kicked: Box::pin(kick.clone().cancelled_owned()),
            draining: Some(Box::pin(draining.clone().cancelled_owned())),
            directive: Box::pin(next_value(directives)),
            saving_next: Box::pin(next_value(saving)),
            saving: now_saving,
            nap: None,
            napping: false,
            close_when_idle: false,
        }
    }

    /// Whether power saving is on (a player's writes are batched by naps).
    pub(crate) fn saving(&self) -> bool {
        self.saving
    }

    /// Whether media must wait (a nap of power saving is running).
    pub(crate) fn napping(&self) -> bool {
        self.napping && self.nap.as_ref().is_some_and(|nap| Instant::now() < nap.deadline())
    }

    /// After a media pump: while saving, nap unless the pump stopped at its byte budget
    /// (more is due at once).
    pub(crate) fn pumped(&mut self, budget_hit: bool) {
        if self.saving && !budget_hit {
            let until = Instant::now() + SAVING_NAP;
            match &mut self.nap {
                Some(nap) => nap.as_mut().reset(until),
                None => self.nap = Some(Box::pin(tokio::time::sleep_until(until))),
            }
            self.napping = true;
        }
    }

    /// The next signal. Cancel-safe; checked in this order: shutdown, kick, drain, power,
    /// app state.
    pub(crate) fn next(&mut self) -> impl Future<Output = Signal> + '_ {
        std::future::poll_fn(move |cx| self.poll_next(cx))
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Signal> {
        if self.shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Signal::Shutdown);
        }
        if self.kicked.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Signal::Kicked);
        }
        if let Some(draining) = &mut self.draining {
            if draining.as_mut().poll(cx).is_ready() {
                self.draining = None;
                return Poll::Ready(Signal::Draining);
            }
        }
        if let Some(nap) = self.nap.as_mut().filter(|_| self.napping) {
            if nap.as_mut().poll(cx).is_ready() {
                self.napping = false;
                return Poll::Ready(Signal::Changed);
            }
        }
        if let Poll::Ready((changed, rx)) = self.saving_next.as_mut().poll(cx) {
            // The sender lives as long as the server's shared state.
            let Some(saving) = changed else { return Poll::Ready(Signal::Shutdown) };
            self.saving_next = Box::pin(next_value(rx));
            self.saving = saving;
            if !saving {
                self.napping = false;
            }
            return Poll::Ready(Signal::Changed);
        }
        if let Poll::Ready((changed, rx)) = self.directive.as_mut().poll(cx) {
            let Some(directive) = changed else { return Poll::Ready(Signal::Shutdown) };
            self.directive = Box::pin(next_value(rx));
            self.close_when_idle = directive == Directive::CloseIdle;
            return Poll::Ready(Signal::Directive(directive));
        }
        Poll::Pending
    }
}

/// The next value of a watch channel (`None`: the sender is gone). Owns the receiver, so
/// the future can be kept across loop iterations; it hands the receiver back for the next.
async fn next_value<T: Copy>(mut rx: watch::Receiver<T>) -> (Option<T>, watch::Receiver<T>) {
    let value = match rx.changed().await {
        Ok(()) => Some(*rx.borrow_and_update()),
        Err(_) => None,
    };
    (value, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals() -> (Signals, [CancellationToken; 3], watch::Sender<Directive>, watch::Sender<bool>)
    {
        let tokens = [CancellationToken::new(), CancellationToken::new(), CancellationToken::new()];
        let (dtx, drx) = watch::channel(Directive::Carry);
        let (stx, srx) = watch::channel(false);
        let s = Signals::from_parts([&tokens[0], &tokens[1], &tokens[2]], drx, srx);
        (s, tokens, dtx, stx)
    }

    fn now_or_never(s: &mut Signals) -> Option<Signal> {
        use futures_util::FutureExt;
        s.next().now_or_never()
    }

    #[tokio::test]
    async fn drain_is_reported_once_and_shutdown_wins() {
        let (mut s, [shutdown, _kick, draining], _d, _p) = signals();
        assert_eq!(now_or_never(&mut s), None);
        draining.cancel();
        assert_eq!(now_or_never(&mut s), Some(Signal::Draining));
        assert_eq!(now_or_never(&mut s), None, "a drain is told once");
        shutdown.cancel();
        assert_eq!(now_or_never(&mut s), Some(Signal::Shutdown));
    }

    #[tokio::test]
    async fn directives_and_power_saving() {
        let (mut s, _t, directives, saving) = signals();
        directives.send(Directive::CloseIdle).unwrap();
        assert_eq!(now_or_never(&mut s), Some(Signal::Directive(Directive::CloseIdle)));
        assert!(s.close_when_idle);
        s.pumped(false);
        assert!(!s.napping(), "no nap unless saving");
        saving.send(true).unwrap();
        assert_eq!(now_or_never(&mut s), Some(Signal::Changed));
        s.pumped(true);
        assert!(!s.napping(), "a pump that hit its budget has more to send at once");
        s.pumped(false);
        assert!(s.napping());
        saving.send(false).unwrap();
        assert_eq!(now_or_never(&mut s), Some(Signal::Changed));
        assert!(!s.napping(), "leaving power saving ends the nap");
    }
}
