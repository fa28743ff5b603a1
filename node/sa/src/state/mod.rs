//! The node's records in the replicated state: how config bundles, lookup tables, alerts, dead
//! letters and the rule table are laid out in sa-raft's keyspaces.

mod alert_store;
mod config_store;
mod leases;
pub mod lookup_drivers;
pub mod lookup_refresh;
mod lookup_store;
mod output_settings;
mod rule_table;

pub use alert_store::{
    AlertStore, AttemptRecord, OutputDeadLetter, OutputOutcome, SentRecord, StoredDeadLetter,
    now_ms,
};
pub use config_store::ConfigStore;
pub use leases::{Fenced, HeldLease, Lease, LeaseStore, ShardProgress, ShardState};
pub use lookup_store::LookupStore;
pub use output_settings::{OutputSettings, RESOURCE_SETTING};
pub use rule_table::{
    DEFAULT_STAGING, RuleChange, RuleRow, RuleStore, RuleTableRefusal, StoredRow, SyncRequest,
    SyncWrite, TableState,
};

/// A one-node cluster's replica in `dir`, leading: the replicated state for a store's unit test.
#[cfg(test)]
pub(crate) async fn single_node_replica(dir: &std::path::Path) -> sa_raft::Replica {
    let replica = sa_raft::Replica::open(sa_raft::ReplicaConfig {
        node_id: 1,
        advertise_addr: "127.0.0.1:1".into(),
        data_dir: dir.to_path_buf(),
        timing: sa_raft::RaftTiming::default(),
    })
    .await
    .unwrap();
    replica.bootstrap_if_new().await.unwrap();
    replica
}
