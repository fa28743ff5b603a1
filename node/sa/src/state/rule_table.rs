//! The rule table (compat §9.11) in the `rules` keyspace: key the rule name, value StreamAlert's
//! item `{"RuleName", "Staged", "StagedAt", "StagedUntil"}` plus sa's own `Disabled`.
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

/// How long a new or restaged rule stays staged unless told otherwise (StreamAlert's 48 hours).
pub const DEFAULT_STAGING: Duration = Duration::from_secs(48 * 3600);
/// How stale the rules thread's view of the table may be.
const STATES_CACHED_FOR: Duration = Duration::from_secs(1);
const CHANGE_ATTEMPTS: usize = 5;

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
    fn new(name: &str) -> Self {
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
/// config's rules (§9.11, deploying the rules engine): rules it lacks are added, staged when
/// `request.stage_new` and the table is not empty; rules no longer pushed are removed; then the
/// push's own `stage` and `unstage` lists apply. A rule keeps its `Disabled` flag.
pub fn plan_sync(
    current: &BTreeMap<String, RuleRow>,
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
    let stage_new = request.stage_new && !current.is_empty();
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

    /// Every row, by rule name, from the local replica.
    pub fn rows(&self) -> anyhow::Result<BTreeMap<String, RuleRow>> {
        self.replica
            .scan_prefix(Keyspace::Rules, b"")?
            .into_iter()
            .map(|(key, value)| {
                let row: RuleRow = serde_json::from_slice(&value).map_err(|e| {
                    anyhow::anyhow!(
                        "rule table row {:?} is corrupt: {e}",
                        String::from_utf8_lossy(&key)
                    )
                })?;
                Ok((row.name.clone(), row))
            })
            .collect()
    }

    /// The write that syncs the table with a pushed config's `rules`, to be applied with the
    /// push; its conditions fail it if the table changed since it was read here.
    pub fn sync_write(
        &self,
        rules: &BTreeSet<String>,
        request: &SyncRequest,
        now: Micros,
    ) -> anyhow::Result<SyncWrite> {
        let current = self.rows()?;
        let changes = plan_sync(&current, rules, request, now).map_err(anyhow::Error::msg)?;
        let staged = changes
            .values()
            .flatten()
            .filter(|row| row.staged && current.get(&row.name) != Some(row))
            .map(|row| row.name.clone())
            .collect();
        let (conditions, ops) = changes_write(&current, changes)?;
        Ok(SyncWrite {
            conditions,
            ops,
            staged,
        })
    }

    /// Applies `change` to `names`, each of which must be a rule of `known` (the running
    /// config's) or already in the table. Returns the rows as written.
    pub async fn change(
        &self,
        names: &[String],
        change: RuleChange,
        known: &BTreeSet<String>,
        now: Micros,
    ) -> anyhow::Result<Vec<RuleRow>> {
        if names.is_empty() {
            bail!("name at least one rule");
        }
        for _ in 0..CHANGE_ATTEMPTS {
            let current = self.rows()?;
            if let Some(unknown) = names
                .iter()
                .find(|name| !known.contains(*name) && !current.contains_key(*name))
            {
                bail!("no rule named {unknown:?} in the running config or the rule table");
            }
            let changes: BTreeMap<String, Option<RuleRow>> = names
                .iter()
                .map(|name| {
                    let mut row = current
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| RuleRow::new(name));
                    change.apply(&mut row, now);
                    (name.clone(), Some(row))
                })
                .collect();
            let written: Vec<RuleRow> = changes.values().flatten().cloned().collect();
            let (conditions, ops) = changes_write(&current, changes)?;
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

    /// Unstages `row` (promotion), unless it changed since it was read. Returns whether it did.
    pub async fn promote(&self, row: &RuleRow) -> anyhow::Result<bool> {
        let mut promoted = row.clone();
        promoted.unstage();
        let command = Command::put(
            Keyspace::Rules,
            row.name.as_bytes(),
            serde_json::to_vec(&promoted)?,
        )
        .with_condition(Condition::Equals {
            keyspace: Keyspace::Rules,
            key: row.name.as_bytes().to_vec(),
            value: serde_json::to_vec(row)?,
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
                states.disabled.insert(row.name);
            }
        }
        Ok(states)
    }
}

/// The write that turns `current` into `current` + `changes`, conditioned on every row it
/// touches being as read.
fn changes_write(
    current: &BTreeMap<String, RuleRow>,
    changes: BTreeMap<String, Option<RuleRow>>,
) -> anyhow::Result<(Vec<Condition>, Vec<WriteOp>)> {
    let mut conditions = Vec::new();
    let mut ops = Vec::new();
    for (name, row) in changes {
        let key = name.into_bytes();
        conditions.push(match current.get(std::str::from_utf8(&key)?) {
            Some(old) => Condition::Equals {
                keyspace: Keyspace::Rules,
                key: key.clone(),
                value: serde_json::to_vec(old)?,
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
    fn the_first_sync_adds_every_rule_unstaged() {
        let changes = plan_sync(&BTreeMap::new(), &rules(&["a", "b"]), &stage_new(), NOW).unwrap();
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
        let error = plan_sync(&BTreeMap::new(), &rules(&["a"]), &request, NOW).unwrap_err();
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
            plan_sync(&BTreeMap::new(), &rules(&["a"]), &request, NOW)
                .unwrap_err()
                .contains("both")
        );
    }
}
