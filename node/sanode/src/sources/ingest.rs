//! Ingest over HTTP (`POST /v1/ingest/{source}`: a JSON array, or one record per line) and gRPC
//! (`Ingest.Put`), for the `http` data sources. The reply comes only after the batch's alerts and
//! dead letters are committed, so a client that got a success may forget the data.
//!
//! A client that names its batch (`X-SA-Batch-Id` header, `batch_id` field) gives each record a
//! position (`<batch id>/<index>`), so sending the batch again yields the same alert ids and no
//! second set of alerts. Without one, every request is new data.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::LengthLimitError;
use sa_proto::ingest::v1::ingest_server::Ingest;
use sa_proto::ingest::v1::{PutRecordsRequest, PutRecordsResponse};
use serde_json::json;
use serde_json::value::RawValue;

use super::SourceContext;
use super::admission::Admitted;
use crate::node::ServiceError;
use crate::pipeline::{BatchError, Body, Payload, SourceBatch};

/// The service name under which ingest sources are declared in `data_sources`.
pub const SERVICE: &str = sa_engine::service::HTTP;
/// The largest request body (HTTP) or message (gRPC) ingest takes.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
pub const BATCH_ID_HEADER: &str = "x-sa-batch-id";
const MAX_BATCH_ID_LEN: usize = 256;

/// Runs one batch through the pipeline; returns once its results are committed.
async fn ingest_batch(
    context: &SourceContext,
    source: &str,
    batch_id: Option<&str>,
    bodies: Vec<Body>,
) -> Result<PutRecordsResponse, ServiceError> {
    let payloads = bodies
        .into_iter()
        .enumerate()
        .map(|(index, body)| match batch_id {
            Some(id) => Payload::at(body, format!("{id}/{index}")),
            None => Payload::unplaced(body),
        })
        .collect();
    let batch = SourceBatch {
        service: SERVICE.to_owned(),
        resource: source.to_owned(),
        payloads,
        position: None,
    };
    let report = match context.pipeline.run(batch).await {
        Ok(report) => report,
        Err(BatchError::UnknownSource(reason)) => return Err(ServiceError::NotFound(reason)),
        Err(BatchError::Unavailable(reason)) => return Err(ServiceError::Unavailable(reason)),
    };
    Ok(PutRecordsResponse {
        records: report.records as u64,
        classified: report.classified as u64,
        dead_letters: report.dead_letters.len() as u64,
        alert_ids: report.alerts.iter().map(|a| a.alert_id.clone()).collect(),
        rules: report.alerts.iter().map(|a| a.rule_name.clone()).collect(),
        config_version: report.config_version,
    })
}

/// A client's batch id: empty means none; otherwise at most 256 printable ASCII characters.
fn batch_id(id: &str) -> Result<Option<&str>, String> {
    if id.is_empty() {
        return Ok(None);
    }
    if id.len() > MAX_BATCH_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "batch id must be 1 to {MAX_BATCH_ID_LEN} printable ASCII characters without spaces"
        ));
    }
    Ok(Some(id))
}

fn header_batch_id(headers: &HeaderMap) -> Result<Option<&str>, String> {
    match headers.get(BATCH_ID_HEADER) {
        None => Ok(None),
        Some(value) => batch_id(
            value
                .to_str()
                .map_err(|_| format!("{BATCH_ID_HEADER} is not ASCII"))?,
        ),
    }
}

/// The HTTP routes of ingest, beside the node's own (health, metrics).
pub fn http_routes(context: Arc<SourceContext>) -> Router {
    Router::new()
        .route("/v1/ingest/{source}", post(http_ingest))
        .with_state(context)
}

/// Admits the request by its declared length (the largest body when it declares none) before
/// a byte of the body is read, then reads at most that.
async fn admitted_body(
    context: &SourceContext,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<(Admitted, Bytes), ServiceError> {
    let declared = match headers.get(CONTENT_LENGTH) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| {
                    ServiceError::InvalidArgument("Content-Length is not a number".into())
                })?,
        ),
    };
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let admitted = context
        .admission
        .admit("http", declared.unwrap_or(MAX_BODY_BYTES))?;
    let body = axum::body::to_bytes(body, declared.unwrap_or(MAX_BODY_BYTES))
        .await
        .map_err(|e| match e.into_inner().downcast::<LengthLimitError>() {
            Ok(_) => too_large(),
            Err(e) => ServiceError::InvalidArgument(format!("cannot read the body: {e}")),
        })?;
    Ok((admitted, body))
}

