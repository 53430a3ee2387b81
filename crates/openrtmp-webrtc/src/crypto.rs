//! Placeholder (piece "ingest"): `pub fn provider() -> Arc<str0m::crypto::CryptoProvider>`
//! (RustCrypto + dimpl, certificates from rcgen/ring), used by ingest and client.
