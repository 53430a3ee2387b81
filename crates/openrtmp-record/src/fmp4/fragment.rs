//! One movie fragment (ISO/IEC 14496-12 §8.8): a `moof` with one `traf` per track that
//! has samples, then one `mdat` with those samples, track after track.

use bytes::Bytes;
use mp4_atom::{Atom, Encode, Header, Mdat, Mfhd, Moof, Tfdt, Tfhd, Traf, Trun, TrunEntry};

use crate::RecordError;

/// `sample_flags` (§8.8.3.1) of a sync sample: `sample_depends_on` = 2 (depends on no
/// other sample), `sample_is_non_sync_sample` = 0.
pub(crate) const SYNC: u32 = 0x0200_0000;
/// `sample_flags` of a non-sync sample: `sample_depends_on` = 1,
/// `sample_is_non_sync_sample` = 1.
pub(crate) const NON_SYNC: u32 = 0x0101_0000;

/// A media sample waiting for its fragment.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// Decode time in the track's timescale, from the segment's start.
    pub(crate) dts: u64,
    /// Duration in ticks; known once the next sample of the track has arrived.
    pub(crate) duration: u32,
    /// Composition offset in ticks (video: the FLV CompositionTime).
    pub(crate) cts: i32,
    /// A random access point.
    pub(crate) sync: bool,
    /// The payload, as slices of the RTMP message.
    pub(crate) data: Vec<Bytes>,
}

impl Sample {
    pub(crate) fn size(&self) -> usize {
        self.data.iter().map(Bytes::len).sum()
    }
}

/// The samples of one track in a fragment.
#[derive(Debug)]
pub(crate) struct Run<'a> {
    pub(crate) track_id: u32,
    /// Video tracks carry per-sample flags and composition offsets; audio samples are
    /// all sync samples (the `tfhd` default).
    pub(crate) video: bool,
    pub(crate) samples: &'a [Sample],
}

/// Encodes the fragment `sequence` of `runs` (tracks without samples left out): the
/// `moof` followed by the `mdat` header and the sample payloads, ready to append.
pub(crate) fn encode(sequence: u32, runs: &[Run<'_>]) -> Result<Vec<Bytes>, RecordError> {
    let runs: Vec<&Run<'_>> = runs.iter().filter(|r| !r.samples.is_empty()).collect();
    let mut moof = Moof {
        mfhd: Mfhd { sequence_number: sequence },
        traf: runs.iter().map(|r| traf(r)).collect(),
    };
    // The data offsets count from the start of the moof (default-base-is-moof), so its
    // size must be known: encode once with zero offsets (same size), then for real.
    let mut probe = Vec::new();
    moof.encode(&mut probe)?;
    let moof_size = probe.len();
    let mdat_header_size = 8;
    let mut offset = moof_size + mdat_header_size;
    for (traf, run) in moof.traf.iter_mut().zip(&runs) {
        let Some(trun) = traf.trun.first_mut() else { continue };
        trun.data_offset = Some(
            i32::try_from(offset)
                .map_err(|_| RecordError::Mp4(format!("data offset {offset} too large")))?,
        );
        offset += run.samples.iter().map(Sample::size).sum::<usize>();
    }
    let mut head = Vec::with_capacity(moof_size + mdat_header_size);
    moof.encode(&mut head)?;
    let payload = offset - moof_size - mdat_header_size;
    if payload.checked_add(mdat_header_size).is_none_or(|s| s > u32::MAX as usize) {
        return Err(RecordError::Mp4(format!("fragment of {payload} bytes")));
    }
    Header { kind: Mdat::KIND, size: Some(payload) }.encode(&mut head)?;
    let mut out = Vec::with_capacity(1 + runs.iter().map(|r| r.samples.len()).sum::<usize>());
    out.push(Bytes::from(head));
    for run in &runs {
        for s in run.samples {
            out.extend(s.data.iter().filter(|b| !b.is_empty()).cloned());
        }
    }
    Ok(out)
}

fn traf(run: &Run<'_>) -> Traf {
    let entries = run
        .samples
        .iter()
        .map(|s| TrunEntry {
            duration: Some(s.duration),
            size: Some(u32::try_from(s.size()).unwrap_or(u32::MAX)),
            flags: run.video.then_some(if s.sync { SYNC } else { NON_SYNC }),
            cts: run.video.then_some(i64::from(s.cts)),
        })
        .collect::<Vec<_>>();
    Traf {
        tfhd: Tfhd {
            track_id: run.track_id,
            default_sample_flags: (!run.video).then_some(SYNC),
            default_base_is_moof: true,
            ..Default::default()
        },
        tfdt: Some(Tfdt { base_media_decode_time: run.samples.first().map_or(0, |s| s.dts) }),
        trun: vec![Trun { data_offset: Some(0), samples: entries.into() }],
        ..Default::default()
    }
}

/// The kind of box `Header` writes for the mdat, for tests reading fragments back.
#[cfg(test)]
pub(crate) const MDAT: mp4_atom::FourCC = Mdat::KIND;

#[cfg(test)]
mod tests {
    use super::*;
    use mp4_atom::Decode;

    #[test]
    fn data_offsets_point_at_each_tracks_samples() {
        let v = [
            Sample {
                dts: 0,
                duration: 3600,
                cts: 0,
                sync: true,
                data: vec![Bytes::from_static(b"VVVV")],
            },
            Sample {
                dts: 3600,
                duration: 3600,
                cts: 3600,
                sync: false,
                data: vec![Bytes::from_static(b"vv")],
            },
        ];
        let a = [Sample {
            dts: 10,
            duration: 1024,
            cts: 0,
            sync: true,
            data: vec![Bytes::from_static(b"aaa")],
        }];
        let out = encode(
            7,
            &[
                Run { track_id: 1, video: true, samples: &v },
                Run { track_id: 2, video: false, samples: &a },
                Run { track_id: 3, video: false, samples: &[] },
            ],
        )
        .unwrap();
        let file: Vec<u8> = out.iter().flat_map(|b| b.to_vec()).collect();
        let mut buf = &file[..];
        let moof = Moof::decode(&mut buf).unwrap();
        assert_eq!(moof.mfhd.sequence_number, 7);
        assert_eq!(moof.traf.len(), 2);
        let header = Header::decode(&mut buf).unwrap();
        assert_eq!((header.kind, header.size), (MDAT, Some(9)));
        let off = |i: usize| moof.traf[i].trun[0].data_offset.unwrap() as usize;
        assert_eq!(&file[off(0)..off(0) + 6], b"VVVVvv");
        assert_eq!(&file[off(1)..off(1) + 3], b"aaa");
        assert_eq!(moof.traf[1].tfdt.as_ref().unwrap().base_media_decode_time, 10);
        let e: Vec<_> = moof.traf[0].trun[0].samples.iter().collect();
        assert_eq!(e[0].flags, Some(SYNC));
        assert_eq!(e[1].flags, Some(NON_SYNC));
        assert_eq!(e[1].cts, Some(3600));
    }
}
