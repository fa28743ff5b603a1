//! Enhanced fan-out: a registered consumer has each shard pushed to it (SubscribeToShard over
//! HTTP/2) with 2 MB/s of its own per shard, instead of sharing the shard's GetRecords limits.
//! A subscription lasts at most five minutes; the reader re-subscribes after the last record it
//! delivered. Not every endpoint has it (moto does not): [`ShardReader`](super::ShardReader)
//! works everywhere.

use std::time::Duration;

use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::primitives::event_stream::EventReceiver;
use aws_sdk_kinesis::types::error::SubscribeToShardEventStreamError;
use aws_sdk_kinesis::types::{
    ConsumerStatus, ShardIteratorType, StartingPosition, SubscribeToShardEvent,
    SubscribeToShardEventStream,
};

use super::checkpoint::Checkpoint;
use super::pacing::Backoff;
use super::reader::{
    KinesisRecord, MAX_TRANSIENT_RETRIES, ShardBatch, StartPosition, THROTTLING_CODES, user_records,
};
use super::shards::ShardInfo;
use crate::error::SourceError;

/// Registers (or finds) the consumer `name` of the stream and waits until it is ACTIVE;
/// returns its ARN.
pub async fn register_consumer(
    client: &aws_sdk_kinesis::Client,
    stream_arn: &str,
    name: &str,
) -> Result<String, SourceError> {
    let error = |operation: &'static str, message: String| SourceError::Kinesis {
        stream: stream_arn.into(),
        shard: None,
        operation,
        message,
    };
    match client
        .register_stream_consumer()
        .stream_arn(stream_arn)
        .consumer_name(name)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if e.code() == Some("ResourceInUseException") => {} // registered before
        Err(e) => {
            return Err(error(
                "RegisterStreamConsumer",
                DisplayErrorContext(&e).to_string(),
            ));
        }
    }
    for _ in 0..120 {
        let described = client
            .describe_stream_consumer()
            .stream_arn(stream_arn)
            .consumer_name(name)
            .send()
            .await
            .map_err(|e| {
                error(
                    "DescribeStreamConsumer",
                    DisplayErrorContext(&e).to_string(),
                )
            })?;
        if let Some(consumer) = described.consumer_description()
            && consumer.consumer_status() == &ConsumerStatus::Active
        {
            return Ok(consumer.consumer_arn().to_string());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(error(
        "DescribeStreamConsumer",
        format!("consumer {name} did not become ACTIVE within a minute"),
    ))
}

/// Reads one shard through a fan-out consumer; same batches as a `ShardReader`.
pub struct FanOutReader {
    client: aws_sdk_kinesis::Client,
    stream: String,
    consumer_arn: String,
    shard_id: String,
    start: StartPosition,
    last_read: Option<Checkpoint>,
    /// Where the next subscription starts: the last sequence number the service has sent.
    continuation: Option<String>,
    events: Option<EventReceiver<SubscribeToShardEventStream, SubscribeToShardEventStreamError>>,
    ended: bool,
    backoff: Backoff,
    transient_failures: u32,
}

impl FanOutReader {
    /// A reader of `shard` through the consumer `consumer_arn` (see [`register_consumer`]).
    pub fn new(
        client: aws_sdk_kinesis::Client,
        stream: impl Into<String>,
        consumer_arn: impl Into<String>,
        shard: &ShardInfo,
        start: StartPosition,
    ) -> FanOutReader {
        let last_read = match &start {
            StartPosition::AfterSequence(checkpoint) => Some(checkpoint.clone()),
            _ => None,
        };
        FanOutReader {
            client,
            stream: stream.into(),
            consumer_arn: consumer_arn.into(),
            shard_id: shard.shard_id.clone(),
            start,
            last_read,
            continuation: None,
            events: None,
            ended: false,
            // SubscribeToShard allows one call per consumer and shard every 5 s
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(10)),
            transient_failures: 0,
        }
    }

    /// Backoff between subscription attempts after an error (default 1 s doubling to 10 s).
    pub fn with_retry_backoff(mut self, base: Duration, max: Duration) -> FanOutReader {
        self.backoff = Backoff::new(base, max);
        self
    }

    /// The shard this reader reads.
    pub fn shard_id(&self) -> &str {
        &self.shard_id
    }

    /// The last record returned (or the checkpoint started from).
    pub fn position(&self) -> Option<&Checkpoint> {
        self.last_read.as_ref()
    }

    /// The next pushed batch (possibly empty: the service sends heartbeats with none).
    pub async fn next_batch(&mut self) -> Result<ShardBatch, SourceError> {
        if self.ended {
            return Ok(ShardBatch::read_through());
        }
        loop {
            if self.events.is_none() {
                match self.subscribe().await {
                    Ok(events) => self.events = Some(events),
                    Err((code, message)) => {
                        self.back_off(code.as_deref(), "SubscribeToShard", message)
                            .await?;
                        continue;
                    }
                }
            }
            let Some(events) = self.events.as_mut() else {
                continue;
            };
            match events.recv().await {
                Ok(Some(SubscribeToShardEventStream::SubscribeToShardEvent(event))) => {
                    self.backoff.reset();
                    self.transient_failures = 0;
                    let (batch, continuation) = batch_from_event(&event, self.last_read.as_ref());
                    self.continuation = continuation.or(self.continuation.take());
                    if let Some(last) = batch.records.last() {
                        self.last_read = Some(last.checkpoint());
                    }
                    self.ended = batch.shard_end;
                    return Ok(batch);
                }
                // an event type this SDK does not know
                Ok(Some(_)) => {}
                // the subscription's five minutes are over
                Ok(None) => self.events = None,
                Err(e) => {
                    self.events = None;
                    let code = e.code().map(str::to_string);
                    self.back_off(
                        code.as_deref(),
                        "SubscribeToShard",
                        DisplayErrorContext(&e).to_string(),
                    )
                    .await?;
                }
            }
        }
    }

    async fn subscribe(
        &self,
    ) -> Result<
        EventReceiver<SubscribeToShardEventStream, SubscribeToShardEventStreamError>,
        (Option<String>, String),
    > {
        let position = match (&self.continuation, &self.last_read, &self.start) {
            (Some(continuation), _, _) => StartingPosition::builder()
                .r#type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(continuation),
            // a partly read aggregate is re-read from its start; user_records skips the read part
            (None, Some(last), _) if last.sub_sequence.is_some() => StartingPosition::builder()
                .r#type(ShardIteratorType::AtSequenceNumber)
                .sequence_number(&last.sequence_number),
            (None, Some(last), _) => StartingPosition::builder()
                .r#type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(&last.sequence_number),
            (None, None, StartPosition::TrimHorizon | StartPosition::AfterSequence(_)) => {
                StartingPosition::builder().r#type(ShardIteratorType::TrimHorizon)
            }
            (None, None, StartPosition::Latest) => {
                StartingPosition::builder().r#type(ShardIteratorType::Latest)
            }
            (None, None, StartPosition::AtTimestamp(time)) => StartingPosition::builder()
                .r#type(ShardIteratorType::AtTimestamp)
                .timestamp(DateTime::from(*time)),
        };
        let position = position
            .build()
            .map_err(|e| (None, format!("starting position: {e}")))?;
        let output = self
            .client
            .subscribe_to_shard()
            .consumer_arn(&self.consumer_arn)
            .shard_id(&self.shard_id)
            .starting_position(position)
            .send()
            .await
            .map_err(|e| {
                (
                    e.code().map(str::to_string),
                    DisplayErrorContext(&e).to_string(),
                )
            })?;
        Ok(output.event_stream)
    }

    /// Waits before the next subscription, or gives up on errors that will not pass.
    async fn back_off(
        &mut self,
        code: Option<&str>,
        operation: &'static str,
        message: String,
    ) -> Result<(), SourceError> {
        let throttled =
            code.is_some_and(|c| THROTTLING_CODES.contains(&c) || c == "ResourceInUseException");
        let fatal = matches!(
            code,
            Some(
                "ResourceNotFoundException" | "InvalidArgumentException" | "AccessDeniedException"
            )
        );
        if !throttled {
            self.transient_failures += 1;
        }
        if fatal || self.transient_failures > MAX_TRANSIENT_RETRIES {
            self.transient_failures = 0;
            return Err(SourceError::Kinesis {
                stream: self.stream.clone(),
                shard: Some(self.shard_id.clone()),
                operation,
                message,
            });
        }
        tokio::time::sleep(self.backoff.next_delay(fastrand::f64())).await;
        Ok(())
    }
}

