//! What the driver sends through the session: media to players, status and user control
//! messages, pings.

use openrtmp_amf::Amf0Value;

use super::ServerSession;
use crate::command::{self, StatusCode};
use crate::control::{ControlMessage, UserControl};
use crate::message::{csid, Message, MessageType};

impl ServerSession {
    /// Sends an audio, video or data message to a playing stream. The payload is shared
    /// (reference counted), only chunk headers are written.
    pub fn send_media(&mut self, stream_id: u32, message: &Message) {
        let csid = match message.type_id {
            MessageType::AUDIO => csid::AUDIO,
            MessageType::VIDEO => csid::VIDEO,
            _ => csid::STREAM_COMMAND,
        };
        let msg = Message { csid, stream_id, ..message.clone() };
        self.wire.send(&msg);
    }

    /// Sends onStatus on a message stream.
    pub fn send_status(&mut self, stream_id: u32, code: StatusCode, description: Option<&str>) {
        let mut info = command::status_info(code, description);
        if stream_id != 0 {
            info.insert("clientid", Amf0Value::Number(1.0));
        }
        self.send_command(stream_id, command::on_status(info));
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
