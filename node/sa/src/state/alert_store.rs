//! The alerts table in the replicated state (`alerts` keyspace): alerts, the indexes the merger
//! and dispatcher work from, per-output delivery state, and dead letters.
//!
//! | key | value | lifetime |
//! |---|---|---|
//! | `alert/{id}` | the alert's Dynamo record (docs/spec §10.3) | kept (history for `sactl alerts`) |
//! | `pending/{id}` | when it is next due (ms since the epoch, decimal) | while an output of the alert is undelivered |
//! | `due/{ms, 20 digits}/{id}` | empty | the same, ordered by time: the dispatcher reads only what is due |
//! | `merge/{rule}/{created µs, 20 digits}/{id}` | empty | while a merge-enabled alert waits for its group to close |
//! | `merged/{id}` | id of the merged alert | kept |
//! | `sent/{id}/{output}` | [`SentRecord`] | kept: an output with this key is never sent the alert again |
//! | `attempt/{id}/{output}` | [`AttemptRecord`] | while an output is being retried |
//! | `deadletter/output/{id}/{output}` | [`OutputDeadLetter`] | until replayed |
//! | `deadletter/classify/{ms}-{node}-{seq}` | [`StoredDeadLetter`] | until replayed |
//! | `window/{rule}/{merge values digest}` | [`Marker`] | a `merge_send_first` window: its first alert went out at once |
//! | `sendfirst/{id}` | empty | that first alert: delivered to every output, not merged |
//! | `dedup/{rule}/{dedup values digest}` | [`Marker`] | a `dedup_keys` window: later alerts with these values are dropped |
//! | `suppressed/{id}` | reason | a merge group below its rule's `merge_threshold` |
//! | `byrule/{rule}/{created µs, 20 digits}/{id}` | empty | as long as the alert: what rule promotion counts (docs/spec §9.11) |
//!
//! An alert is inserted with `IfAbsent` on its key, so a replayed record (same source position,
//! same alert id) neither duplicates the alert nor re-opens its delivery.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use sa_engine::DeadLetter;
use sa_raft::{Command, CommandResult, Condition, Keyspace, Replica, WriteOp};
use sa_rules::{Alert, FIREHOSE_OUTPUT, Micros};
use serde::{Deserialize, Serialize};

/// Distinguishes the dead letters this process stores within one millisecond (concurrent
/// batches would otherwise collide on the same key and fail each other's commit).
static DEAD_LETTER_SEQUENCE: AtomicU64 = AtomicU64::new(0);

const ALERT: &str = "alert/";
const PENDING: &str = "pending/";
const DUE: &str = "due/";
const MERGE: &str = "merge/";
const MERGED: &str = "merged/";
const SENT: &str = "sent/";
const ATTEMPT: &str = "attempt/";
const OUTPUT_DEAD_LETTER: &str = "deadletter/output/";
const CLASSIFY_DEAD_LETTER: &str = "deadletter/classify/";
const WINDOW: &str = "window/";
const SEND_FIRST: &str = "sendfirst/";
const DEDUP: &str = "dedup/";
const SUPPRESSED: &str = "suppressed/";
const BY_RULE: &str = "byrule/";

/// A dedup window without a merge window to borrow from lasts this many minutes.
const DEFAULT_DEDUP_WINDOW_MINS: u64 = 60;

/// An open `merge_send_first` or dedup window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Marker {
    expires_us: Micros,
    first_alert_id: String,
}

fn key(parts: &[&str]) -> Vec<u8> {
    parts.concat().into_bytes()
}

fn merge_key(alert: &Alert) -> Vec<u8> {
    format!(
        "{MERGE}{}/{:020}/{}",
        alert.rule_name,
        alert.created.max(0),
        alert.alert_id
    )
    .into_bytes()
}

fn by_rule_key(alert: &Alert) -> Vec<u8> {
    format!(
        "{BY_RULE}{}/{:020}/{}",
        alert.rule_name,
        alert.created.max(0),
        alert.alert_id
    )
    .into_bytes()
}

fn due_key(at_ms: u64, alert_id: &str) -> Vec<u8> {
    format!("{DUE}{at_ms:020}/{alert_id}").into_bytes()
}

