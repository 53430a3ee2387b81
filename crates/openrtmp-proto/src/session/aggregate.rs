//! Aggregate messages (RTMP 1.0 §7.1.6): a sequence of FLV-style sub-messages.

use bytes::Bytes;

use crate::message::{Message, MessageType};

/// Splits an aggregate message into its sub-messages.
///
/// Each sub-message is `type(1) size(3) timestamp(3) timestamp-ext(1) stream id(3)`, the body,
/// and a 4-byte back pointer (§7.1.6). Sub-message timestamps are rebased so the first one
/// equals the aggregate's timestamp. Bodies are slices of the aggregate payload (no copy).
/// Stops at the first malformed sub-message and returns what came before it.
pub fn split_aggregate(msg: &Message) -> Vec<Message> {
    let data = &msg.payload;
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut first_ts: Option<u32> = None;
    while let Some(header) = data.get(pos..pos + 11) {
        let [t, s0, s1, s2, t0, t1, t2, t3, ..] = *header else {
            break;
        };
        let size = usize::from(s0) << 16 | usize::from(s1) << 8 | usize::from(s2);
        let ts = u32::from(t3) << 24 | u32::from(t0) << 16 | u32::from(t1) << 8 | u32::from(t2);
        let body_start = pos + 11;
        let body_end = body_start + size;
        if body_end > data.len() {
            break;
        }
        let base = *first_ts.get_or_insert(ts);
        out.push(Message {
            csid: msg.csid,
            timestamp: msg.timestamp.wrapping_add(ts.wrapping_sub(base)),
            type_id: MessageType(t),
            stream_id: msg.stream_id,
            payload: Bytes::slice(data, body_start..body_end),
        });
        pos = body_end + 4;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(t: u8, ts: u32, body: &[u8]) -> Vec<u8> {
        let mut v = vec![t];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(&ts.to_be_bytes()[1..]);
        v.push((ts >> 24) as u8);
        v.extend_from_slice(&[0, 0, 0]);
        v.extend_from_slice(body);
        v.extend_from_slice(&((body.len() + 11) as u32).to_be_bytes());
        v
    }

    #[test]
    fn splits_and_rebases() {
        let mut p = sub(9, 1000, b"video");
        p.extend(sub(8, 1020, b"au"));
        p.extend_from_slice(&[9, 0, 0]); // truncated tail is ignored
        let msg = Message {
            csid: 6,
            timestamp: 50,
            type_id: MessageType::AGGREGATE,
            stream_id: 1,
            payload: p.into(),
        };
        let parts = split_aggregate(&msg);
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].type_id, parts[0].timestamp, &parts[0].payload[..]),
            (MessageType::VIDEO, 50, &b"video"[..])
        );
        assert_eq!(
            (parts[1].type_id, parts[1].timestamp, &parts[1].payload[..]),
            (MessageType::AUDIO, 70, &b"au"[..])
        );
    }
}
