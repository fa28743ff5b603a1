//! What the merger and dispatcher count.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};

use crate::metrics::NodeMetrics;

#[derive(Clone)]
pub struct AlertMetrics {
    pub merged_groups_total: IntCounter,
    pub merged_alerts_total: IntCounter,
    pub merge_alerts_waiting: IntGauge,
    pub deliveries_total: IntCounterVec,
    pub output_dead_letters_total: IntCounterVec,
}

impl AlertMetrics {
    pub fn register(node: &NodeMetrics) -> AlertMetrics {
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        let metrics = AlertMetrics {
            merged_groups_total: counter(
                "sa_alert_merge_groups_total",
                "Merge groups closed into one alert by this node's merger.",
            ),
            merged_alerts_total: counter(
                "sa_alert_merged_alerts_total",
                "Alerts folded into a merged alert by this node's merger.",
            ),
            merge_alerts_waiting: IntGauge::new(
                "sa_merge_alerts_waiting",
                "Alerts waiting in merge windows still open, as this leader's last merge pass saw them (0 on other nodes).",
            )
            .expect("valid metric"),
            deliveries_total: counter_vec(
                "sa_output_deliveries_total",
                "Delivery attempts by output and result (delivered, retry, failed).",
                &["output", "result"],
            ),
            output_dead_letters_total: counter_vec(
                "sa_output_dead_letters_total",
                "Alerts an output never accepted, given up on and kept as dead letters.",
                &["output"],
            ),
        };
        node.register(Box::new(metrics.merged_groups_total.clone()));
        node.register(Box::new(metrics.merged_alerts_total.clone()));
        node.register(Box::new(metrics.merge_alerts_waiting.clone()));
        node.register(Box::new(metrics.deliveries_total.clone()));
        node.register(Box::new(metrics.output_dead_letters_total.clone()));
        metrics
    }
}
