//! Health verdicts: what a streamer should change, in the words of the encoder's settings
//! (OBS's names), drawn from a stream's history. A pure function of the samples, so the
//! dashboard, the API and the tests agree on every verdict.

use super::StreamSample;

/// How bad a verdict is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VerdictLevel {
    /// Nothing to do.
    Ok,
    /// Viewers may notice; worth fixing.
    Warning,
    /// The stream is broken for viewers.
    Problem,
}

impl VerdictLevel {
    /// `ok`, `warning` or `problem` (the API's spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictLevel::Ok => "ok",
            VerdictLevel::Warning => "warning",
            VerdictLevel::Problem => "problem",
        }
    }
}

/// One finding about a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// How bad.
    pub level: VerdictLevel,
    /// Stable identifier (`healthy`, `no_publisher`, `stalled`, `keyframe_interval`,
    /// `bitrate_drop`, `timestamp_jump`, `no_audio`, `ingest_late`, `fps_drop`).
    pub code: &'static str,
    /// The finding and what to do, for a person.
    pub message: String,
}

/// Keyframe intervals above this are reported (platforms ask for 2 s, accept up to 4 s).
const MAX_KEYFRAME_INTERVAL_MS: u32 = 4000;
/// Samples (seconds) that make "now" when comparing with the minute before.
const RECENT: usize = 10;
/// The window of the drop and jump checks.
const MINUTE_MS: u64 = 60_000;

fn verdict(level: VerdictLevel, code: &'static str, message: String) -> Verdict {
    Verdict { level, code, message }
}

fn mean(values: impl Iterator<Item = f32>) -> Option<f32> {
    let (sum, n) = values.fold((0.0f64, 0u32), |(s, n), v| (s + f64::from(v), n + 1));
    (n > 0).then(|| (sum / f64::from(n)) as f32)
}

fn kbps(s: &StreamSample) -> f32 {
    s.video_kbps + s.audio_kbps
}

/// The verdicts on a stream from its samples (oldest first, one a second) and its audio
/// codec (`None`: no audio sequence header seen). Worst first; `healthy` when nothing is
/// wrong, nothing at all without samples.
pub fn verdicts(samples: &[StreamSample], audio_codec: Option<&str>) -> Vec<Verdict> {
    let Some(last) = samples.last() else { return Vec::new() };
    if !last.publishing {
        let msg = "No encoder is sending this stream: start streaming in OBS, or check its \
                   network connection"
            .to_owned();
        return vec![verdict(VerdictLevel::Problem, "no_publisher", msg)];
    }
    // The current publication only: samples since the last one without a publisher.
    let start = samples.iter().rposition(|s| !s.publishing).map_or(0, |i| i + 1);
    let live = samples.get(start..).unwrap_or_default();
    let recent = live.get(live.len().saturating_sub(RECENT)..).unwrap_or_default();
    let mut out = Vec::new();
    stalled(live, &mut out);
    keyframes(live, last, &mut out);
    bitrate_drop(live, recent, last, &mut out);
    timestamp_jumps(live, last, &mut out);
    audio(live, audio_codec, &mut out);
    ingest(recent, &mut out);
    fps_drop(live, recent, last, &mut out);
    if out.is_empty() {
        out.push(verdict(VerdictLevel::Ok, "healthy", "Healthy".to_owned()));
    }
    out.sort_by_key(|v| std::cmp::Reverse(v.level));
    out
}

fn stalled(live: &[StreamSample], out: &mut Vec<Verdict>) {
    let silent = live.iter().rev().take_while(|s| kbps(s) == 0.0).count();
    if silent >= 5 && silent < live.len() {
        out.push(verdict(
            VerdictLevel::Problem,
            "stalled",
            format!(
                "No media received for {silent} s: the encoder stopped sending or its \
                 network is down"
            ),
        ));
    }
}

fn keyframes(live: &[StreamSample], last: &StreamSample, out: &mut Vec<Verdict>) {
    let interval = last.keyframe_interval_ms;
    if interval > MAX_KEYFRAME_INTERVAL_MS {
        let secs = f64::from(interval) / 1000.0;
        out.push(verdict(
            VerdictLevel::Warning,
            "keyframe_interval",
            format!(
                "Keyframe every {secs:.0} s: set Keyframe Interval to 2 s in OBS (Settings → \
                 Output → Streaming); viewers wait up to {secs:.0} s to start"
            ),
        ));
    } else if interval == 0 && live.iter().filter(|s| s.video_kbps > 0.0).count() >= 10 {
        out.push(verdict(
            VerdictLevel::Warning,
            "keyframe_interval",
            format!(
                "Fewer than two keyframes in {} s: set Keyframe Interval to 2 s in OBS \
                 (Settings → Output → Streaming)",
                live.len()
            ),
        ));
    }
}

