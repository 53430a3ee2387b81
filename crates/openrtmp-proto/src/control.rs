//! Protocol control messages (RTMP 1.0 §5.4, types 1, 2, 3, 5, 6) and User Control messages
//! (§6.2 and §7.1.7, type 4).
//!
//! All of them travel on chunk stream 2 and message stream 0, and take effect when received;
//! their timestamps are ignored (§5.4, §6.2). Payloads are parsed leniently where it is
//! harmless: bytes after the fields a message defines are ignored.

mod user_control;

use bytes::{BufMut, Bytes, BytesMut};

pub use user_control::{UserControl, UserControlEventType};

use crate::message::{csid, Message, MessageType};

/// Limit type of a Set Peer Bandwidth message (§5.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitType {
    /// 0: limit output bandwidth to the window size.
    Hard,
    /// 1: limit to the smaller of this window and the limit already in effect.
    Soft,
    /// 2: like Hard if the previous limit type was Hard, otherwise ignore the message.
    Dynamic,
}

impl LimitType {
    /// The wire value, or `None` for values the spec does not define.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::Hard),
            1 => Some(Self::Soft),
            2 => Some(Self::Dynamic),
            _ => None,
        }
    }

    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Hard => 0,
            Self::Soft => 1,
            Self::Dynamic => 2,
        }
    }
}

/// A parsed protocol control or User Control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlMessage {
    /// Set Chunk Size (§5.4.1): the sender's new maximum chunk size, 1..=0x7FFF_FFFF.
    SetChunkSize(u32),
    /// Abort Message (§5.4.2): discard the partial message on this chunk stream.
    Abort {
        /// Chunk stream whose partial message is to be discarded.
        csid: u32,
    },
    /// Acknowledgement (§5.4.3).
    Acknowledgement {
        /// Bytes received so far by the sender, modulo 2^32.
        sequence: u32,
    },
    /// Window Acknowledgement Size (§5.4.4): acknowledge after this many bytes; never 0.
    WindowAckSize(u32),
    /// Set Peer Bandwidth (§5.4.5).
    SetPeerBandwidth {
        /// Acknowledgement window size the peer should limit its output to; never 0.
        size: u32,
        /// How to combine it with the limit in effect.
        limit: LimitType,
    },
    /// User Control message (§6.2, §7.1.7).
    UserControl(UserControl),
}

/// Errors parsing a control message payload.
///
/// Disposition: `ChunkSizeOutOfRange` on Set Chunk Size closes the connection (the decoder
/// cannot frame the peer's chunks any more); the others may be logged at debug and the
/// message ignored, or the connection closed, at the session's choice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The message type is not one of 1-6.
    #[error("message type {type_id} is not a control message")]
    NotControl {
        /// The message type id.
        type_id: u8,
    },
    /// The payload is shorter than the message's fields.
    #[error("message type {type_id}: payload of {len} bytes, needs {needed}")]
    Truncated {
        /// The message type id.
        type_id: u8,
        /// Payload length received.
        len: usize,
        /// Length the message needs.
        needed: usize,
    },
    /// Set Chunk Size of 0 or with the reserved most significant bit set (§5.4.1).
    #[error("chunk size {size} out of range 1..=2147483647")]
    ChunkSizeOutOfRange {
        /// The rejected size.
        size: u32,
    },
    /// Window Acknowledgement Size or Set Peer Bandwidth with a window of 0, which would
    /// demand an acknowledgement after every byte or stop all output.
    #[error("message type {type_id}: window size 0")]
    ZeroWindowSize {
        /// The message type id.
        type_id: u8,
    },
    /// Set Peer Bandwidth with a limit type other than 0, 1 or 2.
    #[error("unknown peer bandwidth limit type {value}")]
    UnknownLimitType {
        /// The limit type byte.
        value: u8,
    },
}

