//! The alerts table in the replicated state (`alerts` keyspace): alerts, the indexes the merger
//! and dispatcher work from, per-output delivery state, and dead letters.
//!
//! | key | value | lifetime |
//! |---|---|---|
//! | `alert/{id}` | the alert's Dynamo record (docs/spec §10.3) | kept (history for `sactl alerts`) |
//! | `pending/{id}` | when it is next due (decimal) | while an output of the alert is undelivered |
//! | `due/{due at, 20 digits}/{id}` | empty | the same, ordered by time: the dispatcher reads only what is due |
//! | `merge/{rule}/{created, 20 digits}/{id}` | empty | while a merge-enabled alert waits for its group to close |
//! | `merged/{id}` | id of the merged alert | kept |
//! | `sent/{id}/{output}` | [`SentRecord`] | kept: an output with this key is never sent the alert again |
//! | `attempt/{id}/{output}` | [`AttemptRecord`] | while an output is being retried |
//! | `deadletter/output/{id}/{output}` | [`OutputDeadLetter`] | until replayed |
//! | `deadletter/classify/{received}-{node}-{seq}` | [`StoredDeadLetter`] | until replayed |
//! | `window/{rule}/{merge values digest}` | [`Marker`] | a `merge_send_first` window: its first alert went out at once |
//! | `sendfirst/{id}` | empty | that first alert: delivered to every output, not merged |
//! | `dedup/{rule}/{dedup values digest}` | [`Marker`] | a `dedup_keys` window: later alerts with these values are dropped |
//! | `suppressed/{id}` | reason | a merge group below its rule's `merge_threshold` |
//! | `byrule/{rule}/{created, 20 digits}/{id}` | empty | as long as the alert: what rule promotion counts (docs/spec §9.11) |
//!
//! An alert is inserted with `IfAbsent` on its key, so a replayed record (same source position,
//! same alert id) neither duplicates the alert nor re-opens its delivery. The keys are typed in
//! [`crate::keys::alerts`].
//!
//! Times: every time in the table's keys and values is [`Micros`], microseconds since the epoch,
//! as the alert's own `created`: the work list (`due/`, `pending/`), the rule indexes, the
//! windows, the delivery records (stored as `*_us` fields) and the dead letters. The times come
//! from the caller (`now`) or, for a batch's dead letters, from [`Clock::System`]. Records
//! written when the work list and the delivery records counted milliseconds are still read:
//! their `*_ms` fields are converted (module `stored`), and their `due/` entries are due at once.
//! Readers outside the cluster (`sactl`) see milliseconds still: the node converts at its API.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use sa_engine::DeadLetter;
use sa_raft::{Command, CommandResult, CommandSplitter, Condition, Keyspace, Replica, WriteOp};
use sa_rules::{Alert, Clock, FIREHOSE_OUTPUT, Micros};
use serde::{Deserialize, Serialize};

use crate::alert_rows;
use crate::keys::alerts::{
    AlertKey, CLASSIFY_DEAD_LETTER_PREFIX, DUE_PREFIX, DeadLetterId, PerAlert, PerOutput,
    RuleIndex, Window, due_until,
};

/// Distinguishes the dead letters this process stores within one microsecond (concurrent
/// batches would otherwise collide on the same key and fail each other's commit).
static DEAD_LETTER_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Alerts read at a time by the retention's scan.
const PURGE_SCAN_PAGE: usize = 256;

/// A dedup window without a merge window to borrow from lasts this many minutes.
const DEFAULT_DEDUP_WINDOW_MINS: u64 = 60;

/// An open `merge_send_first` or dedup window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Marker {
    expires_us: Micros,
    first_alert_id: String,
}

fn per_alert(family: PerAlert, alert_id: &str) -> Vec<u8> {
    AlertKey::per_alert(family, alert_id).encode()
}

fn per_output(family: PerOutput, alert_id: &str, output: &str) -> Vec<u8> {
    AlertKey::per_output(family, alert_id, output).encode()
}

fn merge_key(alert: &Alert) -> Vec<u8> {
    AlertKey::rule_index(RuleIndex::Merge, alert).encode()
}

fn by_rule_key(alert: &Alert) -> Vec<u8> {
    AlertKey::rule_index(RuleIndex::ByRule, alert).encode()
}

fn due_key(at: Micros, alert_id: &str) -> Vec<u8> {
    AlertKey::due(at, alert_id).encode()
}

/// Decodes a key read under one family's prefix; `pick` takes that family's variant and hands
/// back any other.
fn decode_as<T>(
    key: &[u8],
    pick: impl FnOnce(AlertKey) -> Result<T, AlertKey>,
) -> anyhow::Result<T> {
    pick(AlertKey::decode(key)?)
        .map_err(|other| anyhow::anyhow!("{other:?} read where another key family was scanned"))
}

/// Puts the alert in the dispatcher's work list, due at `at` (a time before the epoch as 0, as
/// the key stores it).
/// Makes `alert_id` due at `at`. A new alert is due from its creation, so that under a backlog
/// the dispatcher (which reads the due index in key order) takes the oldest first; replays and
/// resends are due at 0, ahead of them.
fn schedule_ops(alert_id: &str, at: Micros) -> [WriteOp; 2] {
    let at = at.max(0);
    [
        WriteOp::Put {
            keyspace: Keyspace::Alerts,
            key: per_alert(PerAlert::Pending, alert_id),
            value: at.to_string().into_bytes(),
        },
        WriteOp::Put {
            keyspace: Keyspace::Alerts,
            key: due_key(at, alert_id),
            value: Vec::new(),
        },
    ]
}

/// What a batch commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Indices of the alerts that were new.
    pub stored: Vec<usize>,
    /// The result of the batch's source position, when it had one.
    pub position: Option<CommandResult>,
}

/// A record the classifier could not place, kept with its reason until an operator replays it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "stored::StoredDeadLetter")]
pub struct StoredDeadLetter {
    #[serde(rename = "received_at_us")]
    pub received_at: Micros,
    pub cluster: String,
    pub service: String,
    pub resource: String,
    pub log_type: Option<String>,
    pub reason: String,
    pub record: String,
    /// Where the record came from (`kinesis/STREAM/SHARD/SEQ#SUB`, ...), when the source knows.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub origin: String,
}

/// An output that accepted the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "stored::SentRecord")]
pub struct SentRecord {
    #[serde(rename = "at_us")]
    pub at: Micros,
    pub attempts: u32,
    pub node_id: u64,
}

/// An output still being retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "stored::AttemptRecord")]
pub struct AttemptRecord {
    pub attempts: u32,
    #[serde(rename = "first_at_us")]
    pub first_at: Micros,
    #[serde(rename = "next_at_us")]
    pub next_at: Micros,
    pub last_error: String,
}

/// An alert an output never accepted, kept until an operator replays it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "stored::OutputDeadLetter")]
pub struct OutputDeadLetter {
    pub alert_id: String,
    pub rule_name: String,
    pub output: String,
    pub reason: String,
    pub attempts: u32,
    #[serde(rename = "at_us")]
    pub at: Micros,
}

/// The stored shapes of the records above, as read: a time is its `*_us` field or, in a record
/// written when the delivery records counted milliseconds, its `*_ms` field converted. Only
/// `*_us` fields are written.
mod stored {
    use sa_rules::Micros;
    use serde::Deserialize;

