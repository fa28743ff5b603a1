//! The replicated state machine: keyspaces in RocksDB column families, applied entry by entry.
//! Applying is atomic per entry (one WriteBatch holding the ops and the new applied log id), so a
//! crash between entries leaves a state that replays cleanly from the log.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, RaftSnapshotBuilder, StorageIOError};
use rocksdb::WriteBatch;
use tokio::sync::watch;

use crate::codec;
use crate::command::{Command, CommandResult, Condition, WriteOp};
use crate::db::{Keyspace, STATE_META, StateDb};
use crate::snapshot_file::{self, SnapshotData, SnapshotFiles};
use crate::types::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};

const LAST_APPLIED: &[u8] = b"last_applied";
const MEMBERSHIP: &[u8] = b"membership";
/// Present while a snapshot is being installed: its rows go in several writes, and a node
/// that stops half-way installs the current snapshot again when it starts.
const INSTALLING: &[u8] = b"installing";
/// Bytes of rows per write while a snapshot is installed.
const INSTALL_WRITE_BYTES: usize = 4 * 1024 * 1024;
const APPLIED_WHAT: &str = "last applied log id";
const MEMBERSHIP_WHAT: &str = "applied membership";

#[derive(Clone)]
pub struct StateMachine {
    db: StateDb,
    snapshots: Arc<SnapshotFiles>,
    snapshot_counter: Arc<AtomicU64>,
    applied: watch::Sender<Option<LogId>>,
}

impl StateMachine {
    pub fn new(db: StateDb, snapshots: SnapshotFiles) -> Result<Self, StorageError> {
        let (applied, _) = watch::channel(None);
        let machine = StateMachine {
            db,
            snapshots: Arc::new(snapshots),
            snapshot_counter: Arc::new(AtomicU64::new(0)),
            applied,
        };
        machine.finish_interrupted_install()?;
        let (last, _) = machine.read_applied()?;
        machine.applied.send_replace(last);
        Ok(machine)
    }

    /// Follows the last applied log id: wakes whoever waits for the state to change.
    pub fn subscribe_applied(&self) -> watch::Receiver<Option<LogId>> {
        self.applied.subscribe()
    }

    fn read_applied(&self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let read = |key| -> Result<Option<Vec<u8>>, StorageError> {
            self.db
                .get_cf(STATE_META, key)
                .map_err(|e| StorageIOError::read_state_machine(&e).into())
        };
        let last = match read(LAST_APPLIED)? {
            Some(b) => codec::decode(APPLIED_WHAT, &b)
                .map_err(|e| StorageIOError::read_state_machine(&e))?,
            None => None,
        };
        let membership = match read(MEMBERSHIP)? {
            Some(b) => codec::decode(MEMBERSHIP_WHAT, &b)
                .map_err(|e| StorageIOError::read_state_machine(&e))?,
            None => StoredMembership::default(),
        };
        Ok((last, membership))
    }

    fn check(
        &self,
        condition: &Condition,
        pending: &Pending<'_>,
    ) -> Result<Option<Option<Vec<u8>>>, StorageError> {
        let (keyspace, key, expected) = match condition {
            Condition::Absent { keyspace, key } => (keyspace, key, None),
            Condition::Equals {
                keyspace,
                key,
                value,
            } => (keyspace, key, Some(value)),
        };
        let current = pending.get(*keyspace, key)?;
        Ok(if current.as_ref() == expected {
            None
        } else {
            Some(current)
        })
    }

    fn apply_command(
        &self,
        command: &Command,
        pending: &mut Pending<'_>,
    ) -> Result<CommandResult, StorageError> {
        for (index, condition) in command.conditions.iter().enumerate() {
            if let Some(current) = self.check(condition, pending)? {
                return Ok(CommandResult::ConditionFailed { index, current });
            }
        }
        let mut skipped = Vec::new();
        for (index, op) in command.ops.iter().enumerate() {
            if !Self::apply_op(op, pending)? {
                skipped.push(index);
            }
        }
        Ok(if skipped.is_empty() {
            CommandResult::Applied
        } else {
            CommandResult::AppliedExcept { skipped }
        })
    }

