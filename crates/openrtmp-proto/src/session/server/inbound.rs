//! What each message received once connected does: protocol control, commands (connect,
//! createStream, publish, play, ...), media and data (RTMP 1.0 §5.4, §7).

use super::*;

impl ServerSession {
    pub(super) fn handle_message(&mut self, msg: Message) -> Result<(), SessionError> {
        match msg.type_id {
            t if t.is_protocol_control() => self.handle_control(&msg),
            MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3 => {
                let command = Command::from_message(&msg, &self.config.limits.amf)?;
                self.handle_command(msg.stream_id, command)
            }
            MessageType::AUDIO | MessageType::VIDEO => {
                self.media(msg);
                Ok(())
            }
            MessageType::AGGREGATE => {
                for part in split_aggregate(&msg) {
                    if matches!(part.type_id, MessageType::AUDIO | MessageType::VIDEO) {
                        self.media(part);
                    }
                }
                Ok(())
            }
            MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => self.handle_data(msg),
            _ => {
                self.events.push_back(ServerEvent::UnknownMessage(msg));
                Ok(())
            }
        }
    }

    fn handle_control(&mut self, msg: &Message) -> Result<(), SessionError> {
        match ControlMessage::parse(msg.type_id, &msg.payload)? {
            // Set Chunk Size and Abort were applied by the decoder; Acknowledgement and
            // Set Peer Bandwidth need nothing from a server that does not throttle by window.
            ControlMessage::SetChunkSize(_)
            | ControlMessage::Abort { .. }
            | ControlMessage::Acknowledgement { .. }
            | ControlMessage::SetPeerBandwidth { .. } => {}
            ControlMessage::WindowAckSize(size) => self.wire.decoder.set_window_ack_size(size),
            ControlMessage::UserControl(event) => match event {
                UserControl::PingRequest { timestamp } => {
                    self.send_control(ControlMessage::UserControl(UserControl::PingResponse {
                        timestamp,
                    }))
                }
                UserControl::PingResponse { timestamp } => {
                    self.events.push_back(ServerEvent::PingResponse { timestamp })
                }
                UserControl::SetBufferLength { stream_id, buffer_ms } => self
                    .events
                    .push_back(ServerEvent::BufferLength { stream_id, millis: buffer_ms }),
                _ => {}
            },
        }
        Ok(())
    }

    fn handle_command(&mut self, stream_id: u32, command: Command) -> Result<(), SessionError> {
        if let Command::Connect(connect) = command {
            if !matches!(self.state, State::ExpectConnect) {
                return Err(SessionError::DuplicateConnect);
            }
            self.peer_caps = connect.enhanced.clone();
            let request = self.request(Pending::Connect {
                transaction_id: connect.transaction_id,
                object_encoding: connect.object_encoding,
                caps: connect.enhanced.clone(),
            });
            self.state = State::ConnectPending;
            self.events.push_back(ServerEvent::Connect { request, command: connect });
            return Ok(());
        }
        if !matches!(self.state, State::Connected) {
            return Err(SessionError::ConnectExpected { command: command.name().to_owned() });
        }
        let exists = self.streams.contains_key(&stream_id);
        let known = match command {
            Command::Publish { .. } | Command::Play { .. } => {
                exists || self.adopt_stream(stream_id)
            }
            _ => stream_id == 0 || exists,
        };
        if !known {
            self.refuse_unknown_stream(stream_id, &command);
            return Ok(());
        }
        match command {
            Command::CreateStream { transaction_id } => self.create_stream(transaction_id)?,
            Command::ReleaseStream { transaction_id, .. } => {
                self.send_command(0, command::result(transaction_id, Amf0Value::Undefined))
            }
            Command::FcPublish { transaction_id, stream_name } => {
                self.send_command(0, command::on_fc_publish(&stream_name));
                self.send_command(0, command::result(transaction_id, Amf0Value::Undefined));
            }
            Command::FcUnpublish { transaction_id, stream_name } => {
                let publishing = self.streams.iter().find_map(|(id, role)| match role {
                    StreamRole::Publishing(n) if strip_query(n) == strip_query(&stream_name) => {
                        Some(*id)
                    }
                    _ => None,
                });
                if let Some(id) = publishing {
                    self.stop_stream(id);
                }
                self.send_command(0, command::on_fc_unpublish(&stream_name));
                self.send_command(0, command::result(transaction_id, Amf0Value::Undefined));
            }
            Command::Publish { stream_name, publish_type, .. } => {
                self.stop_stream(stream_id);
                self.streams.insert(stream_id, StreamRole::PublishPending(stream_name.clone()));
                let request =
                    self.request(Pending::Publish { stream_id, name: stream_name.clone() });
                self.events.push_back(ServerEvent::Publish {
                    request,
                    stream_id,
                    stream_name,
                    publish_type,
                });
            }
            Command::Play { stream_name, start, duration, reset, .. } => {
                self.stop_stream(stream_id);
                self.streams.insert(stream_id, StreamRole::PlayPending(stream_name.clone()));
                let request =
                    self.request(Pending::Play { stream_id, name: stream_name.clone(), reset });
                self.events.push_back(ServerEvent::Play {
                    request,
                    stream_id,
                    stream_name,
                    start,
                    duration,
                    reset,
                });
            }
            Command::DeleteStream { stream_id: target, .. } => {
                // The stream to delete is the argument (§7.2.2.3); fall back to the message
                // stream the command came on for clients that send it there with a bad id.
                let target = if target.is_finite() && target >= 0.0 && target <= f64::from(u32::MAX)
                {
                    target as u32
                } else {
                    stream_id
                };
                self.stop_stream(target);
                self.streams.remove(&target);
            }
            Command::CloseStream { .. } => self.stop_stream(stream_id),
            Command::Pause { pause, .. } => {
                if matches!(self.streams.get(&stream_id), Some(StreamRole::Playing(_))) {
                    let code =
                        if pause { StatusCode::PAUSE_NOTIFY } else { StatusCode::UNPAUSE_NOTIFY };
                    self.send_status(stream_id, code, None);
                    self.events.push_back(ServerEvent::Pause { stream_id, paused: pause });
                }
            }
            Command::ReceiveAudio { enabled } => {
                self.events.push_back(ServerEvent::ReceiveMedia { stream_id, audio: true, enabled })
            }
            Command::ReceiveVideo { enabled } => self.events.push_back(ServerEvent::ReceiveMedia {
                stream_id,
                audio: false,
                enabled,
            }),
            Command::Unknown(raw) if raw.name == "_checkbw" => {
                self.send_command(0, command::result(raw.transaction_id, Amf0Value::Undefined))
            }
            other => self.events.push_back(ServerEvent::Command { stream_id, command: other }),
        }
        Ok(())
    }

