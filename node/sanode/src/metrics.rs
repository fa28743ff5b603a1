//! The node's Prometheus registry. Names follow `sa_<thing>_<unit>[_total]`.

use std::time::Instant;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

pub struct NodeMetrics {
    registry: Registry,
    started: Instant,
    uptime_seconds: Gauge,
    pub http_requests_total: IntCounterVec,
    pub grpc_requests_total: IntCounterVec,
    pub records_in_total: IntCounterVec,
    pub records_classified_total: IntCounterVec,
    pub records_failed_total: IntCounterVec,
    pub rule_hits_total: IntCounterVec,
    pub rule_errors_total: IntCounterVec,
    pub batch_latency_seconds: HistogramVec,
    pub actor_restarts_total: IntCounterVec,
    pub actor_mailbox_batches: IntGaugeVec,
    pub batches_dead_lettered_total: IntCounterVec,
    pub config_version: IntGauge,
    pub config_reload_failures_total: IntCounter,
    pub rules_promoted_total: IntCounter,
    pub rules_staged: IntGauge,
    pub rules_disabled: IntGauge,
    pub raft_term: IntGauge,
    pub raft_last_log_index: IntGauge,
    pub raft_applied_index: IntGauge,
    pub raft_is_leader: IntGauge,
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

impl NodeMetrics {
    pub fn new(node_id: u64) -> Self {
        let build_info = IntGaugeVec::new(
            Opts::new(
                "sa_build_info",
                "Constant 1, labelled with the node's version and id.",
            ),
            &["version", "node_id"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), &node_id.to_string()])
            .set(1);
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let metrics = NodeMetrics {
            registry: Registry::new(),
            started: Instant::now(),
            uptime_seconds: Gauge::new(
                "sa_node_uptime_seconds",
                "Seconds since this node started.",
            )
            .expect("valid metric"),
            http_requests_total: counter_vec(
                "sa_http_requests_total",
                "HTTP requests served, by route.",
                &["route"],
            ),
            grpc_requests_total: counter_vec(
                "sa_grpc_requests_total",
                "gRPC requests served, by method.",
                &["method"],
            ),
            records_in_total: counter_vec(
                "sa_records_in_total",
                "Payload records received, by service.",
                &["service"],
            ),
            records_classified_total: counter_vec(
                "sa_records_classified_total",
                "Records classified, by log type.",
                &["log_type"],
            ),
            records_failed_total: counter_vec(
                "sa_records_failed_total",
                "Records that matched no schema (dead-lettered), by service.",
                &["service"],
            ),
            rule_hits_total: counter_vec(
                "sa_rule_hits_total",
                "Alerts produced, by rule.",
                &["rule"],
            ),
            rule_errors_total: counter_vec(
                "sa_rule_errors_total",
                "Rule, matcher or dynamic-output calls that raised, by rule.",
                &["rule"],
            ),
            batch_latency_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "sa_batch_latency_seconds",
                    "Time from receiving a batch to its alerts being committed, by service.",
                )
                .buckets(vec![
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
                &["service"],
            )
            .expect("valid metric"),
            actor_restarts_total: counter_vec(
                "sa_actor_restarts_total",
                "Pipeline actors restarted after a panic or the loss of their worker, by actor.",
                &["actor"],
            ),
            actor_mailbox_batches: IntGaugeVec::new(
                Opts::new(
                    "sa_actor_mailbox_batches",
                    "Batches inside a pipeline actor (queued or being handled), by actor.",
                ),
                &["actor"],
            )
            .expect("valid metric"),
            batches_dead_lettered_total: counter_vec(
                "sa_batches_dead_lettered_total",
                "Batches an actor failed on every attempt, their records dead-lettered, by actor.",
                &["actor"],
            ),
            config_version: gauge(
                "sa_config_version",
                "Config bundle version this node runs (0: local files).",
            ),
            config_reload_failures_total: IntCounter::new(
                "sa_config_reload_failures_total",
                "Config versions this node failed to load (it kept the previous one).",
            )
            .expect("valid metric"),
            rules_promoted_total: IntCounter::new(
                "sa_rules_promoted_total",
                "Staged rules this node (as leader) promoted after a staging window without alerts.",
            )
            .expect("valid metric"),
            rules_staged: gauge(
                "sa_rules_staged",
                "Rules the rule table lists as staged (their alerts reach only the alerts firehose while rule_staging is on).",
            ),
            rules_disabled: gauge(
                "sa_rules_disabled",
                "Rules disabled in the rule table (sactl rules disable).",
            ),
            raft_term: gauge("sa_raft_term", "Current Raft term."),
            raft_last_log_index: gauge(
                "sa_raft_last_log_index",
                "Highest index in the local Raft log.",
            ),
            raft_applied_index: gauge(
                "sa_raft_applied_index",
                "Highest log index applied to the local state.",
            ),
            raft_is_leader: gauge("sa_raft_is_leader", "1 on the Raft leader, 0 elsewhere."),
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(build_info),
            Box::new(metrics.uptime_seconds.clone()),
            Box::new(metrics.http_requests_total.clone()),
            Box::new(metrics.grpc_requests_total.clone()),
            Box::new(metrics.records_in_total.clone()),
            Box::new(metrics.records_classified_total.clone()),
            Box::new(metrics.records_failed_total.clone()),
            Box::new(metrics.rule_hits_total.clone()),
            Box::new(metrics.rule_errors_total.clone()),
            Box::new(metrics.batch_latency_seconds.clone()),
            Box::new(metrics.actor_restarts_total.clone()),
            Box::new(metrics.actor_mailbox_batches.clone()),
            Box::new(metrics.batches_dead_lettered_total.clone()),
            Box::new(metrics.config_version.clone()),
            Box::new(metrics.config_reload_failures_total.clone()),
            Box::new(metrics.rules_promoted_total.clone()),
            Box::new(metrics.rules_staged.clone()),
            Box::new(metrics.rules_disabled.clone()),
            Box::new(metrics.raft_term.clone()),
            Box::new(metrics.raft_last_log_index.clone()),
            Box::new(metrics.raft_applied_index.clone()),
            Box::new(metrics.raft_is_leader.clone()),
        ];
        for collector in collectors {
            metrics
                .registry
                .register(collector)
                .expect("metric names are unique");
        }
        metrics
    }

    /// Adds a component's own metrics (alerts, outputs, sources) to the node's exposition.
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) {
        self.registry
            .register(collector)
            .expect("metric names are unique");
    }

    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Counts classified records by log type.
    pub fn record_classified(&self, log_type: &str, count: u64) {
        self.records_classified_total
            .with_label_values(&[log_type])
            .inc_by(count);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.uptime_seconds.set(self.uptime().as_secs_f64());
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_exposes_build_info_uptime_and_counters() {
        let metrics = NodeMetrics::new(9);
        metrics
            .http_requests_total
            .with_label_values(&["/healthz"])
            .inc();
        metrics.record_classified("osquery:differential", 3);
        let text = metrics.render();
        assert!(text.contains("sa_build_info{node_id=\"9\""), "{text}");
        assert!(text.contains("sa_node_uptime_seconds "), "{text}");
        assert!(
            text.contains("sa_http_requests_total{route=\"/healthz\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sa_records_classified_total{log_type=\"osquery:differential\"} 3"),
            "{text}"
        );
    }
}
