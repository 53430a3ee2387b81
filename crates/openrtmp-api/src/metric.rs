//! `/metrics`: OpenMetrics text built from the server handle at scrape time, so per-stream
//! series vanish as soon as their stream ends (no registered metric outlives its stream).

use std::fmt;

use openrtmp_server::ServerHandle;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::error::ApiError;

mod cluster;
mod target;

/// Every metric family `/metrics` exposes, as named in `# TYPE` lines. Counter samples carry
/// the OpenMetrics `_total` suffix (`openrtmp_bytes_received_total`), the info metric `_info`.
pub const METRIC_NAMES: &[&str] = &[
    "openrtmp_build",
    "openrtmp_uptime_seconds",
    "openrtmp_connections",
    "openrtmp_streams",
    "openrtmp_connections_accepted",
    "openrtmp_connections_refused",
    "openrtmp_connection_panics",
    "openrtmp_bytes_received",
    "openrtmp_bytes_sent",
    "openrtmp_dropped_frames",
    "openrtmp_errors",
    "openrtmp_process_cpu_seconds",
    "openrtmp_process_resident_memory_bytes",
    "openrtmp_memory_bytes",
    "openrtmp_memory_budget_bytes",
    "openrtmp_auth_denied",
    "openrtmp_auth_allowed",
    "openrtmp_auth_blocked_addresses",
    "openrtmp_auth_callback_requests",
    "openrtmp_auth_callback_circuit_open",
    "openrtmp_auth_callback_circuit_opened",
    "openrtmp_auth_notifications",
    "openrtmp_stream_publishing",
    "openrtmp_stream_viewers",
    "openrtmp_stream_bytes_in",
    "openrtmp_stream_frames_in",
    "openrtmp_stream_gop_cache_bytes",
    "openrtmp_stream_ingest_delay_seconds",
    "openrtmp_stream_distribution_delay_seconds",
    "openrtmp_stream_catch_up_delay_seconds",
    "openrtmp_pull_live",
    "openrtmp_pull_switches",
    "openrtmp_target_state",
    "openrtmp_target_bytes_sent",
    "openrtmp_target_bytes_acked",
    "openrtmp_target_bitrate_bps",
    "openrtmp_target_frames_sent",
    "openrtmp_target_queue_frames",
    "openrtmp_target_queue_ms",
    "openrtmp_target_dropped_frames",
    "openrtmp_target_reconnects",
    "openrtmp_target_uptime_seconds",
    "openrtmp_recordings_deleted",
    "openrtmp_recordings_active",
    "openrtmp_recording_bytes_written",
    "openrtmp_recording_segments_closed",
    "openrtmp_recording_dropped_frames",
    "openrtmp_recording_errors",
    "openrtmp_cluster_claims",
    "openrtmp_cluster_directory_errors",
    "openrtmp_cluster_heartbeats",
    "openrtmp_cluster_streams_fenced",
    "openrtmp_cluster_streams_restored",
    "openrtmp_cluster_owned_streams",
    "openrtmp_cluster_upstream_switches",
    "openrtmp_cluster_upstream_gap_seconds",
    "openrtmp_cluster_reconnect_requests",
    "openrtmp_cluster_drain_phase",
    "openrtmp_egress_bits_per_second",
];

/// The registry `/metrics` encodes; it holds one collector reading the server handle.
pub(crate) struct Metrics {
    registry: Registry,
}

impl Metrics {
    pub(crate) fn new(handle: ServerHandle) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ServerCollector { handle }));
        Metrics { registry }
    }

    /// The current metrics in OpenMetrics text format (ends with `# EOF`).
    pub(crate) fn render(&self) -> Result<String, ApiError> {
        let mut text = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|_| ApiError::Internal { reason: "encoding metrics failed".to_owned() })?;
        Ok(text)
    }
}

struct ServerCollector {
    handle: ServerHandle,
}

impl fmt::Debug for ServerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerCollector")
    }
}

impl Collector for ServerCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        encode_server(&mut enc, &self.handle.info())?;
        encode_streams(&mut enc, &self.handle.streams())?;
        encode_pulls(&mut enc, &self.handle.pulls())?;
        target::encode(&mut enc, &self.handle.push_targets())?;
        encode_recording(&mut enc, &self.handle.recording_stats())?;
        encode_recordings(&mut enc, &self.handle)?;
        cluster::encode(&mut enc, &self.handle.cluster())
    }
}

