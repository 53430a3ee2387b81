//! The fragmented-MP4 muxer against real files: FFmpeg fixtures (H.264+AAC from Debian's
//! FFmpeg; HEVC+Opus, AV1+AAC, VP9+Opus from FFmpeg 9 over Enhanced FLV) fed tag by tag as
//! a recorder would, the MP4 checked with Debian's ffprobe (codecs, duration, frame count)
//! and decoded whole with FFmpeg; then cut short (a crash) and with a fragment duration.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mp4_atom::{Decode, Moof};
use openrtmp_media::TagType;
use openrtmp_record::fmp4::Fmp4Muxer;
use openrtmp_record::{Message, Muxer};
use openrtmp_testkit::{ffmpeg, ffmpeg_current, read_tags, require, run_ffmpeg, Fixture, TempDir};

/// A muxed file and where each output pushed before `finish` ended (fragment boundaries).
struct Muxed {
    file: Vec<u8>,
    /// File length after each non-empty output: the init segment, then each fragment.
    boundaries: Vec<usize>,
}

fn mux(fixture: &Path, fragment_duration: Option<Duration>) -> Muxed {
    let mut m = Fmp4Muxer::new(fragment_duration);
    let mut file = Vec::new();
    let mut boundaries = Vec::new();
    for tag in read_tags(fixture) {
        let msg = Message { kind: tag.tag_type, timestamp: tag.timestamp, payload: tag.data };
        let mut out = Vec::new();
        m.push(&msg, &mut out).unwrap_or_else(|e| panic!("push at {}: {e}", msg.timestamp));
        if !out.is_empty() {
            file.extend(out.iter().flat_map(|b| b.iter().copied()));
            boundaries.push(file.len());
        }
    }
    let mut out = Vec::new();
    let patches = m.finish(&mut out);
    file.extend(out.iter().flat_map(|b| b.iter().copied()));
    boundaries.push(file.len());
    assert!(!patches.is_empty(), "a finished file gets its durations");
    for p in patches {
        let at = p.offset as usize;
        file[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
    }
    Muxed { file, boundaries }
}

/// The source's video frame count and duration (ms): from its first frame to the end of
/// its last (last timestamp plus the last delta) of either kind.
fn source(fixture: &Path) -> (usize, f64) {
    let tags: Vec<_> = read_tags(fixture).into_iter().filter(openrtmp_testkit::is_frame).collect();
    let frames = tags.iter().filter(|t| t.tag_type == TagType::VIDEO).count();
    let first = tags.iter().map(|t| t.timestamp).min().unwrap_or(0);
    let end = |kind| {
        let ts: Vec<u32> =
            tags.iter().filter(|t| t.tag_type == kind).map(|t| t.timestamp).collect();
        match ts.as_slice() {
            [.., prev, last] => last + (last - prev),
            _ => 0,
        }
    };
    (frames, f64::from(end(TagType::VIDEO).max(end(TagType::AUDIO)) - first))
}

/// What `ffprobe -count_frames` says: stream codec names, video frames, duration.
struct Probe {
    codecs: Vec<String>,
    video_frames: Option<usize>,
    duration_ms: f64,
}

fn ffprobe() -> Option<PathBuf> {
    require("ffprobe", None)
}

fn probe(ffprobe: &Path, file: &Path) -> Probe {
    let out = Command::new(ffprobe)
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .arg("stream=codec_name,codec_type,nb_read_frames:format=duration")
        .args(["-of", "default=nw=1"])
        .arg(file)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut p = Probe { codecs: Vec::new(), video_frames: None, duration_ms: 0.0 };
    let mut kind = String::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        match k {
            "codec_name" => p.codecs.push(v.to_owned()),
            "codec_type" => kind = v.to_owned(),
            "nb_read_frames" if kind == "video" => p.video_frames = v.parse().ok(),
            "duration" => p.duration_ms = v.parse::<f64>().unwrap_or(0.0) * 1000.0,
            _ => {}
        }
    }
    p
}

/// Video samples per fragment (track 1), read back from the moofs after the init segment.
fn video_samples_per_fragment(m: &Muxed) -> Vec<usize> {
    m.boundaries
        .windows(2)
        .map(|w| {
            let moof = Moof::decode(&mut &m.file[w[0]..w[1]]).expect("moof");
            moof.traf
                .iter()
                .filter(|t| t.tfhd.track_id == 1)
                .flat_map(|t| &t.trun)
                .map(|r| r.samples.len())
                .sum()
        })
        .collect()
}

