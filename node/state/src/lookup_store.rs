//! Lookup tables (docs/spec §14) in the `lookup_tables` keyspace: key `<table>\0<key>`, value the
//! JSON text ([`crate::keys::lookups`]). Rules read them from the local replica through
//! [`LookupTableSource`].

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use anyhow::bail;
use sa_raft::{Command, CommandResult, Keyspace, Replica, WriteOp};
use sa_rules::lookup::LookupTableSource;
use serde_json::Value;

use crate::keys::lookups::{LookupKey, is_table_name, table_prefix};

#[derive(Clone)]
pub struct LookupStore {
    replica: Replica,
    /// Tables the active `conf/lookup_tables.json` declares, with their drivers: they exist
    /// (empty) before anyone writes to them.
    declared: Arc<RwLock<BTreeMap<String, String>>>,
}

impl LookupStore {
    pub fn new(replica: Replica) -> Self {
        LookupStore {
            replica,
            declared: Arc::default(),
        }
    }

    /// Takes the tables of a config's `lookup_tables.json` (`{"enabled": .., "tables": {name:
    /// {"driver": ..}}}`); a disabled or absent file declares none.
    pub fn declare(&self, lookup_tables_json: Option<&Value>) {
        let tables = lookup_tables_json
            .filter(|conf| {
                conf.get("enabled")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            })
            .and_then(|conf| conf.get("tables"))
            .and_then(Value::as_object)
            .map(|tables| {
                tables
                    .iter()
                    .map(|(name, table)| {
                        let driver = table
                            .get("driver")
                            .and_then(Value::as_str)
                            .unwrap_or("replicated");
                        (name.clone(), driver.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        *self.declared.write().expect("declared tables lock") = tables;
    }

    /// Table names with their key counts, from the local replica.
    pub fn tables(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        let mut tables = BTreeMap::new();
        for (key, _) in self.replica.scan_prefix(Keyspace::LookupTables, b"")? {
            *tables.entry(LookupKey::decode(&key)?.table).or_insert(0) += 1;
        }
        Ok(tables)
    }

    pub fn value(&self, table: &str, key: &str) -> anyhow::Result<Option<Value>> {
        match self
            .replica
            .get(Keyspace::LookupTables, &LookupKey::new(table, key).encode())?
        {
            None => Ok(None),
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        }
    }

    /// The table's entries as stored (key, JSON bytes), in key order, from the local replica.
    pub fn stored_entries(&self, table: &str) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.replica
            .scan_prefix(Keyspace::LookupTables, &table_prefix(table))?
            .into_iter()
            .map(|(key, value)| Ok((LookupKey::decode(&key)?.key.into_bytes(), value)))
            .collect()
    }

    /// Writes `entries` in one replicated command; with `replace` the table is emptied first.
    pub async fn put(
        &self,
        table: &str,
        entries: Vec<(String, Value)>,
        replace: bool,
    ) -> anyhow::Result<u64> {
        if !is_table_name(table) {
            bail!("invalid lookup table name {table:?}");
        }
        let mut command = Command::default();
        if replace {
            command.ops.push(WriteOp::DeletePrefix {
                keyspace: Keyspace::LookupTables,
                prefix: table_prefix(table),
            });
        }
        let written = entries.len() as u64;
        for (key, value) in entries {
            command.ops.push(WriteOp::Put {
                keyspace: Keyspace::LookupTables,
                key: LookupKey {
                    table: table.to_owned(),
                    key,
                }
                .encode(),
                value: serde_json::to_vec(&value)?,
            });
        }
        fail::fail_point!("lookup_store::before_put", |_| bail!(
            "failpoint lookup_store::before_put"
        ));
        match self.replica.write(command).await? {
            CommandResult::Applied => Ok(written),
            other => bail!("lookup table write not applied: {other:?}"),
        }
    }
}

impl LookupTableSource for LookupStore {
    fn driver(&self, table: &str) -> Option<String> {
        if let Some(driver) = self
            .declared
            .read()
            .expect("declared tables lock")
            .get(table)
        {
            return Some(driver.clone());
        }
        let first = self
            .replica
            .first_with_prefix(Keyspace::LookupTables, &table_prefix(table))
            .ok()?;
        first.map(|_| "replicated".to_string())
    }

    fn get(&self, table: &str, key: &str) -> Result<Option<Value>, String> {
        self.value(table, key)
            .map_err(|e| format!("lookup table {table}: {e:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tables_are_counted_and_read_apart_under_the_keys_they_always_had() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(dir.path()).await;
        let store = LookupStore::new(replica.clone());
        let entries = |pairs: &[(&str, Value)]| {
            pairs
                .iter()
                .map(|(key, value)| (key.to_string(), value.clone()))
                .collect()
        };
        store
            .put("a", entries(&[("k2", 2.into()), ("k1", 1.into())]), false)
            .await
            .unwrap();
        store
            .put("ab", entries(&[("k1", "x".into())]), false)
            .await
            .unwrap();
        assert!(store.put("", Vec::new(), false).await.is_err());
        assert!(store.put("a\0b", Vec::new(), false).await.is_err());

        let stored = replica.get(Keyspace::LookupTables, b"a\0k1").unwrap();
        assert_eq!(stored.as_deref(), Some(&b"1"[..]));
        assert_eq!(
            store.tables().unwrap(),
            BTreeMap::from([("a".to_string(), 2), ("ab".to_string(), 1)])
        );
        assert_eq!(
            store.stored_entries("a").unwrap(),
            [
                (b"k1".to_vec(), b"1".to_vec()),
                (b"k2".to_vec(), b"2".to_vec())
            ]
        );
        assert_eq!(store.value("ab", "k1").unwrap(), Some("x".into()));
        assert_eq!(
            LookupTableSource::driver(&store, "ab").as_deref(),
            Some("replicated")
        );
        assert_eq!(LookupTableSource::driver(&store, "b"), None);

        store
            .put("a", entries(&[("k3", 3.into())]), true)
            .await
            .unwrap();
        assert_eq!(store.stored_entries("a").unwrap().len(), 1);
        assert_eq!(
            store.tables().unwrap()["ab"],
            1,
            "replacing a leaves ab alone"
        );
        replica.shutdown().await;
    }
}
