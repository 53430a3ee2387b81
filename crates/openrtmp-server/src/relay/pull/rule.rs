//! Pull rules (`relay.pull`): which streams come from which origins, when the pull runs,
//! and in which order the origins are tried.

use openrtmp_hub::StreamKey;

use crate::relay::ANY;

/// When a pull runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullMode {
    /// The first local player of a stream with no local publisher starts the pull; it
    /// stops [`crate::relay::RelaySettings::pull_linger`] after the last one left.
    #[default]
    OnDemand,
    /// The pull starts with the server and runs until it stops. Needs a concrete stream
    /// name (with `*` there is nothing to start).
    Always,
}

impl PullMode {
    /// The mode's name as the configuration and the API spell it.
    pub fn name(self) -> &'static str {
        match self {
            PullMode::OnDemand => "on_demand",
            PullMode::Always => "always",
        }
    }
}

/// In which order a pull tries its origins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OriginSelect {
    /// As listed: the first is the primary, the others are fall-backs.
    #[default]
    Order,
    /// By rendezvous hashing of the stream's app and name: each stream has its own first
    /// origin (spreading streams over origins, the same choice on every edge), the others
    /// follow in their listed order. Removing an origin moves only the streams it had.
    Hash,
}

impl OriginSelect {
    /// The choice's name as the configuration spells it.
    pub fn name(self) -> &'static str {
        match self {
            OriginSelect::Order => "order",
            OriginSelect::Hash => "hash",
        }
    }
}

/// A pull rule: every stream of `app` named `stream` is pulled from `origins`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRule {
    /// Application name (required: an edge serves named apps).
    pub app: String,
    /// Stream name, or [`ANY`] (then only `on_demand` makes sense).
    pub stream: String,
    /// `rtmp://` or `rtmps://` play URLs; `{app}` and `{stream}` are replaced by the
    /// stream's application and name.
    pub origins: Vec<String>,
    /// When the pull runs.
    pub mode: PullMode,
    /// In which order the origins are tried.
    pub select: OriginSelect,
}

impl PullRule {
    /// Whether the rule applies to the stream `key`.
    pub fn matches(&self, key: &StreamKey) -> bool {
        (self.app == ANY || self.app == key.app) && (self.stream == ANY || self.stream == key.name)
    }

    /// The origin URLs for `key` in the order they are tried, `{app}` and `{stream}`
    /// replaced.
    pub fn origins_for(&self, key: &StreamKey) -> Vec<String> {
        let first = match self.select {
            OriginSelect::Order => 0,
            OriginSelect::Hash => rendezvous(key, &self.origins),
        };
        let mut order: Vec<&String> = Vec::with_capacity(self.origins.len());
        order.extend(self.origins.get(first));
        order.extend(self.origins.iter().enumerate().filter(|(i, _)| *i != first).map(|(_, o)| o));
        order.iter().map(|o| o.replace("{app}", &key.app).replace("{stream}", &key.name)).collect()
    }
}

/// The index of the origin with the highest score for `key` (0 for an empty list).
fn rendezvous(key: &StreamKey, origins: &[String]) -> usize {
    let mut best = (0, 0u64);
    for (i, origin) in origins.iter().enumerate() {
        let score =
            fnv1a(&[key.app.as_bytes(), b"/", key.name.as_bytes(), b"\n", origin.as_bytes()]);
        if i == 0 || score > best.1 {
            best = (i, score);
        }
    }
    best.0
}

/// FNV-1a, 64 bits: stable across builds and machines (std's hasher is not promised to
/// be), so every edge picks the same origin for a stream.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(select: OriginSelect) -> PullRule {
        PullRule {
            app: "live".into(),
            stream: ANY.into(),
            origins: vec![
                "rtmp://a/{app}/{stream}".into(),
                "rtmp://b/{app}/{stream}".into(),
                "rtmp://c/{app}/{stream}".into(),
            ],
            mode: PullMode::OnDemand,
            select,
        }
    }

    #[test]
    fn origins_in_order_with_names_substituted() {
        let key = StreamKey::new("live", "cam1");
        let r = rule(OriginSelect::Order);
        assert!(r.matches(&key));
        assert!(!r.matches(&StreamKey::new("other", "cam1")));
        assert_eq!(
            r.origins_for(&key),
            ["rtmp://a/live/cam1", "rtmp://b/live/cam1", "rtmp://c/live/cam1"]
        );
    }

    #[test]
    fn hash_picks_a_first_origin_per_stream_then_the_rest_in_order() {
        let r = rule(OriginSelect::Hash);
        let mut firsts = std::collections::BTreeSet::new();
        for n in 0..64 {
            let key = StreamKey::new("live", format!("cam{n}"));
            let order = r.origins_for(&key);
            assert_eq!(order, r.origins_for(&key), "stable");
            assert_eq!(order.len(), 3);
            let mut rest: Vec<_> = order.iter().skip(1).cloned().collect();
            let mut sorted = rest.clone();
            sorted.sort();
            assert_eq!(rest, sorted, "the others keep their listed order");
            rest.push(order[0].clone());
            rest.sort();
            assert_eq!(rest, rule(OriginSelect::Order).origins_for(&key).tap_sort());
            firsts.insert(order[0].chars().nth(7));
        }
        assert_eq!(firsts.len(), 3, "64 streams spread over the 3 origins");
        // Rendezvous: dropping origin c moves only c's streams.
        let mut two = rule(OriginSelect::Hash);
        two.origins.pop();
        for n in 0..64 {
            let key = StreamKey::new("live", format!("cam{n}"));
            let before = r.origins_for(&key)[0].clone();
            if !before.starts_with("rtmp://c/") {
                assert_eq!(two.origins_for(&key)[0], before);
            }
        }
        // Known value: stable across builds.
        assert_eq!(fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
    }

    trait TapSort {
        fn tap_sort(self) -> Self;
    }

    impl TapSort for Vec<String> {
        fn tap_sort(mut self) -> Self {
            self.sort();
            self
        }
    }
}
