//! The `kinesis` source: every node reads the shards the leader leased to it (see
//! [`super::kinesis_leases`]), one consumer task per shard. A consumer starts after the shard's
//! checkpoint (or at the configured start position when it has none), runs each GetRecords
//! batch through the pipeline, and only once the batch's alerts are committed moves the
//! checkpoint, in a command fenced by its lease: a node that lost the lease cannot move it.
//!
//! A record's position is `SHARD/SEQUENCE#SUB`, so a record read again by the next owner after
//! a crash yields the same alert ids. A record the classifier rejects is dead-lettered by the
//! pipeline with that origin and the shard moves on.

use super::kinesis_reader::ShardSource;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sa_aws_sources::kinesis::{
    ReaderOptions, ShardBatch, ShardInfo, StartPosition, discover_shards,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{SourceContext, Started};
use crate::pipeline::{BatchError, Body, Payload, SourceBatch};
use crate::retry::Backoff;
use sa_state::{Fenced, LeaseStore, ShardProgress, now_ms};

pub const SERVICE: &str = sa_engine::service::KINESIS;
/// How often a node compares the leases it holds with the consumers it runs.
const LEASE_POLL: Duration = Duration::from_millis(300);
/// How often the shards of streams being read are listed again: a closed shard's
/// EndingSequenceNumber shows up there (endpoints such as moto never end a shard otherwise).
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(2);
/// An idle shard's lag is written to the replicated state at most this often.
const LAG_WRITE_INTERVAL: Duration = Duration::from_secs(5);
/// Waits before retrying a batch the pipeline could not take, or a failed read: short at first
/// (a leader change takes about a second), longer while it keeps failing.
const RETRY: Backoff = Backoff {
    base: Duration::from_millis(500),
    max: Duration::from_secs(5),
};

/// Where a shard with no checkpoint starts (`--kinesis-start`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KinesisStart {
    TrimHorizon,
    Latest,
    AtTimestamp(SystemTime),
}

impl FromStr for KinesisStart {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "trim_horizon" => Ok(KinesisStart::TrimHorizon),
            "latest" => Ok(KinesisStart::Latest),
            _ => match text.strip_prefix("at_timestamp:") {
                Some(time) => humantime::parse_rfc3339_weak(time)
                    .map(KinesisStart::AtTimestamp)
                    .map_err(|e| format!("{time:?} is not an RFC 3339 time: {e}")),
                None => Err(format!(
                    "{text:?}: expected trim_horizon, latest or at_timestamp:RFC3339"
                )),
            },
        }
    }
}

impl KinesisStart {
    fn position(&self) -> StartPosition {
        match self {
            KinesisStart::TrimHorizon => StartPosition::TrimHorizon,
            KinesisStart::Latest => StartPosition::Latest,
            KinesisStart::AtTimestamp(time) => StartPosition::AtTimestamp(*time),
        }
    }
}

/// What every consumer of this node shares.
#[derive(Clone)]
pub struct KinesisSettings {
    pub start: KinesisStart,
    pub reader: ReaderOptions,
    /// Enhanced fan-out consumer name; polling with GetRecords when `None`.
    pub fan_out: Option<String>,
}

struct Consumer {
    token: Vec<u8>,
    stop: CancellationToken,
    ending: watch::Sender<Option<String>>,
    task: JoinHandle<()>,
}

/// Consumers of the shards leased to this node; the leader plans the leases.
pub fn start(context: &Arc<SourceContext>, started: &mut Started) {
    started
        .leader_tasks
        .push(Arc::new(super::kinesis_leases::LeasePlanner {
            source: context.clone(),
        }));
    let settings = KinesisSettings {
        start: context.args.kinesis_start.clone(),
        reader: ReaderOptions::default(),
        fan_out: context.args.kinesis_fan_out.clone(),
    };
    started.tasks.spawn(run(context.clone(), settings));
}