/// The batch one pushed event makes, and where a later subscription should continue. Child
/// shards in an event mean the shard is closed and read through.
pub fn batch_from_event(
    event: &SubscribeToShardEvent,
    last_read: Option<&Checkpoint>,
) -> (ShardBatch, Option<String>) {
    let records: Vec<KinesisRecord> = user_records(event.records(), last_read);
    let continuation = Some(event.continuation_sequence_number())
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    (
        ShardBatch {
            records,
            millis_behind_latest: event.millis_behind_latest(),
            shard_end: !event.child_shards().is_empty(),
        },
        continuation,
    )
}

#[cfg(test)]
mod tests {
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::{ChildShard, HashKeyRange, Record};

    use super::*;
    use crate::kinesis::{UserRecord, aggregate};

    fn record(seq: &str, data: &[u8]) -> Record {
        Record::builder()
            .sequence_number(seq)
            .partition_key("pk")
            .data(Blob::new(data))
            .build()
            .unwrap()
    }

    #[test]
    fn an_event_becomes_a_batch_with_aggregates_split_and_the_read_part_skipped() {
        let users: Vec<UserRecord> = (0..3)
            .map(|i| UserRecord {
                partition_key: format!("u{i}"),
                data: vec![b'0' + i],
            })
            .collect();
        let event = SubscribeToShardEvent::builder()
            .records(record("10", &aggregate(&users)))
            .records(record("11", b"plain"))
            .continuation_sequence_number("11")
            .millis_behind_latest(42)
            .build()
            .unwrap();
        let resumed_inside = Checkpoint {
            sequence_number: "10".into(),
            sub_sequence: Some(0),
        };
        let (batch, continuation) = batch_from_event(&event, Some(&resumed_inside));
        let got: Vec<(String, Option<u64>, Vec<u8>)> = batch
            .records
            .iter()
            .map(|r| (r.sequence_number.clone(), r.sub_sequence, r.data.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("10".into(), Some(1), b"1".to_vec()),
                ("10".into(), Some(2), b"2".to_vec()),
                ("11".into(), None, b"plain".to_vec()),
            ]
        );
        assert_eq!(batch.millis_behind_latest, 42);
        assert!(!batch.shard_end);
        assert_eq!(continuation.as_deref(), Some("11"));
    }

    #[test]
    fn child_shards_in_an_event_end_the_shard() {
        let child = ChildShard::builder()
            .shard_id("shardId-000000000002")
            .parent_shards("shardId-000000000000")
            .hash_key_range(
                HashKeyRange::builder()
                    .starting_hash_key("0")
                    .ending_hash_key("1")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let event = SubscribeToShardEvent::builder()
            .set_records(Some(Vec::new()))
            .continuation_sequence_number("")
            .millis_behind_latest(0)
            .child_shards(child)
            .build()
            .unwrap();
        let (batch, continuation) = batch_from_event(&event, None);
        assert!(batch.shard_end);
        assert!(batch.records.is_empty());
        assert_eq!(continuation, None);
    }
}
