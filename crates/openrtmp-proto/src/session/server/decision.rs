//! Decisions the driver makes about what the session asked (connect, publish, play), after
//! authorisation or a look-up in the stream registry.

use std::time::Instant;

use super::{Pending, ServerSession, State, StreamRole};
use crate::chunk::OUTBOUND_CHUNK_SIZES;
use crate::command::{self, StatusCode};
use crate::control::{ControlMessage, LimitType, UserControl};
use crate::session::{RequestId, SessionError, Timer};

impl ServerSession {
    /// Accepts a connect: Window Ack Size, Set Peer Bandwidth, Set Chunk Size, `_result`
    /// (NetConnection.Connect.Success, objectEncoding echoed, Enhanced RTMP answer), onBWDone.
    /// `now` is when the decision was made: [`Timer::Connect`](crate::session::Timer::Connect)
    /// stops and [`Timer::Idle`](crate::session::Timer::Idle) starts then.
    pub fn accept_connect(&mut self, now: Instant, request: RequestId) -> Result<(), SessionError> {
        self.now = now;
        let Some(Pending::Connect { transaction_id, object_encoding, caps }) = self.take(request)
        else {
            return self.resume();
        };
        self.send_control(ControlMessage::WindowAckSize(self.config.window_ack_size));
        self.send_control(ControlMessage::SetPeerBandwidth {
            size: self.config.peer_bandwidth,
            limit: LimitType::Dynamic,
        });
        let size = self
            .config
            .chunk_size
            .clamp(*OUTBOUND_CHUNK_SIZES.start(), *OUTBOUND_CHUNK_SIZES.end());
        // The encoder switches right after the Set Chunk Size message itself.
        self.send_control(ControlMessage::SetChunkSize(size));
        let answer = caps.answer(&self.config.enhanced);
        self.send_command(
            0,
            command::connect_result(transaction_id, object_encoding, answer.as_ref()),
        );
        self.send_command(0, command::on_bw_done());
        self.state = State::Connected;
        self.timers.stop(Timer::Connect);
        self.resume()
    }

    /// Rejects a connect with `_error` NetConnection.Connect.Rejected and the description;
    /// the session is then closed (flush, then close the socket): nothing more is handled.
    pub fn reject_connect(&mut self, request: RequestId, description: &str) {
        if let Some(Pending::Connect { transaction_id, .. }) = self.take(request) {
            let info = command::status_info(StatusCode::CONNECT_REJECTED, Some(description));
            self.send_command(0, command::error_response(transaction_id, info));
        }
        self.close();
    }

    /// Records the `app` of the accepted connection (for [`ServerSession::app`]).
    pub fn set_app(&mut self, app: impl Into<String>) {
        self.app = Some(app.into());
    }

    /// Accepts a publish: StreamBegin, onStatus NetStream.Publish.Start. Media is relayed as
    /// [`ServerEvent::Media`](super::ServerEvent::Media) from now on.
    /// [`Timer::PublisherSilence`] starts at `now`.
    pub fn accept_publish(&mut self, now: Instant, request: RequestId) -> Result<(), SessionError> {
        self.now = now;
        let Some(Pending::Publish { stream_id, name }) = self.take(request) else {
            return self.resume();
        };
        self.send_control(ControlMessage::UserControl(UserControl::StreamBegin { stream_id }));
        let description = format!("{} is now published.", shown(&name));
        self.send_status(stream_id, StatusCode::PUBLISH_START, Some(&description));
        self.streams.insert(stream_id, StreamRole::Publishing(name));
        self.timers.set(Timer::PublisherSilence, now + self.config.publisher_timeout);
        self.resume()
    }

    /// Rejects a publish with an error onStatus (e.g. NetStream.Publish.BadName) and the
    /// description; the connection stays up.
    pub fn reject_publish(
        &mut self,
        now: Instant,
        request: RequestId,
        code: StatusCode,
        description: &str,
    ) -> Result<(), SessionError> {
        self.reject_stream(now, request, code, description)
    }

    /// Accepts a play: StreamIsRecorded is not sent (live), StreamBegin, Play.Reset (if asked),
    /// Play.Start, `|RtmpSampleAccess`. The driver then sends metadata, sequence headers and
    /// media with [`ServerSession::send_media`].
    pub fn accept_play(&mut self, now: Instant, request: RequestId) -> Result<(), SessionError> {
        self.now = now;
        let Some(Pending::Play { stream_id, name, reset }) = self.take(request) else {
            return self.resume();
        };
        self.send_control(ControlMessage::UserControl(UserControl::StreamBegin { stream_id }));
        if reset {
            let d = format!("Playing and resetting {}.", shown(&name));
            self.send_status(stream_id, StatusCode::PLAY_RESET, Some(&d));
        }
        let d = format!("Started playing {}.", shown(&name));
        self.send_status(stream_id, StatusCode::PLAY_START, Some(&d));
        let access = command::data_message(stream_id, 0, command::rtmp_sample_access());
        self.wire.send(&access);
        self.streams.insert(stream_id, StreamRole::Playing(name));
        self.resume()
    }

    /// Rejects a play (e.g. NetStream.Play.StreamNotFound, NetStream.Play.Failed).
    pub fn reject_play(
        &mut self,
        now: Instant,
        request: RequestId,
        code: StatusCode,
        description: &str,
    ) -> Result<(), SessionError> {
        self.reject_stream(now, request, code, description)
    }

    /// A refused publish or play: the error onStatus on its stream, which stays (idle).
    fn reject_stream(
        &mut self,
        now: Instant,
        request: RequestId,
        code: StatusCode,
        description: &str,
    ) -> Result<(), SessionError> {
        self.now = now;
        let stream_id = match self.take(request) {
            Some(Pending::Publish { stream_id, .. } | Pending::Play { stream_id, .. }) => stream_id,
            _ => return self.resume(),
        };
        self.send_status(stream_id, code, Some(description));
        self.streams.insert(stream_id, StreamRole::Idle);
        self.resume()
    }

    fn take(&mut self, request: RequestId) -> Option<Pending> {
        match self.pending.take() {
            Some((id, pending)) if id == request => Some(pending),
            other => {
                // Not the pending decision (already made, or unknown): leave it as it was.
                self.pending = other;
                None
            }
        }
    }
}

/// A stream name as status descriptions show it: without its query, which may hold a key or
/// token (clients and relays log descriptions).
fn shown(name: &str) -> &str {
    name.split('?').next().unwrap_or_default()
}
