//! Lookup tables (docs/spec §14) in the `lookup_tables` keyspace: an entry's value is its JSON
//! text, under a key of the table's current generation ([`crate::keys::lookups`]). Rules read them
//! from the local replica through [`LookupTableSource`].
//!
//! Every write goes in commands of bounded size (a table of 50 MB or 1 GB is many Raft entries,
//! none near the transport's limit). A replacement writes a new generation no reader sees, then
//! one small command makes it current and drops the old one with a range tombstone: readers see
//! the old table or the new one, never a mix, and never an empty table in between.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::bail;
use sa_raft::{Command, CommandResult, CommandSplitter, Condition, Keyspace, Replica, WriteOp};
use sa_rules::lookup::LookupTableSource;
use serde_json::Value;

use crate::keys::lookups::{
    GenerationKey, LookupKey, after_generation, generations_prefix, is_table_name, table_prefix,
};

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

    /// Table names with their key counts (of their current generations), from the local
    /// replica.
    pub fn tables(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        let mut generations = HashMap::new();
        let mut tables = BTreeMap::new();
        // Generation keys sort first (`\x01…`): every table's is known before its entries.
        for (key, value) in self.replica.scan_prefix(Keyspace::LookupTables, b"")? {
            if GenerationKey::is_one(&key) {
                let table = GenerationKey::decode(&key)?;
                let generation = table.decode_value(&value)?;
                generations.insert(table.table, generation);
                continue;
            }
            let entry = LookupKey::decode(&key)?;
            if generations.get(&entry.table).copied().unwrap_or(0) == entry.generation {
                *tables.entry(entry.table).or_insert(0) += 1;
            }
        }
        Ok(tables)
    }

    /// The generation of `table` that reads see.
    fn generation(&self, table: &str) -> anyhow::Result<u64> {
        let key = GenerationKey::new(table);
        match self.replica.get(Keyspace::LookupTables, &key.encode())? {
            None => Ok(0),
            Some(value) => Ok(key.decode_value(&value)?),
        }
    }

    pub fn value(&self, table: &str, key: &str) -> anyhow::Result<Option<Value>> {
        let generation = self.generation(table)?;
        match self.replica.get(
            Keyspace::LookupTables,
            &LookupKey::new(table, generation, key).encode(),
        )? {
            None => Ok(None),
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        }
    }

    /// The table's entries as stored (key, JSON bytes), in key order, from the local replica.
    pub fn stored_entries(&self, table: &str) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let generation = self.generation(table)?;
        self.replica
            .scan_prefix(Keyspace::LookupTables, &table_prefix(table, generation))?
            .into_iter()
            .map(|(key, value)| Ok((LookupKey::decode(&key)?.key.into_bytes(), value)))
            .collect()
    }

    /// Writes `entries`; with `replace` they become the whole table, at once for every reader
    /// however many commands they take.
    pub async fn put(
        &self,
        table: &str,
        entries: Vec<(String, Value)>,
        replace: bool,
    ) -> anyhow::Result<u64> {
        if replace {
            let load = self.begin_replace(table)?;
            let written = self.write_load(&load, entries).await?;
            self.finish_replace(&load).await?;
            return Ok(written);
        }
        check_table_name(table)?;
        let generation = self.generation(table)?;
        // Each command is written only while the generation it writes is the table's: entries
        // written into a generation a replacement just retired would be lost silently.
        let current = GenerationKey::new(table).encode();
        let condition = match generation {
            0 => Condition::Absent {
                keyspace: Keyspace::LookupTables,
                key: current,
            },
            generation => Condition::Equals {
                keyspace: Keyspace::LookupTables,
                key: current,
                value: GenerationKey::encode_value(generation),
            },
        };
        let (mut commands, written) = entry_commands(table, generation, entries)?;
        for command in &mut commands {
            command.conditions.push(condition.clone());
        }
        for command in commands {
            match self.write(command).await? {
                CommandResult::Applied => {}
                CommandResult::ConditionFailed { .. } => bail!(
                    "lookup table {table} was replaced while these entries were written; write \
                     them again"
                ),
                other => bail!("lookup table write not applied: {other:?}"),
            }
        }
        Ok(written)
    }

    /// Starts a replacement of `table`: a new generation no reader sees until
    /// [`Self::finish_replace`].
    pub fn begin_replace(&self, table: &str) -> anyhow::Result<ReplaceLoad> {
        check_table_name(table)?;
        let previous = self.generation(table)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        Ok(ReplaceLoad {
            table: table.to_owned(),
            generation: now.max(previous + 1),
            previous,
        })
    }

    /// Writes entries of a replacement, in commands of bounded size.
    pub async fn write_load(
        &self,
        load: &ReplaceLoad,
        entries: Vec<(String, Value)>,
    ) -> anyhow::Result<u64> {
        let (commands, written) = entry_commands(&load.table, load.generation, entries)?;
        for command in commands {
            match self.write(command).await? {
                CommandResult::Applied => {}
                other => bail!("lookup table write not applied: {other:?}"),
            }
        }
        Ok(written)
    }

    /// Makes the load's generation the table in one command, unless another replacement
    /// finished since the load began (then the load's entries are removed and it fails), and
    /// removes the generations before it: the one replaced and those of loads that never
    /// finished.
    pub async fn finish_replace(&self, load: &ReplaceLoad) -> anyhow::Result<()> {
        let table = load.table.as_str();
        let current = GenerationKey::new(table).encode();
        let condition = match load.previous {
            0 => Condition::Absent {
                keyspace: Keyspace::LookupTables,
                key: current.clone(),
            },
            previous => Condition::Equals {
                keyspace: Keyspace::LookupTables,
                key: current.clone(),
                value: GenerationKey::encode_value(previous),
            },
        };
        let delete = |generation| WriteOp::DeletePrefix {
            keyspace: Keyspace::LookupTables,
            prefix: table_prefix(table, generation),
        };
        let mut command = Command::default()
            .and(WriteOp::Put {
                keyspace: Keyspace::LookupTables,
                key: current,
                value: GenerationKey::encode_value(load.generation),
            })
            .and(delete(0));
        for generation in self.generations_below(table, load.generation)? {
            command.ops.push(delete(generation));
        }
        command.conditions.push(condition);
        match self.write(command).await? {
            CommandResult::Applied => Ok(()),
            CommandResult::ConditionFailed { .. } => {
                self.write(Command::default().and(delete(load.generation)))
                    .await?;
                bail!(
                    "lookup table {table} was replaced by another load while this one was \
                     written; nothing of this load was kept"
                )
            }
            other => bail!("lookup table replacement not applied: {other:?}"),
        }
    }

    async fn write(&self, command: Command) -> anyhow::Result<CommandResult> {
        fail::fail_point!("lookup_store::before_write", |_| bail!(
            "failpoint lookup_store::before_write"
        ));
        Ok(self.replica.write(command).await?)
    }

    /// The generations above 0 of `table` holding entries, below `below`: one probe each.
    fn generations_below(&self, table: &str, below: u64) -> anyhow::Result<Vec<u64>> {
        let prefix = generations_prefix(table);
        let mut from = prefix.clone();
        let mut found = Vec::new();
        while let Some((key, _)) = self
            .replica
            .scan_prefix_from(Keyspace::LookupTables, &prefix, &from, 1)?
            .pop()
        {
            let generation = LookupKey::decode(&key)?.generation;
            if generation >= below {
                break;
            }
            found.push(generation);
            from = after_generation(table, generation);
        }
        Ok(found)
    }
}

