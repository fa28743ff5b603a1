//! The `s3` source: every node long-polls the SQS queues given with `--s3-queue` (SQS hands
//! each message to one poller at a time), reads the objects a message announces, and runs their
//! payloads through the pipeline with service `s3` and the bucket as resource. The message is
//! deleted only once the alerts of all its objects are committed.
//!
//! A message that can never succeed is dead-lettered and deleted: a body that is no S3
//! notification, an object that no longer exists, a bucket no cluster routes. Any other
//! failure leaves the message in the queue to come back; past `max_receives` deliveries it is
//! dead-lettered and deleted too.
//!
//! A payload's position is `KEY@ETAG#INDEX`, so an object read again after a crash yields the
//! same alert ids.

use std::sync::Arc;
use std::time::Duration;

use sa_aws_sources::SourceClients;
use sa_aws_sources::SourceError;
use sa_aws_sources::s3::{
    MessageContent, ObjectReadOptions, PayloadBody, QueueMessage, QueueOptions, S3Object,
    S3QueueReader, open_object,
};
use sa_engine::classifier::CandidateFailure;
use sa_engine::{DeadLetter, Root};

use super::{SourceContext, Started};
use crate::pipeline::{BatchError, Payload, SourceBatch};
use crate::retry::Backoff;

pub const SERVICE: &str = sa_engine::service::S3;
/// Pause after a failed receive before polling again, longer while receives keep failing.
const RECEIVE_RETRY: Backoff = Backoff {
    base: Duration::from_secs(2),
    max: Duration::from_secs(30),
};
/// Pause before offering a chunk the pipeline refused as unavailable again.
const PIPELINE_RETRY: Backoff = Backoff {
    base: Duration::from_millis(500),
    max: Duration::from_secs(4),
};
/// Times the pipeline may refuse a chunk as unavailable before the message is left for later.
const PIPELINE_ATTEMPTS: u32 = 5;

/// How the node polls its queues.
#[derive(Debug, Clone)]
pub struct S3QueueSettings {
    pub queue: QueueOptions,
    pub objects: ObjectReadOptions,
    /// Deliveries after which a failing message is dead-lettered and deleted.
    pub max_receives: u32,
}

impl Default for S3QueueSettings {
    fn default() -> Self {
        S3QueueSettings {
            queue: QueueOptions::default(),
            objects: ObjectReadOptions::default(),
            max_receives: 5,
        }
    }
}

/// Why a message's objects could not all be committed.
enum MessageFailure {
    /// Retrying cannot help: dead-letter the message and delete it.
    Permanent(String),
    /// Leave the message to come back.
    Transient(String),
}

/// One poller per `--s3-queue`.
pub fn start(context: &Arc<SourceContext>, started: &mut Started) {
    for queue in &context.args.s3_queues {
        let mut settings = S3QueueSettings::default();
        settings.objects.decompression = context.args.decompression_limits();
        started
            .tasks
            .spawn(run(context.clone(), queue.clone(), settings));
    }
}

/// Polls `queue_url` until the node stops.
pub async fn run(source: Arc<SourceContext>, queue_url: String, settings: S3QueueSettings) {
    let clients = source.clients().await.clone();
    let reader = S3QueueReader::new(
        clients.sqs.clone(),
        queue_url.clone(),
        settings.queue.clone(),
    );
    tracing::info!(queue = queue_url, "polling S3 notifications");
    let mut failed_receives = 0;
    loop {
        let received = tokio::select! {
            _ = source.shutdown.cancelled() => return,
            received = reader.receive() => received,
        };
        let messages = match received {
            Ok(messages) => {
                failed_receives = 0;
                messages
            }
            Err(e) => {
                tracing::warn!(error = %e, "s3 queue");
                failed_receives += 1;
                if source.pause(RECEIVE_RETRY.ceiling(failed_receives)).await {
                    return;
                }
                continue;
            }
        };
        // A received message is handled to the end: its object is committed or dead-lettered
        // before the node stops, or left in the queue for another node.
        for message in messages {
            handle(&source, &clients, &reader, &settings, message).await;
        }
    }
}

