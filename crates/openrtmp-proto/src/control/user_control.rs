//! User Control messages (RTMP 1.0 §6.2, events in §7.1.7): a 16-bit event type followed by
//! event data.

use bytes::{BufMut, Bytes, BytesMut};

use super::{read_u32, ControlError};
use crate::message::MessageType;

/// User Control event type (§7.1.7). Unknown values pass through as
/// [`UserControl::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserControlEventType(pub u16);

impl UserControlEventType {
    /// Stream Begin (0): a stream became functional.
    pub const STREAM_BEGIN: Self = Self(0);
    /// Stream EOF (1): playback of the stream is over.
    pub const STREAM_EOF: Self = Self(1);
    /// StreamDry (2): no more data on the stream for now.
    pub const STREAM_DRY: Self = Self(2);
    /// SetBuffer Length (3): the client's buffer length for a stream, in milliseconds.
    pub const SET_BUFFER_LENGTH: Self = Self(3);
    /// StreamIs Recorded (4): the stream is a recorded stream.
    pub const STREAM_IS_RECORDED: Self = Self(4);
    /// PingRequest (6): the server tests whether the client is reachable.
    pub const PING_REQUEST: Self = Self(6);
    /// PingResponse (7): the client's answer, echoing the request's timestamp.
    pub const PING_RESPONSE: Self = Self(7);
    /// SWF verification request (26). Not in RTMP 1.0; sent by Flash Media Server.
    pub const SWF_VERIFY_REQUEST: Self = Self(26);
    /// SWF verification response (27). Not in RTMP 1.0; answered by Flash Player, librtmp.
    pub const SWF_VERIFY_RESPONSE: Self = Self(27);
    /// Buffer empty (31). Not in RTMP 1.0; sent by Flash Media Server.
    pub const BUFFER_EMPTY: Self = Self(31);
    /// Buffer ready (32). Not in RTMP 1.0; sent by Flash Media Server.
    pub const BUFFER_READY: Self = Self(32);
}

/// A User Control event (§7.1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserControl {
    /// Stream Begin (0).
    StreamBegin {
        /// The stream that became functional.
        stream_id: u32,
    },
    /// Stream EOF (1).
    StreamEof {
        /// The stream whose playback ended.
        stream_id: u32,
    },
    /// StreamDry (2).
    StreamDry {
        /// The dry stream.
        stream_id: u32,
    },
    /// SetBuffer Length (3).
    SetBufferLength {
        /// The stream the buffer is for.
        stream_id: u32,
        /// Buffer length in milliseconds.
        buffer_ms: u32,
    },
    /// StreamIs Recorded (4).
    StreamIsRecorded {
        /// The recorded stream.
        stream_id: u32,
    },
    /// PingRequest (6).
    PingRequest {
        /// The sender's local time when it sent the request.
        timestamp: u32,
    },
    /// PingResponse (7).
    PingResponse {
        /// The timestamp of the request being answered.
        timestamp: u32,
    },
    /// Any other event, data kept as received.
    Unknown {
        /// The event type.
        event_type: u16,
        /// The event data.
        data: Bytes,
    },
}

impl UserControl {
    /// Parses a User Control message payload (event type, then event data).
    pub fn parse(payload: &[u8]) -> Result<Self, ControlError> {
        let type_id = MessageType::USER_CONTROL.0;
        let [high, low] = payload.first_chunk::<2>().copied().ok_or(ControlError::Truncated {
            type_id,
            len: payload.len(),
            needed: 2,
        })?;
        let event_type = u16::from_be_bytes([high, low]);
        let word = |at: usize| read_u32(payload, 2 + at, type_id);
        Ok(match UserControlEventType(event_type) {
            UserControlEventType::STREAM_BEGIN => Self::StreamBegin { stream_id: word(0)? },
            UserControlEventType::STREAM_EOF => Self::StreamEof { stream_id: word(0)? },
            UserControlEventType::STREAM_DRY => Self::StreamDry { stream_id: word(0)? },
            UserControlEventType::SET_BUFFER_LENGTH => {
                Self::SetBufferLength { stream_id: word(0)?, buffer_ms: word(4)? }
            }
            UserControlEventType::STREAM_IS_RECORDED => {
                Self::StreamIsRecorded { stream_id: word(0)? }
            }
            UserControlEventType::PING_REQUEST => Self::PingRequest { timestamp: word(0)? },
            UserControlEventType::PING_RESPONSE => Self::PingResponse { timestamp: word(0)? },
            _ => Self::Unknown {
                event_type,
                data: Bytes::copy_from_slice(payload.get(2..).unwrap_or_default()),
            },
        })
    }

