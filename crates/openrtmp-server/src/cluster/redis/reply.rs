//! Reading the scripts' replies (`script.rs` documents their shapes). Whatever Redis
//! answers is checked: a reply of another shape, a number that does not parse, an unknown
//! node state are [`DirectoryError::Protocol`], never a panic.

use redis::Value;

use super::super::directory::{
    Claim, DirectoryError, HeartbeatReply, NodeLoad, NodeRecord, NodeState, OwnedStream, Route,
};

fn bad(what: &str, value: &Value) -> DirectoryError {
    DirectoryError::Protocol(format!("unexpected {what} in a script reply: {value:?}"))
}

fn array<'v>(value: &'v Value, what: &str) -> Result<&'v [Value], DirectoryError> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        other => Err(bad(what, other)),
    }
}

/// The `n` fields of a fixed-size tuple.
fn tuple<'v, const N: usize>(
    value: &'v Value,
    what: &str,
) -> Result<&'v [Value; N], DirectoryError> {
    array(value, what)?.try_into().map_err(|_| bad(what, value))
}

fn is_nil(value: &Value) -> bool {
    matches!(value, Value::Nil | Value::Boolean(false))
}

fn text(value: &Value, what: &str) -> Result<String, DirectoryError> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).map_err(|_| bad(what, value)),
        Value::SimpleString(text) => Ok(text.clone()),
        Value::Int(n) => Ok(n.to_string()),
        other => Err(bad(what, other)),
    }
}

fn int(value: &Value, what: &str) -> Result<i64, DirectoryError> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::BulkString(_) | Value::SimpleString(_) => {
            text(value, what)?.parse().map_err(|_| bad(what, value))
        }
        other => Err(bad(what, other)),
    }
}

fn unsigned(value: &Value, what: &str) -> Result<u64, DirectoryError> {
    u64::try_from(int(value, what)?).map_err(|_| bad(what, value))
}

fn state(value: &Value) -> Result<NodeState, DirectoryError> {
    NodeState::parse(&text(value, "node state")?).ok_or_else(|| bad("node state", value))
}

/// A route from `{owner, owner_epoch, epoch, rtmp, state}`.
fn route(fields: &[Value; 5]) -> Result<Route, DirectoryError> {
    let [owner, owner_epoch, epoch, rtmp, owner_state] = fields;
    Ok(Route {
        owner: text(owner, "owner")?,
        owner_epoch: text(owner_epoch, "owner epoch")?,
        epoch: unsigned(epoch, "stream epoch")?,
        advertise_rtmp: text(rtmp, "rtmp url")?,
        owner_state: state(owner_state)?,
    })
}

/// The heartbeat's reply, `owned` being the streams it was given (in order).
pub(super) fn heartbeat(
    value: &Value,
    owned: &[OwnedStream],
) -> Result<HeartbeatReply, DirectoryError> {
    let [restored, lost] = tuple::<2>(value, "heartbeat reply")?;
    let restored = usize::try_from(unsigned(restored, "restored count")?)
        .map_err(|_| bad("restored count", restored))?;
    let mut reply = HeartbeatReply { restored, lost: Vec::new() };
    for item in array(lost, "lost list")? {
        let [index, rest @ ..] = tuple::<6>(item, "lost stream")?;
        let stream = usize::try_from(int(index, "lost index")?)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| owned.get(i))
            .ok_or_else(|| bad("lost index", index))?;
        reply.lost.push((stream.key.clone(), route(rest)?));
    }
    Ok(reply)
}

/// The claim's reply.
pub(super) fn claim(value: &Value) -> Result<Claim, DirectoryError> {
    let items = array(value, "claim reply")?;
    match items {
        [flag, epoch] if int(flag, "claim flag")? == 1 => {
            Ok(Claim::Claimed { epoch: unsigned(epoch, "stream epoch")? })
        }
        [flag, rest @ ..] if int(flag, "claim flag")? == 0 => {
            let fields: &[Value; 5] = rest.try_into().map_err(|_| bad("claim reply", value))?;
            Ok(Claim::Held(route(fields)?))
        }
        _ => Err(bad("claim reply", value)),
    }
}

/// The resolve's reply.
pub(super) fn resolve(value: &Value) -> Result<Option<Route>, DirectoryError> {
    if is_nil(value) {
        return Ok(None);
    }
    route(tuple::<5>(value, "route")?).map(Some)
}

