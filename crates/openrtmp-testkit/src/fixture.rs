//! Media files made by FFmpeg for the tests: FLV fixtures cached in the temporary directory
//! across test binaries and runs ([`Fixture`]), and the clips a WebRTC test sender sends
//! ([`webrtc_clip`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::run_ffmpeg;

/// Fixture kinds. The file name encodes every parameter, so a changed recipe makes a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixture {
    /// H.264 + AAC, 320x240 25 fps, keyframe every second, 44.1 kHz stereo; made by Debian's
    /// FFmpeg.
    H264Aac { seconds: u32 },
    /// H.264 (CBR with filler data, noisy picture: ~`kbps` for real, first keyframe ~150 KB)
    /// + AAC, 640x360 25 fps, keyframe every second.
    H264AacCbr { seconds: u32, kbps: u32 },
    /// HEVC + Opus (current FFmpeg).
    HevcOpus { seconds: u32 },
    /// AV1 + AAC (current FFmpeg).
    Av1Aac { seconds: u32 },
    /// VP9 + Opus (current FFmpeg).
    Vp9Opus { seconds: u32 },
}

impl Fixture {
    fn file_name(self) -> String {
        match self {
            Fixture::H264Aac { seconds } => format!("h264_aac_320x240_g25_{seconds}s.flv"),
            Fixture::H264AacCbr { seconds, kbps } => {
                format!("h264cbr{kbps}k_noise_aac_640x360_g25_{seconds}s.flv")
            }
            Fixture::HevcOpus { seconds } => format!("hevc_opus_320x240_g25_{seconds}s.flv"),
            Fixture::Av1Aac { seconds } => format!("av1_aac_320x240_g25_{seconds}s.flv"),
            Fixture::Vp9Opus { seconds } => format!("vp9_opus_320x240_g25_{seconds}s.flv"),
        }
    }

    fn args(self) -> Vec<String> {
        let src = |size: &str, secs: u32, rate: u32| {
            vec![
                "-f".into(),
                "lavfi".into(),
                "-i".into(),
                format!("testsrc=size={size}:rate=25"),
                "-f".into(),
                "lavfi".into(),
                "-i".into(),
                format!("sine=frequency=440:sample_rate={rate}"),
                "-t".into(),
                secs.to_string(),
                "-pix_fmt".into(),
                "yuv420p".into(),
                "-ac".into(),
                "2".into(),
            ]
        };
        let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        match self {
            Fixture::H264Aac { seconds } => {
                let mut a = src("320x240", seconds, 44100);
                a.extend(words("-c:v libx264 -preset ultrafast -g 25 -c:a aac -b:a 64k"));
                a
            }
            Fixture::H264AacCbr { seconds, kbps } => {
                let mut a = src("640x360", seconds, 44100);
                a.extend(words(&format!(
                    "-vf noise=alls=30:allf=t -c:v libx264 -preset ultrafast -g 25 -b:v {kbps}k \
                     -minrate {kbps}k -maxrate {kbps}k -bufsize {kbps}k \
                     -x264-params nal-hrd=cbr:force-cfr=1 -c:a aac -b:a 64k"
                )));
                a
            }
            Fixture::HevcOpus { seconds } => {
                let mut a = src("320x240", seconds, 48000);
                a.extend(words(
                    "-c:v libx265 -preset ultrafast -x265-params log-level=error:keyint=25:min-keyint=25 \
                     -c:a libopus -b:a 64k",
                ));
                a
            }
            Fixture::Av1Aac { seconds } => {
                let mut a = src("320x240", seconds, 48000);
                a.extend(words("-c:v libsvtav1 -preset 12 -g 25 -c:a aac -b:a 64k"));
                a
            }
            Fixture::Vp9Opus { seconds } => {
                let mut a = src("320x240", seconds, 48000);
                a.extend(words(
                    "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -g 25 -c:a libopus -b:a 64k",
                ));
                a
            }
        }
    }

    /// The fixture file, made on first use with `ffmpeg` (Debian's or the current one, as
    /// [`Fixture`] says).
    pub fn path(self, ffmpeg: &Path) -> PathBuf {
        static LOCK: Mutex<()> = Mutex::new(());
        let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join("openrtmp-test-fixtures");
        std::fs::create_dir_all(&dir).expect("fixture dir");
        let path = dir.join(self.file_name());
        if path.exists() {
            return path;
        }
        // Written under a unique name and renamed: other test processes may race us.
        let tmp = dir.join(format!("{}.{}.tmp.flv", self.file_name(), std::process::id()));
        let mut args: Vec<String> = vec!["-loglevel".into(), "error".into(), "-y".into()];
        args.extend(self.args());
        args.extend(["-f".into(), "flv".into(), tmp.display().to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(e) = run_ffmpeg(ffmpeg, &args) {
            panic!("making fixture {}: {e}", self.file_name());
        }
        std::fs::rename(&tmp, &path).expect("rename fixture");
        path
    }
}

/// A clip as a WebRTC sender sends it, made by FFmpeg in `dir`, `seconds` long:
/// `clip.h264`, testsrc2 at `size` and 30 fps in baseline H.264 (no B-frames, as browsers
/// send; a keyframe every 30 frames; access unit delimiters on, which the test senders split
/// at), and `clip.ogg`, a 1 kHz sine as stereo Opus 64 kb/s in 20 ms frames. Returns the two
/// paths.
pub fn webrtc_clip(
    ffmpeg: &Path,
    dir: &Path,
    size: &str,
    seconds: u32,
) -> Result<(PathBuf, PathBuf), String> {
    let (h264, ogg) = (dir.join("clip.h264"), dir.join("clip.ogg"));
    let (t, src) = (seconds.to_string(), format!("testsrc2=size={size}:rate=30"));
    let video = "-c:v libx264 -profile:v baseline -bf 0 -g 30 -x264-params aud=1 -an -f h264";
    let audio = "-ac 2 -c:a libopus -b:a 64k -frame_duration 20 -f ogg";
    for (input, codec, out) in [(src.as_str(), video, &h264), ("sine=f=1000:r=48000", audio, &ogg)]
    {
        let out = out.display().to_string();
        let mut args = vec!["-loglevel", "error", "-y", "-f", "lavfi", "-i", input, "-t", &t];
        args.extend(codec.split(' '));
        args.push(&out);
        run_ffmpeg(ffmpeg, &args)?;
    }
    Ok((h264, ogg))
}
