//! The rule table (docs/spec §9.11) in the `rules` keyspace: key `rule/<name>`, value StreamAlert's
//! item `{"RuleName", "Staged", "StagedAt", "StagedUntil"}` plus sa's own `Disabled`; key
//! `synced` once a config push has synced the table (the first sync never stages); the keys are
//! typed in [`crate::keys::rules`].
//!
//! A config push syncs the table with the pushed rules in the same replicated write that makes
//! the bundle active, so a new rule never runs unstaged, not even for a moment. The rules thread
//! reads the table through [`RuleTable`] before every part; the states are cached for a second,
//! where StreamAlert re-reads its DynamoDB table every `cache_refresh_minutes`, because a local
//! replica is cheap to read and an operator who stages or disables a rule wants it now.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use sa_raft::{Command, CommandResult, Condition, Keyspace, Replica, WriteOp};
use sa_rules::{Micros, RuleStates, RuleTable, format_timestamp, parse_timestamp};
use serde::{Deserialize, Serialize};

use crate::keys::rules::{ROW_PREFIX, RuleKey};

/// How long a new or restaged rule stays staged unless told otherwise (StreamAlert's 48 hours).
pub const DEFAULT_STAGING: Duration = Duration::from_secs(48 * 3600);
/// How stale the rules thread's view of the table may be.
const STATES_CACHED_FOR: Duration = Duration::from_secs(1);
const CHANGE_ATTEMPTS: usize = 5;

fn row_key(name: &str) -> Vec<u8> {
    RuleKey::row(name).encode()
}

fn synced_key() -> Vec<u8> {
    RuleKey::Synced.encode()
}

/// The caller's mistake (an unknown rule, contradictory lists), as opposed to the cluster's
/// state being unreadable or unwritable for now.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RuleTableRefusal(pub String);

/// A row as read, with the bytes it is stored as: writes are conditioned on those bytes, so a
/// row written by another version of sa, or a corrupt one, can still be replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    pub row: RuleRow,
    raw: Vec<u8>,
}

/// The table as one node's replica holds it.
#[derive(Debug, Clone, Default)]
pub struct TableState {
    pub rows: BTreeMap<String, StoredRow>,
    /// A config push has synced the table.
    pub synced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRow {
    #[serde(rename = "RuleName")]
    pub name: String,
    #[serde(rename = "Staged")]
    pub staged: bool,
    #[serde(rename = "StagedAt", default, skip_serializing_if = "Option::is_none")]
    pub staged_at: Option<String>,
    #[serde(
        rename = "StagedUntil",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub staged_until: Option<String>,
    #[serde(
        rename = "Disabled",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub disabled: bool,
}

impl RuleRow {
    /// A live, enabled rule.
    pub fn new(name: &str) -> Self {
        RuleRow {
            name: name.to_owned(),
            staged: false,
            staged_at: None,
            staged_until: None,
            disabled: false,
        }
    }

    /// Stages the rule from `now` for `period`; restaging a staged rule restarts its window.
    fn stage(&mut self, now: Micros, period: Duration) {
        let period = i64::try_from(period.as_micros()).unwrap_or(i64::MAX);
        self.staged = true;
        self.staged_at = Some(format_timestamp(now));
        self.staged_until = Some(format_timestamp(now.saturating_add(period)));
    }

    fn unstage(&mut self) {
        self.staged = false;
        self.staged_at = None;
        self.staged_until = None;
    }

    /// When the staging window opened and when it ends, if the rule is staged.
    pub fn staged_window(&self) -> Option<(Micros, Micros)> {
        if !self.staged {
            return None;
        }
        let at = self.staged_at.as_deref().and_then(parse_timestamp)?;
        let until = self.staged_until.as_deref().and_then(parse_timestamp)?;
        Some((at, until))
    }
}

/// What a config push asks of the table besides following the pushed rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncRequest {
    /// Stage the rules the table does not know yet: staging is on and the push did not skip it.
    /// The first sync (an empty table) never stages.
    pub stage_new: bool,
    pub stage: Vec<String>,
    pub unstage: Vec<String>,
}

/// The rule table's part of a config push.
#[derive(Debug, Clone)]
pub struct SyncWrite {
    pub conditions: Vec<Condition>,
    pub ops: Vec<WriteOp>,
    /// Rules the push stages (new to a non-empty table, or named in its stage list).
    pub staged: Vec<String>,
}

/// A change an operator makes to rules of the running config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleChange {
    Stage(Duration),
    Unstage,
    Disable,
    Enable,
}

