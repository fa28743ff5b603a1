//! Reads one shard with GetRecords: from a start position or a checkpoint, within the shard's
//! limits, de-aggregating KPL records, until the shard ends.

use std::time::{Duration, SystemTime};

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::ShardIteratorType;
use tokio::time::Instant;

use super::checkpoint::{Checkpoint, compare_sequence_numbers};
use super::kpl::deaggregate;
use super::pacing::{PacingConfig, ReadPacer};
use super::shards::ShardInfo;
use crate::error::SourceError;

/// Where a reader starts when it has no checkpoint of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPosition {
    /// The oldest record still retained.
    TrimHorizon,
    /// Only records put after the reader's first call.
    Latest,
    /// The first record that arrived at or after this time.
    AtTimestamp(SystemTime),
    /// Just after a checkpoint: what a new owner uses to resume a shard.
    AfterSequence(Checkpoint),
}

/// One user record (a plain Kinesis record, or one record of a KPL aggregate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisRecord {
    pub sequence_number: String,
    /// The index inside a KPL aggregate; `None` for a plain record.
    pub sub_sequence: Option<u64>,
    pub partition_key: String,
    /// The record's bytes as put (gzip/zlib is undone later, by the classifier).
    pub data: Vec<u8>,
    pub approximate_arrival_ms: Option<i64>,
}

impl KinesisRecord {
    /// The checkpoint that marks this record as done.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            sequence_number: self.sequence_number.clone(),
            sub_sequence: self.sub_sequence,
        }
    }

    /// Where the record came from, for `ClassifiedRecord::origin` (alert ids derive from it):
    /// `kinesis/STREAM/SHARD/SEQUENCE#SUB`, `#0` for a plain record (a sequence number is either
    /// plain or an aggregate, so the two never collide).
    pub fn origin(&self, stream: &str, shard_id: &str) -> String {
        format!(
            "kinesis/{stream}/{shard_id}/{}#{}",
            self.sequence_number,
            self.sub_sequence.unwrap_or(0)
        )
    }
}

/// What one GetRecords call yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardBatch {
    /// In shard order; empty when nothing new was there.
    pub records: Vec<KinesisRecord>,
    /// How far the reader is behind the tip of the shard.
    pub millis_behind_latest: i64,
    /// The shard is closed and fully read: its children may be read now.
    pub shard_end: bool,
}

impl ShardBatch {
    /// What every later read returns once a shard is closed and read through: no records,
    /// `shard_end`. [`ShardReader`] and [`FanOutReader`](super::FanOutReader) alike.
    pub fn read_through() -> ShardBatch {
        ShardBatch {
            records: Vec::new(),
            millis_behind_latest: 0,
            shard_end: true,
        }
    }
}

/// Tuning of a [`ShardReader`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReaderOptions {
    /// GetRecords `Limit` (Kinesis caps it at 10 000).
    pub max_records_per_call: i32,
    /// Per-shard limits, backoff and idle delays.
    pub pacing: PacingConfig,
}

impl Default for ReaderOptions {
    fn default() -> ReaderOptions {
        ReaderOptions {
            max_records_per_call: 10_000,
            pacing: PacingConfig::default(),
        }
    }
}

/// Reads one shard, batch by batch. Dropping a pending `next_batch` loses nothing: the reader's
/// position moves only when a batch is returned.
pub struct ShardReader {
    client: aws_sdk_kinesis::Client,
    stream: String,
    shard_id: String,
    start: StartPosition,
    ending_sequence: Option<String>,
    iterator: Option<String>,
    last_read: Option<Checkpoint>,
    ended: bool,
    transient_failures: u32,
    max_records_per_call: i32,
    pacer: ReadPacer,
    origin: Instant,
}

enum CallFailure {
    Throttled,
    IteratorExpired,
    /// Network trouble or a 5xx: retried with backoff a few times, then reported.
    Transient(String),
    Fatal(String),
}

/// Consecutive transient failures after which `next_batch` reports the error instead of retrying.
pub(super) const MAX_TRANSIENT_RETRIES: u32 = 5;

