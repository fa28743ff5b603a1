//! sa's replicated state: one openraft group per cluster, its log and state machine in RocksDB,
//! its network over gRPC. It knows keyspaces and conditional writes (docs/architecture.md §4), not logs,
//! schemas or rules.

// openraft's storage traits fix the error type (StorageError, ~200 bytes); the helpers around
// them return it as is rather than boxing at every boundary.
#![allow(clippy::result_large_err)]

mod codec;
mod command;
mod db;
mod log_store;
mod membership;
mod network;
mod proposer;
mod replica;
mod rider;
mod service;
mod snapshot_file;
mod state_machine;
mod types;

pub use command::{Command, CommandResult, CommandSplitter, Condition, WriteOp};
pub use db::{KeyValue, Keyspace, StateDb, StateDbError};
pub use membership::{JoinRequest, RemoveRequest};
pub use network::{PeerDialer, PeerTls};
pub use replica::{RaftTiming, Replica, ReplicaConfig, ReplicaError};
pub use rider::with_rider;
pub use service::RaftService;
pub use types::{LogId, NodeId, TypeConfig};
