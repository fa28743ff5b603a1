//! `POST /v1/ingest/{source}`: a batch of records (a JSON array, or one record per line) from the
//! `http` data source `source`. The reply comes only after the batch's alerts and dead letters
//! are committed, so a client that got 200 may forget the data.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sa_engine::Root;
use serde_json::{Value, json};

use super::NodeContext;
use crate::pipeline::IngestError;

/// The service name under which ingest sources are declared in `data_sources`.
pub const SERVICE: &str = "http";
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub async fn ingest(State(node): State<Arc<NodeContext>>, Path(source): Path<String>, body: Bytes) -> Response {
    node.metrics.http_requests_total.with_label_values(&["/v1/ingest"]).inc();
    let payloads = match split_body(&body) {
        Ok(payloads) => payloads,
        Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
    };
    node.metrics.records_in_total.with_label_values(&[SERVICE]).inc_by(payloads.len() as u64);
    let started = std::time::Instant::now();
    let report = match node.detection.process(SERVICE, &source, payloads).await {
        Ok(report) => report,
        Err(IngestError::UnknownSource(reason)) => return error(StatusCode::NOT_FOUND, reason),
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    node.metrics.record_batch(SERVICE, &report);
    if let Err(e) = node.alerts.commit(&report.alerts, &report.dead_letters).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, format!("alerts not committed, send again: {e:#}"));
    }
    node.metrics.batch_latency_seconds.with_label_values(&[SERVICE]).observe(started.elapsed().as_secs_f64());
    let alert_ids: Vec<&str> = report.alerts.iter().map(|a| a.alert_id.as_str()).collect();
    let rules: Vec<&str> = report.alerts.iter().map(|a| a.rule_name.as_str()).collect();
    Json(json!({
        "records": report.records,
        "classified": report.classified,
        "dead_letters": report.dead_letters.len(),
        "alerts": alert_ids.len(),
        "alert_ids": alert_ids,
        "rules": rules,
        "config_version": report.config_version,
    }))
    .into_response()
}

fn error(status: StatusCode, reason: String) -> Response {
    (status, Json(json!({ "error": reason }))).into_response()
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
        let records: Vec<Value> = serde_json::from_str(text)
            .map_err(|e| format!("body starts like a JSON array but is not one: line {} column {}: {e}", e.line(), e.column()))?;
        return Ok(records
            .into_iter()
            .map(|record| match record {
                Value::String(line) => Root::from_text(&line),
                other => Root::Json(other),
            })
            .collect());
    }
    Ok(text.lines().filter(|line| !line.trim().is_empty()).map(Root::from_text).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_lines_and_bad_bodies() {
        let array = split_body(br#"[{"a": 1}, "text log line"]"#).unwrap();
        assert_eq!(array, vec![Root::Json(json!({"a": 1})), Root::Text("text log line".into())]);
        let lines = split_body(b"{\"a\": 1}\n\nplain text\n").unwrap();
        assert_eq!(lines, vec![Root::Json(json!({"a": 1})), Root::Text("plain text".into())]);
        assert!(split_body(b"  \n").unwrap_err().contains("empty body"));
        let err = split_body(b"[{\"a\": 1},").unwrap_err();
        assert!(err.contains("line 1 column"), "{err}");
        assert!(split_body(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }
}