    /// A record's time: `{name}_us`, else `{name}_ms` in µs.
    fn time(us: Option<Micros>, ms: Option<u64>, name: &str) -> Result<Micros, String> {
        match (us, ms) {
            (Some(us), _) => Ok(us),
            (None, Some(ms)) => Micros::try_from(ms)
                .ok()
                .and_then(|ms| ms.checked_mul(1_000))
                .ok_or_else(|| format!("`{name}_ms` of {ms} is past the µs an i64 holds")),
            (None, None) => Err(format!("missing field `{name}_us`")),
        }
    }

    #[derive(Deserialize)]
    pub(super) struct StoredDeadLetter {
        received_at_us: Option<Micros>,
        received_at_ms: Option<u64>,
        cluster: String,
        service: String,
        resource: String,
        log_type: Option<String>,
        reason: String,
        record: String,
        #[serde(default)]
        origin: String,
    }

    impl TryFrom<StoredDeadLetter> for super::StoredDeadLetter {
        type Error = String;

        fn try_from(d: StoredDeadLetter) -> Result<Self, String> {
            Ok(super::StoredDeadLetter {
                received_at: time(d.received_at_us, d.received_at_ms, "received_at")?,
                cluster: d.cluster,
                service: d.service,
                resource: d.resource,
                log_type: d.log_type,
                reason: d.reason,
                record: d.record,
                origin: d.origin,
            })
        }
    }

    #[derive(Deserialize)]
    pub(super) struct SentRecord {
        at_us: Option<Micros>,
        at_ms: Option<u64>,
        attempts: u32,
        node_id: u64,
    }

    impl TryFrom<SentRecord> for super::SentRecord {
        type Error = String;

        fn try_from(r: SentRecord) -> Result<Self, String> {
            Ok(super::SentRecord {
                at: time(r.at_us, r.at_ms, "at")?,
                attempts: r.attempts,
                node_id: r.node_id,
            })
        }
    }

    #[derive(Deserialize)]
    pub(super) struct AttemptRecord {
        attempts: u32,
        first_at_us: Option<Micros>,
        first_at_ms: Option<u64>,
        next_at_us: Option<Micros>,
        next_at_ms: Option<u64>,
        last_error: String,
    }

    impl TryFrom<AttemptRecord> for super::AttemptRecord {
        type Error = String;

        fn try_from(r: AttemptRecord) -> Result<Self, String> {
            Ok(super::AttemptRecord {
                attempts: r.attempts,
                first_at: time(r.first_at_us, r.first_at_ms, "first_at")?,
                next_at: time(r.next_at_us, r.next_at_ms, "next_at")?,
                last_error: r.last_error,
            })
        }
    }

    #[derive(Deserialize)]
    pub(super) struct OutputDeadLetter {
        alert_id: String,
        rule_name: String,
        output: String,
        reason: String,
        attempts: u32,
        at_us: Option<Micros>,
        at_ms: Option<u64>,
    }

    impl TryFrom<OutputDeadLetter> for super::OutputDeadLetter {
        type Error = String;

        fn try_from(d: OutputDeadLetter) -> Result<Self, String> {
            Ok(super::OutputDeadLetter {
                alert_id: d.alert_id,
                rule_name: d.rule_name,
                output: d.output,
                reason: d.reason,
                attempts: d.attempts,
                at: time(d.at_us, d.at_ms, "at")?,
            })
        }
    }
}

/// What one delivery attempt to one output came to, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputOutcome {
    Sent(SentRecord),
    Retry(AttemptRecord),
    Dead(OutputDeadLetter),
}

/// Where one alert stands with each of its outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryState {
    /// The first alert of a `merge_send_first` window: it goes to every output at once.
    pub send_first: bool,
    pub sent: BTreeMap<String, SentRecord>,
    pub attempts: BTreeMap<String, AttemptRecord>,
    pub dead: BTreeMap<String, OutputDeadLetter>,
}

impl DeliveryState {
    /// Outputs of `alert` that still need a delivery: a merge-enabled alert only goes to the
    /// alerts Firehose until it is merged (docs/spec §11.2); a sent or dead-lettered output is finished.
    pub fn remaining(&self, alert: &Alert) -> BTreeSet<String> {
        self.own_outputs(alert)
            .into_iter()
            .filter(|output| !self.sent.contains_key(output) && !self.dead.contains_key(output))
            .collect()
    }

    /// The outputs this alert goes to by itself (the rest only through a merged alert).
    pub fn own_outputs(&self, alert: &Alert) -> BTreeSet<String> {
        if self.send_first {
            alert.outputs.clone()
        } else {
            deliverable_outputs(alert)
        }
    }
}

/// The outputs an alert is delivered to on its own (before any merge).
fn deliverable_outputs(alert: &Alert) -> BTreeSet<String> {
    alert
        .outputs
        .iter()
        .filter(|output| !alert.merge_enabled() || output.as_str() == FIREHOSE_OUTPUT)
        .cloned()
        .collect()
}

#[derive(Clone)]
pub struct AlertStore {
    replica: Replica,
    /// Length of a merge-window minute (60 s; shorter in tests), for window and dedup expiry.
    minute: Micros,
}

impl AlertStore {
    pub fn new(replica: Replica) -> Self {
        AlertStore {
            replica,
            minute: 60_000_000,
        }
    }

    pub fn with_merge_minute(mut self, minute: std::time::Duration) -> Self {
        self.minute = i64::try_from(minute.as_micros()).unwrap_or(i64::MAX);
        self
    }

    fn minutes(&self, minutes: u64) -> Micros {
        i64::try_from(minutes)
            .unwrap_or(i64::MAX)
            .saturating_mul(self.minute)
    }

    fn marker(&self, alert: &Alert, minutes: u64) -> anyhow::Result<Vec<u8>> {
        Ok(serde_json::to_vec(&Marker {
            expires_us: alert.created.saturating_add(self.minutes(minutes)),
            first_alert_id: alert.alert_id.clone(),
        })?)
    }

    /// The write that stores one new alert with its indexes and its rule's policy; `None` when
    /// an alert earlier in the same batch already claimed its dedup window. `claimed` holds
    /// the window keys claimed earlier in the batch, so such an alert is left out here rather
    /// than sent to be skipped by the state machine (which sees the writes before it).
    fn insert_op(
        &self,
        alert: &Alert,
        claimed: &mut HashSet<Vec<u8>>,
    ) -> anyhow::Result<Option<WriteOp>> {
        let mut ops = Self::plain_insert_ops(alert)?;
        if alert.merge_enabled() && alert.policy.send_first {
            let window = AlertKey::window(
                Window::SendFirst,
                &alert.rule_name,
                &sa_rules::alert_merge::values_digest(&alert.record, &alert.merge_by_keys),
            )
            .encode();
            if claimed.insert(window.clone()) {
                ops.push(WriteOp::IfAbsent {
                    keyspace: Keyspace::Alerts,
                    key: window.clone(),
                    ops: vec![
                        WriteOp::Put {
                            keyspace: Keyspace::Alerts,
                            key: window,
                            value: self.marker(alert, alert.merge_window_mins)?,
                        },
                        WriteOp::Delete {
                            keyspace: Keyspace::Alerts,
                            key: merge_key(alert),
                        },
                        WriteOp::Put {
                            keyspace: Keyspace::Alerts,
                            key: per_alert(PerAlert::SendFirst, &alert.alert_id),
                            value: Vec::new(),
                        },
                    ]
                    .into_iter()
                    .chain(schedule_ops(&alert.alert_id, alert.created))
                    .collect(),
                });
            }
        }
        let insert = WriteOp::IfAbsent {
            keyspace: Keyspace::Alerts,
            key: per_alert(PerAlert::Record, &alert.alert_id),
            ops,
        };
        if alert.policy.dedup_keys.is_empty() {
            return Ok(Some(insert));
        }
        let dedup = AlertKey::window(
            Window::Dedup,
            &alert.rule_name,
            &sa_rules::alert_merge::values_digest(&alert.record, &alert.policy.dedup_keys),
        )
        .encode();
        if !claimed.insert(dedup.clone()) {
            return Ok(None);
        }
        let minutes = match (alert.policy.dedup_window_mins, alert.merge_window_mins) {
            (0, 0) => DEFAULT_DEDUP_WINDOW_MINS,
            (0, merge) => merge,
            (dedup, _) => dedup,
        };
        Ok(Some(WriteOp::IfAbsent {
            keyspace: Keyspace::Alerts,
            key: dedup.clone(),
            ops: vec![
                WriteOp::Put {
                    keyspace: Keyspace::Alerts,
                    key: dedup,
                    value: self.marker(alert, minutes)?,
                },
                insert,
            ],
        }))
    }

