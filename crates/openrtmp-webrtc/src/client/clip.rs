//! Readers for the test clips FFmpeg makes, which [`super::WhipSender`] publishes: an H.264
//! Annex B elementary stream (ITU-T H.264 Annex B, written with `-x264-params aud=1` so
//! every access unit opens with an access unit delimiter, §7.4.1.2.3) and an Ogg Opus file
//! (Ogg pages, RFC 3533; Opus in Ogg, RFC 7845).
//!
//! Both take whole files in memory (clips are a few seconds) and never panic, whatever the
//! bytes: the Ogg reader is bounds-checked throughout and has a property test on arbitrary
//! input.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use bytes::Bytes;

/// NAL unit type of an access unit delimiter (H.264 Table 7-1).
const NAL_AUD: u8 = 9;

/// Why an Ogg Opus file could not be read. Offsets are byte offsets into the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClipError {
    /// No `OggS` capture pattern where a page must start (RFC 3533 §6).
    #[error("no Ogg page at offset {offset}")]
    NotOgg { offset: usize },
    /// A page header or body runs past the end of the file.
    #[error("Ogg page at offset {offset} is truncated")]
    Truncated { offset: usize },
    /// `stream_structure_version` is not 0 (RFC 3533 §6).
    #[error("Ogg page at offset {offset} has version {version}")]
    BadVersion { offset: usize, version: u8 },
    /// The page checksum does not match (RFC 3533 §6, CRC-32 polynomial 0x04c11db7).
    #[error("Ogg page at offset {offset}: CRC {found:#010x}, computed {computed:#010x}")]
    BadCrc { offset: usize, found: u32, computed: u32 },
    /// No logical stream starts with an `OpusHead` packet (RFC 7845 §5.1).
    #[error("no Opus stream (OpusHead) in the file")]
    NoOpusHead,
}

/// The NAL units of an Annex B byte stream, without start codes: split at every
/// `00 00 01` (a 4-byte start code is a 3-byte one after a zero byte, and trailing zero
/// bytes belong to no NAL unit, Annex B.2). Bytes before the first start code are skipped.
pub fn nal_units(annexb: &[u8]) -> Vec<&[u8]> {
    nal_ranges(annexb).into_iter().filter_map(|(start, end)| annexb.get(start..end)).collect()
}

