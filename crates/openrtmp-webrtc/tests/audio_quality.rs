//! Opus → AAC quality and timing, judged by FFmpeg: tones and a sweep are encoded to Opus
//! by FFmpeg's libopus (64k mono as Chrome sends a microphone, 64k and 128k stereo), go through `OpusToAac` at 128k,
//! are wrapped as ADTS and decoded by FFmpeg.
//!
//! * Tones: SINAD by a least-squares sine fit (as in the issue 15 research), printed, with
//!   a loose floor (this judges correctness, not encoder excellence) and the level within
//!   1 dB of the source.
//! * Sweep: the AAC output against the FFmpeg-decoded Opus it came from, at the lag the
//!   timeline promises: SNR printed and floored.
//! * Timing: a click comes out of the AAC within 1 ms of where it went in (A/V sync rests
//!   on this); it also pins the encoder delay.
#![cfg(feature = "transcode")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;

use openrtmp_testkit::{ffmpeg, run_ffmpeg, TempDir};
use openrtmp_webrtc::audio::{AacFrame, OpusToAac, DEFAULT_BITRATE_BPS};
use openrtmp_webrtc::client::clip::ogg_opus_packets;

const SR: usize = 48_000;
/// Where the Opus timeline starts (48 kHz samples): not 0, so the priming frame is kept.
const ORIGIN: u64 = 480_000;
/// libopus's pre-skip (RFC 7845 §4.2) for 48 kHz: the Ogg packets decode to it plus the
/// source, and FFmpeg's decode of the Ogg trims it.
const PRE_SKIP: usize = 312;
const AMPLITUDE: f32 = 0.5;
const SECONDS: usize = 3;

fn write_f32(path: &Path, interleaved: &[f32]) {
    let bytes: Vec<u8> = interleaved.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// Left channel of an interleaved stereo f32le file.
fn read_left(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    bytes.chunks_exact(8).map(|c| f32::from_le_bytes(c[..4].try_into().unwrap())).collect()
}

fn stereo(mono: &[f32]) -> Vec<f32> {
    mono.iter().flat_map(|s| [*s, *s]).collect()
}

fn tone(freq: f64) -> Vec<f32> {
    (0..SECONDS * SR)
        .map(|i| {
            AMPLITUDE * (2.0 * std::f64::consts::PI * freq * i as f64 / SR as f64).sin() as f32
        })
        .collect()
}

/// Logarithmic sweep 100 Hz → 12 kHz.
fn sweep() -> Vec<f32> {
    let (f0, f1, d) = (100.0f64, 12_000.0f64, SECONDS as f64);
    let k = (f1 / f0).ln();
    (0..SECONDS * SR)
        .map(|i| {
            let t = i as f64 / SR as f64;
            let phase = 2.0 * std::f64::consts::PI * f0 * d / k * ((t * k / d).exp() - 1.0);
            AMPLITUDE * phase.sin() as f32
        })
        .collect()
}

/// Silence with a 4-sample click at `at`.
fn click(at: usize) -> Vec<f32> {
    let mut v = vec![0.0; SECONDS * SR];
    for s in &mut v[at..at + 4] {
        *s = 0.9;
    }
    v
}

fn adts(frames: &[AacFrame]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        out.extend(rusty_aac::write_adts_header(&rusty_aac::AdtsHeader {
            object_type: 2,
            sample_rate: 48_000,
            channels: 2,
            frame_length: 7 + f.data.len(),
            header_len: 7,
        }));
        out.extend_from_slice(&f.data);
    }
    out
}

struct Run {
    /// The AAC decoded by FFmpeg; index 0 is at `first_pts`.
    aac: Vec<f32>,
    first_pts: u64,
    /// The Opus decoded (left channel, pre-skip trimmed: index 0 is source sample 0).
    opus: Vec<f32>,
    /// The Opus decoded by ropus, interleaved stereo, as `OpusToAac` sees it (pre-skip
    /// included: index 0 is source sample −312).
    pcm: Vec<f32>,
}

impl Run {
    /// The AAC sample that carries source sample `s` per the timeline: the Opus packets
    /// decode to the pre-skip then the source, from `ORIGIN` on.
    fn aac_index(&self, s: usize) -> usize {
        (ORIGIN + (PRE_SKIP + s) as u64 - self.first_pts) as usize
    }
}

/// Source → FFmpeg libopus → `OpusToAac` → ADTS → FFmpeg decode.
/// How FFmpeg encodes the Opus: bitrate and channels. Chrome sends mono Opus packets for a
/// microphone (signalled `opus/48000/2`); stereo packets of a mono source decode to slightly
/// different channels, which costs the AAC encoder bits.
type OpusSetting = (u32, u32);
const MONO_64K: OpusSetting = (64_000, 1);
const STEREO_64K: OpusSetting = (64_000, 2);
const STEREO_128K: OpusSetting = (128_000, 2);

