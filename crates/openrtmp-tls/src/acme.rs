//! ACME (placeholder while being written).
