//! The node's records in the replicated state: how config bundles, lookup tables, alerts and
//! dead letters are laid out in sa-raft's keyspaces.

mod alert_store;
mod config_store;
mod leases;
pub mod lookup_drivers;
pub mod lookup_refresh;
mod lookup_store;
mod output_settings;

pub use alert_store::{
    AlertStore, AttemptRecord, OutputDeadLetter, OutputOutcome, SentRecord, StoredDeadLetter,
    now_ms,
};
pub use config_store::ConfigStore;
pub use leases::{Fenced, HeldLease, Lease, LeaseStore, ShardProgress, ShardState};
pub use lookup_store::LookupStore;
pub use output_settings::{OutputSettings, RESOURCE_SETTING};
