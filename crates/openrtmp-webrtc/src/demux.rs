//! Which session a datagram on the shared UDP port (or a first ICE-TCP frame) belongs to.
//!
//! Every WHIP session has its own local ICE username fragment, and a peer's connectivity
//! check names it first in the STUN USERNAME attribute, `local:remote` from our side
//! (RFC 8445 §7.2.2). The driver routes a peer's first packets by that and later ones by
//! source address. This parser reads bytes straight off the network: it is bounds-checked
//! throughout and answers `None` for anything it does not understand.

// Reads peer-controlled bytes: no panics outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

/// STUN message type of a Binding request (RFC 8489 §5, §18.2).
const BINDING_REQUEST: u16 = 0x0001;
/// The fixed magic cookie (RFC 8489 §5).
const MAGIC_COOKIE: u32 = 0x2112_A442;
/// STUN header length.
const HEADER_LEN: usize = 20;
/// USERNAME attribute type (RFC 8489 §14.3).
const ATTR_USERNAME: u16 = 0x0006;
/// RFC 8489 §14.3: the username is under 513 bytes.
const MAX_USERNAME_LEN: usize = 512;

/// For a STUN Binding request, the local (first) half of its USERNAME `local:remote`;
/// `None` for any other packet (DTLS, SRTP, other STUN), or a malformed one.
pub fn local_ufrag(datagram: &[u8]) -> Option<&str> {
    let &[t0, t1, l0, l1, c0, c1, c2, c3, ..] = datagram.get(..HEADER_LEN)? else {
        return None;
    };
    let msg_type = u16::from_be_bytes([t0, t1]);
    let msg_len = usize::from(u16::from_be_bytes([l0, l1]));
    let cookie = u32::from_be_bytes([c0, c1, c2, c3]);
    // The top two bits of a STUN message are zero, which also sets it apart from DTLS and
    // RTP on the same port (RFC 7983 §7).
    if msg_type != BINDING_REQUEST || cookie != MAGIC_COOKIE || msg_len % 4 != 0 {
        return None;
    }
    let mut attrs = datagram.get(HEADER_LEN..HEADER_LEN.checked_add(msg_len)?)?;
    while let &[a0, a1, b0, b1, ref rest @ ..] = attrs {
        let attr_type = u16::from_be_bytes([a0, a1]);
        let attr_len = usize::from(u16::from_be_bytes([b0, b1]));
        let value = rest.get(..attr_len)?;
        if attr_type == ATTR_USERNAME {
            if attr_len > MAX_USERNAME_LEN {
                return None;
            }
            let username = std::str::from_utf8(value).ok()?;
            let (local, _remote) = username.split_once(':')?;
            return (!local.is_empty()).then_some(local);
        }
        // Values are padded to a multiple of four (RFC 8489 §14).
        let padded = (attr_len + 3) & !3;
        attrs = rest.get(padded..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn binding_request(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, v) in attrs {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&(v.len() as u16).to_be_bytes());
            body.extend_from_slice(v);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        let mut msg = Vec::new();
        msg.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
        msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
        msg.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&body);
        msg
    }

    #[test]
    fn finds_the_local_half_after_other_attributes() {
        // PRIORITY (4 bytes), then a 6-byte USERNAME that needs padding, then more.
        let msg = binding_request(&[
            (0x0024, &[0, 0, 0, 1]),
            (ATTR_USERNAME, b"ab1:Zx"),
            (0x0008, &[0; 20]),
        ]);
        assert_eq!(local_ufrag(&msg), Some("ab1"));
    }

    /// A binding request as Chrome 156 sent it to the spike's listener (USERNAME, then
    /// GOOG-NETWORK-INFO, ICE-CONTROLLING, USE-CANDIDATE, PRIORITY, MESSAGE-INTEGRITY,
    /// FINGERPRINT), rebuilt with the same attribute order.
    #[test]
    fn chrome_shaped_request() {
        let msg = binding_request(&[
            (ATTR_USERNAME, b"srvUfrag1234:Kq9v"),
            (0xC057, &[0, 1, 0, 10]),
            (0x802A, &[1; 8]),
            (0x0025, &[]),
            (0x0024, &[0x6e, 0x7f, 0x1e, 0xff]),
            (0x0008, &[0; 20]),
            (0x8028, &[0; 4]),
        ]);
        assert_eq!(local_ufrag(&msg), Some("srvUfrag1234"));
    }

    #[test]
    fn rejects_other_packets() {
        let good = binding_request(&[(ATTR_USERNAME, b"a:b")]);
        // A binding response, a bad cookie, a truncated body, no colon, no username.
        let mut resp = good.clone();
        resp[1] = 0x01;
        resp[0] = 0x01;
        assert_eq!(local_ufrag(&resp), None);
        let mut cookie = good.clone();
        cookie[4] ^= 1;
        assert_eq!(local_ufrag(&cookie), None);
        assert_eq!(local_ufrag(&good[..good.len() - 1]), None);
        assert_eq!(local_ufrag(&binding_request(&[(ATTR_USERNAME, b"nocolon")])), None);
        assert_eq!(local_ufrag(&binding_request(&[(ATTR_USERNAME, b":b")])), None);
        assert_eq!(local_ufrag(&binding_request(&[(0x0024, &[0; 4])])), None);
        // DTLS ClientHello and RTP first bytes.
        assert_eq!(
            local_ufrag(&[22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
        assert_eq!(local_ufrag(&[0x80; 40]), None);
        assert_eq!(local_ufrag(&[]), None);
    }

    proptest! {
        /// Arbitrary bytes never panic, and a found ufrag is a prefix of the USERNAME bytes
        /// actually present in the datagram.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Some(u) = local_ufrag(&bytes) {
                prop_assert!(!u.is_empty() && !u.contains(':'));
            }
        }

        /// Random bodies behind a valid header exercise the attribute walk.
        #[test]
        fn arbitrary_attributes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut msg = Vec::new();
            msg.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
            msg.extend_from_slice(&((body.len() & !3) as u16).to_be_bytes());
            msg.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
            msg.extend_from_slice(&[0; 12]);
            msg.extend_from_slice(&body);
            let _ = local_ufrag(&msg);
        }

        /// Any well-formed ufrag is found back.
        #[test]
        fn round_trips(local in "[A-Za-z0-9+/]{4,32}", remote in "[A-Za-z0-9+/]{4,32}") {
            let user = format!("{local}:{remote}");
            let msg = binding_request(&[(0x0024, &[0; 4]), (ATTR_USERNAME, user.as_bytes())]);
            prop_assert_eq!(local_ufrag(&msg), Some(local.as_str()));
        }
    }
}
