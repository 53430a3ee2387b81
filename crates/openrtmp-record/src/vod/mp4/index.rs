//! The sample index of an MP4 recording: where every sample of a track is in the file and
//! when it plays, built once at open from the fragments' `moof` boxes (ISO/IEC 14496-12
//! §8.8: `tfhd`, `tfdt`, `trun`, with `trex` defaults) or from a plain file's sample tables
//! (§8.6-§8.7: `stts`, `ctts`, `stss`, `stsc`, `stsz`, `stco`/`co64`).
//!
//! Every sample's bytes are checked to lie inside the file before the sample is indexed:
//! what the index says can always be read.

use mp4_atom::{Moof, Stbl, StszSamples, Traf, Trex};

use super::track::TrackInfo;

/// The most samples one `trun` or sample table may declare. A one-hour recording has about
/// 300 000; a run declaring more is corrupt (its count would otherwise drive a loop of up to
/// 2^32 steps without a byte of input behind each).
const MAX_SAMPLES_PER_RUN: u32 = 1 << 22;

/// The largest sample indexed (64 MiB: a 4K intra frame is a few MB). A larger declared
/// size is corruption; reading it would allocate that much per message.
const MAX_SAMPLE_SIZE: u32 = 64 << 20;

/// `sample_is_non_sync_sample` of the sample flags (ISO/IEC 14496-12 §8.8.3.1).
const NON_SYNC: u32 = 0x0001_0000;

/// One indexed sample (32 bytes; a one-hour recording's ~300 000 samples take ~10 MB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// Where its bytes start in the file; `offset + size` is within the file.
    pub(crate) offset: u64,
    /// Decoding time in the track's timescale.
    pub(crate) dts: u64,
    /// Composition offset (presentation minus decoding time) in the track's timescale.
    pub(crate) cts: i32,
    pub(crate) size: u32,
    /// A random access point: a video sync sample; every audio sample.
    pub(crate) sync: bool,
}

/// A track and its samples in decoding order.
#[derive(Debug)]
pub(crate) struct TrackIndex {
    pub(crate) info: TrackInfo,
    /// The `trex` defaults of this track (zeros when the file has none).
    defaults: Trex,
    pub(crate) samples: Vec<Sample>,
    /// Decoding time after the last sample: where a fragment without `tfdt` starts.
    next_dts: u64,
    /// Duration of the last sample, so the track's end time is known.
    pub(crate) last_duration: u32,
}

impl TrackIndex {
    pub(crate) fn new(info: TrackInfo, trex: Option<&Trex>) -> TrackIndex {
        let defaults = trex.cloned().unwrap_or_default();
        TrackIndex { info, defaults, samples: Vec::new(), next_dts: 0, last_duration: 0 }
    }

    /// Decoding time just after the last sample (track timescale).
    pub(crate) fn end_dts(&self) -> u64 {
        self.next_dts
    }
}

/// A sample found in a fragment, not yet committed to its track.
struct Pending {
    track: usize,
    sample: Sample,
    duration: u32,
}

/// Adds the samples of the `moof` box that starts at byte `moof_start`. Returns `false`,
/// adding nothing, when the fragment is incomplete or inconsistent (a sample reaching past
/// `file_len`, a run too long): the caller stops there, as at the end of the file.
pub(crate) fn add_fragment(
    tracks: &mut [TrackIndex],
    moof: &Moof,
    moof_start: u64,
    file_len: u64,
) -> bool {
    let mut pending = Vec::new();
    // Without base_data_offset or default-base-is-moof, the first traf's data starts at the
    // moof and each later one where the previous traf's data ended (§8.8.7.1).
    let mut data_end = moof_start;
    for traf in &moof.traf {
        let track = tracks.iter().position(|t| t.info.id == traf.tfhd.track_id);
        let Some(end) = add_traf(tracks, track, traf, moof_start, data_end, file_len, &mut pending)
        else {
            return false;
        };
        data_end = end;
    }
    for p in pending {
        if let Some(t) = tracks.get_mut(p.track) {
            t.next_dts = p.sample.dts.saturating_add(u64::from(p.duration));
            t.last_duration = p.duration;
            if p.sample.size > 0 {
                t.samples.push(p.sample);
            }
        }
    }
    true
}

