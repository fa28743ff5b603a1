//! From rule hits to delivered alerts: merging (docs/spec §10.4/§11) and dispatch to outputs (§12), both
//! driven by the leader over the alerts table in the replicated state.

pub mod args;
pub mod cluster_keys;
pub mod dispatcher;
mod due_cursor;
pub mod kms_cipher;
pub mod merger;
pub mod metrics;
pub mod retention;
pub mod view;