impl ShardReader {
    /// A reader of `shard` of `stream` from `start`. A checkpoint (`AfterSequence`) also marks
    /// the records up to it as read, so nothing at or before it is returned.
    pub fn new(
        client: aws_sdk_kinesis::Client,
        stream: impl Into<String>,
        shard: &ShardInfo,
        start: StartPosition,
        options: ReaderOptions,
    ) -> ShardReader {
        let origin = Instant::now();
        let last_read = match &start {
            StartPosition::AfterSequence(checkpoint) => Some(checkpoint.clone()),
            _ => None,
        };
        ShardReader {
            client,
            stream: stream.into(),
            shard_id: shard.shard_id.clone(),
            start,
            ending_sequence: shard.ending_sequence.clone(),
            iterator: None,
            last_read,
            ended: false,
            transient_failures: 0,
            max_records_per_call: options.max_records_per_call,
            pacer: ReadPacer::new(options.pacing, Duration::ZERO),
            origin,
        }
    }

    /// The shard this reader reads.
    pub fn shard_id(&self) -> &str {
        &self.shard_id
    }

    /// The last record returned (or the checkpoint started from): what to checkpoint once
    /// everything returned so far is committed.
    pub fn position(&self) -> Option<&Checkpoint> {
        self.last_read.as_ref()
    }

    /// Tells the reader its shard was found closed at `ending_sequence` (by a later
    /// [`discover_shards`](super::discover_shards)). Kinesis itself signals the end with a null
    /// NextShardIterator; endpoints that never do (moto) end the shard once it is read past this.
    pub fn set_ending_sequence(&mut self, ending_sequence: Option<String>) {
        self.ending_sequence = ending_sequence;
    }

