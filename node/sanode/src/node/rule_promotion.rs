//! Rule promotion (docs/spec §9.11): while conf/lambda.json enables `rule_promotion_config`, the
//! leader unstages every staged rule whose staging window has ended without a single alert.
//! A rule that alerted since it was staged stays staged until an operator decides
//! (`sactl rules promote`), and so does a disabled one, which could not alert.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use prometheus::IntCounter;
use sa_rules::{Clock, Micros};
use sa_state::{AlertStore, RuleStore};
use tokio_util::sync::CancellationToken;

use crate::leader::{LeaderTask, Ticks};
use crate::pipeline::Detection;

/// Promotes what is due at `now`: rules whose window ended at least `grace` ago (so the alerts
/// of batches evaluated before the end are committed). Returns the promoted rules.
pub async fn promote_due(
    rules: &RuleStore,
    alerts: &AlertStore,
    now: Micros,
    grace: Duration,
) -> anyhow::Result<Vec<String>> {
    let grace = i64::try_from(grace.as_micros()).unwrap_or(i64::MAX);
    let mut promoted = Vec::new();
    for stored in rules.table()?.rows.into_values() {
        let row = &stored.row;
        let Some((staged_at, staged_until)) = row.staged_window() else {
            continue;
        };
        if row.disabled
            || staged_until.saturating_add(grace) > now
            || alerts.alerts_since(&row.name, staged_at, 1)? > 0
        {
            continue;
        }
        // A row restaged since it was read is left for its new window.
        if rules.promote(&stored).await? {
            promoted.push(row.name.clone());
        }
    }
    Ok(promoted)
}

/// The leader's promotion pass every `interval`, while the active config enables it.
pub struct RulePromotion {
    pub detection: Arc<Detection>,
    pub rules: RuleStore,
    pub alerts: AlertStore,
    pub promoted: IntCounter,
    pub interval: Duration,
}

