//! Kinesis shard leases, checkpoints and finished shards in the `leases` keyspace.
//!
//! - `lease/<stream>/<shard>` -> [`Lease`] JSON: the node that reads the shard. The leader's
//!   lease manager writes it; every assignment gets a new epoch, so the exact bytes of a lease
//!   are a fencing token: a consumer checkpoints only while the lease still holds the bytes it
//!   started with.
//! - `checkpoint/<stream>/<shard>` -> [`ShardProgress`] JSON: the last record whose alerts are
//!   committed, and how far behind the tip the owner was then.
//! - `finished/<stream>/<shard>` -> [`ShardProgress`] JSON: the shard was read to SHARD_END, so
//!   its children may be read (KCL order).
//!
//! Stream names (`[a-zA-Z0-9_.-]+`) and shard ids never contain `/`. The keys are typed in
//! [`crate::keys::leases`].

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use sa_aws_sources::kinesis::Checkpoint;
use sa_raft::{Command, CommandResult, Condition, Keyspace, Replica, WriteOp};
use serde::{Deserialize, Serialize};

use crate::keys::leases::{LeaseKey, ShardRecord};
use crate::now_ms;

fn key(record: ShardRecord, stream: &str, shard: &str) -> Vec<u8> {
    LeaseKey::new(record, stream, shard).encode()
}

/// Who reads a shard. `epoch` grows with every assignment of the shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub owner: u64,
    pub epoch: u64,
}

/// A lease as stored: its value and the exact bytes the fencing condition compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLease {
    pub lease: Lease,
    pub token: Vec<u8>,
}

/// How far a shard's owner has read (alerts committed up to `checkpoint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardProgress {
    pub checkpoint: Option<Checkpoint>,
    pub millis_behind_latest: i64,
    /// The node that wrote it.
    pub node: u64,
    pub updated_ms: u64,
    /// The shards this one was split or merged from (read to their end before it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<String>,
}

/// One shard as `sactl status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardState {
    pub stream: String,
    pub shard: String,
    pub lease: Option<Lease>,
    pub progress: Option<ShardProgress>,
    pub finished: bool,
}

/// What became of a fenced write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fenced {
    Written,
    /// The lease no longer holds the writer's token: it moved to another node or epoch.
    LeaseLost,
}

/// `(stream, shard, value, value bytes)` of one record.
type Scanned<T> = (String, String, T, Vec<u8>);

#[derive(Clone)]
pub struct LeaseStore {
    replica: Replica,
}

impl LeaseStore {
    pub fn new(replica: Replica) -> Self {
        LeaseStore { replica }
    }

    fn scan<T: for<'de> Deserialize<'de>>(
        &self,
        record: ShardRecord,
        stream: Option<&str>,
    ) -> anyhow::Result<Vec<Scanned<T>>> {
        let mut out = Vec::new();
        for (key, value) in self
            .replica
            .scan_prefix(Keyspace::Leases, &record.prefix(stream))?
        {
            let decoded = LeaseKey::decode(&key).map_err(anyhow::Error::from);
            match decoded.and_then(|key| Ok((key, serde_json::from_slice(&value)?))) {
                Ok((key, parsed)) => out.push((key.stream, key.shard, parsed, value)),
                Err(e) => tracing::warn!(
                    key = %key.escape_ascii(),
                    error = %e,
                    "undecodable lease record skipped"
                ),
            }
        }
        Ok(out)
    }

    /// Every lease, or those of one stream: `(stream, shard, lease)`.
    pub fn leases(&self, stream: Option<&str>) -> anyhow::Result<Vec<(String, String, HeldLease)>> {
        Ok(self
            .scan::<Lease>(ShardRecord::Lease, stream)?
            .into_iter()
            .map(|(stream, shard, lease, token)| (stream, shard, HeldLease { lease, token }))
            .collect())
    }

    /// The shards of `stream` read to their end.
    pub fn finished(&self, stream: &str) -> anyhow::Result<BTreeSet<String>> {
        Ok(self
            .scan::<ShardProgress>(ShardRecord::Finished, Some(stream))?
            .into_iter()
            .map(|(_, shard, _, _)| shard)
            .collect())
    }

