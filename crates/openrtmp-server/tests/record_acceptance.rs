//! Issue 14's acceptance, end to end with real FFmpeg: a 20 s stream published in real time
//! is recorded at once as FLV and as fragmented MP4 (two apps, one rule each), for
//! H.264/AAC (Debian's FFmpeg 5.1) and for HEVC+Opus and AV1+AAC over Enhanced RTMP
//! (FFmpeg 9). Every recording has the right codecs and a duration within 1 % of the media
//! published; the FLV recording's payloads are the published ones byte for byte; the MP4
//! recording decodes with every video frame published. Each file plays on its own in VLC
//! too (Debian's VLC 3 demuxes it and remuxes it to Matroska: every video frame, the audio
//! less at most a few frames of its tail) — except Enhanced-RTMP FLV, which VLC 3 reads
//! through FFmpeg 5.1's demuxer, older than Enhanced RTMP. Then the MP4 recording is played
//! over RTMP from `start` = 10 s and starts within one GOP at or before 10 s.
// VLC is run as `nobody` with Unix permissions; FFmpeg, ffprobe and VLC are Linux programs here.
#![cfg(unix)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use openrtmp_client::Connection;
use openrtmp_media::flv_file::FlvTag;
use openrtmp_media::TagType;
use openrtmp_proto::message::MessageType;
use openrtmp_proto::session::ClientEvent;
use openrtmp_server::record::{Format, RecordRule, RecordSettings};
use openrtmp_server::Config;
use support::{Ffmpeg, Fixture, TempDir, TestServer};

/// Every wait is bounded by this; conditions are polled, never timed.
const PATIENCE: Duration = Duration::from_secs(60);

/// Records app `flv` as FLV and app `mp4` as fragmented MP4 into `dir`.
fn config(dir: &Path) -> Config {
    let rule = |app: &str, format| RecordRule { format: Some(format), ..RecordRule::new(app, "*") };
    let record = RecordSettings {
        dir: dir.to_path_buf(),
        rules: vec![rule("flv", Format::Flv), rule("mp4", Format::Mp4)],
        ..RecordSettings::default()
    };
    Config { record, ..support::test_config() }
}

