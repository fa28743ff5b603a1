//! The node's HTTP server: health and metrics, and the routes of HTTP ingest.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::NodeContext;
use super::request_metrics::CountRequests;
use crate::sources::{SourceContext, ingest};

pub fn router(node: Arc<NodeContext>, sources: Arc<SourceContext>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(node.clone())
        .merge(ingest::http_routes(sources))
        .layer(CountRequests::http(
            node.metrics.http_requests_total.clone(),
        ))
}

/// 200 `ok`, or 503 with the reason the node is unhealthy (health.rs).
async fn healthz(State(node): State<Arc<NodeContext>>) -> (StatusCode, String) {
    match super::health::check(&node.replica) {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {reason}\n"),
        ),
    }
}

async fn metrics_text(State(node): State<Arc<NodeContext>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        node.render_metrics(),
    )
}