    pub fn progress(&self, stream: &str, shard: &str) -> anyhow::Result<Option<ShardProgress>> {
        match self.replica.get(
            Keyspace::Leases,
            &key(ShardRecord::Checkpoint, stream, shard),
        )? {
            None => Ok(None),
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        }
    }

    /// Every shard with a lease, a checkpoint or a finished mark, sorted by stream and shard.
    pub fn shard_states(&self) -> anyhow::Result<Vec<ShardState>> {
        fn entry(
            states: &mut BTreeMap<(String, String), ShardState>,
            stream: String,
            shard: String,
        ) -> &mut ShardState {
            states
                .entry((stream.clone(), shard.clone()))
                .or_insert(ShardState {
                    stream,
                    shard,
                    lease: None,
                    progress: None,
                    finished: false,
                })
        }
        let mut states = BTreeMap::new();
        for (stream, shard, held) in self.leases(None)? {
            entry(&mut states, stream, shard).lease = Some(held.lease);
        }
        for (stream, shard, progress, _) in
            self.scan::<ShardProgress>(ShardRecord::Checkpoint, None)?
        {
            entry(&mut states, stream, shard).progress = Some(progress);
        }
        for (stream, shard, _, _) in self.scan::<ShardProgress>(ShardRecord::Finished, None)? {
            entry(&mut states, stream, shard).finished = true;
        }
        Ok(states.into_values().collect())
    }

    /// Gives `shard` to `owner` if its lease is still `current` (`None`: no lease). Returns false
    /// when another writer changed the lease first.
    pub async fn assign(
        &self,
        stream: &str,
        shard: &str,
        owner: u64,
        current: Option<&HeldLease>,
    ) -> anyhow::Result<bool> {
        let lease_key = key(ShardRecord::Lease, stream, shard);
        let epoch = current.map_or(0, |held| held.lease.epoch + 1).max(now_ms());
        let value = serde_json::to_vec(&Lease { owner, epoch })?;
        let condition = match current {
            Some(held) => Condition::Equals {
                keyspace: Keyspace::Leases,
                key: lease_key.clone(),
                value: held.token.clone(),
            },
            None => Condition::Absent {
                keyspace: Keyspace::Leases,
                key: lease_key.clone(),
            },
        };
        let command = Command::put(Keyspace::Leases, lease_key, value).with_condition(condition);
        self.applied(command).await
    }

    /// Drops the lease of a shard no longer readable (finished, gone, or its stream no longer
    /// configured) if it is still `current`.
    pub async fn release(
        &self,
        stream: &str,
        shard: &str,
        current: &HeldLease,
    ) -> anyhow::Result<bool> {
        let lease_key = key(ShardRecord::Lease, stream, shard);
        let command = Command {
            conditions: vec![Condition::Equals {
                keyspace: Keyspace::Leases,
                key: lease_key.clone(),
                value: current.token.clone(),
            }],
            ops: vec![WriteOp::Delete {
                keyspace: Keyspace::Leases,
                key: lease_key,
            }],
        };
        self.applied(command).await
    }

    /// Records `progress` for a shard, fenced by the lease `token` the writer holds. With
    /// `finished` the shard is also marked read to its end and its lease dropped, in the same
    /// command, so the leader may hand out its children.
    pub async fn checkpoint(
        &self,
        stream: &str,
        shard: &str,
        token: &[u8],
        progress: &ShardProgress,
        finished: bool,
    ) -> anyhow::Result<Fenced> {
        let command = Self::checkpoint_command(stream, shard, token, progress, finished)?;
        Self::fenced(self.replica.write(command).await?)
    }

    /// What the result of a [`Self::checkpoint_command`] means.
    pub fn fenced(result: CommandResult) -> anyhow::Result<Fenced> {
        match result {
            CommandResult::Applied => Ok(Fenced::Written),
            CommandResult::ConditionFailed { .. } => Ok(Fenced::LeaseLost),
            other => bail!("checkpoint not applied: {other:?}"),
        }
    }

