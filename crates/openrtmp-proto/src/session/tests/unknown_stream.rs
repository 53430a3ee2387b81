//! Commands on message streams that were never created get one answer each (or, without a
//! transaction id, none), and the connection stays up.

use super::*;
use crate::command::{self, Command};

fn send_command(p: &mut Pair, stream_id: u32, payload: Bytes) {
    raw_to_server(p, command::command_message(stream_id, payload), None).unwrap();
    p.pump().unwrap();
}

fn status(info: &AmfObject) -> (&str, &str) {
    let text = |k: &str| info.get(k).and_then(Amf0Value::as_str).unwrap_or_default();
    (text("code"), text("description"))
}

/// Connected, with stream 1 created and idle.
fn connected_with_one_stream() -> Pair {
    let mut p = Pair::new(ClientMode::Digest, None);
    p.connect();
    send_command(&mut p, 0, command::call("createStream", 2.0, &[]));
    assert_eq!(p.server.stream_role(1), Some(&StreamRole::Idle));
    p.take_server();
    p.server_commands();
    p
}

/// Encoders that publish on a stream id they never created (hardware ones do) are served:
/// the id is taken as created.
#[test]
fn publish_on_a_stream_never_created_adopts_it() {
    let mut p = connected_with_one_stream();
    send_command(&mut p, 5, command::publish(0.0, "key", PublishType::Live));
    let events = p.take_server();
    assert!(events.iter().any(|e| matches!(e, ServerEvent::Publish { stream_id: 5, .. })));
}

/// Regression: `publish` on stream 0 closed the connection; past the stream limit it did
/// too. Now: NetStream.Publish.BadName on that stream id, and the connection stays up.
#[test]
fn publish_on_stream_0_or_past_the_limit_gets_bad_name() {
    let mut p = connected_with_one_stream();
    for stream_id in 2..=DEFAULT_MAX_STREAMS {
        send_command(&mut p, 0, command::call("createStream", 10.0, &[]));
        assert_eq!(p.server.stream_role(stream_id), Some(&StreamRole::Idle));
    }
    p.server_commands();
    for stream_id in [0, 0xFFFF_FFFF] {
        send_command(&mut p, stream_id, command::publish(0.0, "key", PublishType::Live));
        assert!(p.take_server().is_empty(), "no publish request reaches the driver");
        let sent = p.server_commands();
        let [(sid, Command::OnStatus { info })] = &sent[..] else { panic!("{sent:?}") };
        assert_eq!(*sid, stream_id);
        let (code, description) = status(info);
        assert_eq!(code, "NetStream.Publish.BadName");
        assert!(description.contains(&format!("message stream {stream_id} ")), "{description}");
        assert!(!p.server.is_closed());
    }
}

#[test]
fn play_on_stream_0_gets_play_failed() {
    let mut p = connected_with_one_stream();
    {
        let stream_id = 0;
        send_command(&mut p, stream_id, command::play(4.0, "cam", -2.0, -1.0, true));
        assert!(p.take_server().is_empty());
        let sent = p.server_commands();
        let [(sid, Command::OnStatus { info })] = &sent[..] else { panic!("{sent:?}") };
        assert_eq!(*sid, stream_id);
        let (code, description) = status(info);
        assert_eq!(code, "NetStream.Play.Failed");
        assert!(description.contains(&format!("message stream {stream_id} ")), "{description}");
    }
    // The connection is fine: stream 1 still plays.
    send_command(&mut p, 1, command::play(5.0, "cam", -2.0, -1.0, true));
    assert!(p.take_server().iter().any(|e| matches!(e, ServerEvent::Play { stream_id: 1, .. })));
}

/// Regression: a command with a transaction id on an unknown stream went to the driver as an
/// unhandled command, and the client waited for an answer forever.
#[test]
fn other_commands_with_a_transaction_id_get_error() {
    let mut p = connected_with_one_stream();
    send_command(&mut p, 9, command::call("seek", 7.0, &[Amf0Value::Number(0.0)]));
    send_command(&mut p, 9, command::call("myAppCall", 8.0, &[]));
    assert!(p.take_server().is_empty());
    let sent = p.server_commands();
    assert_eq!(sent.len(), 2, "{sent:?}");
    for ((stream_id, cmd), tid) in sent.iter().zip([7.0, 8.0]) {
        let Command::Error(raw) = cmd else { panic!("{cmd:?}") };
        assert_eq!((*stream_id, raw.transaction_id), (9, tid));
        let info = raw.args.iter().find_map(Amf0Value::as_object).unwrap();
        let (code, description) = status(info);
        assert_eq!(code, "NetConnection.Call.Failed");
        assert!(description.contains("message stream 9 "), "{description}");
    }
}

#[test]
fn commands_without_a_transaction_id_are_ignored() {
    let mut p = connected_with_one_stream();
    for payload in [
        command::call("closeStream", 0.0, &[]),
        command::call("pause", 0.0, &[Amf0Value::Boolean(true), Amf0Value::Number(0.0)]),
        command::call("seek", 0.0, &[Amf0Value::Number(0.0)]),
        command::call("receiveAudio", 0.0, &[Amf0Value::Boolean(false)]),
    ] {
        send_command(&mut p, 3, payload);
    }
    // deleteStream of a stream that does not exist, on stream 0.
    send_command(&mut p, 0, command::call("deleteStream", 0.0, &[Amf0Value::Number(3.0)]));
    assert!(p.take_server().is_empty());
    assert!(p.server_commands().is_empty());
    assert!(!p.server.is_closed());
    assert_eq!(p.server.stream_role(1), Some(&StreamRole::Idle));
}

#[test]
fn a_deleted_stream_is_unknown() {
    let mut p = connected_with_one_stream();
    send_command(&mut p, 0, command::call("deleteStream", 0.0, &[Amf0Value::Number(1.0)]));
    assert_eq!(p.server.stream_role(1), None);
    send_command(&mut p, 1, command::call("getStreamLength", 3.0, &[]));
    let sent = p.server_commands();
    let [(1, Command::Error(raw))] = &sent[..] else { panic!("{sent:?}") };
    assert_eq!(raw.transaction_id, 3.0);
}

/// `getStreamLength` on a known stream goes to the driver (which knows whether the name
/// is a recording, and its length), answered with `send_result`.
#[test]
fn get_stream_length_is_the_drivers_to_answer() {
    let mut p = connected_with_one_stream();
    send_command(&mut p, 1, command::call("getStreamLength", 3.0, &[Amf0Value::string("x")]));
    let events = p.take_server();
    let [ServerEvent::Command {
        stream_id: 1,
        command: Command::GetStreamLength { transaction_id, stream_name },
    }] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!((*transaction_id, stream_name.as_str()), (3.0, "x"));
    p.server.send_result(1, 3.0, Amf0Value::Number(20.5));
    p.pump().unwrap();
    let sent = p.server_commands();
    let [(1, Command::Result(raw))] = &sent[..] else { panic!("{sent:?}") };
    assert_eq!(raw.transaction_id, 3.0);
    assert_eq!(raw.args.last(), Some(&Amf0Value::Number(20.5)));
}
