//! The Raft log in RocksDB: entries in `raft_log` keyed by big-endian index, vote and purge
//! marks in `raft_meta`. Appends are synced before openraft is told they are durable.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{RaftLogReader, StorageIOError};
use rocksdb::WriteBatch;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec;
use crate::db::{RAFT_LOG, RAFT_META, StateDb};
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";
const ENTRY: &str = "raft log entry";

#[derive(Clone)]
pub struct LogStore {
    db: StateDb,
}

impl LogStore {
    pub fn new(db: StateDb) -> Self {
        LogStore { db }
    }

    fn meta<T: DeserializeOwned>(
        &self,
        what: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        let bytes = self
            .db
            .get_cf(RAFT_META, key)
            .map_err(|e| StorageIOError::read(&e))?;
        bytes
            .map(|b| codec::decode(what, &b).map_err(|e| StorageIOError::read(&e).into()))
            .transpose()
    }

    fn put_meta<T: Serialize>(
        &self,
        what: &'static str,
        key: &[u8],
        value: &T,
    ) -> Result<(), StorageError> {
        let bytes = codec::encode(what, value).map_err(|e| StorageIOError::write(&e))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.db.handle(RAFT_META), key, bytes);
        self.db
            .write(batch, true)
            .map_err(|e| StorageIOError::write(&e).into())
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn index_of(key: &[u8]) -> u64 {
    u64::from_be_bytes(key.try_into().expect("raft_log keys are 8 bytes"))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i + 1,
            Bound::Unbounded => 0,
        };
        let rows = self
            .db
            .range_cf(RAFT_LOG, &index_key(start), |key| {
                range.contains(&index_of(key))
            })
            .map_err(|e| StorageIOError::read_logs(&e))?;
        rows.into_iter()
            .map(|(_, value)| {
                codec::decode(ENTRY, &value).map_err(|e| StorageIOError::read_logs(&e).into())
            })
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.meta("last purged log id", LAST_PURGED)?;
        let last = self
            .db
            .last_cf(RAFT_LOG)
            .map_err(|e| StorageIOError::read_logs(&e))?;
        let last_log_id = match last {
            Some((_, value)) => {
                let entry: Entry =
                    codec::decode(ENTRY, &value).map_err(|e| StorageIOError::read_logs(&e))?;
                Some(entry.log_id)
            }
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.put_meta("vote", VOTE, vote)
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.meta("vote", VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.put_meta("committed log id", COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self
            .meta::<Option<LogId>>("committed log id", COMMITTED)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut batch = WriteBatch::default();
        let cf = self.db.handle(RAFT_LOG);
        for entry in entries {
            let bytes = codec::encode(ENTRY, &entry).map_err(|e| StorageIOError::write_logs(&e))?;
            batch.put_cf(cf, index_key(entry.log_id.index), bytes);
        }
        fail::fail_point!("raft::log::before_append", |_| Err(
            StorageIOError::write_logs(&std::io::Error::other(
                "failpoint raft::log::before_append"
            ))
            .into()
        ));
        let result = self.db.write(batch, true);
        callback.log_io_completed(
            result
                .as_ref()
                .map(|_| ())
                .map_err(|e| std::io::Error::other(e.to_string())),
        );
        result.map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.db.handle(RAFT_LOG),
            index_key(log_id.index),
            index_key(u64::MAX),
        );
        batch.delete_cf(self.db.handle(RAFT_LOG), index_key(u64::MAX));
        self.db
            .write(batch, true)
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.put_meta("last purged log id", LAST_PURGED, &log_id)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.db.handle(RAFT_LOG),
            index_key(0),
            index_key(log_id.index + 1),
        );
        self.db
            .write(batch, false)
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }
}