/// Runs until the node stops: starts a consumer for every shard leased to this node, stops
/// those whose lease moved away (or to a new epoch).
pub async fn run(source: Arc<SourceContext>, settings: KinesisSettings) {
    let store = LeaseStore::new(source.replica.clone());
    let me = source.replica.node_id();
    let lag = prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "sa_kinesis_lag_milliseconds",
            "How far behind the tip of its shard this node's reader is (MillisBehindLatest).",
        ),
        &["stream", "shard"],
    )
    .expect("valid metric");
    source.metrics.register(Box::new(lag.clone()));
    let mut consumers: HashMap<(String, String), Consumer> = HashMap::new();
    let mut shards: HashMap<String, (Instant, Vec<ShardInfo>)> = HashMap::new();
    while !source.pause(LEASE_POLL).await {
        let held: HashMap<(String, String), Vec<u8>> = match store.leases(None) {
            Ok(leases) => leases
                .into_iter()
                .filter(|(_, _, held)| held.lease.owner == me)
                .map(|(stream, shard, held)| ((stream, shard), held.token))
                .collect(),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "cannot read the shard leases");
                continue;
            }
        };
        consumers.retain(|key, consumer| {
            let keep = !consumer.task.is_finished() && held.get(key) == Some(&consumer.token);
            if !keep {
                consumer.stop.cancel();
                tracing::info!(stream = key.0, shard = key.1, "kinesis consumer stopped");
            }
            keep
        });
        let streams: std::collections::BTreeSet<&String> =
            held.keys().map(|(stream, _)| stream).collect();
        for stream in streams {
            let stale = shards
                .get(stream)
                .is_none_or(|(at, _)| at.elapsed() >= DISCOVERY_INTERVAL);
            let missing = held
                .keys()
                .any(|(s, shard)| s == stream && !known(&shards, stream, shard));
            if stale || missing {
                match discover_shards(&source.clients().await.kinesis, stream).await {
                    Ok(found) => {
                        shards.insert(stream.clone(), (Instant::now(), found));
                    }
                    Err(e) => tracing::warn!(error = %e, "kinesis shard discovery"),
                }
            }
        }
        for ((stream, shard), token) in held {
            let Some(info) = shards
                .get(&stream)
                .and_then(|(_, list)| list.iter().find(|s| s.shard_id == shard))
            else {
                continue;
            };
            if let Some(consumer) = consumers.get(&(stream.clone(), shard.clone())) {
                consumer.ending.send_if_modified(|ending| {
                    let changed = *ending != info.ending_sequence;
                    ending.clone_from(&info.ending_sequence);
                    changed
                });
                continue;
            }
            let stop = source.shutdown.child_token();
            let (ending, ending_rx) = watch::channel(info.ending_sequence.clone());
            let shard_consumer = ShardConsumer {
                source: source.clone(),
                store: store.clone(),
                stream: stream.clone(),
                info: info.clone(),
                token: token.clone(),
                stop: stop.clone(),
                ending: ending_rx,
                lag: lag.with_label_values(&[stream.as_str(), shard.as_str()]),
                failures: 0,
            };
            let kinesis = source.clients().await.kinesis.clone();
            let task = tokio::spawn(shard_consumer.run(kinesis, settings.clone()));
            tracing::info!(stream, shard, "kinesis consumer started");
            consumers.insert(
                (stream, shard),
                Consumer {
                    token,
                    stop,
                    ending,
                    task,
                },
            );
        }
    }
    // The node stops: every consumer was cancelled with it; let each finish its batch.
    for (_, consumer) in consumers {
        if let Err(e) = consumer.task.await {
            tracing::warn!(error = %e, "kinesis consumer failed while stopping");
        }
    }
}

fn known(shards: &HashMap<String, (Instant, Vec<ShardInfo>)>, stream: &str, shard: &str) -> bool {
    shards
        .get(stream)
        .is_some_and(|(_, list)| list.iter().any(|s| s.shard_id == shard))
}

struct ShardConsumer {
    source: Arc<SourceContext>,
    store: LeaseStore,
    stream: String,
    info: ShardInfo,
    /// The lease as it was when this consumer started: its fencing token.
    token: Vec<u8>,
    stop: CancellationToken,
    ending: watch::Receiver<Option<String>>,
    lag: prometheus::IntGauge,
    /// Failures in a row, for the wait before the next retry.
    failures: u32,
}