    /// Adds `op` to the pending writes; false when it is an `IfAbsent` whose key exists.
    fn apply_op(op: &WriteOp, pending: &mut Pending<'_>) -> Result<bool, StorageError> {
        match op {
            WriteOp::Put {
                keyspace,
                key,
                value,
            } => pending.put(*keyspace, key, value),
            WriteOp::Delete { keyspace, key } => pending.delete(*keyspace, key),
            WriteOp::DeletePrefix { keyspace, prefix } => {
                pending.delete_prefix(*keyspace, prefix)?
            }
            WriteOp::IfAbsent { keyspace, key, ops } => {
                if pending.get(*keyspace, key)?.is_some() {
                    return Ok(false);
                }
                for op in ops {
                    Self::apply_op(op, pending)?;
                }
            }
        }
        Ok(true)
    }

    /// Writes every row of every keyspace as of `snapshot` to `path`; the bytes written.
    fn encode_rows(
        &self,
        snapshot: &rocksdb::Snapshot<'_>,
        path: &Path,
    ) -> Result<u64, StorageError> {
        let write_err = |e: std::io::Error| StorageIOError::write_snapshot(None, &e);
        let mut encoder = snapshot_file::Encoder::create(path).map_err(write_err)?;
        for keyspace in Keyspace::ALL {
            let cf = self.db.handle(keyspace.name());
            for item in snapshot.iterator_cf(cf, rocksdb::IteratorMode::Start) {
                let (key, value) = item.map_err(|e| StorageIOError::read_state_machine(&e))?;
                encoder.push(keyspace, &key, &value).map_err(write_err)?;
            }
        }
        Ok(encoder.finish().map_err(write_err)?)
    }

    /// Replaces the whole state with the snapshot whose rows are at `path`, a bounded write at
    /// a time, under the [`INSTALLING`] mark.
    fn install_rows(&self, meta: &SnapshotMeta, path: &Path) -> Result<(), StorageError> {
        let read_err =
            |e: std::io::Error| StorageIOError::read_snapshot(Some(meta.signature()), &e);
        let write_err = |e: crate::db::StateDbError| StorageIOError::write_state_machine(&e);
        let mut decoder = snapshot_file::Decoder::open(path).map_err(read_err)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.db.handle(STATE_META),
            INSTALLING,
            meta.snapshot_id.as_bytes(),
        );
        self.db.write(batch, true).map_err(write_err)?;
        let mut batch = WriteBatch::default();
        for keyspace in Keyspace::ALL {
            if let Some((last, _)) = self.db.last_cf(keyspace.name()).map_err(write_err)? {
                let cf = self.db.handle(keyspace.name());
                let mut end = last;
                end.push(0);
                batch.delete_range_cf(cf, b"".as_slice(), end.as_slice());
            }
        }
        while let Some((keyspace, key, value)) = decoder.next_row().map_err(read_err)? {
            batch.put_cf(self.db.handle(keyspace.name()), key, value);
            if batch.size_in_bytes() >= INSTALL_WRITE_BYTES {
                let full = std::mem::take(&mut batch);
                self.db.write(full, false).map_err(write_err)?;
                fail::fail_point!("raft::state_machine::after_install_write", |_| Err(
                    StorageIOError::write_state_machine(&std::io::Error::other(
                        "failpoint raft::state_machine::after_install_write"
                    ))
                    .into()
                ));
            }
        }
        let encode_err = |e: codec::CodecError| StorageIOError::write_state_machine(&e);
        let meta_cf = self.db.handle(STATE_META);
        batch.put_cf(
            meta_cf,
            LAST_APPLIED,
            codec::encode(APPLIED_WHAT, &meta.last_log_id).map_err(encode_err)?,
        );
        batch.put_cf(
            meta_cf,
            MEMBERSHIP,
            codec::encode(MEMBERSHIP_WHAT, &meta.last_membership).map_err(encode_err)?,
        );
        batch.delete_cf(meta_cf, INSTALLING);
        self.db.write(batch, true).map_err(write_err)?;
        Ok(())
    }

    /// Installs the current snapshot again when the last install did not finish.
    fn finish_interrupted_install(&self) -> Result<(), StorageError> {
        let marked = self
            .db
            .get_cf(STATE_META, INSTALLING)
            .map_err(|e| StorageIOError::read_state_machine(&e))?;
        let Some(marked) = marked else {
            return Ok(());
        };
        let current = self
            .snapshots
            .current()
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        match current {
            Some((meta, path)) if meta.snapshot_id.as_bytes() == marked.as_slice() => {
                tracing::warn!(snapshot_id = %meta.snapshot_id, "installing again a snapshot whose install was interrupted");
                self.install_rows(&meta, &path)
            }
            _ => Err(StorageIOError::read_snapshot(
                None,
                &std::io::Error::other(format!(
                    "the install of snapshot {} was interrupted and that snapshot is no longer on disk",
                    String::from_utf8_lossy(&marked)
                )),
            )
            .into()),
        }
    }
}

