//! The merger: on the Raft leader, closes merge groups whose window has elapsed (docs/spec §11.2) and
//! commits each group as one merged alert. Group state is the `merge/` index in the replicated
//! state, so a window open when a leader dies is closed by the next one; the commit is
//! conditional on every member still waiting, so a group is merged exactly once.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use sa_rules::{Clock, Micros, alert_id_for};

use super::metrics::AlertMetrics;
use crate::leader::{LeaderTask, Ticks};
use sa_rules::alert_merge::{closed_groups, merge};
use sa_state::AlertStore;

#[derive(Debug, Clone, Copy)]
pub struct MergerSettings {
    /// How often the leader looks for closed windows (StreamAlert: once a minute).
    pub interval: Duration,
    /// The length of a merge-window minute: 60 s, shorter only in tests.
    pub minute: Duration,
}

impl MergerSettings {
    fn minute_micros(&self) -> Micros {
        i64::try_from(self.minute.as_micros()).unwrap_or(i64::MAX)
    }
}

/// The merged alert's id: derived from its first member, so every merger computing the same
/// group names it the same.
pub fn merged_alert_id(rule_name: &str, first_member_id: &str) -> String {
    alert_id_for(rule_name, &format!("merge/{first_member_id}"))
}

/// What one merger pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MergePass {
    /// Groups that became a merged alert.
    pub merged: usize,
    /// Groups below their rule's `merge_threshold`, closed without an alert.
    pub suppressed: usize,
    /// Send-first and dedup windows that ended.
    pub windows_expired: usize,
}

/// One pass over every rule's waiting alerts at time `now`.
pub async fn merge_once(
    store: &AlertStore,
    now: Micros,
    settings: &MergerSettings,
    metrics: Option<&AlertMetrics>,
) -> anyhow::Result<MergePass> {
    let mut pass = MergePass::default();
    for (rule_name, candidates) in store.merge_candidates()? {
        for group in closed_groups(&candidates, now, settings.minute_micros()) {
            let members: Vec<_> = group.iter().map(|&i| candidates[i].clone()).collect();
            let threshold = members[0].policy.threshold.max(1) as usize;
            if members.len() < threshold {
                let reason = format!(
                    "{} alerts in the merge window, below the rule's merge_threshold of {threshold}",
                    members.len()
                );
                if store.commit_suppressed(&members, &reason).await? {
                    pass.suppressed += 1;
                    tracing::info!(rule = %rule_name, count = members.len(), threshold, "merge group below threshold; no alert");
                }
                continue;
            }
            let merged = merge(
                &members,
                merged_alert_id(&rule_name, &members[0].alert_id),
                now,
            );
            if store.commit_merge(&members, &merged).await? {
                pass.merged += 1;
                if let Some(metrics) = metrics {
                    metrics.merged_groups_total.inc();
                    metrics.merged_alerts_total.inc_by(members.len() as u64);
                }
                tracing::info!(
                    rule = %rule_name,
                    merged_alert = %merged.alert_id,
                    count = members.len(),
                    "merged alerts"
                );
            }
        }
    }
    pass.windows_expired = store.expire_windows(now).await?;
    Ok(pass)
}

/// The leader's merger: a merge pass every interval.
pub struct Merger {
    pub store: AlertStore,
    pub settings: MergerSettings,
    pub metrics: AlertMetrics,
}

impl LeaderTask for Merger {
    fn name(&self) -> &'static str {
        "merger"
    }

    fn lead(self: Arc<Self>, term: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut ticks = Ticks::every(self.settings.interval);
            while ticks.next(&term).await {
                let now = Clock::System.now();
                if let Err(e) =
                    merge_once(&self.store, now, &self.settings, Some(&self.metrics)).await
                {
                    tracing::warn!(error = %format!("{e:#}"), "merge pass failed; retrying next tick");
                }
            }
        })
    }
}
