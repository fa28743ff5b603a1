//! Ingest over HTTP (`POST /v1/ingest/{source}`: a JSON array, or one record per line) and gRPC
//! (`Ingest.Put`), for the `http` data sources. The reply comes only after the batch's alerts and
//! dead letters are committed, so a client that got a success may forget the data.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sa_engine::Root;
use sa_proto::ingest::v1::ingest_server::Ingest;
use sa_proto::ingest::v1::{PutRecordsRequest, PutRecordsResponse};
use serde_json::{Value, json};

use super::NodeContext;
use crate::pipeline::IngestError;

/// The service name under which ingest sources are declared in `data_sources`.
pub const SERVICE: &str = "http";
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Why a batch was refused, and whether sending it again can help.
enum Refusal {
    /// The request itself is wrong (unknown source, malformed body): do not retry as is.
    BadRequest(String),
    UnknownSource(String),
    /// The node cannot take it now (rules thread gone, no Raft quorum): retry later.
    Unavailable(String),
}

/// Runs one batch through detection and commits its results.
async fn ingest_batch(
    node: &NodeContext,
    source: &str,
    payloads: Vec<Root>,
) -> Result<PutRecordsResponse, Refusal> {
    node.metrics
        .records_in_total
        .with_label_values(&[SERVICE])
        .inc_by(payloads.len() as u64);
    let started = std::time::Instant::now();
    let report = match node.detection.process(SERVICE, source, payloads).await {
        Ok(report) => report,
        Err(IngestError::UnknownSource(reason)) => return Err(Refusal::UnknownSource(reason)),
        Err(e) => return Err(Refusal::Unavailable(e.to_string())),
    };
    node.metrics.record_batch(SERVICE, &report);
    node.commit_and_publish(&report)
        .await
        .map_err(|e| Refusal::Unavailable(format!("alerts not committed, send again: {e:#}")))?;
    node.metrics
        .batch_latency_seconds
        .with_label_values(&[SERVICE])
        .observe(started.elapsed().as_secs_f64());
    Ok(PutRecordsResponse {
        records: report.records as u64,
        classified: report.classified as u64,
        dead_letters: report.dead_letters.len() as u64,
        alert_ids: report.alerts.iter().map(|a| a.alert_id.clone()).collect(),
        rules: report.alerts.iter().map(|a| a.rule_name.clone()).collect(),
        config_version: report.config_version,
    })
}

pub async fn http_ingest(
    State(node): State<Arc<NodeContext>>,
    Path(source): Path<String>,
    body: Bytes,
) -> Response {
    node.metrics
        .http_requests_total
        .with_label_values(&["/v1/ingest"])
        .inc();
    let result = match split_body(&body) {
        Ok(payloads) => ingest_batch(&node, &source, payloads).await,
        Err(reason) => Err(Refusal::BadRequest(reason)),
    };
    match result {
        Ok(reply) => Json(json!({
            "records": reply.records,
            "classified": reply.classified,
            "dead_letters": reply.dead_letters,
            "alerts": reply.alert_ids.len(),
            "alert_ids": reply.alert_ids,
            "rules": reply.rules,
            "config_version": reply.config_version,
        }))
        .into_response(),
        Err(refusal) => {
            let (status, reason) = match refusal {
                Refusal::BadRequest(reason) => (StatusCode::BAD_REQUEST, reason),
                Refusal::UnknownSource(reason) => (StatusCode::NOT_FOUND, reason),
                Refusal::Unavailable(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
            };
            (status, Json(json!({ "error": reason }))).into_response()
        }
    }
}

pub struct IngestService {
    pub node: Arc<NodeContext>,
}

#[tonic::async_trait]
impl Ingest for IngestService {
    async fn put(
        &self,
        request: tonic::Request<PutRecordsRequest>,
    ) -> Result<tonic::Response<PutRecordsResponse>, tonic::Status> {
        self.node
            .metrics
            .grpc_requests_total
            .with_label_values(&["Ingest/Put"])
            .inc();
        let request = request.into_inner();
        if request.records.is_empty() {
            return Err(tonic::Status::invalid_argument("no records in the request"));
        }
        let payloads = request
            .records
            .iter()
            .map(|record| Root::from_text(record))
            .collect();
        match ingest_batch(&self.node, &request.source, payloads).await {
            Ok(reply) => Ok(tonic::Response::new(reply)),
            Err(Refusal::BadRequest(reason)) => Err(tonic::Status::invalid_argument(reason)),
            Err(Refusal::UnknownSource(reason)) => Err(tonic::Status::not_found(reason)),
            Err(Refusal::Unavailable(reason)) => Err(tonic::Status::unavailable(reason)),
        }
    }
}

/// A JSON array is a batch of records; anything else is read line by line (JSON lines or
/// text logs), blank lines skipped.
fn split_body(body: &[u8]) -> Result<Vec<Root>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err("empty body: send a JSON array of records or one record per line".into());
    }
    if trimmed.starts_with('[') {
        let records: Vec<Value> = serde_json::from_str(text).map_err(|e| {
            format!(
                "body starts like a JSON array but is not one: line {} column {}: {e}",
                e.line(),
                e.column()
            )
        })?;
        return Ok(records
            .into_iter()
            .map(|record| match record {
                Value::String(line) => Root::from_text(&line),
                other => Root::Json(other),
            })
            .collect());
    }
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(Root::from_text)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_lines_and_bad_bodies() {
        let array = split_body(br#"[{"a": 1}, "text log line"]"#).unwrap();
        assert_eq!(
            array,
            vec![
                Root::Json(json!({"a": 1})),
                Root::Text("text log line".into())
            ]
        );
        let lines = split_body(b"{\"a\": 1}\n\nplain text\n").unwrap();
        assert_eq!(
            lines,
            vec![Root::Json(json!({"a": 1})), Root::Text("plain text".into())]
        );
        assert!(split_body(b"  \n").unwrap_err().contains("empty body"));
        let err = split_body(b"[{\"a\": 1},").unwrap_err();
        assert!(err.contains("line 1 column"), "{err}");
        assert!(split_body(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }
}