    /// The command [`Self::checkpoint`] writes, for a writer that commits it with other
    /// commands (a batch's alerts, in one entry).
    pub fn checkpoint_command(
        stream: &str,
        shard: &str,
        token: &[u8],
        progress: &ShardProgress,
        finished: bool,
    ) -> anyhow::Result<Command> {
        let lease_key = key(ShardRecord::Lease, stream, shard);
        let value = serde_json::to_vec(progress)?;
        let mut command = Command {
            conditions: vec![Condition::Equals {
                keyspace: Keyspace::Leases,
                key: lease_key.clone(),
                value: token.to_vec(),
            }],
            ops: vec![WriteOp::Put {
                keyspace: Keyspace::Leases,
                key: key(ShardRecord::Checkpoint, stream, shard),
                value: value.clone(),
            }],
        };
        if finished {
            command.ops.push(WriteOp::Put {
                keyspace: Keyspace::Leases,
                key: key(ShardRecord::Finished, stream, shard),
                value,
            });
            command.ops.push(WriteOp::Delete {
                keyspace: Keyspace::Leases,
                key: lease_key,
            });
        }
        Ok(command)
    }

    async fn applied(&self, command: Command) -> anyhow::Result<bool> {
        match self.replica.write(command).await? {
            CommandResult::Applied => Ok(true),
            CommandResult::ConditionFailed { .. } => Ok(false),
            other => bail!("lease write not applied: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn progress(sequence: &str) -> ShardProgress {
        ShardProgress {
            checkpoint: Some(Checkpoint::after_record(sequence)),
            millis_behind_latest: 0,
            node: 1,
            updated_ms: now_ms(),
            parents: Vec::new(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_the_current_lease_holder_moves_the_checkpoint_and_finishing_drops_the_lease() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(dir.path()).await;
        let store = LeaseStore::new(replica.clone());

        assert!(store.assign("s", "shard-0", 1, None).await.unwrap());
        // a second writer that believed the shard unleased loses
        assert!(!store.assign("s", "shard-0", 2, None).await.unwrap());
        let first = store.leases(Some("s")).unwrap().remove(0).2;
        assert_eq!(first.lease.owner, 1);
        assert_eq!(
            store
                .checkpoint("s", "shard-0", &first.token, &progress("10"), false)
                .await
                .unwrap(),
            Fenced::Written
        );

        // moved to node 2 and back to node 1: node 1's old consumer is fenced by the epoch
        assert!(store.assign("s", "shard-0", 2, Some(&first)).await.unwrap());
        let second = store.leases(Some("s")).unwrap().remove(0).2;
        assert!(
            store
                .assign("s", "shard-0", 1, Some(&second))
                .await
                .unwrap()
        );
        let third = store.leases(Some("s")).unwrap().remove(0).2;
        assert_eq!(third.lease.owner, 1);
        assert!(third.lease.epoch > first.lease.epoch);
        for stale in [&first, &second] {
            assert_eq!(
                store
                    .checkpoint("s", "shard-0", &stale.token, &progress("5"), true)
                    .await
                    .unwrap(),
                Fenced::LeaseLost
            );
        }
        assert_eq!(
            store.progress("s", "shard-0").unwrap().unwrap().checkpoint,
            Some(Checkpoint::after_record("10")),
            "a fenced write changes nothing"
        );
        assert!(store.finished("s").unwrap().is_empty());

        assert_eq!(
            store
                .checkpoint("s", "shard-0", &third.token, &progress("20"), true)
                .await
                .unwrap(),
            Fenced::Written
        );
        assert_eq!(
            store.finished("s").unwrap(),
            BTreeSet::from(["shard-0".to_string()])
        );
        assert!(store.leases(None).unwrap().is_empty());
        let states = store.shard_states().unwrap();
        assert_eq!(states.len(), 1);
        assert!(states[0].finished && states[0].lease.is_none());
        assert_eq!(
            states[0].progress.as_ref().unwrap().checkpoint,
            Some(Checkpoint::after_record("20"))
        );
        replica.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_malformed_key_is_skipped_by_the_scans() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(dir.path()).await;
        let store = LeaseStore::new(replica.clone());
        assert!(store.assign("s", "shard-0", 1, None).await.unwrap());
        let lease = serde_json::to_vec(&Lease { owner: 2, epoch: 1 }).unwrap();
        replica
            .write(Command::put(Keyspace::Leases, "lease/no-shard", lease))
            .await
            .unwrap();
        let leases = store.leases(None).unwrap();
        assert_eq!(leases.len(), 1);
        assert_eq!(
            (leases[0].0.as_str(), leases[0].1.as_str()),
            ("s", "shard-0")
        );
        assert_eq!(store.shard_states().unwrap().len(), 1);
        replica.shutdown().await;
    }
}
