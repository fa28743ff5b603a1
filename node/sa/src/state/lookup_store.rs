//! Lookup tables (docs/spec §14) in the `lookup_tables` keyspace: key `<table>\0<key>`, value the
//! JSON text. Rules read them from the local replica through [`LookupTableSource`].

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use anyhow::bail;
use sa_raft::{Command, CommandResult, Keyspace, Replica, WriteOp};
use sa_rules::lookup::LookupTableSource;
use serde_json::Value;

const SEPARATOR: u8 = 0;

fn table_prefix(table: &str) -> Vec<u8> {
    let mut prefix = table.as_bytes().to_vec();
    prefix.push(SEPARATOR);
    prefix
}

fn entry_key(table: &str, key: &str) -> Vec<u8> {
    let mut bytes = table_prefix(table);
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

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
            if let Some(end) = key.iter().position(|b| *b == SEPARATOR) {
                *tables
                    .entry(String::from_utf8_lossy(&key[..end]).into_owned())
                    .or_insert(0) += 1;
            }
        }
        Ok(tables)
    }

    pub fn value(&self, table: &str, key: &str) -> anyhow::Result<Option<Value>> {
        match self
            .replica
            .get(Keyspace::LookupTables, &entry_key(table, key))?
        {
            None => Ok(None),
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        }
    }

    /// The table's entries as stored (key, JSON bytes), in key order, from the local replica.
    pub fn stored_entries(&self, table: &str) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let prefix = table_prefix(table);
        Ok(self
            .replica
            .scan_prefix(Keyspace::LookupTables, &prefix)?
            .into_iter()
            .map(|(key, value)| (key[prefix.len()..].to_vec(), value))
            .collect())
    }

    /// Writes `entries` in one replicated command; with `replace` the table is emptied first.
    pub async fn put(
        &self,
        table: &str,
        entries: Vec<(String, Value)>,
        replace: bool,
    ) -> anyhow::Result<u64> {
        if table.is_empty() || table.as_bytes().contains(&SEPARATOR) {
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
                key: entry_key(table, &key),
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
