//! `proxy_protocol:` the PROXY protocol (v1 and v2) on the RTMP and RTMPS listeners, for a
//! server behind a TCP load balancer.

use serde::{Deserialize, Serialize};

use super::{check, Item, Shape, Spec};
use crate::unit::Net;

section! {
    /// `proxy_protocol:` which peers are load balancers whose PROXY header names the client.
    ProxyProtocolSection {
        /// The load balancers' networks (CIDR or single addresses); default none: off.
        trusted: Vec<Net>,
        /// A trusted peer's connection without a header is closed; default true.
        required: bool,
    }
}

pub(crate) const PROXY_PROTOCOL: Spec = Spec {
    name: "proxy_protocol",
    keys: ProxyProtocolSection::KEYS,
    check: check::<ProxyProtocolSection>,
    nested: &[("trusted", Shape::List(Item::Value(check::<Net>)))],
};
