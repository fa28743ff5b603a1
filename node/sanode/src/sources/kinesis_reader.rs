//! How a shard consumer reads: GetRecords polling, or enhanced fan-out (SubscribeToShard)
//! when `--kinesis-fan-out NAME` asks for it and the endpoint supports it. A fan-out reader that
//! cannot subscribe falls back to polling from where it got, so a node pointed at an endpoint
//! without fan-out (moto, LocalStack) keeps reading.

use aws_sdk_kinesis::Client;
use sa_aws_sources::SourceError;
use sa_aws_sources::kinesis::{
    Checkpoint, FanOutReader, ReaderOptions, ShardBatch, ShardInfo, ShardReader, StartPosition,
    register_consumer,
};

pub enum ShardSource {
    Polling(ShardReader),
    /// A fan-out reader already retries transient failures itself, so its first error means
    /// the endpoint cannot serve it: the shard is polled from then on.
    FanOut {
        reader: FanOutReader,
        /// What a fallback needs to start polling.
        fallback: Box<(Client, String, ShardInfo, StartPosition, ReaderOptions)>,
    },
}

impl ShardSource {
    /// A polling reader, or a fan-out one through the consumer `fan_out` (registered on the
    /// stream if it is not yet; registration failing means polling).
    pub async fn open(
        client: Client,
        stream: &str,
        shard: &ShardInfo,
        start: StartPosition,
        options: ReaderOptions,
        fan_out: Option<&str>,
    ) -> ShardSource {
        let Some(consumer) = fan_out else {
            return ShardSource::Polling(ShardReader::new(client, stream, shard, start, options));
        };
        match consumer_arn(&client, stream, consumer).await {
            Ok(arn) => ShardSource::FanOut {
                reader: FanOutReader::new(client.clone(), stream, arn, shard, start.clone()),
                fallback: Box::new((client, stream.to_string(), shard.clone(), start, options)),
            },
            Err(e) => {
                tracing::warn!(
                    stream, consumer, error = %e,
                    "enhanced fan-out unavailable; reading with GetRecords"
                );
                ShardSource::Polling(ShardReader::new(client, stream, shard, start, options))
            }
        }
    }

    pub async fn next_batch(&mut self) -> Result<ShardBatch, SourceError> {
        let (reader, fallback) = match self {
            ShardSource::Polling(reader) => return reader.next_batch().await,
            ShardSource::FanOut { reader, fallback } => (reader, fallback),
        };
        let error = match reader.next_batch().await {
            Ok(batch) => return Ok(batch),
            Err(e) => e,
        };
        let (client, stream, shard, start, options) = (**fallback).clone();
        tracing::warn!(
            stream, shard = shard.shard_id, error = %error,
            "SubscribeToShard failed; reading this shard with GetRecords"
        );
        let start = reader
            .position()
            .cloned()
            .map_or(start, StartPosition::AfterSequence);
        *self = ShardSource::Polling(ShardReader::new(client, stream, &shard, start, options));
        Err(error)
    }

    pub fn position(&self) -> Option<&Checkpoint> {
        match self {
            ShardSource::Polling(reader) => reader.position(),
            ShardSource::FanOut { reader, .. } => reader.position(),
        }
    }

    /// The end of a closed shard, for a polling reader (a subscription is told by the service).
    pub fn set_ending_sequence(&mut self, ending: Option<String>) {
        if let ShardSource::Polling(reader) = self {
            reader.set_ending_sequence(ending);
        }
    }
}

async fn consumer_arn(
    client: &Client,
    stream: &str,
    consumer: &str,
) -> Result<String, SourceError> {
    let summary = client
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .map_err(|e| SourceError::Kinesis {
            stream: stream.into(),
            shard: None,
            operation: "DescribeStreamSummary",
            message: aws_sdk_kinesis::error::DisplayErrorContext(&e).to_string(),
        })?;
    let stream_arn = summary
        .stream_description_summary()
        .map(|s| s.stream_arn().to_string())
        .unwrap_or_default();
    register_consumer(client, &stream_arn, consumer).await
}
