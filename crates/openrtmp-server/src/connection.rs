//! One connection: a task that owns the socket and a sans-IO [`ServerSession`], and
//! connects the session's publish/play decisions to the hub. This file holds the struct and
//! its select loop; the parts own their state in `connection/` (`close`: why a connection
//! ends and the one table of what follows; `io`: reads, writes, final flush; `publishing`;
//! `playing`: media pumps; `decision`: authorisation in flight; `signals`: shutdown, drain,
//! kick, app state, power saving). See docs/architecture.md.
//!
//! Protocol timers (handshake, connect, idle, publisher silence) live in the session
//! (`poll_timeout`/`handle_timeout`); the loop adds the two that depend on the socket and
//! the hub (write stall, unpublished wait) and sleeps until the earliest, so a connection
//! with nothing to do costs no CPU. It reads only while the session is not waiting for a
//! decision and its output is below [`HIGH_WATER`] (a peer that sends but never reads
//! stops being read: automatic replies are bounded too), and pulls media for players only
//! while the output is small.

mod close;
mod decision;
mod direct;
mod io;
mod playing;
pub(crate) mod publishing;
mod signals;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use openrtmp_hub::StreamKey;
use openrtmp_proto::command::{Command, StatusCode};
use openrtmp_proto::session::{RequestId, ServerEvent, ServerSession};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use close::Record;
pub(crate) use close::{Close, Ended};
use decision::{Asked, Asker, Decisions};
use io::{linger, write_some, Output, ReadBuf, Traffic};
use playing::Players;
use publishing::Publishing;
pub(crate) use signals::directive_close;
use signals::Signals;

use crate::auth::{AuthAction, Verdict};
use crate::config::Config;
use crate::registry::ConnEntry;
use crate::shared::Shared;

/// Output queued for the socket (ours plus the session's) above which the loop neither
/// pulls media nor reads (a publishing connection reads up to four times this): a player
/// that stops reading, or a peer that sends pings and commands without reading the replies,
/// holds at most this (or four times it) plus one read's or one batch's worth.
pub(crate) const HIGH_WATER: usize = 256 * 1024;
/// The session's clock: `std` time, as tokio's (paused in tests) sees it.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// How far the wake-up timer may sit beyond the real deadline before it is re-armed.
const FAR: std::time::Duration = std::time::Duration::from_secs(3600);

/// One live connection, after its first bytes arrived.
pub(crate) struct Connection {
    shared: Arc<Shared>,
    /// The configuration when this connection started (a reload applies to new ones).
    config: Arc<Config>,
    entry: Arc<ConnEntry>,
    session: ServerSession,
    opened: Instant,
    connected: bool,
    /// The app as authorised (query and slashes stripped).
    app: String,
    asker: Asker,
    decisions: Decisions,
    publishing: Option<Publishing>,
    players: Players,
    /// Recordings played (video on demand), see `crate::vod`.
    vod: crate::vod::VodPlayers,
    traffic: Traffic,
    signals: Signals,
    /// Why connect must be refused (over a limit), decided at accept.
    refuse: Option<String>,
    /// What it published and played, for the notifications at the end.
    record: Record,
}

impl Connection {
    /// A connection accepted at `opened` whose first bytes have arrived.
    pub(crate) fn new(
        shared: Arc<Shared>,
        entry: Arc<ConnEntry>,
        peer: SocketAddr,
        opened: Instant,
        cellular: Arc<AtomicBool>,
        refuse: Option<String>,
    ) -> Connection {
        let config = shared.config_arc();
        let epoch = shared.started.elapsed().as_millis() as u32;
        let session = config.new_session(opened.into_std(), epoch);
        let signals = Signals::new(&shared, &entry.kick);
        Connection {
            asker: Asker::new(peer, entry.id),
            players: Players::new(Arc::clone(&shared), Arc::clone(&entry), Arc::clone(&cellular)),
            traffic: Traffic::new(Arc::clone(&shared), Arc::clone(&entry), cellular),
            signals,
            session,
            config,
            entry,
            shared,
            opened,
            connected: false,
            app: String::new(),
            decisions: Decisions::default(),
            publishing: None,
            vod: crate::vod::VodPlayers::default(),
            refuse,
            record: Record::default(),
        }
    }

    /// Lets the publisher of a stream this connection plays write to `socket` while the
    /// player keeps up (run-to-completion fan-out; plain TCP only).
    pub(crate) fn share_socket(&mut self, socket: Arc<tokio::net::TcpStream>) {
        self.players.share_socket(socket);
    }