fn encode_server(
    enc: &mut DescriptorEncoder<'_>,
    info: &openrtmp_server::ServerInfo,
) -> fmt::Result {
    enc.encode_descriptor("openrtmp_build", "Server version.", None, MetricType::Info)?
        .encode_info(&[("version", info.version)])?;
    gauge(
        enc,
        "openrtmp_uptime_seconds",
        "Seconds since the server started.",
        info.uptime.as_secs_f64(),
    )?;
    let connecting = info.connections.saturating_sub(info.publishers + info.players);
    let roles =
        [("publisher", info.publishers), ("player", info.players), ("connecting", connecting)];
    let mut family = enc.encode_descriptor(
        "openrtmp_connections",
        "Open connections by role (connecting: not yet publishing or playing).",
        None,
        MetricType::Gauge,
    )?;
    for (role, count) in roles {
        family.encode_family(&[("role", role)])?.encode_gauge(&(count as u64))?;
    }
    gauge(enc, "openrtmp_streams", "Streams known to the hub.", info.streams as u64)?;
    counter(enc, "openrtmp_connections_accepted", "Connections accepted.", info.accepted)?;
    counter(enc, "openrtmp_connections_refused", "Connections refused by limits.", info.refused)?;
    counter(enc, "openrtmp_connection_panics", "Connection tasks that panicked.", info.panics)?;
    counter(enc, "openrtmp_bytes_received", "Bytes read from clients.", info.bytes_in)?;
    counter(enc, "openrtmp_bytes_sent", "Bytes written to clients.", info.bytes_out)?;
    counter(
        enc,
        "openrtmp_dropped_frames",
        "Frames skipped for lagging players.",
        info.dropped_frames,
    )?;
    let mut family = enc.encode_descriptor(
        "openrtmp_errors",
        "Connection errors by kind.",
        None,
        MetricType::Counter,
    )?;
    for (kind, count) in &info.errors {
        family
            .encode_family(&[("kind", escape(kind))])?
            .encode_counter::<NoLabelSet, _, u64>(count, None)?;
    }
    // Absent, not zero, when the OS did not give the figure (ServerInfo docs).
    if let Some(cpu) = info.process_cpu {
        let help = "CPU time used by the process.";
        counter(enc, "openrtmp_process_cpu_seconds", help, cpu.as_secs_f64())?;
    }
    if let Some(rss) = info.rss_bytes {
        let help = "Resident memory of the process.";
        gauge(enc, "openrtmp_process_resident_memory_bytes", help, rss)?;
    }
    let held = "Bytes held in GOP caches, queues and reassembly buffers.";
    gauge(enc, "openrtmp_memory_bytes", held, info.memory_bytes as u64)?;
    let budget = "Memory budget past which new connections are refused.";
    gauge(enc, "openrtmp_memory_budget_bytes", budget, info.memory_budget as u64)?;
    encode_auth(enc, info)?;
    if let Some(cert) = &info.tls_certificate {
        let expiry = cert
            .not_after
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let help = "When the RTMPS certificate expires (unix time).";
        gauge(enc, "openrtmp_tls_certificate_expiry_timestamp_seconds", help, expiry)?;
    }
    Ok(())
}

/// Recording files deleted, by reason (retention `max_age`, `max_bytes`; `api`).
fn encode_recordings(enc: &mut DescriptorEncoder<'_>, handle: &ServerHandle) -> fmt::Result {
    let mut family = enc.encode_descriptor(
        "openrtmp_recordings_deleted",
        "Recording segments deleted, by reason (max_age, max_bytes: retention; api: DELETE).",
        None,
        MetricType::Counter,
    )?;
    for (reason, count) in handle.recordings_deleted() {
        family
            .encode_family(&[("reason", reason)])?
            .encode_counter::<NoLabelSet, _, u64>(&count, None)?;
    }
    Ok(())
}

