//! Placeholder (piece "media"): RTP timestamps (+ sender reports) to RTMP milliseconds.