fn too_large() -> ServiceError {
    ServiceError::PayloadTooLarge(format!(
        "the body is larger than {MAX_BODY_BYTES} bytes: split it into several requests"
    ))
}

async fn http_ingest(
    State(context): State<Arc<SourceContext>>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let result = async {
        let (_admitted, body) = admitted_body(&context, &headers, body).await?;
        let (body, _inflated) =
            super::ingest_encoding::decoded_body(&context, &source, &headers, body).await?;
        let (id, roots) = header_batch_id(&headers)
            .and_then(|id| Ok((id, split_body(&body)?)))
            .map_err(ServiceError::InvalidArgument)?;
        drop(body);
        ingest_batch(&context, &source, id, roots).await
    }
    .await;
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
        Err(refused) => refused.into_response(),
    }
}

pub struct IngestService {
    pub context: Arc<SourceContext>,
}

#[tonic::async_trait]
impl Ingest for IngestService {
    async fn put(
        &self,
        request: tonic::Request<PutRecordsRequest>,
    ) -> Result<tonic::Response<PutRecordsResponse>, tonic::Status> {
        crate::node::check_grpc_source(&request, &request.get_ref().source)?;
        let request = request.into_inner();
        if request.records.is_empty() {
            return Err(tonic::Status::invalid_argument("no records in the request"));
        }
        let id = batch_id(&request.batch_id).map_err(tonic::Status::invalid_argument)?;
        let bytes = request.records.iter().map(String::len).sum();
        let _admitted = self.context.admission.admit("grpc", bytes)?;
        let bodies = request.records.into_iter().map(Body::text).collect();
        let reply = ingest_batch(&self.context, &request.source, id, bodies).await?;
        Ok(tonic::Response::new(reply))
    }
}

/// A JSON array is a batch of records; anything else is read line by line (JSON lines or
/// text logs), blank lines skipped.
fn split_body(body: &[u8]) -> Result<Vec<Body>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err("empty body: send a JSON array of records or one record per line".into());
    }
    if trimmed.starts_with('[') {
        // Split into the records' own text, without building their trees: a classifier thread
        // decodes each one (a string record is a text line, unquoted here).
        let not_an_array = |e: serde_json::Error| {
            format!(
                "body starts like a JSON array but is not one: line {} column {}: {e}",
                e.line(),
                e.column()
            )
        };
        let records: Vec<&RawValue> = serde_json::from_str(text).map_err(not_an_array)?;
        return records
            .into_iter()
            .map(|record| match record.get() {
                quoted if quoted.starts_with('"') => serde_json::from_str(quoted)
                    .map(Body::text)
                    .map_err(not_an_array),
                json => Ok(Body::text(json.to_owned())),
            })
            .collect();
    }
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| Body::text(line.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sa_engine::Root;

    #[test]
    fn arrays_lines_and_bad_bodies() {
        let roots = |bodies: Vec<Body>| bodies.iter().map(Body::root).collect::<Vec<_>>();
        let array = split_body(br#"[{"a": 1}, "text \"log\" line", 42]"#).unwrap();
        assert_eq!(
            array[0],
            Body::text("{\"a\": 1}".into()),
            "a record of an array is handed over as its text, decoded later"
        );
        assert_eq!(
            roots(array),
            vec![
                Root::Json(json!({"a": 1})),
                Root::Text("text \"log\" line".into()),
                Root::Json(json!(42))
            ]
        );
        let lines = split_body(b"{\"a\": 1}\n\nplain text\n").unwrap();
        assert_eq!(
            lines[0],
            Body::text("{\"a\": 1}".into()),
            "decoded later, not here"
        );
        assert_eq!(
            roots(lines),
            vec![Root::Json(json!({"a": 1})), Root::Text("plain text".into())]
        );
        assert!(split_body(b"  \n").unwrap_err().contains("empty body"));
        let err = split_body(b"[{\"a\": 1},").unwrap_err();
        assert!(err.contains("line 1 column"), "{err}");
        assert!(split_body(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn batch_ids_are_optional_short_and_printable() {
        assert_eq!(batch_id(""), Ok(None));
        assert_eq!(batch_id("sactl:3f2a@0"), Ok(Some("sactl:3f2a@0")));
        assert!(batch_id("two words").is_err());
        assert!(batch_id(&"x".repeat(257)).is_err());
        let mut headers = HeaderMap::new();
        assert_eq!(header_batch_id(&headers), Ok(None));
        headers.insert(BATCH_ID_HEADER, "b-1".parse().unwrap());
        assert_eq!(header_batch_id(&headers), Ok(Some("b-1")));
    }
}