    /// Serves the connection until it ends; returns why.
    pub(crate) async fn run<R, W>(&mut self, mut rd: R, mut wr: W) -> Close
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut buf = ReadBuf::new();
        let mut out = Output::new();
        // One timer for every deadline, reset lazily: when a deadline moves later (a write
        // or a media message arrived) the timer fires early once and is re-armed, instead
        // of touching the timer wheel on every frame.
        let mut armed = self.next_deadline(&out);
        let timer = tokio::time::sleep_until(armed);
        tokio::pin!(timer);
        let close = loop {
            // A publisher that wrote its frames to viewers' sockets lets the other tasks on
            // its thread run before it reads more (reads alone would let it run on for up to
            // tokio's budget of 128 reads: new viewers and handed-back ones would starve).
            if let Some(p) = self.publishing.as_mut().filter(|p| p.fanned_out) {
                p.fanned_out = false;
                tokio::task::yield_now().await;
            }
            // The player's lane: back from the publisher's task, or handed to it.
            let allowed = !self.signals.saving();
            let idle = !out.is_writing();
            let traffic = &mut self.traffic;
            if let Some(first) = self.players.settle(&mut self.session, traffic, idle, allowed) {
                out.put_first(first);
            }
            out.refill(&mut self.session);
            if self.session.is_closed() && !out.is_writing() {
                // Everything (the `_error` of a refused connect) is written.
                break Close::Rejected;
            }
            let queued = out.queued(&mut self.session);
            self.entry.queue_bytes.store(queued, Ordering::Relaxed);
            let deadline = self.next_deadline(&out);
            if deadline < armed {
                armed = deadline;
                timer.as_mut().reset(armed);
            }
            if self.signals.close_when_idle && self.is_idle() {
                break Close::Background;
            }
            // A publisher that also plays must not stall its ingest behind its own slow
            // player (media stops at HIGH_WATER, so its queue stays below the larger mark).
            let read_mark = if self.publishing.is_some() { 4 * HIGH_WATER } else { HIGH_WATER };
            let want_read =
                !self.session.is_waiting() && !self.session.is_closed() && queued < read_mark;
            let want_media = !self.players.is_empty()
                && !self.players.direct
                && queued < HIGH_WATER
                && !self.signals.napping();
            let want_vod = !self.vod.is_empty() && queued < HIGH_WATER;
            let direct = self.players.direct;
            let deciding = self.decisions.is_pending();
            let result: Result<(), Close> = tokio::select! {
                biased;
                signal = self.signals.next() => {
                    let idle = self.is_idle();
                    let (connected, grace) = (self.connected, self.config.shutdown_grace);
                    let redirect = self.shared.cluster.redirect_for(&self.app);
                    let told = matches!(signal, signals::Signal::Draining);
                    if told && connected && self.session.peer_caps().supports_reconnect() {
                        self.shared.cluster.reconnect_sent();
                    }
                    signal.follow(&mut self.session, connected, idle, grace, redirect.as_deref())
                }
                written = write_some(&mut wr, &out.pending), if out.is_writing() => {
                    out.wrote(written, &mut self.traffic)
                }
                read = buf.read(&mut rd, self.session.input_buffer()), if want_read => match read {
                    Ok(Some(n)) => self.input(n),
                    Ok(None) => Err(Close::PeerClosed),
                    Err(e) => Err(Close::Io(e)),
                },
                _ = self.players.ready(), if want_media => {
                    let result = self.players.pump(&mut self.session);
                    self.signals.pumped(self.players.budget_hit);
                    result
                }
                () = self.vod.ready(), if want_vod => {
                    self.vod.pump(&mut self.session);
                    Ok(())
                }
                () = self.players.returned(), if direct => Ok(()),
                (asked, verdict) = self.decisions.decided(), if deciding => {
                    self.decide(asked, verdict).and_then(|()| self.handle_events())
                }
                _ = &mut timer => {
                    let result = self.check_timers(&out);
                    armed = self.next_deadline(&out);
                    timer.as_mut().reset(armed);
                    result
                }
            };
            if let Err(close) = result {
                break close;
            }
        };
        // From here on only this task writes the socket.
        if let Some(first) = self.players.close_lane(&mut self.traffic) {
            out.put_first(first);
        }
        if close.disposition().flush {
            out.flush_final(&mut self.session, &mut wr).await;
            linger(&mut rd).await;
        }
        close
    }

    /// `n` bytes read into the session's input buffer: handled, then act on its events.
    fn input(&mut self, n: usize) -> Result<(), Close> {
        self.traffic.received(n);
        // The frames of one read go to the direct viewers in one write each.
        if let Some(p) = &self.publishing {
            p.hold();
        }
        let result = self.session.handle_read(now(), n).map_err(Close::from);
        let result = result.and_then(|()| self.handle_events());
        if let Some(p) = &mut self.publishing {
            p.release();
        }
        result
    }

    fn handle_events(&mut self) -> Result<(), Close> {
        while let Some(event) = self.session.poll_event() {
            match event {
                ServerEvent::HandshakeDone { scheme, client_version } => {
                    tracing::debug!(?scheme, ?client_version, "handshake done");
                }
                ServerEvent::Connect { request, command } => {
                    let app = command.app.split('?').next().unwrap_or_default().trim_matches('/');
                    tracing::Span::current().record("app", app);
                    self.entry.detail().app = app.to_owned();
                    let draining =
                        self.shared.draining.is_cancelled().then_some("server is shutting down");
                    if let Some(reason) = self.refuse.as_deref().or(draining) {
                        tracing::warn!(%reason, "connect rejected");
                        self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                        self.session.reject_connect(request, reason);
                        continue;
                    }
                    let (asked, req) = self.asker.connect(request, command);
                    self.ask(asked, req)?;
                }
                ServerEvent::Publish { request, stream_id, stream_name, .. } => {
                    // A second publish on this connection is refused in `start_publish`,
                    // after authorisation (the raw name may hold a key: not logged here).
                    let req = self.asker.request(AuthAction::Publish, Some(stream_name));
                    self.ask(Asked::Publish { request, stream_id }, req)?;
                }
                ServerEvent::Play { request, stream_id, stream_name, start, duration, .. } => {
                    let stream_name = crate::vod::strip_prefix(&stream_name).to_owned();
                    let req = self.asker.request(AuthAction::Play, Some(stream_name));
                    let range = crate::vod::PlayRange::from_play(start, duration);
                    self.ask(Asked::Play { request, stream_id, range }, req)?;
                }
                ServerEvent::Unpublished { stream_id, .. } => {
                    if self.publishing.as_ref().is_some_and(|p| p.stream_id == stream_id) {
                        self.stop_publish("unpublished");
                    }
                }
                ServerEvent::PlayStopped { stream_id, .. } => {
                    self.players.stop(stream_id);
                    self.vod.stop(stream_id);
                }
                ServerEvent::Media { message, .. } => {
                    let Some(p) = &mut self.publishing else { continue };
                    if let Err(close) = p.media(message) {
                        let stream_id = p.stream_id;
                        self.stop_publish("replaced by a new publisher");
                        let d = "another publisher took over this stream key";
                        self.session.send_status(stream_id, StatusCode::UNPUBLISH_SUCCESS, Some(d));
                        return Err(close);
                    }
                }
                ServerEvent::Data { data, message, .. } => {
                    let Some(p) = &mut self.publishing else { continue };
                    if data.is_on_meta_data() {
                        p.metadata(message.timestamp, data);
                    } else {
                        p.data(message.timestamp, message.payload);
                    }
                }
                ServerEvent::Pause { stream_id, paused } => {
                    self.players.pause(stream_id, paused);
                    self.vod.pause(stream_id, paused);
                }
                ServerEvent::ReceiveMedia { stream_id, audio, enabled } => {
                    self.players.receive(stream_id, audio, enabled)
                }
                ServerEvent::BufferLength { stream_id, millis } => {
                    self.vod.buffer_length(stream_id, millis)
                }
                ServerEvent::PingResponse { .. } => {}
                ServerEvent::Command { stream_id, command: Command::Seek { milliseconds, .. } }
                    if self.vod.plays(stream_id) =>
                {
                    self.vod.seek(&mut self.session, stream_id, milliseconds);
                }
                ServerEvent::Command {
                    stream_id,
                    command: Command::GetStreamLength { transaction_id, stream_name },
                } => {
                    let file = self.recording(&stream_name);
                    self.vod.stream_length(&mut self.session, stream_id, transaction_id, file);
                }
                ServerEvent::Command { stream_id, command } => {
                    tracing::debug!(stream_id, command = command.name(), "command not handled");
                }
                ServerEvent::UnknownMessage(message) => {
                    let (type_id, len) = (message.type_id.0, message.payload.len());
                    tracing::debug!(type_id, len, "unknown message type skipped");
                }
            }
        }
        Ok(())
    }

    /// Asks for an authorisation decision: applied now when the verdict is ready, else the
    /// session waits (reading stops) and the loop keeps serving until it arrives.
    fn ask(&mut self, asked: Asked, req: crate::auth::AuthRequest) -> Result<(), Close> {
        let claim = matches!(asked, Asked::Publish { .. }).then(|| decision::ClaimStep {
            cluster: Arc::clone(&self.shared.cluster),
            relay: Arc::clone(&self.shared.relay),
            app: self.app.clone(),
            takeover: self.shared.hub.config().replace_publisher,
        });
        match self.decisions.ask(&self.shared.auth, asked, req, claim) {
            Some((asked, verdict)) => self.decide(asked, verdict),
            None => Ok(()),
        }
    }

    /// Applies a decision. Events the session handles afterwards (messages that waited for
    /// it) are left for the caller's event loop, never handled here (no recursion).
    fn decide(&mut self, asked: Asked, verdict: Verdict) -> Result<(), Close> {
        let session = &mut self.session;
        match (asked, verdict) {
            (Asked::Connect { request, flash_ver, enhanced }, Verdict::Allow { app, .. }) => {
                self.entry.detail().app = app.clone();
                tracing::info!(flash_ver, enhanced, "connected");
                session.accept_connect(now(), request).map_err(Close::Protocol)?;
                session.set_app(app.clone());
                self.app = app;
                self.connected = true;
                Ok(())
            }
            (Asked::Connect { request, .. }, Verdict::Deny(denial)) => {
                self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                session.reject_connect(request, &denial.reason);
                Ok(())
            }
            (Asked::Publish { request, stream_id }, Verdict::Allow { stream, .. }) => {
                self.start_publish(request, stream_id, stream.as_deref().unwrap_or_default())
            }
            (Asked::Publish { request, .. }, Verdict::Deny(denial)) => {
                session
                    .reject_publish(now(), request, StatusCode::PUBLISH_BAD_NAME, &denial.reason)
                    .map_err(Close::Protocol)?;
                Err(Close::Denied)
            }
            (Asked::Play { request, stream_id, range }, Verdict::Allow { stream, .. }) => {
                let name = stream.as_deref().unwrap_or_default();
                if self.start_vod(request, stream_id, name, range)? {
                    return Ok(());
                }
                self.start_play(request, stream_id, name)
            }
            (Asked::Play { request, .. }, Verdict::Deny(denial)) => {
                session
                    .reject_play(now(), request, StatusCode::PLAY_FAILED, &denial.reason)
                    .map_err(Close::Protocol)?;
                Err(Close::Denied)
            }
        }
    }

    /// The hub key of a stream name (query and slashes stripped) in this connection's app.
    fn stream_key(&self, stream_name: &str) -> Option<StreamKey> {
        let name = stream_name.split('?').next().unwrap_or_default().trim_matches('/');
        (!name.is_empty()).then(|| StreamKey::new(self.app.clone(), name))
    }

    fn start_publish(
        &mut self,
        request: RequestId,
        stream_id: u32,
        name: &str,
    ) -> Result<(), Close> {
        let key = self.stream_key(name);
        if let Some(key) = &key {
            let (relay, via, peer) =
                (&self.shared.config_arc().relay, &self.asker.via, self.asker.peer);
            let replace = self.shared.hub.config().replace_publisher;
            if let Err(d) = self.shared.relay.publishing(key, via, peer, relay, replace) {
                let code = StatusCode::PUBLISH_BAD_NAME;
                return self
                    .session
                    .reject_publish(now(), request, code, &d)
                    .map_err(Close::Protocol);
            }
        }
        let again = self.publishing.is_some();
        match Publishing::start(&self.shared, &self.entry, key.as_ref(), stream_id, again) {
            Ok(publishing) => {
                self.shared.relay.published_through(
                    publishing.key(),
                    self.entry.id,
                    &self.asker.via,
                );
                self.entry.take_role("publisher", publishing.key());
                self.shared.platform.stats_changed();
                self.record.published(&publishing.key().name);
                self.publishing = Some(publishing);
                self.session.accept_publish(now(), request).map_err(Close::Protocol)
            }
            Err(d) => {
                let code = StatusCode::PUBLISH_BAD_NAME;
                self.session.reject_publish(now(), request, code, &d).map_err(Close::Protocol)
            }
        }
    }

    fn start_play(&mut self, request: RequestId, stream_id: u32, name: &str) -> Result<(), Close> {
        let key = self.stream_key(name);
        if let Some(key) = &key {
            let config = self.shared.config_arc();
            let (relay, via, peer) = (&config.relay, &self.asker.via, self.asker.peer);
            if let Err(d) = self.shared.relay.playing(key, via, peer, relay, config.edge.enabled) {
                let code = StatusCode::PLAY_FAILED;
                return self.session.reject_play(now(), request, code, &d).map_err(Close::Protocol);
            }
        }
        match self.players.start(key.as_ref(), stream_id) {
            Ok(key) => {
                self.entry.take_role("player", &key);
                self.shared.platform.stats_changed();
                self.record.played(&key.name);
                self.session.accept_play(now(), request).map_err(Close::Protocol)
            }
            Err((code, d)) => {
                self.session.reject_play(now(), request, code, &d).map_err(Close::Protocol)
            }
        }
    }

    /// Plays the recording `name` names, if it names one and no live stream of that name
    /// is published (`crate::vod::find`); false: not a recording, play it live.
    fn start_vod(
        &mut self,
        request: RequestId,
        stream_id: u32,
        name: &str,
        range: crate::vod::PlayRange,
    ) -> Result<bool, Close> {
        let Some(file) = self.recording(name) else { return Ok(false) };
        self.players.stop(stream_id);
        if let Err(e) = self.vod.start(&file, stream_id, range) {
            tracing::warn!(stream = %file.file_name, error = %e, "vod play failed to start");
            let (code, d) = (StatusCode::PLAY_FAILED, "the recording cannot be read now");
            self.session.reject_play(now(), request, code, d).map_err(Close::Protocol)?;
            return Ok(true);
        }
        self.entry.vod_player(&self.app, &file.file_name);
        self.shared.platform.stats_changed();
        self.record.played(&file.file_name);
        self.session.accept_play(now(), request).map_err(Close::Protocol)?;
        Ok(true)
    }

    /// The recording `name` names in this app, unless a live stream of that name is
    /// published (see `crate::vod`).
    fn recording(&self, name: &str) -> Option<crate::vod::VodFile> {
        let key = self.stream_key(name)?;
        if self.shared.hub.stream(&key).is_some_and(|s| s.publishing) {
            return None;
        }
        crate::vod::find(&self.config.record, &self.app, name)
    }

    fn stop_publish(&mut self, why: &str) {
        if let Some(p) = self.publishing.take() {
            self.shared.relay.unpublished(p.key(), self.entry.id);
            let key = p.key().clone();
            p.stop(why);
            self.shared.platform.stats_changed();
            crate::cluster::node::release_when_ended(&self.shared, key);
        }
    }

    /// Neither publishing nor playing nor waiting for an authorisation decision.
    fn is_idle(&self) -> bool {
        self.publishing.is_none()
            && self.players.is_empty()
            && self.vod.is_empty()
            && !self.decisions.is_pending()
    }

    /// The earliest deadline: the session's protocol timers, the write stall and the
    /// players' unpublished wait.
    fn next_deadline(&self, out: &Output) -> Instant {
        let mut deadline = Instant::now() + FAR;
        if let Some(t) = self.session.poll_timeout() {
            deadline = deadline.min(Instant::from_std(t));
        }
        if let Some(t) = self.players.deadline(self.config.unpublished_wait) {
            deadline = deadline.min(t);
        }
        if let Some(t) = out.deadline(self.config.write_timeout) {
            deadline = deadline.min(t);
        }
        if let Some(t) = self.publishing.as_ref().and_then(Publishing::batch_deadline) {
            deadline = deadline.min(Instant::from_std(t));
        }
        deadline
    }

    fn check_timers(&mut self, out: &Output) -> Result<(), Close> {
        let now = Instant::now();
        self.session.handle_timeout(now.into_std()).map_err(Close::from)?;
        self.players.check(now, self.config.unpublished_wait)?;
        if let Some(p) = &mut self.publishing {
            p.announce_due(now.into_std());
        }
        match out.deadline(self.config.write_timeout) {
            Some(t) if now >= t => Err(Close::WriteStalled),
            _ => Ok(()),
        }
    }

    /// After the loop: the publication ends, drops are counted, the end is logged and
    /// counted, and the notifications go out.
    pub(crate) fn finish(&mut self, close: &Close) {
        let why = match close {
            Close::PublisherSilent => "no media received in time",
            _ => "connection closed",
        };
        match close.disposition().publication {
            close::Publication::Ends => self.stop_publish(why),
            close::Publication::Held => {
                if let Some(p) = self.publishing.take() {
                    p.lose(&self.shared, why);
                    self.shared.platform.stats_changed();
                }
            }
        }
        self.players.report_drops();
        let app = self.connected.then(|| self.app.clone());
        let ended = Ended {
            peer: self.asker.peer,
            conn_id: self.entry.id,
            app,
            opened: self.opened,
            bytes: (self.traffic.bytes_in, self.traffic.bytes_out),
        };
        self.record.notify(&self.shared, &self.app, &ended);
        ended.report(&self.shared, close);
    }
}