/// The samples of one `traf` into `pending` (`track` is `None` for a track we do not
/// play: its data is still walked, for the next traf's implicit base). Returns where the
/// traf's data ends, or `None` when the fragment cannot be used.
fn add_traf(
    tracks: &[TrackIndex],
    track: Option<usize>,
    traf: &Traf,
    moof_start: u64,
    data_end: u64,
    file_len: u64,
    pending: &mut Vec<Pending>,
) -> Option<u64> {
    let tfhd = &traf.tfhd;
    let t = track.and_then(|i| tracks.get(i));
    let defaults = t.map(|t| t.defaults.clone()).unwrap_or_default();
    let is_video = t.is_some_and(|t| t.info.kind.is_video());
    let base = match tfhd.base_data_offset {
        Some(b) => b,
        None if tfhd.default_base_is_moof => moof_start,
        None => data_end,
    };
    // A track's dts continues over fragments without tfdt: from the pending samples of an
    // earlier traf of this moof, else from the track's end.
    let mut dts = match (traf.tfdt.as_ref(), track) {
        (Some(tfdt), _) => tfdt.base_media_decode_time,
        (None, Some(i)) => pending
            .iter()
            .rev()
            .find(|p| p.track == i)
            .map(|p| p.sample.dts.saturating_add(u64::from(p.duration)))
            .or(t.map(|t| t.next_dts))
            .unwrap_or(0),
        (None, None) => 0,
    };
    let mut pos = base;
    for trun in &traf.trun {
        if trun.samples.len() > MAX_SAMPLES_PER_RUN as usize {
            return None;
        }
        if let Some(off) = trun.data_offset {
            pos = base.checked_add_signed(i64::from(off))?;
        }
        for e in trun.samples.iter() {
            let duration = e
                .duration
                .or(tfhd.default_sample_duration)
                .unwrap_or(defaults.default_sample_duration);
            let size = e.size.or(tfhd.default_sample_size).unwrap_or(defaults.default_sample_size);
            let flags =
                e.flags.or(tfhd.default_sample_flags).unwrap_or(defaults.default_sample_flags);
            if size > MAX_SAMPLE_SIZE {
                return None;
            }
            let end = pos.checked_add(u64::from(size)).filter(|&end| end <= file_len)?;
            if let Some(track) = track {
                let cts = e.cts.unwrap_or(0).clamp(i64::from(i32::MIN), i64::from(i32::MAX));
                let sync = !is_video || flags & NON_SYNC == 0;
                #[allow(clippy::cast_possible_truncation)] // clamped to i32 above
                let sample = Sample { offset: pos, dts, cts: cts as i32, size, sync };
                pending.push(Pending { track, sample, duration });
            }
            dts = dts.saturating_add(u64::from(duration));
            pos = end;
        }
    }
    Some(pos)
}

