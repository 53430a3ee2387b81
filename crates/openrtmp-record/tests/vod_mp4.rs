//! Mp4Source against real files: fragmented (and plain) MP4 made by FFmpeg from the
//! testkit's FLV fixtures is read back, written as FLV and checked against the fixture
//! (same frames, byte for byte), against FFmpeg 9 (decodes it, same frame count) and
//! ffprobe (same duration); seeking, truncated files and garbage.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use openrtmp_media::{parse_audio, parse_video, FlvHeader, FlvTag, FlvWriter, TagType};
use openrtmp_record::fmp4::Fmp4Muxer;
use openrtmp_record::vod::mp4::Mp4Source;
use openrtmp_record::{Message, Muxer, RecordError, VodSource};
use openrtmp_testkit::{
    ffmpeg, ffmpeg_current, read_tags, run_ffmpeg, skip_or_fail, Fixture, TempDir,
};

/// FFmpeg's fragmented-MP4 flags, as the issue names them.
const FRAG: &[&str] = &["-movflags", "+frag_keyframe+empty_moov+default_base_moof"];
/// Not FFmpeg's flags: the file is made by our own muxer ([`mux_ours`]).
const OURS: &[&str] = &["ours"];

/// Muxes `flv` to fragmented MP4 at `out` with our [`Fmp4Muxer`], as the recorder does
/// (every output appended, then the finish patches applied).
fn mux_ours(flv: &Path, out: &Path) {
    use std::io::{Seek, SeekFrom, Write};
    let mut muxer = Fmp4Muxer::new(None);
    let mut file = std::fs::File::create(out).expect("create mp4");
    let mut output = Vec::new();
    for tag in read_tags(flv) {
        let msg = Message { kind: tag.tag_type, timestamp: tag.timestamp, payload: tag.data };
        let _ = muxer.push(&msg, &mut output);
        for b in output.drain(..) {
            file.write_all(&b).expect("write");
        }
    }
    let patches = muxer.finish(&mut output);
    for b in output.drain(..) {
        file.write_all(&b).expect("write");
    }
    for p in patches {
        file.seek(SeekFrom::Start(p.offset)).expect("seek");
        file.write_all(&p.bytes).expect("patch");
    }
}

fn tools() -> Option<(PathBuf, PathBuf)> {
    match (ffmpeg(), ffmpeg_current(), openrtmp_testkit::require("ffprobe", None)) {
        (Some(a), Some(b), Some(_)) => Some((a, b)),
        _ => {
            skip_or_fail("Debian's ffmpeg and ffprobe and FFmpeg 9 are needed");
            None
        }
    }
}

/// Remuxes `flv` to MP4 at `out` with `-c copy` and `movflags`.
fn remux(ffmpeg: &Path, flv: &Path, out: &Path, movflags: &[&str]) {
    let (flv, out) = (flv.display().to_string(), out.display().to_string());
    let mut args = vec!["-loglevel", "error", "-y", "-i", &flv, "-c", "copy"];
    args.extend_from_slice(movflags);
    args.extend(["-f", "mp4", &out]);
    run_ffmpeg(ffmpeg, &args).unwrap_or_else(|e| panic!("{e}"));
}

/// Every message of `src`: headers, then media to the end.
fn read_all(src: &mut Mp4Source) -> Vec<Message> {
    let mut out = src.headers();
    while let Some(m) = src.next_message().expect("next_message") {
        out.push(m);
    }
    out
}

fn write_flv(messages: &[Message], path: &Path) {
    let file = std::fs::File::create(path).expect("create flv");
    let header = FlvHeader { version: 1, has_audio: true, has_video: true, data_offset: 9 };
    let mut w = FlvWriter::new(std::io::BufWriter::new(file), &header).expect("flv header");
    for m in messages {
        let tag = FlvTag { tag_type: m.kind, timestamp: m.timestamp, data: m.payload.clone() };
        w.write_tag(&tag).expect("write tag");
    }
    w.flush().expect("flush");
}

