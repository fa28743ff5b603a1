//! The node's RocksDB database: one column family per kind of replicated state, plus the Raft log.

use std::path::Path;

use rocksdb::{ColumnFamilyDescriptor, DB, Options};

/// The column families of DESIGN.md §4. The names are on disk: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnFamily {
    /// Raft log entries, keyed by big-endian log index.
    RaftLog,
    /// Raft vote, committed and purged log ids.
    RaftMeta,
    /// State-machine metadata: last applied log id, membership.
    StateMeta,
    /// Config bundles (conf/ + rules/ + matchers/ + publishers/), versioned.
    Config,
    LookupTables,
    /// Kinesis shard and S3 queue leases with their checkpoints.
    Leases,
    /// Pending alerts, merge groups, per-output status, dead letters.
    Alerts,
    /// Staged and promoted rules.
    Rules,
}

impl ColumnFamily {
    pub const ALL: [ColumnFamily; 8] = [
        ColumnFamily::RaftLog,
        ColumnFamily::RaftMeta,
        ColumnFamily::StateMeta,
        ColumnFamily::Config,
        ColumnFamily::LookupTables,
        ColumnFamily::Leases,
        ColumnFamily::Alerts,
        ColumnFamily::Rules,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ColumnFamily::RaftLog => "raft_log",
            ColumnFamily::RaftMeta => "raft_meta",
            ColumnFamily::StateMeta => "state_meta",
            ColumnFamily::Config => "config",
            ColumnFamily::LookupTables => "lookup_tables",
            ColumnFamily::Leases => "leases",
            ColumnFamily::Alerts => "alerts",
            ColumnFamily::Rules => "rules",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateDbError {
    #[error("rocksdb at {path}: {source}")]
    Rocks {
        path: String,
        #[source]
        source: rocksdb::Error,
    },
}

/// The RocksDB instance holding the Raft log and the state machine.
pub struct StateDb {
    db: DB,
}

impl StateDb {
    /// Opens (creating if needed) the database with every column family of [`ColumnFamily::ALL`].
    pub fn open(path: &Path) -> Result<Self, StateDbError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let families = ColumnFamily::ALL
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf.name(), Options::default()));
        let db = DB::open_cf_descriptors(&options, path, families).map_err(|source| {
            StateDbError::Rocks {
                path: path.display().to_string(),
                source,
            }
        })?;
        Ok(StateDb { db })
    }

    pub fn get(&self, cf: ColumnFamily, key: &[u8]) -> Result<Option<Vec<u8>>, StateDbError> {
        self.db.get_cf(self.handle(cf), key).map_err(|e| self.error(e))
    }

    /// Writes one key durably (the write-ahead log is synced before this returns).
    pub fn put_durable(&self, cf: ColumnFamily, key: &[u8], value: &[u8]) -> Result<(), StateDbError> {
        let mut write_options = rocksdb::WriteOptions::default();
        write_options.set_sync(true);
        self.db
            .put_cf_opt(self.handle(cf), key, value, &write_options)
            .map_err(|e| self.error(e))
    }

    fn handle(&self, cf: ColumnFamily) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(cf.name())
            .expect("every column family is created by StateDb::open")
    }

    fn error(&self, source: rocksdb::Error) -> StateDbError {
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
    fn durable_write_survives_reopen_and_families_are_separate() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = StateDb::open(dir.path()).unwrap();
            db.put_durable(ColumnFamily::Config, b"version", b"7").unwrap();
        }
        let db = StateDb::open(dir.path()).unwrap();
        assert_eq!(db.get(ColumnFamily::Config, b"version").unwrap().as_deref(), Some(&b"7"[..]));
        assert_eq!(db.get(ColumnFamily::Alerts, b"version").unwrap(), None);
    }

    #[test]
    fn open_names_the_path_when_it_cannot_be_used() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = StateDb::open(&file).err().expect("a file is not a database directory");
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