impl ControlMessage {
    /// Parses the payload of a message of type 1-6.
    pub fn parse(type_id: MessageType, payload: &[u8]) -> Result<Self, ControlError> {
        let t = type_id.0;
        let word = |at: usize| read_u32(payload, at, t);
        match type_id {
            MessageType::SET_CHUNK_SIZE => {
                let size = word(0)?;
                if size == 0 || size & 0x8000_0000 != 0 {
                    return Err(ControlError::ChunkSizeOutOfRange { size });
                }
                Ok(Self::SetChunkSize(size))
            }
            MessageType::ABORT => Ok(Self::Abort { csid: word(0)? }),
            MessageType::ACKNOWLEDGEMENT => Ok(Self::Acknowledgement { sequence: word(0)? }),
            MessageType::WINDOW_ACK_SIZE => match word(0)? {
                0 => Err(ControlError::ZeroWindowSize { type_id: t }),
                size => Ok(Self::WindowAckSize(size)),
            },
            MessageType::SET_PEER_BANDWIDTH => {
                let (Ok(size), Some(&value)) = (word(0), payload.get(4)) else {
                    let len = payload.len();
                    return Err(ControlError::Truncated { type_id: t, len, needed: 5 });
                };
                if size == 0 {
                    return Err(ControlError::ZeroWindowSize { type_id: t });
                }
                let limit =
                    LimitType::from_u8(value).ok_or(ControlError::UnknownLimitType { value })?;
                Ok(Self::SetPeerBandwidth { size, limit })
            }
            MessageType::USER_CONTROL => UserControl::parse(payload).map(Self::UserControl),
            _ => Err(ControlError::NotControl { type_id: t }),
        }
    }

    /// The message type id this message is sent with.
    pub fn type_id(&self) -> MessageType {
        match self {
            Self::SetChunkSize(_) => MessageType::SET_CHUNK_SIZE,
            Self::Abort { .. } => MessageType::ABORT,
            Self::Acknowledgement { .. } => MessageType::ACKNOWLEDGEMENT,
            Self::WindowAckSize(_) => MessageType::WINDOW_ACK_SIZE,
            Self::SetPeerBandwidth { .. } => MessageType::SET_PEER_BANDWIDTH,
            Self::UserControl(_) => MessageType::USER_CONTROL,
        }
    }

    /// Appends the payload to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            Self::SetChunkSize(value)
            | Self::Abort { csid: value }
            | Self::Acknowledgement { sequence: value }
            | Self::WindowAckSize(value) => dst.put_u32(*value),
            Self::SetPeerBandwidth { size, limit } => {
                dst.put_u32(*size);
                dst.put_u8(limit.to_u8());
            }
            Self::UserControl(event) => event.encode(dst),
        }
    }

    /// The message to send: chunk stream 2, message stream 0, timestamp 0 (§5.4, §6.2).
    pub fn to_message(&self) -> Message {
        let mut payload = BytesMut::with_capacity(10);
        self.encode(&mut payload);
        Message {
            csid: csid::PROTOCOL_CONTROL,
            timestamp: 0,
            type_id: self.type_id(),
            stream_id: 0,
            payload: Bytes::from(payload),
        }
    }
}