    /// The alert and the indexes every alert gets.
    fn plain_insert_ops(alert: &Alert) -> anyhow::Result<Vec<WriteOp>> {
        let mut ops = vec![WriteOp::Put {
            keyspace: Keyspace::Alerts,
            key: per_alert(PerAlert::Record, &alert.alert_id),
            value: alert_rows::encode_alert(alert),
        }];
        if !deliverable_outputs(alert).is_empty() {
            ops.extend(schedule_ops(&alert.alert_id, alert.created));
        }
        if alert.merge_enabled() {
            ops.push(WriteOp::Put {
                keyspace: Keyspace::Alerts,
                key: merge_key(alert),
                value: Vec::new(),
            });
        }
        ops.push(WriteOp::Put {
            keyspace: Keyspace::Alerts,
            key: by_rule_key(alert),
            value: Vec::new(),
        });
        Ok(ops)
    }

    /// Commits a batch's alerts and dead letters in replicated writes of about
    /// `TARGET_COMMAND_BYTES` each (one for a usual batch), in order; returns once they are
    /// committed by a quorum, with the indices of the alerts that were new (an alert already
    /// stored under the same id, from an earlier delivery of the same record, is left alone; an
    /// alert inside its rule's dedup window is dropped).
    pub async fn commit(
        &self,
        alerts: &[Alert],
        dead_letters: &[DeadLetter],
    ) -> anyhow::Result<Vec<usize>> {
        Ok(self.commit_at(alerts, dead_letters, None).await?.stored)
    }

    /// [`Self::commit`], with the batch's source `position` (a command of the source's own,
    /// such as a checkpoint fenced by a lease) in the same Raft entry as the batch's last
    /// write: the position commits with the batch, never before any of it.
    pub async fn commit_at(
        &self,
        alerts: &[Alert],
        dead_letters: &[DeadLetter],
        position: Option<Command>,
    ) -> anyhow::Result<Committed> {
        let now = Clock::System.now();
        let mut commands = CommandSplitter::default();
        let mut claimed = HashSet::new();
        // Which alert each op of the alerts' commands stores, by command.
        let mut op_alerts: Vec<Vec<usize>> = Vec::new();
        for (index, alert) in alerts.iter().enumerate() {
            if let Some(op) = self.insert_op(alert, &mut claimed)? {
                let command = commands.push(op, None);
                op_alerts.resize_with(command + 1, Vec::new);
                op_alerts[command].push(index);
            }
        }
        for dead in dead_letters {
            let stored = StoredDeadLetter {
                received_at: now,
                cluster: dead.cluster.clone(),
                service: dead.service.clone(),
                resource: dead.resource.clone(),
                log_type: dead.log_type.clone(),
                reason: dead.reason(),
                record: dead.record.clone(),
                origin: dead.origin.clone(),
            };
            let sequence = DEAD_LETTER_SEQUENCE.fetch_add(1, Ordering::Relaxed);
            let id = DeadLetterId::new(now, self.replica.node_id(), sequence);
            let key = AlertKey::ClassifyDeadLetter(id).encode();
            let put = WriteOp::Put {
                keyspace: Keyspace::Alerts,
                key: key.clone(),
                value: alert_rows::encode_dead_letter(&stored),
            };
            let absent = Condition::Absent {
                keyspace: Keyspace::Alerts,
                key,
            };
            commands.push(put, Some(absent));
        }
        fail::fail_point!("alert_store::before_commit", |_| bail!(
            "failpoint alert_store::before_commit"
        ));
        // In order: a batch sent again after a failure half way finds its first alerts stored
        // and skips them by id. The last write carries the position.
        let mut stored = Vec::new();
        let commands = commands.into_commands();
        let last = commands.len().saturating_sub(1);
        let mut position_result = None;
        if commands.is_empty()
            && let Some(position) = position.clone()
        {
            position_result = self.replica.write_together(vec![position]).await?.pop();
        }
        for (index, command) in commands.into_iter().enumerate() {
            let result = match (&position, index == last) {
                (Some(position), true) => {
                    let mut results = self
                        .replica
                        .write_together(vec![command, position.clone()])
                        .await?
                        .into_iter();
                    let result = results.next();
                    position_result = results.next();
                    result.context("the batch's last write has no result")?
                }
                _ => self.replica.write(command).await?,
            };
            let skipped: BTreeSet<usize> = match result {
                CommandResult::Applied => BTreeSet::new(),
                CommandResult::AppliedExcept { skipped } => skipped.into_iter().collect(),
                // The only conditions are the absence of this batch's dead-letter keys, unique
                // to this process: one present means this very command applied already and its
                // answer was lost (Replica::write sent it again).
                CommandResult::ConditionFailed { .. } => BTreeSet::new(),
            };
            let alerts = op_alerts.get(index).map(Vec::as_slice).unwrap_or_default();
            stored.extend(
                alerts
                    .iter()
                    .enumerate()
                    .filter(|(op, _)| !skipped.contains(op))
                    .map(|(_, alert)| *alert),
            );
        }
        Ok(Committed {
            stored,
            position: position_result,
        })
    }

    /// How many stored alerts of `rule` were created at or after `since`, counting up to
    /// `limit` (what rule promotion counts, docs/spec §9.11; it only needs to know whether there is one).
    /// Alerts purged by the retention no longer count. The scan starts at `since`.
    pub fn alerts_since(&self, rule: &str, since: Micros, limit: usize) -> anyhow::Result<usize> {
        let index = RuleIndex::ByRule;
        let mut count = 0;
        for (key, _) in self.replica.scan_prefix_from(
            Keyspace::Alerts,
            &index.rule_prefix(rule),
            &index.rule_from(rule, since),
            limit,
        )? {
            // A rule whose name extends this one past a `/` shares the prefix.
            if decode_as(&key, |key| match key {
                AlertKey::RuleIndex { rule: of, .. } => Ok(of),
                other => Err(other),
            })? == rule
            {
                count += 1;
            }
        }
        Ok(count)
    }

    pub fn get(&self, alert_id: &str) -> anyhow::Result<Option<Alert>> {
        self.replica
            .get(Keyspace::Alerts, &per_alert(PerAlert::Record, alert_id))?
            .map(|value| alert_rows::decode_alert(&value))
            .transpose()
    }