impl RuleChange {
    fn apply(self, row: &mut RuleRow, now: Micros) {
        match self {
            RuleChange::Stage(period) => row.stage(now, period),
            RuleChange::Unstage => row.unstage(),
            RuleChange::Disable => row.disabled = true,
            RuleChange::Enable => row.disabled = false,
        }
    }
}

/// The rows to write (`Some`) or delete (`None`) so that the table follows `rules`, the pushed
/// config's rules (docs/spec §9.11, deploying the rules engine): rules it lacks are added, staged when
/// `request.stage_new` unless this is the table's first sync (`synced` false); rules no longer
/// pushed are removed; then the push's own `stage` and `unstage` lists apply. A rule keeps its
/// `Disabled` flag.
pub fn plan_sync(
    current: &BTreeMap<String, RuleRow>,
    synced: bool,
    rules: &BTreeSet<String>,
    request: &SyncRequest,
    now: Micros,
) -> Result<BTreeMap<String, Option<RuleRow>>, String> {
    for (flag, names) in [
        ("--stage-rules", &request.stage),
        ("--unstage-rules", &request.unstage),
    ] {
        if let Some(unknown) = names.iter().find(|name| !rules.contains(*name)) {
            return Err(format!(
                "{flag}: the pushed config has no rule named {unknown:?}"
            ));
        }
    }
    if let Some(both) = request
        .stage
        .iter()
        .find(|name| request.unstage.contains(name))
    {
        return Err(format!(
            "rule {both:?} is in both --stage-rules and --unstage-rules"
        ));
    }
    let stage_new = request.stage_new && synced;
    let mut changes = BTreeMap::new();
    for name in current.keys().filter(|name| !rules.contains(*name)) {
        changes.insert(name.clone(), None);
    }
    for name in rules.iter().filter(|name| !current.contains_key(*name)) {
        let mut row = RuleRow::new(name);
        if stage_new {
            row.stage(now, DEFAULT_STAGING);
        }
        changes.insert(name.clone(), Some(row));
    }
    for (names, change) in [
        (&request.stage, RuleChange::Stage(DEFAULT_STAGING)),
        (&request.unstage, RuleChange::Unstage),
    ] {
        for name in names {
            let mut row = match changes.get(name) {
                Some(Some(row)) => row.clone(),
                _ => current
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| RuleRow::new(name)),
            };
            change.apply(&mut row, now);
            changes.insert(name.clone(), Some(row));
        }
    }
    Ok(changes)
}

/// The states the rules thread last got, and when they were read.
type CachedStates = (Instant, Arc<RuleStates>);

#[derive(Clone)]
pub struct RuleStore {
    replica: Replica,
    cached: Arc<Mutex<Option<CachedStates>>>,
}

impl RuleStore {
    pub fn new(replica: Replica) -> Self {
        RuleStore {
            replica,
            cached: Arc::default(),
        }
    }

    /// The table as this node's replica holds it. A row that does not decode is reported and
    /// stands as a plain live rule, so a push or a change can replace it.
    pub fn table(&self) -> anyhow::Result<TableState> {
        let mut table = TableState {
            rows: BTreeMap::new(),
            synced: self.replica.get(Keyspace::Rules, &synced_key())?.is_some(),
        };
        for (key, raw) in self.replica.scan_prefix(Keyspace::Rules, ROW_PREFIX)? {
            let name = match RuleKey::decode(&key) {
                Ok(RuleKey::Row(name)) => name,
                other => {
                    tracing::warn!(key = %key.escape_ascii(), decoded = ?other, "rule table key is not a row; skipped");
                    continue;
                }
            };
            let row = serde_json::from_slice::<RuleRow>(&raw).unwrap_or_else(|e| {
                tracing::warn!(rule = %name, error = %e, "rule table row does not decode; taken as a live rule");
                RuleRow::new(&name)
            });
            let row = RuleRow {
                name: name.clone(),
                ..row
            };
            table.rows.insert(name, StoredRow { row, raw });
        }
        Ok(table)
    }

    /// Every row, by rule name, from the local replica.
    pub fn rows(&self) -> anyhow::Result<BTreeMap<String, RuleRow>> {
        Ok(self
            .table()?
            .rows
            .into_iter()
            .map(|(name, stored)| (name, stored.row))
            .collect())
    }