/// A replacement of a table being written: the generation it writes and the one it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaceLoad {
    pub table: String,
    pub generation: u64,
    pub previous: u64,
}

impl ReplaceLoad {
    /// What a client sends back to write more of the load: `GENERATION.PREVIOUS`.
    pub fn token(&self) -> String {
        format!("{}.{}", self.generation, self.previous)
    }

    pub fn from_token(table: &str, token: &str) -> anyhow::Result<Self> {
        check_table_name(table)?;
        let parsed = token.split_once('.').and_then(|(generation, previous)| {
            Some((generation.parse().ok()?, previous.parse().ok()?))
        });
        match parsed {
            Some((generation, previous)) if generation > previous => Ok(ReplaceLoad {
                table: table.to_owned(),
                generation,
                previous,
            }),
            _ => bail!("lookup table {table}: {token:?} is not a load token (GENERATION.PREVIOUS)"),
        }
    }
}

fn check_table_name(table: &str) -> anyhow::Result<()> {
    if !is_table_name(table) {
        bail!("invalid lookup table name {table:?}: empty, or holding NUL or \\x01");
    }
    Ok(())
}

/// Puts of `entries` into `generation` of `table`, split into commands of bounded size; the
/// number of entries.
fn entry_commands(
    table: &str,
    generation: u64,
    entries: Vec<(String, Value)>,
) -> anyhow::Result<(Vec<Command>, u64)> {
    let written = entries.len() as u64;
    let mut commands = CommandSplitter::default();
    for (key, value) in entries {
        let op = WriteOp::Put {
            keyspace: Keyspace::LookupTables,
            key: LookupKey::new(table, generation, &key).encode(),
            value: serde_json::to_vec(&value)?,
        };
        commands.push(op, None);
    }
    let mut commands = commands.into_commands();
    if commands.is_empty() {
        // An empty write still checks its condition (and a replacement by nothing is a
        // replacement).
        commands.push(Command::default());
    }
    Ok((commands, written))
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
        let generation = self.generation(table).ok()?;
        let first = self
            .replica
            .first_with_prefix(Keyspace::LookupTables, &table_prefix(table, generation))
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

    fn keys_of(replica: &Replica) -> Vec<LookupKey> {
        replica
            .scan_prefix(Keyspace::LookupTables, b"")
            .unwrap()
            .into_iter()
            .filter(|(key, _)| !GenerationKey::is_one(key))
            .map(|(key, _)| LookupKey::decode(&key).unwrap())
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replacement_in_many_commands_is_seen_whole_or_not_at_all_and_leaves_nothing_behind()
    {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(dir.path()).await;
        let store = LookupStore::new(replica.clone());
        store
            .put("t", vec![("old".into(), 1.into())], false)
            .await
            .unwrap();
        // 4 MB of entries: several commands of about 512 KiB.
        let big: Vec<(String, Value)> = (0..4000)
            .map(|i| (format!("k{i:04}"), Value::String("v".repeat(1000))))
            .collect();
        let last_index = || replica.raft().metrics().borrow().last_log_index.unwrap();
        let before = last_index();
        let load = store.begin_replace("t").unwrap();
        store.write_load(&load, big.clone()).await.unwrap();
        assert!(
            last_index() - before >= 6,
            "{} entries for 4 MB",
            last_index() - before
        );
        // Written but not finished: readers still see the old table only.
        assert_eq!(store.value("t", "old").unwrap(), Some(1.into()));
        assert_eq!(store.value("t", "k0001").unwrap(), None);
        assert_eq!(store.tables().unwrap()["t"], 1);
        // A load that never finishes (its client died) is collected by the next replacement.
        let abandoned = store.begin_replace("t").unwrap();
        store
            .write_load(&abandoned, vec![("stray".into(), 0.into())])
            .await
            .unwrap();
        store.finish_replace(&load).await.unwrap();
        assert_eq!(store.value("t", "old").unwrap(), None);
        assert_eq!(
            store.value("t", "k3999").unwrap(),
            Some(Value::String("v".repeat(1000)))
        );
        assert_eq!(store.tables().unwrap()["t"], 4000);
        assert_eq!(store.stored_entries("t").unwrap().len(), 4000);

        // The abandoned load began before the finished one: finishing it now fails, and keeps
        // nothing of it.
        let err = store.finish_replace(&abandoned).await.unwrap_err();
        assert!(
            err.to_string().contains("replaced by another load"),
            "{err}"
        );
        // A plain write into a generation retired meanwhile fails instead of vanishing.
        let next = store.begin_replace("t").unwrap();
        store
            .write_load(&next, vec![("new".into(), 2.into())])
            .await
            .unwrap();
        store.finish_replace(&next).await.unwrap();
        assert_eq!(store.value("t", "new").unwrap(), Some(2.into()));
        store
            .put("t", vec![("more".into(), 3.into())], false)
            .await
            .unwrap();
        assert_eq!(store.tables().unwrap()["t"], 2);
        let generations: std::collections::BTreeSet<u64> =
            keys_of(&replica).iter().map(|key| key.generation).collect();
        assert_eq!(
            generations,
            [next.generation].into(),
            "only the current generation is stored"
        );
        replica.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_plain_write_racing_a_replacement_fails_instead_of_vanishing() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(dir.path()).await;
        let store = LookupStore::new(replica.clone());
        let generation_seen = store.generation("t").unwrap();
        store
            .put("t", vec![("a".into(), 1.into())], true)
            .await
            .unwrap();
        // What a plain put that read the generation before the replacement would write.
        let (mut commands, _) =
            entry_commands("t", generation_seen, vec![("b".into(), 2.into())]).unwrap();
        commands[0].conditions.push(Condition::Absent {
            keyspace: Keyspace::LookupTables,
            key: GenerationKey::new("t").encode(),
        });
        let result = replica.write(commands.remove(0)).await.unwrap();
        assert!(
            matches!(result, CommandResult::ConditionFailed { .. }),
            "{result:?}"
        );
        assert_eq!(store.value("t", "b").unwrap(), None);
        assert!(ReplaceLoad::from_token("t", "5.7").is_err());
        let load = store.begin_replace("t").unwrap();
        assert_eq!(ReplaceLoad::from_token("t", &load.token()).unwrap(), load);
        replica.shutdown().await;
    }
}
