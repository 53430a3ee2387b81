//! Fuzzes the chunk stream decoder (RTMP 1.0 §5.3) and the control message parser (§5.4, §6.2)
//! with arbitrary bytes in arbitrary splits (copied in or appended to its input buffer, as
//! the server reads), under small limits so that the memory bounds are
//! reached. The decoder must not panic, must stay within its limits, and once it reports an
//! error must keep reporting that same error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrtmp_proto::chunk::{ChunkDecoder, DecoderLimits};
use openrtmp_proto::control::ControlMessage;

const BUDGET: usize = 256 * 1024;

fuzz_target!(|data: &[u8]| {
    // Byte 0 picks the starting chunk size (small sizes and the extremes) and seeds the split
    // sizes; the rest is the peer's byte stream.
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let chunk_size = match control % 8 {
        0 => 0x7FFF_FFFF,
        1 => 128,
        2 => 4096,
        n => u32::from(control >> 3) + u32::from(n),
    };
    let limits =
        DecoderLimits { max_message_len: 1 << 20, max_chunk_streams: 8, reassembly_budget: BUDGET };
    let mut decoder = ChunkDecoder::new(limits);
    if decoder.set_chunk_size(chunk_size).is_err() {
        return;
    }
    decoder.set_window_ack_size(u32::from(control) * 16 + 1);

    let mut rest = stream;
    let mut step = usize::from(control >> 2) + 1;
    let mut fed = 0usize;
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at(step.min(rest.len()));
        rest = tail;
        step = usize::from(piece.first().copied().unwrap_or(0)) * 3 + 1 + (step % 53);
        // Copied in, or read straight into the decoder's input (the server's way).
        if step % 2 == 0 {
            decoder.handle_input(piece);
        } else {
            decoder.input_mut().extend_from_slice(piece);
            decoder.handle_appended(piece.len());
        }
        fed += piece.len();
        assert_eq!(decoder.bytes_received(), fed as u64);
        loop {
            match decoder.poll_message() {
                Ok(Some(message)) => {
                    // Whatever parses re-encodes to a prefix of the payload (trailing bytes
                    // are ignored by the parser).
                    if let Ok(c) = ControlMessage::parse(message.type_id, &message.payload) {
                        let again = c.to_message();
                        assert_eq!(again.type_id, message.type_id);
                        assert!(message.payload.starts_with(&again.payload));
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    assert_eq!(decoder.poll_message(), Err(err));
                    assert_eq!(decoder.buffered_bytes(), 0);
                    return;
                }
            }
        }
        // Undecoded input is at most what was fed; reassembly stays within the budget.
        assert!(decoder.buffered_bytes() <= fed + BUDGET);
        while decoder.poll_ack().is_some() {}
    }
});