    /// Every stored alert, oldest first.
    pub fn alerts(&self) -> anyhow::Result<Vec<Alert>> {
        let mut alerts = self
            .replica
            .scan_prefix(Keyspace::Alerts, PerAlert::Record.prefix())?
            .into_iter()
            .map(|(_, value)| alert_rows::decode_alert(&value))
            .collect::<anyhow::Result<Vec<_>>>()?;
        alerts.sort_by(|a, b| (a.created, &a.alert_id).cmp(&(b.created, &b.alert_id)));
        Ok(alerts)
    }

    /// Ids of the alerts with an undelivered output.
    pub fn pending(&self) -> anyhow::Result<Vec<String>> {
        self.replica
            .scan_prefix(Keyspace::Alerts, PerAlert::Pending.prefix())?
            .into_iter()
            .map(|(key, _)| {
                decode_as(&key, |key| match key {
                    AlertKey::PerAlert { alert_id, .. } => Ok(alert_id),
                    other => Err(other),
                })
            })
            .collect()
    }

    /// Per-output state of one alert.
    pub fn delivery(&self, alert_id: &str) -> anyhow::Result<DeliveryState> {
        fn by_output<T: serde::de::DeserializeOwned>(
            replica: &Replica,
            family: PerOutput,
            alert_id: &str,
        ) -> anyhow::Result<BTreeMap<String, T>> {
            replica
                .scan_prefix(Keyspace::Alerts, &family.alert_prefix(alert_id))?
                .into_iter()
                .map(|(key, value)| {
                    let output = decode_as(&key, |key| match key {
                        AlertKey::PerOutput { output, .. } => Ok(output),
                        other => Err(other),
                    })?;
                    Ok((output, serde_json::from_slice(&value)?))
                })
                .collect()
        }
        Ok(DeliveryState {
            send_first: self
                .replica
                .get(Keyspace::Alerts, &per_alert(PerAlert::SendFirst, alert_id))?
                .is_some(),
            sent: by_output(&self.replica, PerOutput::Sent, alert_id)?,
            attempts: by_output(&self.replica, PerOutput::Attempt, alert_id)?,
            dead: by_output(&self.replica, PerOutput::DeadLetter, alert_id)?,
        })
    }

