//! Stream names.

use std::fmt;

/// Names a live stream: the RTMP application (from the `connect` `tcUrl`/`app`) and the
/// stream name (the `publish` / `play` argument, without query string).
///
/// Both parts are compared byte for byte: the hub does no case folding or normalisation,
/// which is the server's policy to apply before it builds a key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct StreamKey {
    /// The application, e.g. `live`.
    pub app: String,
    /// The stream name within the application, e.g. `cam1`.
    pub name: String,
}

impl StreamKey {
    /// Builds a key from its two parts.
    pub fn new(app: impl Into<String>, name: impl Into<String>) -> Self {
        StreamKey { app: app.into(), name: name.into() }
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_app_slash_name() {
        assert_eq!(StreamKey::new("live", "cam1").to_string(), "live/cam1");
        assert_ne!(StreamKey::new("live", "a"), StreamKey::new("Live", "a"));
    }
}
