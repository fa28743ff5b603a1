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

    /// MiB a gzip S3 object may inflate to; past it the object is dead-lettered with the
    /// reason (docs/security.md).
    #[arg(long, env = "SA_MAX_DECOMPRESSED_MIB", default_value_t = 4096)]
    pub max_decompressed_mib: u64,

    /// Decompressed-to-compressed ratio past which a gzip object is taken for a decompression
    /// bomb and dead-lettered (checked once 1 MiB came out).
    #[arg(long, env = "SA_MAX_COMPRESSION_RATIO", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(2..))]
    pub max_compression_ratio: u64,
}

impl SourceArgs {
    pub fn decompression_limits(&self) -> sa_aws_sources::s3::DecompressionLimits {
        sa_aws_sources::s3::DecompressionLimits {
            max_bytes: self.max_decompressed_mib.saturating_mul(1 << 20),
            max_ratio: self.max_compression_ratio,
            ..Default::default()
        }
    }
}