/// The release's and the leave's replies (a count, of no further use).
pub(super) fn count(value: &Value) -> Result<(), DirectoryError> {
    int(value, "count").map(|_| ())
}

/// The node listing, sorted by node id.
pub(super) fn nodes(value: &Value) -> Result<Vec<NodeRecord>, DirectoryError> {
    let mut list = Vec::new();
    for item in array(value, "node list")? {
        let [id, epoch, rtmp, node_state, connections, streams, egress, pttl] =
            tuple::<8>(item, "node")?;
        let pttl = int(pttl, "lease ttl")?;
        list.push(NodeRecord {
            node_id: text(id, "node id")?,
            epoch: text(epoch, "node epoch")?,
            advertise_rtmp: text(rtmp, "rtmp url")?,
            state: state(node_state)?,
            load: NodeLoad {
                connections: unsigned(connections, "connections")?,
                streams: unsigned(streams, "streams")?,
                egress_bps: unsigned(egress, "egress")?,
            },
            // -1: a lease without expiry (not one of ours); the TTL is unknown.
            expires_in: u64::try_from(pttl).ok().map(std::time::Duration::from_millis),
        });
    }
    list.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openrtmp_hub::StreamKey;

    fn s(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn replies_of_the_documented_shapes_are_read() {
        assert_eq!(
            claim(&Value::Array(vec![Value::Int(1), Value::Int(7)])),
            Ok(Claim::Claimed { epoch: 7 })
        );
        let held = Value::Array(vec![
            Value::Int(0),
            s("o1"),
            s("ab"),
            s("3"),
            s("rtmp://o1:1935"),
            s("draining"),
        ]);
        let Ok(Claim::Held(route)) = claim(&held) else { panic!("{held:?}") };
        assert_eq!((route.owner.as_str(), route.epoch), ("o1", 3));
        assert_eq!(route.owner_state, NodeState::Draining);
        assert_eq!(resolve(&Value::Nil), Ok(None));
        let owned = [OwnedStream { key: StreamKey::new("live", "cam"), epoch: 2 }];
        let lost = Value::Array(vec![
            Value::Int(1),
            Value::Array(vec![Value::Array(vec![
                Value::Int(1),
                s("o2"),
                s("cd"),
                s("9"),
                s(""),
                s("active"),
            ])]),
        ]);
        let reply = heartbeat(&lost, &owned).unwrap();
        assert_eq!(reply.restored, 1);
        assert_eq!(reply.lost[0].0, owned[0].key);
        assert_eq!(reply.lost[0].1.epoch, 9);
    }

    #[test]
    fn replies_of_other_shapes_are_protocol_errors() {
        let owned = [OwnedStream { key: StreamKey::new("live", "cam"), epoch: 2 }];
        let bad_replies = [
            Value::Nil,
            Value::Okay,
            Value::Array(vec![]),
            Value::Array(vec![Value::Int(2), Value::Int(1)]),
            Value::Array(vec![Value::Int(1), s("-4")]),
            Value::Array(vec![Value::Int(0), s("o1")]),
            Value::Array(vec![Value::Int(0), s("o1"), s("e"), s("x"), s(""), s("active")]),
            Value::Array(vec![Value::Int(0), s("o1"), s("e"), s("1"), s(""), s("weird")]),
            Value::BulkString(vec![0xff, 0xfe]),
        ];
        for value in &bad_replies {
            assert!(matches!(claim(value), Err(DirectoryError::Protocol(_))), "{value:?}");
            assert!(heartbeat(value, &owned).is_err(), "{value:?}");
            assert!(nodes(value).is_err() || value == &Value::Array(vec![]), "{value:?}");
        }
        // A lost index outside the owned streams.
        for index in [0, 2, -1] {
            let lost = Value::Array(vec![
                Value::Int(0),
                Value::Array(vec![Value::Array(vec![
                    Value::Int(index),
                    s("o2"),
                    s("cd"),
                    s("9"),
                    s(""),
                    s("active"),
                ])]),
            ]);
            assert!(heartbeat(&lost, &owned).is_err(), "{index}");
        }
        assert!(resolve(&Value::Array(vec![s("o1")])).is_err());
    }
}
