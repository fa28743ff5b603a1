//! Alerts and dead letters in the `alerts` keyspace. An alert is stored under its id with an
//! "absent" condition, so a replayed batch never creates a second copy of the same alert.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::bail;
use sa_engine::DeadLetter;
use sa_raft::{Command, CommandResult, Condition, Keyspace, Replica, WriteOp};
use sa_rules::Alert;
use serde::{Deserialize, Serialize};

/// Distinguishes the dead letters this process stores within one millisecond (concurrent
/// batches would otherwise collide on the same key and fail each other's commit).
static DEAD_LETTER_SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn alert_key(alert_id: &str) -> Vec<u8> {
    format!("alert/{alert_id}").into_bytes()
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
}

#[derive(Clone)]
pub struct AlertStore {
    replica: Replica,
}

impl AlertStore {
    pub fn new(replica: Replica) -> Self {
        AlertStore { replica }
    }

    /// Commits a batch's alerts and dead letters in one replicated write; returns once it is
    /// committed by a quorum, with the indices of the alerts that were new (an alert already
    /// stored under the same id is left as it is).
    pub async fn commit(
        &self,
        alerts: &[Alert],
        dead_letters: &[DeadLetter],
    ) -> anyhow::Result<Vec<usize>> {
        if alerts.is_empty() && dead_letters.is_empty() {
            return Ok(Vec::new());
        }
        let mut new_alerts = Vec::new();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let mut command = Command::default();
        for (index, alert) in alerts.iter().enumerate() {
            let key = alert_key(&alert.alert_id);
            if self.replica.get(Keyspace::Alerts, &key)?.is_some() {
                continue;
            }
            new_alerts.push(index);
            command.ops.push(WriteOp::Put {
                keyspace: Keyspace::Alerts,
                key,
                value: serde_json::to_vec(&alert.dynamo_record())?,
            });
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
            };
            let sequence = DEAD_LETTER_SEQUENCE.fetch_add(1, Ordering::Relaxed);
            let key = format!(
                "deadletter/classify/{now_ms:020}-{}-{sequence:012}",
                self.replica.node_id()
            );
            let key = key.into_bytes();
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
        match self.replica.write(command).await? {
            CommandResult::Applied | CommandResult::NoOp => Ok(new_alerts),
            other => bail!("alert commit not applied: {other:?}"),
        }
    }

    /// Every stored alert, as its DynamoDB-style record (newest last by id order).
    pub fn alerts(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        self.replica
            .scan_prefix(Keyspace::Alerts, b"alert/")?
            .into_iter()
            .map(|(_, value)| Ok(serde_json::from_slice(&value)?))
            .collect()
    }

    pub fn dead_letters(&self) -> anyhow::Result<Vec<StoredDeadLetter>> {
        self.replica
            .scan_prefix(Keyspace::Alerts, b"deadletter/")?
            .into_iter()
            .map(|(_, value)| Ok(serde_json::from_slice(&value)?))
            .collect()
    }
}
