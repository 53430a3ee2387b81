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
}

impl fmt::Display for RtmpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The stream name may hold a key: show only its part before the query.
        let stream = self.stream.split_once('?').map_or(self.stream.as_str(), |(s, _)| s);
        write!(f, "{}/{}", self.tc_url(), stream)
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
