//! Cluster series: claims by result, directory errors, fencing, upstream switches by reason
//! and the gaps they left, reconnect requests sent, the drain phase, and the egress bitrate
//! a HorizontalPodAutoscaler scales on.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use openrtmp_server::cluster::{Cluster, DrainPhase, SwitchReason, GAP_BUCKETS_SECS};
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::{counter, gauge, labelled_counter, labelled_gauge};

fn n(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Encodes the cluster series of `cluster`.
pub(super) fn encode(enc: &mut DescriptorEncoder<'_>, cluster: &Cluster) -> fmt::Result {
    let s = &cluster.stats;
    let claims = [
        ("claimed", n(&s.claims_claimed)),
        ("refused", n(&s.claims_refused)),
        ("waited", n(&s.claims_waited)),
        ("unverified", n(&s.claims_unverified)),
    ];
    labelled_counter(
        enc,
        "openrtmp_cluster_claims",
        "Stream claims by result (waited: got after a dead owner's lease expired; unverified: taken while the directory was unreachable).",
        claims.into_iter().map(|(result, v)| ([("result", result)], v)),
    )?;
    let errors = [("unavailable", n(&s.errors_unavailable)), ("protocol", n(&s.errors_protocol))];
    labelled_counter(
        enc,
        "openrtmp_cluster_directory_errors",
        "Directory calls that failed, by kind.",
        errors.into_iter().map(|(kind, v)| ([("kind", kind)], v)),
    )?;
    counter(
        enc,
        "openrtmp_cluster_heartbeats",
        "Heartbeats that reached the directory.",
        n(&s.heartbeats),
    )?;
    counter(
        enc,
        "openrtmp_cluster_streams_fenced",
        "Streams lost to another node's newer claim (their publishers dropped).",
        n(&s.streams_fenced),
    )?;
    counter(
        enc,
        "openrtmp_cluster_streams_restored",
        "Stream records written back after the directory lost them.",
        n(&s.streams_restored),
    )?;
    gauge(
        enc,
        "openrtmp_cluster_owned_streams",
        "Streams this node owns.",
        cluster.owned_streams().len() as u64,
    )?;
    labelled_counter(
        enc,
        "openrtmp_cluster_upstream_switches",
        "Pull upstream switches (players kept), by why the previous upstream was left.",
        SwitchReason::ALL.iter().zip(&s.switches).map(|(r, c)| ([("reason", r.name())], n(c))),
    )?;
    let mut family = enc.encode_descriptor(
        "openrtmp_cluster_upstream_gap_seconds",
        "Time without media at an upstream switch.",
        None,
        MetricType::Histogram,
    )?;
    let bounds = GAP_BUCKETS_SECS.iter().copied().chain(std::iter::once(f64::MAX));
    let buckets: Vec<(f64, u64)> = bounds.zip(s.gap_buckets.iter().map(n)).collect();
    let count = buckets.iter().map(|b| b.1).sum();
    family.encode_histogram::<NoLabelSet>(n(&s.gap_sum_us) as f64 / 1e6, count, &buckets, None)?;
    counter(
        enc,
        "openrtmp_cluster_reconnect_requests",
        "Enhanced RTMP reconnect requests sent to clients by a drain.",
        n(&s.reconnect_requests),
    )?;
    let phase = cluster.phase();
    labelled_gauge(
        enc,
        "openrtmp_cluster_drain_phase",
        "1 for the drain phase this node is in (serving when not draining).",
        DrainPhase::ALL.iter().map(|p| ([("phase", p.name())], u64::from(*p == phase))),
    )?;
    gauge(
        enc,
        "openrtmp_egress_bits_per_second",
        "Bits per second sent to clients over the last heartbeat interval (the autoscaling metric).",
        cluster.lease().load.egress_bps,
    )
}
