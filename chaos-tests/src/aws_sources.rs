//! AWS clients for tests and benches that feed the node's Kinesis and S3 sources through moto.

use aws_sdk_kinesis::primitives::Blob;
use sa_aws_sources::SourceClients;

use crate::moto::{MotoServer, moto_sdk_config};

/// Kinesis, S3 and SQS clients on `moto` with its static test credentials. (`async` only for
/// the callers that `block_on` it; building the clients awaits nothing.)
pub async fn moto_clients(moto: &MotoServer) -> SourceClients {
    SourceClients::from_sdk_config(&moto_sdk_config(moto), true)
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
