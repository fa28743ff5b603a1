//! The leader keeps S3- and DynamoDB-backed lookup tables current (docs/spec §14.3, docs/architecture.md §4):
//! it downloads each table on taking office and every `cache_refresh_minutes` after, and commits
//! the contents through Raft only when they differ from the replicated copy, replacing the table
//! in one command so a rule never sees half of an update. Every node then serves the table from
//! its own replica. A failed download keeps the last committed contents and is retried after
//! the next period.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prometheus::{IntCounterVec, Opts};
use sa_aws::AwsTarget;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use sa_repository::lookup_tables::{RefreshedTable, TableEntries, refreshed_tables};
use sa_state::LookupStore;

use clients::DriverClients;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::leader::{LeaderTask, Ticks};
use crate::pipeline::Detection;

mod clients;
mod dynamodb;
mod s3;

/// How often the leader looks for due tables (and notices it became leader).
const TICK: Duration = Duration::from_secs(1);
/// A download that hangs must not stop the other tables from refreshing.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);
/// How errors in the active config name the file (it may come from a pushed bundle).
const CONFIG_FILE: &str = "conf/lookup_tables.json";

/// The leader's refreshes of the active config's S3 and DynamoDB tables.
pub struct LookupRefresh {
    pub detection: Arc<Detection>,
    pub store: LookupStore,
    pub metrics: RefreshMetrics,
}

impl LeaderTask for LookupRefresh {
    fn name(&self) -> &'static str {
        "lookup refresh"
    }

    fn lead(self: Arc<Self>, term: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(self.refresh_while_leading(term))
    }
}

impl LookupRefresh {
    /// Every table is due at the start of a term: a new leader downloads them all at once.
    async fn refresh_while_leading(self: Arc<Self>, term: CancellationToken) {
        let mut refresher: Option<LookupRefresher> = None;
        let mut schedule = RefreshSchedule::default();
        let mut reported_config_error = None;
        let mut ticks = Ticks::every(TICK);
        while ticks.next(&term).await {
            let config = self.detection.lookup_tables_config();
            let tables = match refreshed_tables(Path::new(CONFIG_FILE), config.as_ref()) {
                Ok(tables) => {
                    reported_config_error = None;
                    tables
                }
                Err(errors) => {
                    let text = errors.to_string();
                    if reported_config_error.as_ref() != Some(&text) {
                        tracing::error!(errors = %text, "lookup tables not refreshed: invalid configuration");
                        reported_config_error = Some(text);
                    }
                    continue;
                }
            };
            let due = schedule.due(&tables, Instant::now());
            if due.is_empty() {
                continue;
            }
            // Clients are built on first need: a node without S3/DynamoDB tables never looks
            // for AWS credentials or a region.
            if refresher.is_none() {
                refresher = Some(LookupRefresher {
                    store: self.store.clone(),
                    clients: DriverClients::new(&AwsTarget::from_env()).await,
                    metrics: self.metrics.clone(),
                });
            }
            let Some(refresher) = &refresher else {
                continue;
            };
            for table in due {
                let started = Instant::now();
                refresher.refresh_and_report(table).await;
                schedule.attempted(table, started);
            }
        }
    }
}

/// What a refresh did to the replicated table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The contents changed and were committed.
    Committed { keys: usize },
    /// The downloaded contents equal the replicated ones; nothing was written.
    Unchanged { keys: usize },
}

#[derive(Clone)]
pub struct RefreshMetrics {
    pub failures: IntCounterVec,
    pub commits: IntCounterVec,
}

impl RefreshMetrics {
    pub fn new() -> Self {
        let counter = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["table"]).expect("valid metric")
        };
        RefreshMetrics {
            failures: counter(
                "sa_lookup_refresh_failures_total",
                "Lookup-table downloads or commits that failed (the last contents stay), by table.",
            ),
            commits: counter(
                "sa_lookup_refresh_commits_total",
                "Lookup-table refreshes that committed changed contents, by table.",
            ),
        }
    }
}

impl Default for RefreshMetrics {
    fn default() -> Self {
        Self::new()
    }
}

pub struct LookupRefresher {
    pub store: LookupStore,
    pub clients: DriverClients,
    pub metrics: RefreshMetrics,
}

