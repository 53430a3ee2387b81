//! `rtmp://` URLs: host, port, application and stream name.

use std::fmt;

/// Default RTMP port.
pub const DEFAULT_PORT: u16 = 1935;
/// Default RTMPS port.
pub const DEFAULT_TLS_PORT: u16 = 443;

/// A parsed `rtmp://host[:port]/app[/more]/stream[?query]` URL.
///
/// The application is the first path segment; the stream name is the rest of the path,
/// including a query string (stream keys and tokens travel there). This is how OBS, FFmpeg
/// and nginx-rtmp split URLs of two segments, the common case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    /// `rtmp` or `rtmps`.
    pub scheme: String,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (1935 if not given, 443 for rtmps).
    pub port: u16,
    /// Application name.
    pub app: String,
    /// Stream name with its query string; empty if the URL names only an application.
    pub stream: String,
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL at all.
    #[error("{url:?} is not a valid URL: {reason}")]
    Invalid {
        /// The input.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// A scheme other than rtmp/rtmps.
    #[error("unsupported scheme {scheme:?} (expected rtmp:// or rtmps://)")]
    Scheme {
        /// The scheme found.
        scheme: String,
    },
    /// No host.
    #[error("{url:?} has no host")]
    NoHost {
        /// The input.
        url: String,
    },
    /// No stream name in the path (publish and play need one).
    #[error("{url:?} has no stream name (expected rtmp://host/app/stream)")]
    NoStream {
        /// The input.
        url: String,
    },
    /// No application in the path.
    #[error("{url:?} has no application name (expected rtmp://host/app/stream)")]
    NoApp {
        /// The input.
        url: String,
    },
    /// A reconnect request would move an `rtmps://` connection to plain `rtmp://`: the
    /// stream key would then cross the network in clear text, so it is not followed.
    #[error(
        "refusing to move from rtmps:// to {url:?} (the stream key would travel in clear text)"
    )]
    Downgrade {
        /// The resolved tcUrl, without its query.
        url: String,
    },
}

impl RtmpUrl {
    /// Parses a URL.
    pub fn parse(input: &str) -> Result<Self, UrlError> {
        let parsed = url::Url::parse(input)
            .map_err(|e| UrlError::Invalid { url: input.to_owned(), reason: e.to_string() })?;
        let scheme = parsed.scheme().to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "rtmp" => DEFAULT_PORT,
            "rtmps" => DEFAULT_TLS_PORT,
            _ => return Err(UrlError::Scheme { scheme }),
        };
        let host = match parsed.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => return Err(UrlError::NoHost { url: input.to_owned() }),
        };
        if host.is_empty() {
            return Err(UrlError::NoHost { url: input.to_owned() });
        }
        let path = parsed.path().trim_start_matches('/');
        let (app, stream) = path.split_once('/').unwrap_or((path, ""));
        if app.is_empty() {
            return Err(UrlError::NoApp { url: input.to_owned() });
        }
        let mut stream = stream.to_owned();
        if let Some(q) = parsed.query() {
            stream.push('?');
            stream.push_str(q);
        }
        Ok(RtmpUrl {
            scheme,
            host,
            port: parsed.port().unwrap_or(default_port),
            app: app.to_owned(),
            stream,
        })
    }

    /// The `tcUrl` for connect: `scheme://host:port/app`.
    pub fn tc_url(&self) -> String {
        format!("{}://{}:{}/{}", self.scheme, self.host_for_url(), self.port, self.app)
    }

    /// `host:port` for connecting.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host_for_url(), self.port)
    }

    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// Fails when the URL names no stream.
    pub fn require_stream(&self) -> Result<&str, UrlError> {
        if self.stream.is_empty() {
            return Err(UrlError::NoStream { url: self.to_string() });
        }
        Ok(&self.stream)
    }

    /// Whether TLS is used.
    pub fn is_tls(&self) -> bool {
        self.scheme == "rtmps"
    }

    /// Where an Enhanced RTMP v2 reconnect request ("Reconnect Request", the onStatus
    /// `NetConnection.Connect.ReconnectRequest` Info Object) sends this URL's stream:
    /// `tc_url` (absolute, or a relative reference such as `//host/app` or `/app` resolved
    /// against our tcUrl as RFC 3986 §5.2 resolves references, which the spec's examples
    /// follow), or our own tcUrl when the request names none. The new tcUrl's whole path
    /// is the application (a server names its application, not a stream); a tcUrl without
    /// a path keeps our application. The stream name, with its query (the stream key),
    /// stays ours: the server redirecting us does not know our key, and we publish the
    /// same stream on the new server. A move from `rtmps://` to `rtmp://` is refused
    /// ([`UrlError::Downgrade`]).
    pub fn reconnect_target(&self, tc_url: Option<&str>) -> Result<RtmpUrl, UrlError> {
        let Some(reference) = tc_url.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(self.clone());
        };
        let invalid = |reason: String| UrlError::Invalid { url: redact(reference), reason };
        let base = url::Url::parse(&self.tc_url()).map_err(|e| invalid(e.to_string()))?;
        let joined = base.join(reference).map_err(|e| invalid(e.to_string()))?;
        let scheme = joined.scheme().to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "rtmp" if self.is_tls() => {
                return Err(UrlError::Downgrade { url: redact(joined.as_str()) })
            }
            "rtmp" => DEFAULT_PORT,
            "rtmps" => DEFAULT_TLS_PORT,
            _ => return Err(UrlError::Scheme { scheme }),
        };
        let host = match joined.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => String::new(),
        };
        if host.is_empty() {
            return Err(UrlError::NoHost { url: redact(reference) });
        }
        let mut app = joined.path().trim_matches('/').to_owned();
        if app.is_empty() {
            app = self.app.split_once('?').map_or(self.app.as_str(), |(a, _)| a).to_owned();
        }
        // Servers that authorise by tcUrl (`rtmp://host/app?token=...`) put the token in
        // its query: it belongs to the application, as it goes into connect's tcUrl.
        if let Some(q) = joined.query() {
            app.push('?');
            app.push_str(q);
        }
        Ok(RtmpUrl {
            scheme,
            host,
            port: joined.port().unwrap_or(default_port),
            app,
            stream: self.stream.clone(),
        })
    }
}

