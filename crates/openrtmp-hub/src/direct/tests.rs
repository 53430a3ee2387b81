use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::fixture::{aac, aac_sh, avc_sh, inter, key, meta};
use crate::{
    DirectOutput, Frame, FrameKind, Hub, HubConfig, MediaPump, PumpConfig, StreamKey, DIRECT_ROUND,
};

fn k() -> StreamKey {
    StreamKey::new("live", "direct")
}

/// A direct output that records what it is offered and can refuse (a socket that would
/// block).
#[derive(Default)]
struct Recorder {
    state: Mutex<RecorderState>,
}

#[derive(Default)]
struct RecorderState {
    generation: u64,
    next_seq: u64,
    /// Offers, each a picture of its frames (K/I video, a audio, M data, V/A headers).
    offers: Vec<String>,
    released: bool,
    refuse: bool,
}

fn picture(frames: &[Frame]) -> String {
    frames
        .iter()
        .map(|f| match (f.kind, f.sequence_header, f.keyframe) {
            (FrameKind::Video, true, _) => 'V',
            (FrameKind::Audio, true, _) => 'A',
            (FrameKind::Video, _, true) => 'K',
            (FrameKind::Video, _, false) => 'I',
            (FrameKind::Audio, _, _) => 'a',
            (FrameKind::Data, _, _) => 'M',
        })
        .collect()
}

impl DirectOutput for Recorder {
    fn start(&self, generation: u64, next_seq: u64) {
        let mut st = self.state.lock().unwrap();
        st.generation = generation;
        st.next_seq = next_seq;
    }

    fn offer(&self, generation: u64, first_seq: u64, frames: &[Frame]) -> bool {
        let mut st = self.state.lock().unwrap();
        if st.refuse || generation != st.generation || first_seq > st.next_seq {
            return false;
        }
        let skip = (st.next_seq - first_seq) as usize;
        let new = &frames[skip.min(frames.len())..];
        st.offers.push(picture(new));
        st.next_seq += new.len() as u64;
        true
    }

    fn release(&self) {
        self.state.lock().unwrap().released = true;
    }
}

fn drain(pump: &mut MediaPump) -> usize {
    let mut events = Vec::new();
    pump.poll_batch(Instant::now(), &mut events);
    events.len()
}

fn setup(config: HubConfig) -> (Hub, crate::Publisher, MediaPump) {
    let hub = Hub::new(config);
    let p = hub.publish(k(), 1).unwrap();
    p.set_metadata(meta(1));
    let _ = p.push(avc_sh(0, 1));
    let _ = p.push(aac_sh(0, 1));
    let _ = p.push(key(0, 100));
    let pump = MediaPump::new(hub.subscribe(k(), 2).unwrap(), PumpConfig::default());
    (hub, p, pump)
}

#[test]
fn only_an_in_sync_viewer_goes_direct_and_gets_each_video_frame_with_its_audio() {
    let (_hub, p, mut pump) = setup(HubConfig::default());
    let out = Arc::new(Recorder::default());
    assert!(!pump.go_direct(out.clone()), "nothing delivered yet: not in sync");
    assert!(drain(&mut pump) > 0);
    assert!(pump.go_direct(out.clone()));
    // Audio waits for the next video frame (audio_batch_ms), then both go in one offer.
    let _ = p.push(aac(20, 10));
    let _ = p.push(aac(40, 10));
    assert!(out.state.lock().unwrap().offers.is_empty());
    let _ = p.push(inter(40, 100));
    let _ = p.push(inter(80, 100));
    assert_eq!(out.state.lock().unwrap().offers, ["aaI", "I"]);
    // Back: the pump continues after the last frame the output took, nothing twice.
    let next = out.state.lock().unwrap().next_seq;
    pump.back_from_direct(next, 4, 220);
    let _ = p.push(inter(120, 100));
    let mut events = Vec::new();
    pump.poll_batch(Instant::now(), &mut events);
    assert_eq!(events.len(), 1, "only the frame pushed after coming back");
    assert_eq!(pump.stats().live_frames, 4 + 1);
}