    fn create_stream(&mut self, transaction_id: f64) -> Result<(), SessionError> {
        let limit = self.config.limits.max_streams;
        if self.streams.len() >= limit as usize {
            let info = command::status_info(
                StatusCode::CALL_FAILED,
                Some("too many streams on this connection"),
            );
            self.send_command(0, command::error_response(transaction_id, info));
            return Err(SessionError::TooManyStreams { limit });
        }
        let id = self.allocate_stream_id();
        self.streams.insert(id, StreamRole::Idle);
        self.send_command(0, command::result(transaction_id, Amf0Value::Number(f64::from(id))));
        Ok(())
    }

    fn allocate_stream_id(&mut self) -> u32 {
        while self.streams.contains_key(&self.next_stream_id) || self.next_stream_id == 0 {
            self.next_stream_id = self.next_stream_id.wrapping_add(1);
        }
        let id = self.next_stream_id;
        self.next_stream_id = self.next_stream_id.wrapping_add(1);
        id
    }

    /// Ends whatever the stream does and reports it.
    fn stop_stream(&mut self, stream_id: u32) {
        let Some(role) = self.streams.get_mut(&stream_id) else {
            return;
        };
        match std::mem::replace(role, StreamRole::Idle) {
            StreamRole::Publishing(stream_name) => {
                self.send_status(stream_id, StatusCode::UNPUBLISH_SUCCESS, None);
                self.events.push_back(ServerEvent::Unpublished { stream_id, stream_name });
            }
            StreamRole::Playing(stream_name) => {
                self.events.push_back(ServerEvent::PlayStopped { stream_id, stream_name });
            }
            StreamRole::PublishPending(_) | StreamRole::PlayPending(_) => {
                let on_stream = |p: &Pending| matches!(p, Pending::Publish { stream_id: s, .. } | Pending::Play { stream_id: s, .. } if *s == stream_id);
                if self.pending.as_ref().is_some_and(|(_, p)| on_stream(p)) {
                    self.pending = None;
                }
            }
            StreamRole::Idle => {}
        }
    }

    fn media(&mut self, message: Message) {
        let stream_id = message.stream_id;
        if matches!(self.streams.get(&stream_id), Some(StreamRole::Publishing(_))) {
            self.timers.set(Timer::PublisherSilence, self.now + self.config.publisher_timeout);
            self.events.push_back(ServerEvent::Media { stream_id, message });
        }
        // Media on a stream that is not publishing (yet, or any more) is dropped: a publisher
        // is only relayed after its publish was accepted.
    }

    fn handle_data(&mut self, msg: Message) -> Result<(), SessionError> {
        let stream_id = msg.stream_id;
        if !matches!(self.streams.get(&stream_id), Some(StreamRole::Publishing(_))) {
            return Ok(());
        }
        let data = command::decode_data(msg.type_id, &msg.payload, &self.config.limits.amf)?
            .strip_set_data_frame();
        let message = command::data_message(stream_id, msg.timestamp, data.to_bytes());
        self.events.push_back(ServerEvent::Data { stream_id, data, message });
        Ok(())
    }
}