/// Authorisation: refusals by kind, brute-force blocks, the callback and its circuit.
fn encode_auth(enc: &mut DescriptorEncoder<'_>, info: &openrtmp_server::ServerInfo) -> fmt::Result {
    let auth = &info.auth;
    let mut family = enc.encode_descriptor(
        "openrtmp_auth_denied",
        "Connect, publish and play requests refused, by reason.",
        None,
        MetricType::Counter,
    )?;
    for (kind, count) in &auth.denied {
        family
            .encode_family(&[("reason", escape(kind))])?
            .encode_counter::<NoLabelSet, _, u64>(count, None)?;
    }
    counter(enc, "openrtmp_auth_allowed", "Requests authorised.", auth.allowed)?;
    let blocked = "Addresses (IPv6: /64) refused now for too many failed attempts.";
    gauge(enc, "openrtmp_auth_blocked_addresses", blocked, auth.brute_force_blocked_ips as u64)?;
    let mut family = enc.encode_descriptor(
        "openrtmp_auth_callback_requests",
        "Decision requests to the callback service, by outcome (errors and timeouts included).",
        None,
        MetricType::Counter,
    )?;
    let outcomes = [
        ("all", auth.callback_calls),
        ("error", auth.callback_errors),
        ("timeout", auth.callback_timeouts),
    ];
    for (outcome, count) in outcomes {
        family
            .encode_family(&[("outcome", outcome)])?
            .encode_counter::<NoLabelSet, _, u64>(&count, None)?;
    }
    let open = u64::from(info.auth_circuit == Some(openrtmp_server::auth::CircuitState::Open));
    let help = "1 while the callback circuit is open (the service is not asked).";
    gauge(enc, "openrtmp_auth_callback_circuit_open", help, open)?;
    let help = "Times the callback circuit opened.";
    counter(enc, "openrtmp_auth_callback_circuit_opened", help, auth.circuit_opened)?;
    let mut family = enc.encode_descriptor(
        "openrtmp_auth_notifications",
        "Notifications (publish_done, play_done, disconnect) by outcome.",
        None,
        MetricType::Counter,
    )?;
    let outcomes = [
        ("sent", auth.notifications_sent),
        ("failed", auth.notifications_failed),
        ("dropped", auth.notifications_dropped),
    ];
    for (outcome, count) in outcomes {
        family
            .encode_family(&[("outcome", outcome)])?
            .encode_counter::<NoLabelSet, _, u64>(&count, None)?;
    }
    Ok(())
}

fn encode_streams(
    enc: &mut DescriptorEncoder<'_>,
    streams: &[openrtmp_server::StreamStatus],
) -> fmt::Result {
    let labels =
        |s: &openrtmp_server::StreamStatus| [("app", escape(&s.app)), ("stream", escape(&s.name))];
    let help = "1 while the stream has a publisher.";
    labelled_gauge(
        enc,
        "openrtmp_stream_publishing",
        help,
        streams.iter().map(|s| (labels(s), u64::from(s.publishing))),
    )?;
    let help = "Players attached to the stream.";
    labelled_gauge(
        enc,
        "openrtmp_stream_viewers",
        help,
        streams.iter().map(|s| (labels(s), s.viewers as u64)),
    )?;
    let help = "Bytes of media received for the stream.";
    labelled_counter(
        enc,
        "openrtmp_stream_bytes_in",
        help,
        streams.iter().map(|s| (labels(s), s.bytes_in)),
    )?;
    let help = "Media frames received for the stream.";
    labelled_counter(
        enc,
        "openrtmp_stream_frames_in",
        help,
        streams.iter().map(|s| (labels(s), s.frames_in)),
    )?;
    let help = "Bytes held in the stream's GOP cache.";
    labelled_gauge(
        enc,
        "openrtmp_stream_gop_cache_bytes",
        help,
        streams.iter().map(|s| (labels(s), s.gop_cache_bytes as u64)),
    )?;
    let help = "How far behind real time the publisher's media arrives.";
    labelled_histogram(
        enc,
        "openrtmp_stream_ingest_delay_seconds",
        help,
        streams.iter().map(|s| (labels(s), &s.ingest_delay)),
    )?;
    let help = "Live relay delay: from a frame's arrival to its hand-over to a player's \
                socket, for frames that arrived while the player was caught up.";
    labelled_histogram(
        enc,
        "openrtmp_stream_distribution_delay_seconds",
        help,
        streams.iter().map(|s| (labels(s), &s.distribution_delay)),
    )?;
    let help = "Age of the frames players received as catch-up (join from the GOP cache, \
                skip, resume) when handed to their sockets.";
    labelled_histogram(
        enc,
        "openrtmp_stream_catch_up_delay_seconds",
        help,
        streams.iter().map(|s| (labels(s), &s.catch_up_delay)),
    )
}