/// Reads the big-endian `u32` at `at`, or reports the payload as truncated.
fn read_u32(payload: &[u8], at: usize, type_id: u8) -> Result<u32, ControlError> {
    let needed = at + 4;
    payload
        .get(at..needed)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or(ControlError::Truncated { type_id, len: payload.len(), needed })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes `msg`, checks the payload against `golden`, and parses it back.
    fn check(msg: ControlMessage, golden: &[u8]) {
        let m = msg.to_message();
        assert_eq!((m.csid, m.stream_id, m.timestamp), (2, 0, 0), "{msg:?} framing");
        assert_eq!(&m.payload[..], golden, "{msg:?} bytes");
        assert_eq!(ControlMessage::parse(m.type_id, &m.payload), Ok(msg));
    }

    // Golden vectors: field layouts from RTMP 1.0 §5.4.1-§5.4.5 (all big-endian).
    #[test]
    fn golden_vectors() {
        check(ControlMessage::SetChunkSize(4096), &[0, 0, 0x10, 0]);
        check(ControlMessage::SetChunkSize(0x7FFF_FFFF), &[0x7F, 0xFF, 0xFF, 0xFF]);
        check(ControlMessage::Abort { csid: 6 }, &[0, 0, 0, 6]);
        check(ControlMessage::Acknowledgement { sequence: 0x0102_0304 }, &[1, 2, 3, 4]);
        check(ControlMessage::WindowAckSize(2_500_000), &[0, 0x26, 0x25, 0xA0]);
        check(
            ControlMessage::SetPeerBandwidth { size: 2_500_000, limit: LimitType::Dynamic },
            &[0, 0x26, 0x25, 0xA0, 2],
        );
        check(
            ControlMessage::SetPeerBandwidth { size: 1, limit: LimitType::Hard },
            &[0, 0, 0, 1, 0],
        );
        check(
            ControlMessage::UserControl(UserControl::StreamBegin { stream_id: 1 }),
            &[0, 0, 0, 0, 0, 1],
        );
    }

    #[test]
    fn type_ids() {
        let cases = [
            (ControlMessage::SetChunkSize(1), 1),
            (ControlMessage::Abort { csid: 3 }, 2),
            (ControlMessage::Acknowledgement { sequence: 0 }, 3),
            (ControlMessage::WindowAckSize(1), 5),
            (ControlMessage::SetPeerBandwidth { size: 1, limit: LimitType::Soft }, 6),
            (ControlMessage::UserControl(UserControl::PingRequest { timestamp: 0 }), 4),
        ];
        for (msg, id) in cases {
            assert_eq!(msg.type_id(), MessageType(id));
        }
    }

    #[test]
    fn set_chunk_size_range() {
        let parse = |p: &[u8]| ControlMessage::parse(MessageType::SET_CHUNK_SIZE, p);
        assert_eq!(parse(&[0, 0, 0, 1]), Ok(ControlMessage::SetChunkSize(1)));
        assert_eq!(parse(&[0, 0, 0, 0]), Err(ControlError::ChunkSizeOutOfRange { size: 0 }));
        assert_eq!(
            parse(&[0x80, 0, 0, 0x80]),
            Err(ControlError::ChunkSizeOutOfRange { size: 0x8000_0080 })
        );
        // Trailing bytes are ignored.
        assert_eq!(parse(&[0, 0, 1, 0, 9, 9]), Ok(ControlMessage::SetChunkSize(256)));
    }

    #[test]
    fn window_sizes_of_zero() {
        assert_eq!(
            ControlMessage::parse(MessageType::WINDOW_ACK_SIZE, &[0, 0, 0, 0]),
            Err(ControlError::ZeroWindowSize { type_id: 5 })
        );
        assert_eq!(
            ControlMessage::parse(MessageType::SET_PEER_BANDWIDTH, &[0, 0, 0, 0, 2]),
            Err(ControlError::ZeroWindowSize { type_id: 6 })
        );
    }

    #[test]
    fn bad_limit_type() {
        assert_eq!(
            ControlMessage::parse(MessageType::SET_PEER_BANDWIDTH, &[0, 0, 1, 0, 3]),
            Err(ControlError::UnknownLimitType { value: 3 })
        );
    }

    #[test]
    fn short_payloads() {
        for (type_id, needed) in [(1u8, 4), (2, 4), (3, 4), (5, 4), (6, 5), (4, 2)] {
            for len in 0..needed {
                let payload = vec![0x11; len];
                assert_eq!(
                    ControlMessage::parse(MessageType(type_id), &payload),
                    Err(ControlError::Truncated { type_id, len, needed }),
                    "type {type_id} len {len}"
                );
            }
        }
    }

    #[test]
    fn not_control() {
        for type_id in [0u8, 7, 8, 9, 20, 255] {
            assert_eq!(
                ControlMessage::parse(MessageType(type_id), &[0; 8]),
                Err(ControlError::NotControl { type_id })
            );
        }
    }
}
