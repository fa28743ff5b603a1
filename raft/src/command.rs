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

/// One Raft entry: the commands of one node's writers that arrived together (group commit,
/// see proposer.rs), applied in order, each on its own: one whose condition fails leaves the
/// others applied, and each sees what the ones before it wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub commands: Vec<Command>,
}

impl Command {
    /// About the bytes this command takes in an encoded entry.
    pub fn size(&self) -> usize {
        self.ops.iter().map(WriteOp::size).sum::<usize>()
            + self.conditions.iter().map(Condition::size).sum::<usize>()
    }
}

/// What the writers of large batches aim a command at: they split their ops into commands of
/// about this many bytes, so entries replicate within a heartbeat and under
/// the Raft message limit (network.rs) sixteen at a time.
pub const TARGET_COMMAND_BYTES: usize = 512 * 1024;

/// Bytes an op adds to an entry beside its keys and values (keyspace, tags, lengths).
const OP_OVERHEAD: usize = 16;

impl WriteOp {
    /// About the bytes this op takes in an encoded entry.
    pub fn size(&self) -> usize {
        OP_OVERHEAD
            + match self {
                WriteOp::Put { key, value, .. } => key.len() + value.len(),
                WriteOp::Delete { key, .. } => key.len(),
                WriteOp::DeletePrefix { prefix, .. } => prefix.len(),
                WriteOp::IfAbsent { key, ops, .. } => {
                    key.len() + ops.iter().map(WriteOp::size).sum::<usize>()
                }
            }
    }
}

/// Ops split, in order, into commands of about [`TARGET_COMMAND_BYTES`] each (an op larger than
/// that gets a command of its own). Each command applies atomically; the split ones do not
/// apply together, so it is for writes whose ops stand alone (each conditioned on its own key).
#[derive(Debug, Default)]
pub struct CommandSplitter {
    done: Vec<Command>,
    current: Command,
    bytes: usize,
}

impl CommandSplitter {
    /// Adds `op`, with a `condition` of its own; returns the index of the command it went into.
    pub fn push(&mut self, op: WriteOp, condition: Option<Condition>) -> usize {
        let bytes = op.size() + condition.as_ref().map_or(0, Condition::size);
        if !self.current.ops.is_empty() && self.bytes + bytes > TARGET_COMMAND_BYTES {
            self.done.push(std::mem::take(&mut self.current));
            self.bytes = 0;
        }
        self.bytes += bytes;
        self.current.ops.push(op);
        self.current.conditions.extend(condition);
        self.done.len()
    }

    pub fn into_commands(mut self) -> Vec<Command> {
        if !self.current.ops.is_empty() {
            self.done.push(self.current);
        }
        self.done
    }
}

impl Condition {
    /// About the bytes this condition takes in an encoded entry.
    pub fn size(&self) -> usize {
        OP_OVERHEAD
            + match self {
                Condition::Absent { key, .. } => key.len(),
                Condition::Equals { key, value, .. } => key.len() + value.len(),
            }
    }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;
    use crate::db::Keyspace;

    fn put(bytes: usize) -> WriteOp {
        WriteOp::Put {
            keyspace: Keyspace::Alerts,
            key: b"k".to_vec(),
            value: vec![7; bytes],
        }
    }

    #[test]
    fn ops_split_into_commands_near_the_target_in_order() {
        let mut splitter = CommandSplitter::default();
        let mut placed = Vec::new();
        for i in 0..100 {
            let absent = Condition::Absent {
                keyspace: Keyspace::Alerts,
                key: vec![i],
            };
            placed.push(splitter.push(put(50_000), Some(absent)));
        }
        let huge = splitter.push(put(2 * TARGET_COMMAND_BYTES), None);
        let commands = splitter.into_commands();
        assert_eq!(
            commands.len(),
            11,
            "ten commands of ten ops, then the huge op alone"
        );
        assert_eq!(huge, 10);
        assert_eq!(placed[9], 0);
        assert_eq!(placed[10], 1);
        for command in &commands[..10] {
            assert_eq!((command.ops.len(), command.conditions.len()), (10, 10));
            let encoded = codec::encode("entry", command).unwrap().len();
            assert!(encoded <= TARGET_COMMAND_BYTES, "{encoded} bytes");
            // The estimate does not miss by much either way.
            let estimate: usize = command.ops.iter().map(WriteOp::size).sum::<usize>()
                + command
                    .conditions
                    .iter()
                    .map(Condition::size)
                    .sum::<usize>();
            assert!(
                estimate >= encoded && estimate - encoded < 1024,
                "{estimate} vs {encoded}"
            );
        }
        assert_eq!(commands[10].ops.len(), 1);
        assert!(CommandSplitter::default().into_commands().is_empty());
    }
}
