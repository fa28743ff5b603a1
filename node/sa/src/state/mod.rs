//! The node's records in the replicated state: how config bundles, lookup tables, alerts and
//! dead letters are laid out in sa-raft's keyspaces.

mod alert_store;
mod config_store;
pub mod lookup_drivers;
pub mod lookup_refresh;
mod lookup_store;

pub use alert_store::{AlertStore, StoredDeadLetter};
pub use config_store::ConfigStore;
pub use lookup_store::LookupStore;
