//! The node's HTTP server: health and metrics (ingest joins it later).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::metrics::NodeMetrics;

pub fn router(metrics: Arc<NodeMetrics>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(metrics)
}

async fn healthz(State(metrics): State<Arc<NodeMetrics>>) -> &'static str {
    metrics
        .http_requests_total
        .with_label_values(&["/healthz"])
        .inc();
    "ok\n"
}

async fn metrics_text(State(metrics): State<Arc<NodeMetrics>>) -> impl IntoResponse {
    metrics
        .http_requests_total
        .with_label_values(&["/metrics"])
        .inc();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}