fn run(
    ff: &Path,
    fx: &TempDir,
    name: &str,
    source: &[f32],
    (opus_bps, channels): OpusSetting,
) -> Run {
    let src = fx.path(&format!("{name}.f32"));
    // The source in the Opus channel count (no FFmpeg remix, which changes the level).
    write_f32(&src, &if channels == 1 { source.to_vec() } else { stereo(source) });
    let name = format!("{name}-{opus_bps}-{channels}");
    let ogg = fx.path(&format!("{name}.ogg"));
    let (src_s, ogg_s) = (src.to_str().unwrap(), ogg.to_str().unwrap());
    let (b, ac) = (format!("{opus_bps}"), format!("{channels}"));
    run_ffmpeg(
        ff,
        &[
            "-y",
            "-f",
            "f32le",
            "-ar",
            "48000",
            "-ac",
            &ac,
            "-i",
            src_s,
            "-c:a",
            "libopus",
            "-b:a",
            &b,
            "-frame_duration",
            "20",
            ogg_s,
        ],
    )
    .unwrap();
    let mut t = OpusToAac::new(DEFAULT_BITRATE_BPS).unwrap();
    let mut frames = Vec::new();
    let mut decoder = ropus::Decoder::new(48_000, ropus::Channels::Stereo).unwrap();
    let (mut pcm, mut buf) = (Vec::new(), vec![0f32; 5760 * 2]);
    for (i, (_, p)) in ogg_opus_packets(&std::fs::read(&ogg).unwrap()).unwrap().iter().enumerate() {
        t.push_opus(ORIGIN + i as u64 * 960, p, &mut frames).unwrap();
        let n = decoder.decode_float(p, &mut buf, ropus::DecodeMode::Normal).unwrap();
        pcm.extend_from_slice(&buf[..n * 2]);
    }
    t.flush(&mut frames);
    assert_eq!(t.stats().undecodable, 0);
    let aac = fx.path(&format!("{name}.aac"));
    std::fs::write(&aac, adts(&frames)).unwrap();
    let dec = fx.path(&format!("{name}.aac.f32"));
    run_ffmpeg(
        ff,
        &["-y", "-i", aac.to_str().unwrap(), "-f", "f32le", "-ac", "2", dec.to_str().unwrap()],
    )
    .unwrap();
    // The Opus reference: ropus's left channel (libopus upmixes mono by copying), pre-skip
    // trimmed so index 0 is source sample 0.
    let opus = pcm.iter().step_by(2).skip(PRE_SKIP).copied().collect();
    Run { aac: read_left(&dec), first_pts: frames[0].pts, opus, pcm }
}

/// SINAD (dB) and amplitude of the best fit `A·sin + B·cos` at `freq`, over `x`.
fn sinad(x: &[f32], freq: f64) -> (f64, f64) {
    let w = 2.0 * std::f64::consts::PI * freq / SR as f64;
    let (mut ss, mut cc, mut sc, mut xs, mut xc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let (s, c, v) = ((w * i as f64).sin(), (w * i as f64).cos(), f64::from(v));
        ss += s * s;
        cc += c * c;
        sc += s * c;
        xs += v * s;
        xc += v * c;
    }
    let det = ss * cc - sc * sc;
    let (a, b) = ((xs * cc - xc * sc) / det, (xc * ss - xs * sc) / det);
    let (mut sig, mut res) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let fit = a * (w * i as f64).sin() + b * (w * i as f64).cos();
        sig += fit * fit;
        res += (f64::from(v) - fit).powi(2);
    }
    (10.0 * (sig / res.max(1e-20)).log10(), a.hypot(b))
}

/// The reference the live encoder is held to: `rusty_aac` encoding the whole (Opus-decoded)
/// clip at once (the same PCM `OpusToAac` decoded), decoded by FFmpeg; index `k` is
/// `pcm` sample `k − 1024`.
fn whole_clip_aac(ff: &Path, fx: &TempDir, name: &str, pcm: &[f32]) -> Vec<f32> {
    let mut enc = rusty_aac::AacEncoder::new(rusty_aac::AacEncoderConfig {
        bitrate_bps: DEFAULT_BITRATE_BPS,
        ..Default::default()
    });
    enc.push_pcm(pcm, 2, 48_000).unwrap();
    enc.finish();
    let mut frames = Vec::new();
    while let Ok(p) = enc.next_packet() {
        frames.push(AacFrame { pts: 0, data: p.data.into() });
    }
    let aac = fx.path(&format!("{name}-whole.aac"));
    let dec = fx.path(&format!("{name}-whole.f32"));
    std::fs::write(&aac, adts(&frames)).unwrap();
    run_ffmpeg(
        ff,
        &["-y", "-i", aac.to_str().unwrap(), "-f", "f32le", "-ac", "2", dec.to_str().unwrap()],
    )
    .unwrap();
    read_left(&dec)
}

fn ffmpeg_or_skip() -> Option<std::path::PathBuf> {
    ffmpeg()
}