/// A URL for logs and errors: without its query (tokens and keys travel there).
fn redact(url: &str) -> String {
    url.split_once('?').map_or(url, |(u, _)| u).to_owned()
}

impl fmt::Display for RtmpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The stream name may hold a key, a tcUrl a token: show only their parts before
        // the query.
        let stream = self.stream.split_once('?').map_or(self.stream.as_str(), |(s, _)| s);
        write!(f, "{}/{}", redact(&self.tc_url()), stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let u = RtmpUrl::parse("rtmp://127.0.0.1:19350/live/stream?key=abc").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.app.as_str(), u.stream.as_str()),
            ("127.0.0.1", 19350, "live", "stream?key=abc")
        );
        assert_eq!(u.tc_url(), "rtmp://127.0.0.1:19350/live");
        assert_eq!(u.to_string(), "rtmp://127.0.0.1:19350/live/stream");
        let u = RtmpUrl::parse("rtmp://example.com/app/inst/name").unwrap();
        assert_eq!((u.port, u.app.as_str(), u.stream.as_str()), (1935, "app", "inst/name"));
        let u = RtmpUrl::parse("rtmps://[::1]/live/x").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.authority()), ("::1", 443, "[::1]:443".to_owned()));
    }

    /// The four example tcUrls of the spec's Info Object table ("Reconnect Request"), plus
    /// a relative path, no tcUrl, and a token in the tcUrl.
    #[test]
    fn reconnect_targets_resolve_against_the_current_tc_url() {
        let u = RtmpUrl::parse("rtmp://origin-a:1936/live/cam?key=secret").unwrap();
        let at = |tc: Option<&str>| {
            let t = u.reconnect_target(tc).unwrap();
            (t.tc_url(), t.stream)
        };
        let key = || "cam?key=secret".to_owned();
        let cases = [
            (
                Some("rtmp://foo.mydomain.com:1935/realtimeapp"),
                "rtmp://foo.mydomain.com:1935/realtimeapp",
            ),
            (Some("rtmp://127.0.0.1/realtimeapp"), "rtmp://127.0.0.1:1935/realtimeapp"),
            (Some("//192.0.2.0/realtimeapp"), "rtmp://192.0.2.0:1935/realtimeapp"),
            (Some("/realtimeapp"), "rtmp://origin-a:1936/realtimeapp"),
            (Some("other"), "rtmp://origin-a:1936/other"),
            (Some("/app/instance/"), "rtmp://origin-a:1936/app/instance"),
            (Some("rtmp://node-b:1937"), "rtmp://node-b:1937/live"),
            (Some("rtmps://[::1]:4443/live"), "rtmps://[::1]:4443/live"),
            (None, "rtmp://origin-a:1936/live"),
            (Some("  "), "rtmp://origin-a:1936/live"),
        ];
        for (tc, want) in cases {
            assert_eq!(at(tc), (want.to_owned(), key()), "tcUrl {tc:?}");
        }
        let t = u.reconnect_target(Some("rtmp://node-b/live?token=t1")).unwrap();
        assert_eq!(
            (t.app.as_str(), t.tc_url().as_str()),
            ("live?token=t1", "rtmp://node-b:1935/live?token=t1")
        );
        // Neither the token nor the key is shown.
        assert_eq!(t.to_string(), "rtmp://node-b:1935/live/cam");
    }

    #[test]
    fn reconnect_targets_that_are_refused() {
        let u = RtmpUrl::parse("rtmp://origin-a/live/cam?key=secret").unwrap();
        assert!(matches!(u.reconnect_target(Some("http://x/live")), Err(UrlError::Scheme { .. })));
        assert!(matches!(
            u.reconnect_target(Some("rtmp://[bad/live")),
            Err(UrlError::Invalid { .. })
        ));
        let tls = RtmpUrl::parse("rtmps://origin-a/live/cam?key=secret").unwrap();
        let e = tls.reconnect_target(Some("rtmp://node-b/live?token=t")).unwrap_err();
        assert_eq!(e, UrlError::Downgrade { url: "rtmp://node-b/live".into() });
        assert!(!e.to_string().contains("token"));
        assert_eq!(
            tls.reconnect_target(Some("//node-b/live")).unwrap().tc_url(),
            "rtmps://node-b:443/live"
        );
    }

    #[test]
    fn rejects_bad_urls() {
        assert!(matches!(RtmpUrl::parse("http://h/live/x"), Err(UrlError::Scheme { .. })));
        assert!(matches!(RtmpUrl::parse("rtmp://h"), Err(UrlError::NoApp { .. })));
        assert!(matches!(RtmpUrl::parse("not a url"), Err(UrlError::Invalid { .. })));
        assert!(matches!(
            RtmpUrl::parse("rtmp:///live/x"),
            Err(UrlError::Invalid { .. } | UrlError::NoHost { .. })
        ));
    }
}
