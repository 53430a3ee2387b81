//! Per push target series: one per target while it is listed, labelled `app`, `stream`,
//! `target` (its id) and `url` (stream key redacted by the relay: the key never reaches
//! a label).

use std::fmt;

use openrtmp_server::relay::TargetStatus;
use prometheus_client::encoding::DescriptorEncoder;

use super::{escape, labelled_counter, labelled_gauge};

type Labels = [(&'static str, String); 4];

/// A family: name, help, and the value it reads from a target.
type Family = (&'static str, &'static str, fn(&TargetStatus) -> u64);

fn labels(t: &TargetStatus) -> Labels {
    [
        ("app", escape(&t.app)),
        ("stream", escape(&t.stream)),
        ("target", t.id.to_string()),
        ("url", escape(&t.url)),
    ]
}

/// Encodes the series of `targets`.
pub(super) fn encode(enc: &mut DescriptorEncoder<'_>, targets: &[TargetStatus]) -> fmt::Result {
    let help = "1, labelled with the target's state (connecting, live, stalled, backoff, failed).";
    labelled_gauge(
        enc,
        "openrtmp_target_state",
        help,
        targets.iter().map(|t| {
            let [app, stream, target, url] = labels(t);
            ([app, stream, target, url, ("state", t.state.name().to_owned())], 1)
        }),
    )?;
    let gauges: [Family; 4] = [
        ("openrtmp_target_bitrate_bps", "Bits per second sent to the target (5 s window).", |t| {
            t.bitrate_bps
        }),
        (
            "openrtmp_target_queue_frames",
            "Frames waiting in the stream's ring for the target.",
            |t| t.queue_frames,
        ),
        ("openrtmp_target_queue_ms", "Media milliseconds waiting for the target.", |t| {
            u64::from(t.queue_ms)
        }),
        ("openrtmp_target_uptime_seconds", "Seconds since the target went live (0 if not).", |t| {
            t.uptime.map_or(0, |u| u.as_secs())
        }),
    ];
    for (name, help, value) in gauges {
        labelled_gauge(enc, name, help, targets.iter().map(|t| (labels(t), value(t))))?;
    }
    let counters: [Family; 5] = [
        (
            "openrtmp_target_bytes_sent",
            "Bytes written to the target (RTMP framing included).",
            |t| t.bytes_sent,
        ),
        ("openrtmp_target_bytes_acked", "Bytes the target acknowledged receiving.", |t| {
            t.bytes_acked
        }),
        ("openrtmp_target_frames_sent", "Frames sent to the target.", |t| t.frames_sent),
        ("openrtmp_target_dropped_frames", "Frames skipped because the target lagged.", |t| {
            t.dropped_frames
        }),
        ("openrtmp_target_reconnects", "Connections to the target after the first.", |t| {
            t.reconnects
        }),
    ];
    for (name, help, value) in counters {
        labelled_counter(enc, name, help, targets.iter().map(|t| (labels(t), value(t))))?;
    }
    Ok(())
}