async fn handle(
    source: &SourceContext,
    clients: &SourceClients,
    reader: &S3QueueReader,
    settings: &S3QueueSettings,
    message: QueueMessage,
) {
    let queue = reader.queue_url();
    let outcome = match &message.content {
        MessageContent::Unrecognized(reason) => Err(MessageFailure::Permanent(format!(
            "not an S3 notification: {reason}"
        ))),
        MessageContent::Objects(objects) => {
            let mut outcome = Ok(());
            for object in objects {
                match read_object(source, clients, settings, object).await {
                    Ok(()) => {}
                    // one missing object does not hold back the others
                    Err(MessageFailure::Permanent(reason)) => {
                        let record = format!("s3://{}/{}", object.bucket, object.key);
                        if dead_letter(source, &object.bucket, record, reason)
                            .await
                            .is_err()
                        {
                            outcome = Err(MessageFailure::Transient(
                                "the dead letter was not committed".into(),
                            ));
                        }
                    }
                    Err(transient) => {
                        outcome = Err(transient);
                        break;
                    }
                }
            }
            outcome
        }
    };
    let ack = match outcome {
        Ok(()) => true,
        Err(MessageFailure::Permanent(reason)) => {
            dead_letter(source, queue, message.body.clone(), reason)
                .await
                .is_ok()
        }
        Err(MessageFailure::Transient(reason))
            if message.receive_count >= settings.max_receives =>
        {
            let reason = format!(
                "gave up after {} deliveries: {reason}",
                message.receive_count
            );
            dead_letter(source, queue, message.body.clone(), reason)
                .await
                .is_ok()
        }
        Err(MessageFailure::Transient(reason)) => {
            tracing::warn!(
                queue,
                message = message.receipt.message_id,
                receive_count = message.receive_count,
                reason,
                "s3 notification left for a retry"
            );
            let delay = 2 * i32::try_from(message.receive_count).unwrap_or(i32::MAX / 2);
            if let Err(e) = reader.retry_later(&message.receipt, delay.min(300)).await {
                tracing::warn!(error = %e, "s3 queue");
            }
            false
        }
    };
    if ack && let Err(e) = reader.ack(&message.receipt).await {
        // it comes back and is read again: the same alert ids, stored once
        tracing::warn!(error = %e, "s3 notification not deleted");
    }
}

/// Reads `object` through the pipeline, chunk by chunk, each committed before the next.
async fn read_object(
    source: &SourceContext,
    clients: &SourceClients,
    settings: &S3QueueSettings,
    object: &S3Object,
) -> Result<(), MessageFailure> {
    let mut reader = open_object(&clients.s3, object, settings.objects.clone())
        .await
        .map_err(classify)?;
    let id = reader.id().clone();
    while let Some(chunk) = reader.next_chunk().await.map_err(classify)? {
        let payloads = chunk
            .payloads
            .into_iter()
            .map(|payload| {
                let root = match payload.body {
                    PayloadBody::Json(value) => Root::Json(value),
                    PayloadBody::Raw(bytes) => Root::Text(String::from_utf8_lossy(&bytes).into()),
                    // no schema takes it: the classifier dead-letters the line, the rest goes on
                    PayloadBody::BadJsonLine { line, .. } => {
                        Root::Text(String::from_utf8_lossy(&line).into())
                    }
                };
                Payload::at(root, format!("{}@{}#{}", id.key, id.etag, payload.index))
            })
            .collect();
        let batch = SourceBatch {
            service: SERVICE.to_string(),
            resource: id.bucket.clone(),
            payloads,
            position: None,
        };
        let mut attempts = 0;
        loop {
            match source.pipeline.run(batch.clone()).await {
                Ok(_) => break,
                Err(BatchError::UnknownSource(reason)) => {
                    return Err(MessageFailure::Permanent(reason));
                }
                Err(BatchError::Unavailable(reason)) => {
                    attempts += 1;
                    if attempts >= PIPELINE_ATTEMPTS {
                        return Err(MessageFailure::Transient(reason));
                    }
                    tokio::time::sleep(PIPELINE_RETRY.ceiling(attempts)).await;
                }
            }
        }
    }
    Ok(())
}

fn classify(error: SourceError) -> MessageFailure {
    match error {
        SourceError::ObjectMissing { .. }
        | SourceError::DocumentTooLarge { .. }
        | SourceError::DecompressionLimit { .. }
        | SourceError::LineTooLong { .. } => MessageFailure::Permanent(error.to_string()),
        other => MessageFailure::Transient(other.to_string()),
    }
}

/// Commits one dead letter for what could not be read (`resource`: the bucket or the queue).
async fn dead_letter(
    source: &SourceContext,
    resource: &str,
    record: String,
    reason: String,
) -> anyhow::Result<()> {
    tracing::warn!(resource, reason, "s3 source dead letter");
    let letter = DeadLetter {
        cluster: String::new(),
        service: SERVICE.to_string(),
        resource: resource.to_string(),
        log_type: None,
        record,
        failures: vec![CandidateFailure::new(SERVICE, reason)],
        origin: String::new(),
    };
    source
        .alerts
        .commit(&[], &[letter])
        .await
        .map(|_| ())
        .map_err(|e| {
            tracing::warn!(error = format!("{e:#}"), "s3 dead letter not committed");
            e
        })
}
