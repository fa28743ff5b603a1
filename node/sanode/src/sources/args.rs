//! The flags of the sources (each also read from an `SA_*` environment variable).

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Where a Kinesis shard without a checkpoint is read from: trim_horizon, latest or
    /// at_timestamp:RFC3339 (a child of a split or merge is always read from its start).
    #[arg(long, env = "SA_KINESIS_START", default_value = "trim_horizon")]
    pub kinesis_start: super::kinesis::KinesisStart,

    /// Read Kinesis shards through this enhanced fan-out consumer (registered on each stream
    /// if needed) instead of GetRecords polling; falls back to polling where the endpoint does
    /// not support SubscribeToShard.
    #[arg(long, env = "SA_KINESIS_FAN_OUT", value_name = "CONSUMER_NAME")]
    pub kinesis_fan_out: Option<String>,

    /// A node that has not answered the leader for this long loses its Kinesis shard leases.
    #[arg(long, env = "SA_LEASE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub lease_timeout: std::time::Duration,

    /// SQS queue URL receiving S3 event notifications (raw or SNS-wrapped) to read the announced
    /// objects from; repeat for several queues (sa extension, see docs/compat.md).
    #[arg(long = "s3-queue", env = "SA_S3_QUEUES", value_delimiter = ',')]
    pub s3_queues: Vec<String>,

    /// MiB of HTTP and gRPC ingest requests the node holds at once (from admission to commit);
    /// a request past it is refused at once with 503 and Retry-After (gRPC: RESOURCE_EXHAUSTED).
    /// At least one largest request (16 MiB).
    #[arg(long, env = "SA_INGEST_MAX_HELD_MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(16..))]
    pub ingest_max_held_mib: u32,
}
