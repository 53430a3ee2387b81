use super::*;
use crate::fixture::{aac, aac_sh, avc_sh, inter, key, meta};

/// Admits `frames`, returning the timestamps delivered (`None` = dropped).
fn run(t: &mut Timeline, frames: Vec<Frame>) -> Vec<Option<u32>> {
    frames.into_iter().map(|f| t.admit(f).map(|f| f.timestamp)).collect()
}

#[test]
fn without_a_splice_timestamps_pass_unchanged() {
    let mut t = Timeline::default();
    let got = run(&mut t, vec![key(5, 10), aac(3, 4), inter(45, 10), meta(1)]);
    assert_eq!(got, [Some(5), Some(3), Some(45), Some(0)]);
    assert_eq!(t.stamp_config(0), 0, "metadata keeps its stamp");
}

#[test]
fn a_splice_on_an_empty_stream_changes_nothing() {
    let mut t = Timeline::default();
    t.splice(true);
    assert!(!t.is_waiting());
    assert_eq!(run(&mut t, vec![aac(7, 4), inter(9, 10)]), [Some(7), Some(9)]);
}

#[test]
fn new_source_waits_for_its_keyframe_and_lands_just_after_the_last_frame() {
    let mut t = Timeline::default();
    run(&mut t, vec![key(0, 10), aac(10, 4), inter(40, 10), aac(50, 4)]);
    t.splice(true);
    // The new source starts mid-GOP at its own clock: audio and inter frames wait.
    let got = run(&mut t, vec![aac(0, 4), inter(0, 10), aac(20, 4), key(40, 10), aac(40, 4)]);
    assert_eq!(got, [None, None, None, Some(51), Some(51)]);
    // One offset for both kinds from then on.
    assert_eq!(run(&mut t, vec![aac(60, 4), inter(80, 10)]), [Some(71), Some(91)]);
    assert!(!t.is_waiting());
}

#[test]
fn audio_stamped_before_the_new_first_frame_is_dropped_until_settled() {
    let mut t = Timeline::default();
    run(&mut t, vec![key(1000, 10)]);
    t.splice(true);
    let got = run(&mut t, vec![key(100, 10), aac(90, 4), aac(110, 4)]);
    assert_eq!(got, [Some(1001), None, Some(1011)]);
    // Past SETTLE_MS the source's own jitter is its business again.
    let got = run(&mut t, vec![aac(100 + SETTLE_MS, 4), aac(99, 4)]);
    assert_eq!(got, [Some(1001 + SETTLE_MS), Some(1000)]);
}

#[test]
fn rebasing_wraps_at_two_to_the_32() {
    let mut t = Timeline::default();
    run(&mut t, vec![key(u32::MAX - 20, 10), aac(u32::MAX - 1, 4)]);
    t.splice(true);
    let got = run(&mut t, vec![key(5000, 10), aac(5020, 4), inter(5040, 10)]);
    // Last delivered u32::MAX - 1: the new source lands at u32::MAX, then wraps.
    assert_eq!(got, [Some(u32::MAX), Some(19), Some(39)]);
    // And the wrapped timeline is "after" what came before it.
    assert_eq!(t.stamp_config(0), 39);
}

#[test]
fn the_largest_timestamp_counts_across_the_wrap() {
    let mut t = Timeline::default();
    // Wrapped audio after video: u32 order would call 10 the smaller.
    run(&mut t, vec![key(u32::MAX - 5, 10), aac(10, 4), inter(u32::MAX, 10)]);
    t.splice(true);
    assert_eq!(run(&mut t, vec![key(0, 10)]), [Some(11)]);
}

#[test]
fn configuration_passes_while_waiting_stamped_at_the_splice_point() {
    let mut t = Timeline::default();
    run(&mut t, vec![key(500, 10)]);
    t.splice(true);
    let got = run(&mut t, vec![meta(2), avc_sh(0, 2), aac_sh(0, 2), key(0, 10)]);
    assert_eq!(got, [Some(501), Some(501), Some(501), Some(501)]);
    // After the splice a data frame stamped 0 by its source is not put before the last.
    assert_eq!(run(&mut t, vec![inter(40, 10), meta(3)]), [Some(541), Some(541)]);
}

#[test]
fn audio_only_streams_start_at_the_first_audio_frame() {
    let mut t = Timeline::default();
    run(&mut t, vec![aac(100, 4)]);
    t.splice(false);
    assert_eq!(run(&mut t, vec![aac(0, 4), aac(20, 4)]), [Some(101), Some(121)]);
}

#[test]
fn a_new_source_without_video_starts_audio_after_a_while() {
    let mut t = Timeline::default();
    run(&mut t, vec![key(100, 10)]);
    t.splice(true);
    let got = run(&mut t, vec![aac(0, 4), aac(AUDIO_ONLY_AFTER_MS - 1, 4)]);
    assert_eq!(got, [None, None]);
    let got = run(&mut t, vec![aac(AUDIO_ONLY_AFTER_MS, 4), aac(AUDIO_ONLY_AFTER_MS + 20, 4)]);
    assert_eq!(got, [Some(101), Some(121)]);
}

#[test]
fn a_new_source_that_shows_video_keeps_audio_waiting_for_its_keyframe() {
    let mut t = Timeline::default();
    run(&mut t, vec![aac(100, 4)]);
    // Audio-only before; the new source brings video.
    t.splice(false);
    let got = run(&mut t, vec![avc_sh(0, 1), aac(0, 4), inter(0, 10), key(40, 10), aac(40, 4)]);
    assert_eq!(got, [Some(101), None, None, Some(101), Some(101)]);
}