/// The files under `dir`/`app`/cam (for failure messages).
fn only_files(dir: &Path, app: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join(app).join("cam"))
        .map(|e| e.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// The one segment of `app`/`stream` under `dir`.
fn only_segment(dir: &Path, app: &str, stream: &str) -> PathBuf {
    let entries = std::fs::read_dir(dir.join(app).join(stream)).expect("recording directory");
    let files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    assert_eq!(files.len(), 1, "{app}/{stream}: {files:?}");
    files.into_iter().next().expect("one file")
}

/// The duration FFmpeg reads from `file` (`Duration:` of `ffmpeg -i`), in seconds: the
/// current FFmpeg reads Enhanced-RTMP FLV, which Debian's ffprobe 5.1 does not.
fn ffmpeg_duration(ffmpeg: &Path, file: &Path) -> f64 {
    let out = std::process::Command::new(ffmpeg)
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(file)
        .output()
        .expect("run ffmpeg");
    let text = String::from_utf8_lossy(&out.stderr);
    let hms = text
        .split("Duration: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_else(|| panic!("no duration for {}:\n{text}", file.display()));
    hms.split(':').fold(0.0, |acc, part| acc * 60.0 + part.trim().parse::<f64>().expect("h:m:s"))
}

/// Video frames FFmpeg decodes from `file`; panics on any decoding error.
fn decoded_video_frames(ffmpeg: &Path, file: &Path) -> usize {
    let out = std::process::Command::new(ffmpeg)
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-map", "0:v", "-f", "framecrc", "-"])
        .output()
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{}:\n{stderr}", file.display());
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("0,")).count()
}

/// The published frames from the first video keyframe on (a recording starts there).
fn from_first_keyframe(sent: &[FlvTag]) -> &[FlvTag] {
    let start = sent
        .iter()
        .position(|t| support::is_frame(t) && support::is_keyframe(t))
        .expect("a keyframe");
    &sent[start..]
}

/// The media span of `tags` in seconds: first frame to last frame.
fn span(tags: &[FlvTag]) -> f64 {
    let times: Vec<u32> =
        tags.iter().filter(|t| support::is_frame(t)).map(|t| t.timestamp).collect();
    let (first, last) = (times.iter().min().copied(), times.iter().max().copied());
    f64::from(last.unwrap_or(0) - first.unwrap_or(0)) / 1000.0
}

fn within_one_percent(what: &str, got: f64, want: f64) {
    eprintln!("{what}: {got:.3} s, published media {want:.3} s");
    assert!((got - want).abs() <= want * 0.01, "{what}: {got} s is not within 1 % of {want} s");
}

/// Whether VLC is here (locally a test skips without it, in CI it fails).
fn vlc_present() -> bool {
    let here = Path::new("/usr/bin/cvlc").exists();
    if !here {
        support::skip_or_fail("VLC (/usr/bin/cvlc) is not available: .ci/run installs vlc-bin");
    }
    here
}

/// VLC demuxes `file` and remuxes it to Matroska without decoding (`--sout`): the video
/// and audio frames that file then holds (ffprobe `-count_frames`), and VLC's error lines.
/// VLC refuses to run as root; as root it runs as `nobody` (the recordings are readable
/// by all, `out` is made writable by all).
fn vlc_frames(file: &Path, out: &Path) -> (usize, usize, String) {
    use std::os::unix::fs::PermissionsExt;
    // Not probed by running it (`require`): as root it refuses even `--version`.
    let cvlc = Path::new("/usr/bin/cvlc");
    assert!(cvlc.exists(), "VLC (/usr/bin/cvlc) is needed: .ci/run installs vlc-bin");
    std::fs::create_dir_all(out).expect("vlc out dir");
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let mkv =
        out.join(format!("{}.mkv", file.file_name().and_then(|f| f.to_str()).expect("file name")));
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut command = if root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=/tmp"]);
        c.arg(cvlc);
        c
    } else {
        std::process::Command::new(cvlc)
    };
    let sout = format!("#std{{access=file,mux=mkv,dst={}}}", mkv.display());
    let output = command
        .args(["-I", "dummy", "-A", "dummy", "-V", "dummy"])
        .arg(file)
        .args(["--sout", &sout, "vlc://quit"])
        .output()
        .expect("run cvlc");
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("demux error") || l.contains("mux error") || l.contains("decoder error")
        })
        .collect();
    let probe = std::process::Command::new(support::require("ffprobe", None).expect("ffprobe"))
        .args(["-v", "error", "-count_frames", "-show_entries", "stream=codec_type,nb_read_frames"])
        .args(["-of", "csv=p=0"])
        .arg(&mkv)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&probe.stdout);
    let count = |kind: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix(kind)?.strip_prefix(',')?.trim().parse::<usize>().ok())
            .sum::<usize>()
    };
    (count("video"), count("audio"), errors.join("\n"))
}

/// VLC plays `file` (see [`vlc_frames`]): every one of `video` frames, and `audio` frames
/// less at most a few of the tail.
fn assert_vlc_plays(what: &str, file: &Path, out: &Path, video: usize, audio: usize) {
    let (v, a, errors) = vlc_frames(file, out);
    eprintln!("{what} in VLC: {v} of {video} video frames, {a} of {audio} audio frames");
    assert!(errors.is_empty(), "{what}: VLC errors:\n{errors}");
    assert_eq!(v, video, "{what}: video frames VLC demuxed");
    assert!(a <= audio && a + 8 >= audio, "{what}: {a} audio frames in VLC of {audio}");
}

