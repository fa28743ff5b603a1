//! Rule promotion (compat §9.11): while conf/lambda.json enables `rule_promotion_config`, the
//! leader unstages every staged rule whose staging window has ended without a single alert.
//! A rule that alerted while staged stays staged until an operator decides
//! (`sactl rules promote`).

use std::sync::Arc;
use std::time::Duration;

use sa_rules::{Clock, Micros};

use super::NodeContext;
use crate::state::{AlertStore, RuleStore};

/// Promotes what is due at `now`; returns the promoted rules.
pub async fn promote_due(
    rules: &RuleStore,
    alerts: &AlertStore,
    now: Micros,
) -> anyhow::Result<Vec<String>> {
    let mut promoted = Vec::new();
    for row in rules.rows()?.into_values() {
        let Some((staged_at, staged_until)) = row.staged_window() else {
            continue;
        };
        if staged_until > now || alerts.staged_alerts(&row.name, staged_at)? > 0 {
            continue;
        }
        // A row restaged since it was read is left for its new window.
        if rules.promote(&row).await? {
            promoted.push(row.name);
        }
    }
    Ok(promoted)
}

pub async fn run(node: Arc<NodeContext>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !node.replica.is_leader() || !node.detection.rule_promotion() {
            continue;
        }
        match promote_due(&node.rules, &node.alerts, Clock::System.now()).await {
            Ok(promoted) => {
                for rule in promoted {
                    node.metrics.rules_promoted_total.inc();
                    tracing::info!(
                        rule,
                        "rule promoted: its staging window ended without an alert"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "rule promotion pass failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use sa_rules::{Alert, RuleTable};
    use serde_json::Map;

    use super::*;
    use crate::state::RuleChange;

    const T0: Micros = 1_700_000_000_000_000;
    const HOUR: Micros = 3_600_000_000;

    fn staged_alert(rule: &str, created: Micros) -> Alert {
        Alert {
            rule_name: rule.into(),
            alert_id: sa_rules::new_alert_id(),
            record: Map::new(),
            outputs: [sa_rules::FIREHOSE_OUTPUT.to_string()].into(),
            outputs_sent: BTreeSet::new(),
            attempts: 0,
            cluster: None,
            context: Map::new(),
            created,
            dispatched: 0,
            log_source: None,
            log_type: None,
            merge_by_keys: Vec::new(),
            merge_window_mins: 0,
            publishers: None,
            rule_description: None,
            source_entity: None,
            source_service: None,
            staged: true,
            policy: Default::default(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_rules_whose_window_ended_without_an_alert_are_promoted() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::state::single_node_replica(dir.path()).await;
        let rules = RuleStore::new(replica.clone());
        let alerts = AlertStore::new(replica.clone());
        let known: BTreeSet<String> = ["quiet", "noisy", "early"].map(String::from).into();
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
        // noisy alerted while staged; quiet's only alert predates its window.
        alerts
            .commit(
                &[
                    staged_alert("noisy", T0 + HOUR / 6),
                    staged_alert("quiet", T0 - HOUR),
                ],
                &[],
            )
            .await
            .unwrap();
        assert_eq!(alerts.staged_alerts("noisy", T0).unwrap(), 1);
        assert_eq!(alerts.staged_alerts("quiet", T0).unwrap(), 0);
        assert_eq!(alerts.staged_alerts("quiet", T0 - HOUR).unwrap(), 1);

        assert!(
            promote_due(&rules, &alerts, T0 + HOUR / 2)
                .await
                .unwrap()
                .is_empty(),
            "no window has ended yet"
        );
        assert_eq!(
            promote_due(&rules, &alerts, T0 + 2 * HOUR).await.unwrap(),
            ["quiet"]
        );
        let rows = rules.rows().unwrap();
        assert!(!rows["quiet"].staged && rows["quiet"].staged_at.is_none());
        assert!(rows["noisy"].staged && rows["early"].staged);
        assert_eq!(
            rules.states().staged,
            ["early", "noisy"].map(String::from).into()
        );

        // A row restaged since it was read keeps its new window.
        let stale = rows["noisy"].clone();
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
        assert_eq!(rules.states().disabled, ["early".to_string()].into());
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
}
