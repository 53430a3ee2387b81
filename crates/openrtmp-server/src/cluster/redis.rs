//! The `redis` directory (Redis or Valkey): being written; not built without the `redis`
//! cargo feature.
