//! AWS clients for tests and benches that feed the node's Kinesis and S3 sources through moto.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_kinesis::config::Credentials;
use aws_sdk_kinesis::primitives::Blob;
use sa_aws_sources::SourceClients;

use crate::moto::{MOTO_REGION, MotoServer};

/// Kinesis, S3 and SQS clients on `moto` with its static test credentials.
pub async fn moto_clients(moto: &MotoServer) -> SourceClients {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(Region::new(MOTO_REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    SourceClients::from_sdk_config(&config, true)
}

/// Creates `stream` with `shards` shards (moto makes it ACTIVE at once).
pub async fn create_stream(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    shards: i32,
) -> anyhow::Result<()> {
    kinesis
        .create_stream()
        .stream_name(stream)
        .shard_count(shards)
        .send()
        .await?;
    Ok(())
}

/// Puts one record; returns (shard id, sequence number).
pub async fn put_record(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    partition_key: &str,
    data: &[u8],
) -> anyhow::Result<(String, String)> {
    let out = kinesis
        .put_record()
        .stream_name(stream)
        .partition_key(partition_key)
        .data(Blob::new(data))
        .send()
        .await?;
    Ok((
        out.shard_id().to_string(),
        out.sequence_number().to_string(),
    ))
}
