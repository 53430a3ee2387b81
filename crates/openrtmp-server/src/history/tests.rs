use super::*;

fn status(app: &str, name: &str, publishing: bool) -> StreamStatus {
    StreamStatus {
        app: app.into(),
        name: name.into(),
        publishing,
        source_lost: false,
        publisher: Some(1),
        video_codec: Some("H.264".into()),
        width: Some(640),
        height: Some(360),
        fps: Some(25.0),
        audio_codec: Some("AAC".into()),
        sample_rate: Some(44_100),
        channels: Some(2),
        viewers: 3,
        direct_viewers: 0,
        gop_cache_bytes: 0,
        gop_cache_frames: 0,
        gop_cache_ms: 0,
        frames_in: 0,
        bytes_in: 0,
        video_bytes_in: 0,
        audio_bytes_in: 0,
        publishing_for: None,
        ingest_delay: DelayHistogram::default(),
        distribution_delay: DelayHistogram::default(),
        catch_up_delay: DelayHistogram::default(),
    }
}

#[test]
fn series_are_bounded_and_rates_come_from_deltas() {
    let mut store = Store::default();
    let key = StreamKey::new("live", "a");
    let mut s = status("live", "a", true);
    let counters = Arc::new(StreamCounters::default());
    store.counters.insert(key.clone(), Arc::clone(&counters));
    for i in 0..(HISTORY_SAMPLES as u64 + 10) {
        s.video_bytes_in += 125_000; // 1 Mbit per second
        s.audio_bytes_in += 4_000;
        sample_stream(&mut store, &s, 1_000 * (i + 1));
    }
    let series = &store.streams[&key];
    assert_eq!(series.samples.len(), HISTORY_SAMPLES);
    let last = series.samples.back().copied().unwrap_or_default();
    assert_eq!((last.video_kbps, last.audio_kbps), (1000.0, 32.0));
    assert_eq!((last.viewers, last.fps), (3, 25.0));
    assert!(store.counters.is_empty(), "the counters moved into the series");
}

#[test]
fn streams_beyond_the_limit_and_awaited_streams_get_no_series() {
    let mut store = Store::default();
    sample_stream(&mut store, &status("live", "waiting", false), 1000);
    assert!(store.streams.is_empty());
    for i in 0..MAX_HISTORY_STREAMS + 5 {
        sample_stream(&mut store, &status("live", &format!("s{i}"), true), 1000);
    }
    assert_eq!(store.streams.len(), MAX_HISTORY_STREAMS);
}

#[test]
fn interval_means_use_the_new_observations_only() {
    let mut last = (0, Duration::ZERO);
    let h =
        |count, ms| DelayHistogram { buckets: Vec::new(), count, sum: Duration::from_millis(ms) };
    assert_eq!(interval_mean(&h(4, 40), &mut last), Some(10.0));
    assert_eq!(interval_mean(&h(4, 40), &mut last), None);
    assert_eq!(interval_mean(&h(6, 140), &mut last), Some(50.0));
}

#[test]
fn the_store_stays_within_its_stated_bound() {
    // The module documentation states the worst case from these sizes.
    assert_eq!(std::mem::size_of::<ServerSample>(), 32);
    assert_eq!(std::mem::size_of::<StreamSample>(), 56);
}
