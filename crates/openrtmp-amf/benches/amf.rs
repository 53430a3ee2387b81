//! AMF0 decode/encode throughput on the two messages every publish starts with: the
//! `connect` command and the `@setDataFrame`/`onMetaData` data message.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use openrtmp_amf::{amf0, Amf0Value, AmfObject, Limits};

/// The connect command FFmpeg sends (same fields as the golden vector in the tests).
fn connect() -> Vec<Amf0Value> {
    let object = AmfObject::from_pairs([
        ("app", Amf0Value::from("live")),
        ("flashVer", "FMLE/3.0 (compatible; Lavf59.27.100)".into()),
        ("tcUrl", "rtmp://127.0.0.1:1935/live".into()),
        ("fpad", false.into()),
        ("capabilities", 15.0.into()),
        ("audioCodecs", 4071.0.into()),
        ("videoCodecs", 252.0.into()),
        ("videoFunction", 1.0.into()),
    ]);
    vec!["connect".into(), 1.0.into(), Amf0Value::Object(object)]
}

/// `onMetaData` with the 16 fields FFmpeg's FLV muxer writes for H.264 + AAC.
fn on_metadata() -> Vec<Amf0Value> {
    let entries = AmfObject::from_pairs([
        ("duration", Amf0Value::Number(0.0)),
        ("width", 1920.0.into()),
        ("height", 1080.0.into()),
        ("videodatarate", 4882.8125.into()),
        ("framerate", 30.0.into()),
        ("videocodecid", 7.0.into()),
        ("audiodatarate", 125.0.into()),
        ("audiosamplerate", 48000.0.into()),
        ("audiosamplesize", 16.0.into()),
        ("stereo", true.into()),
        ("audiocodecid", 10.0.into()),
        ("major_brand", "isom".into()),
        ("minor_version", "512".into()),
        ("compatible_brands", "isomiso2avc1mp41".into()),
        ("encoder", "Lavf59.27.100".into()),
        ("filesize", 0.0.into()),
    ]);
    vec!["onMetaData".into(), Amf0Value::EcmaArray { count: 16, entries }]
}

fn bytes_of(values: &[Amf0Value]) -> Vec<u8> {
    let mut out = BytesMut::new();
    amf0::encode_all(values, &mut out);
    out.to_vec()
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let connect_values = connect();
    let connect_bytes = bytes_of(&connect_values);
    let metadata_bytes = bytes_of(&on_metadata());

    let mut group = c.benchmark_group("amf0");
    group.throughput(Throughput::Bytes(connect_bytes.len() as u64));
    group.bench_function("decode_connect", |b| {
        b.iter(|| amf0::decode_all(black_box(&connect_bytes), &limits))
    });
    group.bench_function("encode_connect", |b| {
        let mut out = BytesMut::with_capacity(connect_bytes.len());
        b.iter(|| {
            out.clear();
            amf0::encode_all(black_box(&connect_values), &mut out);
            black_box(out.len())
        })
    });
    group.throughput(Throughput::Bytes(metadata_bytes.len() as u64));
    group.bench_function("decode_on_metadata", |b| {
        b.iter(|| amf0::decode_all(black_box(&metadata_bytes), &limits))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
