//! FLV segments (owned by the recorder piece; placeholder until it lands).