/// `(start, end)` byte ranges of the NAL units in `annexb` (after their start codes).
fn nal_ranges(annexb: &[u8]) -> Vec<(usize, usize)> {
    let mut starts = Vec::new();
    let mut i = 0;
    while let Some(window) = annexb.get(i..i + 3) {
        if window == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut ranges = Vec::with_capacity(starts.len());
    for (n, &start) in starts.iter().enumerate() {
        // Up to the next start code (whose 00 00 01 begins 3 bytes before its payload).
        let mut end = starts.get(n + 1).map_or(annexb.len(), |next| next - 3);
        while end > start && annexb.get(end - 1) == Some(&0) {
            end -= 1;
        }
        if end > start {
            ranges.push((start, end));
        }
    }
    ranges
}

/// Splits an Annex B H.264 elementary stream into access units: a new one starts at each
/// access unit delimiter NAL (type 9). Each item is the original bytes from the AUD's start
/// code (3 or 4 bytes, as written) up to the next AUD's start code, so it is itself Annex B
/// (what `WhipSender::write_video` takes; str0m's packetizer drops the AUDs). NAL units
/// before the first AUD, if any, form one access unit of their own. A stream without AUDs
/// comes back as one item: write clips with `-x264-params aud=1`.
pub fn annexb_access_units(stream: Bytes) -> Vec<Bytes> {
    let ranges = nal_ranges(&stream);
    // Where each AUD's start code begins: its 00 00 01, plus one leading zero if present.
    let mut cuts: Vec<usize> = ranges
        .iter()
        .filter(|(start, _)| stream.get(*start).is_some_and(|b| b & 0x1f == NAL_AUD))
        .map(|&(start, _)| {
            let code = start - 3;
            if code > 0 && stream.get(code - 1) == Some(&0) {
                code - 1
            } else {
                code
            }
        })
        .collect();
    let first = ranges.first().map(|&(start, _)| start - 3);
    match (first, cuts.first()) {
        (Some(first), Some(&cut)) if first < cut.saturating_sub(1) => cuts.insert(0, first),
        (Some(first), None) => cuts.push(first),
        _ => {}
    }
    let mut units = Vec::with_capacity(cuts.len());
    for (n, &cut) in cuts.iter().enumerate() {
        let end = cuts.get(n + 1).copied().unwrap_or(stream.len());
        if end > cut {
            units.push(stream.slice(cut..end));
        }
    }
    units
}

/// The Opus packets of an Ogg Opus file, in order, each with the granule position at its
/// end (48 kHz samples, including the pre-skip of RFC 7845 §4.2). The Ogg stream only
/// stamps the last packet ending on a page; earlier packets on the page get that granule
/// minus the durations (RFC 6716 §3.1 TOC byte) of the packets after them. The `OpusHead`
/// and `OpusTags` header packets are skipped, as are other logical streams. Packets continued
/// across pages are joined; a packet still open at the end of the file is dropped.
pub fn ogg_opus_packets(file: &[u8]) -> Result<Vec<(u64, Bytes)>, ClipError> {
    let mut out = Vec::new();
    let mut serial: Option<u32> = None;
    let mut partial: Vec<u8> = Vec::new();
    let mut offset = 0;
    while offset < file.len() {
        let page = Page::parse(file, offset)?;
        offset = page.next;
        if serial.is_none() && page.body.starts_with(b"OpusHead") {
            serial = Some(page.serial);
        }
        if serial != Some(page.serial) {
            continue;
        }
        let mut ended: Vec<Bytes> = Vec::new();
        let mut at = 0usize;
        for &lace in page.lacing {
            let end = at + usize::from(lace);
            partial.extend_from_slice(page.body.get(at..end).unwrap_or_default());
            at = end;
            if lace < 255 {
                ended.push(Bytes::from(std::mem::take(&mut partial)));
            }
        }
        // The page granule belongs to the last packet ending here; walk back by durations.
        let mut granule = page.granule;
        let mut stamped: Vec<(u64, Bytes)> = Vec::with_capacity(ended.len());
        for packet in ended.into_iter().rev() {
            let duration = opus_packet_samples(&packet).unwrap_or(0);
            stamped.push((granule, packet));
            granule = granule.saturating_sub(u64::from(duration));
        }
        stamped.reverse();
        out.extend(
            stamped
                .into_iter()
                .filter(|(_, p)| !p.starts_with(b"OpusHead") && !p.starts_with(b"OpusTags")),
        );
    }
    if serial.is_none() {
        return Err(ClipError::NoOpusHead);
    }
    Ok(out)
}

/// The duration of an Opus packet in 48 kHz samples, from its TOC byte and frame count
/// (RFC 6716 §3.1, §3.2.5); `None` for an empty or malformed packet.
pub fn opus_packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame sizes in 48 kHz samples: SILK 10/20/40/60 ms, Hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
    let frame: u32 = match (config, config % 4) {
        (0..=11, 0) => 480,
        (0..=11, 1) => 960,
        (0..=11, 2) => 1920,
        (0..=11, _) => 2880,
        (12..=15, n) => 480 << (n % 2),
        (_, n) => 120 << n,
    };
    let frames = match toc & 0x3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    Some(frame * frames)
}

/// One Ogg page (RFC 3533 §6), borrowed from the file.
struct Page<'a> {
    granule: u64,
    serial: u32,
    lacing: &'a [u8],
    body: &'a [u8],
    /// Offset of the next page.
    next: usize,
}

impl<'a> Page<'a> {
    const HEADER: usize = 27;

