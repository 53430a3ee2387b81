use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;

use super::*;

/// A file in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn with(bytes: &[u8]) -> TempFile {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir()
            .join(format!("openrtmp-record-vod-flv-{}-{n}.flv", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tag(out: &mut Vec<u8>, tag_type: u8, ts: u32, data: &[u8]) {
    let len = data.len() as u32;
    out.push(tag_type);
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&ts.to_be_bytes()[1..]);
    out.push((ts >> 24) as u8);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(data);
    out.extend_from_slice(&(len + 11).to_be_bytes());
}

fn metadata() -> Vec<u8> {
    let d = ScriptData::new("onMetaData", vec![openrtmp_amf::Amf0Value::Number(20.0)]);
    d.to_bytes().to_vec()
}

const AVC_HEADER: &[u8] = &[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff];
const AAC_HEADER: &[u8] = &[0xaf, 0, 0x12, 0x10];

/// Metadata, both sequence headers, then 3 s of 10 fps video with a keyframe every 10
/// frames and audio every 100 ms, starting at 5000 ms (rebased to 0 by the reader).
fn sample() -> Vec<u8> {
    let mut f = vec![b'F', b'L', b'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0];
    tag(&mut f, 18, 0, &metadata());
    tag(&mut f, 9, 5000, AVC_HEADER);
    tag(&mut f, 8, 5000, AAC_HEADER);
    for i in 0..30u32 {
        let ts = 5000 + i * 100;
        let key = i % 10 == 0;
        let v = [if key { 0x17 } else { 0x27 }, 1, 0, 0, 0, i as u8, 0xaa];
        tag(&mut f, 9, ts, &v);
        tag(&mut f, 8, ts, &[0xaf, 1, i as u8]);
    }
    f
}

fn drain(s: &mut FlvSource) -> Vec<Message> {
    std::iter::from_fn(|| s.next_message().unwrap()).collect()
}

#[test]
fn headers_media_and_rebased_timestamps() {
    let file = TempFile::with(&sample());
    let mut s = FlvSource::open(&file.0).unwrap();
    assert_eq!(s.tag_count(), 63);
    assert_eq!(s.duration_ms(), 2900);
    let headers = s.headers();
    let kinds: Vec<TagType> = headers.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, [TagType::SCRIPT, TagType::VIDEO, TagType::AUDIO]);
    assert_eq!(&headers[1].payload[..], AVC_HEADER);
    assert!(headers.iter().all(|m| m.timestamp == 0));
    let media = drain(&mut s);
    assert_eq!(media.len(), 60, "headers are not sent again");
    assert_eq!(media[0].timestamp, 0);
    assert_eq!(media[0].payload[0], 0x17);
    assert_eq!(media.last().unwrap().timestamp, 2900);
    assert!(media.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
}

#[test]
fn seek_goes_to_the_keyframe_at_or_before() {
    let file = TempFile::with(&sample());
    let mut s = FlvSource::open(&file.0).unwrap();
    assert_eq!(s.seek(1500).unwrap(), 1000);
    let m = s.next_message().unwrap().unwrap();
    assert_eq!((m.kind, m.timestamp, m.payload[0]), (TagType::VIDEO, 1000, 0x17));
    assert_eq!(s.seek(2000).unwrap(), 2000);
    assert_eq!(drain(&mut s).len(), 20);
    assert_eq!(s.seek(0).unwrap(), 0);
    assert_eq!(drain(&mut s).len(), 60);
    // Past the end: nothing more.
    assert_eq!(s.seek(10_000).unwrap(), 2900);
    assert!(s.next_message().unwrap().is_none());
}

/// FFmpeg muxes the audio frame of a timestamp before the video keyframe of the same
/// timestamp: a seek to that keyframe plays that audio frame too, and a seek to (or
/// before) the first keyframe plays the file from its first tag.
#[test]
fn seek_keeps_the_audio_muxed_before_its_keyframe() {
    let mut f = vec![b'F', b'L', b'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0];
    tag(&mut f, 9, 0, AVC_HEADER);
    tag(&mut f, 8, 0, AAC_HEADER);
    for i in 0..20u32 {
        tag(&mut f, 8, i * 100, &[0xaf, 1, i as u8]);
        let v = [if i % 10 == 0 { 0x17 } else { 0x27 }, 1, 0, 0, 0, i as u8];
        tag(&mut f, 9, i * 100, &v);
    }
    let file = TempFile::with(&f);
    let mut s = FlvSource::open(&file.0).unwrap();
    assert_eq!(s.seek(1200).unwrap(), 1000);
    let first = s.next_message().unwrap().unwrap();
    assert_eq!((first.kind, first.timestamp), (TagType::AUDIO, 1000));
    assert_eq!(s.next_message().unwrap().unwrap().payload[0], 0x17);
    assert_eq!(s.seek(0).unwrap(), 0);
    assert_eq!(drain(&mut s).len(), 40);
}

#[test]
fn audio_only_seeks_to_the_frame_at_or_before() {
    let mut f = vec![b'F', b'L', b'V', 1, 4, 0, 0, 0, 9, 0, 0, 0, 0];
    tag(&mut f, 8, 0, AAC_HEADER);
    for i in 0..10u32 {
        tag(&mut f, 8, i * 100, &[0xaf, 1, i as u8]);
    }
    let file = TempFile::with(&f);
    let mut s = FlvSource::open(&file.0).unwrap();
    assert_eq!(s.seek(450).unwrap(), 400);
    assert_eq!(s.next_message().unwrap().unwrap().payload[2], 4);
}

/// A crash leaves a file cut anywhere: it opens up to its last complete tag (or is
/// `Invalid` before the first media tag), and never panics.
#[test]
fn a_file_cut_anywhere_reads_up_to_its_last_complete_tag() {
    let whole = sample();
    let mut last = 0;
    for cut in 0..whole.len() {
        let file = TempFile::with(&whole[..cut]);
        match FlvSource::open(&file.0) {
            Ok(mut s) => {
                assert!(s.tag_count() >= last, "cut {cut}");
                last = s.tag_count();
                let media = drain(&mut s);
                assert_eq!(media.len() + s.headers().len(), s.tag_count(), "cut {cut}");
            }
            Err(RecordError::Invalid(_)) => assert_eq!(last, 0, "cut {cut}"),
            Err(e) => panic!("cut {cut}: {e}"),
        }
    }
    // Cut within the last PreviousTagSize: every tag is complete.
    assert_eq!(last, 63);
}

#[test]
fn not_flv_is_invalid() {
    for bytes in
        [&b""[..], b"FLV", b"MP4\x01\x05\0\0\0\x09\0\0\0\0", b"FLV\x01\x05\0\0\0\x09\0\0\0\0"]
    {
        let file = TempFile::with(bytes);
        assert!(matches!(FlvSource::open(&file.0), Err(RecordError::Invalid(_))), "{bytes:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Garbage (after a valid header, or instead of one) is `Invalid` or reads what is
    /// complete; it never panics.
    #[test]
    fn garbage_never_panics(body in proptest::collection::vec(any::<u8>(), 0..600), header in any::<bool>()) {
        let mut bytes = if header { sample()[..13].to_vec() } else { Vec::new() };
        bytes.extend_from_slice(&body);
        let file = TempFile::with(&bytes);
        if let Ok(mut s) = FlvSource::open(&file.0) {
            let _ = s.seek(1000);
            while let Ok(Some(_)) = s.next_message() {}
        }
    }

    /// Garbage spliced into a valid file: never a panic.
    #[test]
    fn spliced_garbage_never_panics(at in 0usize..800, body in proptest::collection::vec(any::<u8>(), 1..64)) {
        let mut bytes = sample();
        let at = at.min(bytes.len());
        bytes.splice(at..at, body);
        let file = TempFile::with(&bytes);
        if let Ok(mut s) = FlvSource::open(&file.0) {
            let _ = s.seek(1500);
            while let Ok(Some(_)) = s.next_message() {}
        }
    }
}