/// The frames of FLV tags or messages, modulo the header form: (type, keyframe, body after
/// all tag headers). Sequence headers and ends are left out.
fn bodies<'a>(tags: impl Iterator<Item = (TagType, &'a Bytes)>) -> Vec<(TagType, bool, Bytes)> {
    use openrtmp_media::FrameKind::{InterFrame, Keyframe};
    let mut out = Vec::new();
    for (kind, data) in tags {
        let tracks: Vec<_> = match kind {
            TagType::VIDEO => parse_video(data)
                .expect("video")
                .tracks
                .into_iter()
                .map(|t| (t.kind, t.body))
                .collect(),
            TagType::AUDIO => parse_audio(data)
                .expect("audio")
                .tracks
                .into_iter()
                .map(|t| (t.kind, t.body))
                .collect(),
            _ => continue,
        };
        for (k, body) in tracks {
            if k == Keyframe || k == InterFrame {
                out.push((kind, k == Keyframe, body));
            }
        }
    }
    out
}

/// The (type, timestamp, composition time) of every frame, like [`bodies`].
fn times<'a>(tags: impl Iterator<Item = (TagType, u32, &'a Bytes)>) -> Vec<(TagType, i64, i64)> {
    use openrtmp_media::FrameKind::{InterFrame, Keyframe};
    let mut out = Vec::new();
    for (kind, ts, data) in tags {
        let cts: Vec<_> = match kind {
            TagType::VIDEO => parse_video(data)
                .expect("video")
                .tracks
                .iter()
                .map(|t| (t.kind, t.composition_time))
                .collect(),
            TagType::AUDIO => parse_audio(data)
                .expect("audio")
                .tracks
                .iter()
                .map(|t| (t.kind, t.composition_time))
                .collect(),
            _ => continue,
        };
        for (k, ct) in cts {
            if k == Keyframe || k == InterFrame {
                out.push((kind, i64::from(ts), i64::from(ct)));
            }
        }
    }
    out
}

/// Frames FFmpeg 9 decodes from `file` (one framecrc line per decoded frame), per stream;
/// panics on any decoding error.
fn decoded_frames(ffmpeg: &Path, file: &Path) -> (usize, usize) {
    let f = file.display().to_string();
    let out = std::process::Command::new(ffmpeg)
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i", &f, "-f", "framecrc", "-"])
        .output()
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "FFmpeg 9 decoding {f}:\n{stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    let count = |s: &str| text.lines().filter(|l| l.starts_with(s)).count();
    (count("0,"), count("1,"))
}

/// The container duration ffprobe reports, in ms.
fn probe_duration_ms(file: &Path) -> f64 {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("ffprobe duration of {}: {text:?}", file.display()))
        * 1000.0
}