/// Puts the alert in the dispatcher's work list, due at `at_ms`.
fn schedule_ops(alert_id: &str, at_ms: u64) -> [WriteOp; 2] {
    [
        WriteOp::Put {
            keyspace: Keyspace::Alerts,
            key: key(&[PENDING, alert_id]),
            value: at_ms.to_string().into_bytes(),
        },
        WriteOp::Put {
            keyspace: Keyspace::Alerts,
            key: due_key(at_ms, alert_id),
            value: Vec::new(),
        },
    ]
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// A record the classifier could not place, kept with its reason until an operator replays it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDeadLetter {
    pub received_at_ms: u64,
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
pub struct SentRecord {
    pub at_ms: u64,
    pub attempts: u32,
    pub node_id: u64,
}

/// An output still being retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempts: u32,
    pub first_at_ms: u64,
    pub next_at_ms: u64,
    pub last_error: String,
}

/// An alert an output never accepted, kept until an operator replays it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputDeadLetter {
    pub alert_id: String,
    pub rule_name: String,
    pub output: String,
    pub reason: String,
    pub attempts: u32,
    pub at_ms: u64,
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
    /// the window keys claimed earlier in the batch (the state machine checks conditions
    /// against the stored state, not against the batch being applied).
    fn insert_op(
        &self,
        alert: &Alert,
        claimed: &mut HashSet<Vec<u8>>,
    ) -> anyhow::Result<Option<WriteOp>> {
        let mut ops = Self::plain_insert_ops(alert)?;
        if alert.merge_enabled() && alert.policy.send_first {
            let window = format!(
                "{WINDOW}{}/{}",
                alert.rule_name,
                crate::alerts::merge::values_digest(&alert.record, &alert.merge_by_keys)
            )
            .into_bytes();
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
                            key: key(&[SEND_FIRST, &alert.alert_id]),
                            value: Vec::new(),
                        },
                    ]
                    .into_iter()
                    .chain(schedule_ops(&alert.alert_id, 0))
                    .collect(),
                });
            }
        }
        let insert = WriteOp::IfAbsent {
            keyspace: Keyspace::Alerts,
            key: key(&[ALERT, &alert.alert_id]),
            ops,
        };
        if alert.policy.dedup_keys.is_empty() {
            return Ok(Some(insert));
        }
        let dedup = format!(
            "{DEDUP}{}/{}",
            alert.rule_name,
            crate::alerts::merge::values_digest(&alert.record, &alert.policy.dedup_keys)
        )
        .into_bytes();
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
            key: key(&[ALERT, &alert.alert_id]),
            value: serde_json::to_vec(&alert.dynamo_record())?,
        }];
        if !deliverable_outputs(alert).is_empty() {
            ops.extend(schedule_ops(&alert.alert_id, 0));
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

    /// Commits a batch's alerts and dead letters in one replicated write; returns once it is
    /// committed by a quorum, with the indices of the alerts that were new (an alert already
    /// stored under the same id, from an earlier delivery of the same record, is left alone; an
    /// alert inside its rule's dedup window is dropped).
    pub async fn commit(
        &self,
        alerts: &[Alert],
        dead_letters: &[DeadLetter],
    ) -> anyhow::Result<Vec<usize>> {
        if alerts.is_empty() && dead_letters.is_empty() {
            return Ok(Vec::new());
        }
        let now_ms = now_ms();
        let mut command = Command::default();
        let mut claimed = HashSet::new();
        // Which alert each of the command's first ops stores.
        let mut op_alerts = Vec::new();
        for (index, alert) in alerts.iter().enumerate() {
            if let Some(op) = self.insert_op(alert, &mut claimed)? {
                command.ops.push(op);
                op_alerts.push(index);
            }
        }
        for dead in dead_letters {
            let stored = StoredDeadLetter {
                received_at_ms: now_ms,
                cluster: dead.cluster.clone(),
                service: dead.service.clone(),
                resource: dead.resource.clone(),
                log_type: dead.log_type.clone(),
                reason: dead.reason(),
                record: dead.record.clone(),
                origin: dead.origin.clone(),
            };
            let sequence = DEAD_LETTER_SEQUENCE.fetch_add(1, Ordering::Relaxed);
            let key = format!(
                "{CLASSIFY_DEAD_LETTER}{now_ms:020}-{}-{sequence:012}",
                self.replica.node_id()
            )
            .into_bytes();
            command.conditions.push(Condition::Absent {
                keyspace: Keyspace::Alerts,
                key: key.clone(),
            });
            command.ops.push(WriteOp::Put {
                keyspace: Keyspace::Alerts,
                key,
                value: serde_json::to_vec(&stored)?,
            });
        }
        fail::fail_point!("alert_store::before_commit", |_| bail!(
            "failpoint alert_store::before_commit"
        ));
        let skipped: BTreeSet<usize> = match self.replica.write(command).await? {
            CommandResult::Applied | CommandResult::NoOp => BTreeSet::new(),
            CommandResult::AppliedExcept { skipped } => skipped.into_iter().collect(),
            other => bail!("alert commit not applied: {other:?}"),
        };
        Ok(op_alerts
            .into_iter()
            .enumerate()
            .filter(|(op, _)| !skipped.contains(op))
            .map(|(_, alert)| alert)
            .collect())
    }

    /// How many stored alerts of `rule` were created at or after `since`, counting up to
    /// `limit` (what rule promotion counts, docs/spec §9.11; it only needs to know whether there is one).
    /// Alerts purged by the retention no longer count. The scan starts at `since`.
    pub fn alerts_since(&self, rule: &str, since: Micros, limit: usize) -> anyhow::Result<usize> {
        let prefix = format!("{BY_RULE}{rule}/");
        let from = format!("{prefix}{:020}/", since.max(0));
        Ok(self
            .replica
            .scan_prefix_from(Keyspace::Alerts, prefix.as_bytes(), from.as_bytes(), limit)?
            .into_iter()
            .filter(|(key, _)| {
                // `<created, 20 digits>/<id>`: anything else belongs to a rule whose name
                // extends this one past a `/`.
                let rest = &key[prefix.len()..];
                rest.len() > 21 && rest[20] == b'/' && rest[..20].iter().all(u8::is_ascii_digit)
            })
            .count())
    }

    pub fn get(&self, alert_id: &str) -> anyhow::Result<Option<Alert>> {
        self.replica
            .get(Keyspace::Alerts, &key(&[ALERT, alert_id]))?
            .map(|value| decode_alert(&value))
            .transpose()
    }

    /// Every stored alert, oldest first.
    pub fn alerts(&self) -> anyhow::Result<Vec<Alert>> {
        let mut alerts = self
            .replica
            .scan_prefix(Keyspace::Alerts, ALERT.as_bytes())?
            .into_iter()
            .map(|(_, value)| decode_alert(&value))
            .collect::<anyhow::Result<Vec<_>>>()?;
        alerts.sort_by(|a, b| (a.created, &a.alert_id).cmp(&(b.created, &b.alert_id)));
        Ok(alerts)
    }

    /// Ids of the alerts with an undelivered output.
    pub fn pending(&self) -> anyhow::Result<Vec<String>> {
        self.suffixes(PENDING)
    }

    fn suffixes(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .replica
            .scan_prefix(Keyspace::Alerts, prefix.as_bytes())?
            .into_iter()
            .map(|(key, _)| String::from_utf8_lossy(&key[prefix.len()..]).into_owned())
            .collect())
    }

    /// Per-output state of one alert.
    pub fn delivery(&self, alert_id: &str) -> anyhow::Result<DeliveryState> {
        fn by_output<T: serde::de::DeserializeOwned>(
            replica: &Replica,
            prefix: String,
        ) -> anyhow::Result<BTreeMap<String, T>> {
            replica
                .scan_prefix(Keyspace::Alerts, prefix.as_bytes())?
                .into_iter()
                .map(|(key, value)| {
                    let output = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
                    Ok((output, serde_json::from_slice(&value)?))
                })
                .collect()
        }
        Ok(DeliveryState {
            send_first: self
                .replica
                .get(Keyspace::Alerts, &key(&[SEND_FIRST, alert_id]))?
                .is_some(),
            sent: by_output(&self.replica, format!("{SENT}{alert_id}/"))?,
            attempts: by_output(&self.replica, format!("{ATTEMPT}{alert_id}/"))?,
            dead: by_output(&self.replica, format!("{OUTPUT_DEAD_LETTER}{alert_id}/"))?,
        })
    }

    /// The id of the alert that `alert_id` was merged into, if it was.
    pub fn merged_into(&self, alert_id: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .replica
            .get(Keyspace::Alerts, &key(&[MERGED, alert_id]))?
            .map(|value| String::from_utf8_lossy(&value).into_owned()))
    }

    /// Merge-enabled alerts waiting for their group, per rule, oldest first.
    pub fn merge_candidates(&self) -> anyhow::Result<BTreeMap<String, Vec<Alert>>> {
        let mut by_rule: BTreeMap<String, Vec<Alert>> = BTreeMap::new();
        for (index_key, _) in self
            .replica
            .scan_prefix(Keyspace::Alerts, MERGE.as_bytes())?
        {
            let text = String::from_utf8_lossy(&index_key[MERGE.len()..]).into_owned();
            let Some(alert_id) = text.rsplit('/').next() else {
                continue;
            };
            match self.get(alert_id)? {
                Some(alert) => by_rule
                    .entry(alert.rule_name.clone())
                    .or_default()
                    .push(alert),
                None => tracing::warn!(%text, "merge index entry without its alert"),
            }
        }
        Ok(by_rule)
    }

    /// Replaces `members` (still waiting, as this replica saw them) by `merged` in one write.
    /// Returns false when another merger got there first (a member is no longer waiting).
    pub async fn commit_merge(&self, members: &[Alert], merged: &Alert) -> anyhow::Result<bool> {
        let insert = WriteOp::IfAbsent {
            keyspace: Keyspace::Alerts,
            key: key(&[ALERT, &merged.alert_id]),
            ops: Self::plain_insert_ops(merged)?,
        };
        fail::fail_point!("alert_store::before_merge", |_| bail!(
            "failpoint alert_store::before_merge"
        ));
        self.close_group(members, Some(insert), MERGED, merged.alert_id.as_bytes())
            .await
    }

    /// Closes a group without a merged alert (below its rule's `merge_threshold`). Returns false
    /// when another merger got there first.
    pub async fn commit_suppressed(&self, members: &[Alert], reason: &str) -> anyhow::Result<bool> {
        self.close_group(members, None, SUPPRESSED, reason.as_bytes())
            .await
    }

    /// One write that takes every member out of the merge index, if all are still in it, and
    /// marks each under `mark/{id}` with `value`, plus `first` ops.
    async fn close_group(
        &self,
        members: &[Alert],
        first: impl IntoIterator<Item = WriteOp>,
        mark: &str,
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
                key: key(&[mark, &member.alert_id]),
                value: value.to_vec(),
            });
        }
        match self.replica.write(command).await? {
            CommandResult::Applied | CommandResult::AppliedExcept { .. } => Ok(true),
            CommandResult::ConditionFailed { .. } => Ok(false),
            CommandResult::NoOp => bail!("the state machine ignored the group's closing"),
        }
    }

    pub fn suppressed(&self, alert_id: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .replica
            .get(Keyspace::Alerts, &key(&[SUPPRESSED, alert_id]))?
            .map(|value| String::from_utf8_lossy(&value).into_owned()))
    }

    /// Closes the send-first and dedup windows that ended before `now`; returns how many.
    pub async fn expire_windows(&self, now: Micros) -> anyhow::Result<usize> {
        let mut command = Command::default();
        for prefix in [WINDOW, DEDUP] {
            for (marker_key, value) in self
                .replica
                .scan_prefix(Keyspace::Alerts, prefix.as_bytes())?
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

    /// Pending alerts due at or before `now_ms`, earliest first, at most `limit`: `(due at,
    /// alert id)`. Alerts due later are not read at all.
    pub fn due(&self, now_ms: u64, limit: usize) -> anyhow::Result<Vec<(u64, String)>> {
        let below = format!("{DUE}{:020}", now_ms.saturating_add(1));
        self.replica
            .scan_prefix_below(Keyspace::Alerts, DUE.as_bytes(), below.as_bytes(), limit)?
            .into_iter()
            .map(|(due, _)| {
                let text = String::from_utf8_lossy(&due[DUE.len()..]).into_owned();
                let (at, id) = text
                    .split_once('/')
                    .with_context(|| format!("malformed due key {text}"))?;
                Ok((at.parse()?, id.to_string()))
            })
            .collect()
    }

    /// Takes the alert off the work list, wherever it is scheduled (also at `also_at`, the
    /// entry being handled, in case the two disagree).
    fn unschedule_ops(&self, alert_id: &str, also_at: Option<u64>) -> anyhow::Result<Vec<WriteOp>> {
        let scheduled = self
            .replica
            .get(Keyspace::Alerts, &key(&[PENDING, alert_id]))?
            .and_then(|at| String::from_utf8_lossy(&at).parse::<u64>().ok());
        let mut ops = vec![WriteOp::Delete {
            keyspace: Keyspace::Alerts,
            key: key(&[PENDING, alert_id]),
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
        handled_at: u64,
        next_due: Option<u64>,
    ) -> anyhow::Result<()> {
        let mut command = Command::default();
        for (output, outcome) in outcomes {
            let attempt_key = key(&[ATTEMPT, alert_id, "/", output]);
            match outcome {
                OutputOutcome::Sent(sent) => {
                    command.ops.push(WriteOp::Put {
                        keyspace: Keyspace::Alerts,
                        key: key(&[SENT, alert_id, "/", output]),
                        value: serde_json::to_vec(sent)?,
                    });
                    command.ops.push(WriteOp::Delete {
                        keyspace: Keyspace::Alerts,
                        key: attempt_key,
                    });
                }
                OutputOutcome::Retry(attempt) => command.ops.push(WriteOp::Put {
                    keyspace: Keyspace::Alerts,
                    key: attempt_key,
                    value: serde_json::to_vec(attempt)?,
                }),
                OutputOutcome::Dead(dead) => {
                    command.ops.push(WriteOp::Put {
                        keyspace: Keyspace::Alerts,
                        key: key(&[OUTPUT_DEAD_LETTER, alert_id, "/", output]),
                        value: serde_json::to_vec(dead)?,
                    });
                    command.ops.push(WriteOp::Delete {
                        keyspace: Keyspace::Alerts,
                        key: attempt_key,
                    });
                }
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
            .scan_prefix(Keyspace::Alerts, OUTPUT_DEAD_LETTER.as_bytes())?
            .into_iter()
            .map(|(_, value)| Ok(serde_json::from_slice(&value)?))
            .collect::<anyhow::Result<_>>()?;
        dead.sort_by_key(|d| d.at_ms);
        Ok(dead)
    }

    /// Puts a dead-lettered (alert, output) back in the dispatcher's hands, with fresh attempts.
    /// Returns false when there is no such dead letter.
    pub async fn replay_output_dead_letter(
        &self,
        alert_id: &str,
        output: &str,
    ) -> anyhow::Result<bool> {
        let dead_key = key(&[OUTPUT_DEAD_LETTER, alert_id, "/", output]);
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
            for prefix in [SENT, ATTEMPT, OUTPUT_DEAD_LETTER] {
                command.ops.push(WriteOp::Delete {
                    keyspace: Keyspace::Alerts,
                    key: key(&[prefix, alert_id, "/", output]),
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
    pub async fn purge_finished(&self, cutoff: Micros, limit: usize) -> anyhow::Result<usize> {
        let pending: HashSet<String> = self.pending()?.into_iter().collect();
        let mut command = Command::default();
        let mut purged = 0;
        for alert in self.alerts()? {
            if purged == limit || alert.created >= cutoff {
                break;
            }
            let id = &alert.alert_id;
            let waiting = self
                .replica
                .get(Keyspace::Alerts, &merge_key(&alert))?
                .is_some();
            if pending.contains(id) || waiting || !self.delivery(id)?.dead.is_empty() {
                continue;
            }
            command.ops.push(WriteOp::Delete {
                keyspace: Keyspace::Alerts,
                key: key(&[ALERT, id]),
            });
            for prefix in [MERGED, SEND_FIRST, SUPPRESSED] {
                command.ops.push(WriteOp::Delete {
                    keyspace: Keyspace::Alerts,
                    key: key(&[prefix, id]),
                });
            }
            command.ops.push(WriteOp::Delete {
                keyspace: Keyspace::Alerts,
                key: by_rule_key(&alert),
            });
            for prefix in [SENT, ATTEMPT] {
                command.ops.push(WriteOp::DeletePrefix {
                    keyspace: Keyspace::Alerts,
                    prefix: key(&[prefix, id, "/"]),
                });
            }
            purged += 1;
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

    /// Records no schema matched, oldest first, each with the key that names it.
    pub fn dead_letters(&self) -> anyhow::Result<Vec<(String, StoredDeadLetter)>> {
        self.replica
            .scan_prefix(Keyspace::Alerts, CLASSIFY_DEAD_LETTER.as_bytes())?
            .into_iter()
            .map(|(key, value)| {
                let id = String::from_utf8_lossy(&key[CLASSIFY_DEAD_LETTER.len()..]).into_owned();
                Ok((id, serde_json::from_slice(&value)?))
            })
            .collect()
    }

    /// Forgets a record's dead letter once it went through the pipeline again (where it was
    /// classified, or dead-lettered anew with today's reason).
    pub async fn remove_dead_letter(&self, id: &str) -> anyhow::Result<()> {
        let command = Command::default().and(WriteOp::Delete {
            keyspace: Keyspace::Alerts,
            key: key(&[CLASSIFY_DEAD_LETTER, id]),
        });
        self.write(command, "dead letter removal").await
    }

    async fn write(&self, command: Command, what: &str) -> anyhow::Result<()> {
        match self.replica.write(command).await? {
            CommandResult::Applied | CommandResult::NoOp => Ok(()),
            other => bail!("{what} not applied: {other:?}"),
        }
    }
}

fn decode_alert(value: &[u8]) -> anyhow::Result<Alert> {
    let item: serde_json::Value = serde_json::from_slice(value)?;
    Alert::from_dynamo_record(&item).map_err(|e| anyhow::anyhow!("stored alert: {e}"))
}
