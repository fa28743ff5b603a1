//! The audit trail (`audit` keyspace): who changed what, when, from where, and how it went.
//! The node commits an entry in the same Raft command as the change it describes (sa-raft's
//! rider), so an entry exists exactly when its change applied; refusals and failures get an
//! entry of their own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sa_raft::{Command, CommandResult, Keyspace, Replica, WriteOp};
use sa_rules::Micros;
use serde::{Deserialize, Serialize};

use crate::keys::audit::{AuditKey, ENTRY_PREFIX};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// A certificate's subject or `token ID`; `anonymous` without either.
    pub who: String,
    pub role: String,
    /// The caller's address.
    pub from: String,
    /// What was called, e.g. `outputs set` (see the node's table of audited methods).
    pub action: String,
    /// The arguments that matter, never secret values.
    pub summary: String,
    /// `ok`, or why the call failed or was refused.
    pub result: String,
    pub at: Micros,
    /// The member that took the call.
    pub node: u64,
}

#[derive(Clone)]
pub struct AuditLog {
    replica: Replica,
    seq: Arc<AtomicU64>,
}

/// At most this many entries per listing.
pub const MAX_LISTED: usize = 10_000;

impl AuditLog {
    pub fn new(replica: Replica) -> Self {
        AuditLog {
            replica,
            seq: Arc::default(),
        }
    }

