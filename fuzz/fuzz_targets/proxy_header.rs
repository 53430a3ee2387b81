//! Fuzzes the PROXY protocol header decoder (v1 and v2) with arbitrary bytes: it must not
//! panic; a complete header lies within the input and the size bound; reading as a server
//! does (exactly what the decoder asks for, prefix by prefix) never reads past the header
//! and reaches the same outcome as the whole input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrtmp_proto::proxy_header::{decode, Decoded, MAX_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let whole = decode(data);
    if let Ok(Decoded::Complete { len, .. }) = whole {
        assert!(len <= data.len() && len <= MAX_HEADER_LEN);
    }
    let mut have = 0;
    let stepped = loop {
        match decode(&data[..have]) {
            Ok(Decoded::Incomplete { needed }) => {
                assert!(needed >= 1);
                if have + needed > data.len() {
                    // The input ends inside the header: so must the whole's outcome.
                    assert!(matches!(whole, Ok(Decoded::Incomplete { .. })), "{whole:?}");
                    return;
                }
                have += needed;
            }
            other => break other,
        }
    };
    assert_eq!(stepped, whole);
});
