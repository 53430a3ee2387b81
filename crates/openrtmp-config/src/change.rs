//! What a configuration reload can apply to a running server, and what needs a restart.

use openrtmp_server::Config;

/// The settings that differ between two configurations, by file path.
///
/// Applied at run time (the server reads them per connection, per stream or per event):
/// `rtmp.*` (new connections), `limits.*` (new connections and allocations), `streams.*`
/// (new streams and viewers; `low_latency` included), `api.token`, `log.level` (through
/// the tracing reload layer) and `shutdown.grace`.
///
/// Need a restart: `listen` and `api.listen` (sockets are bound once), and `log.format`,
/// `log.file`, `log.rotate_size`, `log.rotate_daily`, `log.keep`, `log.stderr` (the log
/// writer is built once at start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Changed settings a reload applies.
    pub applied: Vec<String>,
    /// Changed settings that only take effect after a restart.
    pub needs_restart: Vec<String>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.applied.is_empty() && self.needs_restart.is_empty()
    }
}

/// Compares two configurations (see [`Changes`] for which paths apply at run time).
pub fn runtime_changes(old: &Config, new: &Config) -> Changes {
    let mut changes = Changes::default();
    let mut applied = |path: &str, differs: bool| {
        if differs {
            changes.applied.push(path.to_string());
        }
    };
    let (o, n) = (&old.hub, &new.hub);
    applied("rtmp.chunk_size", old.chunk_size != new.chunk_size);
    applied("rtmp.window_ack_size", old.window_ack_size != new.window_ack_size);
    applied("rtmp.handshake_timeout", old.handshake_timeout != new.handshake_timeout);
    applied("rtmp.connect_timeout", old.connect_timeout != new.connect_timeout);
    applied("limits.max_connections", old.max_connections != new.max_connections);
    applied(
        "limits.max_connections_per_ip",
        old.max_connections_per_ip != new.max_connections_per_ip,
    );
    applied("limits.memory_budget", old.memory_budget != new.memory_budget);
    applied("limits.reassembly_budget", old.reassembly_budget != new.reassembly_budget);
    applied("streams.gop_cache", o.gop_cache_ms != n.gop_cache_ms);
    applied("streams.gop_max_bytes", o.gop_max_bytes != n.gop_max_bytes);
    applied("streams.gop_max_frames", o.gop_max_frames != n.gop_max_frames);
    applied("streams.viewer_max_lag", o.viewer_max_lag_ms != n.viewer_max_lag_ms);
    applied("streams.viewer_max_bytes", o.viewer_max_bytes != n.viewer_max_bytes);
    applied(
        "streams.viewer_disconnect_after",
        o.viewer_disconnect_after_ms != n.viewer_disconnect_after_ms,
    );
    applied("streams.wait_for_publisher", o.wait_for_publisher != n.wait_for_publisher);
    applied("streams.replace_publisher", o.replace_publisher != n.replace_publisher);
    applied(
        "streams.start_at_oldest_keyframe",
        o.start_at_oldest_keyframe != n.start_at_oldest_keyframe,
    );
    applied("streams.low_latency", old.low_latency != new.low_latency);
    applied("streams.publisher_timeout", old.publisher_timeout != new.publisher_timeout);
    applied("streams.unpublished_wait", old.unpublished_wait != new.unpublished_wait);
    applied("streams.write_timeout", old.write_timeout != new.write_timeout);
    applied("streams.audio_batch", o.audio_batch_ms != n.audio_batch_ms);
    applied("api.token", old.api_token != new.api_token);
    applied("log.level", old.log.level != new.log.level);
    applied("log.format", old.log.json != new.log.json);
    applied("log.file", old.log.file != new.log.file);
    applied("log.rotate_size", old.log.rotate_size_bytes != new.log.rotate_size_bytes);
    applied("log.rotate_daily", old.log.rotate_daily != new.log.rotate_daily);
    applied("log.keep", old.log.keep_files != new.log.keep_files);
    applied("log.stderr", old.log.stderr != new.log.stderr);
    applied("shutdown.grace", old.shutdown_grace != new.shutdown_grace);
    if old.listen != new.listen {
        changes.needs_restart.push("listen".into());
    }
    if old.api_listen != new.api_listen {
        changes.needs_restart.push("api.listen".into());
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_changes() {
        let old = Config::default();
        assert!(runtime_changes(&old, &old).is_empty());
        let mut new = old.clone();
        new.hub.gop_cache_ms += 1;
        new.max_connections = 5;
        new.api_token = Some("t".into());
        new.log.level = "debug".into();
        new.listen.push("127.0.0.1:1936".parse().unwrap());
        new.api_listen = None;
        new.log.json = true;
        let changes = runtime_changes(&old, &new);
        assert_eq!(
            changes.applied,
            ["limits.max_connections", "streams.gop_cache", "api.token", "log.level", "log.format"]
        );
        assert_eq!(changes.needs_restart, ["listen", "api.listen"]);
    }
}
