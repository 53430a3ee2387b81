//! AMF0: decoding arbitrary bytes never panics, and whatever decodes is stable through
//! encode → decode. Values are compared through their encodings so NaN equals itself.
#![no_main]

use bytes::BytesMut;
use openrtmp_amf::{amf0, Limits};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(values) = amf0::decode_all(data, &limits) else {
        return;
    };
    let mut first = BytesMut::new();
    amf0::encode_all(&values, &mut first);
    let again = amf0::decode_all(&first, &limits).expect("re-encoded AMF0 must decode");
    let mut second = BytesMut::new();
    amf0::encode_all(&again, &mut second);
    assert_eq!(first, second, "AMF0 re-decode differs");
});
