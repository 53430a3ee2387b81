//! Message streams that were never created: adopted for `publish`/`play` (encoders that
//! skip `createStream`), answered otherwise (see the parent module's docs).

use super::{ServerSession, StreamRole};
use crate::command::{self, Command, StatusCode};

impl ServerSession {
    /// Some encoders (hardware ones among them) publish or play on a stream id they never
    /// created: such an id is taken as created, while the connection is under its stream
    /// limit. Stream 0 is the NetConnection and never becomes a NetStream.
    pub(super) fn adopt_stream(&mut self, stream_id: u32) -> bool {
        let room = self.streams.len() < self.config.limits.max_streams as usize;
        if stream_id == 0 || !room {
            return false;
        }
        self.streams.insert(stream_id, StreamRole::Idle);
        true
    }

    /// The answer to a command on a message stream that does not exist (see the module docs).
    pub(super) fn refuse_unknown_stream(&mut self, stream_id: u32, command: &Command) {
        let description = format!(
            "message stream {stream_id} does not exist (stream 0 is the connection; \
             createStream returns stream ids)"
        );
        let transaction_id = command.transaction_id();
        match command {
            Command::Publish { .. } => {
                self.send_status(stream_id, StatusCode::PUBLISH_BAD_NAME, Some(&description))
            }
            Command::Play { .. } => {
                self.send_status(stream_id, StatusCode::PLAY_FAILED, Some(&description))
            }
            _ if transaction_id > 0.0 => {
                let info = command::status_info(StatusCode::CALL_FAILED, Some(&description));
                self.send_command(stream_id, command::error_response(transaction_id, info));
            }
            _ => tracing::debug!(
                stream_id,
                command = command.name(),
                "command on a message stream that does not exist ignored"
            ),
        }
    }
}
