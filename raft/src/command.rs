//! Writes to the replicated state: conditional batches over keyspaces, applied atomically.
//!
//! The state machine knows keyspaces and bytes, not alerts or leases: the node encodes its own
//! records, and conditions give it compare-and-set where exactly-once matters (an alert id seen
//! twice, a lease taken by two nodes, an output's success recorded once).

use serde::{Deserialize, Serialize};

use crate::db::Keyspace;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteOp {
    Put {
        keyspace: Keyspace,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    Delete {
        keyspace: Keyspace,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// Deletes every key starting with `prefix` (e.g. replacing a whole lookup table).
    DeletePrefix {
        keyspace: Keyspace,
        #[serde(with = "serde_bytes")]
        prefix: Vec<u8>,
    },
    /// Applies `ops` only if `key` is absent, while the rest of the command applies either way:
    /// a batch of alerts where some were already stored by an earlier delivery of the same
    /// records stores the others.
    IfAbsent {
        keyspace: Keyspace,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        ops: Vec<WriteOp>,
    },
}

/// A precondition checked against the state just before the batch applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    Absent {
        keyspace: Keyspace,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    Equals {
        keyspace: Keyspace,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
}

/// One replicated write: if every condition holds, every op applies; otherwise none does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub conditions: Vec<Condition>,
    pub ops: Vec<WriteOp>,
}

impl Command {
    pub fn put(keyspace: Keyspace, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Command {
            conditions: Vec::new(),
            ops: vec![WriteOp::Put {
                keyspace,
                key: key.into(),
                value: value.into(),
            }],
        }
    }

    pub fn with_condition(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }

    pub fn and(mut self, op: WriteOp) -> Self {
        self.ops.push(op);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// Every op was applied.
    Applied,
    /// Every op was applied except the `IfAbsent` ops at these indices, whose key existed.
    AppliedExcept { skipped: Vec<usize> },
    /// Condition number `index` did not hold; nothing was applied. `current` is the value found.
    ConditionFailed {
        index: usize,
        #[serde(with = "serde_bytes")]
        current: Option<Vec<u8>>,
    },
    /// Entries that carry no command (blank and membership entries).
    NoOp,
}