/// Pulls (`relay.pull`): whether media flows, from which origin (redacted), and how
/// often the origin changed under the stream.
fn encode_pulls(
    enc: &mut DescriptorEncoder<'_>,
    pulls: &[openrtmp_server::relay::PullStatus],
) -> fmt::Result {
    let labels = |p: &openrtmp_server::relay::PullStatus| {
        [("app", escape(&p.app)), ("stream", escape(&p.stream))]
    };
    let help = "1 while media flows from an origin into the pulled stream; the origin label is \
                the one in use or being tried (key redacted).";
    labelled_gauge(
        enc,
        "openrtmp_pull_live",
        help,
        pulls.iter().map(|p| {
            let origin = p.origin.as_ref().map_or(String::new(), |(_, url)| escape(url));
            let [app, stream] = labels(p);
            let live = p.state == openrtmp_server::relay::PullState::Live;
            ([app, stream, ("origin", origin)], u64::from(live))
        }),
    )?;
    let help = "Times a new origin took over a pulled stream while it stayed up.";
    labelled_counter(
        enc,
        "openrtmp_pull_switches",
        help,
        pulls.iter().map(|p| (labels(p), p.switches)),
    )
}

fn labelled_histogram<'a, L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (L, &'a openrtmp_server::DelayHistogram)>,
) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, h) in series {
        family.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
            h.sum.as_secs_f64(),
            h.count,
            &h.buckets,
            None,
        )?;
    }
    Ok(())
}

/// Recording: server-wide figures (per-stream detail is in the API's status).
fn encode_recording(
    enc: &mut DescriptorEncoder<'_>,
    stats: &openrtmp_server::record::RecordingStats,
) -> fmt::Result {
    gauge(enc, "openrtmp_recordings_active", "Recordings running now.", stats.active)?;
    counter(
        enc,
        "openrtmp_recording_bytes_written",
        "Bytes written to recording files.",
        stats.bytes_written,
    )?;
    counter(
        enc,
        "openrtmp_recording_segments_closed",
        "Recording segments completed (closed and synced).",
        stats.segments_closed,
    )?;
    counter(
        enc,
        "openrtmp_recording_dropped_frames",
        "Frames not recorded (the disk fell behind, or failed).",
        stats.dropped_frames,
    )?;
    labelled_counter(
        enc,
        "openrtmp_recording_errors",
        "Recording errors by kind (disk_full, read_only, no_directory, deleted, io, queue_full).",
        stats.errors.iter().map(|(kind, n)| ([("kind", *kind)], *n)),
    )
}

fn gauge(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: impl EncodeGaugeValue,
) -> fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Gauge)?.encode_gauge(&value)
}

fn counter(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: impl EncodeCounterValue,
) -> fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

fn labelled_gauge<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        family.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

fn labelled_counter<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        family.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&value, None)?;
    }
    Ok(())
}