    /// Throttling errors since the last successful GetRecords.
    pub fn consecutive_throttles(&self) -> u32 {
        self.pacer.consecutive_throttles()
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The next batch: waits as the shard's limits and idle pacing require, retries throttled
    /// calls with backoff and re-creates an expired iterator from the last record read. An
    /// empty batch means nothing new yet; `shard_end` that the shard is closed and read through
    /// (every later call returns an empty `shard_end` batch).
    pub async fn next_batch(&mut self) -> Result<ShardBatch, SourceError> {
        if self.ended {
            return Ok(ShardBatch::read_through());
        }
        loop {
            let wait = self.pacer.delay(self.now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let iterator = match &self.iterator {
                Some(iterator) => iterator.clone(),
                None => match self.new_iterator().await {
                    Ok(iterator) => {
                        // kept, so a throttled GetRecords does not cost another GetShardIterator
                        self.iterator = Some(iterator.clone());
                        iterator
                    }
                    Err(failure) => {
                        self.retry_or_fail("GetShardIterator", failure)?;
                        continue;
                    }
                },
            };
            self.pacer.on_call(self.now());
            let response = self
                .client
                .get_records()
                .shard_iterator(&iterator)
                .limit(self.max_records_per_call)
                .send()
                .await;
            match response.map_err(classify) {
                Ok(output) => {
                    let millis_behind_latest = output.millis_behind_latest().unwrap_or(0);
                    let bytes: usize = output
                        .records()
                        .iter()
                        .map(|r| r.data().as_ref().len())
                        .sum();
                    let raw_empty = output.records().is_empty();
                    let records = user_records(output.records(), self.last_read.as_ref());
                    let next = output.next_shard_iterator().map(str::to_string);
                    let shard_end = next.is_none() || (raw_empty && self.read_past_end());
                    self.pacer.on_response(
                        self.now(),
                        bytes,
                        raw_empty && millis_behind_latest == 0,
                    );
                    self.iterator = next;
                    if let Some(last) = records.last() {
                        self.last_read = Some(last.checkpoint());
                    }
                    self.ended = shard_end;
                    self.transient_failures = 0;
                    return Ok(ShardBatch {
                        records,
                        millis_behind_latest,
                        shard_end,
                    });
                }
                Err(failure) => self.retry_or_fail("GetRecords", failure)?,
            }
        }
    }

    /// Prepares the retry of a failed call, or gives the error up.
    fn retry_or_fail(
        &mut self,
        operation: &'static str,
        failure: CallFailure,
    ) -> Result<(), SourceError> {
        match failure {
            CallFailure::Throttled => {
                self.transient_failures = 0;
                self.pacer.on_throttled(self.now(), fastrand::f64());
            }
            CallFailure::IteratorExpired => self.iterator = None,
            CallFailure::Transient(message) => {
                self.transient_failures += 1;
                if self.transient_failures > MAX_TRANSIENT_RETRIES {
                    self.transient_failures = 0;
                    return Err(self.error(operation, message));
                }
                self.pacer.on_throttled(self.now(), fastrand::f64());
            }
            CallFailure::Fatal(message) => return Err(self.error(operation, message)),
        }
        Ok(())
    }

    /// True when the shard is known closed and nothing after its last sequence number is left.
    fn read_past_end(&self) -> bool {
        let Some(ending) = &self.ending_sequence else {
            return false;
        };
        let last = self
            .last_read
            .as_ref()
            .map(|c| c.sequence_number.as_str())
            .unwrap_or("0");
        compare_sequence_numbers(last, ending).is_ge()
    }

    async fn new_iterator(&self) -> Result<String, CallFailure> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(&self.shard_id);
        let request = match (&self.last_read, &self.start) {
            // A partly read aggregate is re-read from its start; user_records skips what was read.
            (Some(last), _) if last.sub_sequence.is_some() => request
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .starting_sequence_number(&last.sequence_number),
            (Some(last), _) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(&last.sequence_number),
            (None, StartPosition::TrimHorizon | StartPosition::AfterSequence(_)) => {
                request.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
            (None, StartPosition::Latest) => request.shard_iterator_type(ShardIteratorType::Latest),
            (None, StartPosition::AtTimestamp(time)) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(DateTime::from(*time)),
        };
        let output = request.send().await.map_err(classify)?;
        output
            .shard_iterator()
            .map(str::to_string)
            .ok_or_else(|| CallFailure::Fatal("the response holds no shard iterator".into()))
    }

    fn error(&self, operation: &'static str, message: String) -> SourceError {
        SourceError::Kinesis {
            stream: self.stream.clone(),
            shard: Some(self.shard_id.clone()),
            operation,
            message,
        }
    }
}

/// Plain and de-aggregated records newer than the last one read (an iterator re-created
/// at a partly read aggregate returns its first sub-records again).
pub(super) fn user_records(
    records: &[aws_sdk_kinesis::types::Record],
    last_read: Option<&Checkpoint>,
) -> Vec<KinesisRecord> {
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let data = record.data().as_ref();
        let arrival = record
            .approximate_arrival_timestamp()
            .and_then(|t| t.to_millis().ok());
        let sequence_number = record.sequence_number().to_string();
        match deaggregate(data) {
            Some(users) => {
                out.extend(
                    users
                        .into_iter()
                        .enumerate()
                        .map(|(i, user)| KinesisRecord {
                            sequence_number: sequence_number.clone(),
                            sub_sequence: Some(i as u64),
                            partition_key: user.partition_key,
                            data: user.data,
                            approximate_arrival_ms: arrival,
                        }),
                )
            }
            None => out.push(KinesisRecord {
                sequence_number,
                sub_sequence: None,
                partition_key: record.partition_key().unwrap_or_default().to_string(),
                data: data.to_vec(),
                approximate_arrival_ms: arrival,
            }),
        }
    }
    if let Some(last_read) = last_read {
        out.retain(|record| record.checkpoint() > *last_read);
    }
    out
}

/// Error codes Kinesis uses when a shard's or account's limits are exceeded.
pub(super) const THROTTLING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "ThrottlingException",
    "KMSThrottlingException",
];

fn classify<E>(error: SdkError<E, HttpResponse>) -> CallFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let server_fault = error
        .raw_response()
        .is_some_and(|r| r.status().is_server_error());
    match error.code() {
        Some(code) if THROTTLING_CODES.contains(&code) => CallFailure::Throttled,
        Some("ExpiredIteratorException") => CallFailure::IteratorExpired,
        _ if server_fault
            || matches!(
                error,
                SdkError::DispatchFailure(_)
                    | SdkError::TimeoutError(_)
                    | SdkError::ResponseError(_)
            ) =>
        {
            CallFailure::Transient(DisplayErrorContext(&error).to_string())
        }
        _ => CallFailure::Fatal(DisplayErrorContext(&error).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_name_stream_shard_sequence_and_sub_record() {
        let mut record = KinesisRecord {
            sequence_number: "4959".into(),
            sub_sequence: None,
            partition_key: "k".into(),
            data: Vec::new(),
            approximate_arrival_ms: None,
        };
        assert_eq!(
            record.origin("events", "shardId-000000000001"),
            "kinesis/events/shardId-000000000001/4959#0"
        );
        record.sub_sequence = Some(7);
        assert_eq!(record.origin("s", "shard"), "kinesis/s/shard/4959#7");
    }
}
