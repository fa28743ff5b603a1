//! The node's Prometheus registry. Names follow `sa_<thing>_<unit>[_total]`.

use std::time::Instant;

use prometheus::{Encoder, Gauge, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

pub struct NodeMetrics {
    registry: Registry,
    started: Instant,
    uptime_seconds: Gauge,
    pub http_requests_total: IntCounterVec,
    pub grpc_requests_total: IntCounterVec,
}

impl NodeMetrics {
    pub fn new(node_id: u64) -> Self {
        let registry = Registry::new();
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
        let uptime_seconds =
            Gauge::new("sa_node_uptime_seconds", "Seconds since this node started.")
                .expect("valid metric");
        let http_requests_total = IntCounterVec::new(
            Opts::new("sa_http_requests_total", "HTTP requests served, by route."),
            &["route"],
        )
        .expect("valid metric");
        let grpc_requests_total = IntCounterVec::new(
            Opts::new("sa_grpc_requests_total", "gRPC requests served, by method."),
            &["method"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(build_info) as Box<dyn prometheus::core::Collector>,
            Box::new(uptime_seconds.clone()),
            Box::new(http_requests_total.clone()),
            Box::new(grpc_requests_total.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        NodeMetrics {
            registry,
            started: Instant::now(),
            uptime_seconds,
            http_requests_total,
            grpc_requests_total,
        }
    }

    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
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
        let text = metrics.render();
        assert!(text.contains("sa_build_info{node_id=\"9\""), "{text}");
        assert!(text.contains("sa_node_uptime_seconds "), "{text}");
        assert!(
            text.contains("sa_http_requests_total{route=\"/healthz\"} 1"),
            "{text}"
        );
    }
}
