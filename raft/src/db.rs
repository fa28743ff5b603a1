//! The node's RocksDB database: the Raft log, the Raft metadata, and one column family per
//! keyspace of replicated state (docs/architecture.md §4).

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, DB, Options, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

/// A keyspace of the replicated state. Its name is a column family on disk: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keyspace {
    /// Config bundles (conf/ + rules/ + matchers/ + publishers/), versioned.
    Config,
    LookupTables,
    /// Kinesis shard and S3 queue leases with their checkpoints.
    Leases,
    /// Pending alerts, merge groups, per-output status, dead letters.
    Alerts,
    /// Staged and promoted rules.
    Rules,
    /// Per-node metadata (addresses, versions) beside Raft's own membership.
    Nodes,
    /// Who changed what: one entry per write by a person or a token, committed with it.
    Audit,
}

impl Keyspace {
    pub const ALL: [Keyspace; 7] = [
        Keyspace::Config,
        Keyspace::LookupTables,
        Keyspace::Leases,
        Keyspace::Alerts,
        Keyspace::Rules,
        Keyspace::Nodes,
        Keyspace::Audit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Keyspace::Config => "config",
            Keyspace::LookupTables => "lookup_tables",
            Keyspace::Leases => "leases",
            Keyspace::Alerts => "alerts",
            Keyspace::Rules => "rules",
            Keyspace::Nodes => "nodes",
            Keyspace::Audit => "audit",
        }
    }

    pub fn from_name(name: &str) -> Option<Keyspace> {
        Keyspace::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A key and its value, as stored.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Raft log entries, keyed by big-endian log index.
/// Bytes of memtables across every column family before RocksDB flushes the largest.
const MEMTABLE_BUDGET: usize = 64 * 1024 * 1024;
/// The block cache every column family shares.
const BLOCK_CACHE: usize = 32 * 1024 * 1024;

pub(crate) const RAFT_LOG: &str = "raft_log";
/// Vote, committed and purged log ids.
pub(crate) const RAFT_META: &str = "raft_meta";
/// Last applied log id and membership of the state machine.
pub(crate) const STATE_META: &str = "state_meta";

#[derive(Debug, thiserror::Error)]
pub enum StateDbError {
    #[error("rocksdb at {path}: {source}")]
    Rocks {
        path: String,
        #[source]
        source: rocksdb::Error,
    },
}

/// The RocksDB instance holding the Raft log and the state machine. Cheap to clone.
#[derive(Clone)]
pub struct StateDb {
    db: Arc<DB>,
}

impl StateDb {
    /// Waits for running flushes and compactions and starts no more: for a process about to
    /// exit with the database still open.
    pub fn stop_background_work(&self) {
        self.db.cancel_all_background_work(true);
    }

    /// Opens (creating if needed) the database with every column family.
    pub fn open(path: &Path) -> Result<Self, StateDbError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // One memtable budget and one block cache for all nine families: RocksDB's defaults
        // (64 MB of memtables, twice, and a block cache per family) let a burst of writes hold
        // hundreds of MB that a node of this kind does not need.
        options.set_db_write_buffer_size(MEMTABLE_BUDGET);
        let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE);
        let family = || {
            let mut family = Options::default();
            family.set_compression_type(rocksdb::DBCompressionType::Lz4);
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_block_cache(&cache);
            family.set_block_based_table_factory(&table);
            family
        };
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let names = [RAFT_LOG, RAFT_META, STATE_META]
            .into_iter()
            .chain(Keyspace::ALL.iter().map(|k| k.name()));
        let families = names.map(|name| ColumnFamilyDescriptor::new(name, family()));
        let db = DB::open_cf_descriptors(&options, path, families).map_err(|source| {
            StateDbError::Rocks {
                path: path.display().to_string(),
                source,
            }
        })?;
        Ok(StateDb { db: Arc::new(db) })
    }

    /// Reads one key of the local replica.
    pub fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StateDbError> {
        self.get_cf(keyspace.name(), key)
    }

    /// Every key/value of a keyspace whose key starts with `prefix`, in key order.
    pub fn scan_prefix(
        &self,
        keyspace: Keyspace,
        prefix: &[u8],
    ) -> Result<Vec<KeyValue>, StateDbError> {
        self.scan_cf_prefix(keyspace.name(), prefix)
    }

    /// The keys starting with `prefix` that sort before `below`, in order, at most `limit`: a
    /// time-ordered index read up to "now" without touching its future entries.
    pub fn scan_prefix_below(
        &self,
        keyspace: Keyspace,
        prefix: &[u8],
        below: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, StateDbError> {
        self.scan_prefix_between(keyspace, prefix, prefix, below, limit)
    }

    /// [`Self::scan_prefix_below`] from `from` on: the scan seeks there, without reading (or
    /// stepping over the deletions of) what sorts before it.
    pub fn scan_prefix_between(
        &self,
        keyspace: Keyspace,
        prefix: &[u8],
        from: &[u8],
        below: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, StateDbError> {
        let start = if from > prefix { from } else { prefix };
        let mode = rocksdb::IteratorMode::From(start, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.handle(keyspace.name()), mode) {
            let (key, value) = item.map_err(|e| self.error(e))?;
            if out.len() == limit || !key.starts_with(prefix) || &*key >= below {
                break;
            }
            out.push((key.into_vec(), value.into_vec()));
        }
        Ok(out)
    }

    /// Up to `limit` keys/values starting with `prefix`, from `from` on (a key at or after the
    /// prefix, which the scan seeks to without reading what sorts before it).
    pub fn scan_prefix_from(
        &self,
        keyspace: Keyspace,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, StateDbError> {
        let start = if from > prefix { from } else { prefix };
        let mode = rocksdb::IteratorMode::From(start, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.handle(keyspace.name()), mode) {
            let (key, value) = item.map_err(|e| self.error(e))?;
            if out.len() == limit || !key.starts_with(prefix) {
                break;
            }
            out.push((key.into_vec(), value.into_vec()));
        }
        Ok(out)
    }

    /// The first key/value of a keyspace starting with `prefix`, without reading the rest.
    pub fn first_with_prefix(
        &self,
        keyspace: Keyspace,
        prefix: &[u8],
    ) -> Result<Option<KeyValue>, StateDbError> {
        let mode = rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward);
        match self
            .db
            .iterator_cf(self.handle(keyspace.name()), mode)
            .next()
        {
            Some(Ok((key, value))) if key.starts_with(prefix) => {
                Ok(Some((key.into_vec(), value.into_vec())))
            }
            Some(Err(e)) => Err(self.error(e)),
            _ => Ok(None),
        }
    }

    pub(crate) fn get_cf(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StateDbError> {
        self.db
            .get_cf(self.handle(cf), key)
            .map_err(|e| self.error(e))
    }

    pub(crate) fn scan_cf_prefix(
        &self,
        cf: &str,
        prefix: &[u8],
    ) -> Result<Vec<KeyValue>, StateDbError> {
        let mode = rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.handle(cf), mode) {
            let (key, value) = item.map_err(|e| self.error(e))?;
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.into_vec(), value.into_vec()));
        }
        Ok(out)
    }

    /// The last key/value of a column family, if any.
    pub(crate) fn last_cf(&self, cf: &str) -> Result<Option<KeyValue>, StateDbError> {
        match self
            .db
            .iterator_cf(self.handle(cf), rocksdb::IteratorMode::End)
            .next()
        {
            Some(Ok((key, value))) => Ok(Some((key.into_vec(), value.into_vec()))),
            Some(Err(e)) => Err(self.error(e)),
            None => Ok(None),
        }
    }

    /// Key/values of `cf` from `from` (inclusive) while `keep(key)` holds.
    pub(crate) fn range_cf(
        &self,
        cf: &str,
        from: &[u8],
        mut keep: impl FnMut(&[u8]) -> bool,
    ) -> Result<Vec<KeyValue>, StateDbError> {
        let mode = rocksdb::IteratorMode::From(from, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.handle(cf), mode) {
            let (key, value) = item.map_err(|e| self.error(e))?;
            if !keep(&key) {
                break;
            }
            out.push((key.into_vec(), value.into_vec()));
        }
        Ok(out)
    }

    /// Applies a batch atomically; `durable` syncs the write-ahead log before returning.
    pub(crate) fn write(&self, batch: WriteBatch, durable: bool) -> Result<(), StateDbError> {
        let mut options = WriteOptions::default();
        options.set_sync(durable);
        self.db
            .write_opt(batch, &options)
            .map_err(|e| self.error(e))
    }

    pub(crate) fn handle(&self, cf: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(cf)
            .expect("every column family is created by StateDb::open")
    }

    pub(crate) fn rocks(&self) -> &DB {
        &self.db
    }

    pub(crate) fn error(&self, source: rocksdb::Error) -> StateDbError {
        StateDbError::Rocks {
            path: self.db.path().display().to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_write_survives_reopen_and_keyspaces_are_separate() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = StateDb::open(dir.path()).unwrap();
            let mut batch = WriteBatch::default();
            batch.put_cf(db.handle(Keyspace::Config.name()), b"version", b"7");
            db.write(batch, true).unwrap();
        }
        let db = StateDb::open(dir.path()).unwrap();
        assert_eq!(
            db.get(Keyspace::Config, b"version").unwrap().as_deref(),
            Some(&b"7"[..])
        );
        assert_eq!(db.get(Keyspace::Alerts, b"version").unwrap(), None);
    }

    #[test]
    fn scan_prefix_stops_at_the_end_of_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(dir.path()).unwrap();
        let mut batch = WriteBatch::default();
        for key in ["a/1", "a/2", "b/1"] {
            batch.put_cf(db.handle(Keyspace::LookupTables.name()), key, b"x");
        }
        db.write(batch, false).unwrap();
        let keys: Vec<_> = db
            .scan_prefix(Keyspace::LookupTables, b"a/")
            .unwrap()
            .into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect();
        assert_eq!(keys, ["a/1", "a/2"]);
    }

    #[test]
    fn scan_prefix_below_stops_at_the_bound_and_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(dir.path()).unwrap();
        let mut batch = WriteBatch::default();
        for key in ["due/01/a", "due/02/b", "due/03/c", "due/09/d", "pending/a"] {
            batch.put_cf(db.handle(Keyspace::Alerts.name()), key, b"");
        }
        db.write(batch, false).unwrap();
        let keys = |below: &[u8], limit| -> Vec<String> {
            db.scan_prefix_below(Keyspace::Alerts, b"due/", below, limit)
                .unwrap()
                .into_iter()
                .map(|(k, _)| String::from_utf8(k).unwrap())
                .collect()
        };
        assert_eq!(keys(b"due/03", 10), ["due/01/a", "due/02/b"]);
        assert_eq!(keys(b"due/99", 3), ["due/01/a", "due/02/b", "due/03/c"]);
        assert_eq!(keys(b"zzz", 10).len(), 4);
    }

    #[test]
    fn open_names_the_path_when_it_cannot_be_used() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = StateDb::open(&file)
            .err()
            .expect("a file is not a database directory");
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
