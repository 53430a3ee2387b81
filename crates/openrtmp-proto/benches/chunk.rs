//! Chunk codec throughput on a realistic media mix: 10 s of 30 fps video (a 60 KB keyframe
//! every 2 s, 4-20 KB inter frames) and AAC audio (300 B every 23 ms), at chunk sizes 128 and
//! 4096. Throughput is counted in bytes on the wire (headers included).
//!
//! `cargo bench -p openrtmp-proto --bench chunk -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use openrtmp_proto::chunk::{ChunkDecoder, ChunkEncoder, ChunkOutput, DecoderLimits};
use openrtmp_proto::control::ControlMessage;
use openrtmp_proto::message::csid;
use openrtmp_proto::{Message, MessageType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Bytes handed to the decoder per `handle_input`, like one socket read.
const READ_SIZE: usize = 64 * 1024;

fn media_mix() -> Vec<Message> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut payload = |len: usize| {
        let mut v = vec![0u8; len];
        rng.fill(&mut v[..]);
        Bytes::from(v)
    };
    let mut video: Vec<Message> = (0..300u32)
        .map(|i| {
            let len = if i % 60 == 0 { 60_000 } else { 4_000 + (i as usize * 7919) % 16_000 };
            Message {
                csid: csid::VIDEO,
                timestamp: i * 1000 / 30,
                type_id: MessageType::VIDEO,
                stream_id: 1,
                payload: payload(len),
            }
        })
        .collect();
    let audio = (0..435u32).map(|i| Message {
        csid: csid::AUDIO,
        timestamp: i * 23,
        type_id: MessageType::AUDIO,
        stream_id: 1,
        payload: payload(300),
    });
    video.extend(audio);
    video.sort_by_key(|m| m.timestamp);
    video
}

/// The mix as sent at `chunk_size`, preceded by the Set Chunk Size message announcing it.
fn encode(messages: &[Message], chunk_size: u32) -> Vec<u8> {
    let mut encoder = ChunkEncoder::new();
    let mut out = ChunkOutput::new();
    encoder.write_message(&ControlMessage::SetChunkSize(chunk_size).to_message(), &mut out);
    for m in messages {
        encoder.write_message(m, &mut out);
    }
    out.to_vec()
}

fn bench(c: &mut Criterion) {
    let messages = media_mix();
    for chunk_size in [128u32, 4096] {
        let wire = encode(&messages, chunk_size);
        let mut group = c.benchmark_group(format!("chunk_{chunk_size}"));
        group.throughput(Throughput::Bytes(wire.len() as u64));

        group.bench_function(BenchmarkId::new("decode", chunk_size), |b| {
            b.iter(|| {
                let mut decoder = ChunkDecoder::new(DecoderLimits::default());
                let mut count = 0usize;
                for piece in wire.chunks(READ_SIZE) {
                    decoder.handle_input(piece);
                    while let Ok(Some(m)) = decoder.poll_message() {
                        count += black_box(m).payload.len();
                    }
                }
                count
            })
        });

        group.bench_function(BenchmarkId::new("encode", chunk_size), |b| {
            let mut encoder = ChunkEncoder::new();
            let mut out = ChunkOutput::new();
            let announce = ControlMessage::SetChunkSize(chunk_size).to_message();
            b.iter(|| {
                encoder.write_message(&announce, &mut out);
                let mut written = 0usize;
                for m in &messages {
                    encoder.write_message(m, &mut out);
                    // As if written with write_vectored: the queue drains after each message.
                    written += black_box(out.segment_count());
                    out.advance(out.len());
                }
                written
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
