//! Fuzzes both ends of the RTMP handshake (RTMP 1.0 §5.2) with arbitrary bytes in arbitrary
//! splits. Neither side may panic, consume bytes it was not given, or report completion
//! without a scheme; after completion or an error, further input must be left alone.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use openrtmp_proto::handshake::{ClientHandshake, ClientMode, ServerHandshake};

fuzz_target!(|data: &[u8]| {
    // Byte 0 picks the client mode and seeds the split sizes; the rest is the peer's stream,
    // also used as the (short, stretched) randomness.
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let mode = if control & 1 == 0 {
        ClientMode::Simple
    } else {
        ClientMode::Digest
    };
    let mut server = Server {
        hs: ServerHandshake::new(u32::from(control), stream),
        failed: false,
    };
    let mut client = Client {
        hs: ClientHandshake::new(0, stream, mode),
        failed: false,
    };
    let (mut server_in, mut client_in) = (BytesMut::new(), BytesMut::new());

    let mut rest = stream;
    let mut step = usize::from(control >> 1) + 1;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(step.min(rest.len()));
        rest = tail;
        // Split sizes vary with the data itself: 1..=1600, so both tiny reads and reads that
        // span C0+C1+C2 occur.
        step = usize::from(chunk.first().copied().unwrap_or(0)) * 6 + 1 + (step % 97);
        server.feed(&mut server_in, chunk);
        client.feed(&mut client_in, chunk);
    }
});

struct Server {
    hs: ServerHandshake,
    failed: bool,
}

impl Server {
    fn feed(&mut self, input: &mut BytesMut, chunk: &[u8]) {
        input.extend_from_slice(chunk);
        let before = input.len();
        let done = self.hs.is_complete() || self.failed;
        let result = self.hs.handle_input(input);
        assert!(input.len() <= before);
        if done {
            assert_eq!(input.len(), before, "input consumed after the end");
        }
        self.failed |= result.is_err();
        while self.hs.poll_transmit().is_some() {}
        if self.hs.is_complete() {
            assert!(self.hs.scheme().is_some() && self.hs.c2_valid().is_some());
        }
    }
}

struct Client {
    hs: ClientHandshake,
    failed: bool,
}

impl Client {
    fn feed(&mut self, input: &mut BytesMut, chunk: &[u8]) {
        input.extend_from_slice(chunk);
        let before = input.len();
        let done = self.hs.is_complete() || self.failed;
        let result = self.hs.handle_input(input);
        assert!(input.len() <= before);
        if done {
            assert_eq!(input.len(), before, "input consumed after the end");
        }
        self.failed |= result.is_err();
        while self.hs.poll_transmit().is_some() {}
        if self.hs.is_complete() {
            assert!(self.hs.scheme().is_some() && self.hs.s2_valid().is_some());
        }
    }
}