/// The writes of the entry being applied, in front of the database: each command's conditions
/// and `IfAbsent` checks see what the commands before it in the entry wrote, and the entry is
/// one atomic RocksDB write.
struct Pending<'a> {
    db: &'a StateDb,
    batch: WriteBatch,
    written: HashMap<(Keyspace, Vec<u8>), Option<Vec<u8>>>,
    /// Prefixes deleted earlier in the entry: a key under one that was not written after the
    /// deletion is gone, whatever the database still says.
    deleted_prefixes: Vec<(Keyspace, Vec<u8>)>,
}

impl<'a> Pending<'a> {
    fn new(db: &'a StateDb) -> Self {
        Pending {
            db,
            batch: WriteBatch::default(),
            written: HashMap::new(),
            deleted_prefixes: Vec::new(),
        }
    }

    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(value) = self.written.get(&(keyspace, key.to_vec())) {
            return Ok(value.clone());
        }
        if self
            .deleted_prefixes
            .iter()
            .any(|(ks, prefix)| *ks == keyspace && key.starts_with(prefix))
        {
            return Ok(None);
        }
        self.db
            .get(keyspace, key)
            .map_err(|e| StorageIOError::read_state_machine(&e).into())
    }

    fn put(&mut self, keyspace: Keyspace, key: &[u8], value: &[u8]) {
        self.batch
            .put_cf(self.db.handle(keyspace.name()), key, value);
        self.written
            .insert((keyspace, key.to_vec()), Some(value.to_vec()));
    }

    fn delete(&mut self, keyspace: Keyspace, key: &[u8]) {
        self.batch.delete_cf(self.db.handle(keyspace.name()), key);
        self.written.insert((keyspace, key.to_vec()), None);
    }

    /// Deletes the stored keys under `prefix` with one range tombstone, whatever their number
    /// (a lookup table of millions of rows is replaced without reading them), and the keys
    /// written earlier in the entry.
    fn delete_prefix(&mut self, keyspace: Keyspace, prefix: &[u8]) -> Result<(), StorageError> {
        let written: Vec<Vec<u8>> = self
            .written
            .keys()
            .filter(|(ks, key)| *ks == keyspace && key.starts_with(prefix))
            .map(|(_, key)| key.clone())
            .collect();
        for key in written {
            self.delete(keyspace, &key);
        }
        let end = match prefix_end(prefix) {
            Some(end) => end,
            // No key above the prefix's range: the range ends after the last stored key.
            None => match self
                .db
                .last_cf(keyspace.name())
                .map_err(|e| StorageIOError::read_state_machine(&e))?
            {
                Some((mut last, _)) => {
                    last.push(0);
                    last
                }
                None => return Ok(()),
            },
        };
        // Later ops of the batch get later sequence numbers, so the tombstone never hides what
        // the entry writes after it.
        self.batch
            .delete_range_cf(self.db.handle(keyspace.name()), prefix, end.as_slice());
        self.deleted_prefixes.push((keyspace, prefix.to_vec()));
        Ok(())
    }
}

/// The smallest key above every key starting with `prefix`; none when the prefix is empty or
/// all 0xff.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let machine = self.clone();
        let built = tokio::task::spawn_blocking(move || machine.build_snapshot_blocking())
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &std::io::Error::other(e)))??;
        // What is current now: the one just built, or a newer one installed meanwhile.
        self.get_current_snapshot().await?.ok_or_else(|| {
            StorageIOError::read_snapshot(
                Some(built.signature()),
                &std::io::Error::other("the snapshot just built is not on disk"),
            )
            .into()
        })
    }
}

