//! IP allow/deny lists (see [`AclRules`](super::AclRules) for the evaluation order).
//! IPv4-mapped IPv6 addresses, and networks written that way, are matched as IPv4, so a
//! dual-stack listener (`[::]:1935`) sees the same rules as an IPv4 one.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

use super::{AclRules, AclSettings, AuthAction};

/// The compiled ACL.
#[derive(Debug, Clone, Default)]
pub(crate) struct Acl {
    connect: Rules,
    publish: Rules,
    play: Rules,
}

#[derive(Debug, Clone, Default)]
struct Rules {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

impl Acl {
    pub(crate) fn new(settings: &AclSettings) -> Acl {
        Acl {
            connect: Rules::new(&settings.connect),
            publish: Rules::new(&settings.publish),
            play: Rules::new(&settings.play),
        }
    }

    /// The connect rules, then (for publish and play) the action's rules. The error is the
    /// reason to give.
    pub(crate) fn check(&self, action: AuthAction, ip: IpAddr) -> Result<(), String> {
        let ip = ip.to_canonical();
        self.connect.check(ip, "connect")?;
        match action {
            AuthAction::Connect => Ok(()),
            AuthAction::Publish => self.publish.check(ip, "publish"),
            AuthAction::Play => self.play.check(ip, "play"),
        }
    }
}

impl Rules {
    fn new(rules: &AclRules) -> Rules {
        Rules {
            allow: rules.allow.iter().map(canonical_net).collect(),
            deny: rules.deny.iter().map(canonical_net).collect(),
        }
    }

    fn check(&self, ip: IpAddr, what: &str) -> Result<(), String> {
        if self.deny.iter().any(|net| net.contains(&ip)) {
            return Err(format!("address {ip} is not allowed to {what} (deny list)"));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|net| net.contains(&ip)) {
            return Err(format!("address {ip} is not allowed to {what} (not in the allow list)"));
        }
        Ok(())
    }
}

/// `::ffff:a.b.c.d/n` (n >= 96) as `a.b.c.d/(n-96)`.
fn canonical_net(net: &IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        if let (Some(v4), Some(len)) = (v6.addr().to_ipv4_mapped(), v6.prefix_len().checked_sub(96))
        {
            if let Ok(v4) = Ipv4Net::new(v4, len) {
                return IpNet::V4(v4.trunc());
            }
        }
    }
    *net
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn acl() -> Acl {
        Acl::new(&AclSettings {
            connect: AclRules { allow: vec![], deny: nets(&["192.0.2.0/24", "2001:db8:bad::/48"]) },
            publish: AclRules {
                allow: nets(&["10.0.0.0/8", "2001:db8::/32", "::ffff:172.16.0.0/108"]),
                deny: nets(&["10.9.0.0/16"]),
            },
            play: AclRules::default(),
        })
    }

    #[test]
    fn ipv4_rules_in_order() {
        let acl = acl();
        assert_eq!(acl.check(AuthAction::Connect, ip("198.51.100.1")), Ok(()));
        assert_eq!(acl.check(AuthAction::Play, ip("198.51.100.1")), Ok(()));
        assert_eq!(acl.check(AuthAction::Publish, ip("10.1.2.3")), Ok(()));
        let err = acl.check(AuthAction::Publish, ip("198.51.100.1")).unwrap_err();
        assert_eq!(err, "address 198.51.100.1 is not allowed to publish (not in the allow list)");
        let err = acl.check(AuthAction::Publish, ip("10.9.1.1")).unwrap_err();
        assert!(err.contains("deny list"), "{err}");
        // The connect rules apply to every action.
        for action in [AuthAction::Connect, AuthAction::Publish, AuthAction::Play] {
            let err = acl.check(action, ip("192.0.2.7")).unwrap_err();
            assert!(err.contains("not allowed to connect"), "{err}");
        }
    }

    #[test]
    fn ipv6_and_mapped_addresses() {
        let acl = acl();
        assert_eq!(acl.check(AuthAction::Publish, ip("2001:db8:1::1")), Ok(()));
        assert!(acl.check(AuthAction::Connect, ip("2001:db8:bad::1")).is_err());
        assert!(acl.check(AuthAction::Publish, ip("2001:db9::1")).is_err());
        // A mapped address is matched as IPv4, and reported as IPv4.
        assert_eq!(acl.check(AuthAction::Publish, ip("::ffff:10.1.2.3")), Ok(()));
        let err = acl.check(AuthAction::Connect, ip("::ffff:192.0.2.1")).unwrap_err();
        assert!(err.contains("address 192.0.2.1 "), "{err}");
        // A network written as mapped IPv6 matches plain IPv4 clients.
        assert_eq!(acl.check(AuthAction::Publish, ip("172.16.5.5")), Ok(()));
        assert_eq!(acl.check(AuthAction::Publish, ip("::ffff:172.16.5.5")), Ok(()));
    }

    #[test]
    fn empty_rules_allow_everyone() {
        let acl = Acl::new(&AclSettings::default());
        for addr in ["127.0.0.1", "::1", "::ffff:1.2.3.4"] {
            assert_eq!(acl.check(AuthAction::Publish, ip(addr)), Ok(()));
        }
    }
}