    /// The id of the alert that `alert_id` was merged into, if it was.
    pub fn merged_into(&self, alert_id: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .replica
            .get(Keyspace::Alerts, &per_alert(PerAlert::Merged, alert_id))?
            .map(|value| String::from_utf8_lossy(&value).into_owned()))
    }

    /// Merge-enabled alerts waiting for their group, per rule, oldest first.
    pub fn merge_candidates(&self) -> anyhow::Result<BTreeMap<String, Vec<Alert>>> {
        let mut by_rule = BTreeMap::new();
        for (rule, ids) in self.merge_waiting()? {
            let alerts = self.alerts_by_id(&ids)?;
            if !alerts.is_empty() {
                by_rule.insert(rule, alerts);
            }
        }
        Ok(by_rule)
    }

    /// The ids of the merge-enabled alerts waiting for their group, per rule, oldest first:
    /// the merge index only, no alert read.
    pub fn merge_waiting(&self) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
        let mut by_rule: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (index_key, _) in self
            .replica
            .scan_prefix(Keyspace::Alerts, RuleIndex::Merge.prefix())?
        {
            let (rule, alert_id) = decode_as(&index_key, |key| match key {
                AlertKey::RuleIndex { rule, alert_id, .. } => Ok((rule, alert_id)),
                other => Err(other),
            })?;
            by_rule.entry(rule).or_default().push(alert_id);
        }
        Ok(by_rule)
    }

    /// The alerts of `ids` that are stored, in the order given.
    pub fn alerts_by_id(&self, ids: &[String]) -> anyhow::Result<Vec<Alert>> {
        let mut alerts = Vec::with_capacity(ids.len());
        for alert_id in ids {
            match self.get(alert_id)? {
                Some(alert) => alerts.push(alert),
                None => tracing::warn!(%alert_id, "merge index entry without its alert"),
            }
        }
        Ok(alerts)
    }

    /// Replaces `members` (still waiting, as this replica saw them) by `merged` in one write.
    /// Returns false when another merger got there first (a member is no longer waiting).
    pub async fn commit_merge(&self, members: &[Alert], merged: &Alert) -> anyhow::Result<bool> {
        let insert = WriteOp::IfAbsent {
            keyspace: Keyspace::Alerts,
            key: per_alert(PerAlert::Record, &merged.alert_id),
            ops: Self::plain_insert_ops(merged)?,
        };
        fail::fail_point!("alert_store::before_merge", |_| bail!(
            "failpoint alert_store::before_merge"
        ));
        self.close_group(
            members,
            Some(insert),
            PerAlert::Merged,
            merged.alert_id.as_bytes(),
        )
        .await
    }

    /// Closes a group without a merged alert (below its rule's `merge_threshold`). Returns false
    /// when another merger got there first.
    pub async fn commit_suppressed(&self, members: &[Alert], reason: &str) -> anyhow::Result<bool> {
        self.close_group(members, None, PerAlert::Suppressed, reason.as_bytes())
            .await
    }

    /// One write that takes every member out of the merge index, if all are still in it, and
    /// marks each under `mark` with `value`, plus `first` ops.
    async fn close_group(
        &self,
        members: &[Alert],
        first: impl IntoIterator<Item = WriteOp>,
        mark: PerAlert,
        value: &[u8],
    ) -> anyhow::Result<bool> {
        let mut command = Command::default();
        command.ops.extend(first);
        for member in members {
            command.conditions.push(Condition::Equals {
                keyspace: Keyspace::Alerts,
                key: merge_key(member),
                value: Vec::new(),
            });
            command.ops.push(WriteOp::Delete {
                keyspace: Keyspace::Alerts,
                key: merge_key(member),
            });
            command.ops.push(WriteOp::Put {
                keyspace: Keyspace::Alerts,
                key: per_alert(mark, &member.alert_id),
                value: value.to_vec(),
            });
        }
        match self.replica.write(command).await? {
            CommandResult::Applied | CommandResult::AppliedExcept { .. } => Ok(true),
            CommandResult::ConditionFailed { .. } => Ok(false),
        }
    }

    pub fn suppressed(&self, alert_id: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .replica
            .get(Keyspace::Alerts, &per_alert(PerAlert::Suppressed, alert_id))?
            .map(|value| String::from_utf8_lossy(&value).into_owned()))
    }

    /// Closes the send-first and dedup windows that ended before `now`; returns how many.
    pub async fn expire_windows(&self, now: Micros) -> anyhow::Result<usize> {
        let mut command = Command::default();
        for window in Window::ALL {
            for (marker_key, value) in self
                .replica
                .scan_prefix(Keyspace::Alerts, window.prefix())?
            {
                let marker: Marker = serde_json::from_slice(&value)?;
                if marker.expires_us <= now {
                    // Only if unchanged: a window re-opened meanwhile stays.
                    command.conditions.push(Condition::Equals {
                        keyspace: Keyspace::Alerts,
                        key: marker_key.clone(),
                        value,
                    });
                    command.ops.push(WriteOp::Delete {
                        keyspace: Keyspace::Alerts,
                        key: marker_key,
                    });
                }
            }
        }
        let expired = command.ops.len();
        if expired == 0 {
            return Ok(0);
        }
        match self.replica.write(command).await? {
            CommandResult::Applied => Ok(expired),
            CommandResult::ConditionFailed { .. } => Ok(0),
            other => bail!("window expiry not applied: {other:?}"),
        }
    }

    /// Pending alerts due at or before `now`, earliest first, at most `limit`: `(due at,
    /// alert id)`. Alerts due later are not read at all.
    pub fn due(&self, now: Micros, limit: usize) -> anyhow::Result<Vec<(Micros, String)>> {
        self.due_between(0, now, limit)
    }

    /// [`Self::due`], for the alerts due at or after `from` only: a dispatcher that knows
    /// nothing is due earlier skips the deletions of every alert it delivered before.
    pub fn due_between(
        &self,
        from: Micros,
        now: Micros,
        limit: usize,
    ) -> anyhow::Result<Vec<(Micros, String)>> {
        let from = due_until(from.saturating_sub(1));
        self.replica
            .scan_prefix_between(Keyspace::Alerts, DUE_PREFIX, &from, &due_until(now), limit)?
            .into_iter()
            .map(|(due, _)| {
                decode_as(&due, |key| match key {
                    AlertKey::Due { at, alert_id } => Ok((at, alert_id)),
                    other => Err(other),
                })
            })
            .collect()
    }

    /// Takes the alert off the work list, wherever it is scheduled (also at `also_at`, the
    /// entry being handled, in case the two disagree).
    fn unschedule_ops(
        &self,
        alert_id: &str,
        also_at: Option<Micros>,
    ) -> anyhow::Result<Vec<WriteOp>> {
        let scheduled = self
            .replica
            .get(Keyspace::Alerts, &per_alert(PerAlert::Pending, alert_id))?
            .and_then(|at| String::from_utf8_lossy(&at).parse::<Micros>().ok());
        let mut ops = vec![WriteOp::Delete {
            keyspace: Keyspace::Alerts,
            key: per_alert(PerAlert::Pending, alert_id),
        }];
        for at in scheduled.into_iter().chain(also_at) {
            ops.push(WriteOp::Delete {
                keyspace: Keyspace::Alerts,
                key: due_key(at, alert_id),
            });
        }
        Ok(ops)
    }

    /// Records what one dispatch of an alert did, per output, and when the alert is next due
    /// (`None`: nothing remains, it leaves the work list), in one write. `handled_at` is the due
    /// entry the dispatcher took it from.
    pub async fn record_outcomes(
        &self,
        alert_id: &str,
        outcomes: &[(String, OutputOutcome)],
        handled_at: Micros,
        next_due: Option<Micros>,
    ) -> anyhow::Result<()> {
        let mut command = Command::default();
        for (output, outcome) in outcomes {
            let (family, value) = match outcome {
                OutputOutcome::Sent(sent) => (PerOutput::Sent, serde_json::to_vec(sent)?),
                OutputOutcome::Retry(attempt) => (PerOutput::Attempt, serde_json::to_vec(attempt)?),
                OutputOutcome::Dead(dead) => (PerOutput::DeadLetter, serde_json::to_vec(dead)?),
            };
            command.ops.push(WriteOp::Put {
                keyspace: Keyspace::Alerts,
                key: per_output(family, alert_id, output),
                value,
            });
            if family != PerOutput::Attempt {
                // Finished with this output: its retry record goes.
                command.ops.push(WriteOp::Delete {
                    keyspace: Keyspace::Alerts,
                    key: per_output(PerOutput::Attempt, alert_id, output),
                });
            }
        }
        command
            .ops
            .extend(self.unschedule_ops(alert_id, Some(handled_at))?);
        if let Some(at) = next_due {
            command.ops.extend(schedule_ops(alert_id, at));
        }
        fail::fail_point!("alert_store::before_record_outcomes", |_| bail!(
            "failpoint alert_store::before_record_outcomes"
        ));
        self.write(command, "delivery record").await
    }

    /// Every output dead letter, oldest first.
    pub fn output_dead_letters(&self) -> anyhow::Result<Vec<OutputDeadLetter>> {
        let mut dead: Vec<OutputDeadLetter> = self
            .replica
            .scan_prefix(Keyspace::Alerts, PerOutput::DeadLetter.prefix())?
            .into_iter()
            .map(|(_, value)| Ok(serde_json::from_slice(&value)?))
            .collect::<anyhow::Result<_>>()?;
        dead.sort_by_key(|d| d.at);
        Ok(dead)
    }

    /// Puts a dead-lettered (alert, output) back in the dispatcher's hands, with fresh attempts.
    /// Returns false when there is no such dead letter.
    pub async fn replay_output_dead_letter(
        &self,
        alert_id: &str,
        output: &str,
    ) -> anyhow::Result<bool> {
        let dead_key = per_output(PerOutput::DeadLetter, alert_id, output);
        let Some(current) = self.replica.get(Keyspace::Alerts, &dead_key)? else {
            return Ok(false);
        };
        let mut command = Command::default()
            .with_condition(Condition::Equals {
                keyspace: Keyspace::Alerts,
                key: dead_key.clone(),
                value: current,
            })
            .and(WriteOp::Delete {
                keyspace: Keyspace::Alerts,
                key: dead_key,
            });
        command.ops.extend(self.unschedule_ops(alert_id, None)?);
        command.ops.extend(schedule_ops(alert_id, 0));
        match self.replica.write(command).await? {
            CommandResult::Applied => Ok(true),
            CommandResult::ConditionFailed { .. } => Ok(false),
            other => bail!("dead letter replay not applied: {other:?}"),
        }
    }

    /// Makes a delivered alert go out again to `outputs` (all of its outputs when empty).
    pub async fn resend(&self, alert_id: &str, outputs: &[String]) -> anyhow::Result<Vec<String>> {
        let alert = self
            .get(alert_id)?
            .with_context(|| format!("no alert {alert_id}"))?;
        let targets: Vec<String> = if outputs.is_empty() {
            deliverable_outputs(&alert).into_iter().collect()
        } else {
            for output in outputs {
                if !alert.outputs.contains(output) {
                    bail!("alert {alert_id} has no output {output}");
                }
            }
            outputs.to_vec()
        };
        let mut command = Command::default();
        for output in &targets {
            for family in PerOutput::ALL {
                command.ops.push(WriteOp::Delete {
                    keyspace: Keyspace::Alerts,
                    key: per_output(family, alert_id, output),
                });
            }
        }
        command.ops.extend(self.unschedule_ops(alert_id, None)?);
        command.ops.extend(schedule_ops(alert_id, 0));
        self.write(command, "resend").await?;
        Ok(targets)
    }

    /// Deletes the alerts created before `cutoff` that are finished (nothing pending, not
    /// waiting to merge, no output dead letter left to replay), with every key about them.
    /// At most `limit` per call, so one pass stays one modest Raft write. Returns how many.
    /// The alerts are read a page at a time: a table of millions is never held in memory.
    pub async fn purge_finished(&self, cutoff: Micros, limit: usize) -> anyhow::Result<usize> {
        let pending: HashSet<String> = self.pending()?.into_iter().collect();
        let mut command = Command::default();
        let mut purged = 0;
        let prefix = PerAlert::Record.prefix();
        let mut from = prefix.to_vec();
        'pages: loop {
            let page =
                self.replica
                    .scan_prefix_from(Keyspace::Alerts, prefix, &from, PURGE_SCAN_PAGE)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            from = last.clone();
            from.push(0);
            for (_, value) in page {
                if purged == limit {
                    break 'pages;
                }
                let alert = alert_rows::decode_alert(&value)?;
                if alert.created >= cutoff {
                    continue;
                }
                purged += self.push_purge(&alert, &pending, &mut command)?;
            }
        }
        if purged == 0 {
            return Ok(0);
        }
        match self.replica.write(command).await? {
            CommandResult::Applied => Ok(purged),
            CommandResult::ConditionFailed { .. } => Ok(0),
            other => bail!("alert purge not applied: {other:?}"),
        }
    }

    /// Adds the deletion of `alert` and its keys to `command` when it is finished; 1 if so.
    fn push_purge(
        &self,
        alert: &Alert,
        pending: &HashSet<String>,
        command: &mut Command,
    ) -> anyhow::Result<usize> {
        let id = &alert.alert_id;
        let waiting = self
            .replica
            .get(Keyspace::Alerts, &merge_key(alert))?
            .is_some();
        if pending.contains(id) || waiting || !self.delivery(id)?.dead.is_empty() {
            return Ok(0);
        }
        command.ops.push(WriteOp::Delete {
            keyspace: Keyspace::Alerts,
            key: per_alert(PerAlert::Record, id),
        });
        for family in [PerAlert::Merged, PerAlert::SendFirst, PerAlert::Suppressed] {
            command.ops.push(WriteOp::Delete {
                keyspace: Keyspace::Alerts,
                key: per_alert(family, id),
            });
        }
        command.ops.push(WriteOp::Delete {
            keyspace: Keyspace::Alerts,
            key: by_rule_key(alert),
        });
        for family in [PerOutput::Sent, PerOutput::Attempt] {
            command.ops.push(WriteOp::DeletePrefix {
                keyspace: Keyspace::Alerts,
                prefix: family.alert_prefix(id),
            });
        }
        Ok(1)
    }

    /// The `limit` oldest records no schema matched, each with the key that names it, and
    /// whether there are more.
    pub fn dead_letters_page(
        &self,
        limit: usize,
    ) -> anyhow::Result<(Vec<(String, StoredDeadLetter)>, bool)> {
        let mut rows = self.replica.scan_prefix_from(
            Keyspace::Alerts,
            CLASSIFY_DEAD_LETTER_PREFIX,
            CLASSIFY_DEAD_LETTER_PREFIX,
            limit.saturating_add(1),
        )?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok((decode_dead_letters(rows)?, more))
    }

    /// Records no schema matched, oldest first, each with the key that names it.
    pub fn dead_letters(&self) -> anyhow::Result<Vec<(String, StoredDeadLetter)>> {
        decode_dead_letters(
            self.replica
                .scan_prefix(Keyspace::Alerts, CLASSIFY_DEAD_LETTER_PREFIX)?,
        )
    }

    /// Deletes up to `limit` dead letters of records received before `cutoff`, oldest first
    /// (their keys sort by receipt time); returns how many.
    pub async fn purge_dead_letters(&self, cutoff: Micros, limit: usize) -> anyhow::Result<usize> {
        let below = AlertKey::ClassifyDeadLetter(DeadLetterId::new(cutoff, 0, 0)).encode();
        let rows = self.replica.scan_prefix_below(
            Keyspace::Alerts,
            CLASSIFY_DEAD_LETTER_PREFIX,
            &below,
            limit,
        )?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut command = Command::default();
        for (key, _) in &rows {
            command.ops.push(WriteOp::Delete {
                keyspace: Keyspace::Alerts,
                key: key.clone(),
            });
        }
        self.write(command, "dead letter purge").await?;
        Ok(rows.len())
    }

    /// Forgets a record's dead letter once it went through the pipeline again (where it was
    /// classified, or dead-lettered anew with today's reason).
    pub async fn remove_dead_letter(&self, id: &str) -> anyhow::Result<()> {
        let id = DeadLetterId::parse(id).with_context(|| format!("no dead letter {id:?}"))?;
        let command = Command::default().and(WriteOp::Delete {
            keyspace: Keyspace::Alerts,
            key: AlertKey::ClassifyDeadLetter(id).encode(),
        });
        self.write(command, "dead letter removal").await
    }

    async fn write(&self, command: Command, what: &str) -> anyhow::Result<()> {
        match self.replica.write(command).await? {
            CommandResult::Applied => Ok(()),
            other => bail!("{what} not applied: {other:?}"),
        }
    }
}

