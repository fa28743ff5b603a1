//! The replicated stores of an sa cluster: how config bundles, lookup tables, alerts, dead
//! letters, leases and checkpoints, output settings (and the id of the data key sealing them) and the rule
//! table are laid out in sa-raft's
//! keyspaces, each key typed in [`keys`]. Depends on sa-raft and pure crates only; the node
//! drives these stores.

mod alert_rows;
mod alert_store;
mod audit_log;
mod config_store;
mod data_key_id;
pub mod keys;
mod leases;
mod lookup_store;
mod output_settings;
mod revocations;
mod rule_table;
mod tokens;

pub use alert_store::{
    AlertStore, AttemptRecord, Committed, OutputDeadLetter, OutputOutcome, SentRecord,
    StoredDeadLetter,
};
pub use audit_log::{AuditEntry, AuditLog};
pub use config_store::ConfigStore;
pub use data_key_id::{Adoption, DataKeyId};
pub use leases::{Fenced, HeldLease, Lease, LeaseStore, ShardProgress, ShardState};
pub use lookup_store::{LookupStore, ReplaceLoad};
pub use output_settings::{OutputSettings, SettingsCipher};
pub use revocations::{Revocation, Revocations};
pub use rule_table::{
    DEFAULT_STAGING, RuleChange, RuleRow, RuleStore, RuleTableRefusal, StoredRow, SyncRequest,
    SyncWrite, TableState,
};
pub use tokens::{StoredToken, TokenRefusal, Tokens, expiry};

/// Milliseconds since the epoch, as the `leases` keyspace counts them (lease epochs, a
/// checkpoint's `updated_ms`, which `sactl status` shows). The alerts table counts
/// microseconds ([`sa_rules::Micros`], from [`sa_rules::Clock`]) and does not use this.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// A one-node cluster's replica in `dir`, leading: the replicated state for a store's test.
#[cfg(any(test, feature = "test-support"))]
pub async fn single_node_replica(dir: &std::path::Path) -> sa_raft::Replica {
    let replica = sa_raft::Replica::open(sa_raft::ReplicaConfig {
        node_id: 1,
        advertise_addr: "127.0.0.1:1".into(),
        data_dir: dir.to_path_buf(),
        timing: sa_raft::RaftTiming::default(),
        dialer: sa_raft::PeerDialer::plaintext(),
    })
    .await
    .unwrap();
    replica.bootstrap_if_new().await.unwrap();
    replica
}

/// An alert of `rule` created at `created`, with only the alerts Firehose as output: for the
/// stores' tests and those of the node's leader tasks.
#[cfg(any(test, feature = "test-support"))]
pub fn test_alert(rule: &str, created: sa_rules::Micros) -> sa_rules::Alert {
    sa_rules::Alert {
        rule_name: rule.into(),
        alert_id: sa_rules::new_alert_id(),
        outputs: [sa_rules::FIREHOSE_OUTPUT.to_string()].into(),
        created,
        ..Default::default()
    }
}
