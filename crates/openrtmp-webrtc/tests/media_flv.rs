//! End to end for the media assembly: an FFmpeg-made H.264 clip (Annex B with AUDs) and an
//! Opus clip (Ogg), fed as WebRTC would deliver them (RTP clocks with random offsets,
//! arrival jitter, sender reports from 0.5 s on), come out as FLV tags that FFmpeg reads as
//! H.264 + AAC (or, without `transcode`, Enhanced RTMP Opus) with audio and video starting
//! together.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use openrtmp_media::{FlvHeader, FlvTag, FlvWriter, TagType};
use openrtmp_testkit::{ffmpeg, run_ffmpeg, webrtc_clip, TempDir};
use openrtmp_webrtc::client::clip::{annexb_access_units, ogg_opus_packets};
use openrtmp_webrtc::media::{MediaAssembler, MediaConfig, Tag, TagKind};
use openrtmp_webrtc::{RtpFrame, SenderReport};

const SECONDS: f64 = 3.0;

/// Runs the clip through a MediaAssembler as WebRTC would deliver it.
fn assemble(aus: &[Vec<u8>], opus: &[Vec<u8>], config: MediaConfig) -> (Vec<Tag>, MediaAssembler) {
    const V0: u64 = 2_900_000_000;
    const A0: u64 = 77_777;
    let start = Instant::now();
    let ntp0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    // (arrival seconds, is video, index)
    let mut events: Vec<(f64, bool, usize)> = Vec::new();
    for i in 0..aus.len() {
        let jitter = (i * 7 % 11) as f64 / 1000.0;
        events.push((i as f64 / 30.0 + 0.030 + jitter, true, i));
    }
    for k in 0..opus.len() {
        // Audio travels 25 ms longer: the reports, not arrival, must decide sync.
        let jitter = (k * 5 % 13) as f64 / 1000.0;
        events.push((k as f64 * 0.020 + 0.055 + jitter, false, k));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut asm = MediaAssembler::new(config).unwrap();
    let mut out = Vec::new();
    for (arrival, video, i) in events {
        let captured = if video { i as f64 / 30.0 } else { i as f64 * 0.020 };
        let (rtp, rate) =
            if video { (V0 + i as u64 * 3000, 90_000) } else { (A0 + i as u64 * 960, 48_000) };
        let report = (arrival >= 0.5).then(|| SenderReport {
            ntp_time: ntp0 + Duration::from_secs_f64(captured),
            rtp_time: rtp,
        });
        let frame = RtpFrame {
            rtp_time: rtp,
            clock_rate: rate,
            arrival: start + Duration::from_secs_f64(arrival),
            sender_report: report,
            contiguous: true,
            data: Bytes::from(if video { aus[i].clone() } else { opus[i].clone() }),
        };
        if video {
            asm.push_video(frame, &mut out);
        } else {
            asm.push_audio(frame, &mut out);
        }
    }
    (out, asm)
}

fn write_flv(tags: &[Tag], path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = FlvWriter::new(file, &FlvHeader::new(true, true)).unwrap();
    for t in tags {
        let tag_type = match t.kind {
            TagKind::Audio => TagType::AUDIO,
            TagKind::Video => TagType::VIDEO,
        };
        w.write_tag(&FlvTag { tag_type, timestamp: t.timestamp, data: t.body.clone() }).unwrap();
    }
    w.flush().unwrap();
}

/// Makes the clips; `None` when FFmpeg is missing (skipped locally, a failure in CI).
/// Access units (Annex B) and Opus packets.
type Clips = (Vec<Vec<u8>>, Vec<Vec<u8>>);

fn clips(dir: &TempDir) -> Option<Clips> {
    let ffmpeg = ffmpeg()?;
    let (v, a) = webrtc_clip(&ffmpeg, &dir.0, "320x240", SECONDS as u32).unwrap();
    let aus: Vec<Vec<u8>> = annexb_access_units(Bytes::from(std::fs::read(v).unwrap()))
        .iter()
        .map(|au| au.to_vec())
        .collect();
    let opus: Vec<Vec<u8>> = ogg_opus_packets(&std::fs::read(a).unwrap())
        .unwrap()
        .into_iter()
        .map(|(_, p)| p.to_vec())
        .collect();
    assert_eq!(aus.len(), 90);
    assert!(opus.len() >= 149, "{} Opus packets", opus.len());
    Some((aus, opus))
}

#[cfg(feature = "transcode")]
#[test]
fn clip_becomes_h264_and_aac_in_sync() {
    let dir = TempDir::new("webrtc-media");
    let Some((aus, opus)) = clips(&dir) else { return };
    let (tags, asm) = assemble(&aus, &opus, MediaConfig::default());
    assert!(asm.synced());
    let stats = asm.stats();
    assert_eq!(stats.video_frames, 90);
    assert!(!stats.silence);
    // After the reports (0.5 s), audio and video of the same capture instant share a
    // timestamp: the k-th AAC frame starts at capture k * 1024 / 48000 s, video frame i at
    // i / 30 s. Their offsets from the capture time must agree.
    let offset = |kind, per_frame_ms: f64| {
        let frames: Vec<&Tag> = tags.iter().filter(|t| t.kind == kind).skip(1).collect();
        let last = frames.len() - 1;
        f64::from(frames[last].timestamp) - last as f64 * per_frame_ms
    };
    let (v_off, a_off) =
        (offset(TagKind::Video, 1000.0 / 30.0), offset(TagKind::Audio, 1024.0 / 48.0));
    eprintln!("A/V offset at the end: video {v_off:.1} ms, audio {a_off:.1} ms");
    assert!((v_off - a_off).abs() <= 30.0, "video {v_off} audio {a_off}");
    let flv = dir.path("out.flv");
    write_flv(&tags, &flv);
    let Some(starts) = start_times(&flv) else { return };
    eprintln!("ffprobe start times: {starts:?}; stats: {stats:?}");
    let (v, a) = (starts["h264"], starts["aac"]);
    assert!((v - a).abs() <= 0.100, "video starts at {v}, audio at {a}");
    // Every frame decodes.
    let errors = run_ffmpeg(
        &openrtmp_testkit::ffmpeg().unwrap(),
        &["-v", "error", "-i", flv.to_str().unwrap(), "-f", "null", "-"],
    )
    .unwrap();
    assert!(errors.trim().is_empty(), "decode errors: {errors}");
}

/// ffprobe's start time per codec name; `None` without ffprobe (skipped locally).
#[cfg(feature = "transcode")]
fn start_times(flv: &Path) -> Option<std::collections::HashMap<String, f64>> {
    let ffprobe = openrtmp_testkit::require("ffprobe", None)?;
    let out = std::process::Command::new(ffprobe)
        .args(["-v", "error", "-show_entries", "stream=codec_name,start_time", "-of", "csv=p=0"])
        .arg(flv)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut starts = std::collections::HashMap::new();
    for line in text.lines() {
        let (codec, start) = line.split_once(',').unwrap();
        starts.insert(codec.to_owned(), start.parse::<f64>().unwrap());
    }
    Some(starts)
}

/// No microphone (no audio m-line): the stream still has AAC, silent, following the video.
#[cfg(feature = "transcode")]
#[test]
fn video_only_session_gets_silent_aac() {
    let dir = TempDir::new("webrtc-media-silence");
    let Some((aus, _)) = clips(&dir) else { return };
    let config = MediaConfig { audio_expected: false, ..MediaConfig::default() };
    let (tags, asm) = assemble(&aus, &[], config);
    assert!(asm.stats().silence);
    let flv = dir.path("silent.flv");
    write_flv(&tags, &flv);
    let Some(starts) = start_times(&flv) else { return };
    eprintln!("ffprobe start times: {starts:?}; stats: {:?}", asm.stats());
    let (v, a) = (starts["h264"], starts["aac"]);
    assert!((v - a).abs() <= 0.100, "video starts at {v}, audio at {a}");
    let audio = tags.iter().filter(|t| t.kind == TagKind::Audio).count();
    // 3 s of video: about 140 AAC frames, less the encoder's latency.
    assert!(audio > 100, "{audio} audio tags");
}

#[cfg(not(feature = "transcode"))]
#[test]
fn clip_becomes_h264_and_enhanced_rtmp_opus() {
    let dir = TempDir::new("webrtc-media-opus");
    let Some((aus, opus)) = clips(&dir) else { return };
    let (tags, asm) = assemble(&aus, &opus, MediaConfig::default());
    assert!(asm.synced());
    let flv = dir.path("out.flv");
    write_flv(&tags, &flv);
    // Debian's FFmpeg 5.1 does not read Enhanced RTMP audio: the current FFmpeg does.
    let Some(current) = openrtmp_testkit::ffmpeg_current() else { return };
    assert_eq!(openrtmp_testkit::stream_codecs(&current, &flv), vec!["h264", "opus"]);
    let errors =
        run_ffmpeg(&current, &["-v", "error", "-i", flv.to_str().unwrap(), "-f", "null", "-"])
            .unwrap();
    assert!(errors.trim().is_empty(), "decode errors: {errors}");
    let first = |kind| tags.iter().find(|t| t.kind == kind).map(|t| t.timestamp).unwrap();
    assert!(first(TagKind::Audio).abs_diff(first(TagKind::Video)) <= 100);
}