    /// A key no other entry has: one per call, so writing its entry again (a write whose
    /// answer was lost is sent twice) overwrites it rather than adding a second.
    pub fn key(&self, entry: &AuditEntry) -> AuditKey {
        AuditKey {
            at: entry.at,
            node: entry.node,
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The op that stores `entry` under `key`.
    pub fn op(key: &AuditKey, entry: &AuditEntry) -> WriteOp {
        WriteOp::Put {
            keyspace: Keyspace::Audit,
            key: key.encode(),
            value: serde_json::to_vec(entry).expect("an audit entry serializes"),
        }
    }

    /// Stores `entry` on its own (a call that changed nothing, or not through a command).
    pub async fn append(&self, key: &AuditKey, entry: &AuditEntry) -> anyhow::Result<()> {
        let command = Command {
            conditions: Vec::new(),
            ops: vec![AuditLog::op(key, entry)],
        };
        match self.replica.write(command).await? {
            CommandResult::Applied => Ok(()),
            other => anyhow::bail!("audit entry not stored: {other:?}"),
        }
    }

    /// Deletes up to `at_most` of the oldest entries recorded before `cutoff`, in one write;
    /// how many.
    pub async fn purge_before(&self, cutoff: Micros, at_most: usize) -> anyhow::Result<usize> {
        let old = self.replica.scan_prefix_below(
            Keyspace::Audit,
            ENTRY_PREFIX,
            &AuditKey::first_at(cutoff),
            at_most,
        )?;
        if old.is_empty() {
            return Ok(0);
        }
        let purged = old.len();
        let ops = old
            .into_iter()
            .map(|(key, _)| WriteOp::Delete {
                keyspace: Keyspace::Audit,
                key,
            })
            .collect();
        self.replica
            .write(Command {
                conditions: Vec::new(),
                ops,
            })
            .await?;
        Ok(purged)
    }

    /// Entries at or after `since`, oldest first, of `who` only when given: the newest
    /// [`MAX_LISTED`] when there are more. Read a page at a time, holding at most that many.
    pub fn list(&self, since: Micros, who: Option<&str>) -> anyhow::Result<Vec<AuditEntry>> {
        self.newest(since, who, MAX_LISTED)
    }

    fn newest(
        &self,
        since: Micros,
        who: Option<&str>,
        at_most: usize,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        let mut kept = std::collections::VecDeque::with_capacity(at_most.min(LIST_PAGE));
        let mut from = AuditKey::first_at(since);
        loop {
            let page =
                self.replica
                    .scan_prefix_from(Keyspace::Audit, ENTRY_PREFIX, &from, LIST_PAGE)?;
            let Some((last, _)) = page.last() else { break };
            // The next page starts just after this one's last key.
            from = last.clone();
            from.push(0);
            let full = page.len() == LIST_PAGE;
            for (key, value) in page {
                AuditKey::decode(&key)?;
                let entry: AuditEntry = serde_json::from_slice(&value)?;
                if who.is_none_or(|who| entry.who == who) {
                    if kept.len() == at_most {
                        kept.pop_front();
                    }
                    kept.push_back(entry);
                }
            }
            if !full {
                break;
            }
        }
        Ok(kept.into())
    }
}

/// Entries read from the state at a time by [`AuditLog::list`].
const LIST_PAGE: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(who: &str, at: Micros) -> AuditEntry {
        AuditEntry {
            who: who.into(),
            role: "admin".into(),
            from: "127.0.0.1:5000".into(),
            action: "outputs set".into(),
            summary: "webhook:soc (url)".into(),
            result: "ok".into(),
            at,
            node: 1,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_entry_rides_with_the_change_it_describes_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(&dir.path().join("state")).await;
        let log = AuditLog::new(replica.clone());
        let change = || Command::put(Keyspace::Config, b"k".to_vec(), b"v".to_vec());

        let alice = entry("alice", 10);
        let rider = AuditLog::op(&log.key(&alice), &alice);
        let ((), applied) = sa_raft::with_rider(move || vec![rider.clone()], async {
            replica.write(change()).await.unwrap();
            // A second write in the same call carries no second entry.
            replica.write(change()).await.unwrap();
        })
        .await;
        assert!(applied);

        // A change whose condition fails takes its entry down with it.
        let refused = change().with_condition(sa_raft::Condition::Absent {
            keyspace: Keyspace::Config,
            key: b"k".to_vec(),
        });
        let bob = entry("bob", 20);
        let rider = AuditLog::op(&log.key(&bob), &bob);
        let (_, applied) = sa_raft::with_rider(move || vec![rider.clone()], async {
            replica.write(refused).await.unwrap()
        })
        .await;
        assert!(!applied);
        let refused = AuditEntry {
            result: "refused".into(),
            ..entry("bob", 30)
        };
        log.append(&log.key(&refused), &refused).await.unwrap();

        let all = log.list(0, None).unwrap();
        let who: Vec<(&str, &str)> = all
            .iter()
            .map(|e| (e.who.as_str(), e.result.as_str()))
            .collect();
        assert_eq!(who, [("alice", "ok"), ("bob", "refused")]);
        assert_eq!(log.list(15, None).unwrap().len(), 1, "since");
        assert_eq!(log.list(0, Some("alice")).unwrap().len(), 1, "who");
        replica.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purging_deletes_the_oldest_entries_before_the_cutoff_only() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(&dir.path().join("state")).await;
        let log = AuditLog::new(replica.clone());
        for at in [10, 20, 30, 40] {
            let e = entry("alice", at);
            log.append(&log.key(&e), &e).await.unwrap();
        }
        assert_eq!(log.purge_before(35, 2).await.unwrap(), 2, "at most two");
        let left: Vec<Micros> = log.list(0, None).unwrap().iter().map(|e| e.at).collect();
        assert_eq!(left, [30, 40], "the oldest went first");
        assert_eq!(log.purge_before(35, 2).await.unwrap(), 1);
        assert_eq!(log.purge_before(35, 2).await.unwrap(), 0);
        assert_eq!(
            log.list(0, None).unwrap().len(),
            1,
            "an entry at or after the cutoff stays"
        );
        replica.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listings_page_through_the_trail_and_keep_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(&dir.path().join("state")).await;
        let log = AuditLog::new(replica.clone());
        let total = LIST_PAGE * 2 + 7;
        let ops = (0..total)
            .map(|i| {
                let e = entry(if i % 2 == 0 { "alice" } else { "bob" }, i as Micros);
                AuditLog::op(&log.key(&e), &e)
            })
            .collect();
        replica
            .write(Command {
                conditions: Vec::new(),
                ops,
            })
            .await
            .unwrap();
        let all = log.list(0, None).unwrap();
        assert_eq!(all.len(), total, "every page read");
        assert!(
            all.windows(2).all(|pair| pair[0].at < pair[1].at),
            "oldest first"
        );
        let newest = log.newest(0, Some("bob"), 10).unwrap();
        let ats: Vec<Micros> = newest.iter().map(|e| e.at).collect();
        let bobs: Vec<Micros> = (0..total as Micros).filter(|i| i % 2 == 1).collect();
        let expected = bobs[bobs.len() - 10..].to_vec();
        assert_eq!(ats, expected, "the newest of bob's, in order");
        replica.shutdown().await;
    }
}