/// Remux `fixture` to fragmented MP4 with `remuxer`, read it back and check frames,
/// decoding and duration.
fn round_trip(name: &str, fixture: Fixture, remuxer: &Path, ffmpeg9: &Path, movflags: &[&str]) {
    let per_track = movflags == FRAG;
    let dir = TempDir::new(name);
    let flv = fixture.path(remuxer);
    let mp4 = dir.path("rec.mp4");
    if movflags == OURS {
        mux_ours(&flv, &mp4);
    } else {
        remux(remuxer, &flv, &mp4, movflags);
    }

    let started = std::time::Instant::now();
    let mut src = Mp4Source::open(&mp4).expect("open");
    let messages = read_all(&mut src);
    let took = started.elapsed();
    let out = dir.path("back.flv");
    write_flv(&messages, &out);

    let sent = read_tags(&flv);
    let mut want = bodies(sent.iter().map(|t| (t.tag_type, &t.data)));
    if name.starts_with("av1") {
        // FFmpeg's MP4 muxer drops each frame's temporal delimiter OBU (`12 00`), as the
        // AV1 ISOBMFF binding §2.4 says it should; the FLV fixture has them.
        for f in want.iter_mut().filter(|f| f.0 == TagType::VIDEO && f.2.starts_with(&[0x12, 0])) {
            f.2 = f.2.slice(2..);
        }
    }
    let have = bodies(messages.iter().map(|m| (m.kind, &m.payload)));
    for kind in [TagType::VIDEO, TagType::AUDIO] {
        let w: Vec<_> = want.iter().filter(|f| f.0 == kind).collect();
        let h: Vec<_> = have.iter().filter(|f| f.0 == kind).collect();
        let diff = w.iter().zip(&h).position(|(a, b)| a != b);
        if let Some(i) = diff {
            let hex = |b: &Bytes| {
                b.iter().take(16).map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
            };
            eprintln!(
                "{name} {kind:?} #{i}: fixture {} bytes {} / read {} bytes {}",
                w[i].2.len(),
                hex(&w[i].2),
                h[i].2.len(),
                hex(&h[i].2)
            );
        }
        assert!(
            w.len() == h.len() && diff.is_none(),
            "{name}: {kind:?}: fixture {} frames, read back {}; first difference at {diff:?}",
            w.len(),
            h.len()
        );
    }
    // Times agree within a ms (the MP4 track timescale is not in ms: AAC at 44.1 kHz),
    // counted from the first frame of all tracks. Except for FFmpeg's `empty_moov`
    // fragments: they start every track at 0 without an edit list, stretching each track's
    // first sample over its real start (ffprobe reads them so too), so there each track is
    // compared from its second frame on.
    let want = times(sent.iter().map(|t| (t.tag_type, t.timestamp, &t.data)));
    let have = times(messages.iter().map(|m| (m.kind, m.timestamp, &m.payload)));
    let skip = usize::from(per_track);
    let of_kind = |v: &[(TagType, i64, i64)], kind: TagType| -> Vec<(i64, i64)> {
        let t0 = v
            .iter()
            .filter(|f| !per_track || f.0 == kind)
            .skip(skip)
            .map(|f| f.1)
            .min()
            .unwrap_or(0);
        v.iter().filter(|f| f.0 == kind).skip(skip).map(|f| (f.1 - t0, f.2)).collect()
    };
    let mut cts_frames = 0;
    for kind in [TagType::VIDEO, TagType::AUDIO] {
        let (w, h) = (of_kind(&want, kind), of_kind(&have, kind));
        for (i, (w, h)) in w.iter().zip(&h).enumerate() {
            assert!(
                (w.0 - h.0).abs() <= 1 && (w.1 - h.1).abs() <= 1,
                "{name}: {kind:?} frame {}: fixture (ts, cts) {w:?}, read back {h:?}",
                i + skip
            );
            cts_frames += usize::from(h.1 != 0);
        }
    }
    assert_eq!(
        decoded_frames(ffmpeg9, &out),
        decoded_frames(ffmpeg9, &flv),
        "{name}: decoded frames"
    );

    let probed = probe_duration_ms(&mp4);
    #[allow(clippy::cast_precision_loss)]
    let ours = src.duration_ms() as f64;
    assert!(
        (ours - probed).abs() <= probed * 0.01,
        "{name}: duration {ours} ms, ffprobe {probed} ms"
    );
    eprintln!(
        "{name}: {} messages ({cts_frames} with a composition offset), {ours} ms (ffprobe {probed} ms), read in {took:?}",
        messages.len()
    );
}

/// Our muxer, then our reader: the recorder's MP4 files play back frame for frame, with
/// audio and video in sync from the first frame (each track's `tfdt` from the segment's
/// common start).
#[test]
fn our_fmp4_reads_back_identical() {
    let Some((ffmpeg, ffmpeg9)) = tools() else { return };
    round_trip("h264_aac_ours", Fixture::H264Aac { seconds: 4 }, &ffmpeg, &ffmpeg9, OURS);
    round_trip("hevc_opus_ours", Fixture::HevcOpus { seconds: 2 }, &ffmpeg9, &ffmpeg9, OURS);
    round_trip("av1_aac_ours", Fixture::Av1Aac { seconds: 2 }, &ffmpeg9, &ffmpeg9, OURS);
    round_trip("vp9_opus_ours", Fixture::Vp9Opus { seconds: 2 }, &ffmpeg9, &ffmpeg9, OURS);
}

#[test]
fn h264_aac_fragmented_reads_back_identical() {
    let Some((debian, current)) = tools() else { return };
    round_trip("h264-frag", Fixture::H264Aac { seconds: 4 }, &debian, &current, FRAG);
}

#[test]
fn hevc_opus_fragmented_reads_back_identical() {
    let Some((_, current)) = tools() else { return };
    round_trip("hevc-frag", Fixture::HevcOpus { seconds: 2 }, &current, &current, FRAG);
}

#[test]
fn av1_aac_fragmented_reads_back_identical() {
    let Some((_, current)) = tools() else { return };
    round_trip("av1-frag", Fixture::Av1Aac { seconds: 2 }, &current, &current, FRAG);
}

#[test]
fn vp9_opus_fragmented_reads_back_identical() {
    let Some((_, current)) = tools() else { return };
    round_trip("vp9-frag", Fixture::Vp9Opus { seconds: 2 }, &current, &current, FRAG);
}

/// The bonus: a plain MP4 (sample tables in the moov, after the mdat).
#[test]
fn h264_aac_plain_mp4_reads_back_identical() {
    let Some((debian, current)) = tools() else { return };
    round_trip("h264-plain", Fixture::H264Aac { seconds: 4 }, &debian, &current, &[]);
}

