//! `proxy_protocol` to the server's PROXY protocol settings and back.

use openrtmp_server::ProxyProtocolSettings;

use crate::model::ProxyProtocolSection;
use crate::unit::Net;

/// The `proxy_protocol` section of a file into `p`. The networks are checked as they are
/// read (`Net`); nothing else can be wrong.
pub(super) fn proxy_protocol(s: &ProxyProtocolSection, p: &mut ProxyProtocolSettings) {
    if let Some(trusted) = &s.trusted {
        p.trusted = trusted.iter().map(|n| n.0).collect();
    }
    p.required = s.required.unwrap_or(p.required);
}

/// The full `proxy_protocol` section of `p`.
pub(super) fn dump(p: &ProxyProtocolSettings) -> ProxyProtocolSection {
    ProxyProtocolSection {
        trusted: Some(p.trusted.iter().copied().map(Net).collect()),
        required: Some(p.required),
    }
}
