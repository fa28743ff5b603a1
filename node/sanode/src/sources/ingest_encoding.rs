//! `Content-Encoding` of HTTP ingest bodies: identity, or gzip inflated off the runtime up to
//! the largest body a node takes and the configured ratio. A body past either is a
//! decompression bomb or a request to split: it is dead-lettered with the reason and refused.

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;
use sa_aws_sources::s3::{BodyDecoder, DecompressionLimits};
use sa_engine::DeadLetter;
use sa_engine::classifier::CandidateFailure;

use super::SourceContext;
use super::admission::Admitted;
use super::ingest::MAX_BODY_BYTES;
use crate::node::ServiceError;

/// How much of a refused compressed body its dead letter keeps (hex): enough to tell what it
/// was, never the bomb.
const DEAD_LETTER_SAMPLE_BYTES: usize = 64;

/// The body as the classifier reads it. An inflated body is admitted as the largest body the
/// node takes (its size is known only once inflated), and held while the returned guard lives.
pub async fn decoded_body(
    context: &SourceContext,
    source: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(Bytes, Option<Admitted>), ServiceError> {
    let encoding = match headers.get(CONTENT_ENCODING) {
        None => return Ok((body, None)),
        Some(value) => value
            .to_str()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    };
    match encoding.as_str() {
        "" | "identity" => Ok((body, None)),
        "gzip" | "x-gzip" => {
            if !body.starts_with(&[0x1f, 0x8b]) {
                return Err(ServiceError::InvalidArgument(
                    "Content-Encoding is gzip, and the body is not gzip".into(),
                ));
            }
            let admitted = context.admission.admit("http", MAX_BODY_BYTES)?;
            let limits = DecompressionLimits {
                max_bytes: MAX_BODY_BYTES as u64,
                ..context.args.decompression_limits()
            };
            let compressed = body.clone();
            let inflated = tokio::task::spawn_blocking(move || {
                let mut decoder = BodyDecoder::new(limits);
                let mut plain = decoder.push(&compressed)?;
                plain.extend(decoder.finish()?);
                Ok::<_, sa_aws_sources::s3::DecodeError>(plain)
            })
            .await
            .map_err(|e| ServiceError::Internal(format!("gunzip task: {e}")))?;
            match inflated {
                Ok(plain) => Ok((Bytes::from(plain), Some(admitted))),
                Err(error) => {
                    let reason = format!("HTTP ingest to {source}: {error}");
                    dead_letter(context, source, &body, &reason).await?;
                    Err(ServiceError::PayloadTooLarge(reason))
                }
            }
        }
        other => Err(ServiceError::InvalidArgument(format!(
            "Content-Encoding {other} is not supported: send gzip or identity"
        ))),
    }
}

async fn dead_letter(
    context: &SourceContext,
    source: &str,
    body: &[u8],
    reason: &str,
) -> Result<(), ServiceError> {
    tracing::warn!(source, reason, "HTTP ingest body dead-lettered");
    let sample = &body[..body.len().min(DEAD_LETTER_SAMPLE_BYTES)];
    let letter = DeadLetter {
        cluster: String::new(),
        service: "http".to_string(),
        resource: source.to_string(),
        log_type: None,
        record: format!(
            "gzip body of {} bytes, starting {}",
            body.len(),
            hex::encode(sample)
        ),
        failures: vec![CandidateFailure::new("http", reason.to_string())],
        origin: String::new(),
    };
    context
        .alerts
        .commit(&[], &[letter])
        .await
        .map(|_| ())
        .map_err(|e| ServiceError::Unavailable(format!("cannot commit the dead letter: {e:#}")))
}
