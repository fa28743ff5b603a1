//! Streams an S3 object as chunks of payload records, each with a stable position, without
//! holding the object in memory (except a multi-line JSON document, up to a limit).

use std::collections::VecDeque;
use std::sync::Arc;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;

use super::decompress::{BodyDecoder, DecodeError, DecompressionLimits};
use super::framing::{FramedPayload, FramingError, ObjectFramer};
use super::notification::S3Object;
use crate::error::SourceError;

/// Chunk sizes and limits of [`open_object`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectReadOptions {
    /// At most this many payload records per chunk.
    pub max_records_per_chunk: usize,
    /// A chunk is handed out once its records came from this many object bytes.
    pub max_bytes_per_chunk: usize,
    /// A JSON document spanning several lines is read whole up to this size.
    pub max_document_bytes: usize,
    pub max_line_bytes: usize,
    /// How far a gzip object may inflate before it is dead-lettered.
    pub decompression: DecompressionLimits,
}

impl Default for ObjectReadOptions {
    fn default() -> ObjectReadOptions {
        ObjectReadOptions {
            max_records_per_chunk: 1000,
            max_bytes_per_chunk: 1 << 20,
            // StreamAlert refuses objects over 128 MiB; here only a multi-line document is bound
            max_document_bytes: 128 << 20,
            max_line_bytes: 16 << 20,
            decompression: DecompressionLimits::default(),
        }
    }
}

/// The object version being read: what positions refer to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectId {
    pub bucket: String,
    pub key: String,
    /// Without quotes; empty if S3 gave none.
    pub etag: String,
}

impl ObjectId {
    /// A record's origin, unique and stable across re-reads of this object version:
    /// `s3/BUCKET/KEY@ETAG#INDEX`.
    pub fn origin(&self, index: u64) -> String {
        format!("s3/{}/{}@{}#{index}", self.bucket, self.key, self.etag)
    }
}

/// Consecutive payload records of one object.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadChunk {
    pub object: Arc<ObjectId>,
    /// `index` of each is its position in the object ([`ObjectId::origin`]).
    pub payloads: Vec<FramedPayload>,
}

/// An object being read; [`ObjectReader::next_chunk`] until `None`.
pub struct ObjectReader {
    id: Arc<ObjectId>,
    body: ByteStream,
    decoder: Option<BodyDecoder>,
    framer: Option<ObjectFramer>,
    ready: VecDeque<FramedPayload>,
    ready_bytes: usize,
    options: ObjectReadOptions,
}

/// Starts reading `object`. A missing object or bucket is [`SourceError::ObjectMissing`].
pub async fn open_object(
    client: &aws_sdk_s3::Client,
    object: &S3Object,
    options: ObjectReadOptions,
) -> Result<ObjectReader, SourceError> {
    let response = client
        .get_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .send()
        .await
        .map_err(|e| {
            let missing = matches!(e.code(), Some("NoSuchKey" | "NoSuchBucket"))
                || e.raw_response().map(|r| r.status().as_u16()) == Some(404);
            if missing {
                SourceError::ObjectMissing {
                    bucket: object.bucket.clone(),
                    key: object.key.clone(),
                }
            } else {
                SourceError::Object {
                    bucket: object.bucket.clone(),
                    key: object.key.clone(),
                    message: format!("GetObject failed: {}", DisplayErrorContext(&e)),
                }
            }
        })?;
    let etag = response
        .e_tag()
        .or(object.etag.as_deref())
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    Ok(ObjectReader {
        id: Arc::new(ObjectId {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            etag,
        }),
        body: response.body,
        decoder: Some(BodyDecoder::new(options.decompression)),
        framer: Some(ObjectFramer::new(
            options.max_document_bytes,
            options.max_line_bytes,
        )),
        ready: VecDeque::new(),
        ready_bytes: 0,
        options,
    })
}

impl ObjectReader {
    /// The object version being read (bucket, key, ETag).
    pub fn id(&self) -> &Arc<ObjectId> {
        &self.id
    }

    /// The next records, or `None` once the object is read through.
    pub async fn next_chunk(&mut self) -> Result<Option<PayloadChunk>, SourceError> {
        while self.framer.is_some()
            && self.ready.len() < self.options.max_records_per_chunk
            && self.ready_bytes < self.options.max_bytes_per_chunk
        {
            self.read_more().await?;
        }
        let mut payloads = Vec::new();
        let mut bytes = 0;
        while let Some(payload) = self.ready.front() {
            if payloads.len() >= self.options.max_records_per_chunk
                || (bytes >= self.options.max_bytes_per_chunk && !payloads.is_empty())
            {
                break;
            }
            bytes += payload.source_len;
            payloads.extend(self.ready.pop_front());
        }
        self.ready_bytes -= bytes;
        if payloads.is_empty() {
            return Ok(None);
        }
        Ok(Some(PayloadChunk {
            object: self.id.clone(),
            payloads,
        }))
    }

    async fn read_more(&mut self) -> Result<(), SourceError> {
        let mut framed = Vec::new();
        match self.body.next().await {
            Some(Ok(bytes)) => {
                let plain = self
                    .decoder
                    .as_mut()
                    .map(|d| d.push(&bytes))
                    .transpose()
                    .map_err(|e| self.decode_error(e))?
                    .unwrap_or_default();
                if let Some(framer) = self.framer.as_mut() {
                    framer
                        .push(&plain, &mut framed)
                        .map_err(|e| self.framing_error(e))?;
                }
            }
            Some(Err(e)) => {
                return Err(self.object_error(format!("reading the body: {e}")));
            }
            None => {
                let rest = match self.decoder.take() {
                    Some(decoder) => decoder.finish().map_err(|e| self.decode_error(e))?,
                    None => Vec::new(),
                };
                if let Some(mut framer) = self.framer.take() {
                    framer
                        .push(&rest, &mut framed)
                        .and_then(|()| framer.finish(&mut framed))
                        .map_err(|e| self.framing_error(e))?;
                }
            }
        }
        self.ready_bytes += framed.iter().map(|p| p.source_len).sum::<usize>();
        self.ready.extend(framed);
        Ok(())
    }

    fn object_error(&self, message: String) -> SourceError {
        SourceError::Object {
            bucket: self.id.bucket.clone(),
            key: self.id.key.clone(),
            message,
        }
    }

    fn decode_error(&self, error: DecodeError) -> SourceError {
        match error {
            DecodeError::Gzip(_) => self.object_error(error.to_string()),
            DecodeError::Limit { .. } => SourceError::DecompressionLimit {
                bucket: self.id.bucket.clone(),
                key: self.id.key.clone(),
                reason: error.to_string(),
            },
        }
    }

    fn framing_error(&self, error: FramingError) -> SourceError {
        let (bucket, key) = (self.id.bucket.clone(), self.id.key.clone());
        match error {
            FramingError::DocumentTooLarge { limit } => {
                SourceError::DocumentTooLarge { bucket, key, limit }
            }
            FramingError::LineTooLong { line, limit } => SourceError::LineTooLong {
                bucket,
                key,
                line,
                limit,
            },
        }
    }
}