/// Publishes `fixture` for 20 s with `ffmpeg` to `flv/cam` and `mp4/cam` at once and
/// checks both recordings; returns the server (still running) and the MP4 recording.
fn record_both(
    fixture: Fixture,
    ffmpeg: &Path,
    enhanced: Option<&str>,
    codecs: [&str; 2],
    dir: &TempDir,
) -> (TestServer, PathBuf, Vec<FlvTag>) {
    let input = fixture.path(ffmpeg);
    // What FFmpeg publishes is its FLV muxer's remux of the fixture (the reference, as in
    // enhanced_rtmp.rs).
    let published = dir.path("as_published.flv");
    let (i, p) = (input.to_str().expect("path"), published.to_str().expect("path"));
    support::run_ffmpeg(ffmpeg, &["-v", "error", "-i", i, "-c", "copy", "-f", "flv", p])
        .expect("remux the fixture");
    let sent = support::read_tags(&published);

    let rec = dir.path("rec");
    let server = TestServer::start(config(&rec));
    let publish = |app: &str| {
        let url = server.url(&format!("{app}/cam"));
        let mut args = vec!["-re", "-i", i, "-c", "copy", "-f", "flv"];
        if let Some(fourccs) = enhanced {
            args.extend(["-rtmp_enhanced_codecs", fourccs]);
        }
        args.push(&url);
        let log = dir.path(&format!("publish-{app}.log"));
        Ffmpeg::spawn(ffmpeg, "ffmpeg publisher", &args, log)
    };
    let (mut a, mut b) = (publish("flv"), publish("mp4"));
    a.wait_success(PATIENCE);
    b.wait_success(PATIENCE);
    let closed =
        support::wait_until(PATIENCE, || server.handle.recording_stats().segments_closed >= 2);
    assert!(
        closed,
        "both segments close when the publishers leave: {:?}, {:?}, files {:?}",
        server.handle.recording_stats(),
        server.handle.recordings_active(),
        [only_files(&rec, "flv"), only_files(&rec, "mp4")]
    );
    let stats = server.handle.recording_stats();
    assert_eq!(stats.dropped_frames, 0, "nothing dropped: {stats:?}");

    let want = from_first_keyframe(&sent);
    // FLV: the exact payloads, codecs, duration.
    let flv = only_segment(&rec, "flv", "cam");
    let got = support::read_tags(&flv);
    let (w, h) = (support::frames(want), support::frames(&got));
    let diff = w.iter().zip(&h).position(|(x, y)| x != y);
    assert!(
        w.len() == h.len() && diff.is_none(),
        "FLV: {} frames published from the first keyframe, {} recorded; first difference at \
         {diff:?}",
        w.len(),
        h.len()
    );
    let of_kind =
        |tags: &[(TagType, bytes::Bytes)], kind| tags.iter().filter(|f| f.0 == kind).count();
    let video = |tags: &[(TagType, bytes::Bytes)]| of_kind(tags, TagType::VIDEO);
    let audio = of_kind(&w, TagType::AUDIO);
    assert_eq!(support::stream_codecs(ffmpeg, &flv), codecs, "FLV codecs");
    within_one_percent("FLV duration", ffmpeg_duration(ffmpeg, &flv), span(want));
    assert_eq!(decoded_video_frames(ffmpeg, &flv), video(&w), "FLV video frames decoded");
    let vlc_out = dir.path("vlc");
    if enhanced.is_none() {
        assert_vlc_plays("FLV", &flv, &vlc_out, video(&w), audio);
    }

    // Fragmented MP4: codecs and duration in ffprobe, every video frame decodes.
    let mp4 = only_segment(&rec, "mp4", "cam");
    assert_eq!(mp4.extension().and_then(|e| e.to_str()), Some("mp4"));
    let ffprobe = support::require("ffprobe", None).expect("ffprobe");
    let out = std::process::Command::new(ffprobe)
        .args(["-v", "error", "-show_entries", "stream=codec_name:format=duration"])
        .args(["-of", "default=nw=1:nk=1"])
        .arg(&mp4)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "ffprobe: {text}");
    assert_eq!([lines[0], lines[1]], codecs, "MP4 codecs (ffprobe)");
    let duration: f64 = lines[2].parse().expect("duration");
    within_one_percent("MP4 duration (ffprobe)", duration, span(want));
    assert_eq!(decoded_video_frames(ffmpeg, &mp4), video(&w), "MP4 video frames decoded");
    assert_vlc_plays("MP4", &mp4, &vlc_out, video(&w), audio);
    (server, mp4, sent)
}

