//! Placeholder (piece "ingest"): `pub fn local_ufrag(datagram: &[u8]) -> Option<&str>`: for
//! a STUN binding request, the local (first) half of its USERNAME `local:remote`
//! (RFC 8445 §7.2.2); `None` for anything else. The driver routes first packets by it and
//! later ones by source address.
