//! The node's HTTP server: health, metrics and ingest.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use super::NodeContext;
use super::ingest;

pub fn router(node: Arc<NodeContext>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/v1/ingest/{source}", post(ingest::http_ingest))
        .layer(DefaultBodyLimit::max(ingest::MAX_BODY_BYTES))
        .with_state(node)
}

async fn healthz(State(node): State<Arc<NodeContext>>) -> &'static str {
    node.metrics
        .http_requests_total
        .with_label_values(&["/healthz"])
        .inc();
    "ok\n"
}

async fn metrics_text(State(node): State<Arc<NodeContext>>) -> impl IntoResponse {
    node.metrics
        .http_requests_total
        .with_label_values(&["/metrics"])
        .inc();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        node.render_metrics(),
    )
}
