//! Placeholder (piece "client"): `WhipSender`, a sans-IO publishing peer on str0m (offer,
//! answer, write H.264 Annex B access units and Opus packets), and `client::clip` readers for
//! FFmpeg-made files (Annex B split at AUD NALs, Ogg Opus pages).
