//! TEMPORARY stand-in (branch h-server) for the "ingest" piece's demux:
//! `pub fn local_ufrag(datagram: &[u8]) -> Option<&str>`: for a STUN binding request, the
//! local (first) half of its USERNAME `local:remote` (RFC 8445 §7.2.2); `None` for anything
//! else. Replaced by h-ingest's on merge.

/// Stand-in: finds nothing.
pub fn local_ufrag(_datagram: &[u8]) -> Option<&str> {
    None
}
