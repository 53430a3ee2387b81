//! Video on demand: an RTMP `play` of a recording (owned by the VOD piece; placeholder).
