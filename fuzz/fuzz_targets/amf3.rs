//! AMF3: decoding arbitrary bytes never panics, and whatever decodes is stable through
//! encode → decode. Values are compared through their encodings so NaN equals itself.
#![no_main]

use bytes::BytesMut;
use openrtmp_amf::{amf3, Limits};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(value) = amf3::decode(data, &limits) else {
        return;
    };
    let mut first = BytesMut::new();
    amf3::encode(&value, &mut first);
    let again = amf3::decode(&first, &limits).expect("re-encoded AMF3 must decode");
    let mut second = BytesMut::new();
    amf3::encode(&again, &mut second);
    assert_eq!(first, second, "AMF3 re-decode differs");
});