    /// The event type.
    pub fn event_type(&self) -> UserControlEventType {
        match self {
            Self::StreamBegin { .. } => UserControlEventType::STREAM_BEGIN,
            Self::StreamEof { .. } => UserControlEventType::STREAM_EOF,
            Self::StreamDry { .. } => UserControlEventType::STREAM_DRY,
            Self::SetBufferLength { .. } => UserControlEventType::SET_BUFFER_LENGTH,
            Self::StreamIsRecorded { .. } => UserControlEventType::STREAM_IS_RECORDED,
            Self::PingRequest { .. } => UserControlEventType::PING_REQUEST,
            Self::PingResponse { .. } => UserControlEventType::PING_RESPONSE,
            Self::Unknown { event_type, .. } => UserControlEventType(*event_type),
        }
    }

    /// Appends the payload (event type, then event data) to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_u16(self.event_type().0);
        match self {
            Self::StreamBegin { stream_id }
            | Self::StreamEof { stream_id }
            | Self::StreamDry { stream_id }
            | Self::StreamIsRecorded { stream_id } => dst.put_u32(*stream_id),
            Self::SetBufferLength { stream_id, buffer_ms } => {
                dst.put_u32(*stream_id);
                dst.put_u32(*buffer_ms);
            }
            Self::PingRequest { timestamp } | Self::PingResponse { timestamp } => {
                dst.put_u32(*timestamp);
            }
            Self::Unknown { data, .. } => dst.put_slice(data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ControlMessage;

    /// Encodes `event` as a whole message, checks it against `golden`, and parses it back.
    fn check(event: UserControl, golden: &[u8]) {
        let m = ControlMessage::UserControl(event.clone()).to_message();
        assert_eq!(m.type_id, MessageType::USER_CONTROL);
        assert_eq!((m.csid, m.stream_id, m.timestamp), (2, 0, 0));
        assert_eq!(&m.payload[..], golden, "{event:?}");
        assert_eq!(UserControl::parse(golden), Ok(event));
    }

    // Golden vectors: §6.2 layout (16-bit event type, event data), events from §7.1.7.
    #[test]
    fn golden_vectors() {
        check(UserControl::StreamBegin { stream_id: 1 }, &[0, 0, 0, 0, 0, 1]);
        check(UserControl::StreamEof { stream_id: 0x0102_0304 }, &[0, 1, 1, 2, 3, 4]);
        check(UserControl::StreamDry { stream_id: 7 }, &[0, 2, 0, 0, 0, 7]);
        check(
            UserControl::SetBufferLength { stream_id: 1, buffer_ms: 3000 },
            &[0, 3, 0, 0, 0, 1, 0, 0, 0x0B, 0xB8],
        );
        check(UserControl::StreamIsRecorded { stream_id: 1 }, &[0, 4, 0, 0, 0, 1]);
        check(UserControl::PingRequest { timestamp: 0xDEAD_BEEF }, &[0, 6, 0xDE, 0xAD, 0xBE, 0xEF]);
        check(
            UserControl::PingResponse { timestamp: 0xDEAD_BEEF },
            &[0, 7, 0xDE, 0xAD, 0xBE, 0xEF],
        );
        check(
            UserControl::Unknown { event_type: 31, data: Bytes::from_static(&[0, 0, 0, 1]) },
            &[0, 31, 0, 0, 0, 1],
        );
        check(UserControl::Unknown { event_type: 5, data: Bytes::new() }, &[0, 5]);
    }

    #[test]
    fn truncated_events() {
        let truncated = |len, needed| ControlError::Truncated { type_id: 4, len, needed };
        assert_eq!(UserControl::parse(&[]), Err(truncated(0, 2)));
        assert_eq!(UserControl::parse(&[0]), Err(truncated(1, 2)));
        assert_eq!(UserControl::parse(&[0, 0, 1, 2, 3]), Err(truncated(5, 6)));
        assert_eq!(UserControl::parse(&[0, 3, 0, 0, 0, 1, 0, 0]), Err(truncated(8, 10)));
        assert_eq!(UserControl::parse(&[0, 6]), Err(truncated(2, 6)));
    }

    #[test]
    fn event_type_round_trip() {
        let event = UserControl::parse(&[0, 32, 0, 0, 0, 9]);
        assert_eq!(event.map(|e| e.event_type()), Ok(UserControlEventType::BUFFER_READY));
    }
}
