//! What the driver sends through the session: media to players, status and user control
//! messages, pings.

use bytes::Bytes;
use openrtmp_amf::Amf0Value;

use super::ServerSession;
use crate::command::{self, StatusCode};
use crate::control::{ControlMessage, UserControl};
use crate::message::{csid, Message, MessageType};

impl ServerSession {
    /// Sends an audio, video or data message to a playing stream. The payload is shared
    /// (reference counted), only chunk headers are written.
    pub fn send_media(&mut self, stream_id: u32, message: &Message) {
        let msg = media_message(stream_id, message);
        self.wire.send(&msg);
    }

    /// How [`send_media`](Self::send_media) would chunk `message` on `stream_id`, encoded on
    /// its own ([`crate::chunk::encode_standalone`]) with `chunk_size`: bytes that serve every
    /// player of a stream with the same chunk size and stream id, whatever each was sent
    /// before. Shared by reference count; give them to
    /// [`send_prepared_media`](Self::send_prepared_media) or write them straight to the
    /// socket (then call [`media_sent_elsewhere`](Self::media_sent_elsewhere)).
    pub fn prepare_media(stream_id: u32, message: &Message, chunk_size: u32) -> Vec<Bytes> {
        crate::chunk::encode_standalone(&media_message(stream_id, message), chunk_size)
    }

    /// Sends a media message already encoded by [`prepare_media`](Self::prepare_media) with
    /// this session's [`outbound_chunk_size`](Self::outbound_chunk_size): no per-player
    /// encoding, the same slices for every player.
    pub fn send_prepared_media(&mut self, stream_id: u32, message: &Message, encoded: &[Bytes]) {
        let msg = media_message(stream_id, message);
        self.wire.send_standalone(&msg, encoded);
    }

    /// Media (and data) messages reached the peer without the session, written straight to
    /// the socket from prepared bytes: the next message on their chunk streams starts with a
    /// full (type 0) header. The session's own messages (control, commands, onStatus) use
    /// other chunk streams, so they may be queued meanwhile.
    pub fn media_sent_elsewhere(&mut self) {
        for csid in [csid::AUDIO, csid::VIDEO, csid::MEDIA_DATA] {
            self.wire.forget(csid);
        }
    }

    /// The chunk size of what the session sends (after its Set Chunk Size).
    pub fn outbound_chunk_size(&self) -> u32 {
        self.wire.chunk_size()
    }

    /// Sends onStatus on a message stream.
    pub fn send_status(&mut self, stream_id: u32, code: StatusCode, description: Option<&str>) {
        let mut info = command::status_info(code, description);
        if stream_id != 0 {
            info.insert("clientid", Amf0Value::Number(1.0));
        }
        self.send_command(stream_id, command::on_status(info));
    }

    /// Sends `_result(transaction_id, null, value)` on a message stream: the answer to a
    /// command reported as [`ServerEvent::Command`](super::ServerEvent::Command)
    /// (`getStreamLength`: the length in seconds).
    pub fn send_result(&mut self, stream_id: u32, transaction_id: f64, value: Amf0Value) {
        self.send_command(stream_id, command::result(transaction_id, value));
    }

    /// Sends a user control event (StreamEOF, StreamDry, ...).
    pub fn send_user_control(&mut self, event: UserControl) {
        self.send_control(ControlMessage::UserControl(event));
    }

    /// Tells a player its stream ended: StreamEOF then NetStream.Play.UnpublishNotify.
    pub fn notify_unpublished(&mut self, stream_id: u32) {
        self.send_user_control(UserControl::StreamEof { stream_id });
        self.send_status(stream_id, StatusCode::PLAY_UNPUBLISH_NOTIFY, None);
    }

    /// Tells a waiting player its stream is (again) published.
    pub fn notify_published(&mut self, stream_id: u32) {
        self.send_user_control(UserControl::StreamBegin { stream_id });
        self.send_status(stream_id, StatusCode::PLAY_PUBLISH_NOTIFY, None);
    }

    /// Sends a ping request carrying `timestamp` (the driver's clock, ms).
    pub fn send_ping(&mut self, timestamp: u32) {
        self.send_user_control(UserControl::PingRequest { timestamp });
    }

    /// Enhanced RTMP v2: asks the client to reconnect (only meaningful if
    /// `peer_caps().supports_reconnect()`); `tc_url` optionally redirects it.
    pub fn send_reconnect_request(&mut self, tc_url: Option<&str>, description: Option<&str>) {
        let mut info = command::status_info(StatusCode::CONNECT_RECONNECT_REQUEST, description);
        if let Some(url) = tc_url {
            info.insert("tcUrl", Amf0Value::string(url));
        }
        self.send_command(0, command::on_status(info));
    }
}

/// `message` as a player receives it on `stream_id`: audio, video and data on their chunk
/// streams.
fn media_message(stream_id: u32, message: &Message) -> Message {
    let csid = match message.type_id {
        MessageType::AUDIO => csid::AUDIO,
        MessageType::VIDEO => csid::VIDEO,
        _ => csid::MEDIA_DATA,
    };
    Message { csid, stream_id, ..message.clone() }
}