/// Escapes a label value for the text format (prometheus-client writes values verbatim, and
/// app and stream names come from clients): `\` → `\\`, `"` → `\"`, newline → `\n`.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Streams(Vec<openrtmp_server::StreamStatus>);

    impl Collector for Streams {
        fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
            encode_streams(&mut enc, &self.0)
        }
    }

    fn status(app: &str, name: &str, viewers: usize) -> openrtmp_server::StreamStatus {
        openrtmp_server::StreamStatus {
            app: app.into(),
            name: name.into(),
            publishing: true,
            publisher: Some(7),
            video_codec: Some("h264".into()),
            width: Some(1280),
            height: Some(720),
            fps: Some(30.0),
            audio_codec: Some("aac".into()),
            sample_rate: Some(48_000),
            channels: Some(2),
            viewers,
            gop_cache_bytes: 1000,
            gop_cache_frames: 60,
            direct_viewers: 0,
            source_lost: false,
            gop_cache_ms: 2000,
            frames_in: 600,
            bytes_in: 123_456,
            video_bytes_in: 100_000,
            audio_bytes_in: 20_000,
            publishing_for: None,
            ingest_delay: openrtmp_server::DelayHistogram::default(),
            distribution_delay: openrtmp_server::DelayHistogram {
                buckets: vec![(0.001, 5), (0.002, 1), (f64::MAX, 0)],
                count: 6,
                sum: std::time::Duration::from_micros(4500),
            },
            catch_up_delay: openrtmp_server::DelayHistogram::default(),
        }
    }

    #[test]
    fn per_stream_series_have_escaped_labels() {
        let mut registry = Registry::default();
        let streams = vec![status("live", "cam1", 3), status("live", "we\"ird", 0)];
        registry.register_collector(Box::new(Streams(streams)));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"openrtmp_stream_viewers{app="live",stream="cam1"} 3"#,
            r#"openrtmp_stream_viewers{app="live",stream="we\"ird"} 0"#,
            r#"openrtmp_stream_bytes_in_total{app="live",stream="cam1"} 123456"#,
            r#"openrtmp_stream_frames_in_total{app="live",stream="cam1"} 600"#,
            r#"openrtmp_stream_distribution_delay_seconds_count{app="live",stream="cam1"} 6"#,
            r#"openrtmp_stream_distribution_delay_seconds_bucket{le="0.002",app="live",stream="cam1"} 6"#,
            r#"openrtmp_stream_gop_cache_bytes{app="live",stream="cam1"} 1000"#,
            r#"openrtmp_stream_publishing{app="live",stream="cam1"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
    }

    #[derive(Debug)]
    struct Targets(Vec<openrtmp_server::relay::TargetStatus>);

    impl Collector for Targets {
        fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
            target::encode(&mut enc, &self.0)
        }
    }

    #[test]
    fn per_target_series_are_labelled_with_the_redacted_url() {
        use openrtmp_server::relay::{TargetOrigin, TargetState, TargetStatus};
        let t = TargetStatus {
            id: 7,
            app: "live".into(),
            stream: "cam".into(),
            url: "rtmp://h/app/****".into(),
            origin: TargetOrigin::Api,
            until_unpublish: false,
            state: TargetState::Stalled,
            since: std::time::SystemTime::UNIX_EPOCH,
            bytes_sent: 5000,
            bytes_acked: 4000,
            acknowledges: true,
            bitrate_bps: 800,
            frames_sent: 9,
            queue_frames: 3,
            queue_ms: 120,
            dropped_frames: 2,
            reconnects: 1,
            uptime: Some(std::time::Duration::from_secs(4)),
            last_error: None,
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Targets(vec![t])));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let l = r#"app="live",stream="cam",target="7",url="rtmp://h/app/****""#;
        for line in [
            format!(r#"openrtmp_target_state{{{l},state="stalled"}} 1"#),
            format!("openrtmp_target_bytes_sent_total{{{l}}} 5000"),
            format!("openrtmp_target_bytes_acked_total{{{l}}} 4000"),
            format!("openrtmp_target_bitrate_bps{{{l}}} 800"),
            format!("openrtmp_target_queue_frames{{{l}}} 3"),
            format!("openrtmp_target_queue_ms{{{l}}} 120"),
            format!("openrtmp_target_dropped_frames_total{{{l}}} 2"),
            format!("openrtmp_target_reconnects_total{{{l}}} 1"),
            format!("openrtmp_target_uptime_seconds{{{l}}} 4"),
        ] {
            assert!(text.lines().any(|x| x == line), "{line} missing from\n{text}");
        }
        // Every family written is listed in METRIC_NAMES (the documented list).
        let families: Vec<&str> =
            text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
        assert_eq!(families.len(), 10, "{text}");
        for name in families {
            assert!(METRIC_NAMES.contains(&name), "{name} is not in METRIC_NAMES");
        }
    }

    #[test]
    fn escape_makes_label_values_safe() {
        assert_eq!(escape("live"), "live");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