/// Stored dead-letter rows as `(id, dead letter)`.
fn decode_dead_letters(
    rows: Vec<(Vec<u8>, Vec<u8>)>,
) -> anyhow::Result<Vec<(String, StoredDeadLetter)>> {
    rows.into_iter()
        .map(|(key, value)| {
            let id = decode_as(&key, |key| match key {
                AlertKey::ClassifyDeadLetter(id) => Ok(id),
                other => Err(other),
            })?;
            Ok((id.to_string(), alert_rows::decode_dead_letter(&value)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_alert;

    const T0: Micros = 1_700_000_000_000_001;

    /// Every key of the alerts keyspace, as text.
    fn stored_keys(replica: &Replica) -> BTreeSet<String> {
        replica
            .scan_prefix(Keyspace::Alerts, b"")
            .unwrap()
            .into_iter()
            .map(|(key, _)| String::from_utf8(key).unwrap())
            .collect()
    }

    fn dead_letter() -> DeadLetter {
        DeadLetter {
            cluster: "prod".into(),
            service: "kinesis".into(),
            resource: "events".into(),
            log_type: None,
            record: "{}".into(),
            failures: Vec::new(),
            origin: String::new(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_store_writes_the_keys_it_always_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(dir.path()).await;
        let store = AlertStore::new(replica.clone());
        let plain = test_alert("plain", T0);
        let mut merging = test_alert("merging", T0 + 1);
        merging.merge_by_keys = vec!["user".into()];
        merging.merge_window_mins = 5;
        let (a, b) = (plain.alert_id.clone(), merging.alert_id.clone());

        let before = Clock::System.now();
        let new = store
            .commit(&[plain.clone(), merging.clone()], &[dead_letter()])
            .await
            .unwrap();
        assert_eq!(new, [0, 1]);
        let keys = stored_keys(&replica);
        let dead_key = keys
            .iter()
            .find(|key| key.starts_with("deadletter/classify/"))
            .unwrap()
            .clone();
        let id = dead_key.strip_prefix("deadletter/classify/").unwrap();
        let (at, rest) = id.split_once('-').unwrap();
        let received: Micros = at.parse().unwrap();
        assert!(at.len() == 20 && received >= before, "{id}");
        let (_, stored) = &store.dead_letters().unwrap()[0];
        assert_eq!(
            stored.received_at, received,
            "the id and the record agree, in µs"
        );
        let (node, sequence) = rest.split_once('-').unwrap();
        assert_eq!((node, sequence.len()), ("1", 12));
        let expected: BTreeSet<String> = [
            format!("alert/{a}"),
            format!("pending/{a}"),
            format!("due/00001700000000000001/{a}"),
            format!("byrule/plain/00001700000000000001/{a}"),
            format!("alert/{b}"),
            format!("pending/{b}"),
            format!("due/00001700000000000002/{b}"),
            format!("merge/merging/00001700000000000002/{b}"),
            format!("byrule/merging/00001700000000000002/{b}"),
            dead_key.clone(),
        ]
        .into();
        assert_eq!(keys, expected);
        assert_eq!(store.dead_letters().unwrap()[0].0, id);

        // delivered to the Firehose: a sent record, off the work list
        let sent = SentRecord {
            at: 5,
            attempts: 1,
            node_id: 1,
        };
        store
            .record_outcomes(
                &a,
                &[(FIREHOSE_OUTPUT.into(), OutputOutcome::Sent(sent.clone()))],
                T0,
                None,
            )
            .await
            .unwrap();
        assert_eq!(store.delivery(&a).unwrap().sent[FIREHOSE_OUTPUT], sent);
        // New alerts are due from their creation: the oldest first.
        assert_eq!(
            store.due(Clock::System.now(), 10).unwrap(),
            [(T0 + 1, b.clone())]
        );
        assert_eq!(store.pending().unwrap(), std::slice::from_ref(&b));

        // merged: the merge entry leaves, the member is marked with the merged alert's id
        assert_eq!(
            store.merge_candidates().unwrap()["merging"],
            [merging.clone()]
        );
        let merged = test_alert("merging", T0 + 2);
        assert!(store.commit_merge(&[merging], &merged).await.unwrap());
        assert!(store.merge_candidates().unwrap().is_empty());
        assert_eq!(
            store.merged_into(&b).unwrap(),
            Some(merged.alert_id.clone())
        );
        let keys = stored_keys(&replica);
        for key in [
            format!("sent/{a}/aws-firehose:alerts"),
            format!("merged/{b}"),
            format!("alert/{}", merged.alert_id),
        ] {
            assert!(keys.contains(&key), "{key} in {keys:?}");
        }
        assert!(!keys.iter().any(|key| key.starts_with("merge/")));
        assert!(!keys.contains(&format!("pending/{a}")));
        replica.shutdown().await;
    }

    #[test]
    fn records_store_their_times_in_microseconds_and_read_those_stored_in_milliseconds() {
        let sent = SentRecord {
            at: 1_700_000_000_123_456,
            attempts: 2,
            node_id: 3,
        };
        let attempt = AttemptRecord {
            attempts: 1,
            first_at: 1_700_000_000_000_001,
            next_at: 1_700_000_001_000_001,
            last_error: "503".into(),
        };
        let dead = OutputDeadLetter {
            alert_id: "a".into(),
            rule_name: "r".into(),
            output: "slack:sec".into(),
            reason: "400".into(),
            attempts: 1,
            at: 1_700_000_000_000_002,
        };
        let stored = StoredDeadLetter {
            received_at: 1_700_000_000_000_003,
            cluster: "prod".into(),
            service: "kinesis".into(),
            resource: "events".into(),
            log_type: None,
            reason: "no schema".into(),
            record: "{}".into(),
            origin: String::new(),
        };
        fn text(value: &impl Serialize) -> String {
            serde_json::to_string(value).unwrap()
        }
        assert_eq!(
            text(&sent),
            r#"{"at_us":1700000000123456,"attempts":2,"node_id":3}"#
        );
        assert_eq!(
            text(&attempt),
            r#"{"attempts":1,"first_at_us":1700000000000001,"next_at_us":1700000001000001,"last_error":"503"}"#
        );
        assert_eq!(
            text(&dead),
            r#"{"alert_id":"a","rule_name":"r","output":"slack:sec","reason":"400","attempts":1,"at_us":1700000000000002}"#
        );
        assert_eq!(
            text(&stored),
            r#"{"received_at_us":1700000000000003,"cluster":"prod","service":"kinesis","resource":"events","log_type":null,"reason":"no schema","record":"{}"}"#
        );
        // each reads back what it wrote
        assert_eq!(
            serde_json::from_str::<SentRecord>(&text(&sent)).unwrap(),
            sent
        );
        assert_eq!(
            serde_json::from_str::<AttemptRecord>(&text(&attempt)).unwrap(),
            attempt
        );
        assert_eq!(
            serde_json::from_str::<OutputDeadLetter>(&text(&dead)).unwrap(),
            dead
        );
        assert_eq!(
            serde_json::from_str::<StoredDeadLetter>(&text(&stored)).unwrap(),
            stored
        );
        // milliseconds, as stored before, become µs; a record with neither is refused
        let legacy: SentRecord =
            serde_json::from_str(r#"{"at_ms":1700000000123,"attempts":2,"node_id":3}"#).unwrap();
        assert_eq!(legacy.at, 1_700_000_000_123_000);
        let error = serde_json::from_str::<SentRecord>(r#"{"attempts":2,"node_id":3}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing field `at_us`"), "{error}");
        let error = serde_json::from_str::<SentRecord>(
            r#"{"at_ms":18446744073709551615,"attempts":2,"node_id":3}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("past the µs an i64 holds"), "{error}");
    }

    /// Under a backlog the dispatcher reads the due index in key order: new alerts come out
    /// oldest first, whatever their (random) ids.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn new_alerts_are_due_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(dir.path()).await;
        let store = AlertStore::new(replica.clone());
        let alerts: Vec<Alert> = [5, 1, 4, 2, 3]
            .into_iter()
            .map(|offset| test_alert("rule", T0 + offset))
            .collect();
        store.commit(&alerts, &[]).await.unwrap();
        let due: Vec<Micros> = store
            .due(Clock::System.now(), 10)
            .unwrap()
            .into_iter()
            .map(|(at, _)| at)
            .collect();
        assert_eq!(due, [1, 2, 3, 4, 5].map(|offset| T0 + offset));
        replica.shutdown().await;
    }

    /// A batch's source position commits in the entry of its last write, with its own result:
    /// a failed fence stores the batch all the same and says so.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_source_position_commits_in_the_entry_of_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(dir.path()).await;
        let store = AlertStore::new(replica.clone());
        let last_index = || replica.raft().metrics().borrow().last_log_index.unwrap();
        let position = |fence: &str| {
            Command::put(Keyspace::Leases, "checkpoint", "42").with_condition(Condition::Equals {
                keyspace: Keyspace::Leases,
                key: b"lease".to_vec(),
                value: fence.as_bytes().to_vec(),
            })
        };
        replica
            .write(Command::put(Keyspace::Leases, "lease", "mine"))
            .await
            .unwrap();
        let before = last_index();
        let committed = store
            .commit_at(&[test_alert("rule", T0)], &[], Some(position("mine")))
            .await
            .unwrap();
        assert_eq!(committed.stored, [0]);
        assert_eq!(committed.position, Some(CommandResult::Applied));
        assert_eq!(
            last_index() - before,
            1,
            "one entry for the batch and its position"
        );
        let lost = store
            .commit_at(&[test_alert("rule", T0 + 1)], &[], Some(position("theirs")))
            .await
            .unwrap();
        assert_eq!(lost.stored, [0]);
        assert!(matches!(
            lost.position,
            Some(CommandResult::ConditionFailed { .. })
        ));
        let nothing = store
            .commit_at(&[], &[], Some(position("mine")))
            .await
            .unwrap();
        assert_eq!(nothing.position, Some(CommandResult::Applied));
        assert_eq!(store.alerts().unwrap().len(), 2);
        replica.shutdown().await;
    }

    /// A command applied twice (its answer lost, so Replica::write sent it again) stores its
    /// alerts and dead letters once, and the commit succeeds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_whose_answer_was_lost_stores_everything_once() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(dir.path()).await;
        let store = AlertStore::new(replica.clone());
        let dead = DeadLetter {
            cluster: "prod".into(),
            service: "http".into(),
            resource: "json".into(),
            log_type: None,
            record: "not json".into(),
            failures: Vec::new(),
            origin: String::new(),
        };
        fail::cfg("raft::replica::answer_lost", "1*return").unwrap();
        let stored = store
            .commit(&[test_alert("rule", T0)], std::slice::from_ref(&dead))
            .await;
        fail::remove("raft::replica::answer_lost");
        assert_eq!(stored.unwrap(), [0]);
        assert_eq!(store.alerts().unwrap().len(), 1);
        assert_eq!(store.dead_letters().unwrap().len(), 1);
        replica.shutdown().await;
    }

    /// More alerts than a page of the scan, old and new, finished and pending, in random id
    /// order: every finished old one goes, in writes of at most `limit`, and nothing else.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_purge_reads_alerts_a_page_at_a_time_and_deletes_only_finished_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(dir.path()).await;
        let store = AlertStore::new(replica.clone());
        let alerts: Vec<Alert> = (0..700)
            .map(|i| {
                let mut alert = test_alert("rule", T0 + i);
                if i % 7 != 0 {
                    // Nothing to deliver: finished once stored. Every seventh stays pending.
                    alert.outputs.clear();
                }
                alert
            })
            .collect();
        store.commit(&alerts, &[]).await.unwrap();
        let cutoff = T0 + 600;
        let finished_old = (0..600).filter(|i| i % 7 != 0).count();
        assert_eq!(store.purge_finished(cutoff, 500).await.unwrap(), 500);
        assert_eq!(
            store.purge_finished(cutoff, 500).await.unwrap(),
            finished_old - 500
        );
        assert_eq!(store.purge_finished(cutoff, 500).await.unwrap(), 0);
        let mut left: Vec<Micros> = store.alerts().unwrap().iter().map(|a| a.created).collect();
        left.sort();
        let expected: Vec<Micros> = (0..700)
            .filter(|i| i % 7 == 0 || *i >= 600)
            .map(|i| T0 + i)
            .collect();
        assert_eq!(left, expected);
        replica.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_stored_by_earlier_versions_are_read_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(dir.path()).await;
        let store = AlertStore::new(replica.clone());
        let alert = test_alert("rule", T0);
        let other = test_alert("rule/x", T0);
        let id = &alert.alert_id;
        // the sequence of a classify dead letter had 6 digits before it had 12, and its arrival
        // counted milliseconds, as did its record's time
        let legacy_dead = "00000001700000000123-1-000007";
        let stored = StoredDeadLetter {
            received_at: 1_700_000_000_123_000,
            cluster: "prod".into(),
            service: "kinesis".into(),
            resource: "events".into(),
            log_type: None,
            reason: "no schema".into(),
            record: "{}".into(),
            origin: String::new(),
        };
        let json = |value: serde_json::Value| serde_json::to_vec(&value).unwrap();
        let mut command = Command::default();
        // the work list and the delivery records counted milliseconds
        let due_ms = 1_700_000_000_123_u64;
        for (key, value) in [
            (format!("alert/{id}"), json(alert.dynamo_record())),
            (format!("pending/{id}"), due_ms.to_string().into_bytes()),
            (format!("due/{due_ms:020}/{id}"), Vec::new()),
            (format!("byrule/rule/00001700000000000001/{id}"), Vec::new()),
            (
                format!("byrule/rule/x/00001700000000000001/{}", other.alert_id),
                Vec::new(),
            ),
            (
                format!("sent/{id}/slack:sec"),
                json(serde_json::json!({"at_ms": 1, "attempts": 1, "node_id": 1})),
            ),
            (
                format!("attempt/{id}/pagerduty:sec"),
                json(serde_json::json!({
                    "attempts": 2,
                    "first_at_ms": 1_700_000_000_000_u64,
                    "next_at_ms": due_ms,
                    "last_error": "503",
                })),
            ),
            (
                format!("deadletter/output/{id}/webhook:x"),
                json(serde_json::json!({
                    "alert_id": id,
                    "rule_name": "rule",
                    "output": "webhook:x",
                    "reason": "400",
                    "attempts": 1,
                    "at_ms": 1_700_000_000_001_u64,
                })),
            ),
            (
                format!("deadletter/classify/{legacy_dead}"),
                json(serde_json::json!({
                    "received_at_ms": 1_700_000_000_123_u64,
                    "cluster": "prod",
                    "service": "kinesis",
                    "resource": "events",
                    "log_type": null,
                    "reason": "no schema",
                    "record": "{}",
                })),
            ),
        ] {
            command.ops.push(WriteOp::Put {
                keyspace: Keyspace::Alerts,
                key: key.into_bytes(),
                value,
            });
        }
        replica.write(command).await.unwrap();

        assert_eq!(store.get(id).unwrap(), Some(alert.clone()));
        assert_eq!(store.pending().unwrap(), std::slice::from_ref(id));
        assert_eq!(store.alerts_since("rule", T0, usize::MAX).unwrap(), 1);
        assert_eq!(store.alerts_since("rule", T0 + 1, usize::MAX).unwrap(), 0);
        assert_eq!(store.alerts_since("rule/x", 0, usize::MAX).unwrap(), 1);
        let delivery = store.delivery(id).unwrap();
        assert_eq!(delivery.sent["slack:sec"].at, 1_000);
        assert_eq!(
            delivery.attempts["pagerduty:sec"],
            AttemptRecord {
                attempts: 2,
                first_at: 1_700_000_000_000_000,
                next_at: 1_700_000_000_123_000,
                last_error: "503".into(),
            }
        );
        assert_eq!(delivery.dead["webhook:x"].at, 1_700_000_000_001_000);
        assert_eq!(
            store.output_dead_letters().unwrap(),
            [delivery.dead["webhook:x"].clone()]
        );
        assert_eq!(
            store.dead_letters().unwrap(),
            [(legacy_dead.to_string(), stored)]
        );

        // A due entry in ms reads as a µs time in 1970: due at once, and handling it takes the
        // alert off the work list; it is rescheduled in µs.
        let due_at = Micros::try_from(due_ms).unwrap();
        assert_eq!(store.due(due_at - 1, 10).unwrap(), []);
        assert_eq!(
            store.due(Clock::System.now(), 10).unwrap(),
            [(due_at, id.clone())]
        );
        let next = T0 + 5_000_000;
        store
            .record_outcomes(id, &[], due_at, Some(next))
            .await
            .unwrap();
        assert_eq!(store.due(next - 1, 10).unwrap(), []);
        assert_eq!(store.due(next, 10).unwrap(), [(next, id.clone())]);
        let keys = stored_keys(&replica);
        assert!(keys.contains(&format!("due/00001700000005000001/{id}")));
        assert!(!keys.iter().any(|key| key.starts_with("due/0000000")));
        assert_eq!(
            replica
                .get(Keyspace::Alerts, format!("pending/{id}").as_bytes())
                .unwrap(),
            Some(b"1700000005000001".to_vec())
        );

        store.remove_dead_letter(legacy_dead).await.unwrap();
        assert!(store.dead_letters().unwrap().is_empty());
        let error = store.remove_dead_letter("not-an-id").await.unwrap_err();
        assert!(format!("{error:#}").contains("not-an-id"), "{error:#}");
        replica.shutdown().await;
    }
}