impl LeaderTask for RulePromotion {
    fn name(&self) -> &'static str {
        "rule promotion"
    }

    fn lead(self: Arc<Self>, term: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut ticks = Ticks::every(self.interval);
            while ticks.next(&term).await {
                if !self.detection.rule_promotion() {
                    continue;
                }
                // One interval of grace after a window ends: alerts of batches still in flight
                // then get committed first.
                let now = Clock::System.now();
                match promote_due(&self.rules, &self.alerts, now, self.interval).await {
                    Ok(promoted) => {
                        for rule in promoted {
                            self.promoted.inc();
                            tracing::info!(
                                rule,
                                "rule promoted: its staging window ended without an alert"
                            );
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "rule promotion pass failed")
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use sa_rules::{Alert, RuleTable};

    use super::*;
    use sa_state::{RuleChange, RuleRow};

    const T0: Micros = 1_700_000_000_000_000;
    const HOUR: Micros = 3_600_000_000;

    fn alert_of(rule: &str, created: Micros) -> Alert {
        sa_state::test_alert(rule, created)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_rules_whose_window_ended_without_an_alert_are_promoted() {
        let dir = tempfile::tempdir().unwrap();
        let replica = sa_state::single_node_replica(dir.path()).await;
        let rules = RuleStore::new(replica.clone());
        let alerts = AlertStore::new(replica.clone());
        let known: BTreeSet<String> = ["quiet", "noisy", "early", "gated"]
            .map(String::from)
            .into();
        let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let hour = RuleChange::Stage(Duration::from_secs(3600));
        rules
            .change(&names(&["quiet", "noisy"]), hour, &known, T0)
            .await
            .unwrap();
        rules
            .change(
                &names(&["early"]),
                RuleChange::Stage(Duration::from_secs(3 * 3600)),
                &known,
                T0,
            )
            .await
            .unwrap();
        // gated is staged, then disabled: it cannot prove itself.
        rules
            .change(&names(&["gated"]), hour, &known, T0)
            .await
            .unwrap();
        rules
            .change(&names(&["gated"]), RuleChange::Disable, &known, T0)
            .await
            .unwrap();
        // noisy alerted since it was staged (whether or not its alert was flagged staged: the
        // config may not turn staging on); quiet's only alert predates its window, and
        // quiet_x's is another rule's.
        alerts
            .commit(
                &[
                    alert_of("noisy", T0 + HOUR / 6),
                    alert_of("quiet", T0 - HOUR),
                    alert_of("quiet_x", T0 + HOUR / 6),
                ],
                &[],
            )
            .await
            .unwrap();
        assert_eq!(alerts.alerts_since("noisy", T0, usize::MAX).unwrap(), 1);
        assert_eq!(alerts.alerts_since("quiet", T0, usize::MAX).unwrap(), 0);
        assert_eq!(
            alerts.alerts_since("quiet", T0 - HOUR, usize::MAX).unwrap(),
            1
        );
        assert_eq!(
            alerts.alerts_since("quiet", T0 - HOUR, 0).unwrap(),
            0,
            "limit"
        );

        let none = Duration::ZERO;
        assert!(
            promote_due(&rules, &alerts, T0 + HOUR / 2, none)
                .await
                .unwrap()
                .is_empty(),
            "no window has ended yet"
        );
        assert!(
            promote_due(
                &rules,
                &alerts,
                T0 + 2 * HOUR,
                Duration::from_secs(2 * 3600)
            )
            .await
            .unwrap()
            .is_empty(),
            "the grace after the window has not passed yet"
        );
        assert_eq!(
            promote_due(&rules, &alerts, T0 + 2 * HOUR, none)
                .await
                .unwrap(),
            ["quiet"]
        );
        let rows = rules.rows().unwrap();
        assert!(!rows["quiet"].staged && rows["quiet"].staged_at.is_none());
        assert!(rows["noisy"].staged && rows["early"].staged && rows["gated"].staged);
        assert_eq!(
            rules.states().staged,
            ["early", "gated", "noisy"].map(String::from).into()
        );

        // A row restaged since it was read keeps its new window.
        let stale = rules.table().unwrap().rows["noisy"].clone();
        rules
            .change(&names(&["noisy"]), hour, &known, T0 + 2 * HOUR)
            .await
            .unwrap();
        assert!(!rules.promote(&stale).await.unwrap());
        assert!(rules.rows().unwrap()["noisy"].staged);

        // Disabling shows at once on the node that made the change; unknown rules are refused.
        rules
            .change(&names(&["early"]), RuleChange::Disable, &known, T0)
            .await
            .unwrap();
        assert_eq!(
            rules.states().disabled,
            ["early", "gated"].map(String::from).into()
        );
        let error = rules
            .change(&names(&["ghost"]), RuleChange::Disable, &known, T0)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "no rule named \"ghost\" in the running config or the rule table"
        );
        replica.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_first_push_stages_nothing_and_a_corrupt_row_can_be_replaced() {
        use sa_raft::{Command, Keyspace};
        use sa_state::SyncRequest;

        let dir = tempfile::tempdir().unwrap();
        let replica = sa_state::single_node_replica(dir.path()).await;
        let rules = RuleStore::new(replica.clone());
        let running: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
        let stage_new = SyncRequest {
            stage_new: true,
            ..SyncRequest::default()
        };
        let apply = |write: sa_state::SyncWrite| Command {
            conditions: write.conditions,
            ops: write.ops,
        };
        // A rule disabled before any push leaves a row, yet the first push stages nothing.
        rules
            .change(&["a".to_string()], RuleChange::Disable, &running, T0)
            .await
            .unwrap();
        let first = rules.sync_write(&running, &stage_new, T0).unwrap();
        assert!(first.staged.is_empty(), "{first:?}");
        replica.write(apply(first)).await.unwrap();
        assert!(rules.table().unwrap().synced);
        let rows = rules.rows().unwrap();
        assert!(rows["a"].disabled && !rows["b"].staged && !rows["c"].staged);

        // A row that does not decode stands as a live rule and is replaced by the next write.
        replica
            .write(Command::put(Keyspace::Rules, "rule/b", "not json"))
            .await
            .unwrap();
        assert_eq!(rules.rows().unwrap()["b"], RuleRow::new("b"));
        rules
            .change(&["b".to_string()], RuleChange::Disable, &running, T0)
            .await
            .unwrap();
        assert!(rules.rows().unwrap()["b"].disabled);

        // Once synced, a name needs a row: one only some node's running config has is refused.
        let error = rules
            .change(
                &["d".to_string()],
                RuleChange::Disable,
                &["d".to_string()].into(),
                T0,
            )
            .await
            .unwrap_err();
        assert!(error.downcast_ref::<sa_state::RuleTableRefusal>().is_some());
        replica.shutdown().await;
    }
}
