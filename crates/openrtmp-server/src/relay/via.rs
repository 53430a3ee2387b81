//! Relay loops and hops: every relay connection (a pull's play, a push's publish) carries
//! the chain of servers its stream has passed through in its `connect` command object, as
//! `openrtmpVia`: comma-separated node ids (16 hex digits each), the sender's own last.
//! Each server has a random [`NodeId`] for its process's life.
//!
//! A server refuses a play or publish whose chain already holds its own id (the stream
//! would come back to where it started: two edges pulling from each other, a push that
//! returns) or is longer than `relay.max_hops`. A chain is what peers send: it is parsed
//! without trusting it (any text, at most [`MAX_CHAIN_BYTES`] read), never indexed.

use std::fmt;

/// At most this much of a peer's `openrtmpVia` is read; a longer chain counts as too
/// many hops anyway (a chain of 64 ids is about 1 KiB).
pub(crate) const MAX_CHAIN_BYTES: usize = 4096;

/// The `connect` command object property that carries the chain.
pub(crate) const VIA_PROPERTY: &str = "openrtmpVia";

/// One server process, as relay chains name it: random at start, so two servers (or two
/// runs of one) never share an id in practice.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct NodeId(pub(crate) u64);

impl NodeId {
    pub(crate) fn random() -> NodeId {
        NodeId(rand::random::<u64>() | 1)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The servers a stream passed through, oldest first, as a peer wrote them (ids of other
/// implementations are kept as text: only equality matters).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Chain {
    nodes: Vec<String>,
}

/// Why a relay connection is refused. Both messages start with "relay loop", which peers
/// and operators can search for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ViaError {
    /// The chain already passed through this server.
    #[error("relay loop: the stream already passed through this server ({node}) in a chain of {hops} hops")]
    Loop {
        /// This server's id.
        node: String,
        /// The chain's length.
        hops: usize,
    },
    /// The chain is longer than `relay.max_hops`.
    #[error("relay loop: a chain of {hops} hops is longer than relay.max_hops ({max})")]
    TooManyHops {
        /// The chain's length.
        hops: usize,
        /// The limit.
        max: u32,
    },
}

impl Chain {
    /// The chain a peer sent (`openrtmpVia`); absent or empty: a direct client.
    pub(crate) fn parse(text: Option<&str>) -> Chain {
        let Some(text) = text else { return Chain::default() };
        let mut end = text.len().min(MAX_CHAIN_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let nodes = text
            .get(..end)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.to_ascii_lowercase())
            .collect();
        Chain { nodes }
    }

    /// Hops so far (servers the stream passed through).
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the stream passed through no relay (a direct client).
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether `node` may take the stream on: it is not in the chain yet and the chain is
    /// at most `max_hops` long.
    pub(crate) fn check(&self, node: NodeId, max_hops: u32) -> Result<(), ViaError> {
        let me = node.to_string();
        if self.nodes.contains(&me) {
            return Err(ViaError::Loop { node: me, hops: self.len() });
        }
        if self.len() > max_hops as usize {
            return Err(ViaError::TooManyHops { hops: self.len(), max: max_hops });
        }
        Ok(())
    }

    /// The chain to send onward from `node`: this one with `node` appended (once).
    pub(crate) fn through(&self, node: NodeId) -> Chain {
        let me = node.to_string();
        let mut nodes = self.nodes.clone();
        if nodes.last() != Some(&me) {
            nodes.push(me);
        }
        Chain { nodes }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.nodes.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_parse_from_what_peers_send() {
        assert!(Chain::parse(None).is_empty());
        assert!(Chain::parse(Some("")).is_empty());
        let chain = Chain::parse(Some(" 00000000000000AA, ,00000000000000bb,"));
        assert_eq!(chain.len(), 2);
        assert_eq!(chain.to_string(), "00000000000000aa,00000000000000bb");
        // Never more than MAX_CHAIN_BYTES read, even split inside a character.
        let long = format!("{}é", "a,".repeat(MAX_CHAIN_BYTES));
        assert_eq!(Chain::parse(Some(&long)).len(), MAX_CHAIN_BYTES / 2);
    }

    #[test]
    fn our_own_id_in_the_chain_is_a_loop() {
        let me = NodeId(0xab);
        let chain = Chain::parse(Some("00000000000000cd,00000000000000ab"));
        let err = chain.check(me, 4).expect_err("loop");
        assert_eq!(err, ViaError::Loop { node: "00000000000000ab".into(), hops: 2 });
        assert!(err.to_string().starts_with("relay loop"), "{err}");
        assert_eq!(Chain::parse(Some("00000000000000cd")).check(me, 4), Ok(()));
        assert_eq!(Chain::default().check(me, 0), Ok(()));
    }

    #[test]
    fn hop_limit() {
        let me = NodeId(1);
        let four = Chain::parse(Some("a,b,c,d"));
        assert_eq!(four.check(me, 4), Ok(()));
        let five = Chain::parse(Some("a,b,c,d,e"));
        let err = five.check(me, 4).expect_err("too long");
        assert_eq!(err, ViaError::TooManyHops { hops: 5, max: 4 });
        assert!(err.to_string().starts_with("relay loop"), "{err}");
    }

    #[test]
    fn onward_chains_end_with_us_once() {
        let me = NodeId(0x10);
        let chain = Chain::parse(Some("a")).through(me);
        assert_eq!(chain.to_string(), "a,0000000000000010");
        assert_eq!(chain.through(me), chain);
        assert_eq!(Chain::default().through(me).to_string(), "0000000000000010");
    }
}
