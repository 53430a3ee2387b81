//! Fragmented MP4 segments (owned by the MP4-muxer piece; placeholder until it lands).