#[test]
fn seek_lands_on_the_keyframe_at_or_before() {
    let Some((debian, _)) = tools() else { return };
    let dir = TempDir::new("mp4-seek");
    let mp4 = dir.path("rec.mp4");
    remux(&debian, &Fixture::H264Aac { seconds: 12 }.path(&debian), &mp4, FRAG);
    let mut src = Mp4Source::open(&mp4).expect("open");
    for target in [10_000, 10_500, 3_999, 0] {
        let at = src.seek(target).expect("seek");
        // 25-frame GOPs at 25 fps: a keyframe every second.
        assert!(at <= target && target - at < 1_000, "seek({target}) landed at {at}");
        let first = std::iter::from_fn(|| src.next_message().expect("read"))
            .find(|m| m.kind == TagType::VIDEO);
        let first = first.expect("a video frame after the seek");
        assert_eq!(u64::from(first.timestamp), at, "seek({target}): first video frame time");
        assert!(
            parse_video(&first.payload).expect("video").is_keyframe(),
            "seek({target}): not a keyframe"
        );
    }
    // Audio resumes at the keyframe's time, not before.
    let at = src.seek(10_000).expect("seek");
    let audio =
        std::iter::from_fn(|| src.next_message().expect("read")).find(|m| m.kind == TagType::AUDIO);
    let audio = audio.expect("audio after the seek");
    assert!(u64::from(audio.timestamp) >= at && u64::from(audio.timestamp) < at + 100);
    // Past the end: nothing more to read.
    assert_eq!(src.seek(60_000).expect("seek"), src.duration_ms());
    assert!(src.next_message().expect("read").is_none());
}

/// Offsets of the top-level boxes named `kind` in `data`.
fn box_offsets(data: &[u8], kind: &[u8; 4]) -> Vec<usize> {
    let (mut pos, mut out) = (0usize, Vec::new());
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        if &data[pos + 4..pos + 8] == kind {
            out.push(pos);
        }
        if size < 8 {
            break;
        }
        pos += size;
    }
    out
}

fn frames_of(path: &Path) -> Vec<(TagType, bool, Bytes)> {
    let messages = read_all(&mut Mp4Source::open(path).expect("open"));
    bodies(messages.iter().map(|m| (m.kind, &m.payload)))
}

#[test]
fn truncated_last_fragment_reads_the_complete_ones() {
    let Some((debian, _)) = tools() else { return };
    let dir = TempDir::new("mp4-cut");
    let mp4 = dir.path("rec.mp4");
    remux(&debian, &Fixture::H264Aac { seconds: 4 }.path(&debian), &mp4, FRAG);
    let data = std::fs::read(&mp4).unwrap();
    let full = frames_of(&mp4);
    let moofs = box_offsets(&data, b"moof");
    assert!(moofs.len() >= 3, "expected several fragments, got {}", moofs.len());
    let last = *moofs.last().unwrap();
    // Cut exactly before the last moof: the reference.
    let before = dir.path("before.mp4");
    std::fs::write(&before, &data[..last]).unwrap();
    let complete = frames_of(&before);
    assert!(!complete.is_empty() && complete.len() < full.len());
    assert!(full[..complete.len()] == complete[..], "complete fragments read differently");
    // The mdat of the last fragment ends where its data does (FFmpeg then writes an mfra).
    let mdat = *box_offsets(&data, b"mdat").last().unwrap();
    assert!(mdat > last, "the last fragment's mdat");
    let mdat_end = mdat + u32::from_be_bytes(data[mdat..mdat + 4].try_into().unwrap()) as usize;
    // Cut inside the last moof, inside its mdat, and one byte short of its end: the same.
    for cut in [last + 10, (last + mdat_end) / 2, mdat_end - 1] {
        let path = dir.path("cut.mp4");
        std::fs::write(&path, &data[..cut]).unwrap();
        let got = frames_of(&path);
        assert!(
            got == complete,
            "cut at {cut} of {}: {} frames, want {}",
            data.len(),
            got.len(),
            complete.len()
        );
    }
    // Cut after the last mdat: everything.
    let path = dir.path("cut.mp4");
    std::fs::write(&path, &data[..mdat_end]).unwrap();
    assert!(frames_of(&path) == full, "cut after the last mdat");
}