impl StateMachine {
    /// Reads, frames and writes the whole state: seconds for a large one, so off the runtime
    /// (on a tokio worker it held up Raft's heartbeats and the node's requests).
    fn build_snapshot_blocking(&self) -> Result<SnapshotMeta, StorageError> {
        let rocks_snapshot = self.db.rocks().snapshot();
        let meta_of = |key| -> Result<Option<Vec<u8>>, StorageError> {
            rocks_snapshot
                .get_cf(self.db.handle(STATE_META), key)
                .map_err(|e| StorageIOError::read_state_machine(&e).into())
        };
        let last_log_id: Option<LogId> = match meta_of(LAST_APPLIED)? {
            Some(b) => codec::decode(APPLIED_WHAT, &b)
                .map_err(|e| StorageIOError::read_state_machine(&e))?,
            None => None,
        };
        let last_membership: StoredMembership = match meta_of(MEMBERSHIP)? {
            Some(b) => codec::decode(MEMBERSHIP_WHAT, &b)
                .map_err(|e| StorageIOError::read_state_machine(&e))?,
            None => StoredMembership::default(),
        };
        let partial = self.snapshots.partial_path();
        let bytes = self.encode_rows(&rocks_snapshot, &partial)?;
        drop(rocks_snapshot);
        let counter = self.snapshot_counter.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match last_log_id {
            Some(id) => format!("{}-{}-{counter}", id.leader_id, id.index),
            None => format!("empty-{counter}"),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id,
        };
        let write_err = |e| StorageIOError::write_snapshot(Some(meta.signature()), &e);
        self.snapshots.save(&meta, &partial).map_err(write_err)?;
        tracing::info!(snapshot_id = %meta.snapshot_id, bytes, "built snapshot");
        Ok(meta)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        self.read_applied()
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<CommandResult>>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut results = Vec::new();
        let mut last = None;
        for entry in entries {
            let mut pending = Pending::new(&self.db);
            let result = match &entry.payload {
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Normal(proposal) => proposal
                    .commands
                    .iter()
                    .map(|command| self.apply_command(command, &mut pending))
                    .collect::<Result<_, _>>()?,
                EntryPayload::Membership(membership) => {
                    let stored = StoredMembership::new(Some(entry.log_id), membership.clone());
                    let bytes = codec::encode(MEMBERSHIP_WHAT, &stored)
                        .map_err(|e| StorageIOError::apply(entry.log_id, &e))?;
                    pending
                        .batch
                        .put_cf(self.db.handle(STATE_META), MEMBERSHIP, bytes);
                    Vec::new()
                }
            };
            let mut batch = pending.batch;
            let applied = codec::encode(APPLIED_WHAT, &Some(entry.log_id))
                .map_err(|e| StorageIOError::apply(entry.log_id, &e))?;
            batch.put_cf(self.db.handle(STATE_META), LAST_APPLIED, applied);
            fail::fail_point!("raft::state_machine::before_apply", |_| Err(
                StorageIOError::apply(
                    entry.log_id,
                    &std::io::Error::other("failpoint raft::state_machine::before_apply")
                )
                .into()
            ));
            // Not synced: the log is, and an entry lost here is re-applied from it on restart.
            self.db
                .write(batch, false)
                .map_err(|e| StorageIOError::apply(entry.log_id, &e))?;
            last = Some(entry.log_id);
            results.push(result);
        }
        if last.is_some() {
            self.applied.send_replace(last);
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotData>, StorageError> {
        let path = self.snapshots.partial_path();
        let data = self
            .snapshots
            .receive_into(path)
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        Ok(Box::new(data))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<SnapshotData>,
    ) -> Result<(), StorageError> {
        let partial = snapshot.path().to_owned();
        drop(snapshot);
        let machine = self.clone();
        let meta = meta.clone();
        let installed = meta.clone();
        tokio::task::spawn_blocking(move || {
            let path = machine
                .snapshots
                .install(&meta, &partial)
                .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
            machine.install_rows(&meta, &path)
        })
        .await
        .map_err(|e| StorageIOError::write_state_machine(&std::io::Error::other(e)))??;
        self.applied.send_replace(installed.last_log_id);
        tracing::info!(snapshot_id = %installed.snapshot_id, "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let opened = self
            .snapshots
            .open_current()
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(opened.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(data),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_ends_at_the_next_key_of_its_length_and_all_ones_have_no_end() {
        assert_eq!(prefix_end(b"t/"), Some(b"t0".to_vec()));
        assert_eq!(prefix_end(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
