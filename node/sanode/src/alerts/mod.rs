//! From rule hits to delivered alerts: merging (docs/spec §10.4/§11) and dispatch to outputs (§12), both
//! driven by the leader over the alerts table in the replicated state.

pub mod args;
pub mod dispatcher;
mod due_cursor;
pub mod merger;
pub mod metrics;
pub mod retention;
pub mod settings_cipher;
pub mod view;