    fn parse(file: &'a [u8], offset: usize) -> Result<Page<'a>, ClipError> {
        let truncated = ClipError::Truncated { offset };
        let rest = file.get(offset..).ok_or(truncated.clone())?;
        if !rest.starts_with(b"OggS") {
            return Err(ClipError::NotOgg { offset });
        }
        let header = rest.get(..Self::HEADER).ok_or(truncated.clone())?;
        let field = |range: std::ops::Range<usize>| header.get(range).unwrap_or_default();
        let version = field(4..5).first().copied().unwrap_or_default();
        if version != 0 {
            return Err(ClipError::BadVersion { offset, version });
        }
        let granule = u64::from_le_bytes(field(6..14).try_into().unwrap_or_default());
        let serial = u32::from_le_bytes(field(14..18).try_into().unwrap_or_default());
        let found = u32::from_le_bytes(field(22..26).try_into().unwrap_or_default());
        let segments = usize::from(field(26..27).first().copied().unwrap_or_default());
        let lacing = rest.get(Self::HEADER..Self::HEADER + segments).ok_or(truncated.clone())?;
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let page_len = Self::HEADER + segments + body_len;
        let whole = rest.get(..page_len).ok_or(truncated)?;
        let body = whole.get(Self::HEADER + segments..).unwrap_or_default();
        let computed = ogg_crc(whole);
        if computed != found {
            return Err(ClipError::BadCrc { offset, found, computed });
        }
        Ok(Page { granule, serial, lacing, body, next: offset + page_len })
    }
}

/// The Ogg page checksum: CRC-32, polynomial 0x04c11db7, not reflected, initial 0, over
/// the page with its CRC field (bytes 22..26) taken as zero (RFC 3533 §6).
fn ogg_crc(page: &[u8]) -> u32 {
    let mut crc: u32 = 0;
    for (i, &byte) in page.iter().enumerate() {
        let byte = if (22..26).contains(&i) { 0 } else { byte };
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

/// Test clips made by FFmpeg once per test process (Debian's FFmpeg; the skip/fail rule of
/// `openrtmp_testkit::skip_or_fail` when it is missing).
#[cfg(test)]
pub(crate) mod fixture {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::sync::OnceLock;

    /// `(clip.h264, clip.ogg)`, or `None` (after the skip message) without FFmpeg.
    pub(crate) fn clips() -> Option<(Vec<u8>, Vec<u8>)> {
        static CLIPS: OnceLock<Option<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
        CLIPS
            .get_or_init(|| {
                let ffmpeg = openrtmp_testkit::ffmpeg()?;
                let dir = openrtmp_testkit::TempDir::new("webrtc-clips");
                let (h264, ogg) = openrtmp_testkit::webrtc_clip(&ffmpeg, &dir.0, "640x360", 3)
                    .unwrap_or_else(|e| panic!("making the clips: {e}"));
                Some((
                    std::fs::read(h264).expect("read clip"),
                    std::fs::read(ogg).expect("read clip"),
                ))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nal_units_take_3_and_4_byte_start_codes_and_drop_trailing_zeros() {
        let stream = [0xff, 0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 0, 1, 0x65, 7];
        assert_eq!(nal_units(&stream), vec![&[9, 0xf0][..], &[0x67, 1, 2], &[0x65, 7]]);
        assert!(nal_units(&[0, 0, 1]).is_empty());
        assert!(nal_units(&[]).is_empty());
    }

    #[test]
    fn access_units_split_at_auds_keeping_the_bytes() {
        // A leading SPS without AUD, then two AUs (4- and 3-byte start codes).
        let stream = Bytes::from_static(&[
            0, 0, 1, 0x67, 1, // SPS before any AUD
            0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x65, 0xaa, // AU 1
            0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x41, 0xbb, // AU 2
        ]);
        let units = annexb_access_units(stream.clone());
        assert_eq!(units.len(), 3);
        assert_eq!(&units[0][..], &[0, 0, 1, 0x67, 1]);
        assert_eq!(&units[1][..], &[0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x65, 0xaa]);
        assert_eq!(&units[2][..], &[0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x41, 0xbb]);
        let joined: Vec<u8> = units.iter().flat_map(|u| u.iter().copied()).collect();
        assert_eq!(joined, stream.to_vec());
        assert!(annexb_access_units(Bytes::new()).is_empty());
    }

    #[test]
    fn opus_durations_from_the_toc() {
        assert_eq!(opus_packet_samples(&[0xfc]), Some(960)); // CELT FB 20 ms, one frame
        assert_eq!(opus_packet_samples(&[0x0b << 3 | 1]), Some(5760)); // SILK 60 ms x2
        assert_eq!(opus_packet_samples(&[0x10 << 3 | 3, 0x03]), Some(360)); // 2.5 ms x3
        assert_eq!(opus_packet_samples(&[0x0a << 3]), Some(1920)); // SILK 40 ms
        assert_eq!(opus_packet_samples(&[0x0f << 3]), Some(960)); // Hybrid 20 ms
        assert_eq!(opus_packet_samples(&[0x03]), None); // code 3 without a count byte
        assert_eq!(opus_packet_samples(&[]), None);
    }

    #[test]
    fn ffmpeg_h264_clip_splits_into_its_frames() {
        let Some((h264, _)) = fixture::clips() else { return };
        let units = annexb_access_units(Bytes::from(h264.clone()));
        assert_eq!(units.len(), 90, "3 s at 30 fps");
        let total: usize = units.iter().map(Bytes::len).sum();
        assert_eq!(total, h264.len(), "no byte lost or added");
        let mut idr = Vec::new();
        for (i, unit) in units.iter().enumerate() {
            let nals = nal_units(unit);
            assert_eq!(nals[0][0] & 0x1f, NAL_AUD, "unit {i} opens with an AUD");
            let slices = nals.iter().filter(|n| matches!(n[0] & 0x1f, 1 | 5)).count();
            assert_eq!(slices, 1, "unit {i}: one slice (x264 default)");
            if nals.iter().any(|n| n[0] & 0x1f == 5) {
                assert!(nals.iter().any(|n| n[0] & 0x1f == 7), "unit {i}: SPS with the IDR");
                idr.push(i);
            }
        }
        assert_eq!(idr, vec![0, 30, 60], "GOP 30");
    }

    #[test]
    fn ffmpeg_ogg_clip_reads_as_20ms_packets() {
        let Some((_, ogg)) = fixture::clips() else { return };
        let packets = ogg_opus_packets(&ogg).unwrap();
        // 3 s of 20 ms packets, give or take the encoder's padding for the pre-skip.
        assert!((150..=152).contains(&packets.len()), "{} packets", packets.len());
        for (i, pair) in packets.windows(2).enumerate() {
            assert_eq!(opus_packet_samples(&pair[1].1), Some(960));
            let step = pair[1].0 - pair[0].0;
            if i + 2 < packets.len() {
                assert_eq!(step, 960, "granules step by 20 ms");
            } else {
                // The last granule is trimmed to the real end (RFC 7845 §4.5).
                assert!((1..=960).contains(&step), "last step {step}");
            }
        }
        assert!(!packets.iter().any(|(_, p)| p.starts_with(b"Opus")));
        // A bit flip anywhere in a page is a CRC error, never a panic.
        let mut broken = ogg.clone();
        broken[200] ^= 0x40;
        assert!(matches!(ogg_opus_packets(&broken), Err(ClipError::BadCrc { .. })));
        assert_eq!(
            ogg_opus_packets(&ogg[..ogg.len() - 3]).unwrap_err(),
            ClipError::Truncated { offset: last_page_offset(&ogg) }
        );
    }

    fn last_page_offset(ogg: &[u8]) -> usize {
        (0..ogg.len() - 4).rev().find(|&i| &ogg[i..i + 4] == b"OggS").unwrap()
    }

    #[test]
    fn ogg_packets_span_pages_and_header_packets_are_skipped() {
        let head = page(1, 0, 2, &[b"OpusHead\x01\x02".to_vec()]);
        let tags = page(1, 0, 0, &[b"OpusTags".to_vec()]);
        // Another logical stream in between is ignored.
        let other = page(2, 0, 2, &[vec![0xfc, 1, 2]]);
        // A 300-byte packet split over two pages, then a small one.
        let big: Vec<u8> = std::iter::once(0xfc).chain((1..300).map(|i| i as u8)).collect();
        let mut first = page_raw(1, u64::MAX, 0, &[255], &big[..255]);
        let mut body = big[255..].to_vec();
        body.push(0xfc);
        let second = page_raw(1, 960 * 2, 1, &[45, 1], &body);
        let mut file = [head, other, tags].concat();
        file.append(&mut first);
        file.extend(second);
        let got = ogg_opus_packets(&file).unwrap();
        assert_eq!(got, vec![(960, Bytes::from(big)), (1920, Bytes::from_static(&[0xfc]))]);
        assert_eq!(ogg_opus_packets(b"nope"), Err(ClipError::NotOgg { offset: 0 }));
        assert_eq!(ogg_opus_packets(&[]), Err(ClipError::NoOpusHead));
    }

    /// An Ogg page holding whole `packets` (each under 255 bytes here).
    fn page(serial: u32, granule: u64, flags: u8, packets: &[Vec<u8>]) -> Vec<u8> {
        let lacing: Vec<u8> = packets.iter().map(|p| p.len() as u8).collect();
        page_raw(serial, granule, flags, &lacing, &packets.concat())
    }

    fn page_raw(serial: u32, granule: u64, flags: u8, lacing: &[u8], body: &[u8]) -> Vec<u8> {
        let mut p = b"OggS".to_vec();
        p.push(0);
        p.push(flags);
        p.extend(granule.to_le_bytes());
        p.extend(serial.to_le_bytes());
        p.extend(0u32.to_le_bytes());
        p.extend([0; 4]);
        p.push(lacing.len() as u8);
        p.extend(lacing);
        p.extend(body);
        let crc = ogg_crc(&p);
        p[22..26].copy_from_slice(&crc.to_le_bytes());
        p
    }

    proptest! {
        #[test]
        fn ogg_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = ogg_opus_packets(&bytes);
            let mut with_magic = b"OggS\0".to_vec();
            with_magic.extend(&bytes);
            let _ = ogg_opus_packets(&with_magic);
        }

        #[test]
        fn ogg_pages_with_valid_crc_never_panic(
            pages in proptest::collection::vec(
                (any::<u64>(), 0u32..3, proptest::collection::vec(any::<u8>(), 0..8),
                 proptest::collection::vec(any::<u8>(), 0..600)),
                0..6,
            )
        ) {
            let mut file = page(1, 0, 2, &[b"OpusHead".to_vec()]);
            for (granule, serial, lacing, body) in pages {
                file.extend(page_raw(serial, granule, 0, &lacing, &body));
            }
            let _ = ogg_opus_packets(&file);
        }

        #[test]
        fn annexb_split_keeps_every_byte_from_the_first_start_code(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![0u8, 1, 9, 0x65]), 0..512)
        ) {
            let stream = Bytes::from(bytes);
            let units = annexb_access_units(stream.clone());
            let joined: Vec<u8> = units.iter().flat_map(|u| u.iter().copied()).collect();
            match nal_ranges(&stream).first() {
                Some(&(start, _)) => {
                    prop_assert!(stream.ends_with(&joined));
                    prop_assert!(joined.len() >= stream.len() - (start - 3));
                }
                None => prop_assert!(joined.is_empty()),
            }
        }
    }
}