fn bitrate_drop(
    live: &[StreamSample],
    recent: &[StreamSample],
    last: &StreamSample,
    out: &mut Vec<Verdict>,
) {
    let since = last.at_ms.saturating_sub(MINUTE_MS);
    let before = live.len().saturating_sub(recent.len());
    let baseline: Vec<f32> = live
        .get(..before)
        .unwrap_or_default()
        .iter()
        .filter(|s| s.at_ms >= since)
        .map(kbps)
        .collect();
    if baseline.len() < 20 {
        return;
    }
    let (Some(base), Some(now)) = (mean(baseline.into_iter()), mean(recent.iter().map(kbps)))
    else {
        return;
    };
    if base < 50.0 || now >= base * 0.5 {
        return;
    }
    let pct = ((1.0 - now / base) * 100.0).round();
    out.push(verdict(
        VerdictLevel::Warning,
        "bitrate_drop",
        format!(
            "Bitrate dropped {pct} % in the last minute ({base:.0} → {now:.0} kbit/s): the \
             upload may be congested; check OBS's Stats for dropped frames, or lower the \
             bitrate"
        ),
    ));
}

fn timestamp_jumps(live: &[StreamSample], last: &StreamSample, out: &mut Vec<Verdict>) {
    let since = last.at_ms.saturating_sub(MINUTE_MS);
    let Some(then) = live.iter().find(|s| s.at_ms >= since) else { return };
    // The counter restarts with a new publisher: then all of it is recent.
    let jumps = if last.timestamp_jumps >= then.timestamp_jumps {
        last.timestamp_jumps - then.timestamp_jumps
    } else {
        last.timestamp_jumps
    };
    // The first sample of a publication has no earlier count to compare with.
    let jumps = if live.len() == 1 { last.timestamp_jumps } else { jumps };
    if jumps > 0 {
        out.push(verdict(
            VerdictLevel::Warning,
            "timestamp_jump",
            format!(
                "Timestamps jumped {jumps} time(s) in the last minute: players may freeze or \
                 skip; restart the stream in OBS, and check the encoder's clock and sync \
                 settings"
            ),
        ));
    }
}

fn audio(live: &[StreamSample], audio_codec: Option<&str>, out: &mut Vec<Verdict>) {
    let video_for = live.iter().filter(|s| s.video_kbps > 0.0).count();
    if video_for < 5 {
        return;
    }
    if audio_codec.is_none() {
        let msg = "No audio: the stream has no audio track; in OBS check Settings → Audio and \
                   that a source in the mixer is not muted"
            .to_owned();
        out.push(verdict(VerdictLevel::Warning, "no_audio", msg));
        return;
    }
    let silent = live.iter().rev().take_while(|s| s.audio_kbps == 0.0 && s.video_kbps > 0.0);
    let silent = silent.count();
    if silent >= 5 {
        out.push(verdict(
            VerdictLevel::Warning,
            "no_audio",
            format!("No audio for {silent} s while video flows: the encoder stopped sending audio"),
        ));
    }
}

fn ingest(recent: &[StreamSample], out: &mut Vec<Verdict>) {
    let Some(late) = mean(recent.iter().filter_map(|s| s.ingest_delay_ms)) else { return };
    if recent.len() >= 5 && late > 1500.0 {
        out.push(verdict(
            VerdictLevel::Warning,
            "ingest_late",
            format!(
                "The stream arrives {:.1} s behind real time: the upload is too slow for \
                 the bitrate; lower the bitrate in OBS (Settings → Output)",
                late / 1000.0
            ),
        ));
    }
}

fn fps_drop(
    live: &[StreamSample],
    recent: &[StreamSample],
    last: &StreamSample,
    out: &mut Vec<Verdict>,
) {
    let since = last.at_ms.saturating_sub(MINUTE_MS);
    let before = live.len().saturating_sub(recent.len());
    let earlier = live.get(..before).unwrap_or_default().iter().filter(|s| s.at_ms >= since);
    let peak = earlier.map(|s| s.fps).fold(0.0f32, f32::max);
    if recent.len() < 5 || peak < 10.0 {
        return;
    }
    let Some(now) = mean(recent.iter().map(|s| s.fps).filter(|f| *f > 0.0)) else { return };
    if now < peak * 0.6 {
        out.push(verdict(
            VerdictLevel::Warning,
            "fps_drop",
            format!(
                "Frame rate fell from {peak:.0} to {now:.0} fps: the encoder is overloaded; \
                 in OBS lower the output resolution or pick a faster encoder preset"
            ),
        ));
    }
}

#[cfg(test)]
mod tests;