#[test]
fn a_refusing_output_leaves_the_list_and_others_keep_getting_frames() {
    let (hub, p, mut a) = setup(HubConfig::default());
    let mut b = MediaPump::new(hub.subscribe(k(), 3).unwrap(), PumpConfig::default());
    drain(&mut a);
    drain(&mut b);
    let (slow, fast) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    assert!(a.go_direct(slow.clone()));
    assert!(b.go_direct(fast.clone()));
    slow.state.lock().unwrap().refuse = true;
    let _ = p.push(inter(40, 100));
    slow.state.lock().unwrap().refuse = false;
    let _ = p.push(inter(80, 100));
    assert!(slow.state.lock().unwrap().offers.is_empty(), "left the list at its first refusal");
    assert_eq!(fast.state.lock().unwrap().offers, ["I", "I"]);
}

#[test]
fn outputs_are_released_when_the_publisher_leaves_or_is_replaced() {
    let (hub, p, mut pump) = setup(HubConfig { replace_publisher: true, ..HubConfig::default() });
    drain(&mut pump);
    let out = Arc::new(Recorder::default());
    assert!(pump.go_direct(out.clone()));
    let _second = hub.publish(k(), 9).unwrap();
    assert!(out.state.lock().unwrap().released);
    drop(p);
    let (_hub, p, mut pump) = setup(HubConfig::default());
    drain(&mut pump);
    let out = Arc::new(Recorder::default());
    assert!(pump.go_direct(out.clone()));
    drop(p);
    assert!(out.state.lock().unwrap().released);
}

#[test]
fn max_batch_gathers_frames_into_one_offer() {
    let config = HubConfig { max_batch_ms: 100, ..HubConfig::default() };
    let (_hub, p, mut pump) = setup(config);
    drain(&mut pump);
    let out = Arc::new(Recorder::default());
    assert!(pump.go_direct(out.clone()));
    let push = |from: u32, to: u32| {
        for i in from..=to {
            let _ = p.push(inter(i * 33, 100));
        }
    };
    let offers = || out.state.lock().unwrap().offers.clone();
    // The batch opened with the keyframe at 0: frames up to 99 ms wait, 132 closes it.
    push(1, 3);
    assert!(offers().is_empty());
    push(4, 4);
    assert_eq!(offers(), ["IIII"]);
    // The next one opens at 165 and closes with the frame at least 100 ms later (297).
    push(5, 8);
    assert_eq!(offers(), ["IIII"]);
    push(9, 9);
    assert_eq!(offers(), ["IIII", "IIIII"]);
}

/// Regression: a viewer that went direct while the stream was still audio-only (so it was
/// awaiting a video keyframe) and was written the video's keyframe directly must not drop
/// the inter frames its pump delivers after coming back.
#[test]
fn video_that_started_while_direct_is_in_sync_after_coming_back() {
    let hub = Hub::new(HubConfig::default());
    let p = hub.publish(k(), 1).unwrap();
    let _ = p.push(aac_sh(0, 1));
    let _ = p.push(aac(0, 10));
    let mut pump = MediaPump::new(hub.subscribe(k(), 2).unwrap(), PumpConfig::default());
    drain(&mut pump);
    let out = Arc::new(Recorder::default());
    assert!(pump.go_direct(out.clone()));
    let _ = p.push(avc_sh(20, 1));
    let _ = p.push(key(40, 100));
    let _ = p.push(inter(80, 100));
    assert_eq!(out.state.lock().unwrap().offers.concat(), "VKI");
    let next = out.state.lock().unwrap().next_seq;
    pump.back_from_direct(next, 3, 208);
    let _ = p.push(inter(120, 100));
    let mut events = Vec::new();
    pump.poll_batch(Instant::now(), &mut events);
    assert_eq!(events.len(), 1, "the inter frame after coming back is delivered");
}

