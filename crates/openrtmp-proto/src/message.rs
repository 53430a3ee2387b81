//! RTMP messages (RTMP 1.0 §6.1): what the chunk stream carries once reassembled.

use bytes::Bytes;

/// Message type id (RTMP 1.0 §6.1.1 header field, values from §5.4, §6.2, §7.1).
/// Unknown values pass through unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageType(pub u8);

impl MessageType {
    /// Set Chunk Size (§5.4.1).
    pub const SET_CHUNK_SIZE: Self = Self(1);
    /// Abort Message (§5.4.2).
    pub const ABORT: Self = Self(2);
    /// Acknowledgement (§5.4.3).
    pub const ACKNOWLEDGEMENT: Self = Self(3);
    /// User Control Message (§6.2, §7.1.7).
    pub const USER_CONTROL: Self = Self(4);
    /// Window Acknowledgement Size (§5.4.4).
    pub const WINDOW_ACK_SIZE: Self = Self(5);
    /// Set Peer Bandwidth (§5.4.5).
    pub const SET_PEER_BANDWIDTH: Self = Self(6);
    /// Audio message (§7.1.4).
    pub const AUDIO: Self = Self(8);
    /// Video message (§7.1.5).
    pub const VIDEO: Self = Self(9);
    /// Data message, AMF3 (§7.1.2).
    pub const DATA_AMF3: Self = Self(15);
    /// Shared object message, AMF3 (§7.1.3).
    pub const SHARED_OBJECT_AMF3: Self = Self(16);
    /// Command message, AMF3 (§7.1.1).
    pub const COMMAND_AMF3: Self = Self(17);
    /// Data message, AMF0 (§7.1.2).
    pub const DATA_AMF0: Self = Self(18);
    /// Shared object message, AMF0 (§7.1.3).
    pub const SHARED_OBJECT_AMF0: Self = Self(19);
    /// Command message, AMF0 (§7.1.1).
    pub const COMMAND_AMF0: Self = Self(20);
    /// Aggregate message (§7.1.6).
    pub const AGGREGATE: Self = Self(22);

    /// Whether this is one of the protocol control messages 1-6 (§5.4, §6.2), which travel on
    /// chunk stream 2 and message stream 0.
    pub fn is_protocol_control(self) -> bool {
        (1..=6).contains(&self.0)
    }
}

/// An FLV tag's type is the RTMP message type id of its payload: FLV 10.1 §E.4.1 gives
/// TagType 8 (audio), 9 (video) and 18 (script data), which are RTMP 1.0 §7.1's audio (8),
/// video (9) and AMF0 data (18) message types. Any other value passes through unchanged, as
/// wire newtypes do.
impl From<openrtmp_media::TagType> for MessageType {
    fn from(tag_type: openrtmp_media::TagType) -> Self {
        MessageType(tag_type.0)
    }
}

/// A whole RTMP message with the chunk stream it arrived on (or is to be sent on).
///
/// `timestamp` is absolute (deltas already applied), in milliseconds, and wraps at 2^32
/// (RTMP 1.0 §5.3.1.3 and §6.1.1 serial-number arithmetic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Chunk stream id, 2..=65599 (§5.3.1.1).
    pub csid: u32,
    /// Absolute timestamp in milliseconds.
    pub timestamp: u32,
    /// Message type id.
    pub type_id: MessageType,
    /// Message stream id (little-endian on the wire in type-0 headers).
    pub stream_id: u32,
    /// The payload; shared by reference count, never copied per receiver.
    pub payload: Bytes,
}

/// Well-known chunk stream ids used by this implementation when sending.
pub mod csid {
    /// Protocol control messages (RTMP 1.0 §5.4 requires chunk stream id 2).
    pub const PROTOCOL_CONTROL: u32 = 2;
    /// NetConnection commands.
    pub const COMMAND: u32 = 3;
    /// NetStream commands and data (onStatus, @setDataFrame).
    pub const STREAM_COMMAND: u32 = 5;
    /// Audio.
    pub const AUDIO: u32 = 4;
    /// Video.
    pub const VIDEO: u32 = 6;
    /// Data messages sent to players with their media (onMetaData): a chunk stream of
    /// their own, apart from the session's commands, so media written past the session
    /// (run-to-completion fan-out) never shares header state with them.
    pub const MEDIA_DATA: u32 = 7;
}

#[cfg(test)]
mod tests {
    use super::*;
    use openrtmp_media::TagType;

    #[test]
    fn flv_tag_types_are_rtmp_message_types() {
        assert_eq!(MessageType::from(TagType::AUDIO), MessageType::AUDIO);
        assert_eq!(MessageType::from(TagType::VIDEO), MessageType::VIDEO);
        assert_eq!(MessageType::from(TagType::SCRIPT), MessageType::DATA_AMF0);
        assert_eq!(MessageType::from(TagType(31)), MessageType(31));
    }
}