#[test]
fn tones_keep_their_level_and_a_sane_sinad() {
    let Some(ff) = ffmpeg_or_skip() else { return };
    let fx = TempDir::new("audio_quality_tones");
    for setting in [MONO_64K, STEREO_64K, STEREO_128K] {
        let (opus_bps, ch) = setting;
        for freq in [440.0, 1000.0, 5000.0] {
            let r = run(&ff, &fx, &format!("tone{freq}"), &tone(freq), setting);
            // The middle of the signal: 0.5 s off each end.
            let (from, to) = (r.aac_index(SR / 2), r.aac_index(SECONDS * SR - SR / 2));
            let (aac_db, aac_amp) = sinad(&r.aac[from..to], freq);
            let (opus_db, _) = sinad(&r.opus[SR / 2..SECONDS * SR - SR / 2], freq);
            let level = 20.0 * (aac_amp / f64::from(AMPLITUDE)).log10();
            let whole = whole_clip_aac(&ff, &fx, &format!("tone{freq}-{opus_bps}-{ch}"), &r.pcm);
            let delay = PRE_SKIP + 1024;
            let (whole_db, _) = sinad(&whole[SR / 2 + delay..SECONDS * SR - SR / 2 + delay], freq);
            println!("tone {freq} Hz, Opus {opus_bps} {ch} ch: SINAD Opus {opus_db:.1} dB, after AAC 128k {aac_db:.1} dB (rusty_aac whole-clip on the same PCM {whole_db:.1} dB), level {level:+.2} dB");
            // The live windowing must not cost quality against the encoder it wraps.
            assert!(
                aac_db > whole_db - 1.5,
                "{freq} Hz: live {aac_db:.1} dB, whole clip {whole_db:.1} dB"
            );
            assert!(aac_db > 15.0, "{freq} Hz at Opus {opus_bps}: SINAD {aac_db:.1} dB");
            assert!(level.abs() < 1.0, "{freq} Hz at Opus {opus_bps}: level {level:+.2} dB");
        }
    }
}

#[test]
fn a_sweep_matches_the_opus_it_came_from_at_the_promised_lag() {
    let Some(ff) = ffmpeg_or_skip() else { return };
    let fx = TempDir::new("audio_quality_sweep");
    for setting in [MONO_64K, STEREO_128K] {
        let (opus_bps, ch) = setting;
        let r = run(&ff, &fx, "sweep", &sweep(), setting);
        let (from, to) = (SR / 2, SECONDS * SR - SR / 2);
        let lag = r.aac_index(0) as i64;
        let snr_at = |l: i64| {
            let (mut sig, mut err) = (0.0f64, 0.0f64);
            for s in from..to {
                let (o, a) = (f64::from(r.opus[s]), f64::from(r.aac[(s as i64 + l) as usize]));
                sig += o * o;
                err += (a - o).powi(2);
            }
            10.0 * (sig / err.max(1e-20)).log10()
        };
        let best = (lag - 48..=lag + 48).max_by(|a, b| snr_at(*a).total_cmp(&snr_at(*b))).unwrap();
        let snr = snr_at(lag);
        // Energy envelope: 50 ms windows within 3 dB of the Opus source's.
        let win = SR / 20;
        let mut worst = 0.0f64;
        for w in (from..to - win).step_by(win) {
            let e = |f: &dyn Fn(usize) -> f32| {
                (w..w + win).map(|s| f64::from(f(s)).powi(2)).sum::<f64>()
            };
            let (eo, ea) = (e(&|s| r.opus[s]), e(&|s| r.aac[(s as i64 + lag) as usize]));
            worst = worst.max((10.0 * (ea / eo).log10()).abs());
        }
        println!("sweep, Opus {opus_bps} {ch} ch: SNR of the AAC against the Opus {snr:.1} dB at the promised lag, best lag {:+} samples from it, worst 50 ms energy difference {worst:.2} dB", best - lag);
        assert!(snr > 10.0, "sweep SNR {snr:.1} dB");
        assert!((best - lag).abs() <= 48, "best lag {} samples off", best - lag);
        assert!(worst < 3.0, "energy envelope off by {worst:.2} dB");
    }
}

#[test]
fn a_click_comes_out_within_a_millisecond_of_its_time() {
    let Some(ff) = ffmpeg_or_skip() else { return };
    let fx = TempDir::new("audio_quality_click");
    let at = SR + 333;
    for setting in [MONO_64K, STEREO_128K] {
        let (opus_bps, ch) = setting;
        let r = run(&ff, &fx, "click", &click(at), setting);
        let peak = |x: &[f32]| {
            x.iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .map(|(i, _)| i)
                .unwrap()
        };
        let in_opus = peak(&r.opus) as i64 - at as i64;
        let in_aac = peak(&r.aac) as i64 - r.aac_index(at) as i64;
        println!("click, Opus {opus_bps} {ch} ch: Opus decode {in_opus:+} samples from the source, AAC {in_aac:+} samples from its promised pts (1 ms = 48)");
        assert!(in_aac.abs() <= 48, "click {in_aac:+} samples off");
    }
}