    /// The write that syncs the table with a pushed config's `rules`, to be applied with the
    /// push; its conditions fail it if the table changed since it was read here.
    pub fn sync_write(
        &self,
        rules: &BTreeSet<String>,
        request: &SyncRequest,
        now: Micros,
    ) -> anyhow::Result<SyncWrite> {
        let table = self.table()?;
        let current = plain_rows(&table);
        let changes =
            plan_sync(&current, table.synced, rules, request, now).map_err(RuleTableRefusal)?;
        let staged = changes
            .values()
            .flatten()
            .filter(|row| row.staged && current.get(&row.name) != Some(row))
            .map(|row| row.name.clone())
            .collect();
        let (mut conditions, mut ops) = changes_write(&table, changes)?;
        if !table.synced {
            conditions.push(Condition::Absent {
                keyspace: Keyspace::Rules,
                key: synced_key(),
            });
            ops.push(WriteOp::Put {
                keyspace: Keyspace::Rules,
                key: synced_key(),
                value: Vec::new(),
            });
        }
        Ok(SyncWrite {
            conditions,
            ops,
            staged,
        })
    }

    /// Applies `change` to `names`. Once a push has synced the table, each must have a row;
    /// before, each must be a rule of `running` (the config this node runs) or have a row.
    /// Returns the rows as written.
    pub async fn change(
        &self,
        names: &[String],
        change: RuleChange,
        running: &BTreeSet<String>,
        now: Micros,
    ) -> anyhow::Result<Vec<RuleRow>> {
        if names.is_empty() {
            return Err(RuleTableRefusal("name at least one rule".into()).into());
        }
        for _ in 0..CHANGE_ATTEMPTS {
            let table = self.table()?;
            let known = |name: &String| {
                table.rows.contains_key(name) || (!table.synced && running.contains(name))
            };
            if let Some(unknown) = names.iter().find(|name| !known(name)) {
                let place = if table.synced {
                    "the rule table (the pushed config)"
                } else {
                    "the running config or the rule table"
                };
                return Err(
                    RuleTableRefusal(format!("no rule named {unknown:?} in {place}")).into(),
                );
            }
            let changes: BTreeMap<String, Option<RuleRow>> = names
                .iter()
                .map(|name| {
                    let mut row = table
                        .rows
                        .get(name)
                        .map(|stored| stored.row.clone())
                        .unwrap_or_else(|| RuleRow::new(name));
                    change.apply(&mut row, now);
                    (name.clone(), Some(row))
                })
                .collect();
            let written: Vec<RuleRow> = changes.values().flatten().cloned().collect();
            let (conditions, ops) = changes_write(&table, changes)?;
            fail::fail_point!("rule_store::before_change", |_| bail!(
                "failpoint rule_store::before_change"
            ));
            match self.replica.write(Command { conditions, ops }).await? {
                CommandResult::Applied => {
                    self.forget_cached();
                    return Ok(written);
                }
                // Someone else changed one of these rows meanwhile: read again and retry.
                CommandResult::ConditionFailed { .. } => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                other => bail!("rule table write not applied: {other:?}"),
            }
        }
        bail!("the rule table kept changing under this write {CHANGE_ATTEMPTS} times; try again")
    }

    /// Unstages `stored` (promotion), unless it changed since it was read. Returns whether it
    /// did.
    pub async fn promote(&self, stored: &StoredRow) -> anyhow::Result<bool> {
        let mut promoted = stored.row.clone();
        promoted.unstage();
        let key = row_key(&stored.row.name);
        let command = Command::put(Keyspace::Rules, key.clone(), serde_json::to_vec(&promoted)?)
            .with_condition(Condition::Equals {
                keyspace: Keyspace::Rules,
                key,
                value: stored.raw.clone(),
            });
        fail::fail_point!("rule_store::before_promote", |_| bail!(
            "failpoint rule_store::before_promote"
        ));
        match self.replica.write(command).await? {
            CommandResult::Applied => {
                self.forget_cached();
                Ok(true)
            }
            CommandResult::ConditionFailed { .. } => Ok(false),
            other => bail!("rule promotion not applied: {other:?}"),
        }
    }

    fn forget_cached(&self) {
        *self.cached.lock().expect("rule states lock") = None;
    }

    fn read_states(&self) -> anyhow::Result<RuleStates> {
        let mut states = RuleStates::default();
        for row in self.rows()?.into_values() {
            if row.staged {
                states.staged.insert(row.name.clone());
            }
            if row.disabled {
                states.disabled.insert(row.name.clone());
            }
            states.listed.insert(row.name);
        }
        Ok(states)
    }
}

fn plain_rows(table: &TableState) -> BTreeMap<String, RuleRow> {
    table
        .rows
        .iter()
        .map(|(name, stored)| (name.clone(), stored.row.clone()))
        .collect()
}