fn check(fixture: Fixture, decoder: &Path, codecs: &[&str], name: &str) {
    let Some(ffprobe) = ffprobe() else { return };
    let src = fixture.path(decoder);
    let dir = TempDir::new(&format!("fmp4-{name}"));
    let m = mux(&src, None);
    let out = dir.path(&format!("{name}.mp4"));
    std::fs::write(&out, &m.file).unwrap();

    let p = probe(&ffprobe, &out);
    assert_eq!(p.codecs, codecs, "{name}: codecs");
    let (frames, duration) = source(&src);
    assert_eq!(p.video_frames, Some(frames), "{name}: video frames");
    let off = (p.duration_ms - duration).abs() / duration;
    assert!(off < 0.01, "{name}: duration {} ms, source {duration} ms", p.duration_ms);
    // One fragment per GOP (a keyframe each second).
    let per = video_samples_per_fragment(&m);
    assert_eq!(per.iter().sum::<usize>(), frames, "{name}: {per:?}");
    assert!(per.iter().all(|&n| n == 25 || n == frames % 25), "{name}: {per:?}");

    let out = out.display().to_string();
    for ff in [decoder.to_path_buf(), PathBuf::from("ffmpeg")] {
        let log = run_ffmpeg(&ff, &["-v", "error", "-i", &out, "-f", "null", "-"])
            .unwrap_or_else(|e| panic!("{name}: decode failed: {e}"));
        assert!(log.trim().is_empty(), "{name}: decode errors from {}: {log}", ff.display());
    }
}

#[test]
fn h264_aac_from_debian_ffmpeg() {
    let Some(ff) = ffmpeg() else { return };
    check(Fixture::H264Aac { seconds: 4 }, &ff, &["h264", "aac"], "h264_aac");
}

#[test]
fn hevc_opus_from_enhanced_rtmp() {
    let Some(ff) = ffmpeg_current() else { return };
    check(Fixture::HevcOpus { seconds: 2 }, &ff, &["hevc", "opus"], "hevc_opus");
}

#[test]
fn av1_aac_from_enhanced_rtmp() {
    let Some(ff) = ffmpeg_current() else { return };
    check(Fixture::Av1Aac { seconds: 2 }, &ff, &["av1", "aac"], "av1_aac");
}

#[test]
fn vp9_opus_from_enhanced_rtmp() {
    let Some(ff) = ffmpeg_current() else { return };
    check(Fixture::Vp9Opus { seconds: 2 }, &ff, &["vp9", "opus"], "vp9_opus");
}

/// A crash: the file as the writer left it (no `finish`, no patch), cut inside a later
/// fragment. Cut inside the `moof`, it plays exactly the frames of the complete
/// fragments; cut inside the `mdat`, FFmpeg also plays the frames of the partial fragment
/// whose bytes are there, never fewer than the complete fragments' and never an error
/// that stops it.
#[test]
fn truncated_file_plays_its_complete_fragments() {
    let (Some(ff), Some(ffprobe)) = (ffmpeg(), ffprobe()) else { return };
    let src = Fixture::H264Aac { seconds: 4 }.path(&ff);
    let m = mux(&src, None);
    let per = video_samples_per_fragment(&m);
    assert!(per.len() >= 4, "{per:?}");
    let dir = TempDir::new("fmp4-crash");
    for k in 2..per.len() {
        let (start, end) = (m.boundaries[k], m.boundaries[k + 1]);
        let complete: usize = per[..k].iter().sum();
        // Inside the moof, in the middle of the mdat, one byte short of the end.
        for (i, cut) in [start + 20, start + (end - start) / 2, end - 1].into_iter().enumerate() {
            let out = dir.path(&format!("cut{cut}.mp4"));
            std::fs::write(&out, &m.file[..cut]).unwrap();
            let frames = probe(&ffprobe, &out).video_frames.unwrap_or(0);
            let why = format!("cut at {cut} in fragment {k} ({per:?}): {frames} frames");
            if i == 0 {
                assert_eq!(frames, complete, "{why}");
            } else {
                assert!((complete..=complete + per[k]).contains(&frames), "{why}");
            }
            let out = out.display().to_string();
            run_ffmpeg(&ff, &["-v", "error", "-i", &out, "-f", "null", "-"])
                .unwrap_or_else(|e| panic!("{why}: {e}"));
        }
    }
}

/// With a fragment duration of 2 s and a keyframe each second, fragments hold two GOPs,
/// each starting at a keyframe.
#[test]
fn fragment_duration_groups_gops() {
    let Some(ff) = ffmpeg() else { return };
    let src = Fixture::H264Aac { seconds: 4 }.path(&ff);
    let m = mux(&src, Some(Duration::from_secs(2)));
    let per = video_samples_per_fragment(&m);
    assert_eq!(per, [50, 50], "{per:?}");
    for w in m.boundaries.windows(2) {
        let moof = Moof::decode(&mut &m.file[w[0]..w[1]]).expect("moof");
        let first = moof.traf[0].trun[0].samples.get(0).and_then(|s| s.flags);
        assert_eq!(first, Some(0x0200_0000), "each fragment starts with a sync sample");
    }
}