impl ShardConsumer {
    async fn run(mut self, client: aws_sdk_kinesis::Client, settings: KinesisSettings) {
        let shard = self.info.shard_id.clone();
        let start = match self.store.progress(&self.stream, &shard) {
            Ok(Some(ShardProgress {
                checkpoint: Some(checkpoint),
                ..
            })) => StartPosition::AfterSequence(checkpoint),
            // a child shard is read whole: its parents were read to their end
            Ok(_) if self.info.parent_shard_id.is_some() => StartPosition::TrimHorizon,
            Ok(_) => settings.start.position(),
            Err(e) => {
                tracing::warn!(
                    stream = self.stream,
                    shard,
                    error = format!("{e:#}"),
                    "cannot read the checkpoint"
                );
                return;
            }
        };
        let mut reader = ShardSource::open(
            client,
            &self.stream,
            &self.info,
            start,
            settings.reader.clone(),
            settings.fan_out.as_deref(),
        )
        .await;
        let mut last_lag_write: Option<(Instant, i64)> = None;
        loop {
            if self.ending.has_changed().unwrap_or(false) {
                reader.set_ending_sequence(self.ending.borrow_and_update().clone());
            }
            let batch = tokio::select! {
                batch = reader.next_batch() => batch,
                _ = self.stop.cancelled() => return,
            };
            let batch = match batch {
                Ok(batch) => {
                    self.failures = 0;
                    batch
                }
                Err(e) => {
                    tracing::warn!(error = %e, "kinesis read");
                    if self.pause().await {
                        return;
                    }
                    continue;
                }
            };
            let progress = ShardProgress {
                checkpoint: reader.position().cloned(),
                millis_behind_latest: batch.millis_behind_latest,
                node: self.source.replica.node_id(),
                updated_ms: now_ms(),
                parents: [
                    &self.info.parent_shard_id,
                    &self.info.adjacent_parent_shard_id,
                ]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            };
            let checkpointed = if batch.records.is_empty() {
                self.lag.set(batch.millis_behind_latest);
                let lag_moved = last_lag_write.is_none_or(|(at, lag)| {
                    lag != batch.millis_behind_latest && at.elapsed() >= LAG_WRITE_INTERVAL
                });
                if !batch.shard_end && !lag_moved {
                    continue;
                }
                self.store
                    .checkpoint(
                        &self.stream,
                        &shard,
                        &self.token,
                        &progress,
                        batch.shard_end,
                    )
                    .await
            } else {
                // The checkpoint goes in the same entry as the batch's alerts and dead letters.
                let position = match LeaseStore::checkpoint_command(
                    &self.stream,
                    &shard,
                    &self.token,
                    &progress,
                    batch.shard_end,
                ) {
                    Ok(position) => position,
                    Err(e) => {
                        tracing::error!(
                            stream = self.stream,
                            shard,
                            error = format!("{e:#}"),
                            "kinesis checkpoint cannot be encoded"
                        );
                        return;
                    }
                };
                let Some(result) = self.process(&batch, position).await else {
                    return;
                };
                self.lag.set(batch.millis_behind_latest);
                result
            };
            match checkpointed {
                Ok(Fenced::Written) => {
                    last_lag_write = Some((Instant::now(), batch.millis_behind_latest));
                    if batch.shard_end {
                        tracing::info!(stream = self.stream, shard, "kinesis shard finished");
                        return;
                    }
                }
                Ok(Fenced::LeaseLost) => {
                    tracing::info!(
                        stream = self.stream,
                        shard,
                        "kinesis lease lost, consumer stops"
                    );
                    return;
                }
                // The alerts are committed; the next checkpoint covers this batch too.
                Err(e) => tracing::warn!(
                    stream = self.stream,
                    shard,
                    error = format!("{e:#}"),
                    "kinesis checkpoint not written"
                ),
            }
        }
    }

    /// Runs the batch's records through the pipeline until their alerts are committed, with
    /// the shard's checkpoint `position` in the same entry; what became of the checkpoint.
    /// `None` when the consumer was told to stop meanwhile.
    async fn process(
        &mut self,
        batch: &ShardBatch,
        position: sa_raft::Command,
    ) -> Option<anyhow::Result<Fenced>> {
        let shard = self.info.shard_id.clone();
        let payloads: Vec<Payload> = batch
            .records
            .iter()
            .map(|record| {
                Payload::at(
                    Body::kinesis(record.data.clone()),
                    format!(
                        "{shard}/{}#{}",
                        record.sequence_number,
                        record.sub_sequence.unwrap_or(0)
                    ),
                )
            })
            .collect();
        let source_batch = SourceBatch {
            service: SERVICE.to_string(),
            resource: self.stream.clone(),
            payloads,
            position: Some(position),
        };
        loop {
            match self.source.pipeline.run(source_batch.clone()).await {
                Ok(report) => {
                    self.failures = 0;
                    if !report.dead_letters.is_empty() {
                        // the dead letters name stream and record; the log adds where they sat
                        tracing::warn!(
                            stream = self.stream,
                            shard,
                            first_sequence =
                                batch.records.first().map(|r| r.sequence_number.as_str()),
                            last_sequence =
                                batch.records.last().map(|r| r.sequence_number.as_str()),
                            dead_letters = report.dead_letters.len(),
                            "kinesis records dead-lettered"
                        );
                    }
                    return Some(match report.position.clone() {
                        Some(result) => LeaseStore::fenced(result),
                        None => Err(anyhow::anyhow!(
                            "the batch came back without its checkpoint"
                        )),
                    });
                }
                Err(e @ (BatchError::UnknownSource(_) | BatchError::Unavailable(_))) => {
                    // no cluster routes the stream any more (its lease goes soon), or no quorum
                    tracing::warn!(stream = self.stream, shard, error = %e, "kinesis batch not taken, retrying");
                    if self.pause().await {
                        return None;
                    }
                }
            }
        }
    }

    /// Waits before a retry; true when told to stop meanwhile.
    async fn pause(&mut self) -> bool {
        self.failures = self.failures.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(RETRY.ceiling(self.failures)) => false,
            _ = self.stop.cancelled() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions_parse() {
        assert_eq!("trim_horizon".parse(), Ok(KinesisStart::TrimHorizon));
        assert_eq!("latest".parse(), Ok(KinesisStart::Latest));
        let at: KinesisStart = "at_timestamp:2026-11-28T12:00:00Z".parse().unwrap();
        assert_eq!(
            at,
            KinesisStart::AtTimestamp(humantime::parse_rfc3339("2026-11-28T12:00:00Z").unwrap())
        );
        assert!("at_timestamp:yesterday".parse::<KinesisStart>().is_err());
        assert!("earliest".parse::<KinesisStart>().is_err());
    }
}
