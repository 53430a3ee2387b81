//! A WHIP sender: str0m as the publishing peer (RFC 9725 §4.2), for tests and tools.
//!
//! `client::clip` reads the FFmpeg-made clips it publishes.

pub mod clip;