/// An output that queues its write in `offer` and completes it in `finish`, logging both;
/// its finish may decline (a queued write the socket did not take).
struct Deferring {
    id: usize,
    log: Arc<Mutex<Vec<(char, usize)>>>,
    decline: bool,
}

impl DirectOutput for Deferring {
    fn start(&self, _: u64, _: u64) {}

    fn offer(&self, _: u64, _: u64, _: &[Frame]) -> bool {
        self.log.lock().unwrap().push(('o', self.id));
        true
    }

    fn finish(&self, _: u64, _: u64, _: &[Frame]) -> bool {
        self.log.lock().unwrap().push(('f', self.id));
        !self.decline
    }

    fn release(&self) {}
}

#[test]
fn offers_are_completed_round_by_round_in_order_and_a_declined_finish_leaves() {
    let (hub, p, _pump) = setup(HubConfig::default());
    let log = Arc::new(Mutex::new(Vec::new()));
    let count = DIRECT_ROUND + 3;
    let mut pumps = Vec::new();
    for id in 0..count {
        let mut pump =
            MediaPump::new(hub.subscribe(k(), 10 + id as u64).unwrap(), PumpConfig::default());
        drain(&mut pump);
        let out = Arc::new(Deferring { id, log: log.clone(), decline: id == 1 });
        assert!(pump.go_direct(out));
        pumps.push(pump);
    }
    let _ = p.push(inter(40, 100));
    let first: Vec<(char, usize)> = std::mem::take(&mut *log.lock().unwrap());
    // Each round: every offer, then every finish, in the same order.
    let mut expected = Vec::new();
    for round in (0..count).collect::<Vec<_>>().chunks(DIRECT_ROUND) {
        expected.extend(round.iter().map(|&id| ('o', id)));
        expected.extend(round.iter().map(|&id| ('f', id)));
    }
    assert_eq!(first, expected);
    // The output whose finish declined is gone; the others stay.
    let _ = p.push(inter(80, 100));
    let second = std::mem::take(&mut *log.lock().unwrap());
    assert_eq!(second.len(), 2 * (count - 1));
    assert!(!second.contains(&('o', 1)));
    assert_eq!(hub.stream(&k()).map(|i| i.direct_viewers), Some(count - 1));
}

/// `max_batch` is the longest a frame waits: at its deadline (its arrival plus the bound)
/// the open batch goes out without waiting for a later frame to close it.
#[test]
fn a_batch_is_announced_at_its_first_frames_deadline() {
    let config = HubConfig { max_batch_ms: 100, ..HubConfig::default() };
    let (_hub, p, mut pump) = setup(config);
    drain(&mut pump);
    let out = Arc::new(Recorder::default());
    assert!(pump.go_direct(out.clone()));
    // Closes the batch the setup's keyframe opened (it carried no arrival time).
    let _ = p.push(inter(100, 100));
    out.state.lock().unwrap().offers.clear();
    let t0 = Instant::now();
    let arrived = |ms: u64| t0 + std::time::Duration::from_millis(ms);
    for i in 1..=3u32 {
        let mut frame = inter(100 + i * 33, 100);
        frame.received = Some(arrived(u64::from(i - 1) * 33));
        let _ = p.push(frame);
    }
    assert_eq!(p.batch_deadline(), Some(arrived(100)));
    assert_eq!(p.announce_due(arrived(99)), Some(arrived(100)), "still open, same deadline");
    assert!(out.state.lock().unwrap().offers.is_empty(), "not due yet");
    assert_eq!(p.announce_due(arrived(100)), None);
    assert_eq!(out.state.lock().unwrap().offers, ["III"]);
    assert_eq!(p.batch_deadline(), None, "no batch open");
    // The next frame opens a new batch with its own deadline.
    let mut frame = inter(100 + 4 * 33, 100);
    frame.received = Some(arrived(101));
    let _ = p.push(frame);
    assert_eq!(p.batch_deadline(), Some(arrived(201)));
}
