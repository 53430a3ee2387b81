use super::*;

/// `n` seconds of a healthy 2.5 Mbit/s, 30 fps stream with a keyframe every 2 s.
fn healthy(n: usize) -> Vec<StreamSample> {
    (0..n)
        .map(|i| StreamSample {
            at_ms: 1_000_000 + i as u64 * 1000,
            video_kbps: 2500.0,
            audio_kbps: 128.0,
            fps: 30.0,
            keyframe_interval_ms: 2000,
            viewers: 1,
            ingest_delay_ms: Some(20.0),
            distribution_delay_ms: Some(1.0),
            timestamp_jumps: 0,
            publishing: true,
        })
        .collect()
}

fn codes(v: &[Verdict]) -> Vec<&'static str> {
    v.iter().map(|v| v.code).collect()
}

#[test]
fn nothing_without_samples_and_healthy_when_all_is_well() {
    assert!(verdicts(&[], Some("AAC")).is_empty());
    let v = verdicts(&healthy(120), Some("AAC"));
    assert_eq!(codes(&v), ["healthy"]);
    assert_eq!(v[0].level, VerdictLevel::Ok);
}

#[test]
fn long_keyframe_interval_names_the_obs_setting() {
    let mut s = healthy(30);
    for x in &mut s {
        x.keyframe_interval_ms = 8000;
    }
    let v = verdicts(&s, Some("AAC"));
    assert_eq!(codes(&v), ["keyframe_interval"]);
    assert!(v[0].message.starts_with("Keyframe every 8 s: set Keyframe Interval to 2 s in OBS"));
}

#[test]
fn bitrate_drop_in_the_last_minute_is_reported_in_percent() {
    let mut s = healthy(90);
    for x in s.iter_mut().skip(80) {
        (x.video_kbps, x.audio_kbps) = (1000.0, 50.0);
    }
    let v = verdicts(&s, Some("AAC"));
    assert_eq!(codes(&v), ["bitrate_drop"]);
    // 2628 → 1050 kbit/s.
    assert!(
        v[0].message.starts_with("Bitrate dropped 60 % in the last minute"),
        "{}",
        v[0].message
    );
    // A short stream has no baseline: nothing to compare with.
    let mut short = healthy(15);
    for x in short.iter_mut().skip(5) {
        x.video_kbps = 100.0;
    }
    assert_eq!(codes(&verdicts(&short, Some("AAC"))), ["healthy"]);
}

#[test]
fn timestamp_jumps_count_the_last_minute_only() {
    let mut s = healthy(200);
    for x in s.iter_mut().skip(20) {
        x.timestamp_jumps = 1;
    }
    assert_eq!(codes(&verdicts(&s, Some("AAC"))), ["healthy"], "the jump is 3 minutes old");
    for x in s.iter_mut().skip(190) {
        x.timestamp_jumps = 3;
    }
    let v = verdicts(&s, Some("AAC"));
    assert_eq!(codes(&v), ["timestamp_jump"]);
    assert!(v[0].message.starts_with("Timestamps jumped 2 time(s)"), "{}", v[0].message);
}

#[test]
fn no_audio_track_and_silent_audio() {
    let v = verdicts(&healthy(10), None);
    assert_eq!(codes(&v), ["no_audio"]);
    assert!(v[0].message.starts_with("No audio"));
    let mut s = healthy(30);
    for x in s.iter_mut().skip(20) {
        x.audio_kbps = 0.0;
    }
    let v = verdicts(&s, Some("AAC"));
    assert_eq!(codes(&v), ["no_audio"]);
    assert!(v[0].message.starts_with("No audio for 10 s"), "{}", v[0].message);
}

#[test]
fn stalled_and_no_publisher_are_problems_first() {
    let mut s = healthy(30);
    for x in s.iter_mut().skip(24) {
        (x.video_kbps, x.audio_kbps) = (0.0, 0.0);
    }
    let v = verdicts(&s, Some("AAC"));
    assert_eq!(v[0].code, "stalled");
    assert_eq!(v[0].level, VerdictLevel::Problem);
    assert!(v[0].message.starts_with("No media received for 6 s"), "{}", v[0].message);
    if let Some(x) = s.last_mut() {
        x.publishing = false;
    }
    assert_eq!(codes(&verdicts(&s, Some("AAC"))), ["no_publisher"]);
}

#[test]
fn a_new_publication_is_judged_on_its_own_samples() {
    // A stream that stalled and came back (a sample without a publisher in between).
    let mut s = healthy(100);
    for x in s.iter_mut().take(50) {
        x.keyframe_interval_ms = 10_000;
    }
    s[50].publishing = false;
    assert_eq!(codes(&verdicts(&s, Some("AAC"))), ["healthy"]);
}

#[test]
fn late_ingest_and_fps_drop() {
    let mut s = healthy(60);
    for x in s.iter_mut().skip(50) {
        x.ingest_delay_ms = Some(3000.0);
        x.fps = 12.0;
    }
    let v = verdicts(&s, Some("AAC"));
    assert_eq!(codes(&v), ["ingest_late", "fps_drop"]);
    assert!(v[0].message.starts_with("The stream arrives 3.0 s behind real time"));
    assert!(v[1].message.starts_with("Frame rate fell from 30 to 12 fps"));
}