/// Indexes a plain (non-fragmented) track from its sample tables. Samples whose bytes lie
/// past `file_len` end the index there (a file cut short).
pub(crate) fn add_sample_table(track: &mut TrackIndex, stbl: &Stbl, file_len: u64) {
    let sizes: Box<dyn Fn(usize) -> Option<u32>> = match &stbl.stsz.samples {
        StszSamples::Identical { count, size } => {
            let (count, size) = (*count, *size);
            Box::new(move |i| (i < count as usize).then_some(size))
        }
        StszSamples::Different { sizes } => Box::new(move |i| sizes.get(i).copied()),
    };
    let count = match &stbl.stsz.samples {
        StszSamples::Identical { count, .. } => (*count).min(MAX_SAMPLES_PER_RUN) as usize,
        StszSamples::Different { sizes } => sizes.len(),
    };
    let chunk_offsets: Vec<u64> = match (&stbl.co64, &stbl.stco) {
        (Some(co64), _) => co64.entries.clone(),
        (None, Some(stco)) => stco.entries.iter().map(|&o| u64::from(o)).collect(),
        (None, None) => return,
    };
    let mut deltas = stbl.stts.entries.iter().flat_map(|e| {
        std::iter::repeat_n(e.sample_delta, e.sample_count.min(MAX_SAMPLES_PER_RUN) as usize)
    });
    let mut ctts = stbl.ctts.iter().flat_map(|c| c.entries.iter()).flat_map(|e| {
        std::iter::repeat_n(e.sample_offset, e.sample_count.min(MAX_SAMPLES_PER_RUN) as usize)
    });
    // stss lists 1-based sync sample numbers in increasing order; no stss: all are sync.
    let mut stss = stbl.stss.as_ref().map(|s| s.entries.iter().copied().peekable());
    let is_video = track.info.kind.is_video();
    let (mut index, mut dts) = (0usize, 0u64);
    let stsc = &stbl.stsc.entries;
    let mut in_force = 0;
    for (chunk, &chunk_offset) in chunk_offsets.iter().enumerate() {
        // The stsc entry in force for this 1-based chunk number: the last one starting at
        // or before it (entries are in increasing first_chunk order).
        let number = u32::try_from(chunk + 1).unwrap_or(u32::MAX);
        while stsc.get(in_force + 1).is_some_and(|e| e.first_chunk <= number) {
            in_force += 1;
        }
        let Some(entry) = stsc.get(in_force).filter(|e| e.first_chunk <= number) else {
            return;
        };
        let mut pos = chunk_offset;
        for _ in 0..entry.samples_per_chunk.min(MAX_SAMPLES_PER_RUN) {
            if index >= count {
                return;
            }
            let Some(size) = sizes(index).filter(|&s| s <= MAX_SAMPLE_SIZE) else { return };
            let Some(end) = pos.checked_add(u64::from(size)).filter(|&e| e <= file_len) else {
                return;
            };
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let sync = match stss.as_mut() {
                None => true,
                Some(s) => {
                    while s.next_if(|&n| n < number).is_some() {}
                    s.next_if_eq(&number).is_some()
                }
            };
            let duration = deltas.next().unwrap_or(0);
            let cts = ctts.next().unwrap_or(0).clamp(i64::from(i32::MIN), i64::from(i32::MAX));
            #[allow(clippy::cast_possible_truncation)] // clamped to i32 above
            let sample =
                Sample { offset: pos, dts, cts: cts as i32, size, sync: sync || !is_video };
            if size > 0 {
                track.samples.push(sample);
            }
            dts = dts.saturating_add(u64::from(duration));
            track.next_dts = dts;
            track.last_duration = duration;
            pos = end;
            index += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use mp4_atom::{Mfhd, Tfdt, Tfhd, Trun, TrunEntry, TrunSamples};
    use openrtmp_media::FourCc;

    use super::*;
    use crate::vod::mp4::track::Kind;

    fn track(id: u32, kind: Kind, trex: Option<&Trex>) -> TrackIndex {
        let info = TrackInfo {
            id,
            kind,
            timescale: 1000,
            config: Bytes::new(),
            width: 0,
            height: 0,
            sample_rate: 0,
            channels: 0,
            offset: 0,
        };
        TrackIndex::new(info, trex)
    }

    fn entry(size: u32, flags: Option<u32>) -> TrunEntry {
        TrunEntry { duration: None, size: Some(size), flags, cts: None }
    }

    /// Two trafs without base_data_offset or default-base-is-moof: the first's data starts
    /// at the moof, the second's where the first's ended; durations and flags come from
    /// trex, then tfhd; a fragment without tfdt continues the track's time.
    #[test]
    fn implicit_bases_and_defaults() {
        let trex = Trex {
            track_id: 1,
            default_sample_duration: 40,
            default_sample_flags: NON_SYNC,
            ..Trex::default()
        };
        let mut tracks =
            [track(1, Kind::ExVideo(FourCc::HEVC), Some(&trex)), track(2, Kind::Opus, None)];
        let moof = Moof {
            mfhd: Mfhd { sequence_number: 1 },
            traf: vec![
                Traf {
                    tfhd: Tfhd { track_id: 1, ..Tfhd::default() },
                    tfdt: Some(Tfdt { base_media_decode_time: 1000 }),
                    trun: vec![Trun {
                        data_offset: Some(100),
                        samples: TrunSamples::Explicit(vec![entry(10, Some(0)), entry(20, None)]),
                    }],
                    ..Traf::default()
                },
                Traf {
                    tfhd: Tfhd {
                        track_id: 2,
                        default_sample_duration: Some(20),
                        ..Tfhd::default()
                    },
                    tfdt: None,
                    trun: vec![Trun {
                        data_offset: None,
                        samples: TrunSamples::Explicit(vec![entry(5, None)]),
                    }],
                    ..Traf::default()
                },
            ],
        };
        assert!(add_fragment(&mut tracks, &moof, 1000, 10_000));
        let v = &tracks[0].samples;
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].offset, v[0].dts, v[0].size, v[0].sync), (1100, 1000, 10, true));
        assert_eq!((v[1].offset, v[1].dts, v[1].size, v[1].sync), (1110, 1040, 20, false));
        let a = &tracks[1].samples;
        assert_eq!((a[0].offset, a[0].dts, a[0].sync), (1130, 0, true));
        assert_eq!(tracks[0].end_dts(), 1080);
        assert_eq!(tracks[1].end_dts(), 20);
    }

    /// default-base-is-moof, a run's data offset relative to it, tfhd's default size and
    /// flags for an inherited run; a fragment whose data passes the end of the file adds
    /// nothing.
    #[test]
    fn base_is_moof_and_incomplete_fragment() {
        let mut tracks = [track(1, Kind::Avc, None)];
        let traf = |tfdt: u64| Traf {
            tfhd: Tfhd {
                track_id: 1,
                default_base_is_moof: true,
                default_sample_duration: Some(40),
                default_sample_size: Some(100),
                default_sample_flags: Some(NON_SYNC),
                ..Tfhd::default()
            },
            tfdt: Some(Tfdt { base_media_decode_time: tfdt }),
            trun: vec![Trun {
                data_offset: Some(50),
                samples: TrunSamples::Inherited { count: 3, first_flags: Some(0) },
            }],
            ..Traf::default()
        };
        let moof = Moof { mfhd: Mfhd { sequence_number: 1 }, traf: vec![traf(0)] };
        assert!(add_fragment(&mut tracks, &moof, 0, 350));
        let s = &tracks[0].samples;
        assert_eq!(
            s.iter().map(|s| (s.offset, s.dts, s.sync)).collect::<Vec<_>>(),
            [(50, 0, true), (150, 40, false), (250, 80, false)]
        );
        // The next fragment at 350 needs bytes up to 350 + 350: the file has fewer.
        let moof = Moof { mfhd: Mfhd { sequence_number: 2 }, traf: vec![traf(120)] };
        assert!(!add_fragment(&mut tracks, &moof, 350, 699));
        assert_eq!(tracks[0].samples.len(), 3);
        assert!(add_fragment(&mut tracks, &moof, 350, 700));
        assert_eq!(tracks[0].samples.len(), 6);
    }

    /// A run declaring billions of inherited samples is refused, not looped over.
    #[test]
    fn huge_inherited_run_is_refused() {
        let mut tracks = [track(1, Kind::Avc, None)];
        let moof = Moof {
            mfhd: Mfhd { sequence_number: 1 },
            traf: vec![Traf {
                tfhd: Tfhd { track_id: 1, default_sample_size: Some(0), ..Tfhd::default() },
                trun: vec![Trun {
                    data_offset: None,
                    samples: TrunSamples::Inherited { count: u32::MAX, first_flags: None },
                }],
                ..Traf::default()
            }],
        };
        assert!(!add_fragment(&mut tracks, &moof, 0, 1 << 40));
        assert!(tracks[0].samples.is_empty());
    }
}