#[test]
fn h264_aac_is_recorded_as_flv_and_mp4_and_the_mp4_seeks() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    if support::require("ffprobe", None).is_none() || !vlc_present() {
        return;
    }
    let dir = TempDir::new("accept-h264");
    let fixture = Fixture::H264Aac { seconds: 20 };
    let (server, mp4, sent) = record_both(fixture, &ffmpeg, None, ["h264", "aac"], &dir);

    // RTMP play of the MP4 recording by its file name, from start = 10 s.
    let file = mp4.file_name().and_then(|f| f.to_str()).expect("name").to_owned();
    let rt = support::client_runtime();
    let first_video = rt.block_on(async {
        let mut conn = Connection::connect(&server.rtmp_url("mp4"), support::quick_options())
            .await
            .expect("connect");
        conn.session().play(&file, 10.0, -1.0, true).expect("play");
        conn.flush().await.expect("flush");
        loop {
            let event = tokio::time::timeout(Duration::from_secs(30), conn.next_event())
                .await
                .expect("the recording plays")
                .expect("connection")
                .expect("open");
            if let ClientEvent::Media { message, .. } = event {
                if message.type_id != MessageType::VIDEO {
                    continue;
                }
                let tag = FlvTag {
                    tag_type: TagType::VIDEO,
                    timestamp: message.timestamp,
                    data: message.payload,
                };
                if support::is_frame(&tag) {
                    return tag;
                }
            }
        }
    });
    // The fixture's GOP: 25 frames at 25 fps.
    let keys: Vec<u32> = from_first_keyframe(&sent)
        .iter()
        .filter(|t| support::is_frame(t) && support::is_keyframe(t))
        .map(|t| t.timestamp)
        .collect();
    let gop = keys.windows(2).map(|w| w[1] - w[0]).max().expect("two keyframes");
    eprintln!("play from 10 s: first video frame at {} ms (GOP {gop} ms)", first_video.timestamp);
    assert!(support::is_keyframe(&first_video), "playback starts at a keyframe");
    assert!(
        first_video.timestamp <= 10_000 && 10_000 - first_video.timestamp < gop,
        "first video frame at {} ms: not within one GOP at or before 10 s",
        first_video.timestamp
    );
}

#[test]
fn hevc_opus_over_enhanced_rtmp_is_recorded_as_flv_and_mp4() {
    let Some(ffmpeg) = support::ffmpeg_current() else { return };
    if support::require("ffprobe", None).is_none() || !vlc_present() {
        return;
    }
    let dir = TempDir::new("accept-hevc");
    let fixture = Fixture::HevcOpus { seconds: 20 };
    record_both(fixture, &ffmpeg, Some("hvc1,Opus"), ["hevc", "opus"], &dir);
}

#[test]
fn av1_aac_over_enhanced_rtmp_is_recorded_as_flv_and_mp4() {
    let Some(ffmpeg) = support::ffmpeg_current() else { return };
    if support::require("ffprobe", None).is_none() || !vlc_present() {
        return;
    }
    let dir = TempDir::new("accept-av1");
    let fixture = Fixture::Av1Aac { seconds: 20 };
    record_both(fixture, &ffmpeg, Some("av01,mp4a"), ["av1", "aac"], &dir);
}