impl LookupRefresher {
    /// Downloads `table` and commits it if its contents changed.
    pub async fn refresh(&self, table: &RefreshedTable) -> anyhow::Result<RefreshOutcome> {
        let entries =
            tokio::time::timeout(FETCH_TIMEOUT, clients::fetch(&table.source, &self.clients))
                .await
                .with_context(|| format!("download timed out after {FETCH_TIMEOUT:?}"))??;
        let keys = entries.len();
        let stored = self.store.stored_entries(&table.name)?;
        if digest_of_fetched(&entries)? == digest_of_stored(&stored) {
            return Ok(RefreshOutcome::Unchanged { keys });
        }
        self.store
            .put(&table.name, entries.into_iter().collect(), true)
            .await
            .context("cannot commit the new contents")?;
        Ok(RefreshOutcome::Committed { keys })
    }

    async fn refresh_and_report(&self, table: &RefreshedTable) {
        match self.refresh(table).await {
            Ok(RefreshOutcome::Committed { keys }) => {
                self.metrics
                    .commits
                    .with_label_values(&[table.name.as_str()])
                    .inc();
                tracing::info!(table = %table.name, keys, "lookup table refreshed");
            }
            Ok(RefreshOutcome::Unchanged { keys }) => {
                tracing::debug!(table = %table.name, keys, "lookup table unchanged");
            }
            Err(e) => {
                self.metrics
                    .failures
                    .with_label_values(&[table.name.as_str()])
                    .inc();
                tracing::warn!(
                    table = %table.name,
                    error = format!("{e:#}"),
                    retry_in = ?table.refresh_every,
                    "lookup table refresh failed; keeping the last committed contents"
                );
            }
        }
    }
}

/// When each table was last tried by this leader.
#[derive(Default)]
pub struct RefreshSchedule {
    last: HashMap<String, (RefreshedTable, Instant)>,
}

impl RefreshSchedule {
    /// The tables to download at `now`: those not tried yet, those whose declaration changed,
    /// and those whose period has passed since the last try.
    pub fn due<'t>(
        &mut self,
        tables: &'t [RefreshedTable],
        now: Instant,
    ) -> Vec<&'t RefreshedTable> {
        self.last
            .retain(|name, _| tables.iter().any(|table| &table.name == name));
        tables
            .iter()
            .filter(|table| match self.last.get(&table.name) {
                None => true,
                Some((declared, at)) => declared != *table || now >= *at + table.refresh_every,
            })
            .collect()
    }

    pub fn attempted(&mut self, table: &RefreshedTable, at: Instant) {
        self.last.insert(table.name.clone(), (table.clone(), at));
    }
}

type TableDigest = [u8; 32];

/// The digest of downloaded contents, encoded exactly as [`LookupStore::put`] stores them.
fn digest_of_fetched(entries: &TableEntries) -> anyhow::Result<TableDigest> {
    let mut hasher = Sha256::new();
    for (key, value) in entries {
        digest_entry(&mut hasher, key.as_bytes(), &serde_json::to_vec(value)?);
    }
    Ok(hasher.finalize().into())
}

fn digest_of_stored(stored: &[(Vec<u8>, Vec<u8>)]) -> TableDigest {
    let mut hasher = Sha256::new();
    for (key, value) in stored {
        digest_entry(&mut hasher, key, value);
    }
    hasher.finalize().into()
}

fn digest_entry(hasher: &mut Sha256, key: &[u8], value: &[u8]) {
    // Lengths first, so no two different tables can produce the same byte stream.
    hasher.update((key.len() as u64).to_le_bytes());
    hasher.update(key);
    hasher.update((value.len() as u64).to_le_bytes());
    hasher.update(value);
}

#[cfg(test)]
mod tests {
    use sa_chaos_tests::MotoServer;
    use sa_raft::Replica;
    use serde_json::json;

    use super::clients::test_clients;
    use super::*;
    use sa_repository::lookup_tables::{S3Table, TableSource};

    fn s3_table(name: &str, every: Duration) -> RefreshedTable {
        RefreshedTable {
            name: name.into(),
            source: TableSource::S3(S3Table {
                bucket: "feeds".into(),
                key: name.into(),
                compression: false,
            }),
            refresh_every: every,
        }
    }

