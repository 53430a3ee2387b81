//! The choices of a `relay.pull` rule: when the pull runs and in which order its origins are
//! tried.

choice! {
    /// `relay.pull[].mode`.
    PullMode, "a pull mode" {
        /// The first local player starts the pull; it stops after the last one left.
        OnDemand = "on_demand",
        /// The pull starts with the server (a concrete stream name only).
        Always = "always",
    }
}

choice! {
    /// `relay.pull[].select`.
    OriginSelect, "an origin order" {
        /// As listed.
        Order = "order",
        /// Rendezvous hashing of the stream's app and name picks the first; the others
        /// follow as listed.
        Hash = "hash",
    }
}
