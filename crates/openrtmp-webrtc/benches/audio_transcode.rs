//! What the Opus → AAC transcode of one WHIP stream costs: 10 s of 48 kHz stereo (Opus 20 ms
//! packets at 64k with in-band FEC, as Chrome sends) through `OpusToAac` at 128k, timed.
//! Reports figures (real-time factor, share of one core); it asserts nothing about speed.
//!
//! `cargo bench -p openrtmp-webrtc --bench audio_transcode` (release profile).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use openrtmp_webrtc::audio::{OpusToAac, DEFAULT_BITRATE_BPS};
use ropus::{Application, Bitrate, Channels, DecodeMode, Decoder, Encoder, InbandFec};

const SECONDS: usize = 10;
const SR: usize = 48_000;

/// Music-like stereo: a chord with vibrato, a decaying plucked note every 250 ms, noise.
fn signal() -> Vec<f32> {
    let mut seed = 0x2545_f491_u32;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed as f32 / u32::MAX as f32) - 0.5
    };
    (0..SECONDS * SR)
        .flat_map(|i| {
            let t = i as f32 / SR as f32;
            let tau = std::f32::consts::TAU;
            let vib = 1.0 + 0.003 * (tau * 5.0 * t).sin();
            let chord: f32 =
                [220.0, 277.2, 329.6, 440.0].iter().map(|f| (tau * f * vib * t).sin()).sum();
            let since = t % 0.25;
            let pluck = (tau * 880.0 * t).sin() * (-since * 20.0).exp();
            let n = noise();
            let l = 0.08 * chord + 0.3 * pluck + 0.02 * n;
            let r = 0.08 * chord - 0.2 * pluck + 0.02 * n;
            [l, r]
        })
        .collect()
}

fn opus_packets(pcm: &[f32]) -> Vec<Vec<u8>> {
    let mut enc = Encoder::builder(48_000, Channels::Stereo, Application::Audio)
        .bitrate(Bitrate::Bits(64_000))
        .inband_fec(InbandFec::Enabled)
        .build()
        .unwrap();
    let mut buf = vec![0u8; 4000];
    pcm.chunks_exact(960 * 2)
        .map(|frame| {
            let n = enc.encode_float(frame, &mut buf).unwrap();
            buf[..n].to_vec()
        })
        .collect()
}

fn best_of<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn report(what: &str, d: Duration) {
    let audio = SECONDS as f64;
    let s = d.as_secs_f64();
    println!(
        "{what}: {:.1} ms for {SECONDS} s of audio: real-time factor {:.4} ({:.0}x faster than real time), {:.2} % of one core per stream",
        s * 1e3,
        s / audio,
        audio / s,
        100.0 * s / audio
    );
}

fn main() {
    let pcm = signal();
    let packets = opus_packets(&pcm);
    println!(
        "{} Opus packets, {} bytes",
        packets.len(),
        packets.iter().map(Vec::len).sum::<usize>()
    );
    // Best of five; `AUDIO_BENCH_RUNS=1` for a quick look (a debug build, say).
    let runs = std::env::var("AUDIO_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);

    let full = best_of(runs, || {
        let mut t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
        let mut out = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            t.push_opus(48_000 + i as u64 * 960, p, &mut out).unwrap();
            out.clear();
        }
        t.flush(&mut out);
    });
    report("OpusToAac (decode + live AAC 128k)", full);

    let decode = best_of(runs, || {
        let mut d = Decoder::new(48_000, Channels::Stereo).unwrap();
        let mut buf = vec![0f32; 5760 * 2];
        for p in &packets {
            d.decode_float(p, &mut buf, DecodeMode::Normal).unwrap();
        }
    });
    report("  of which Opus decode (ropus)", decode);

    let whole = best_of(runs, || {
        let mut e = rusty_aac::AacEncoder::new(rusty_aac::AacEncoderConfig::default());
        e.push_pcm(&pcm, 2, 48_000).unwrap();
        e.finish();
        while e.next_packet().is_ok() {}
    });
    report("  rusty_aac whole-clip encode, for comparison (multi-threaded)", whole);

    let silence = best_of(runs, || {
        let mut t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
        let mut out = Vec::new();
        t.push_silence(0, &mut out).unwrap();
        for i in 1..=SECONDS * 50 {
            t.push_silence(i as u64 * 960, &mut out).unwrap();
            out.clear();
        }
    });
    report("push_silence (no microphone)", silence);
}