    #[test]
    fn tables_are_due_when_new_changed_or_past_their_period() {
        let mut schedule = RefreshSchedule::default();
        let start = Instant::now();
        let tables = vec![
            s3_table("a", Duration::from_secs(60)),
            s3_table("b", Duration::from_secs(600)),
        ];
        assert_eq!(schedule.due(&tables, start).len(), 2, "first look");
        for table in &tables {
            schedule.attempted(table, start);
        }
        assert!(
            schedule
                .due(&tables, start + Duration::from_secs(59))
                .is_empty()
        );
        let due = schedule.due(&tables, start + Duration::from_secs(60));
        assert_eq!(
            due.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["a"]
        );

        let changed = vec![tables[0].clone(), s3_table("b", Duration::from_secs(5))];
        let due = schedule.due(&changed, start + Duration::from_secs(1));
        assert_eq!(
            due.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["b"]
        );

        let mut next_term = RefreshSchedule::default();
        assert_eq!(next_term.due(&tables, start).len(), 2, "in the next term");
    }

    #[test]
    fn digests_of_equal_contents_match_and_differ_otherwise() {
        let entries = TableEntries::from([
            ("k".to_string(), json!({"a": 1})),
            ("z".to_string(), json!(0)),
        ]);
        let stored: Vec<(Vec<u8>, Vec<u8>)> = entries
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), serde_json::to_vec(v).unwrap()))
            .collect();
        assert_eq!(
            digest_of_fetched(&entries).unwrap(),
            digest_of_stored(&stored)
        );
        let mut changed = entries.clone();
        changed.insert("z".to_string(), json!(1));
        assert_ne!(
            digest_of_fetched(&changed).unwrap(),
            digest_of_stored(&stored)
        );
    }

    async fn put_object(clients: &DriverClients, key: &str, body: &str) {
        clients
            .s3
            .put_object()
            .bucket("feeds")
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }

    /// The state machine's own applied index (Raft's metrics channel may lag behind it).
    fn applied_index(replica: &Replica) -> u64 {
        replica
            .subscribe_applied()
            .borrow()
            .map_or(0, |id| id.index)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commits_changes_only_and_keeps_the_contents_when_a_download_fails() {
        let moto = MotoServer::start().unwrap();
        let clients = test_clients(&moto);
        clients
            .s3
            .create_bucket()
            .bucket("feeds")
            .send()
            .await
            .unwrap();
        put_object(
            &clients,
            "feed",
            r#"{"old.example": "c2", "kept.example": 1}"#,
        )
        .await;

        let dir = tempfile::tempdir().unwrap();
        let replica = sa_state::single_node_replica(dir.path()).await;
        let store = LookupStore::new(replica.clone());
        let refresher = LookupRefresher {
            store: store.clone(),
            clients: clients.clone(),
            metrics: RefreshMetrics::new(),
        };
        let table = s3_table("feed", Duration::from_secs(60));

        assert_eq!(
            refresher.refresh(&table).await.unwrap(),
            RefreshOutcome::Committed { keys: 2 }
        );
        assert_eq!(
            store.value("feed", "old.example").unwrap(),
            Some(json!("c2"))
        );
        let applied = applied_index(&replica);
        assert_eq!(
            refresher.refresh(&table).await.unwrap(),
            RefreshOutcome::Unchanged { keys: 2 }
        );
        assert_eq!(applied_index(&replica), applied, "nothing was written");

        put_object(
            &clients,
            "feed",
            r#"{"new.example": "phishing", "kept.example": 1}"#,
        )
        .await;
        assert_eq!(
            refresher.refresh(&table).await.unwrap(),
            RefreshOutcome::Committed { keys: 2 }
        );
        assert_eq!(
            store.value("feed", "old.example").unwrap(),
            None,
            "replaced, not merged"
        );
        assert_eq!(
            store.value("feed", "new.example").unwrap(),
            Some(json!("phishing"))
        );

        clients
            .s3
            .delete_object()
            .bucket("feeds")
            .key("feed")
            .send()
            .await
            .unwrap();
        refresher.refresh_and_report(&table).await;
        assert_eq!(
            refresher
                .metrics
                .failures
                .with_label_values(&["feed"])
                .get(),
            1
        );
        assert_eq!(
            store.value("feed", "new.example").unwrap(),
            Some(json!("phishing"))
        );
        replica.shutdown().await;
    }
}