#[test]
fn garbage_and_empty_files_are_invalid() {
    let dir = TempDir::new("mp4-garbage");
    let cases: [(&str, &[u8]); 5] = [
        ("empty", b""),
        ("short", b"\0\0\0"),
        ("text", b"this is not an mp4 file at all, just text"),
        ("flv", b"FLV\x01\x05\0\0\0\x09\0\0\0\0"),
        ("ftyp only", b"\0\0\0\x10ftypisom\0\0\x02\0"),
    ];
    for (name, bytes) in cases {
        let path = dir.path("g.mp4");
        std::fs::write(&path, bytes).unwrap();
        match Mp4Source::open(&path) {
            Err(RecordError::Invalid(_)) => {}
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// Opens `path` and, if it opens, reads everything and seeks: nothing may panic.
fn read_if_opens(path: &Path) {
    if let Ok(mut src) = Mp4Source::open(path) {
        let _ = src.headers();
        let _ = src.seek(1_000);
        let _ = src.seek(0);
        for _ in 0..10_000 {
            match src.next_message() {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Arbitrary bytes, with or without an MP4-looking start, never panic.
        #[test]
        fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..2048), mp4_start in any::<bool>()) {
            if mp4_start {
                let mut start = b"\0\0\0\x10ftypisom\0\0\x02\0\0\0\0\0moov".to_vec();
                start.append(&mut bytes);
                bytes = start;
            }
            let dir = TempDir::new("mp4-prop");
            let path = dir.path("p.mp4");
            std::fs::write(&path, &bytes).unwrap();
            read_if_opens(&path);
        }
    }
}

/// A real file with bytes flipped at arbitrary places never panics either (the boxes
/// parse, their values are nonsense).
#[test]
fn corrupted_real_file_never_panics() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let Some((debian, _)) = tools() else { return };
    let dir = TempDir::new("mp4-corrupt");
    let mp4 = dir.path("rec.mp4");
    remux(&debian, &Fixture::H264Aac { seconds: 2 }.path(&debian), &mp4, FRAG);
    let data = std::fs::read(&mp4).unwrap();
    let len = data.len();
    let mut runner = TestRunner::new(Config { cases: 128, ..Config::default() });
    let strategy = (proptest::collection::vec((0..len, any::<u8>()), 1..8), 0..=len);
    runner
        .run(&strategy, |(flips, cut)| {
            let mut bytes = data.clone();
            for (at, v) in flips {
                bytes[at] = v;
            }
            bytes.truncate(cut);
            let path = dir.path("c.mp4");
            std::fs::write(&path, &bytes).unwrap();
            read_if_opens(&path);
            Ok(())
        })
        .unwrap();
}

/// Figures for the report, not a timed test: a one-hour fragmented recording (the 30 s
/// fixture looped) is opened, indexed and read through. Run with `--ignored --nocapture`.
#[test]
#[ignore = "figures: builds a ~110 MB file"]
fn figures_one_hour_recording() {
    let Some((debian, _)) = tools() else { return };
    let dir = TempDir::new("mp4-hour");
    let mp4 = dir.path("hour.mp4");
    let flv = Fixture::H264Aac { seconds: 30 }.path(&debian).display().to_string();
    let out = mp4.display().to_string();
    let mut args =
        vec!["-loglevel", "error", "-y", "-stream_loop", "119", "-i", &flv, "-c", "copy"];
    args.extend_from_slice(FRAG);
    args.extend(["-f", "mp4", &out]);
    run_ffmpeg(&debian, &args).unwrap_or_else(|e| panic!("{e}"));
    let rss0 = openrtmp_testkit::vm_rss().unwrap_or(0);
    let t = std::time::Instant::now();
    let mut src = Mp4Source::open(&mp4).expect("open");
    let opened = t.elapsed();
    let rss1 = openrtmp_testkit::vm_rss().unwrap_or(0);
    let t = std::time::Instant::now();
    let mut n = 0usize;
    while src.next_message().expect("read").is_some() {
        n += 1;
    }
    let read = t.elapsed();
    let t = std::time::Instant::now();
    src.seek(1_800_000).expect("seek");
    let seek = t.elapsed();
    eprintln!(
        "1 h recording: {} MB, {} ms, {n} messages; open+index {opened:?} (+{} KB RSS), read all {read:?}, seek {seek:?}",
        std::fs::metadata(&mp4).unwrap().len() >> 20,
        src.duration_ms(),
        rss1.saturating_sub(rss0) >> 10
    );
}