/// The write that turns `table` into `table` + `changes`, conditioned on every row it touches
/// being stored as read.
fn changes_write(
    table: &TableState,
    changes: BTreeMap<String, Option<RuleRow>>,
) -> anyhow::Result<(Vec<Condition>, Vec<WriteOp>)> {
    let mut conditions = Vec::new();
    let mut ops = Vec::new();
    for (name, row) in changes {
        let key = row_key(&name);
        conditions.push(match table.rows.get(&name) {
            Some(stored) => Condition::Equals {
                keyspace: Keyspace::Rules,
                key: key.clone(),
                value: stored.raw.clone(),
            },
            None => Condition::Absent {
                keyspace: Keyspace::Rules,
                key: key.clone(),
            },
        });
        ops.push(match row {
            Some(row) => WriteOp::Put {
                keyspace: Keyspace::Rules,
                key,
                value: serde_json::to_vec(&row)?,
            },
            None => WriteOp::Delete {
                keyspace: Keyspace::Rules,
                key,
            },
        });
    }
    Ok((conditions, ops))
}

impl RuleTable for RuleStore {
    fn fresh_states(&self) -> Arc<RuleStates> {
        self.forget_cached();
        self.states()
    }

    fn states(&self) -> Arc<RuleStates> {
        let mut cached = self.cached.lock().expect("rule states lock");
        if let Some((read_at, states)) = cached.as_ref()
            && read_at.elapsed() < STATES_CACHED_FOR
        {
            return states.clone();
        }
        let states = match (self.read_states(), cached.take()) {
            (Ok(fresh), Some((_, old))) if *old == fresh => old,
            (Ok(fresh), _) => Arc::new(fresh),
            (Err(e), old) => {
                tracing::error!(error = %format!("{e:#}"), "cannot read the rule table; keeping the last states read");
                old.map(|(_, states)| states).unwrap_or_default()
            }
        };
        *cached = Some((Instant::now(), states.clone()));
        states
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Micros = 1_700_000_000_000_000;
    const HOUR: Micros = 3_600_000_000;

    fn rules(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    fn table(rows: &[RuleRow]) -> BTreeMap<String, RuleRow> {
        rows.iter()
            .map(|row| (row.name.clone(), row.clone()))
            .collect()
    }

    fn staged(name: &str, at: Micros) -> RuleRow {
        let mut row = RuleRow::new(name);
        row.stage(at, DEFAULT_STAGING);
        row
    }

    fn stage_new() -> SyncRequest {
        SyncRequest {
            stage_new: true,
            ..SyncRequest::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_table_is_read_from_the_keys_it_always_had() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(dir.path()).await;
        let store = RuleStore::new(replica.clone());
        replica
            .write(
                Command::put(
                    Keyspace::Rules,
                    "rule/old",
                    r#"{"RuleName": "old", "Staged": false}"#,
                )
                .and(WriteOp::Put {
                    keyspace: Keyspace::Rules,
                    key: b"rule/corrupt".to_vec(),
                    value: b"not json".to_vec(),
                }),
            )
            .await
            .unwrap();
        let table = store.table().unwrap();
        assert!(!table.synced);
        assert_eq!(
            table.rows.keys().collect::<Vec<_>>(),
            ["corrupt", "old"],
            "a row that does not decode stands as a live rule"
        );

        let write = store
            .sync_write(&rules(&["old", "new"]), &SyncRequest::default(), NOW)
            .unwrap();
        replica
            .write(Command {
                conditions: write.conditions,
                ops: write.ops,
            })
            .await
            .unwrap();
        let stored = |key: &[u8]| replica.get(Keyspace::Rules, key).unwrap();
        assert_eq!(stored(b"synced"), Some(Vec::new()));
        assert_eq!(stored(b"rule/corrupt"), None);
        assert_eq!(
            stored(b"rule/new"),
            Some(br#"{"RuleName":"new","Staged":false}"#.to_vec())
        );
        let table = store.table().unwrap();
        assert!(table.synced);
        assert_eq!(table.rows.keys().collect::<Vec<_>>(), ["new", "old"]);

        let running = BTreeSet::new();
        store
            .change(&["old".to_string()], RuleChange::Disable, &running, NOW)
            .await
            .unwrap();
        assert!(store.rows().unwrap()["old"].disabled);
        replica.shutdown().await;
    }

    #[test]
    fn rows_use_streamalerts_item_format() {
        let row = staged("root_login", NOW);
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "RuleName": "root_login",
                "Staged": true,
                "StagedAt": "2023-11-14T22:13:20.000000Z",
                "StagedUntil": "2023-11-16T22:13:20.000000Z",
            })
        );
        assert_eq!(row.staged_window(), Some((NOW, NOW + 48 * HOUR)));
        let mut disabled = RuleRow::new("x");
        disabled.disabled = true;
        assert_eq!(
            serde_json::to_value(&disabled).unwrap(),
            serde_json::json!({"RuleName": "x", "Staged": false, "Disabled": true})
        );
        let read: RuleRow = serde_json::from_str(r#"{"RuleName": "y", "Staged": false}"#).unwrap();
        assert_eq!(read, RuleRow::new("y"));
    }

    #[test]
    fn the_first_sync_stages_nothing_even_where_rows_exist_already() {
        // A rule disabled with sactl before any push has a row; the first push still stages
        // none of the others.
        let mut noisy = RuleRow::new("noisy");
        noisy.disabled = true;
        let current = table(&[noisy]);
        let changes =
            plan_sync(&current, false, &rules(&["noisy", "a"]), &stage_new(), NOW).unwrap();
        assert_eq!(
            changes,
            BTreeMap::from([("a".to_string(), Some(RuleRow::new("a")))])
        );
    }

    #[test]
    fn the_first_sync_adds_every_rule_unstaged() {
        let changes = plan_sync(
            &BTreeMap::new(),
            false,
            &rules(&["a", "b"]),
            &stage_new(),
            NOW,
        )
        .unwrap();
        assert_eq!(
            changes,
            BTreeMap::from([
                ("a".to_string(), Some(RuleRow::new("a"))),
                ("b".to_string(), Some(RuleRow::new("b"))),
            ])
        );
    }

    #[test]
    fn later_syncs_stage_new_rules_drop_removed_ones_and_leave_the_rest() {
        let mut quiet = RuleRow::new("quiet");
        quiet.disabled = true;
        let current = table(&[RuleRow::new("kept"), quiet.clone(), RuleRow::new("gone")]);
        let changes = plan_sync(
            &current,
            true,
            &rules(&["kept", "quiet", "new"]),
            &stage_new(),
            NOW,
        )
        .unwrap();
        assert_eq!(
            changes,
            BTreeMap::from([
                ("gone".to_string(), None),
                ("new".to_string(), Some(staged("new", NOW))),
            ])
        );
        let skipped = plan_sync(
            &current,
            true,
            &rules(&["kept", "new"]),
            &SyncRequest::default(),
            NOW,
        )
        .unwrap();
        assert_eq!(
            skipped["new"],
            Some(RuleRow::new("new")),
            "--skip-rule-staging"
        );
        assert_eq!(skipped["quiet"], None);
    }

    #[test]
    fn a_push_stages_and_unstages_named_rules_and_restaging_restarts_the_window() {
        let mut quiet = staged("quiet", NOW - HOUR);
        quiet.disabled = true;
        let current = table(&[quiet, staged("old", NOW - 2 * HOUR), RuleRow::new("live")]);
        let request = SyncRequest {
            stage_new: true,
            stage: vec!["quiet".into(), "live".into(), "new".into()],
            unstage: vec!["old".into()],
        };
        let changes = plan_sync(
            &current,
            true,
            &rules(&["quiet", "old", "live", "new"]),
            &request,
            NOW,
        )
        .unwrap();
        let mut restaged = staged("quiet", NOW);
        restaged.disabled = true;
        assert_eq!(changes["quiet"], Some(restaged));
        assert_eq!(changes["live"], Some(staged("live", NOW)));
        assert_eq!(changes["new"], Some(staged("new", NOW)));
        assert_eq!(changes["old"], Some(RuleRow::new("old")));
    }

    #[test]
    fn a_push_naming_rules_it_does_not_have_is_refused() {
        let request = SyncRequest {
            stage: vec!["typo".into()],
            ..SyncRequest::default()
        };
        let error = plan_sync(&BTreeMap::new(), true, &rules(&["a"]), &request, NOW).unwrap_err();
        assert_eq!(
            error,
            "--stage-rules: the pushed config has no rule named \"typo\""
        );
        let request = SyncRequest {
            stage: vec!["a".into()],
            unstage: vec!["a".into()],
            ..SyncRequest::default()
        };
        assert!(
            plan_sync(&BTreeMap::new(), true, &rules(&["a"]), &request, NOW)
                .unwrap_err()
                .contains("both")
        );
    }
}
